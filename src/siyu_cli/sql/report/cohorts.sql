-- Join-month cohorts from $f's month to $t's month (report/kpis.py cohorts): one row per cohort and
-- month k after the join month with buyers (k, n NULL for a cohort nobody of which bought), with the
-- cohort's size and its span in months up to $t. Long rows, not nested lists: the same on both engines.
-- from_period: the purchase months come from the period's rpt_buyer_months, else from all orders.
WITH c AS (
    SELECT member_id, date_trunc('month', join_day) AS cm FROM rpt_members
    WHERE join_at >= CAST(date_trunc('month', CAST($f AS DATE)) AS TIMESTAMPTZ)
      AND join_at < CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ)),
sizes AS (SELECT cm, count(*) AS size FROM c GROUP BY cm),
b AS (
-- @if from_period
    SELECT member_id, m AS bm FROM rpt_buyer_months SEMI JOIN c USING (member_id)
    WHERE m >= date_trunc('month', CAST($f AS DATE))
-- @else
    SELECT DISTINCT member_id, date_trunc('month', CAST(paid_at AS DATE)) AS bm
    FROM orders SEMI JOIN c USING (member_id)
    WHERE status IN ('paid', 'partially_refunded') AND net_amount > 0
      AND paid_at >= CAST(date_trunc('month', CAST($f AS DATE)) AS TIMESTAMPTZ)
      AND paid_at < CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ)
-- @end
),
cells AS (
    SELECT c.cm, date_diff('month', c.cm, b.bm) AS k, count(DISTINCT c.member_id) AS n
    FROM c JOIN b ON b.member_id = c.member_id AND b.bm >= c.cm GROUP BY c.cm, date_diff('month', c.cm, b.bm))
SELECT strftime(s.cm, '%Y-%m') AS month, s.size,
       date_diff('month', s.cm, date_trunc('month', CAST($t AS DATE))) AS span, cells.k, cells.n
FROM sizes s LEFT JOIN cells ON cells.cm = s.cm
ORDER BY 1, 4
