-- rpt_campaign_segments (report/kpis.py campaigns, when the store has segment snapshots): the members of each
-- (snapshot, segment) a campaign of the period was sent to, each once (segment_members has no key). A campaign's
-- control group is its segment's members not sent it: report/campaigns counts it as the segment minus its
-- members the campaign was sent to, so no row per campaign and member is made (10 campaigns to one segment of
-- 300k members made 3M rows before).
WITH c_in AS (
-- @include report/campaigns_sent
)
SELECT DISTINCT s.snapshot_id, s.segment_id, s.member_id FROM segment_members s
SEMI JOIN c_in ON c_in.snapshot_id = s.snapshot_id AND c_in.segment_id = s.segment_id
