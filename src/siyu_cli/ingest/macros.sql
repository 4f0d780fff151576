-- Value-cleaning macros (see values.py). Each takes raw VARCHAR and returns the typed value or NULL.
-- Cheap casts come first; regular expressions run only for the rows the casts could not read.
-- (one trim per use: nested nullif() would be inlined exponentially)
CREATE OR REPLACE TEMP MACRO siyu_txt(x) AS
    CASE WHEN trim(x, E' \t\r\n　 ') IN ('', '-', '--', '—', 'null', 'NULL', 'None', 'N/A', 'n/a', '/', '无')
         THEN NULL ELSE trim(x, E' \t\r\n　 ') END;

CREATE OR REPLACE TEMP MACRO siyu_id(x) AS
    CASE WHEN ends_with(x, '.0') AND regexp_full_match(trim(siyu_txt(x), '''="'), '\d+\.0')
         THEN regexp_replace(trim(siyu_txt(x), '''="'), '\.0$', '')
         ELSE CASE WHEN trim(x, E' \t\r\n''="　') IN ('', '-', '--', 'null', 'NULL', 'N/A') THEN NULL
                   ELSE trim(x, E' \t\r\n''="　') END END;

CREATE OR REPLACE TEMP MACRO siyu_id_bad(x) AS
    contains(upper(x), 'E+') AND regexp_full_match(siyu_id(x), '\d(\.\d+)?[eE][+]?\d+');

CREATE OR REPLACE TEMP MACRO siyu_amount_slow(t) AS
    CASE WHEN regexp_full_match(t, '\(.*\)')
         THEN -TRY_CAST(regexp_replace(t, '[()￥¥,，元\s]|RMB|CNY', '', 'g') AS DECIMAL(18,2))
         ELSE TRY_CAST(regexp_replace(t, '[￥¥,，元\s]|RMB|CNY', '', 'g') AS DECIMAL(18,2)) END;

CREATE OR REPLACE TEMP MACRO siyu_amount(x) AS
    coalesce(TRY_CAST(x AS DECIMAL(18,2)), siyu_amount_slow(siyu_txt(x)));

CREATE OR REPLACE TEMP MACRO siyu_int(x) AS
    coalesce(TRY_CAST(x AS BIGINT),
             TRY_CAST(TRY_CAST(regexp_replace(siyu_txt(x), '[,，\s人件个]', '', 'g') AS DOUBLE) AS BIGINT));

CREATE OR REPLACE TEMP MACRO siyu_num(x) AS
    coalesce(TRY_CAST(x AS DECIMAL(18,3)),
             TRY_CAST(regexp_replace(siyu_txt(x), '[,，\s件个]', '', 'g') AS DECIMAL(18,3)));

CREATE OR REPLACE TEMP MACRO siyu_naive_ts(t) AS
    coalesce(
        TRY_CAST(t AS TIMESTAMP),
        try_strptime(t, ['%Y/%m/%d %H:%M', '%Y/%m/%d %H:%M:%S', '%Y/%m/%d', '%Y年%m月%d日 %H:%M:%S',
                         '%Y年%m月%d日 %H:%M', '%Y年%m月%d日', '%Y年%m月%d日%H:%M', '%Y%m%d %H:%M:%S', '%Y%m%d',
                         '%Y.%m.%d %H:%M:%S', '%Y.%m.%d', '%m/%d/%Y %H:%M:%S', '%m/%d/%Y %H:%M', '%m/%d/%Y',
                         '%Y-%m-%dT%H:%M:%S.%f', '%Y-%m-%d %H:%M:%S.%f']),
        CASE WHEN regexp_full_match(t, '1[0-9]{9}') THEN to_timestamp(TRY_CAST(t AS BIGINT))::TIMESTAMP END,
        CASE WHEN regexp_full_match(t, '1[0-9]{12}') THEN to_timestamp(TRY_CAST(t AS BIGINT) / 1000.0)::TIMESTAMP END,
        CASE WHEN regexp_full_match(t, '[1-9][0-9]{4}(\.[0-9]+)?') AND TRY_CAST(t AS DOUBLE) BETWEEN 20000 AND 80000
             THEN TIMESTAMP '1899-12-30' + to_microseconds(CAST(round(TRY_CAST(t AS DOUBLE) * 86400000000) AS BIGINT)) END);

CREATE OR REPLACE TEMP MACRO siyu_ts_slow(t) AS
    CASE WHEN length(t) >= 20 AND regexp_full_match(t, '.*\d[ T]?[+-]\d{2}:?\d{2}|.*\dZ')
         THEN coalesce(try_strptime(t, '%Y-%m-%d %H:%M:%S %z'), try_strptime(t, '%Y-%m-%dT%H:%M:%S%z'),
                       TRY_CAST(t AS TIMESTAMPTZ))
         ELSE CAST(siyu_naive_ts(t) AS TIMESTAMPTZ) END;

CREATE OR REPLACE TEMP MACRO siyu_ts(x) AS
    CASE WHEN x IS NULL THEN NULL
         WHEN length(x) <= 19 THEN coalesce(CAST(TRY_CAST(x AS TIMESTAMP) AS TIMESTAMPTZ), siyu_ts_slow(siyu_txt(x)))
         ELSE siyu_ts_slow(siyu_txt(x)) END;

CREATE OR REPLACE TEMP MACRO siyu_date(x) AS CAST(siyu_naive_ts(siyu_txt(x)) AS DATE);

CREATE OR REPLACE TEMP MACRO siyu_digits(x) AS
    regexp_replace(regexp_replace(siyu_txt(x), '[\s\-''="()]', '', 'g'), '\.0$', '');

CREATE OR REPLACE TEMP MACRO siyu_phone_slow(x) AS
    CASE WHEN contains(x, '*') THEN NULL
         WHEN regexp_full_match(siyu_digits(x), '(\+?86|0086)?1[3-9][0-9]{9}') THEN right(siyu_digits(x), 11)
         ELSE NULL END;

CREATE OR REPLACE TEMP MACRO siyu_phone(x) AS
    CASE WHEN x IS NULL THEN NULL
         WHEN length(x) = 11 AND regexp_full_match(x, '1[3-9][0-9]{9}') THEN x
         ELSE siyu_phone_slow(x) END;

CREATE OR REPLACE TEMP MACRO siyu_masked(x) AS
    CASE WHEN contains(x, '*') THEN siyu_txt(x) END;

CREATE OR REPLACE TEMP MACRO siyu_gender(x) AS
    CASE lower(siyu_txt(x)) WHEN '男' THEN 'male' WHEN 'male' THEN 'male' WHEN 'm' THEN 'male' WHEN '1' THEN 'male'
                            WHEN '女' THEN 'female' WHEN 'female' THEN 'female' WHEN 'f' THEN 'female' WHEN '2' THEN 'female'
                            ELSE NULL END;

CREATE OR REPLACE TEMP MACRO siyu_split(x) AS
    list_filter(list_transform(regexp_split_to_array(siyu_txt(x), '[,，;；、|]'), lambda t: trim(t, E' \t　')),
                lambda t: t <> '');
