-- rpt_members (report/kpis.py prepare, a view): the members with their local join day, read by base, lifecycle,
-- trend and cohorts.
SELECT member_id, join_at, CAST(join_at AS DATE) AS join_day, external_userid, join_channel FROM members
