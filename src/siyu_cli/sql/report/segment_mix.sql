-- RFM segment mix (report/kpis.py segments): members per segment of snapshot $l and of snapshot $p (the
-- previous of the same scheme; -1 when none), segments of either side.
WITH cur AS (SELECT segment_id, any_value(segment_name) AS name, count(*) AS n
             FROM segment_members WHERE snapshot_id = $l GROUP BY segment_id),
prev AS (SELECT segment_id, any_value(segment_name) AS name, count(*) AS n
         FROM segment_members WHERE snapshot_id = $p GROUP BY segment_id)
SELECT coalesce(cur.segment_id, prev.segment_id) AS segment_id, coalesce(cur.name, prev.name) AS segment_name,
       coalesce(cur.n, 0) AS members, prev.n AS previous_members
FROM cur FULL JOIN prev ON cur.segment_id = prev.segment_id
ORDER BY 1
