-- Results of the campaigns sent in the period (report/kpis.py campaigns): recipients targeted, reached (sent),
-- delivered and failed; the members reached (rpt_campaign_groups) and those with a valid order within $w days
-- after their send time; the control group — the members of the campaign's segment (rpt_campaign_segments) not
-- sent it, from the campaign's send time — and those of it with such an order. The orders read are only those
-- in [$lo, $hi + $w] (the earliest and latest send times); the period's come from rpt_period.
WITH c_in AS (
-- @include report/campaigns_sent
),
counts AS (
    SELECT r.campaign_id, count(*) AS targeted,
           count(*) FILTER (WHERE r.state = 'sent') AS reached,
           count(*) FILTER (WHERE r.delivery = 'delivered') AS delivered,
           count(*) FILTER (WHERE r.state = 'failed') AS failed
    FROM push_recipients r SEMI JOIN c_in ON c_in.campaign_id = r.campaign_id GROUP BY r.campaign_id),
-- the valid orders in the window: those of the period from its copy rpt_period (its paid orders, already read),
-- only the rest from orders (fetching the member of every order in the window from the store cost a third of
-- this query at 10M orders)
o AS (
    SELECT member_id, paid_at FROM rpt_period
    WHERE valid AND member_id IS NOT NULL
      AND paid_at > CAST($lo AS TIMESTAMPTZ) AND paid_at <= CAST($hi AS TIMESTAMPTZ) + INTERVAL 1 DAY * CAST($w AS INTEGER)
    UNION ALL
    SELECT member_id, paid_at FROM orders
    WHERE status IN ('paid', 'partially_refunded') AND net_amount > 0
      AND (paid_at > CAST($lo AS TIMESTAMPTZ) AND paid_at < CAST(CAST($f AS DATE) AS TIMESTAMPTZ)
           OR paid_at >= CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ)
              AND paid_at <= CAST($hi AS TIMESTAMPTZ) + INTERVAL 1 DAY * CAST($w AS INTEGER))),
-- reached: rpt_campaign_groups holds each (campaign, member) once, so counts of rows are counts of members; a
-- semi join finds who bought (a member's first order in the window is enough), over only the reached members
-- with an order in the window at all (grp: a plain semi join on the member first; probing every reached member
-- with the time condition cost several times as much; seg_hits_sent reads grp too)
reached AS (SELECT campaign_id, count(*) AS n FROM rpt_campaign_groups GROUP BY campaign_id),
buyers AS (SELECT DISTINCT member_id FROM o),
grp AS (
    SELECT g.campaign_id, g.member_id, g.t, g.direct
    FROM rpt_campaign_groups g SEMI JOIN buyers ON buyers.member_id = g.member_id),
hits AS (
    SELECT grp.campaign_id, count(*) AS n
    FROM grp SEMI JOIN o ON o.member_id = grp.member_id
     AND o.paid_at > grp.t AND o.paid_at <= grp.t + INTERVAL 1 DAY * CAST($w AS INTEGER)
    GROUP BY grp.campaign_id),
-- control: the segment (its members once each) minus its members the campaign was sent to directly (a semi
-- join on the segment's members: each is there once, and the planner hashes the segment, not the reached)
seg AS (SELECT snapshot_id, segment_id, count(*) AS n FROM rpt_campaign_segments GROUP BY snapshot_id, segment_id),
seg_sent AS (
    SELECT g.campaign_id, count(*) AS n
    FROM rpt_campaign_groups g
    SEMI JOIN rpt_campaign_segments s ON s.snapshot_id = g.snapshot_id AND s.segment_id = g.segment_id AND s.member_id = g.member_id
    WHERE g.direct GROUP BY g.campaign_id),
-- segment members with a valid order within $w days after the campaign's send time: the few members with
-- orders in the window first (an aggregate, so no planner joins the campaigns to every segment member before
-- the orders), then the campaigns
seg_orders AS (
    SELECT DISTINCT s.snapshot_id, s.segment_id, s.member_id, o.paid_at
    FROM rpt_campaign_segments s JOIN o ON o.member_id = s.member_id),
seg_hits AS (
    SELECT DISTINCT c.campaign_id, s.member_id
    FROM seg_orders s JOIN c_in c ON c.snapshot_id = s.snapshot_id AND c.segment_id = s.segment_id
     AND s.paid_at > c.sent_time AND s.paid_at <= c.sent_time + INTERVAL 1 DAY * CAST($w AS INTEGER)),
seg_hits_n AS (SELECT campaign_id, count(*) AS n FROM seg_hits GROUP BY campaign_id),
seg_hits_sent AS (  -- the members of seg_hits have an order in the window: their direct rows are in grp
    SELECT h.campaign_id, count(*) AS n
    FROM seg_hits h JOIN grp g ON g.campaign_id = h.campaign_id AND g.member_id = h.member_id
    WHERE g.direct GROUP BY h.campaign_id)
SELECT c.campaign_id, c.name, c.channel, c.segment_id, c.snapshot_id, c.status, c.sent_time,
       coalesce(k.targeted, 0) AS targeted, coalesce(k.reached, 0) AS reached,
       coalesce(k.delivered, 0) AS delivered, coalesce(k.failed, 0) AS failed,
       tr.n AS reached_members, coalesce(tb.n, 0) AS repurchasers,
       sg.n - coalesce(ss.n, 0) AS control_members, coalesce(hn.n, 0) - coalesce(hs.n, 0) AS control_bought
FROM c_in c LEFT JOIN counts k ON k.campaign_id = c.campaign_id
LEFT JOIN reached tr ON tr.campaign_id = c.campaign_id
LEFT JOIN hits tb ON tb.campaign_id = c.campaign_id
LEFT JOIN seg sg ON sg.snapshot_id = c.snapshot_id AND sg.segment_id = c.segment_id
LEFT JOIN seg_sent ss ON ss.campaign_id = c.campaign_id
LEFT JOIN seg_hits_n hn ON hn.campaign_id = c.campaign_id
LEFT JOIN seg_hits_sent hs ON hs.campaign_id = c.campaign_id
ORDER BY c.sent_time DESC, c.campaign_id
