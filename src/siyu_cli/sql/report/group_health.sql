-- Group health in [$f, $t] per group owner (report/wecom.py wecom_sections): groups and members on the last day
-- reported, members who joined, mean active members per day, messages and days reported; most messages first.
SELECT owner, arg_max(chat_total, day) AS groups, arg_max(member_total, day) AS members,
       sum(new_member_cnt) AS new_members, avg(member_has_msg) AS active_per_day, sum(msg_total) AS messages,
       count(*) AS days
FROM wecom_group_stats
WHERE day BETWEEN CAST($f AS DATE) AND CAST($t AS DATE)
GROUP BY owner
ORDER BY sum(msg_total) DESC, owner
