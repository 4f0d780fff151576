"""The plain-SQL floor of the whole report, for ``benchmarks/report.py --floor``.

The base-KPI baseline (``report.BARE_SQL``) is one query; the report computes ten sections more. This is
what an analyst would type into bare DuckDB to get the same numbers as every costly section of
``build_report`` on the benchmark's synthetic store (2025, Asia/Shanghai, the report's default settings:
active 90 / churn 180 days, campaigns 7 days, head 20 %): each section one query straight from the store's
tables, no copy shared between them, the cheapest exact method where there is one (Pareto per distinct GMV
value, no full sort). It knows the benchmark's data: every order names its own store and guide, and the
store and staff names need no dimension mapping, so none is done (the report maps them; that is part of
siyu's cost, not the floor's). :func:`check` asserts that the floor's numbers equal the report's, so the
two compute the same thing.
"""

from __future__ import annotations

LO, HI = "TIMESTAMPTZ '2025-01-01 00:00:00+08'", "TIMESTAMPTZ '2026-01-01 00:00:00+08'"
PAID = "status IN ('paid', 'partially_refunded', 'refunded')"
VALID = "status IN ('paid', 'partially_refunded') AND net_amount > 0"
PERIOD = f"paid_at >= {LO} AND paid_at < {HI}"


def day(col: str) -> str:
    """The local (UTC+8) day of a TIMESTAMPTZ by integer arithmetic: ``CAST(x AS DATE)`` converts through the ICU
    calendar row by row, several times slower (the report takes the same shortcut for zones without DST)."""
    return f"CAST(make_timestamp(epoch_us({col}) + 28800000000) AS DATE)"


