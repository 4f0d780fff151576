-- rpt_campaign_groups (report/kpis.py campaigns): per campaign sent in the period, the members it reached —
-- customer recipients sent it (direct) and, for a group message, the group's members — each once, from when (t).
-- One row per (campaign_id, member_id): report/campaigns counts rows, not distinct members. The control groups
-- are not listed member by member: report/campaigns counts them from rpt_campaign_segments and the direct rows.
WITH c_in AS (
-- @include report/campaigns_sent
)
SELECT campaign_id, member_id, min(t) AS t, bool_or(direct) AS direct FROM (
    SELECT r.campaign_id, r.member_id, coalesce(r.sent_at, c.sent_time) AS t, true AS direct
    FROM push_recipients r JOIN c_in c ON c.campaign_id = r.campaign_id
    WHERE r.state = 'sent' AND r.member_id IS NOT NULL
    UNION ALL  -- a group message reaches the group's members
    SELECT r.campaign_id, gm.member_id, coalesce(r.sent_at, c.sent_time) AS t, false AS direct
    FROM push_recipients r JOIN c_in c ON c.campaign_id = r.campaign_id AND c.channel = 'group'
    JOIN group_members gm ON gm.group_id = r.recipient_id
    WHERE r.state = 'sent' AND r.member_id IS NULL AND gm.member_id IS NOT NULL) x
GROUP BY campaign_id, member_id
