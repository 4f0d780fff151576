-- The names of the period's guides (report/kpis.py breakdown, `--by guide`): the staff name, else a name the
-- members give their guide (the smallest, so every engine picks the same one).
SELECT u.k AS guide, coalesce(min(s.name), min(m.guide_name)) AS name
FROM (SELECT DISTINCT guide AS k FROM rpt_period) u
LEFT JOIN staff s ON s.userid = u.k
LEFT JOIN (SELECT DISTINCT guide_userid, guide_name FROM members WHERE guide_name IS NOT NULL) m ON m.guide_userid = u.k
GROUP BY u.k
