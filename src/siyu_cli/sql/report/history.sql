-- The history before the period (report/kpis.py period_orders): per member who bought before it, the local day
-- of their last valid order before it. The one scan of the history before the period: on DuckDB part of
-- report/member_last; with [engine] kind = "spark" it runs on Spark over the lake and lands in DuckDB as TEMP
-- rpt_history. Valid order: paid, not fully refunded, net amount above 0 (the report's convention).
SELECT member_id, siyu_local_date(max(paid_at)) AS last_day
FROM orders
WHERE member_id IS NOT NULL AND paid_at < $start
  AND status IN ('paid', 'partially_refunded') AND net_amount > 0
GROUP BY member_id
