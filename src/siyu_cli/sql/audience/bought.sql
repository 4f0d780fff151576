-- The members of a `bought:` audience (push/purchases.py): members with valid orders (paid or partially
-- refunded, net amount above 0, the report's rule) that match every condition. With a product condition
-- (sku, category, product name) an order counts when one of its lines matches, and its spend is the matching
-- lines' amount less their refunds; without one every valid order counts with its net amount.
-- `times` counts orders, `spend` sums money (DECIMAL, exact on both engines). Values are bound, never formatted.
WITH bought AS (
-- @if lines
    SELECT o.member_id, o.source, o.order_id, sum(coalesce(l.amount, 0) - l.refund_amount) AS spend
    FROM orders o JOIN order_lines l ON l.source = o.source AND l.order_id = o.order_id
-- @else
    SELECT o.member_id, o.source, o.order_id, o.net_amount AS spend
    FROM orders o
-- @end
    WHERE o.member_id IS NOT NULL AND o.status IN ('paid', 'partially_refunded') AND o.net_amount > 0
-- @if since
      AND o.paid_at >= $since
-- @end
-- @if sku
      AND l.sku = $sku
-- @end
-- @if category
      AND l.category = $category
-- @end
-- @if product
      AND l.product_name = $product
-- @end
-- @if product_like
      AND strpos(lower(l.product_name), lower($product_like)) > 0
-- @end
-- @if lines
    GROUP BY o.member_id, o.source, o.order_id
-- @end
)
SELECT member_id
FROM bought
GROUP BY member_id
HAVING count(*) >= $times
-- @if spend
   AND sum(spend) >= $spend
-- @end
