-- Guide activity in [$f, $t] from WeCom's behaviour data (report/wecom.py wecom_sections): per guide new contacts,
-- chats, messages, mean reply percentage and reply time, negative feedback and days reported; most chats first.
SELECT b.userid, any_value(s.name) AS name, sum(b.new_contact_cnt) AS new_contacts, sum(b.chat_cnt) AS chats,
       sum(b.message_cnt) AS messages, avg(b.reply_percentage) AS reply_percentage,
       avg(b.avg_reply_time) AS avg_reply_time, sum(b.negative_feedback_cnt) AS negative_feedback, count(*) AS days
FROM wecom_behavior b LEFT JOIN staff s ON s.userid = b.userid
WHERE b.day BETWEEN CAST($f AS DATE) AND CAST($t AS DATE)
GROUP BY b.userid
ORDER BY sum(b.chat_cnt) DESC, b.userid
