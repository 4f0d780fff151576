"""Value cleaning as DuckDB macros, so 10M rows are cleaned in SQL, not in Python.

Every macro takes raw VARCHAR and returns the typed value or NULL. The loader
flags a row as rejected when a raw value is present but its cleaned value is
NULL (e.g. ``BAD_AMOUNT``). Each macro tries the cheap common case first
(a plain cast) and only falls back to regular expressions for messy text.

- text:   trimmed; '', '-', '--', 'null', 'N/A', '/' become NULL.
- id:     ``="…"``, a leading ``'`` or tab and a trailing ``.0`` (Excel float) are removed;
          ids in scientific notation (``3.52E+18``) are rejected — their digits are lost.
- amount: ``¥1,234.50``, ``￥1,234.50``, ``1234.5元``, ``RMB 12``, ``(12.50)`` → DECIMAL(18,2).
- timestamp: ISO, ``2024/3/5 14:03``, ``2024年3月5日 14:03``, ``20240305``, epoch seconds or
          milliseconds, Excel serial days, Shopify's ``2025-10-07 09:50:26 +0200``; naive times are
          read in the workspace time zone (the session TimeZone).
- phone:  ``+86 138-0013-8000``, ``'13800138000``, ``13800138000.0`` → ``13800138000``; masked
          (``138****1234``) or non-mainland numbers are not phones (kept in phone_masked if masked).
"""

from __future__ import annotations

import re

NULL_TOKENS = ("", "-", "--", "—", "null", "NULL", "None", "N/A", "n/a", "/", "无")

_WS = "' \t\r\n\u3000\u00a0'"

