-- The orders a report reads besides the history (report/kpis.py lake_orders): with [engine] kind = "spark"
-- they come from the lake and land in DuckDB as TEMP orders, which shadows the store's table for the report's
-- session only — the period's copy, 连带率, cohorts, campaign responses, experiments and redemptions read them
-- there, so the store needs no orders of its own. Every order paid from just before the period's first month
-- on: campaign and experiment responses follow their sends, which may come after the period. The columns
-- are those the report's queries and push.experiments read.
SELECT source, order_id, member_id, paid_at, status, net_amount, item_count, store, guide_userid, channel,
       coupon_code
FROM orders
WHERE paid_at >= $lo
