-- The per-buyer summary BG/NBD and Gamma-Gamma are fitted on (siyu_cli.clv.measures says why).
-- Purchases as in segment/buyers; several orders on one local day are one purchase day.
WITH days AS (
    SELECT member_id, siyu_local_date(paid_at) AS d, sum(net_amount) AS spend
    FROM orders
    WHERE member_id IS NOT NULL AND status NOT IN ('cancelled', 'unpaid')
      AND paid_at < $end AND net_amount > 0
    GROUP BY member_id, siyu_local_date(paid_at)
),
per AS (
    SELECT member_id, min(d) AS first_d, max(d) AS last_d, count(*) - 1 AS frequency,
           sum(spend) - arg_min(spend, d) AS repeat_spend
    FROM days GROUP BY member_id
)
SELECT CAST(row_number() OVER (ORDER BY member_id) - 1 AS BIGINT) AS idx, member_id,
       CAST(frequency AS INTEGER) AS frequency,
       CAST(date_diff('day', first_d, last_d) AS INTEGER) AS recency_days,
       CAST(date_diff('day', first_d, $as_of) AS INTEGER) AS t_days,
       CASE WHEN frequency > 0 THEN CAST(repeat_spend AS DOUBLE) / frequency END AS avg_repeat_spend
FROM per
