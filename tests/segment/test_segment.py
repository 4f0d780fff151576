"""Segment library: measures, rfm8 / rfm11 / custom schemes, snapshots, audience — hand-computed expectations."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from config_helpers import add_config
from segment_fixtures import AS_OF, MAIN_MEASURES, RFM8_FIXED, add_members, add_order, build_main, local, main_workspace
from siyu_cli.errors import DataError, UsageError
from siyu_cli.segment import audience, latest_snapshot_id, run_segment
from siyu_cli.segment.schemes import RFM11_CODES, parse_split, rfm11_segment_of
from siyu_cli.segment.snapshots import diff, explain, history
from siyu_cli.store import open_store

FIXED = {"r_split": "90", "f_split": "2", "m_split": "500"}


@pytest.fixture
def main_store(settings):
    return main_workspace(settings)


def members_of(settings, snapshot_id):
    with open_store(settings, read_only=True) as con:
        rows = con.execute(
            """SELECT member_id, recency_days, frequency, monetary, r_score, f_score, m_score, segment_id, segment_name
               FROM segment_members WHERE snapshot_id = ?""",
            [snapshot_id],
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


# ---------------------------------------------------------------- measures

def test_measures_refunds_cancelled_zero_and_no_orders(main_store):
    run = run_segment(main_store, scheme="rfm8", as_of=date(2026, 6, 30), **FIXED)
    got = members_of(main_store, run.snapshot_id)
    assert {m: (v[0], v[1], float(v[2])) for m, v in got.items()} == {
        m: (r, f, float(mon)) for m, (r, f, mon) in MAIN_MEASURES.items()
    }
    assert run.members == 11 and run.buyers == 8
    # the fully refunded order, the refund larger than the order and the zero-value order are net ≤ 0
    assert run.excluded == {"cancelled": 1, "net_not_positive": 3}


def test_negative_order_and_lone_buyer(settings):
    with open_store(settings) as con:
        add_members(con, "solo", "neg")
        add_order(con, "solo", local("2026-06-01"), 88)
        add_order(con, "solo", local("2026-06-02"), -30)  # a negative adjustment row: not a purchase, not netted
        add_order(con, "neg", local("2026-06-03"), -5)
    run = run_segment(settings, scheme="rfm11", as_of=AS_OF)
    got = members_of(settings, run.snapshot_id)
    assert got["solo"][:7] == (29, 1, 88, 1, 1, 1, "lost")  # a lone buyer scores 1/1/1 (documented)
    assert got["neg"][6] == "no_purchase"
    assert run.excluded == {"net_not_positive": 2}


def test_frequency_days_and_average_monetary(settings):
    with open_store(settings) as con:
        add_members(con, "m")
        add_order(con, "m", local("2026-06-01", "09:00:00"), 100)
        add_order(con, "m", local("2026-06-01", "18:00:00"), 50)  # same local day
        add_order(con, "m", local("2026-06-10"), 30)
    by_orders = members_of(settings, run_segment(settings, as_of=AS_OF).snapshot_id)["m"]
    assert by_orders[:3] == (20, 3, 180)
    by_days = run_segment(settings, as_of=AS_OF, frequency_unit="days", monetary="average")
    m = members_of(settings, by_days.snapshot_id)["m"]
    assert m[:3] == (20, 2, 90)  # 180 over 2 purchase days
    with open_store(settings, read_only=True) as con:
        revenue = con.execute(
            "SELECT revenue FROM segment_members WHERE snapshot_id = ? AND member_id = 'm'", [by_days.snapshot_id]
        ).fetchone()[0]
    assert revenue == 180  # the segment table's revenue stays the net total


def test_window_boundary_is_exclusive_of_the_first_day(settings):
    with open_store(settings) as con:
        add_members(con, "w")
        add_order(con, "w", local("2026-04-01"), 10)  # as of 06-30, 90d keeps 04-02 … 06-30
        add_order(con, "w", local("2026-04-02"), 20)
    run = run_segment(settings, as_of=AS_OF, window="90d")
    assert members_of(settings, run.snapshot_id)["w"][:3] == (89, 1, 20)
    assert run.excluded == {"before_window": 1}
    assert run.params["window"] == "90d"


def test_timezone_at_midnight(settings):
    with open_store(settings) as con:
        add_members(con, "t")
        add_order(con, "t", "2026-06-30 15:59:00+00", 10)  # 23:59 on 06-30 in Shanghai
        add_order(con, "t", "2026-06-30 16:30:00+00", 20)  # 00:30 on 07-01 in Shanghai: after the as-of day
        add_order(con, "t", "2026-06-28 16:10:00+00", 5)  # 00:10 on 06-29 in Shanghai, still 06-28 in UTC
    run = run_segment(settings, as_of=AS_OF, frequency_unit="days")
    assert members_of(settings, run.snapshot_id)["t"][:3] == (0, 2, 15)
    assert run.excluded == {"after_as_of": 1}
    utc = dataclasses.replace(settings, timezone="UTC")
    run = run_segment(utc, as_of=AS_OF, frequency_unit="days")
    # in UTC all three are on or before 06-30: days 06-28 and 06-30
    assert members_of(settings, run.snapshot_id)["t"][:3] == (0, 2, 35)


def test_members_only_in_orders_are_kept(settings):
    with open_store(settings) as con:
        add_order(con, "ghost", local("2026-06-29"), 42)
        add_order(con, None, local("2026-06-29"), 99)  # not a member: not counted, reported
    run = run_segment(settings, as_of=AS_OF)
    assert members_of(settings, run.snapshot_id)["ghost"][:3] == (1, 1, 42)
    assert run.excluded == {"no_member": 1}


def test_bad_options_are_usage_errors(settings):
    with pytest.raises(UsageError, match="--window"):
        run_segment(settings, window="3x")
    with pytest.raises(UsageError, match="--as-of"):
        run_segment(settings, as_of="30/06/2026")
    with pytest.raises(UsageError, match="--frequency-unit"):
        run_segment(settings, frequency_unit="weeks")
    with pytest.raises(UsageError, match="--m-split"):
        run_segment(settings, m_split="big")
    with pytest.raises(UsageError, match="--scheme"):
        run_segment(settings, scheme="rfm9")


# ---------------------------------------------------------------- rfm8

def test_rfm8_fixed_thresholds(main_store):
    run = run_segment(main_store, scheme="rfm8", as_of=AS_OF, **FIXED)
    got = members_of(main_store, run.snapshot_id)
    assert {m: v[6] for m, v in got.items()} == RFM8_FIXED
    assert got["a"][3:6] == (1, 1, 1) and got["h"][3:6] == (0, 0, 0) and got["n"][3:6] == (None, None, None)
    assert got["e"][7] == "重要保持客户" and got["n"][7] == "未购"
    assert run.params["splits"]["r"]["rule"] == "R ≤ 90"
    assert run.params["splits"]["m"]["rule"] == "M ≥ 500"


def test_rfm8_default_is_median_r_fixed_f_median_m(main_store):
    run = run_segment(main_store, as_of=AS_OF)
    splits = run.params["splits"]
    # buyers' recency 2,5,15,29,117,149,211,241 → median 73; monetary 20,70,80,110,700,900,1100,2000 → 405
    assert (splits["r"]["threshold"], splits["f"]["threshold"], splits["m"]["threshold"]) == (73, 2, 405)
    assert (splits["r"]["kind"], splits["f"]["kind"], splits["m"]["kind"]) == ("median", "fixed", "median")
    assert {m: v[6] for m, v in members_of(main_store, run.snapshot_id).items()} == RFM8_FIXED


def test_rfm8_mean_and_quantile_splits(main_store):
    run = run_segment(main_store, as_of=AS_OF, r_split="mean", f_split="mean", m_split="mean")
    s = run.params["splits"]
    assert (s["r"]["threshold"], s["f"]["threshold"], s["m"]["threshold"]) == (96.125, 1.5, 622.5)
    assert {m: v[6] for m, v in members_of(main_store, run.snapshot_id).items()} == RFM8_FIXED
    # M > 75th percentile: 900 + 0.25 × (1100 − 900) = 950, so only e and g are high spenders
    run = run_segment(main_store, as_of=AS_OF, r_split="90", m_split="q0.75")
    assert run.params["splits"]["m"]["threshold"] == 950
    got = {m: v[6] for m, v in members_of(main_store, run.snapshot_id).items()}
    assert got == {**RFM8_FIXED, "a": "B", "c": "D"}


def test_rfm8_median_split_on_f_when_most_bought_once(settings):
    """A median of 1 must not make every buyer 'frequent': statistic splits are strict (F > median)."""
    with open_store(settings) as con:
        add_members(con, "p1", "p2", "p3", "p4", "p5", "rep")
        for i, mid in enumerate(["p1", "p2", "p3", "p4", "p5"]):
            add_order(con, mid, local(f"2026-06-0{i + 1}"), 100 + i)
        add_order(con, "rep", local("2026-06-01"), 50)
        add_order(con, "rep", local("2026-06-20"), 50)
    run = run_segment(settings, as_of=AS_OF, f_split="median")
    assert run.params["splits"]["f"]["threshold"] == 1
    f_scores = {m: v[4] for m, v in members_of(settings, run.snapshot_id).items()}
    assert f_scores == {"p1": 0, "p2": 0, "p3": 0, "p4": 0, "p5": 0, "rep": 1}


def test_all_equal_amounts_warn_and_tie(settings):
    with open_store(settings) as con:
        add_members(con, "x1", "x2", "x3")
        add_order(con, "x1", local("2026-06-01"), 100)
        add_order(con, "x2", local("2026-06-10"), 100)
        add_order(con, "x3", local("2026-06-20"), 100)
    run = run_segment(settings, as_of=AS_OF)
    assert any("M split" in w and "low side" in w for w in run.warnings)
    assert {v[5] for v in members_of(settings, run.snapshot_id).values()} == {0}
    run = run_segment(settings, scheme="rfm11", as_of=AS_OF)
    got = members_of(settings, run.snapshot_id)
    # equal F and M tie at rank 1 → score 1; R ranks 1,2,3 of 3 → 1, 1+5·1//2 = 3, 5
    assert {m: v[3:6] for m, v in got.items()} == {"x1": (1, 1, 1), "x2": (3, 1, 1), "x3": (5, 1, 1)}


def test_parse_split_forms():
    assert parse_split("m", "p80").q == pytest.approx(0.8)
    assert parse_split("m", "quantile:0.25").q == pytest.approx(0.25)
    assert parse_split("m", 500).value == 500 and parse_split("m", 500).kind == "fixed"
    with pytest.raises(UsageError):
        parse_split("r", "q1.5")


# ---------------------------------------------------------------- rfm11

def test_rfm11_table_covers_all_125_codes_once():
    listed = [c for _, codes in RFM11_CODES for c in codes]
    assert len(listed) == len(set(listed)) == 119
    every = {r * 100 + f * 10 + m for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)}
    assert every - set(listed) == {111, 112, 121, 131, 141, 151}
    assert rfm11_segment_of(555).id == "champions" and rfm11_segment_of(151).id == "lost"


def test_rfm11_quintiles_and_segments(main_store):
    run = run_segment(main_store, scheme="rfm11", as_of=AS_OF)
    got = members_of(main_store, run.snapshot_id)
    # n = 8 buyers, score = min(5, 1 + 5·(rank−1)//7): ranks 1..8 → 1,1,2,3,3,4,5,5; ties share the lowest rank
    assert {m: v[3:7] for m, v in got.items()} == {
        "a": (5, 3, 3, "potential_loyalist"),
        "b": (5, 3, 3, "potential_loyalist"),
        "c": (3, 1, 4, "promising"),
        "d": (4, 1, 2, "recent_customers"),
        "e": (2, 3, 5, "at_risk"),
        "f": (3, 3, 1, "about_to_sleep"),
        "g": (1, 1, 5, "cant_lose"),
        "h": (1, 1, 1, "lost"),
        "n": (None, None, None, "no_purchase"),
        "z": (None, None, None, "no_purchase"),
        "r": (None, None, None, "no_purchase"),
    }
    assert got["g"][7] == "不能失去的客户"


def test_rfm11_is_independent_of_row_order(settings):
    """Insert the same buyers in two orders: identical scores (ties never split by row order)."""
    def build(con, order):
        for mid in order:
            add_members(con, mid)
            add_order(con, mid, local("2026-06-01"), 10 if mid < "m3" else 20, order_id=f"{mid}-1")
    with open_store(settings) as con:
        build(con, ["m1", "m2", "m3", "m4", "m5", "m6"])
    first = members_of(settings, run_segment(settings, scheme="rfm11", as_of=AS_OF).snapshot_id)
    with open_store(settings) as con:
        con.execute("DELETE FROM orders; DELETE FROM members")
        build(con, ["m6", "m4", "m2", "m5", "m3", "m1"])
    second = members_of(settings, run_segment(settings, scheme="rfm11", as_of=AS_OF).snapshot_id)
    assert first == second
    assert {v[5] for m, v in first.items() if m < "m3"} == {1} and {v[5] for m, v in first.items() if m >= "m3"} == {3}


# ---------------------------------------------------------------- custom schemes

CUSTOM = """\
name: tiers
segments:
  - id: whale
    name: 大客户
    action: 导购 1:1
    when:
      monetary: ">= 1000"
  - id: regular
    name: 常客
    when:
      frequency: ">= 2"
      recency: "0..30"
  - id: top_r
    name: 最近来过
    when:
      r_score: [4, 5]
