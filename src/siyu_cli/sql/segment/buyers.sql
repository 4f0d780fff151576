-- One row per buyer: R/F/M measures as segment_members stores them (siyu_cli.segment.measures says why).
-- A purchase: a member, paid in [$start, $end) (local midnights), status not cancelled/unpaid, net_amount > 0.
-- net_amount is the loader's stored paid - refunded (docs/schema.md): reading it, not re-deriving it per row,
-- keeps the one scan cheaper, and the report's revenue KPIs read the same column.
-- One scan of orders; only each buyer's first and last purchase is converted to a local date.
WITH agg AS (
    SELECT member_id,
           max(paid_at) AS last_at,
           min(paid_at) AS first_at,
-- @if frequency_unit = days
           count(DISTINCT siyu_local_date(paid_at)) AS frequency,
-- @else
           count(*) AS frequency,
-- @end
           sum(net_amount) AS revenue
    FROM orders
    WHERE member_id IS NOT NULL AND status NOT IN ('cancelled', 'unpaid')
      AND paid_at < $end AND paid_at >= $start
      AND net_amount > 0
    GROUP BY member_id
),
b AS (
    SELECT member_id, frequency, revenue,
           siyu_local_date(last_at) AS last_d,
           siyu_local_date(first_at) AS first_d,
-- @if monetary = average
           -- revenue / frequency rounded half up to the cent in integer cents (revenue > 0): the same on every
           -- engine (a DOUBLE quotient rounds 169.14 / 4 = 42.285 down on one engine and up on another)
           CAST((2 * CAST(revenue * 100 AS BIGINT) + frequency) // (2 * frequency) AS DECIMAL(18,0)) * 0.01 AS mon
-- @else
           revenue AS mon
-- @end
    FROM agg
)
SELECT member_id,
       CAST(date_diff('day', last_d, $as_of) AS INTEGER) AS recency_days,
       CAST(frequency AS INTEGER) AS frequency,
       CAST(mon AS DECIMAL(18,2)) AS monetary,
       CAST(revenue AS DECIMAL(18,2)) AS revenue,
       first_d AS first_purchase,
       last_d AS last_purchase
FROM b
