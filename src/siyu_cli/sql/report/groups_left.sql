-- Members who left a group on a day in [$f, $t], per group owner (report/wecom.py wecom_sections).
SELECT g.owner_userid, count(*) AS n
FROM contact_events e JOIN groups g ON g.group_id = e.group_id
WHERE e.kind = 'group_left' AND CAST(e.event_at AS DATE) BETWEEN CAST($f AS DATE) AND CAST($t AS DATE)
GROUP BY g.owner_userid
