-- rpt_member_last (report/kpis.py period_orders): the one per-member table of the period's end, joined once from
-- rpt_member_period and the history before the period — per member who bought in the period or before it, the
-- valid orders n in the period (NULL: none there), the day of the last valid order up to the period's end, and
-- whether they bought before the period. base reads it for buyers and new buyers, lifecycle for each member's idle
-- days: one join here instead of one per reader.
-- history_here: the history's query (report/history, $start) runs here, joined as it is aggregated (not stored
-- as a table of its own first); else it came from Spark as TEMP rpt_history.
WITH h AS (
-- @if history_here
-- @include report/history
-- @else
    SELECT member_id, last_day FROM rpt_history
-- @end
)
SELECT coalesce(p.member_id, h.member_id) AS member_id, p.n, coalesce(p.last_day, h.last_day) AS last_day,
       h.member_id IS NOT NULL AS bought_before
FROM rpt_member_period p FULL JOIN h ON h.member_id = p.member_id
