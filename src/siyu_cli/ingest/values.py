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
- codes:  coupon / discount codes: split on ``, ， ; ； 、 |``, each trimmed, empty ones dropped,
          duplicates removed, sorted and joined with ``,`` (``"VIP5, spring10,VIP5"`` → ``"VIP5,spring10"``);
          case is kept as exported (matching a campaign's code ignores case).
- phone:  ``+86 138-0013-8000``, ``'13800138000``, ``13800138000.0`` → ``13800138000``; masked
          (``138****1234``) or non-mainland numbers are not phones (kept in phone_masked if masked).
"""

from __future__ import annotations

import re

def _macros() -> str:
    from importlib import resources

    return resources.files("siyu_cli.ingest").joinpath("macros.sql").read_text(encoding="utf-8")


def install_macros(con) -> None:
    """Define the cleaning macros on a connection (temporary: they live only in this session)."""
    con.execute(_macros())


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


_CODE_SEP = re.compile(r"[,，;；、|]")


def normalise_codes(raw) -> str | None:
    """The ``siyu_codes`` macro's rule for Python callers (``--coupon``): one string or a list of them."""
    parts = [raw] if raw is None or isinstance(raw, str) else list(raw)
    codes = {c.strip(" \t\u3000") for p in parts if p for c in _CODE_SEP.split(p)} - {""}
    return ",".join(sorted(codes)) or None


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
    "codes": ("siyu_codes", None),
}
