"""Randomised holdouts and variants in the push ledger: assignment, never sending the holdout, and results."""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from push_helpers import WECOM_TOML, configure, per_recipient, seed_world, start_sandbox
from siyu_cli.config import load_settings
from siyu_cli.push import CampaignSpec, create_campaign
from siyu_cli.push.experiments import compare, mde, results
from siyu_cli.store import open_store

GUIDES = {"g1": 37, "g2": 52, "g3": 11}  # eligible customers per guide
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # a fixed "now": tests never depend on today


@pytest.fixture
def world(workspace):
    configure(workspace, WECOM_TOML)
    s = load_settings(workspace)
    seed_world(s, GUIDES)
    return s


def arms(settings, cid):
    with open_store(settings, read_only=True) as con:
        return {r[0]: r[1:] for r in con.execute(
            "SELECT member_id, arm, sender, state, reason, batch_id FROM push_recipients WHERE campaign_id = ?", [cid]).fetchall()}


def _create(cli, *args):
    return json.loads(cli("push", "create", "--audience", "store:静安店", *args, "--format", "json").stdout)


def test_holdout_is_deterministic_stratified_and_after_exclusions(world, cli):
    dry = _create(cli, "--id", "exp1", "--text", "hi", "--holdout", "10%", "--dry-run")
    made = _create(cli, "--id", "exp1", "--text", "hi", "--holdout", "10%")
    assert dry["experiment"]["arms"] == made["experiment"]["arms"]
    a = arms(world, "exp1")
    # excluded before assignment: no arm, their own reason
    assert {m: v for m, v in a.items() if m.startswith("x")} == {
        f"x{i}": (None, "g1", "skipped", "no_wecom_id", None) for i in range(5)}
    per_guide = Counter((v[1], v[0]) for v in a.values() if v[0])
    for g, n in GUIDES.items():
        assert per_guide[(g, "holdout")] + per_guide[(g, "treatment")] == n
        assert abs(per_guide[(g, "holdout")] - 0.1 * n) <= 1, (g, per_guide)
    held = {m for m, v in a.items() if v[0] == "holdout"}
    assert all(a[m][2:] == ("skipped", "holdout", None) for m in held)  # in the ledger, in no batch
    assert all(v[2] == "planned" and v[4] for v in a.values() if v[0] == "treatment")
    # another campaign id → another draw (same rules); the same id again → the same arms (below)
    made2 = _create(cli, "--id", "exp2", "--text", "hi", "--holdout", "10%")
    assert abs(made2["experiment"]["arms"][0]["assigned"] - 10) <= len(GUIDES)
    assert {m for m, v in arms(world, "exp2").items() if v[0] == "holdout"} != held
    with open_store(world) as con:
        con.execute("DELETE FROM push_recipients WHERE campaign_id = 'exp1'")
        con.execute("DELETE FROM push_batches WHERE campaign_id = 'exp1'")
        con.execute("DELETE FROM push_arms WHERE campaign_id = 'exp1'")
        con.execute("DELETE FROM push_campaigns WHERE campaign_id = 'exp1'")
    _create(cli, "--id", "exp1", "--text", "hi", "--holdout", "10%")
    assert {m for m, v in arms(world, "exp1").items() if v[0] == "holdout"} == held


def test_variants_split_by_weight_per_guide_and_batches_know_their_variant(world, cli):
    p = _create(cli, "--id", "ab", "--holdout", "0.2", "--variant", "A:3=早安 A", "--variant", "B=早安 B")
    sizes = {x["arm"]: x["assigned"] for x in p["experiment"]["arms"]}
    assert sum(sizes.values()) == sum(GUIDES.values())
    a = arms(world, "ab")
    per_guide = Counter((v[1], v[0]) for v in a.values() if v[0])
    for g, n in GUIDES.items():
        for arm, share in (("holdout", 0.2), ("A", 0.6), ("B", 0.2)):
            assert abs(per_guide[(g, arm)] - share * n) <= 1, (g, arm, per_guide)
    with open_store(world, read_only=True) as con:
        batches = con.execute("SELECT b.arm, b.text, r.arm FROM push_batches b JOIN push_recipients r "
                              "USING (campaign_id, batch_id) WHERE campaign_id = 'ab'").fetchall()
        stored = con.execute("SELECT arm, share, template FROM push_arms WHERE campaign_id = 'ab' ORDER BY arm").fetchall()
    assert batches and all(b_arm == r_arm and text == f"早安 {b_arm}" for b_arm, text, r_arm in batches)
    assert stored == [("A", pytest.approx(0.6), "早安 A"), ("B", pytest.approx(0.2), "早安 B"), ("holdout", 0.2, None)]


