-- rfm8: each dimension high (1) or low (0) against its threshold (NULL threshold: no buyers, all low).
-- R is high when recency_days <= $r_threshold; F/M when >= the threshold for a fixed split ($f_fixed/$m_fixed),
-- > it for a statistic (median, mean, quantile). The code r*100 + f*10 + m is looked up in seg_codes.
WITH s AS (
    SELECT x.*,
           CASE WHEN frequency > 0 THEN CAST(coalesce(recency_days <= $r_threshold, FALSE) AS INTEGER) END AS r_score,
           CASE WHEN frequency > 0 THEN CAST(coalesce(CASE WHEN $f_fixed THEN frequency >= $f_threshold
                                                           ELSE frequency > $f_threshold END, FALSE) AS INTEGER) END AS f_score,
           CASE WHEN frequency > 0 THEN CAST(coalesce(CASE WHEN $m_fixed THEN monetary >= $m_threshold
                                                           ELSE monetary > $m_threshold END, FALSE) AS INTEGER) END AS m_score
    FROM (
-- @include segment/members
    ) x
)
SELECT s.*, coalesce(l.segment_id, 'no_purchase') AS segment_id,
       coalesce(l.segment_name, $no_purchase_name) AS segment_name
FROM s LEFT JOIN seg_codes l ON l.code = s.r_score * 100 + s.f_score * 10 + s.m_score
