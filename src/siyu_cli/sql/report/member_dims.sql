-- rpt_member_dims: per member, the home store (physical; an online shop is none), the owning guide (by userid,
-- else by name) and the join channel, resolved through the dimension maps (the join forms of
-- dim_physical_store / dim_guide). Included by report/period_fill and report/contacts.
SELECT m.member_id,
       CASE WHEN ms.kind = 'online' AND nullif(trim(m.store), '') IS NOT NULL THEN NULL
            ELSE coalesce(ms.store_id, nullif(trim(m.store), '')) END AS store,
       coalesce(coalesce(gu.userid, nullif(trim(m.guide_userid), '')),
                coalesce(gn.userid, nullif(trim(m.guide_name), ''))) AS guide_userid,
       m.join_channel
FROM members m
LEFT JOIN dim_store_map ms ON ms.raw = trim(m.store)
LEFT JOIN dim_staff_map gu ON gu.raw = trim(m.guide_userid)
LEFT JOIN dim_staff_map gn ON gn.raw = trim(m.guide_name)
