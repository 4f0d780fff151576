-- rpt_buyer_months for a period longer than member_period's 63 month bits (report/kpis.py period_orders): one
-- row per member and month they made a valid order in (shorter periods expand the bits in a view instead).
SELECT DISTINCT member_id, date_trunc('month', day) AS m FROM rpt_period WHERE valid AND member_id IS NOT NULL
