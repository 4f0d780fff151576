"""KPI report: every KPI on the hand-checked fixture (tests/report_fixture.py), edge cases, config."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pytest import approx

from report_fixture import populate
from siyu_cli.errors import ConfigError, UsageError
from siyu_cli.report import build_report
from siyu_cli.report.kpis import KPI_BY_ID, KPIS, SECTIONS, definitions_markdown, update_docs
from siyu_cli.store import open_store

D1, D2 = date(2026, 1, 1), date(2026, 3, 31)


@pytest.fixture
def report(settings):
    populate(settings)
    return build_report(settings, date_from=D1, date_to=D2)


def test_base_kpis(report):
    k = report.kpis
    assert report.days == 90
    # members with join day ≤ 2026-03-31: m1 m2 m3 m4 m5 m7 m8 (m6 joins 04-10) = 7
    assert k["members"] == 7
    # joined in the period: m2 (01-10) m3 (01-20) m4 (02-05) m5 (03-01) = 4
    assert k["new_members"] == 4
    # valid orders paid 01-01…03-31 local: o1 o2 o3 o4 o5 o6 (23:30 local on 03-31) o7 o9 (00:10 local 01-01) = 8;
    # o8 fully refunded, o10 is 04-01 local, o11 unpaid
    assert k["orders"] == 8
    # members with a valid order: m1 m2 m3 m4 = 4
    assert k["buyers"] == 4
    # m1 bought before the period (o14, 2025-12-20): returning; m2 m3 m4 first bought in it: new
    assert (k["new_buyers"], k["returning_buyers"]) == (3, 1)
    # net: 100 + 200 + 50 + (120−20) + 80 + 40 + 60 + 0 (o8) + 30 = 660
    assert k["gmv"] == approx(660.0)
    # 660 / 8 = 82.5
    assert k["aov"] == approx(82.5)
    # units: o1 2, o2 4 (lines 1+1+2), o3 1, o4 3, o5 1, o6 2, o7 2, o9 unknown → 15 over 7 orders
    assert k["items_per_order"] == approx(15 / 7, abs=1e-4)


def test_membership_and_reach(report):
    k = report.kpis
    # member orders 7 of 8 (o7 is a walk-in); member GMV 660 − 60 = 600
    assert k["member_order_share"] == approx(7 / 8)
    assert k["member_gmv_share"] == approx(600 / 660, abs=1e-6)
    assert report.sections["totals"] == {"member_orders": 7, "non_member_orders": 1, "member_gmv": 600.0,
                                         "repeat_buyers": 2}
    # reachable of the 7 members: m1 m2 m7 (external_userid) + m3 (a wecom_contacts row) = 4
    assert k["online_rate"] == approx(4 / 7, abs=1e-6)
    # contacts added in the period: wm2 (g1, 01-10), wm3x (g2), wmz (g2), wm2 again (g2) → distinct 3
    assert k["new_contacts"] == 3
    assert k["reachable_members"] == 4


def test_add_rate_by_store(report):
    rates = {r["store"]: r for r in report.sections["add_rate"]}
    # 静安店 traffic in period: month row 2026-01 (4) + day 02-15 (6) = 10 (the 04-01 row is outside);
    # new contacts by g1 (静安店): wm2 → 1/10
    assert rates["静安店"] == {"store": "静安店", "new_contacts": 1, "store_traffic": 10, "add_rate": approx(0.1)}
    # 浦东店: 40 customers in March, no contacts → 0
    assert rates["浦东店"]["add_rate"] == 0.0
    # 徐汇店 has contacts but no known traffic: no add rate
    assert "徐汇店" not in rates


def test_repurchase_frequency_lifecycle(report):
    k = report.kpis
    # valid orders per buyer: m1 2, m2 1, m3 3, m4 1 (o8 refunded) → repeaters m1 m3 → 2/4
    assert k["repurchase_rate"] == approx(0.5)
    # 7 member orders / 4 buyers
    assert k["purchase_frequency"] == approx(1.75)
    life = report.sections["lifecycle"]
    # days from the last valid order to 03-31: m1 49 (02-10), m2 75 (01-15), m3 0, m4 89 (01-01) → active (≤ 90);
    # m7 150 (2025-11-01) → silent (90 < d ≤ 180); m8 242 (2025-08-01) → churned; m5 never bought
    assert (life["active"], life["silent"], life["churned"], life["never_bought"]) == (4, 1, 1, 1)
    assert k["active_share"] == approx(4 / 7, abs=1e-6)
    assert k["silent_share"] == approx(1 / 7, abs=1e-6)
    assert k["churned_share"] == approx(1 / 7, abs=1e-6)
    assert k["never_bought_share"] == approx(1 / 7, abs=1e-6)


def test_lifecycle_thresholds_come_from_config(settings):
    populate(settings)
    with settings.config_file.open("a", encoding="utf-8") as fh:
        fh.write("\n[report]\nactive_days = 60\nchurn_days = 240\n")
    from siyu_cli.config import load_settings

    r = build_report(load_settings(settings.root), date_from=D1, date_to=D2)
    life = r.sections["lifecycle"]
    # active ≤ 60: m1 49, m3 0; silent 60 < d ≤ 240: m2 75, m4 89, m7 150; churned > 240: m8 242
    assert (life["active"], life["silent"], life["churned"]) == (2, 3, 1)


def test_value_and_pareto(report):
    k = report.kpis
    # member GMV 600 / 7 members × 365 / 90 days = 219000 / 630
    assert k["annual_revenue_per_member"] == approx(219000 / 630, abs=0.01)
    p = report.sections["pareto"]
    # buyers by GMV: m1 300, m3 220 (100+80+40), m2 50, m4 30 (o8 is 0) → total 600, n = 4
    assert p["buyers"] == 4
    # top 20%: ⌈0.2 × 4⌉ = 1 buyer → 300 / 600
    assert k["head_share"] == approx(0.5)
    # cumulative 300 (50%), 520 (86.7%) ≥ 80% at the 2nd buyer → 2/4
    assert k["share_for_80"] == approx(0.5)
    curve = dict((pt[0], pt[1]) for pt in p["curve"])
    assert curve[0] == 0.0
    assert curve[25] == approx(0.5)  # ⌈25 × 4 / 100⌉ = 1
    assert curve[26] == approx(520 / 600, abs=1e-6)  # ⌈1.04⌉ = 2
    assert curve[75] == approx(570 / 600, abs=1e-6)
    assert curve[100] == approx(1.0)
    assert len(p["curve"]) == 101


def test_segment_mix_and_change(report):
    seg = report.sections["segments"]
    assert seg["latest"]["snapshot_id"] == 2 and seg["previous"]["snapshot_id"] == 1
    mix = {m["segment_id"]: m for m in seg["mix"]}
    # latest (5 members): A m1 m3, H m2 m4, no_purchase m5; previous (4): A m1, D m2 m3 m4
    assert mix["A"]["members"] == 2 and mix["A"]["share"] == approx(0.4)
    assert mix["A"]["change_members"] == 1 and mix["A"]["change_share"] == approx(0.4 - 0.25)
    assert mix["D"]["members"] == 0 and mix["D"]["previous_members"] == 3
    assert mix["D"]["change_share"] == approx(-0.75)
    assert mix["H"]["change_members"] == 2 and mix["H"]["change_share"] == approx(0.4)
    assert mix["no_purchase"]["share"] == approx(0.2) and mix["no_purchase"]["segment_name"] == "未购会员"


def test_cohort_retention(report):
    cohorts = {c["month"]: c for c in report.sections["cohorts"]}
    # period join months only: m1 (2025-10) is not a cohort of this period
    assert list(cohorts) == ["2026-01", "2026-02", "2026-03"]
    # 2026-01: m2, m3. Month 0 (Jan): both bought (o3, o4); month 1 (Feb): none; month 2 (Mar): m3 (o5, o6)
    assert cohorts["2026-01"]["size"] == 2
    assert cohorts["2026-01"]["retention"] == [1.0, 0.0, 0.5]
    # 2026-02: m4 — o9 was before joining, o8 refunded, o10 after the period → nothing in Feb or Mar
    assert cohorts["2026-02"]["retention"] == [0.0, 0.0]
    # 2026-03: m5, never bought
    assert cohorts["2026-03"] == {"month": "2026-03", "size": 1, "buyers": [0], "retention": [0.0]}


def test_leaderboards(report):
    stores = report.sections["leaderboards"]["store"]
    assert [s["store"] for s in stores] == ["静安店", "徐汇店", "浦东店"]
    jingan, xuhui, pudong = stores
    # 静安店: o1 o2 o3 o7 → GMV 410, buyers m1 m2 (o7 is a walk-in), repeaters m1 → 1/2; contacts wm2
    assert (jingan["gmv"], jingan["buyers"], jingan["orders"], jingan["new_contacts"]) == (410.0, 2, 4, 1)
    assert jingan["repurchase_rate"] == approx(0.5)
    # 徐汇店: o4 o5 o6 o8(0) o9 → 100 + 80 + 40 + 0 + 30 = 250, buyers m3 m4, repeaters m3; contacts wm3x wmz wm2
    assert (xuhui["gmv"], xuhui["buyers"], xuhui["orders"], xuhui["new_contacts"]) == (250.0, 2, 4, 3)
    # 浦东店: a store with no buyers
    assert (pudong["gmv"], pudong["buyers"], pudong["orders"], pudong["new_contacts"]) == (0.0, 0, 0, 0)
    assert pudong["repurchase_rate"] is None
    guides = {g["guide"]: g for g in report.sections["leaderboards"]["guide"]}
    # g1 小王: o1 o2 o3 = 350 (o7 has no guide); g2 小李: 250; g3 小张: nothing
    assert (guides["g1"]["name"], guides["g1"]["gmv"], guides["g1"]["buyers"]) == ("小王", 350.0, 2)
    assert guides["g2"]["new_contacts"] == 3 and guides["g2"]["repurchase_rate"] == approx(0.5)
    assert (guides["g3"]["gmv"], guides["g3"]["buyers"], guides["g3"]["repurchase_rate"]) == (0.0, 0, None)
    assert [g["rank"] for g in report.sections["leaderboards"]["guide"]] == [1, 2, 3]


def test_campaign_results(report):
    camps = report.sections["campaigns"]
    # c0 was sent 2025-12-01, outside the period; c3 is an app message to staff, not a campaign; newest first
    assert [c["campaign_id"] for c in camps] == ["c1", "c2"]
    c = camps[0]
    # recipients: m3 sent+delivered, m2 sent (not_friend), m4 failed
    assert (c["targeted"], c["reached"], c["delivered"], c["failed"]) == (3, 2, 1, 1)
    assert c["delivery_rate"] == approx(0.5)
    # reached m2, m3; window (03-15 10:00, 03-22 10:00]: m3 bought o5 on 03-20 → 1/2
    assert c["campaign_repurchase"] == approx(0.5)
    # control: segment D of snapshot 1 (m2 m3 m4) not sent = m4; m4 bought nothing in the window → 0/1
    assert c["control_members"] == 1 and c["control_repurchase"] == 0.0
    assert c["campaign_uplift"] == approx(0.5)
    assert c["reached_members"] == 2
    g = camps[1]
    # group message to chat1: members m1 and m3 (the stranger has no member id); window (01-20 10:00, 01-27 10:00]:
    # m3 bought o4 on 01-25, m1 nothing (o1 01-05, o2 02-10) → 1/2; no segment, so no control group
    assert (g["reached"], g["delivered"], g["reached_members"]) == (1, 1, 2)
    assert g["campaign_repurchase"] == approx(0.5)
    assert g["control_repurchase"] is None and g["campaign_uplift"] is None


def test_campaign_window_is_configurable(settings):
    populate(settings)
    with settings.config_file.open("a", encoding="utf-8") as fh:
        fh.write("\n[report]\ncampaign_days = 3\n")
    from siyu_cli.config import load_settings

    c = build_report(load_settings(settings.root), date_from=D1, date_to=D2).sections["campaigns"][0]
    # (03-15 10:00, 03-18 10:00]: o5 on 03-20 is outside → 0/2
    assert c["campaign_repurchase"] == 0.0


def test_campaign_responses_after_the_period_still_count(settings):
    """The period's orders are read from its copy, the rest of a campaign's window from the store: a window that
    reaches past the period's end counts the orders after it."""
    populate(settings)
    camps = build_report(settings, date_from=D1, date_to=date(2026, 3, 18)).sections["campaigns"]
    c = next(c for c in camps if c["campaign_id"] == "c1")
    # the period ends 03-18 inside c1's window (03-15 10:00, 03-22 10:00]: m3's o5 on 03-20 is after it → 1/2
    assert (c["reached_members"], c["repurchasers"]) == (2, 1)
    assert c["campaign_repurchase"] == approx(0.5)


