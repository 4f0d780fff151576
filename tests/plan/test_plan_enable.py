"""Nothing is sent unless a person enabled it: inactive example playbooks, `plan list|enable|disable`,
explicit audiences, and dry runs that list what would go (driven through the CLI, against the sandbox)."""

from __future__ import annotations

import json
import tomllib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from push_helpers import WECOM_TOML, configure, start_sandbox
from siyu_cli.config import load_settings
from siyu_cli.store import open_store

TZ = ZoneInfo("Asia/Shanghai")
HOURLY = '\n[pipelines.hourly]\nsteps = [{type = "push_due", first_window = "7d", max_catchup = "7d"}]\n'


def q(settings, sql: str, params=()):
    with open_store(settings, read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


@pytest.fixture
def demo_ws(workspace, tmp_path, monkeypatch):
    """A fresh `siyu init` workspace holding the demo brand's exports (members, orders, groups), and a sandbox."""
    from siyu_cli.demo.generator import generate_data
    from siyu_cli.demo.runner import LOAD_ORDER
    from siyu_cli.ingest import load_files

    configure(workspace, WECOM_TOML + HOURLY)
    settings = load_settings(workspace)
    data = generate_data(tmp_path / "exports", members=300, seed=7, today=datetime.now(TZ).date())
    for kind in LOAD_ORDER:
        paths = [f.path for f in data.files if f.kind == kind]
        if paths:
            load_files(settings, kind, paths, preset="auto", max_rejects=None)
    with open_store(settings) as con:  # the example coffee plan targets groups tagged 咖啡群
        con.execute("UPDATE groups SET tags = list_append(coalesce(tags, []), '咖啡群')")
    sb = start_sandbox(settings, tmp_path, monkeypatch)
    yield settings, sb
    sb.stop()


def _rewind_last_push(settings, days: int = 7) -> None:
    """As if the last hourly push ran `days` ago: the next run's window starts there (catch-up)."""
    with open_store(settings) as con:
        for run_id, idx, counts in con.execute(
                "SELECT run_id, step_index, counts FROM pipeline_steps WHERE type = 'push_due' AND counts IS NOT NULL").fetchall():
            c = json.loads(counts)
            c["window_end"] = (datetime.fromisoformat(c["window_end"]) - timedelta(days=days)).isoformat()
            con.execute("UPDATE pipeline_steps SET counts = ? WHERE run_id = ? AND step_index = ?", [json.dumps(c), run_id, idx])


def test_fresh_workspace_sends_nothing_until_a_playbook_is_enabled_then_only_that_one(demo_ws, cli):
    settings, sb = demo_ws
    # every example playbook `siyu init` copied is listed, none of them live
    listed = json.loads(cli("plan", "list", "--format", "json").stdout)
    assert {r["name"] for r in listed} == {"beauty-sop", "coffee-week", "edu-groups", "fresh-daily"}
    assert {r["status"] for r in listed} == {"inactive"}

    # the dry run shows the coffee plan WOULD post in this week (it is due), but holds it back as inactive
    dry = json.loads(cli("run", "hourly", "--dry-run", "--format", "json").stdout)
    preview = dry["steps"][0]["counts"]["preview"]
    inactive = {p["playbook"]: p for p in preview["inactive"]}
    assert inactive["coffee-week"]["messages"] > 0 and preview["steps"] == []

    res = cli("run", "hourly", "--format", "json")
    counts = json.loads(res.stdout)["steps"][0]["counts"]
    assert counts["due"] == 0 and counts["inactive"] == 4
    assert q(settings, "SELECT count(*) FROM push_campaigns") == [(0,)]
    assert sb.deliveries() == []

    cli("plan", "enable", "coffee-week")
    assert [r["name"] for r in json.loads(cli("plan", "list", "--format", "json").stdout) if r["status"] == "live"] == [
        "coffee-week"]
    _rewind_last_push(settings)  # a week later: the same window as the first run, now with coffee-week live
    res = cli("run", "hourly", "--format", "json", expect=None)
    assert res.exit_code == 0, res.stderr
    keys = [k for (k,) in q(settings, "SELECT due_key FROM push_campaigns")]
    assert keys and all(k.startswith("plan:coffee-week:") for k in keys)
    sent = q(settings, "SELECT recipient_id, count(*) FROM push_recipients WHERE state = 'sent' GROUP BY 1 ORDER BY 1")
    delivered = sb.deliveries()
    assert delivered and sorted({(d["recipient"]) for d in delivered}) == [r for r, _n in sent]
    assert len(delivered) == sum(n for _r, n in sent)
    assert {d["channel"] for d in delivered} == {"group"}
    # the workspace budget (3 posts per group per day) held back the rest of the week caught up at once
    per_group = {}
    for d in delivered:
        per_group[d["recipient"]] = per_group.get(d["recipient"], 0) + 1
    assert max(per_group.values()) <= 3
    skipped = dict(q(settings, "SELECT reason, count(*) FROM push_recipients WHERE state = 'skipped' GROUP BY 1"))
    assert set(skipped) <= {"group_cap", "no_owner", "platform_cap"}

    cli("plan", "disable", "coffee-week")
    assert tomllib.loads((settings.root / "siyu.toml").read_text(encoding="utf-8"))["plan"]["enabled"] == []


# ----------------------------------------------------------------------------- explicit audiences

NO_AUDIENCE = """\
version: 1
name: no-aud
sop:
  channel: customer
  steps:
    - {day: 0, template: "欢迎"}
"""


def test_an_sop_without_audience_is_a_located_error_and_cannot_be_enabled(workspace, cli):
    path = workspace / "playbooks" / "no-aud.yaml"
    path.write_text(NO_AUDIENCE, encoding="utf-8")
    res = cli("plan", "check", path, expect=65)
    assert f"{path}:3:1: error: the SOP has no `audience:`" in res.stdout
    assert "audience: all" in res.stdout  # the hint says how to mean everyone
    res = cli("plan", "enable", "no-aud", expect=65)
    assert f"{path}:3:1:" in res.stderr
    assert tomllib.loads((workspace / "siyu.toml").read_text(encoding="utf-8"))["plan"]["enabled"] == []
    # an empty mapping selects nobody: also an error, at the audience
    path.write_text(NO_AUDIENCE.replace("  channel: customer\n", "  channel: customer\n  audience: {}\n"), encoding="utf-8")
    res = cli("plan", "check", path, expect=65)
    assert f"{path}:5:13: error: sop.audience selects nobody" in res.stdout
    # written out, "everyone" is fine — and the same for a campaign, whose audience is never implied
    path.write_text(NO_AUDIENCE.replace("  channel: customer\n", "  channel: customer\n  audience: all\n"), encoding="utf-8")
    cli("plan", "check", path)
    cli("plan", "enable", "no-aud")
    res = cli("push", "create", "--channel", "customer", "--text", "hi", expect=2)
    assert "--audience is required" in res.stderr


def test_plan_check_and_list_say_which_playbooks_are_live(workspace, cli):
    cli("plan", "enable", "coffee-week.yaml")  # a file name works as well as the name
    res = cli("plan", "check", workspace / "playbooks", "--format", "json")
    status = {p["name"]: p["status"] for p in json.loads(res.stdout)["playbooks"]}
    assert status == {"beauty-sop": "inactive", "coffee-week": "live", "edu-groups": "inactive", "fresh-daily": "inactive"}
    res = cli("plan", "check", workspace / "playbooks")
    assert "coffee-week · live" in res.stderr and "1 live" in res.stderr
    res = cli("plan", "enable", "cofee-week", expect=2)
    assert "did you mean `coffee-week`" in res.stderr
    # siyu.toml keeps its comments; the list is rewritten in place
    text = (workspace / "siyu.toml").read_text(encoding="utf-8")
    assert 'enabled = ["coffee-week"]' in text and "# siyu workspace settings" in text
    cli("plan", "disable", "coffee-week")
    assert tomllib.loads((workspace / "siyu.toml").read_text(encoding="utf-8"))["plan"]["enabled"] == []


# ----------------------------------------------------------------------------- dry runs

def test_dry_runs_list_what_would_go_and_send_nothing(workspace, tmp_path, monkeypatch, cli):
    from push_helpers import seed

    from siyu_cli.plan import due_messages

    configure(workspace, WECOM_TOML + HOURLY)
    settings = load_settings(workspace)
    seed(settings)
    with open_store(settings) as con:
        con.execute("UPDATE groups SET tags = ['咖啡群'] WHERE group_id IN ('wr01', 'wr02')")
        con.execute("INSERT INTO optouts (member_id, channel, created_at) VALUES ('wr02', 'group', now())")
    cli("plan", "enable", "coffee-week")
    mon = datetime(2026, 11, 23, tzinfo=TZ)  # a past week: everything in it is due
    expected = due_messages(settings, mon, mon + timedelta(days=2))
    sb = start_sandbox(settings, tmp_path, monkeypatch)
    try:
        res = cli("push", "due", "--dry-run", "--from", mon.isoformat(), "--to", (mon + timedelta(days=2)).isoformat(),
                  "--format", "json")
        d = json.loads(res.stdout)
        assert d["dry_run"] and {p["playbook"] for p in d["inactive"]} == {"beauty-sop", "edu-groups", "fresh-daily"}
        steps = {s["step"]: s for s in d["steps"]}
        assert sorted(steps) == sorted({m.key.split(":")[3] for m in expected})
        for m in expected:
            st = steps[m.key.split(":")[3]]
            assert st["playbook"] == "coffee-week"
            if m.target_id == "wr01":
                assert st["sample"] == m.text  # the rendered text that would go
        # wr01 gets each slot; wr02 opted out of group posts, so it is held back with that reason
        assert all(st["groups"] == ["wr01"] and st["held_back"] == {"opted_out": 1} for st in steps.values())
        assert all(i["outcome"] in ("would_send", "nothing_to_send") for i in d["items"])
        table = cli("push", "due", "--dry-run", "--from", mon.isoformat(), "--to", (mon + timedelta(days=2)).isoformat())
        assert "dry run: nothing stored or sent" in table.stdout and "opted_out" in table.stdout
        assert "beauty-sop is inactive" in table.stderr
        run = json.loads(cli("run", "hourly", "--dry-run", "--format", "json").stdout)
        assert run["status"] == "dry-run" and "preview" in run["steps"][0]["counts"]
        assert sb.deliveries() == []
        assert q(settings, "SELECT count(*) FROM push_campaigns") == [(0,)]
        assert q(settings, "SELECT count(*) FROM push_recipients") == [(0,)]
        assert q(settings, "SELECT count(*) FROM pipeline_runs") == [(0,)]
    finally:
        sb.stop()


def test_enable_rewrites_only_the_list_in_any_siyu_toml(workspace, cli):
    """Older workspaces have no [plan] table; hand-edited ones may spread the list over lines."""
    cfg = workspace / "siyu.toml"
    base = cfg.read_text(encoding="utf-8").replace("[plan]\nenabled = []\n", "")
    cfg.write_text(base, encoding="utf-8")
    assert json.loads(cli("plan", "list", "--format", "json").stdout)[0]["status"] == "inactive"
    cli("plan", "enable", "beauty-sop")
    assert tomllib.loads(cfg.read_text(encoding="utf-8"))["plan"]["enabled"] == ["beauty-sop"]
    cfg.write_text(base.replace("[workspace]", '[plan]\nenabled = [\n  "beauty-sop",  # 美妆\n  "gone",\n]\n\n[workspace]'),
                   encoding="utf-8")
    listed = {r["name"]: r["status"] for r in json.loads(cli("plan", "list", "--format", "json").stdout)}
    assert listed["beauty-sop"] == "live" and listed["gone"] == "missing"
    cli("plan", "enable", "coffee-week")
    cli("plan", "disable", "gone")  # a name without a playbook can still be removed
    data = tomllib.loads(cfg.read_text(encoding="utf-8"))
    assert data["plan"]["enabled"] == ["beauty-sop", "coffee-week"] and data["workspace"]["store"] == "siyu.duckdb"
    assert cfg.read_text(encoding="utf-8").startswith(base.split("[workspace]")[0])  # the comments above are kept


def test_two_files_with_one_enabled_name_are_refused_not_both_sent(workspace, cli):
    import shutil

    cli("plan", "enable", "coffee-week")
    shutil.copy(workspace / "playbooks" / "coffee-week.yaml", workspace / "playbooks" / "coffee-week-copy.yaml")
    res = cli("push", "due", "--dry-run", expect=78)
    assert "coffee-week-copy.yaml" in res.stderr and "both named 'coffee-week'" in res.stderr
