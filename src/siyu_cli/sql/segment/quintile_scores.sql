-- Every member with 1-5 quintile scores (NULL without a purchase): score = 1 + how many of the dimension's four
-- cut values ($r1..$r4 on -recency_days, $f1..$f4, $m1..$m4) the value exceeds (siyu_cli.segment.measures
-- .quintile_cuts computes them exactly; NULL cuts, for one buyer or none, score 1).
SELECT x.*,
       CASE WHEN frequency > 0 THEN CAST(1 + coalesce(CAST(-recency_days > $r1 AS INTEGER), 0)
            + coalesce(CAST(-recency_days > $r2 AS INTEGER), 0) + coalesce(CAST(-recency_days > $r3 AS INTEGER), 0)
            + coalesce(CAST(-recency_days > $r4 AS INTEGER), 0) AS INTEGER) END AS r_score,
       CASE WHEN frequency > 0 THEN CAST(1 + coalesce(CAST(frequency > $f1 AS INTEGER), 0)
            + coalesce(CAST(frequency > $f2 AS INTEGER), 0) + coalesce(CAST(frequency > $f3 AS INTEGER), 0)
            + coalesce(CAST(frequency > $f4 AS INTEGER), 0) AS INTEGER) END AS f_score,
       CASE WHEN frequency > 0 THEN CAST(1 + coalesce(CAST(monetary > $m1 AS INTEGER), 0)
            + coalesce(CAST(monetary > $m2 AS INTEGER), 0) + coalesce(CAST(monetary > $m3 AS INTEGER), 0)
            + coalesce(CAST(monetary > $m4 AS INTEGER), 0) AS INTEGER) END AS m_score
FROM (
-- @include segment/members
) x
