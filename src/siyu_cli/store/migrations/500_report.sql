-- 500 report: store traffic (进店客数), the denominator of 加粉率 (add rate) per store.
-- Owner: siyu_cli.report (`siyu report traffic FILE` loads it from CSV). A row is either one day's
-- count or a whole month's total stored on the month's first day (period = 'month').
CREATE TABLE store_traffic (
    store        VARCHAR NOT NULL,
    day          DATE NOT NULL,        -- the day counted, or the first day of the month counted
    period       VARCHAR NOT NULL DEFAULT 'day',   -- day | month
    customers    BIGINT NOT NULL,      -- store customers (visitors / receipts) in that day or month
    source_file  VARCHAR,
    loaded_at    TIMESTAMPTZ,
    PRIMARY KEY (store, day, period)
);
