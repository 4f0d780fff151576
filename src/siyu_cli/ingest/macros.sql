-- Value-cleaning macros (see values.py). The loader trims every mapped column once and turns the
-- "empty" tokens ('', '-', 'null', …) into NULL before these run, so each macro takes clean text `t`
-- and returns the typed value or NULL. Cheap casts come first; regular expressions run only for the
-- rows the casts could not read. (Macros are inlined: never nest a macro argument expression deeply.)

CREATE OR REPLACE TEMP MACRO siyu_txt(x) AS
    CASE WHEN trim(x, E' \t\r\n　 ') IN ('', '-', '--', '—', 'null', 'NULL', 'None', 'N/A', 'n/a', '/', '无')
         THEN NULL ELSE trim(x, E' \t\r\n　 ') END;

CREATE OR REPLACE TEMP MACRO siyu_id_slow(t) AS
    CASE WHEN regexp_full_match(trim(t, E'''="\t '), '\d+\.0') THEN regexp_replace(trim(t, E'''="\t '), '\.0$', '')
         ELSE nullif(trim(t, E'''="\t '), '') END;

-- (string tests, not a regex, for the common clean id: ^['="\t] or ["']$ or \.0$ needs the slow path; the first
-- character by its code: ascii() reads it in place where left() builds a one-character string)
CREATE OR REPLACE TEMP MACRO siyu_id(t) AS
    CASE WHEN ascii(t) IN (39, 61, 34, 9) OR suffix(t, '"') OR suffix(t, '''') OR suffix(t, '.0')
         THEN siyu_id_slow(t) ELSE t END;

-- (a CASE, not AND: in a projection both sides of an AND are evaluated for every row; NULL stays NULL)
CREATE OR REPLACE TEMP MACRO siyu_id_bad(t) AS
    CASE WHEN t IS NULL THEN NULL
         WHEN contains(t, 'E+') OR contains(t, 'e+') THEN regexp_full_match(siyu_id(t), '\d(\.\d+)?[eE][+]?\d+')
         ELSE false END;

CREATE OR REPLACE TEMP MACRO siyu_amount_slow(t) AS
    CASE WHEN regexp_full_match(t, '\(.*\)')
         THEN -TRY_CAST(regexp_replace(t, '[()￥¥,，元\s]|RMB|CNY', '', 'g') AS DECIMAL(18,2))
         ELSE TRY_CAST(regexp_replace(t, '[￥¥,，元\s]|RMB|CNY', '', 'g') AS DECIMAL(18,2)) END;

-- a leading ¥/￥ before an otherwise plain number is common (and gives what the slow path gives): strip it
-- before the one cast (a failed cast first, then a second one, cost 3× as much on a file of ¥ amounts)
CREATE OR REPLACE TEMP MACRO siyu_amount(t) AS
    coalesce(TRY_CAST(CASE WHEN starts_with(t, '¥') OR starts_with(t, '￥') THEN substr(t, 2) ELSE t END AS DECIMAL(18,2)),
             siyu_amount_slow(t));

CREATE OR REPLACE TEMP MACRO siyu_int(t) AS
    coalesce(TRY_CAST(t AS BIGINT),
             TRY_CAST(TRY_CAST(regexp_replace(t, '[,，\s人件个]', '', 'g') AS DOUBLE) AS BIGINT));

CREATE OR REPLACE TEMP MACRO siyu_num(t) AS
    coalesce(TRY_CAST(t AS DECIMAL(18,3)),
             TRY_CAST(regexp_replace(t, '[,，\s件个]', '', 'g') AS DECIMAL(18,3)));

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

CREATE OR REPLACE TEMP MACRO siyu_ts(t) AS
    CASE WHEN t IS NULL THEN NULL
         WHEN length(t) <= 19 THEN coalesce(CAST(TRY_CAST(t AS TIMESTAMP) AS TIMESTAMPTZ), siyu_ts_slow(t))
         ELSE siyu_ts_slow(t) END;

CREATE OR REPLACE TEMP MACRO siyu_date(t) AS CAST(siyu_naive_ts(t) AS DATE);

CREATE OR REPLACE TEMP MACRO siyu_digits(t) AS
    regexp_replace(regexp_replace(t, '[\s\-''="()]', '', 'g'), '\.0$', '');

CREATE OR REPLACE TEMP MACRO siyu_phone_slow(t) AS
    CASE WHEN contains(t, '*') THEN NULL
         WHEN regexp_full_match(siyu_digits(t), '(\+?86|0086)?1[3-9][0-9]{9}') THEN right(siyu_digits(t), 11)
         ELSE NULL END;

CREATE OR REPLACE TEMP MACRO siyu_phone(t) AS
    CASE WHEN t IS NULL THEN NULL
         WHEN length(t) = 11 AND regexp_full_match(t, '1[3-9][0-9]{9}') THEN t
         ELSE siyu_phone_slow(t) END;

CREATE OR REPLACE TEMP MACRO siyu_masked(t) AS
    CASE WHEN contains(t, '*') THEN t END;

CREATE OR REPLACE TEMP MACRO siyu_gender(t) AS
    CASE lower(t) WHEN '男' THEN 'male' WHEN 'male' THEN 'male' WHEN 'm' THEN 'male' WHEN '1' THEN 'male'
                  WHEN '女' THEN 'female' WHEN 'female' THEN 'female' WHEN 'f' THEN 'female' WHEN '2' THEN 'female'
                  ELSE NULL END;

CREATE OR REPLACE TEMP MACRO siyu_split(t) AS
    list_filter(list_transform(regexp_split_to_array(t, '[,，;；、|]'), lambda s: trim(s, E' \t　')),
                lambda s: s <> '');

-- coupon / discount codes: several in one cell are kept, as one canonical text (values.py normalise_codes)
CREATE OR REPLACE TEMP MACRO siyu_codes(t) AS
    nullif(array_to_string(list_sort(list_distinct(siyu_split(t))), ','), '');