def test_control_buyers_are_the_segments_buyers_not_sent(settings):
    """The control group's buyers: segment members who bought in the window, less those the campaign reached."""
    populate(settings)
    with open_store(settings) as con:
        # in c1's window (03-15 10:00, 03-22 10:00]: m4 (control: its send failed) and m2 (reached, not_friend)
        for oid, mid in (("o20", "m4"), ("o21", "m2")):
            con.execute(
                "INSERT INTO orders (source, order_id, member_id, status, created_at, paid_at, paid_amount, "
                "refund_amount, net_amount, item_count, store, channel, guide_userid) VALUES ('siyu', ?, ?, 'paid', "
                "TIMESTAMPTZ '2026-03-18 12:00:00+08', TIMESTAMPTZ '2026-03-18 12:00:00+08', 30, 0, 30, 1, "
                "'徐汇店', 'store', 'g2')",
                [oid, mid],
            )
    c = build_report(settings, date_from=D1, date_to=D2).sections["campaigns"][0]
    # reached m2 m3 both bought (o21, o5) → 2/2; control m4 bought o20 → 1/1; m2 and m3 are not control buyers
    assert c["campaign_repurchase"] == approx(1.0)
    assert c["control_members"] == 1 and c["control_repurchase"] == approx(1.0)
    assert c["campaign_uplift"] == approx(0.0)