MACROS = f"""
CREATE OR REPLACE TEMP MACRO siyu_txt(x) AS
    CASE WHEN trim(x, {_WS}) IN {NULL_TOKENS!r} THEN NULL ELSE trim(x, {_WS}) END;

CREATE OR REPLACE TEMP MACRO siyu_id(x) AS
    CASE WHEN regexp_full_match(siyu_txt(trim(x, ' \t\r\n\u3000''="')), '\\d+\\.0')
         THEN regexp_replace(trim(x, ' \t\r\n\u3000''="'), '\\.0$', '')
         ELSE siyu_txt(trim(x, ' \t\r\n\u3000''="')) END;

CREATE OR REPLACE TEMP MACRO siyu_id_bad(x) AS
    regexp_full_match(siyu_id(x), '\\d(\\.\\d+)?[eE][+]?\\d+');

CREATE OR REPLACE TEMP MACRO siyu_amount(x) AS
    coalesce(
        TRY_CAST(siyu_txt(x) AS DECIMAL(18,2)),
        CASE WHEN regexp_full_match(siyu_txt(x), '\\(.*\\)')
             THEN -TRY_CAST(regexp_replace(siyu_txt(x), '[()￥¥,，元\\s]|RMB|CNY', '', 'g') AS DECIMAL(18,2))
             ELSE TRY_CAST(regexp_replace(siyu_txt(x), '[￥¥,，元\\s]|RMB|CNY', '', 'g') AS DECIMAL(18,2)) END);

CREATE OR REPLACE TEMP MACRO siyu_int(x) AS
    coalesce(TRY_CAST(siyu_txt(x) AS BIGINT),
             TRY_CAST(TRY_CAST(regexp_replace(siyu_txt(x), '[,，\\s人件个]', '', 'g') AS DOUBLE) AS BIGINT));

CREATE OR REPLACE TEMP MACRO siyu_num(x) AS
    coalesce(TRY_CAST(siyu_txt(x) AS DECIMAL(18,3)),
             TRY_CAST(regexp_replace(siyu_txt(x), '[,，\\s件个]', '', 'g') AS DECIMAL(18,3)));

CREATE OR REPLACE TEMP MACRO siyu_naive_ts(t) AS
    coalesce(
        TRY_CAST(t AS TIMESTAMP),
        try_strptime(t, ['%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y/%m/%d', '%Y年%m月%d日 %H:%M:%S',
                         '%Y年%m月%d日 %H:%M', '%Y年%m月%d日', '%Y年%m月%d日%H:%M', '%Y%m%d %H:%M:%S', '%Y%m%d',
                         '%Y.%m.%d %H:%M:%S', '%Y.%m.%d', '%m/%d/%Y %H:%M:%S', '%m/%d/%Y %H:%M', '%m/%d/%Y',
                         '%Y-%m-%dT%H:%M:%S.%f', '%Y-%m-%d %H:%M:%S.%f']),
        CASE WHEN regexp_full_match(t, '1[0-9]{{9}}') THEN to_timestamp(TRY_CAST(t AS BIGINT))::TIMESTAMP END,
        CASE WHEN regexp_full_match(t, '1[0-9]{{12}}') THEN to_timestamp(TRY_CAST(t AS BIGINT) / 1000.0)::TIMESTAMP END,
        CASE WHEN regexp_full_match(t, '[1-9][0-9]{{4}}(\\.[0-9]+)?') AND TRY_CAST(t AS DOUBLE) BETWEEN 20000 AND 80000
             THEN TIMESTAMP '1899-12-30' + to_microseconds(CAST(round(TRY_CAST(t AS DOUBLE) * 86400000000) AS BIGINT)) END);

CREATE OR REPLACE TEMP MACRO siyu_ts(x) AS
    CASE WHEN siyu_txt(x) IS NULL THEN NULL
         WHEN regexp_full_match(siyu_txt(x), '.*\\d[ T]?[+-]\\d{{2}}:?\\d{{2}}|.*\\dZ')
         THEN coalesce(try_strptime(siyu_txt(x), '%Y-%m-%d %H:%M:%S %z'), try_strptime(siyu_txt(x), '%Y-%m-%dT%H:%M:%S%z'),
                       TRY_CAST(siyu_txt(x) AS TIMESTAMPTZ))
         ELSE CAST(siyu_naive_ts(replace(siyu_txt(x), '  ', ' ')) AS TIMESTAMPTZ) END;

CREATE OR REPLACE TEMP MACRO siyu_date(x) AS CAST(siyu_naive_ts(siyu_txt(x)) AS DATE);

CREATE OR REPLACE TEMP MACRO siyu_digits(x) AS
    regexp_replace(regexp_replace(siyu_txt(x), '[\\s\\-''="()]', '', 'g'), '\\.0$', '');

CREATE OR REPLACE TEMP MACRO siyu_phone(x) AS
    CASE WHEN siyu_txt(x) IS NULL OR contains(x, '*') THEN NULL
         WHEN regexp_full_match(siyu_digits(x), '(\\+?86|0086)?1[3-9][0-9]{{9}}') THEN right(siyu_digits(x), 11)
         ELSE NULL END;

CREATE OR REPLACE TEMP MACRO siyu_masked(x) AS
    CASE WHEN contains(x, '*') THEN siyu_txt(x) END;

CREATE OR REPLACE TEMP MACRO siyu_gender(x) AS
    CASE lower(siyu_txt(x)) WHEN '男' THEN 'male' WHEN 'male' THEN 'male' WHEN 'm' THEN 'male' WHEN '1' THEN 'male'
                            WHEN '女' THEN 'female' WHEN 'female' THEN 'female' WHEN 'f' THEN 'female' WHEN '2' THEN 'female'
                            ELSE NULL END;

CREATE OR REPLACE TEMP MACRO siyu_split(x) AS
    list_filter(list_transform(regexp_split_to_array(siyu_txt(x), '[,，;；、|]'), lambda t: trim(t, {_WS})), lambda t: t <> '');
"""


def install_macros(con) -> None:
    """Define the cleaning macros on a connection (temporary: they live only in this session)."""
    con.execute(MACROS)


# ---------------------------------------------------------------- Python twins (for small things and tests)

_PHONE_RE = re.compile(r"^(?:\+?86|0086)?(1[3-9]\d{9})$")


def normalise_phone(raw: str | None) -> str | None:
    """The same rule as the ``siyu_phone`` macro, for Python callers."""
    if raw is None or "*" in raw:
        return None
    digits = re.sub(r"[\s\-'=\"()]", "", raw.strip())
    digits = re.sub(r"\.0$", "", digits)
    m = _PHONE_RE.match(digits)
    return m.group(1) if m else None


#: SQL cleaning function per field type (see presets.FIELD_TYPES) and the reject reason when it fails.
CLEANERS = {
    "text": ("siyu_txt", None),
    "id": ("siyu_id", None),
    "phone": ("siyu_phone", None),
    "gender": ("siyu_gender", None),
    "timestamp": ("siyu_ts", "BAD_DATE"),
    "date": ("siyu_date", "BAD_DATE"),
    "amount": ("siyu_amount", "BAD_AMOUNT"),
    "integer": ("siyu_int", "BAD_NUMBER"),
    "number": ("siyu_num", "BAD_NUMBER"),
}
