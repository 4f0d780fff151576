-- rfm11: the quintile code r*100 + f*10 + m looked up in seg_codes (125 rows: code, segment_id, segment_name);
-- members without a purchase get no_purchase ($no_purchase_name).
SELECT s.*, coalesce(l.segment_id, 'no_purchase') AS segment_id,
       coalesce(l.segment_name, $no_purchase_name) AS segment_name
FROM (
-- @include segment/quintile_scores
) s
LEFT JOIN seg_codes l ON l.code = s.r_score * 100 + s.f_score * 10 + s.m_score
