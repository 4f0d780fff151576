-- 加粉率 per store (report/kpis.py add_rates): stores with traffic in [$f, $t] (store_traffic, its raw store
-- resolved like dim_physical_store), the period's new contacts counted for them (rpt_contacts) and their customers.
WITH traffic AS (
    SELECT CASE WHEN ds.kind = 'online' AND nullif(trim(t.store), '') IS NOT NULL THEN NULL
                ELSE coalesce(ds.store_id, nullif(trim(t.store), '')) END AS store,
           t.customers
    FROM store_traffic t LEFT JOIN dim_store_map ds ON ds.raw = trim(t.store)
    WHERE t.day BETWEEN CAST($f AS DATE) AND CAST($t AS DATE)),
per_store AS (SELECT store, sum(customers) AS customers FROM traffic GROUP BY store HAVING sum(customers) > 0),
contacts AS (SELECT store, count(DISTINCT external_userid) AS n FROM rpt_contacts GROUP BY store)
SELECT t.store, coalesce(c.n, 0) AS new_contacts, t.customers
FROM per_store t LEFT JOIN contacts c ON c.store = t.store
ORDER BY CAST(coalesce(c.n, 0) AS DOUBLE) / CAST(t.customers AS DOUBLE) DESC, t.store
