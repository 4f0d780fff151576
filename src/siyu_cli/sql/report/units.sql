-- 连带率 when order lines exist (report/kpis.py _units): (Σ units, valid orders with known units) of the
-- period, a line's quantities overriding its order's item_count. Period: paid_at on a day in [$f, $t].
WITH p AS (
    SELECT source, order_id, item_count FROM orders
    WHERE status IN ('paid', 'partially_refunded') AND net_amount > 0
      AND paid_at >= CAST(CAST($f AS DATE) AS TIMESTAMPTZ)
      AND paid_at < CAST(CAST($t AS DATE) + 1 AS TIMESTAMPTZ)),
lines AS (
    SELECT l.source, l.order_id, sum(l.quantity) AS units
    FROM order_lines l SEMI JOIN p ON p.source = l.source AND p.order_id = l.order_id
    GROUP BY l.source, l.order_id)
SELECT sum(coalesce(lines.units, p.item_count)) AS units,
       count(*) FILTER (WHERE coalesce(lines.units, p.item_count) IS NOT NULL) AS counted
FROM p LEFT JOIN lines ON lines.source = p.source AND lines.order_id = p.order_id
