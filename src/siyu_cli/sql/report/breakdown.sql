-- Base KPIs of the period split by store, guide, channel or month (report/kpis.py breakdown, `--by`):
-- per key of rpt_period, valid orders, GMV, member GMV, buyers and buyers with two or more valid orders.
WITH p AS (
    SELECT
-- @if by = store
           store AS k,
-- @end
-- @if by = guide
           guide AS k,
-- @end
-- @if by = channel
           channel AS k,
-- @end
-- @if by = month
           strftime(day, '%Y-%m') AS k,
-- @end
           member_id, valid, net_amount
    FROM rpt_period),
per_buyer AS (SELECT k, member_id, count(*) AS n FROM p WHERE valid AND member_id IS NOT NULL GROUP BY k, member_id),
rep AS (SELECT k, count(*) AS buyers, count(*) FILTER (WHERE n >= 2) AS repeaters FROM per_buyer GROUP BY k)
SELECT p.k, count(*) FILTER (WHERE valid) AS orders, coalesce(sum(net_amount), 0) AS gmv,
       coalesce(sum(net_amount) FILTER (WHERE member_id IS NOT NULL), 0) AS member_gmv,
       any_value(rep.buyers) AS buyers, any_value(rep.repeaters) AS repeaters
FROM p LEFT JOIN rep ON rep.k IS NOT DISTINCT FROM p.k
GROUP BY p.k
-- @if by = month
ORDER BY p.k NULLS LAST
-- @else
ORDER BY 3 DESC, p.k NULLS LAST
-- @end
