-- rpt_member_period (report/kpis.py period_orders): per member in the period's copy rpt_period, valid
-- orders n (base), GMV v (pareto), last valid day (lifecycle) and, with month_bits, the months they bought
-- in as bits of one BIGINT ($m0: the first month's first day; at most 63 months) for trend and cohorts —
-- one aggregation for all of them. The month's bit from year and month (date_diff('month') per row cost
-- more; the same number since $m0 is a first day).
SELECT member_id, count(*) FILTER (WHERE valid) AS n, sum(net_amount) AS v,
       max(day) FILTER (WHERE valid) AS last_day
-- @if month_bits
       , bit_or(CAST(1 AS BIGINT) << ((year(day) - year($m0)) * 12 + month(day) - month($m0))) FILTER (WHERE valid) AS month_bits
-- @end
FROM rpt_period WHERE member_id IS NOT NULL GROUP BY member_id
