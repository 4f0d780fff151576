-- rpt_period completed (report/kpis.py period_orders), run only when some of its orders lack a store, guide or
-- channel: those take the member's guide and join channel, and the store from the guide (dim_guide_physical),
-- else the member's home store. Orders with all three keep theirs (the member is not even looked up).
WITH m AS (
-- @include report/member_dims
)
SELECT p.member_id, p.day, p.paid_at, p.valid, p.net_amount, p.item_count,
       coalesce(p.store, gs.store, m.store) AS store,
       coalesce(p.guide, m.guide_userid) AS guide,
       coalesce(p.channel, m.join_channel) AS channel
FROM rpt_period p
LEFT JOIN m ON m.member_id = p.member_id AND (p.store IS NULL OR p.guide IS NULL OR p.channel IS NULL)
LEFT JOIN dim_guide_physical gs ON gs.userid = coalesce(p.guide, m.guide_userid) AND p.store IS NULL