FLOOR_SQL: dict[str, str] = {
    # base, membership and repurchase KPIs, with new buyers (no valid order before the period)
    "base": f"""
        WITH p AS (SELECT member_id, net_amount, item_count, {VALID} AS valid FROM orders WHERE {PAID} AND {PERIOD}),
        b AS (SELECT member_id, count(*) AS n FROM p WHERE valid AND member_id IS NOT NULL GROUP BY member_id),
        before AS (SELECT DISTINCT member_id FROM orders WHERE member_id IS NOT NULL AND paid_at < {LO} AND {VALID})
        SELECT (SELECT count(*) FROM members WHERE join_at IS NULL OR join_at < {HI}),
               (SELECT count(*) FROM members WHERE join_at >= {LO} AND join_at < {HI}),
               (SELECT count(*) FROM b), (SELECT count(*) FILTER (WHERE n >= 2) FROM b),
               (SELECT count(*) FROM b ANTI JOIN before USING (member_id)),
               count(*) FILTER (WHERE valid), sum(net_amount), sum(net_amount) FILTER (WHERE member_id IS NOT NULL),
               sum(item_count) FILTER (WHERE valid)
        FROM p""",
    # lifecycle of the members at the end (last valid order up to it) and how many WeCom reaches
    "lifecycle": f"""
        WITH last AS (SELECT member_id, {day('max(paid_at)')} AS d FROM orders
                      WHERE member_id IS NOT NULL AND paid_at < {HI} AND {VALID} GROUP BY member_id),
        m AS (SELECT date_diff('day', l.d, DATE '2025-12-31') AS idle,
                     m.external_userid IS NOT NULL OR m.member_id IN (SELECT member_id FROM wecom_contacts) AS reach
              FROM members m LEFT JOIN last l USING (member_id) WHERE m.join_at IS NULL OR m.join_at < {HI})
        SELECT count(*) FILTER (WHERE idle <= 90), count(*) FILTER (WHERE idle > 90 AND idle <= 180),
               count(*) FILTER (WHERE idle > 180), count(*) FILTER (WHERE idle IS NULL), count(*) FILTER (WHERE reach)
        FROM m""",
    # head share: GMV of the top 20 % of buyers (by period GMV), per distinct GMV value
    "pareto": f"""
        WITH g AS (SELECT member_id, sum(net_amount) AS v FROM orders
                   WHERE member_id IS NOT NULL AND {PAID} AND {PERIOD} GROUP BY member_id),
        b AS (SELECT v, count(*) AS c FROM g WHERE v > 0 GROUP BY v),
        run AS (SELECT v, c, sum(c) OVER w - c AS before_n, sum(c * v) OVER w - c * v AS before_sum,
                       sum(c) OVER () AS n, sum(c * v) OVER () AS total
                FROM b WINDOW w AS (ORDER BY v DESC ROWS UNBOUNDED PRECEDING)),
        k AS (SELECT (20 * any_value(n) + 99) // 100 AS k FROM run)
        SELECT CAST(before_sum + (k.k - before_n) * v AS DOUBLE) / CAST(total AS DOUBLE)
        FROM run, k WHERE before_n < k.k AND before_n + c >= k.k""",
    # join-month cohorts: members who joined in a month of the period, and who of them bought k months later
    "cohorts": f"""
        WITH c AS (SELECT member_id, date_trunc('month', {day('join_at')}) AS cm FROM members
                   WHERE join_at >= {LO} AND join_at < {HI}),
        b AS (SELECT DISTINCT member_id, date_trunc('month', {day('paid_at')}) AS bm FROM orders
              SEMI JOIN c USING (member_id) WHERE {VALID} AND {PERIOD})
        SELECT strftime(c.cm, '%Y-%m'), date_diff('month', c.cm, b.bm) AS k, count(*)
        FROM c JOIN b USING (member_id) WHERE b.bm >= c.cm GROUP BY ALL ORDER BY 1, 2""",
    # monthly trend: valid orders, GMV and buyers (distinct (month, buyer) pairs first: a count(DISTINCT) per
    # month took twice as long)
    "trend": f"""
        WITH p AS (SELECT date_trunc('month', {day('paid_at')}) AS m, member_id, net_amount, {VALID} AS valid
                   FROM orders WHERE {PAID} AND {PERIOD}),
        s AS (SELECT m, count(*) FILTER (WHERE valid) AS orders, sum(net_amount) AS gmv FROM p GROUP BY m),
        b AS (SELECT m, count(*) AS buyers FROM (SELECT DISTINCT m, member_id FROM p WHERE valid AND member_id IS NOT NULL)
              GROUP BY m)
        SELECT strftime(s.m, '%Y-%m'), s.orders, s.gmv, b.buyers FROM s LEFT JOIN b USING (m) ORDER BY 1""",
    # store and guide leaderboards: orders, GMV, buyers, repeat buyers, new contacts (by the adding guide)
    **{f"board_{k}": f"""
        WITH p AS (SELECT {col} AS k, member_id, net_amount, {VALID} AS valid FROM orders WHERE {PAID} AND {PERIOD}),
        sales AS (SELECT k, count(*) FILTER (WHERE valid) AS orders, sum(net_amount) AS gmv FROM p GROUP BY k),
        rep AS (SELECT k, count(*) AS buyers, count(*) FILTER (WHERE n >= 2) AS repeaters
                FROM (SELECT k, member_id, count(*) AS n FROM p WHERE valid AND member_id IS NOT NULL GROUP BY ALL)
                GROUP BY k),
        cts AS (SELECT {cts} AS k, count(DISTINCT c.external_userid) AS n FROM wecom_contacts c
                JOIN staff s ON s.userid = c.staff_userid WHERE c.added_at >= {LO} AND c.added_at < {HI} GROUP BY k)
        SELECT sales.k, sales.orders, sales.gmv, rep.buyers, rep.repeaters, cts.n
        FROM sales LEFT JOIN rep USING (k) LEFT JOIN cts USING (k) ORDER BY sales.gmv DESC, rep.buyers DESC, sales.k"""
       for k, col, cts in (("store", "store", "s.store"), ("guide", "guide_userid", "s.userid"))},
    # campaigns: reached members and the control group (segment members not sent it), each with a valid order
    # within 7 days after the send — joins on the orders of the window (correlated EXISTS took twice as long)
    "campaigns": f"""
        WITH c AS (SELECT campaign_id, snapshot_id, segment_id, sent_at FROM push_campaigns
                   WHERE sent_at >= {LO} AND sent_at < {HI}),
        r AS (SELECT campaign_id, member_id, sent_at AS t FROM push_recipients WHERE state = 'sent' AND member_id IS NOT NULL),
        o AS (SELECT member_id, paid_at FROM orders WHERE member_id IS NOT NULL AND {VALID}
              AND paid_at > (SELECT min(sent_at) FROM c) AND paid_at <= (SELECT max(sent_at) FROM c) + INTERVAL 7 DAY),
        seg AS (SELECT s.snapshot_id, s.segment_id, s.member_id FROM segment_members s
                WHERE s.snapshot_id IN (SELECT snapshot_id FROM c) AND s.segment_id IN (SELECT segment_id FROM c)),
        hits AS (SELECT r.campaign_id, count(DISTINCT r.member_id) AS n FROM r JOIN o ON o.member_id = r.member_id
                 AND o.paid_at > r.t AND o.paid_at <= r.t + INTERVAL 7 DAY GROUP BY ALL),
        seg_n AS (SELECT c.campaign_id, count(*) AS n FROM c JOIN seg USING (snapshot_id, segment_id) GROUP BY ALL),
        seg_sent AS (SELECT r.campaign_id, count(*) AS n FROM r JOIN c USING (campaign_id)
                     SEMI JOIN seg ON seg.snapshot_id = c.snapshot_id AND seg.segment_id = c.segment_id
                                  AND seg.member_id = r.member_id
                     GROUP BY ALL),
        seg_hit AS (SELECT DISTINCT c.campaign_id, seg.member_id FROM c JOIN seg USING (snapshot_id, segment_id)
                    JOIN o ON o.member_id = seg.member_id AND o.paid_at > c.sent_at AND o.paid_at <= c.sent_at + INTERVAL 7 DAY),
        ctl_b AS (SELECT h.campaign_id, count(*) AS n FROM seg_hit h
                  ANTI JOIN r ON r.campaign_id = h.campaign_id AND r.member_id = h.member_id GROUP BY ALL)
        SELECT c.campaign_id, (SELECT count(*) FROM r WHERE r.campaign_id = c.campaign_id), hits.n,
               seg_n.n - coalesce(seg_sent.n, 0), ctl_b.n
        FROM c LEFT JOIN hits USING (campaign_id) LEFT JOIN seg_n USING (campaign_id)
        LEFT JOIN seg_sent USING (campaign_id) LEFT JOIN ctl_b USING (campaign_id) ORDER BY c.campaign_id""",
    # new WeCom contacts of the period
    "contacts": f"SELECT count(DISTINCT external_userid) FROM wecom_contacts WHERE added_at >= {LO} AND added_at < {HI}",
}


