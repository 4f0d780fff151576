-- Join-month cohorts from $f's month to $t's month (report/kpis.py cohorts): one row per cohort and
-- month k after the join month with buyers (k, n NULL for a cohort nobody of which bought), with the
-- cohort's size and its span in months up to $t. Long rows, not nested lists: the same on both engines.
-- from_period: the purchase months come from the period's month bits (rpt_member_period.month_bits, bit i: the
-- month $m0 + i, for i < $nm) — the cohort members are counted per join month and set of months bought in (a
-- few thousand rows), and only those rows are expanded into months, instead of every buyer's (member, month)
-- pairs joined to the cohorts and counted distinct; else from all orders.
WITH c AS (
    SELECT member_id, date_trunc('month', join_day) AS cm FROM rpt_members
    WHERE join_at >= CAST(date_trunc('month', CAST($f AS DATE)) AS TIMESTAMPTZ)
      AND join_at < CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ)),
sizes AS (SELECT cm, count(*) AS size FROM c GROUP BY cm),
-- @if from_period
bits AS (
    SELECT c.cm, CAST(date_diff('month', CAST($m0 AS DATE), c.cm) AS BIGINT) AS k0, p.month_bits, count(*) AS n
    FROM c JOIN rpt_member_period p ON p.member_id = c.member_id
    WHERE p.month_bits IS NOT NULL
    GROUP BY c.cm, p.month_bits),
months AS (SELECT cm, k0, month_bits, n, unnest(range(k0, CAST($nm AS BIGINT))) AS i FROM bits),
cells AS (
    SELECT cm, i - k0 AS k, CAST(sum(n) AS BIGINT) AS n
    FROM months WHERE (month_bits >> CAST(i AS INTEGER)) & 1 = 1
    GROUP BY cm, i - k0)
-- @else
b AS (
    SELECT DISTINCT member_id, date_trunc('month', CAST(paid_at AS DATE)) AS bm
    FROM orders SEMI JOIN c USING (member_id)
    WHERE status IN ('paid', 'partially_refunded') AND net_amount > 0
      AND paid_at >= CAST(date_trunc('month', CAST($f AS DATE)) AS TIMESTAMPTZ)
      AND paid_at < CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ)),
cells AS (
    SELECT c.cm, date_diff('month', c.cm, b.bm) AS k, count(DISTINCT c.member_id) AS n
    FROM c JOIN b ON b.member_id = c.member_id AND b.bm >= c.cm GROUP BY c.cm, date_diff('month', c.cm, b.bm))
-- @end
SELECT strftime(s.cm, '%Y-%m') AS month, s.size,
       date_diff('month', s.cm, date_trunc('month', CAST($t AS DATE))) AS span, cells.k, cells.n
FROM sizes s LEFT JOIN cells ON cells.cm = s.cm
ORDER BY 1, 4
