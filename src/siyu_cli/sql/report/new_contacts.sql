-- 新增企微好友 (report/kpis.py new_contacts): distinct customers among the period's contacts (rpt_contacts).
SELECT count(DISTINCT external_userid) AS n FROM rpt_contacts