default:
  id: others
  name: 其他
"""


def test_custom_scheme_first_match_wins(main_store, tmp_path):
    path = tmp_path / "tiers.yaml"
    path.write_text(CUSTOM, encoding="utf-8")
    run = run_segment(main_store, scheme=str(path), as_of=AS_OF)
    got = {m: v[6] for m, v in members_of(main_store, run.snapshot_id).items()}
    assert got == {
        "e": "whale", "g": "whale", "a": "regular", "b": "regular", "d": "top_r",
        "c": "others", "f": "others", "h": "others",
        "n": "no_purchase", "z": "no_purchase", "r": "no_purchase",
    }
    assert run.scheme == "custom:tiers"
    with open_store(main_store, read_only=True) as con:
        why = explain(con, "c", run.snapshot_id)["reasons"]
    assert why[-1] == "no rule matched → default others 其他"
    assert "rule 'whale' (line 3): monetary >= 1000 (900) ✗ → no" in why


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (CUSTOM.replace("recency: \"0..30\"", "recent: 30"), 12, "rule 'regular': unknown field `recent`"),
        (CUSTOM.replace('">= 1000"', '"lots"'), 7, "rule 'whale': monetary: cannot read condition"),
        (CUSTOM.replace("id: top_r", "id: whale"), 13, "rule 'whale': id 'whale' is used twice"),
        (CUSTOM.replace("    name: 常客\n", ""), 8, "rule 'regular': `name`"),
        (CUSTOM.split("default:")[0], None, "rule 'default': `default:`"),
        (CUSTOM.replace('recency: "0..30"', 'recency: "30..0"'), 12, "range '30..0' is empty"),
        ("segments: [\n  - id: x\n", 2, "invalid YAML"),  # the stray "-" on line 2
    ],
)
def test_custom_scheme_errors_name_file_line_and_rule(settings, tmp_path, text, line, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as err:
        run_segment(settings, scheme=str(path), as_of=AS_OF)
    where = f"{path}:{line}:" if line else f"{path}:"
    assert str(err.value).startswith(where), str(err.value)
    assert message in str(err.value)


# ---------------------------------------------------------------- summary, Pareto, snapshots

def test_summary_and_pareto(main_store):
    run = run_segment(main_store, as_of=AS_OF, **FIXED)
    by_id = {s["segment_id"]: s for s in run.summary}
    assert [s["segment_id"] for s in run.summary] == [*"ABCDEFGH", "no_purchase"]
    assert by_id["A"]["members"] == 1 and by_id["A"]["share"] == round(1 / 11, 4)
    assert by_id["G"]["revenue"] == 2000 and by_id["G"]["revenue_share"] == round(2000 / 4980, 4)
    assert by_id["no_purchase"]["members"] == 3 and by_id["no_purchase"]["mean_recency_days"] is None
    assert by_id["E"]["mean_recency_days"] == 149 and by_id["E"]["mean_frequency"] == 2
    assert by_id["A"]["action"].startswith("VIP")
    # revenue 2000, 1100, 900, 700, 110, 80, 70, 20 (4980): top 2 of 8 buyers = 3100; 80% (3984) needs 3 buyers
    assert run.pareto == {"buyers": 8, "revenue": 4980, "top20_revenue_share": round(3100 / 4980, 4),
                          "buyers_share_for_80": 0.375}


def test_diff_history_explain_and_audience(main_store):
    old = run_segment(main_store, as_of="2026-03-01", **FIXED)
    new = run_segment(main_store, as_of=AS_OF, **FIXED)
    with open_store(main_store, read_only=True) as con:
        assert latest_snapshot_id(con) == new.snapshot_id
        assert latest_snapshot_id(con, "rfm11") is None
        d = diff(con, path="A:E")  # defaults: the latest and the one before it
        h = history(con, "e")
        by_phone = history(con, "13812345678")
        why = explain(con, "g", old.snapshot_id)
    assert (d["old"]["snapshot_id"], d["new"]["snapshot_id"]) == (old.snapshot_id, new.snapshot_id)
    # as of 03-01: e A (R 28), f D (03-01 only), g C (R = 90, inclusive), h H (R 120); a–d had not bought yet
    cell = {(row["from"], col): row[col] for row in d["matrix"] for col in d["columns"]}
    assert cell[("A", "E")] == 1 and cell[("D", "F")] == 1 and cell[("C", "G")] == 1 and cell[("H", "H")] == 1
    assert cell[("no_purchase", "A")] == 1 and cell[("no_purchase", "no_purchase")] == 3
    assert (d["moved"], d["stayed"]) == (7, 4)
    assert [m["member_id"] for m in d["path"]["members"]] == ["e"]
    assert d["path"]["members"][0]["phone"] == "138****5678"
    assert [r["segment_id"] for r in h["rows"]] == ["A", "E"]
    assert by_phone["member_id"] == "e"
    assert why["measures"]["recency_days"] == 90
    assert why["reasons"][0] == "R = 90: rule R ≤ 90 (fixed) → 近 recent"
    assert why["reasons"][-1] == "R/F/M = 101 → C 重要发展客户"

    run_segment(main_store, scheme="rfm11", as_of=AS_OF)
    assert audience(main_store, "E") == ["e"]  # found in the latest rfm8 snapshot, past the rfm11 one
    assert audience(main_store, "重要保持客户") == ["e"]
    assert audience(main_store, "important_keep", snapshot_id=old.snapshot_id) == []
    assert audience(main_store, "A", snapshot_id=old.snapshot_id) == ["e"]
    assert audience(main_store, "cant_lose") == ["g"]
    assert audience(main_store, "no_purchase") == ["n", "r", "z"]
    with pytest.raises(UsageError, match="no segment 'vip'"):
        audience(main_store, "vip")


def test_diff_needs_two_snapshots(main_store):
    run_segment(main_store, as_of=AS_OF)
    with open_store(main_store, read_only=True) as con:
        with pytest.raises(UsageError, match="no earlier rfm8 snapshot"):
            diff(con)
        with pytest.raises(UsageError, match="no segment snapshot 99"):
            diff(con, 99, 1)


def test_config_section_sets_defaults_and_rejects_typos(workspace):
    from siyu_cli.config import load_settings
    from siyu_cli.errors import ConfigError

    cfg = workspace / "siyu.toml"
    add_config(cfg, '[segment]\nr_split = "90"\nm_split = 500')
    settings = load_settings(workspace)
    with open_store(settings) as con:
        build_main(con)
    run = run_segment(settings, scheme=None, as_of=AS_OF)
    assert run.params["splits"]["r"]["rule"] == "R ≤ 90" and run.params["splits"]["m"]["rule"] == "M ≥ 500"
    run = run_segment(settings, as_of=AS_OF, m_split="median")  # a flag beats siyu.toml
    assert run.params["splits"]["m"]["kind"] == "median"
    add_config(cfg, '[segment]\nr_splt = "90"')  # a typo in the [segment] table
    with pytest.raises(ConfigError, match="segment.r_splt"):
        run_segment(load_settings(workspace), as_of=AS_OF)
