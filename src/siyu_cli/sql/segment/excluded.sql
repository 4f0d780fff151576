-- Why each order that is not a purchase does not count, as (why, orders) rows (the first reason that applies).
SELECT why, count(*) AS orders FROM (
    SELECT CASE
             WHEN status = 'cancelled' THEN 'cancelled'
             WHEN status = 'unpaid' OR paid_at IS NULL THEN 'unpaid'
             WHEN paid_at >= $end THEN 'after_as_of'
             WHEN paid_at < $start THEN 'before_window'
             WHEN net_amount <= 0 THEN 'net_not_positive'
             WHEN member_id IS NULL THEN 'no_member'
             ELSE 'purchase'
           END AS why
    FROM orders
) w WHERE why <> 'purchase' GROUP BY why ORDER BY why
