-- Leaderboard per store or guide (report/kpis.py leaderboards, choice `by`): every store (guide) known from
-- the members, staff, the period's orders (and store traffic with `traffic`), with its new contacts
-- (rpt_contacts), buyers, valid orders, GMV and repeat buyers in the period (rpt_period), ranked by GMV, then
-- buyers, then id. Raw stores and guides resolve like dim_physical_store / dim_guide (the dimension maps).
-- per key: valid orders and GMV (every paid order, walk-ins included); per key and buyer: valid orders, over
-- only the rows that make buyers (valid member orders) — the per-buyer aggregate is the costly one
WITH sales AS (
    SELECT
-- @if by = store
           store AS k,
-- @else
           guide AS k,
-- @end
           count(*) FILTER (WHERE valid) AS orders, sum(net_amount) AS gmv
    FROM rpt_period GROUP BY 1),
pairs AS (
    SELECT
-- @if by = store
           store AS k,
-- @else
           guide AS k,
-- @end
           member_id, count(*) AS n
    FROM rpt_period WHERE valid AND member_id IS NOT NULL GROUP BY 1, 2),
-- @if by = store
raw AS (
    SELECT DISTINCT store AS raw FROM members
    UNION SELECT store FROM staff WHERE store IS NOT NULL
-- @if traffic
    UNION SELECT store FROM store_traffic
-- @end
),
u AS (
    SELECT CASE WHEN ds.kind = 'online' AND nullif(trim(raw.raw), '') IS NOT NULL THEN NULL
                ELSE coalesce(ds.store_id, nullif(trim(raw.raw), '')) END AS k
    FROM raw LEFT JOIN dim_store_map ds ON ds.raw = trim(raw.raw)
    UNION SELECT k FROM sales),
cts AS (SELECT store AS k, count(DISTINCT external_userid) AS n FROM rpt_contacts GROUP BY store),
nm AS (SELECT store_id AS k, name FROM dim_store_names),
-- @else
mg AS (SELECT DISTINCT guide_userid, guide_name FROM members),
u AS (
    SELECT userid AS k FROM staff
    UNION SELECT coalesce(coalesce(gu.userid, nullif(trim(mg.guide_userid), '')),
                          coalesce(gn.userid, nullif(trim(mg.guide_name), '')))
          FROM mg LEFT JOIN dim_staff_map gu ON gu.raw = trim(mg.guide_userid)
          LEFT JOIN dim_staff_map gn ON gn.raw = trim(mg.guide_name)
    UNION SELECT k FROM sales),
cts AS (SELECT staff_userid AS k, count(DISTINCT external_userid) AS n FROM rpt_contacts GROUP BY staff_userid),
nm AS (
    SELECT ids.k, coalesce(min(s.name), min(g.guide_name)) AS name  -- min: the same pick on every engine
    FROM (SELECT userid AS k FROM staff UNION SELECT guide_userid FROM members WHERE guide_userid IS NOT NULL) ids
    LEFT JOIN staff s ON s.userid = ids.k
    LEFT JOIN (SELECT DISTINCT guide_userid, guide_name FROM members WHERE guide_name IS NOT NULL) g
           ON g.guide_userid = ids.k
    GROUP BY ids.k),
-- @end
rep AS (SELECT k, count(*) AS buyers, count(*) FILTER (WHERE n >= 2) AS repeaters FROM pairs GROUP BY k)
SELECT row_number() OVER (ORDER BY coalesce(sales.gmv, 0) DESC, coalesce(rep.buyers, 0) DESC, u.k) AS rank,
       u.k, nm.name, coalesce(cts.n, 0) AS new_contacts, coalesce(rep.buyers, 0) AS buyers,
       coalesce(sales.orders, 0) AS orders, coalesce(sales.gmv, 0) AS gmv, rep.repeaters
FROM u LEFT JOIN sales ON sales.k = u.k LEFT JOIN rep ON rep.k = u.k
LEFT JOIN cts ON cts.k = u.k LEFT JOIN nm ON nm.k = u.k
WHERE u.k IS NOT NULL
ORDER BY rank
