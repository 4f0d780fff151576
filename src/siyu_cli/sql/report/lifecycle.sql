-- 在线率 and the lifecycle of the members at the period's end, one pass over the members
-- (report/kpis.py members_at_end): days since the last valid order up to $t (rpt_member_last: the period's,
-- else the history's), and whether WeCom reaches them. $a: active_days, $c: churn_days.
-- Reachable: an external contact id, else a wecom_contacts row — counted as the members with the id plus those
-- without it found in the contacts, so only members lacking the id probe the contacts (a mark join of every
-- member on the contacts cost about a third of this query at 2.45M members).
WITH m AS (
    SELECT date_diff('day', l.last_day, CAST($t AS DATE)) AS idle, m.external_userid IS NOT NULL AS reach
    FROM rpt_members m LEFT JOIN rpt_member_last l ON l.member_id = m.member_id
    WHERE m.join_at IS NULL OR m.join_at < CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ))
SELECT count(*) FILTER (WHERE idle <= $a) AS active,
       count(*) FILTER (WHERE idle > $a AND idle <= $c) AS silent,
       count(*) FILTER (WHERE idle > $c) AS churned,
       count(*) FILTER (WHERE idle IS NULL) AS never_bought,
       count(*) AS total,
       -- IN: a mark join on the contacts as they are (a DISTINCT of them first cost a hash aggregate of every
       -- contact, 1.5M at 2.45M members)
       count(*) FILTER (WHERE reach) + (
           SELECT count(*) FROM rpt_members
           WHERE external_userid IS NULL AND (join_at IS NULL OR join_at < CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ))
             AND member_id IN (SELECT member_id FROM wecom_contacts WHERE member_id IS NOT NULL)) AS reachable
FROM m
