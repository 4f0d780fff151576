"""Coupon codes on campaigns (`push create --coupon`) and attribution by redemption beside attribution by window."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import datetime, timedelta, timezone

import pytest

from push_helpers import WECOM_TOML, configure, seed_world
from siyu_cli.config import load_settings
from siyu_cli.push import CampaignSpec, create_campaign
from siyu_cli.push.experiments import results
from siyu_cli.store import open_store

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # the first send; tests never depend on today
LATER = T0 + timedelta(days=40)  # the 30-day window is closed


@pytest.fixture
def world(workspace, monkeypatch):
    configure(workspace, WECOM_TOML)
    monkeypatch.setenv("SIYU_WORKSPACE", str(workspace))
    s = load_settings(workspace)
    seed_world(s, {"g1": 40, "g2": 40})  # 80 eligible, 5 excluded (x0…x4: no WeCom id)
    return s


def mark_sent(settings, cid):
    with open_store(settings) as con:
        con.execute("UPDATE push_recipients SET state = 'sent', sent_at = ?, delivery = 'delivered' "
                    "WHERE campaign_id = ? AND state = 'planned'", [T0, cid])


def plant(settings, cid, seed=5):
    """Orders for the campaign's members: coded (the campaign's code, in any case), other codes, none; returns them."""
    rng = random.Random(seed)
    with open_store(settings) as con:
        members = con.execute("SELECT member_id, arm FROM push_recipients WHERE campaign_id = ? AND arm IS NOT NULL "
                              "ORDER BY member_id", [cid]).fetchall()
    orders = []  # (order_id, member_id, status, paid_at, net, coupon_code)

    def add(mid, code, day=3.0, status="paid", net=None):
        orders.append((f"o{len(orders):04d}", mid, status, T0 + timedelta(days=day), net or rng.randint(50, 150), code))

    treated = [m for m, a in members if a == "treatment"]
    held = [m for m, a in members if a == "holdout"]
    for i, mid in enumerate(treated):
        if i % 3 == 0:
            add(mid, "SPRING10", rng.uniform(0, 29))
        if i % 9 == 0:
            add(mid, "spring10,VIP5", rng.uniform(0, 29))  # a second coded order (two codes in one cell)
        if i % 4 == 1:
            add(mid, None, rng.uniform(0, 29))  # a purchase without a code: window only
        if i % 7 == 2:
            add(mid, "AUTUMN", rng.uniform(0, 29))  # another campaign's code: window only
    add(treated[1], "SPRING10", day=35)  # after the window: nobody's
    add(treated[2], "SPRING10", status="cancelled", net=0)  # cancelled: not a redemption
    add(held[0], "OTHER,VIP5", day=4)  # the code leaked into the holdout: shown, not hidden
    add(held[1], None, day=5)
    add("x0", "SPRING10", day=6)  # excluded from the experiment (no WeCom id): outside
    add(None, "SPRING10", day=7)  # a walk-in: outside
    with open_store(settings) as con:
        con.executemany("INSERT INTO orders (source, order_id, member_id, status, paid_at, paid_amount, net_amount, "
                        "coupon_code) VALUES ('t', ?, ?, ?, ?, ?, ?, ?)",
                        [[o, m, st, at, net, net, code] for o, m, st, at, net, code in orders])
    return dict(members), orders


def expected(members, orders, codes=("SPRING10", "VIP5")):
    """Per arm from the planted orders: (assigned, redeemers, redeemed orders, redeemed GMV), responders; outside."""
    def in_window(o):
        return o[2] == "paid" and o[4] > 0 and T0 <= o[3] < T0 + timedelta(days=30)

    def coded(o):
        return o[5] is not None and bool({c.upper() for c in o[5].split(",")} & set(codes))

    want, responders = {}, {}
    for arm in set(members.values()):
        ids = {m for m, a in members.items() if a == arm}
        red = [o for o in orders if o[1] in ids and in_window(o) and coded(o)]
        want[arm] = (len(ids), len({o[1] for o in red}), len(red), float(sum(o[4] for o in red)))
        responders[arm] = len({o[1] for o in orders if o[1] in ids and in_window(o)})
    outside = [o for o in orders if o[1] not in members and in_window(o) and coded(o)]
    return want, responders, (len(outside), float(sum(o[4] for o in outside)))


def test_redemptions_per_arm_are_exact_and_leaks_are_shown(world, cli):
    made = json.loads(cli("push", "create", "--audience", "store:静安店", "--id", "cpn", "--text", "领券 spring10",
                          "--holdout", "25%", "--coupon", "spring10", "--coupon", " VIP5 ,spring10", "--format", "json").stdout)
    assert made["coupon_codes"] == ["VIP5", "spring10"]
    mark_sent(world, "cpn")
    members, orders = plant(world, "cpn")
    want, responders, outside = expected(members, orders)
    assert want["holdout"][1] == 1 and want["treatment"][1] > 5  # the planted world has what the test claims
    with open_store(world, read_only=True) as con:
        d = results(con, "cpn", now=LATER)
    red = d["redemption"]
    assert red["codes"] == ["VIP5", "spring10"] and "redemption" in red["label"] and red["note"] is None
    got = {a["arm"]: (a["assigned"], a["redeemers"], a["orders"], a["gmv"]) for a in red["arms"]}
    assert got == want
    for a in red["arms"]:
        assert a["redemption_rate"] == pytest.approx(want[a["arm"]][1] / want[a["arm"]][0])
    # attribution by window beside it: every purchase in the window, coded or not
    assert {a["arm"]: a["responders"] for a in d["arms"]} == responders
    assert responders["treatment"] > want["treatment"][1]
    assert (red["outside"]["orders"], red["outside"]["gmv"]) == outside and red["outside"]["non_member_orders"] == 1
    # the same uplift machinery: redemption rate treatment − holdout, with its interval
    (u,) = red["uplift"]
    rate = {a: want[a][1] / want[a][0] for a in want}
    itt = u["itt"]["redemption_rate"]
    assert (u["arm"], u["versus"]) == ("treatment", "holdout")
    assert itt["diff"] == pytest.approx(rate["treatment"] - rate["holdout"])
    assert itt["ci_low"] < itt["diff"] < itt["ci_high"] and u["delivered_only"]["members"] == want["treatment"][0]
    # the CLI: json carries it, the table labels both attributions, csv adds the redemption columns per arm
    js = json.loads(cli("push", "results", "cpn", "--format", "json").stdout)
    assert {a["arm"]: a["redeemers"] for a in js["redemption"]["arms"]} == {a: w[1] for a, w in want.items()}
    table = cli("push", "results", "cpn")
    assert "attribution by window" in table.stdout and "attribution by redemption" in table.stdout
    assert "redemption uplift" in table.stdout and "leaked" in table.stderr
    rows = list(csv.DictReader(io.StringIO(cli("push", "results", "cpn", "--format", "csv").stdout)))
    assert {r["arm"]: (int(r["redeemers"]), int(r["redemption_orders"])) for r in rows} == {
        a: (w[1], w[2]) for a, w in want.items()}


def test_campaign_without_a_code_has_no_redemption_section(world, cli):
    create_campaign(world, CampaignSpec(channel="customer", audience="store:静安店", text="hi", holdout="25%",
                                        campaign_id="plain"), now=T0)
    mark_sent(world, "plain")
    plant(world, "plain")
    with open_store(world, read_only=True) as con:
        d = results(con, "plain", now=LATER)
    assert "redemption" not in d and d["arms"]
    assert "redemption" not in cli("push", "results", "plain").stdout
    assert "redemption" not in cli("push", "results", "plain", "--format", "csv").stdout
    from siyu_cli.report import build_report
    from siyu_cli.report.html import render_html
    from siyu_cli.report.terminal import render_text

    rep = build_report(world, date_from=T0.date() - timedelta(days=1), date_to=T0.date() + timedelta(days=1))
    assert rep.sections["redemptions"] is None and rep.sections["experiments"]
    assert "redemption" not in render_text(rep).lower() and "按核销归因" not in render_html(rep)


@pytest.mark.zh  # the dashboard and page as the default (Chinese) shows them
def test_report_shows_redemption_beside_the_experiment(world):
    create_campaign(world, CampaignSpec(channel="customer", audience="store:静安店", text="hi", holdout="25%",
                                        campaign_id="rep", coupons=["SPRING10,vip5"]), now=T0)
    mark_sent(world, "rep")
    members, orders = plant(world, "rep")
    from siyu_cli.report import build_report
    from siyu_cli.report.html import render_html
    from siyu_cli.report.terminal import render_text

    rep = build_report(world, date_from=T0.date() - timedelta(days=1), date_to=T0.date() + timedelta(days=1))
    days = rep.config.campaign_days
    (e,) = rep.sections["redemptions"]
    assert e["campaign_id"] == "rep" and e["design"] == "randomised" and e["codes"] == ["SPRING10", "vip5"]
    with open_store(world, read_only=True) as con:
        same = results(con, "rep", days=days)["redemption"]
    assert e["arms"] == same["arms"] and e["outside"] == same["outside"]
    assert e["uplift"][0]["itt"]["diff"] == pytest.approx(same["uplift"][0]["itt"]["redemption_rate"]["diff"])
    if days == 30:  # the report's window is the planted one: the counts are the planted ones
        want, _resp, _out = expected(members, orders)
        assert {a["arm"]: a["redeemers"] for a in e["arms"]} == {a: w[1] for a, w in want.items()}
    text = render_text(rep)
    assert ("Attribution by redemption" in text or "按核销归因" in text) and "SPRING10" in text
    page = render_html(rep).split("按核销归因")[1]
    hold = next(a for a in e["arms"] if a["arm"] == "holdout")
    assert "holdout" in page and "活动外" in page and f"<td>{hold['redeemers']}</td>" in page


def test_observational_campaign_with_a_code_compares_sent_and_not_sent(world):
    create_campaign(world, CampaignSpec(channel="customer", audience="store:静安店", text="hi", holdout="0",
                                        campaign_id="obs", coupons=["SPRING10"]), now=T0)
    mark_sent(world, "obs")
    with open_store(world) as con:
        con.execute("INSERT INTO orders (source, order_id, member_id, status, paid_at, paid_amount, net_amount, coupon_code) "
                    "VALUES ('t', 'a', 'g1-m0001', 'paid', ?, 80, 80, 'SPRING10'), ('t', 'b', 'x1', 'paid', ?, 60, 60, 'SPRING10')",
                    [T0 + timedelta(days=1), T0 + timedelta(days=2)])
    with open_store(world, read_only=True) as con:
        red = results(con, "obs", now=LATER)["redemption"]
    got = {a["arm"]: (a["assigned"], a["redeemers"], a["gmv"]) for a in red["arms"]}
    assert got == {"sent": (80, 1, 80.0), "not_sent": (5, 1, 60.0)}  # x1 is in the audience, excluded: not sent
    (u,) = red["uplift"]
    assert (u["arm"], u["versus"]) == ("sent", "not_sent") and "NOT randomised" in u["itt"]["label"]
    assert red["outside"]["orders"] == 0


def test_a_code_no_loaded_order_carries_says_so(world):
    create_campaign(world, CampaignSpec(channel="customer", audience="store:静安店", text="hi", holdout="25%",
                                        campaign_id="nocodes", coupons=["SPRING10"]), now=T0)
    mark_sent(world, "nocodes")
    with open_store(world, read_only=True) as con:
        red = results(con, "nocodes", now=LATER)["redemption"]
    assert "no order paid in the window carries any coupon code" in red["note"]
    assert all(a["redeemers"] == 0 for a in red["arms"])


@pytest.mark.parametrize("args, message", [
    (("--channel", "group", "--audience", "group:wr01", "--coupon", "A"), "customer channel"),
    (("--audience", "store:静安店", "--coupon", "X" * 65), "at most 64 characters"),
    (("--audience", "store:静安店", "--coupon", " , "), "--coupon needs a code"),
])
def test_bad_coupon_flags_are_usage_errors(world, cli, args, message):
    res = cli("push", "create", *args, "--text", "hi", "--dry-run", expect=2)
    assert message in res.stderr and "Traceback" not in res.stderr


def test_preview_shows_the_code(world, cli):
    out = cli("push", "create", "--audience", "store:静安店", "--text", "hi", "--coupon", "SPRING10", "--dry-run").stdout
    assert "coupon: SPRING10" in out
