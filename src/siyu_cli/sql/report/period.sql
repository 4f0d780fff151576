-- rpt_period (report/kpis.py period_orders): the period's paid orders (a day of paid_at in [$f, $t]), each with
-- its day, whether it is valid (paid, not fully refunded, net amount above 0), and its own physical store and
-- guide resolved through the dimension maps (siyu_cli.dimensions: dim_store_map, dim_staff_map — the join
-- forms of dim_physical_store / dim_guide). Orders lacking a store, guide or channel are completed from their
-- member by report/period_fill. paid_at: report/campaigns reads the period's responses here, not from orders.
SELECT o.member_id, siyu_local_date(o.paid_at) AS day, o.paid_at,
       o.status IN ('paid', 'partially_refunded') AND o.net_amount > 0 AS valid,
       o.net_amount, o.item_count,
       CASE WHEN ds.kind = 'online' AND nullif(trim(o.store), '') IS NOT NULL THEN NULL
            ELSE coalesce(ds.store_id, nullif(trim(o.store), '')) END AS store,
       coalesce(dg.userid, nullif(trim(o.guide_userid), '')) AS guide,
       o.channel
FROM orders o
LEFT JOIN dim_store_map ds ON ds.raw = trim(o.store)
LEFT JOIN dim_staff_map dg ON dg.raw = trim(o.guide_userid)
WHERE o.status IN ('paid', 'partially_refunded', 'refunded')
  AND o.paid_at >= CAST(CAST($f AS DATE) AS TIMESTAMPTZ)
  AND o.paid_at < CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ)
