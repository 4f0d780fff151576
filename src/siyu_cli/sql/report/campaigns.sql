-- Results of the campaigns sent in the period (report/kpis.py campaigns): recipients targeted, reached (sent),
-- delivered and failed, and per group of rpt_campaign_groups its members and those with a valid order within
-- $w days after their send time. The order scan reads only [$lo, $hi + $w] (the groups' earliest and latest
-- send times).
WITH c_in AS (
-- @include report/campaigns_sent
),
counts AS (
    SELECT r.campaign_id, count(*) AS targeted,
           count(*) FILTER (WHERE r.state = 'sent') AS reached,
           count(*) FILTER (WHERE r.delivery = 'delivered') AS delivered,
           count(*) FILTER (WHERE r.state = 'failed') AS failed
    FROM push_recipients r SEMI JOIN c_in ON c_in.campaign_id = r.campaign_id GROUP BY r.campaign_id),
o AS (
    SELECT member_id, paid_at FROM orders
    WHERE status IN ('paid', 'partially_refunded') AND net_amount > 0
      AND paid_at > CAST($lo AS TIMESTAMPTZ) AND paid_at <= CAST($hi AS TIMESTAMPTZ) + INTERVAL 1 DAY * CAST($w AS INTEGER)),
hits AS (  -- a semi join: a member's first order in the window is enough (no join rows to make distinct)
    SELECT grp.g, grp.campaign_id, grp.member_id
    FROM rpt_campaign_groups grp SEMI JOIN o ON o.member_id = grp.member_id
     AND o.paid_at > grp.t AND o.paid_at <= grp.t + INTERVAL 1 DAY * CAST($w AS INTEGER)),
-- rpt_campaign_groups holds each (g, campaign, member) once: counts of rows are counts of members (a
-- count(DISTINCT) re-hashed every row: 3M at 10 campaigns of 300k)
sizes AS (SELECT g, campaign_id, count(*) AS n FROM rpt_campaign_groups GROUP BY g, campaign_id),
bought AS (SELECT g, campaign_id, count(*) AS n FROM hits GROUP BY g, campaign_id),
resp AS (
    SELECT s.g, s.campaign_id, s.n, coalesce(b.n, 0) AS bought
    FROM sizes s LEFT JOIN bought b ON b.g = s.g AND b.campaign_id = s.campaign_id)
SELECT c.campaign_id, c.name, c.channel, c.segment_id, c.snapshot_id, c.status, c.sent_time,
       coalesce(k.targeted, 0) AS targeted, coalesce(k.reached, 0) AS reached,
       coalesce(k.delivered, 0) AS delivered, coalesce(k.failed, 0) AS failed,
       tr.n AS reached_members, tr.bought AS repurchasers, ct.n AS control_members, ct.bought AS control_bought
FROM c_in c LEFT JOIN counts k ON k.campaign_id = c.campaign_id
LEFT JOIN resp tr ON tr.campaign_id = c.campaign_id AND tr.g = 'treat'
LEFT JOIN resp ct ON ct.campaign_id = c.campaign_id AND ct.g = 'ctl'
ORDER BY c.sent_time DESC, c.campaign_id
