-- rpt_campaign_groups (report/kpis.py campaigns): per campaign sent in the period, the members it reached —
-- customer recipients sent it (direct) and, for a group message, the group's members — each once, from when (t).
-- One row per (campaign_id, member_id): report/campaigns counts rows, not distinct members. The control groups
-- are not listed member by member: report/campaigns counts them from rpt_campaign_segments and the direct rows.
-- Each row carries its campaign's snapshot_id and segment_id (joined after the aggregate, on 10-odd campaigns),
-- so report/campaigns finds its direct members in the segment without joining the campaigns first: that join
-- made the planner hash every reached member instead of the segment (0.5 s of 0.7 s at 10M orders).
WITH c_in AS (
-- @include report/campaigns_sent
)
SELECT x.campaign_id, x.member_id, x.t, x.direct, c.snapshot_id, c.segment_id
FROM (SELECT campaign_id, member_id, min(t) AS t, bool_or(direct) AS direct FROM (
    SELECT r.campaign_id, r.member_id, coalesce(r.sent_at, c.sent_time) AS t, true AS direct
    FROM push_recipients r JOIN c_in c ON c.campaign_id = r.campaign_id
    WHERE r.state = 'sent' AND r.member_id IS NOT NULL
    UNION ALL  -- a group message reaches the group's members
    SELECT r.campaign_id, gm.member_id, coalesce(r.sent_at, c.sent_time) AS t, false AS direct
    FROM push_recipients r JOIN c_in c ON c.campaign_id = r.campaign_id AND c.channel = 'group'
    JOIN group_members gm ON gm.group_id = r.recipient_id
    WHERE r.state = 'sent' AND r.member_id IS NULL AND gm.member_id IS NOT NULL) sent
GROUP BY campaign_id, member_id) x
JOIN c_in c ON c.campaign_id = x.campaign_id
