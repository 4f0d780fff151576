-- Base, membership, repurchase and value KPIs of the period in one row (report/kpis.py base).
-- Reads the per-period tables period_orders built: rpt_period (the period's paid orders) and rpt_member_last
-- (per member: valid orders n in the period, whether they bought before it).
-- Member at the end: join_at unknown or before the day after $t; new member: joined on a day in [$f, $t]
-- (comparisons with constant instants, no time-zone conversion of every member's join time).
WITH mem AS (
    SELECT count(*) FILTER (WHERE join_at IS NULL OR join_at < CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ)) AS members,
           count(*) FILTER (WHERE join_at >= CAST(CAST($f AS DATE) AS TIMESTAMPTZ)
                              AND join_at < CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ)) AS new_members
    FROM rpt_members),
rep AS (
    SELECT count(*) AS buyers, count(*) FILTER (WHERE n >= 2) AS repeaters, coalesce(sum(n), 0) AS member_orders,
           count(*) FILTER (WHERE NOT bought_before) AS new_buyers
    FROM rpt_member_last WHERE n > 0),
tot AS (
    SELECT count(*) FILTER (WHERE valid) AS orders,
           coalesce(sum(net_amount), 0) AS gmv,
           coalesce(sum(net_amount) FILTER (WHERE member_id IS NOT NULL), 0) AS member_gmv,
           sum(item_count) FILTER (WHERE valid) AS units, count(item_count) FILTER (WHERE valid) AS counted
    FROM rpt_period)
SELECT mem.members, mem.new_members, rep.buyers, rep.repeaters, rep.member_orders,
       tot.orders, tot.gmv, tot.member_gmv, rep.new_buyers, tot.units, tot.counted
FROM mem, rep, tot
