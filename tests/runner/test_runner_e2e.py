"""Pipelines end to end: real loads from the inbox, segment, report, push against the sandbox, robot alerts."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from siyu_cli.config import load_settings
from siyu_cli.plan.enabled import set_enabled
from siyu_cli.runner import list_runs, run_pipeline
from siyu_cli.store import open_store

from push_helpers import WECOM_TOML, configure, seed, start_sandbox

EXPORTS = Path(__file__).resolve().parents[2] / "examples" / "exports"
TZ = ZoneInfo("Asia/Shanghai")


def add_config(root: Path, text: str) -> None:
    with open(root / "siyu.toml", "a", encoding="utf-8") as fh:
        fh.write("\n" + text + "\n")


def drop_exports(inbox: Path) -> list[Path]:
    shutil.copytree(EXPORTS, inbox, dirs_exist_ok=True)
    return sorted(p.relative_to(inbox) for p in inbox.rglob("*") if p.is_file())


def count(settings, sql: str) -> int:
    with open_store(settings, read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def coffee_hourly(workspace, tmp_path, monkeypatch, *, first_window: str, max_catchup: str, group_cap: str = "3/day"):
    """An `hourly` pipeline pushing the coffee-week playbook to two tagged groups, and a sandbox to receive it."""
    configure(workspace, WECOM_TOML)
    cfg = workspace / "siyu.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('cap = "2/week"\n', f'cap = "2/week"\ngroup_cap = "{group_cap}"\n'),
                   encoding="utf-8")
    add_config(workspace, '[pipelines.hourly]\nsteps = [{type = "push_due", playbooks = ["playbooks/coffee-week.yaml"], '
                          f'first_window = "{first_window}", max_catchup = "{max_catchup}"}}]')
    settings = load_settings(workspace)
    seed(settings)
    set_enabled(settings, ["coffee-week"], enable=True)  # named in the pipeline and enabled: live
    with open_store(settings) as con:
        con.execute("UPDATE groups SET tags = ['咖啡群'] WHERE group_id IN ('wr01', 'wr02')")
    return settings, start_sandbox(settings, tmp_path, monkeypatch)


def test_nightly_loads_inbox_segments_and_writes_report(workspace, siyu_subprocess):
    files = drop_exports(workspace / "inbox")
    proc = siyu_subprocess("run", "nightly", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)
    load, segment, report = run["steps"]
    assert load["counts"]["loaded"] == len(files) and load["counts"]["failed"] == 0
    c = load["counts"]
    assert c["read"] == c["inserted"] + c["updated"] + c["unchanged"] + c["merged"] + c["rejected"] + c["erased"]
    settings = load_settings(workspace)
    # everything the files held is in the store, and every file moved to done/DATE/
    assert count(settings, "SELECT count(*) FROM load_log WHERE status = 'loaded'") == len(files)
    assert count(settings, "SELECT count(*) FROM orders") > 0 and count(settings, "SELECT count(*) FROM members") > 0
    done = list((workspace / "inbox" / "done").rglob("*.csv"))
    assert sorted(p.name for p in done) == sorted(p.name for p in files)
    assert not [p for p in (workspace / "inbox").rglob("*.csv") if "done" not in p.parts]
    assert segment["counts"]["snapshot_id"] == count(settings, "SELECT max(snapshot_id) FROM segment_snapshots")
    html = Path(report["counts"]["html"])
    assert html.is_file() and (workspace / "reports" / "latest.html").read_bytes() == html.read_bytes()
    assert "echarts" in html.read_text(encoding="utf-8").lower()

    # the same exports dropped again: loaded, nothing changes
    orders_before = count(settings, "SELECT count(*) FROM orders")
    drop_exports(workspace / "inbox")
    again = json.loads(siyu_subprocess("run", "nightly", "--format", "json").stdout)
    c2 = again["steps"][0]["counts"]
    assert again["status"] == "ok" and c2["inserted"] == 0 and c2["updated"] == 0 and c2["rejected"] == 0
    assert count(settings, "SELECT count(*) FROM orders") == orders_before
    assert count(settings, "SELECT count(*) FROM segment_snapshots") == 2


@pytest.mark.zh  # the robot alert is asserted in Chinese, the default
def test_failed_file_moves_aside_the_run_goes_on_partial_and_resume_keeps_it_open(workspace, tmp_path, monkeypatch,
                                                                                   siyu_subprocess):
    """A file nothing of which loads is parked in failed/; the run goes on (segment, report) and ends partial (exit 3).
    --resume re-runs load and what follows while the file is still in failed/, and is ok once it has been dealt with."""
    from siyu_cli.sandbox import SandboxServer

    key = "alert-robot-key-7f3a9c"
    sb = SandboxServer(robot_keys=[key], state_dir=tmp_path / "sb").start()
    try:
        add_config(workspace, f'[alerts]\nrobot_key_env = "OPS_ROBOT"\nbase_url = "{sb.url}"')
        inbox = workspace / "inbox"
        shutil.copy(EXPORTS / "orders" / "siyu_orders.csv", inbox / "good_orders.csv")
        (inbox / "bad_orders.csv").write_text("order_id,paid_at,paid_amount,status\nA1,not a date,12,paid\n", encoding="utf-8")
        proc = siyu_subprocess("run", "nightly", "--log-format", "json", env={"OPS_ROBOT": key})
        assert proc.returncode == 3, proc.stderr
        assert key not in proc.stdout + proc.stderr
        events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
        partial = next(e for e in events if e["event"] == "step_partial")
        assert partial["step"] == "load" and "bad_orders.csv" in partial["message"]
        assert (inbox / "failed" / "bad_orders.csv").exists()
        reason = (inbox / "failed" / "bad_orders.csv.error.txt").read_text(encoding="utf-8")
        assert "rejected" in reason and "BAD_DATE" in reason
        assert [p.name for p in (inbox / "done").rglob("*.csv")] == ["good_orders.csv"]
        assert any(e["event"] == "alert_sent" for e in events)
        alerts = sb.robot_messages(key)
        assert len(alerts) == 1
        text = alerts[0]["text"]
        assert "nightly" in text and "部分完成" in text and "load" in text and "--resume" in text
        assert "bad_orders.csv" in text and "BAD_DATE×1" in text and "第 1/3 步" in text
        assert "not a date" not in text and key not in text
        # segment and report ran after the partial load
        settings = load_settings(workspace)
        assert [(s["step"], s["status"]) for s in list_runs(settings)[0]["steps"]] == [
            ("load", "partial"), ("segment", "ok"), ("report", "ok")]
        # --resume while the file is still in failed/: not "ok" — still partial, load and what follows run again
        proc2 = siyu_subprocess("run", "nightly", "--resume", "--format", "json", env={"OPS_ROBOT": key})
        data = json.loads(proc2.stdout)
        assert proc2.returncode == 3 and [s["status"] for s in data["steps"]] == ["partial", "ok", "ok"]
        assert [i["problem"] for i in data["steps"][0]["counts"]["issues"]] == ["still_failed"]
        assert data["steps"][0]["counts"]["files"] == 0  # the good file was not loaded twice
        assert len(sb.robot_messages(key)) == 2
        # the operator fixes the file and puts it back: the next --resume loads it and the run is ok
        (inbox / "failed" / "bad_orders.csv").unlink()
        (inbox / "bad_orders.csv").write_text("order_id,paid_at,paid_amount,status\nA1,2024-03-05,12,paid\n", encoding="utf-8")
        proc3 = siyu_subprocess("run", "nightly", "--resume", "--format", "json", env={"OPS_ROBOT": key})
        data = json.loads(proc3.stdout)
        assert proc3.returncode == 0 and [s["status"] for s in data["steps"]] == ["ok", "ok", "ok"]
        assert data["steps"][0]["counts"]["loaded"] == 1 and count(settings, "SELECT count(*) FROM orders WHERE order_id = 'A1'") == 1
        assert len(sb.robot_messages(key)) == 2  # no alert on success by default
        proc4 = siyu_subprocess("run", "nightly", "--resume", "--format", "json")
        assert proc4.returncode == 0 and json.loads(proc4.stdout)["status"] == "nothing-to-resume"
    finally:
        sb.stop()


@pytest.mark.zh  # the robot alert is asserted in Chinese, the default
def test_success_summary_alert_when_asked(workspace, tmp_path, monkeypatch):
    from siyu_cli.sandbox import SandboxServer

    sb = SandboxServer(robot_keys=["k-success-1234"], state_dir=tmp_path / "sb").start()
    try:
        add_config(workspace, f'[alerts]\nrobot_key_env = "OPS_ROBOT"\non_success = true\nbase_url = "{sb.url}"\n'
                              '[pipelines.tiny]\nsteps = [{type = "sql", sql = "SELECT 1"}]')
        monkeypatch.setenv("OPS_ROBOT", "k-success-1234")
        result = run_pipeline(load_settings(workspace), "tiny")
        assert result.status == "ok"
        [msg] = sb.robot_messages("k-success-1234")
        assert "tiny" in msg["text"] and "成功" in msg["text"] and "rows=1" in msg["text"]
    finally:
        sb.stop()


def test_hourly_pushes_due_slots_catching_up_without_double_sends(workspace, tmp_path, monkeypatch):
    """The hourly push over the coffee-week playbook: a missed window is caught up, nothing is sent twice."""
    from siyu_cli.plan import due_messages

    settings, sb = coffee_hourly(workspace, tmp_path, monkeypatch, first_window="12h", max_catchup="72h")
    try:
        monday = datetime(2026, 11, 23, tzinfo=TZ)  # 2026-W48
        book = [workspace / "playbooks" / "coffee-week.yaml"]
        t1 = monday + timedelta(hours=12)
        t2 = monday + timedelta(days=2, hours=12)  # machine "off" for two days in between
        expected = {m.key for m in due_messages(settings, t1 - timedelta(hours=12), t2, playbooks=book)}
        assert expected, "the playbook should have slots due on Monday to Wednesday"
        r1 = run_pipeline(settings, "hourly", now=t1)
        r2 = run_pipeline(settings, "hourly", now=t2)
        r3 = run_pipeline(settings, "hourly", now=t2)  # an overlapping manual run pushes nothing new
        assert [r.status for r in (r1, r2, r3)] == ["ok", "ok", "ok"]
        w1, w2 = r1.steps[0].counts, r2.steps[0].counts
        assert w2["window_start"] == w1["window_end"]  # caught up exactly from where the last run stopped
        sb.confirm()
        sent = [(d["recipient"], d["text"]) for d in sb.deliveries("group")]
        assert len(sent) == len(expected)
        with open_store(settings, read_only=True) as con:
            keys = {k for (k,) in con.execute("SELECT due_key FROM push_campaigns WHERE due_key IS NOT NULL").fetchall()}
        assert keys == expected
    finally:
        sb.stop()


def test_killed_hourly_run_resumed_sends_every_due_message_exactly_once(workspace, tmp_path, monkeypatch):
    """SIGKILL a real `siyu run hourly` mid-push, then --resume: nobody gets a slot twice, nothing is left unsent."""
    import random
    import signal
    import subprocess
    import sys
    import time
    import os

    # a week caught up at once would go over the per-group daily budget (that is tested in test_push_budget);
    # this test is about exactly-once delivery, so the budget is off
    settings, sb = coffee_hourly(workspace, tmp_path, monkeypatch, first_window="7d", max_catchup="7d", group_cap="")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(os.environ, PYTHONPATH=src, SIYU_WORKSPACE=str(workspace))
    try:
        log = tmp_path / "hourly.jsonl"
        proc = subprocess.Popen([sys.executable, "-m", "siyu_cli", "run", "hourly", "--log-format", "json",
                                 "--log-file", str(log)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not (log.exists() and '"step_started"' in log.read_text(encoding="utf-8")):
            assert time.monotonic() < deadline and proc.poll() is None, "the push step never started"
            time.sleep(0.02)
        time.sleep(random.uniform(0.0, 0.6))  # somewhere inside the push step
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        resumed = subprocess.run([sys.executable, "-m", "siyu_cli", "run", "hourly", "--resume", "--format", "json"],
                                 env=env, capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        sb.confirm()
        with open_store(settings, read_only=True) as con:
            campaigns = con.execute("SELECT campaign_id, status FROM push_campaigns WHERE due_key IS NOT NULL").fetchall()
            sent = con.execute("SELECT count(*) FROM push_recipients r JOIN push_campaigns c USING (campaign_id) "
                               "WHERE c.due_key IS NOT NULL AND r.state = 'sent'").fetchone()[0]
        assert campaigns and all(status == "sent" for _, status in campaigns)
        deliveries = [(d["recipient"], d["text"]) for d in sb.deliveries("group")]
        assert len(deliveries) == len(set(deliveries)) == sent == len(campaigns)  # one group post per due slot
    finally:
        sb.stop()