def test_personalised_variants_render_their_own_template(world, cli):
    _create(cli, "--id", "pv", "--variant", "A={{ member_id }} a", "--variant", "B={{ member_id }} b")
    with open_store(world, read_only=True) as con:
        rows = con.execute("SELECT b.arm, b.text, r.member_id FROM push_batches b JOIN push_recipients r "
                           "USING (campaign_id, batch_id) WHERE campaign_id = 'pv'").fetchall()
    assert len(rows) == sum(GUIDES.values())
    assert all(text == f"{mid} {arm.lower()}" for arm, text, mid in rows)


def test_holdout_is_never_sent(world, cli, tmp_path, monkeypatch):
    sb = start_sandbox(world, tmp_path, monkeypatch)
    try:
        p = _create(cli, "--id", "send1", "--text", "新品到店", "--holdout", "25%")
        cli("push", "send", "send1")
        sb.confirm()
        got = per_recipient(sb.deliveries())
    finally:
        sb.stop()
    a = arms(world, "send1")
    by_arm = Counter()
    for mid, (arm, *_rest) in a.items():
        if arm:
            by_arm[(arm, got.get(f"wm-{mid}", 0))] += 1
    held = sum(1 for v in a.values() if v[0] == "holdout")
    assert held == next(x["assigned"] for x in p["experiment"]["arms"] if x["arm"] == "holdout") > 0
    assert by_arm == {("holdout", 0): held, ("treatment", 1): sum(GUIDES.values()) - held}
    assert sum(got.values()) == sum(GUIDES.values()) - held


def test_workspace_default_and_explicit_zero(workspace, cli):
    configure(workspace, WECOM_TOML)
    cfg = workspace / "siyu.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("\n[push]\n", '\n[push]\nholdout = "20%"\n', 1), encoding="utf-8")
    seed_world(load_settings(workspace), GUIDES)
    p = _create(cli, "--text", "hi", "--dry-run")
    assert p["experiment"]["arms"][0] == {**p["experiment"]["arms"][0], "arm": "holdout", "share": 0.2}
    p = _create(cli, "--text", "hi", "--holdout", "0", "--dry-run")
    assert "experiment" not in p and p["to_send"] == sum(GUIDES.values())
    # group campaigns ignore the workspace default (results are measured on members' purchases)
    res = cli("push", "create", "--channel", "group", "--audience", "group:wr01", "--text", "hi", "--dry-run",
              "--format", "json")
    assert "experiment" not in json.loads(res.stdout)


@pytest.mark.parametrize("args, message", [
    (("--text", "hi", "--holdout", "95%"), "between 0 and 90%"),
    (("--text", "hi", "--holdout", "ten"), "10% or 0.1"),
    (("--variant", "A"), "NAME=TEMPLATE"),
    (("--variant", "holdout=x"), "NAME=TEMPLATE"),
    (("--variant", "A:-1=x"), "positive"),
    (("--variant", "A=x", "--variant", "A=y"), "must differ"),
    (("--text", "hi", "--variant", "A=x"), "either --text"),
])
def test_bad_experiment_flags_are_usage_errors(world, cli, args, message):
    res = cli("push", "create", "--audience", "store:静安店", *args, "--dry-run", expect=2)
    assert message in res.stderr and "Traceback" not in res.stderr


def test_dry_run_minimum_detectable_effect(world, cli):
    # a quarter of the eligible members bought in the 30 days before the campaign
    buyers = [f"g2-m{i:04d}" for i in range(25)]
    with open_store(world) as con:
        con.executemany("INSERT INTO orders (source, order_id, member_id, status, paid_at, paid_amount, net_amount) "
                        "VALUES ('t', ?, ?, 'paid', ?, 100, 100)",
                        [[f"o{i}", m, T0 - timedelta(days=10)] for i, m in enumerate(buyers)])
    p = create_campaign(world, CampaignSpec(channel="customer", audience="store:静安店", text="hi", holdout="50%"),
                        dry_run=True, now=T0)
    e = p["experiment"]
    assert e["baseline_rate"] == pytest.approx(25 / 100)
    n = {a["arm"]: a["assigned"] for a in e["arms"]}
    assert n["holdout"] + n["treatment"] == 100 and abs(n["holdout"] - 50) <= len(GUIDES)
    # (z_.975 + z_.8) · sqrt(p(1-p)(1/n1 + 1/n0)) with z_.975 = 1.95996, z_.8 = 0.84162
    want = 2.80158 * math.sqrt(0.1875 * (1 / n["holdout"] + 1 / n["treatment"]))
    assert e["arms"][1]["mde_vs_holdout"] == pytest.approx(want, rel=1e-4)
    assert e["arms"][0]["mde_vs_holdout"] is None


