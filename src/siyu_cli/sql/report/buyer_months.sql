-- rpt_buyer_months for a period longer than member_period's 63 month bits (report/kpis.py period_orders): one
-- row per member and month they made a valid order in (shorter periods expand the bits in a view instead).
-- The month is a DATE: date_trunc gives a local TIMESTAMP on DuckDB and an instant on Spark.
SELECT DISTINCT member_id, CAST(date_trunc('month', day) AS DATE) AS m
FROM rpt_period WHERE valid AND member_id IS NOT NULL
