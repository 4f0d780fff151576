-- Contact events per kind on a day in [$f, $t] (report/wecom.py wecom_sections, after `siyu sync wecom`).
SELECT kind, count(*) AS n FROM contact_events
WHERE CAST(event_at AS DATE) BETWEEN CAST($f AS DATE) AND CAST($t AS DATE)
GROUP BY kind
