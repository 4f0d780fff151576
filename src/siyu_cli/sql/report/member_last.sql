-- rpt_member_last (report/kpis.py period_orders): the one per-member table of the period's end, joined once from
-- rpt_member_period and rpt_history — per member who bought in the period or before it, the valid orders n in
-- the period (NULL: none there), the day of the last valid order up to the period's end, and whether they bought
-- before the period. base reads it for buyers and new buyers, lifecycle for each member's idle days: one join
-- here instead of one per reader.
SELECT coalesce(p.member_id, h.member_id) AS member_id, p.n, coalesce(p.last_day, h.last_day) AS last_day,
       h.member_id IS NOT NULL AS bought_before
FROM rpt_member_period p FULL JOIN rpt_history h ON h.member_id = p.member_id
