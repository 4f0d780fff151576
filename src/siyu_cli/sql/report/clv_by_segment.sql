-- CLV by RFM segment (report/measured.py clv_by_segment): per segment of snapshot $snap, the buyers with a
-- prediction of fit $fit, their mean P(alive), total and mean CLV, and those at risk (P(alive) < $risk).
SELECT s.segment_id, any_value(s.segment_name) AS segment_name, count(c.member_id) AS with_prediction,
       avg(c.p_alive) AS p_alive_mean, sum(c.clv) AS clv_total, avg(c.clv) AS clv_mean,
       count(c.member_id) FILTER (WHERE c.p_alive < $risk) AS at_risk,
       sum(c.clv) FILTER (WHERE c.p_alive < $risk) AS at_risk_clv
FROM segment_members s LEFT JOIN clv_members c ON c.member_id = s.member_id AND c.fit_id = $fit
WHERE s.snapshot_id = $snap
GROUP BY s.segment_id
ORDER BY 1
