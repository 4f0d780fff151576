-- rpt_contacts (report/kpis.py period_contacts): the WeCom contacts added on a day in [$f, $t] with the guide
-- who added them (dim_staff_map) and the store they count for: the guide's physical store
-- (dim_guide_physical), else the member's home store (dim_store_map: the join forms of the dim_* macros).
-- Read by new_contacts, add_rates and the leaderboards.
WITH c AS (
    SELECT c.external_userid, c.member_id, coalesce(dg.userid, nullif(trim(c.staff_userid), '')) AS guide
    FROM wecom_contacts c LEFT JOIN dim_staff_map dg ON dg.raw = trim(c.staff_userid)
    WHERE c.added_at >= CAST(CAST($f AS DATE) AS TIMESTAMPTZ)
      AND c.added_at < CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ))
SELECT c.external_userid, c.guide AS staff_userid,
       coalesce(gs.store, CASE WHEN ms.kind = 'online' AND nullif(trim(m.store), '') IS NOT NULL THEN NULL
                               ELSE coalesce(ms.store_id, nullif(trim(m.store), '')) END) AS store
FROM c LEFT JOIN dim_guide_physical gs ON gs.userid = c.guide
LEFT JOIN members m ON m.member_id = c.member_id
LEFT JOIN dim_store_map ms ON ms.raw = trim(m.store)
