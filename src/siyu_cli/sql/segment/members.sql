-- Every member (and every buyer id not in members) with its measures from seg_buyers (segment/buyers);
-- members without a purchase get frequency 0, monetary 0 and recency NULL.
SELECT coalesce(m.member_id, b.member_id) AS member_id,
       b.recency_days,
       CAST(coalesce(b.frequency, 0) AS INTEGER) AS frequency,
       CAST(coalesce(b.monetary, 0) AS DECIMAL(18,2)) AS monetary,
       CAST(coalesce(b.revenue, 0) AS DECIMAL(18,2)) AS revenue,
       b.first_purchase,
       b.last_purchase
FROM (SELECT member_id FROM members) m FULL OUTER JOIN seg_buyers b ON b.member_id = m.member_id
