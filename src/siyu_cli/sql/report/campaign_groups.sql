-- rpt_campaign_groups (report/kpis.py campaigns): per campaign sent in the period, who was reached ('treat':
-- customer recipients sent it, and for a group message the group's members) and, with `segments`, who was
-- held back ('ctl': members of its segment in its snapshot not sent it), each from when (t). One row per
-- (g, campaign_id, member_id): report/campaigns counts rows, not distinct members.
WITH c_in AS (
-- @include report/campaigns_sent
),
treat AS (
    SELECT campaign_id, member_id, min(t) AS t FROM (
        SELECT r.campaign_id, r.member_id, coalesce(r.sent_at, c.sent_time) AS t
        FROM push_recipients r JOIN c_in c ON c.campaign_id = r.campaign_id
        WHERE r.state = 'sent' AND r.member_id IS NOT NULL
        UNION ALL  -- a group message reaches the group's members
        SELECT r.campaign_id, gm.member_id, coalesce(r.sent_at, c.sent_time) AS t
        FROM push_recipients r JOIN c_in c ON c.campaign_id = r.campaign_id AND c.channel = 'group'
        JOIN group_members gm ON gm.group_id = r.recipient_id
        WHERE r.state = 'sent' AND r.member_id IS NULL AND gm.member_id IS NOT NULL) x
    GROUP BY campaign_id, member_id),
-- @if segments
ctl AS (  -- each segment member once (the table has no key), so every (g, campaign, member) is one row
    SELECT c.campaign_id, sm.member_id, c.sent_time AS t
    FROM c_in c JOIN (SELECT DISTINCT s.snapshot_id, s.segment_id, s.member_id FROM segment_members s
                      SEMI JOIN c_in ON c_in.snapshot_id = s.snapshot_id AND c_in.segment_id = s.segment_id) sm
      ON sm.snapshot_id = c.snapshot_id AND sm.segment_id = c.segment_id
    ANTI JOIN (SELECT campaign_id, member_id FROM push_recipients WHERE state = 'sent') r
         ON r.campaign_id = c.campaign_id AND r.member_id = sm.member_id)
-- @else
ctl AS (SELECT campaign_id, member_id, t FROM treat WHERE false)
-- @end
SELECT 'treat' AS g, campaign_id, member_id, t FROM treat
UNION ALL SELECT 'ctl' AS g, campaign_id, member_id, t FROM ctl