def _whole(days: int) -> dict:
    """The partial-month marks of a month the period covers entirely."""
    return {"days_covered": days, "days_in_month": days, "partial": False}


def test_trend_and_breakdowns(settings):
    populate(settings)
    r = build_report(settings, date_from=D1, date_to=D2, by="channel")
    # Jan: o1 o3 o4 o9 = 280, buyers m1 m2 m3 m4, joined m2 m3; Feb: o2 o7 (o8 0) = 260, buyer m1, joined m4;
    # Mar: o5 o6 = 120, buyer m3, joined m5
    # (each month also says whether the period covers it whole: issue 15's partial-month marks)
    assert r.sections["trend"] == [
        {"month": "2026-01", "orders": 4, "buyers": 4, "gmv": 280.0, "new_members": 2, **_whole(31)},
        {"month": "2026-02", "orders": 2, "buyers": 1, "gmv": 260.0, "new_members": 1, **_whole(28)},
        {"month": "2026-03", "orders": 2, "buyers": 1, "gmv": 120.0, "new_members": 1, **_whole(31)},
    ]
    rows = {row["channel"]: row for row in r.sections["breakdown"]["rows"]}
    # mini: o2 200, o4 100, o6 40, o8 0 → 340 over 3 valid orders, buyers m1 m3
    assert (rows["mini"]["gmv"], rows["mini"]["orders"], rows["mini"]["buyers"]) == (340.0, 3, 2)
    # store: o1 100, o3 50, o5 80, o7 60, o9 30 → 320 over 5 orders, buyers m1 m2 m3 m4; member share 260/320
    assert (rows["store"]["gmv"], rows["store"]["orders"], rows["store"]["buyers"]) == (320.0, 5, 4)
    assert rows["store"]["member_gmv_share"] == approx(260 / 320)
    assert rows["store"]["repurchase_rate"] == 0.0
    months = build_report(settings, date_from=D1, date_to=D2, by="month").sections["breakdown"]["rows"]
    assert [(m["month"], m["gmv"], m["aov"]) for m in months] == [
        ("2026-01", 280.0, 70.0), ("2026-02", 260.0, 130.0), ("2026-03", 120.0, 60.0)]
    guides = build_report(settings, date_from=D1, date_to=D2, by="guide").sections["breakdown"]["rows"]
    # o7 has no guide and no member: its own row with guide None, listed last
    assert [(g["guide"], g["name"], g["gmv"]) for g in guides] == [
        ("g1", "小王", 350.0), ("g2", "小李", 250.0), (None, None, 60.0)]


