-- Month by month over the period (report/kpis.py trend): valid orders, GMV (rpt_period), buyers and new
-- members; months without data are zeros. Buyers, with month_bits: from the buyers' month bits
-- (rpt_member_period.month_bits, bit i: the period's month i, i < $nm), counted per set of months bought in
-- (a few thousand rows) before that is expanded into months — not every buyer's months; else from
-- rpt_buyer_months (one row per member and month bought in).
WITH months AS (
    SELECT unnest(generate_series(date_trunc('month', CAST($f AS DATE)),
                                  date_trunc('month', CAST($t AS DATE)), INTERVAL 1 MONTH)) AS m),
s AS (SELECT date_trunc('month', day) AS m, count(*) FILTER (WHERE valid) AS orders, sum(net_amount) AS gmv
      FROM rpt_period GROUP BY date_trunc('month', day)),
-- @if month_bits
bits AS (SELECT month_bits, count(*) AS n FROM rpt_member_period WHERE month_bits IS NOT NULL GROUP BY month_bits),
bi AS (SELECT month_bits, n, unnest(range(CAST(0 AS BIGINT), CAST($nm AS BIGINT))) AS i FROM bits),
b AS (SELECT i, CAST(sum(n) AS BIGINT) AS buyers FROM bi WHERE (month_bits >> CAST(i AS INTEGER)) & 1 = 1 GROUP BY i),
-- @else
b AS (SELECT m, count(*) AS buyers FROM rpt_buyer_months GROUP BY m),
-- @end
j AS (SELECT date_trunc('month', join_day) AS m, count(*) AS n FROM rpt_members
      WHERE join_at >= CAST(CAST($f AS DATE) AS TIMESTAMPTZ)
        AND join_at < CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ)
      GROUP BY date_trunc('month', join_day))
SELECT strftime(months.m, '%Y-%m') AS month, coalesce(s.orders, 0) AS orders, coalesce(b.buyers, 0) AS buyers,
       coalesce(s.gmv, 0) AS gmv, coalesce(j.n, 0) AS new_members
FROM months LEFT JOIN s ON s.m = months.m
-- @if month_bits
LEFT JOIN b ON b.i = date_diff('month', date_trunc('month', CAST($f AS DATE)), months.m)
-- @else
LEFT JOIN b ON b.m = months.m
-- @end
LEFT JOIN j ON j.m = months.m
ORDER BY 1