# ---------------------------------------------------------------- results


def plant(settings, cid, rates: dict[str, float], seed: int, start: datetime, delivered_share: float = 1.0):
    """Orders within the window for each assigned member with probability rates[arm] (seeded)."""
    rng = random.Random(seed)
    with open_store(settings) as con:
        members = con.execute("SELECT member_id, arm, recipient_id FROM push_recipients WHERE campaign_id = ? "
                              "AND arm IS NOT NULL ORDER BY member_id", [cid]).fetchall()
        orders, delivered = [], []
        for mid, arm, rid in members:
            if rng.random() < rates[arm]:
                orders.append([f"{cid}-{mid}", mid, start + timedelta(days=rng.uniform(0, 29)), 100 + rng.randint(0, 50)])
            if arm != "holdout" and rng.random() < delivered_share:
                delivered.append(rid)
        con.executemany("INSERT INTO orders (source, order_id, member_id, status, paid_at, paid_amount, net_amount) "
                        "VALUES ('t', ?, ?, 'paid', ?, ?, ?)", [o + [o[3]] for o in orders])
        con.execute("UPDATE push_recipients SET state = 'sent', sent_at = ?, delivery = CASE WHEN list_contains(?, recipient_id) "
                    "THEN 'delivered' ELSE 'unconfirmed' END WHERE campaign_id = ? AND state = 'planned'",
                    [start, delivered, cid])
        # a purchase outside the window counts for nobody
        con.execute("INSERT INTO orders (source, order_id, member_id, status, paid_at, paid_amount, net_amount) "
                    "VALUES ('t', 'late', ?, 'paid', ?, 999, 999)", [members[0][0], start + timedelta(days=31)])
    return members


def test_planted_effect_is_recovered_within_its_interval(workspace, cli, monkeypatch):
    configure(workspace, WECOM_TOML)
    s = load_settings(workspace)
    seed_world(s, {"g1": 1200, "g2": 800}, excluded=0)
    create_campaign(s, CampaignSpec(channel="customer", audience="store:静安店", text="hi", holdout="50%",
                                    campaign_id="big"), now=T0)
    plant(s, "big", {"holdout": 0.20, "treatment": 0.30}, seed=7, start=T0, delivered_share=0.8)
    with open_store(s, read_only=True) as con:
        d = results(con, "big", days=30, now=T0 + timedelta(days=40))
    assert d["design"] == "randomised" and not d["window_open"]
    arm = {a["arm"]: a for a in d["arms"]}
    assert arm["holdout"]["assigned"] == arm["treatment"]["assigned"] == 1000
    assert arm["holdout"]["reached"] == 0 and 700 < arm["treatment"]["reached"] < 900
    u = d["uplift"][0]
    itt = u["itt"]["response_rate"]
    assert itt["ci_low"] < 0.10 < itt["ci_high"]  # the planted +10 pp
    assert itt["p_value"] < 0.05 and u["itt"]["verdict"] == "significant"
    assert u["itt"]["gmv_per_member"]["diff"] > 0
    assert u["delivered_only"]["members"] == arm["treatment"]["reached"]
    assert "not randomised" in u["delivered_only"]["label"] and "intent-to-treat" in u["itt"]["label"]
    # the CLI prints the same, labelled
    monkeypatch.setenv("SIYU_WORKSPACE", str(workspace))
    out = cli("push", "results", "big", "--format", "json").stdout
    assert json.loads(out)["arms"][0]["assigned"] == 1000
    table = cli("push", "results", "big")
    assert "intent-to-treat" in table.stderr and "delivered-only" in table.stderr
    # the report's experiments section shows the same randomised comparison
    from siyu_cli.report import build_report
    from siyu_cli.report.terminal import render_text

    rep = build_report(s, date_from=T0.date() - timedelta(days=1), date_to=T0.date() + timedelta(days=1))
    (e,) = rep.sections["experiments"]
    assert e["campaign_id"] == "big" and e["reference"] == "holdout"
    with open_store(s, read_only=True) as con:  # over the report's response window ([report] campaign_days)
        same = results(con, "big", days=rep.config.campaign_days)["uplift"][0]["itt"]["response_rate"]
    assert e["uplift"][0]["itt"]["ci_low"] == pytest.approx(same["ci_low"])
    assert e["uplift"][0]["itt"]["diff"] == pytest.approx(same["diff"])
    assert "ITT" in render_text(rep)
    from siyu_cli.report.html import render_html

    page = render_html(rep).split("Randomised experiments")[1]
    assert "holdout" in page and "treatment" in page and f"{same['diff'] * 100:+.1f}pt" in page


