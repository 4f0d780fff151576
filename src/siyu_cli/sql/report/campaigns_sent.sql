-- The campaigns sent on a day in [$f, $t] with their send time (report/kpis.py campaigns): the campaign's own
-- sent_at, else its first recipient's, else its creation. Staff-facing app and robot messages are not campaigns.
-- Included by report/campaign_groups and report/campaigns as their `c_in`.
SELECT campaign_id, name, channel, segment_id, snapshot_id, status, sent_time
FROM (
    SELECT pc.campaign_id, pc.name, pc.channel, pc.segment_id, pc.snapshot_id, pc.status,
           coalesce(pc.sent_at, r.first_sent, pc.created_at) AS sent_time
    FROM push_campaigns pc
    LEFT JOIN (SELECT campaign_id, min(sent_at) AS first_sent FROM push_recipients GROUP BY campaign_id) r
           ON r.campaign_id = pc.campaign_id
    WHERE coalesce(pc.channel, '') NOT IN ('app', 'robot')) c
WHERE CAST(sent_time AS DATE) BETWEEN CAST($f AS DATE) AND CAST($t AS DATE)
