-- The at-risk group of fit $fit (report/measured.py clv_by_segment): members with P(alive) < $risk, their past
-- net revenue (snapshot $snap) and their remaining CLV.
SELECT count(*) AS members, coalesce(sum(s.revenue), 0) AS past_revenue, coalesce(sum(c.clv), 0) AS remaining_clv
FROM clv_members c LEFT JOIN segment_members s ON s.member_id = c.member_id AND s.snapshot_id = $snap
WHERE c.fit_id = $fit AND c.p_alive < $risk