def test_timezone_decides_the_day(settings):
    populate(settings)
    r = build_report(settings, date_from=date(2026, 4, 1), date_to=date(2026, 4, 1))
    # only o10 (16:30 UTC on 03-31 = 00:30 on 04-01 in Shanghai)
    assert (r.kpis["orders"], r.kpis["gmv"]) == (1, 999.0)


# ---------------------------------------------------------------- edge cases

def test_empty_store(settings):
    r = build_report(settings, date_from=D1, date_to=D2)
    k = r.kpis
    assert (k["members"], k["orders"], k["buyers"], k["gmv"]) == (0, 0, 0, 0.0)
    for ratio in ("aov", "items_per_order", "member_order_share", "online_rate", "repurchase_rate",
                  "active_share", "annual_revenue_per_member", "head_share"):
        assert k[ratio] is None, ratio
    assert r.sections["pareto"]["curve"] == []
    assert r.sections["cohorts"] == [] and r.sections["leaderboards"] == {"store": [], "guide": []}
    assert r.sections["segments"] is None and r.sections["campaigns"] is None
    assert any("siyu segment" in n for n in r.notes)
    assert [t["orders"] for t in r.sections["trend"]] == [0, 0, 0]


def test_members_but_no_orders(settings):
    with open_store(settings) as con:
        con.execute("INSERT INTO members (member_id, join_at, store) VALUES ('a', '2026-01-05 10:00:00+08', 'S'),"
                    " ('b', '2026-02-05 10:00:00+08', 'S')")
    r = build_report(settings, date_from=D1, date_to=D2)
    assert (r.kpis["members"], r.kpis["new_members"], r.kpis["orders"]) == (2, 2, 0)
    assert r.kpis["never_bought_share"] == 1.0 and r.kpis["annual_revenue_per_member"] == 0.0
    assert r.kpis["repurchase_rate"] is None
    assert r.sections["leaderboards"]["store"] == [
        {"rank": 1, "store": "S", "new_contacts": 0, "buyers": 0, "orders": 0, "gmv": 0.0, "repurchase_rate": None}]
    assert [c["retention"] for c in r.sections["cohorts"]] == [[0.0, 0.0, 0.0], [0.0, 0.0]]


