-- The Pareto curve from rpt_pareto (report/kpis.py pareto): for p = 1…100, the share of member GMV from the
-- top ⌈p × n ÷ 100⌉ buyers. A bucket holding ranks B+1…C gives every p from ⌊100·B ÷ n⌋ + 1 to ⌊100·C ÷ n⌋
-- its cumulative GMV S_B + (rank − B) × v (exact DECIMAL), divided as DOUBLEs.
WITH r AS (
    SELECT *, unnest(range(CAST(100 * before_n // n + 1 AS BIGINT),
                           CAST(100 * (before_n + c) // n + 1 AS BIGINT))) AS p
    FROM rpt_pareto)
SELECT p, CAST(before_sum + ((p * n + 99) // 100 - before_n) * v AS DOUBLE) / CAST(total AS DOUBLE) AS share
FROM r ORDER BY p
