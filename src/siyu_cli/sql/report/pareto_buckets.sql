-- rpt_pareto (report/kpis.py pareto): buyers with positive GMV in the period counted per distinct GMV value
-- v (a hash aggregate; only the values are ordered), with the buyers and GMV of the richer buckets
-- (before_n, before_sum) and the totals (n, total) — exact DECIMAL money. The running sums name their
-- window inline: Spark reads a named window followed by `- c` as an identifier.
WITH g AS (SELECT member_id, v FROM rpt_member_period WHERE v > 0),
b AS (SELECT v, count(*) AS c FROM g GROUP BY v),
run AS (
    SELECT v, c, sum(c) OVER (ORDER BY v DESC ROWS UNBOUNDED PRECEDING) AS upto_n,
           sum(c * v) OVER (ORDER BY v DESC ROWS UNBOUNDED PRECEDING) AS upto_sum,
           sum(c) OVER () AS n, sum(c * v) OVER () AS total
    FROM b)
SELECT v, c, upto_n - c AS before_n, upto_sum - c * v AS before_sum, n, total FROM run
