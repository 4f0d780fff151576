-- share_for_80 (report/kpis.py pareto): the first bucket (richest first) whose cumulative GMV reaches $need
-- (80 % of member GMV); Python takes as many of its buyers as the rest needs.
SELECT v, before_n, before_sum FROM rpt_pareto WHERE before_sum + c * v >= $need ORDER BY v DESC LIMIT 1
