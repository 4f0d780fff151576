-- Members of snapshot $s (report/kpis.py segments: the denominator of each segment's share).
SELECT count(*) AS n FROM segment_members WHERE snapshot_id = $s