@pytest.mark.zh  # the notes are asserted in Chinese, the default language
def test_notes_for_all_member_orders_and_no_units(settings):
    with open_store(settings) as con:
        con.execute("INSERT INTO members (member_id, join_at) VALUES ('a', '2026-01-05 10:00:00+08')")
        con.execute("INSERT INTO orders (source, order_id, member_id, status, paid_at, paid_amount, net_amount) "
                    "VALUES ('s', '1', 'a', 'paid', '2026-01-06 10:00:00+08', 10, 10)")
    r = build_report(settings, date_from=D1, date_to=D2)
    assert r.kpis["member_order_share"] == 1.0 and r.kpis["items_per_order"] is None
    assert any(n.startswith("会员占比") for n in r.notes) and any(n.startswith("连带率") for n in r.notes)


def test_period_without_data(settings):
    populate(settings)
    r = build_report(settings, date_from=date(2030, 1, 1), date_to=date(2030, 1, 31), by="store")
    k = r.kpis
    # every member joined before 2030 and nobody bought in 2030
    assert (k["members"], k["new_members"], k["orders"], k["gmv"], k["aov"]) == (8, 0, 0, 0.0, None)
    assert r.sections["breakdown"]["rows"] == []
    assert r.sections["campaigns"] == []
    assert r.sections["trend"] == [{"month": "2030-01", "orders": 0, "buyers": 0, "gmv": 0.0, "new_members": 0,
                                    **_whole(31)}]
    # lifecycle still looks back from 2030-01-31: everybody's last order is years ago
    assert r.sections["lifecycle"]["active"] == 0


def test_sections_skip_when_other_areas_tables_are_empty(settings):
    populate(settings, segments=False, push=False, traffic=False)
    with open_store(settings) as con:
        from report_fixture import create_contract_tables

        create_contract_tables(con)
    r = build_report(settings, date_from=D1, date_to=D2)
    assert r.sections["segments"] is None and r.sections["add_rate"] == []
    assert r.sections["campaigns"] is None
    assert any("no campaigns yet" in n for n in r.notes)


def test_bad_period_and_by(settings):
    with pytest.raises(UsageError, match="after"):
        build_report(settings, date_from=D2, date_to=D1)
    with pytest.raises(UsageError, match="--by"):
        build_report(settings, by="city")


def test_default_period_is_config_days_ending_today(settings):
    with settings.config_file.open("a", encoding="utf-8") as fh:
        fh.write("\n[report]\nperiod_days = 30\n")
    from siyu_cli.config import load_settings

    r = build_report(load_settings(settings.root), date_to=D2)
    assert (r.date_from, r.days) == (date(2026, 3, 2), 30)


@pytest.mark.parametrize("toml, message", [
    ("[report]\nactive_dayz = 3\n", "did you mean `active_days`"),
    ("[report]\nactive_days = 200\n", "churn_days"),
    ("[report]\nhead_percent = 'x'\n", "positive whole number"),
])
def test_bad_report_config(settings, toml, message):
    with settings.config_file.open("a", encoding="utf-8") as fh:
        fh.write("\n" + toml)
    from siyu_cli.config import load_settings

    with pytest.raises(ConfigError, match=message):
        build_report(load_settings(settings.root))


# ---------------------------------------------------------------- definitions

