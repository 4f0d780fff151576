-- Month by month over the period (report/kpis.py trend): valid orders, GMV (rpt_period), buyers
-- (rpt_buyer_months: one row per member and month bought in) and new members; months without data are zeros.
WITH months AS (
    SELECT unnest(generate_series(date_trunc('month', CAST($f AS DATE)),
                                  date_trunc('month', CAST($t AS DATE)), INTERVAL 1 MONTH)) AS m),
s AS (SELECT date_trunc('month', day) AS m, count(*) FILTER (WHERE valid) AS orders, sum(net_amount) AS gmv
      FROM rpt_period GROUP BY date_trunc('month', day)),
b AS (SELECT m, count(*) AS buyers FROM rpt_buyer_months GROUP BY m),
j AS (SELECT date_trunc('month', join_day) AS m, count(*) AS n FROM rpt_members
      WHERE join_at >= CAST(CAST($f AS DATE) AS TIMESTAMPTZ)
        AND join_at < CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ)
      GROUP BY date_trunc('month', join_day))
SELECT strftime(months.m, '%Y-%m') AS month, coalesce(s.orders, 0) AS orders, coalesce(b.buyers, 0) AS buyers,
       coalesce(s.gmv, 0) AS gmv, coalesce(j.n, 0) AS new_members
FROM months LEFT JOIN s ON s.m = months.m LEFT JOIN b ON b.m = months.m LEFT JOIN j ON j.m = months.m
ORDER BY 1
