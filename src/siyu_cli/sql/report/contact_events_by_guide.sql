-- Contact events per guide on a day in [$f, $t] (report/wecom.py wecom_sections): added, removed by the guide,
-- deleted by the customer; the 20 guides who lost the most.
SELECT e.staff_userid, s.name, count(*) FILTER (WHERE e.kind = 'contact_added') AS added,
       count(*) FILTER (WHERE e.kind = 'contact_removed') AS removed,
       count(*) FILTER (WHERE e.kind = 'contact_deleted') AS deleted
FROM contact_events e LEFT JOIN staff s ON s.userid = e.staff_userid
WHERE e.staff_userid IS NOT NULL AND CAST(e.event_at AS DATE) BETWEEN CAST($f AS DATE) AND CAST($t AS DATE)
GROUP BY e.staff_userid, s.name
ORDER BY removed + deleted DESC, e.staff_userid
LIMIT 20