def check(out: dict[str, list], report: dict) -> None:
    """Assert that the floor's numbers are the report's (``report``: ``Report.to_dict()`` of 2025)."""
    k, s = report["kpis"], report["sections"]
    members, new_members, buyers, repeaters, new_buyers, orders, gmv, member_gmv, units = out["base"][0]
    assert (members, new_members, buyers, new_buyers, orders) == (
        k["members"], k["new_members"], k["buyers"], k["new_buyers"], k["orders"]), (out["base"], k)
    assert repeaters == s["totals"]["repeat_buyers"] and abs(float(gmv) - k["gmv"]) < 0.01
    assert abs(float(member_gmv) - s["totals"]["member_gmv"]) < 0.01
    assert round(float(units) / orders, 4) == k["items_per_order"]
    life = s["lifecycle"]
    assert tuple(out["lifecycle"][0]) == (life["active"], life["silent"], life["churned"], life["never_bought"],
                                          k["reachable_members"]), (out["lifecycle"], life)
    assert round(out["pareto"][0][0], 6) == k["head_share"], (out["pareto"], k["head_share"])
    cells = {(m, kk): n for m, kk, n in out["cohorts"]}
    assert cells == {(c["month"], i): n for c in s["cohorts"] for i, n in enumerate(c["buyers"]) if n}
    assert [(m, o, b) for m, o, _, b in out["trend"]] == [(t["month"], t["orders"], t["buyers"]) for t in s["trend"]]
    for key in ("store", "guide"):
        mine = [(r[0], r[1], round(float(r[2]), 2), r[3], r[4], r[5] or 0) for r in out[f"board_{key}"]]
        theirs = [(b[key], b["orders"], b["gmv"], b["buyers"], round(b["repurchase_rate"] * b["buyers"]), b["new_contacts"])
                  for b in s["leaderboards"][key] if b["orders"]]
        assert mine == theirs, (key, mine[:2], theirs[:2])
    camp = {c["campaign_id"]: (c["reached_members"], c["repurchasers"], c["control_members"],
                               round((c["control_repurchase"] or 0) * c["control_members"])) for c in s["campaigns"]}
    assert {cid: (reached, hits or 0, ctl or 0, bought or 0) for cid, reached, hits, ctl, bought in out["campaigns"]} == camp
    assert out["contacts"][0][0] == k["new_contacts"]