def test_registry_is_complete():
    assert len({k.id for k in KPIS}) == len(KPIS)
    for k in KPIS:
        assert k.section in SECTIONS and k.name and k.name_en and k.definition.endswith(".") and k.formula
    # every headline KPI the report computes has a definition
    assert {"gmv", "aov", "items_per_order", "online_rate", "add_rate", "repurchase_rate",
            "annual_revenue_per_member", "head_share", "cohort_retention", "campaign_uplift"} <= set(KPI_BY_ID)


def test_headline_kpis_are_defined(report):
    undefined = [k for k in report.kpis if k not in KPI_BY_ID]
    assert undefined == []


def test_docs_match_the_registry():
    docs = Path(__file__).resolve().parents[2] / "docs" / "report.md"
    text = docs.read_text(encoding="utf-8")
    assert definitions_markdown() in text, "docs/report.md is stale: python -m siyu_cli.report.kpis --write docs/report.md"
    assert update_docs(text) == text


def test_reads_a_real_segment_snapshot(settings):
    """Cross-area check: a snapshot written by `siyu segment` itself feeds the RFM mix and its change."""
    segment = pytest.importorskip("siyu_cli.segment")
    populate(settings, segments=False, push=False)
    first = segment.run_segment(settings, as_of=date(2026, 2, 28))
    second = segment.run_segment(settings, as_of=D2)
    seg = build_report(settings, date_from=D1, date_to=D2).sections["segments"]
    assert (seg["latest"]["snapshot_id"], seg["previous"]["snapshot_id"]) == (second.snapshot_id, first.snapshot_id)
    with open_store(settings, read_only=True) as con:
        total = con.execute("SELECT count(*) FROM segment_members WHERE snapshot_id = ?", [second.snapshot_id]).fetchone()[0]
        prev_total = con.execute("SELECT count(*) FROM segment_members WHERE snapshot_id = ?", [first.snapshot_id]).fetchone()[0]
    assert sum(m["members"] for m in seg["mix"]) == total > 0
    assert sum(m["previous_members"] for m in seg["mix"]) == prev_total
    assert sum(m["share"] for m in seg["mix"]) == approx(1.0, abs=1e-5)
    assert sum(m["change_members"] for m in seg["mix"]) == total - prev_total


def _without_time(report) -> dict:
    out = report.to_dict()
    out.pop("generated_at")
    return out


@pytest.mark.parametrize("period", [(D1, D2), (date(2025, 6, 1), date(2026, 5, 31))])
def test_month_bits_give_the_same_report_as_month_pairs(settings, monkeypatch, period):
    """Buyers' months are kept as bits for periods up to 64 months and as (member, month) rows beyond:
    both give the same trend, cohorts and every other section."""
    from siyu_cli.report import kpis

    populate(settings)
    bits = build_report(settings, date_from=period[0], date_to=period[1], by="month")
    monkeypatch.setattr(kpis, "MONTH_MASK_BITS", 0)
    pairs = build_report(settings, date_from=period[0], date_to=period[1], by="month")
    assert _without_time(bits) == _without_time(pairs)
    assert any(row["buyers"] for row in bits.sections["trend"])


@pytest.mark.parametrize("zone, fast", [("Asia/Shanghai", True), ("UTC", True), ("Europe/Berlin", False),
                                        ("America/New_York", False)])
def test_local_day_is_the_zone_s_calendar_day(zone, fast):
    """The report's day of an instant: offset arithmetic where the zone's offset is constant over the range,
    the calendar cast where it changes (daylight saving) — the same day as the cast either way."""
    import duckdb

    from siyu_cli.report.kpis import local_day

    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{zone}'")
    lo, hi = date(2025, 1, 1), date(2025, 12, 31)
    expr = local_day(con, "t", lo, hi)
    assert ("epoch_us" in expr) is fast
    # instants a minute either side of every local midnight of the year, and of the DST changes
    rows = con.execute(f"""
        WITH days AS (SELECT CAST(d AS DATE) AS d FROM range(DATE '2025-01-01', DATE '2026-01-01', INTERVAL 1 DAY) r(d)),
        t AS (SELECT CAST(d AS TIMESTAMPTZ) + to_minutes(m) AS t FROM days, (VALUES (-1), (0), (1), (150), (1439)) v(m))
        SELECT count(*), count(*) FILTER (WHERE {expr} <> CAST(t AS DATE)) FROM t""").fetchone()
    assert rows[0] > 1800 and rows[1] == 0