def test_aa_comparisons_are_significant_about_5_percent_of_the_time():
    """Two identical arms (Bernoulli 0.2, 500 each), 400 seeded repetitions: ~5 % false positives, ~95 % coverage."""
    rng = random.Random(2026)
    significant = covered = 0
    reps = 400
    for _ in range(reps):
        a = [rng.random() < 0.2 for _ in range(500)]
        b = [rng.random() < 0.2 for _ in range(500)]
        c = compare(a, b)
        significant += c["p_value"] < 0.05
        covered += c["ci_low"] <= 0 <= c["ci_high"]
    assert 0.02 <= significant / reps <= 0.085, significant
    assert covered == reps - significant  # the 95 % CI excludes 0 exactly when p < 0.05


def test_aa_end_to_end_two_identical_variants(workspace):
    configure(workspace, WECOM_TOML)
    s = load_settings(workspace)
    seed_world(s, {"g1": 600, "g2": 600}, excluded=0)
    create_campaign(s, CampaignSpec(channel="customer", audience="store:静安店", text="", campaign_id="aa",
                                    variants=["A=同一条", "B=同一条"]), now=T0)
    plant(s, "aa", {"A": 0.25, "B": 0.25}, seed=11, start=T0)
    with open_store(s, read_only=True) as con:
        d = results(con, "aa", now=T0 + timedelta(days=40))
    assert d["reference"] == "A" and [u["arm"] for u in d["uplift"]] == ["B"]
    r = d["uplift"][0]["itt"]["response_rate"]
    assert r["ci_low"] < 0 < r["ci_high"] and r["p_value"] > 0.05


def test_small_or_open_experiments_say_not_enough_data(world):
    create_campaign(world, CampaignSpec(channel="customer", audience="store:静安店", text="hi", holdout="10%",
                                        campaign_id="small"), now=T0)
    plant(world, "small", {"holdout": 0.2, "treatment": 0.3}, seed=3, start=T0)
    with open_store(world, read_only=True) as con:
        open_ = results(con, "small", now=T0 + timedelta(days=5))
        done = results(con, "small", now=T0 + timedelta(days=40))
    assert open_["window_open"] and open_["uplift"][0]["itt"]["verdict"] == "not_enough_data"
    assert done["uplift"][0]["itt"]["verdict"] == "not_enough_data"  # 10 held-out members cannot tell


def test_campaign_without_holdout_is_labelled_observational(world):
    create_campaign(world, CampaignSpec(channel="customer", audience="store:静安店", text="hi", holdout="0",
                                        campaign_id="obs"), now=T0)
    with open_store(world) as con:
        con.execute("UPDATE push_recipients SET state = 'sent', sent_at = ? WHERE campaign_id = 'obs' AND state = 'planned'", [T0])
    with open_store(world, read_only=True) as con:
        d = results(con, "obs", now=T0 + timedelta(days=40))
    assert d["design"] == "observational"
    assert [a["arm"] for a in d["arms"]] == ["sent", "not_sent"]
    assert [a["assigned"] for a in d["arms"]] == [sum(GUIDES.values()), 5]
    assert "NOT randomised" in d["uplift"][0]["itt"]["label"] and "delivered_only" not in d["uplift"][0]


def test_mde_shrinks_with_size():
    assert mde(100, 100, 0.2) > mde(1000, 1000, 0.2) > mde(10000, 10000, 0.2)
    assert mde(0, 10, 0.2) is None


def test_results_of_an_unknown_campaign_is_a_usage_error(world, cli):
    res = cli("push", "results", "nope", expect=2)
    assert "no campaign 'nope'" in res.stderr


def test_dry_run_table_shows_the_arms_and_their_detectable_effect(world, cli):
    out = cli("push", "create", "--audience", "store:静安店", "--text", "hi", "--holdout", "30%", "--dry-run").stdout
    assert "experiment arms" in out and "holdout" in out and "treatment" in out
    assert "min. detectable effect vs holdout" in out
    # nobody bought in the baseline window: no minimum detectable effect can be computed at a 0 % rate
    assert "baseline repurchase rate 0.0%" in out and "n/a" in out
