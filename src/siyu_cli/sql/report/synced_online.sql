-- 在线率 after a WeCom sync (report/wecom.py synced_online): of the members at the end of day $t (join_at unknown or
-- before the next day), those with a live guide relation (a wecom_contacts row).
SELECT count(*) FILTER (WHERE c.member_id IS NOT NULL) AS reachable, count(*) AS total
FROM members m
LEFT JOIN (SELECT DISTINCT member_id FROM wecom_contacts WHERE member_id IS NOT NULL) c ON c.member_id = m.member_id
WHERE m.join_at IS NULL OR m.join_at < CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ)
