"""Pipelines: config, locking across processes, history, resume, JSON logs, catch-up windows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config_helpers import add_config
from siyu_cli.config import load_settings
from siyu_cli.errors import ConfigError
from siyu_cli.runner import list_runs, load_pipelines, run_pipeline
from siyu_cli.runner.lock import RunLock, WorkspaceLocked
from siyu_cli.runner.steps import inbox_files, DEFAULT_GLOBS, push_window, StepContext, parse_duration
from siyu_cli.runner.pipeline import Step

SRC = str(Path(__file__).resolve().parents[2] / "src")


def popen_siyu(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "siyu_cli", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_default_pipelines_and_custom_ones(workspace):
    add_config(workspace, '[pipelines.weekly]\nsteps = ["segment", {type = "sql", name = "export", sql = "SELECT 1"}]')
    pipelines = load_pipelines(load_settings(workspace))
    assert [s.type for s in pipelines["nightly"].steps] == ["load", "segment", "report"]
    assert [s.type for s in pipelines["hourly"].steps] == ["push_due"]
    assert [(s.name, s.type) for s in pipelines["weekly"].steps] == [("segment", "segment"), ("export", "sql")]
    assert pipelines["weekly"].steps[1].options == {"sql": "SELECT 1"}


@pytest.mark.parametrize(
    "config, message",
    [
        ('[pipelines.x]\nsteps = ["segmnt"]', "unknown step type 'segmnt' (did you mean `segment`?)"),
        ("[pipelines.x]\nsteps = []", "pipelines.x.steps must be a non-empty list"),
        ('[pipelines.x]\nstep = ["load"]', "[pipelines.x] needs `steps"),
        ('[pipelines.x]\nsteps = ["sql", "sql"]', "two steps named 'sql'"),
    ],
)
def test_bad_pipeline_config_is_one_line_naming_the_file(workspace, cli, config, message):
    add_config(workspace, config)
    result = cli("run", "x", expect=78)
    assert message in result.stderr
    assert str(workspace / "siyu.toml") in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_pipeline_is_a_usage_error(workspace, cli):
    result = cli("run", "weekly", expect=2)
    assert "no pipeline named 'weekly'" in result.stderr


def test_sql_pipeline_records_history(workspace, cli):
    add_config(workspace, '[pipelines.calc]\nsteps = [{type = "sql", name = "make", sql = "CREATE TABLE t AS SELECT range AS x FROM range(5)"}, {type = "sql", name = "read", sql = "SELECT * FROM t"}]')
    result = cli("run", "calc", "--format", "json")
    data = json.loads(result.stdout)
    assert data["status"] == "ok"
    assert [s["status"] for s in data["steps"]] == ["ok", "ok"]
    assert data["steps"][1]["counts"] == {"rows": 5}
    history = json.loads(cli("runs", "--format", "json").stdout)
    assert history[0]["run_id"] == data["run_id"]
    assert [s["step"] for s in history[0]["steps"]] == ["make", "read"]
    assert history[0]["steps"][1]["counts"] == {"rows": 5}


def test_failed_step_stops_the_run_and_resume_skips_finished_steps(workspace, cli):
    add_config(
        workspace,
        '[pipelines.p]\nsteps = [{type = "sql", name = "a", sql = "CREATE TABLE IF NOT EXISTS a_runs (n INT); INSERT INTO a_runs VALUES (1)"},'
        ' {type = "sql", name = "b", sql = "SELECT * FROM needed"}, {type = "sql", name = "c", sql = "SELECT 1"}]',
    )
    first = cli("run", "p", "--format", "json", expect=1)
    data = json.loads(first.stdout)
    assert [s["status"] for s in data["steps"]] == ["ok", "failed"]  # c never started
    assert "needed" in data["steps"][1]["error"]
    cli("sql", "SELECT 1", expect=0)
    settings = load_settings(workspace)
    from siyu_cli.store import open_store

    with open_store(settings) as con:
        con.execute("CREATE TABLE needed AS SELECT 1 AS x")
    second = json.loads(cli("run", "p", "--resume", "--format", "json").stdout)
    assert second["resumed_from"] == data["run_id"]
    assert [s["status"] for s in second["steps"]] == ["skipped", "ok", "ok"]
    with open_store(settings, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM a_runs").fetchone()[0] == 1  # step a not redone
    # nothing left to resume
    third = json.loads(cli("run", "p", "--resume", "--format", "json").stdout)
    assert third["status"] == "nothing-to-resume"


def test_second_run_refuses_while_first_holds_the_lock(workspace, siyu_subprocess):
    add_config(workspace, '[pipelines.q]\nsteps = [{type = "sql", sql = "SELECT 1"}]')
    with RunLock(workspace, "nightly"):
        proc = siyu_subprocess("run", "q")
    assert proc.returncode == 4
    assert f"pipeline 'nightly' is running (pid {os.getpid()}" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2  # one line (+ hint)
    assert "Traceback" not in proc.stderr
    with RunLock(workspace, "nightly"):
        proc = siyu_subprocess("run", "q", "--log-format", "json")
    assert proc.returncode == 4
    [event] = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert event["event"] == "locked" and event["level"] == "error" and "pipeline 'nightly' is running" in event["message"]


def test_lock_wait_lets_the_second_run_go_after_the_first(workspace):
    add_config(workspace, '[pipelines.q]\nsteps = [{type = "sql", sql = "SELECT 1"}]')
    lock = RunLock(workspace, "nightly").acquire()
    proc = popen_siyu("run", "q", "--lock-wait", "20", "--format", "json")
    time.sleep(1.5)
    assert proc.poll() is None  # waiting, not failed
    lock.release()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert json.loads(out)["status"] == "ok"


def test_stale_lock_file_from_dead_process_is_taken_over(workspace):
    lock_file = workspace / ".siyu" / "run.lock"
    lock_file.parent.mkdir(exist_ok=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_file.write_text(json.dumps({"pid": dead.pid, "pipeline": "nightly", "since": "2026-01-01T00:00:00+00:00"}))
    with RunLock(workspace, "hourly") as lock:
        assert lock.stale is not None and lock.stale.pid == dead.pid


def test_killed_run_is_marked_interrupted_and_resumed(workspace, tmp_path):
    """SIGKILL mid-step: the next run finds it interrupted; --resume redoes only the unfinished step."""
    add_config(
        workspace,
        '[pipelines.k]\nsteps = [{type = "sql", name = "first", sql = "CREATE TABLE IF NOT EXISTS first_runs (n INT); INSERT INTO first_runs VALUES (1)"},'
        ' {type = "sql", name = "slow", sql = "SELECT count(*) FROM range(4000000000) t(x) WHERE x % 7 = 3"}]',
    )
    log = tmp_path / "k.log"
    proc = popen_siyu("run", "k", "--log-format", "json", "--log-file", str(log))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        events = [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []
        if any(e["event"] == "step_started" and e.get("step") == "slow" for e in events):
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("slow step never started")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # make the slow step fast for the resume
    text = (workspace / "siyu.toml").read_text().replace("range(4000000000)", "range(10)")
    (workspace / "siyu.toml").write_text(text)
    settings = load_settings(workspace)
    result = run_pipeline(settings, "k", resume=True)
    assert result.status == "ok"
    assert [s.status for s in result.steps] == ["skipped", "ok"]
    runs = list_runs(settings, pipeline="k")
    killed = runs[1]
    assert killed["status"] == "interrupted"
    assert killed["steps"][1]["status"] == "failed" and "interrupted" in killed["steps"][1]["error"]
    from siyu_cli.store import open_store

    with open_store(settings, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM first_runs").fetchone()[0] == 1


def test_json_log_events_parse_back(workspace, siyu_subprocess):
    add_config(workspace, '[pipelines.j]\nsteps = [{type = "sql", name = "one", sql = "SELECT 42"}, {type = "sql", name = "bad", sql = "SELEC nonsense"}]')
    proc = siyu_subprocess("run", "j", "--log-format", "json")
    assert proc.returncode == 1
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert names[0] == "run_started" and names[-1] == "run_finished"
    assert "step_finished" in names and "step_failed" in names
    assert all(e["pipeline"] == "j" and e["run_id"].startswith("j-") and "ts" in e for e in events)
    failed = next(e for e in events if e["event"] == "step_failed")
    assert failed["step"] == "bad" and failed["level"] == "error" and "syntax" in failed["message"].lower()
    assert "\x1b[" not in proc.stderr  # no colour codes when not a TTY


def test_dry_run_changes_nothing(workspace, cli):
    (workspace / "inbox" / "orders").mkdir(parents=True)
    (workspace / "inbox" / "orders" / "x.csv").write_text("order_id,paid_at,paid_amount\n1,2026-01-01,10\n")
    data = json.loads(cli("run", "nightly", "--dry-run", "--format", "json").stdout)
    assert data["status"] == "dry-run"
    assert data["steps"][0]["counts"]["would_load"] == ["orders: orders/x.csv"]
    assert (workspace / "inbox" / "orders" / "x.csv").exists()
    assert json.loads(cli("runs", "--format", "json").stdout) == []


def test_inbox_globs_classify_files(tmp_path):
    inbox = tmp_path / "inbox"
    for name in ["有赞订单导出.csv", "wecom_customers.csv", "客户群列表.xlsx", "group_members.csv", "orders/a.csv", "notes.csv", "done/2026-01-01/old_orders.csv", "readme.md"]:
        p = inbox / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    files, unmatched = inbox_files(inbox, DEFAULT_GLOBS)
    kinds = {p.relative_to(inbox).as_posix(): k for k, p in files}
    assert kinds == {
        "有赞订单导出.csv": "orders",
        "wecom_customers.csv": "members",
        "客户群列表.xlsx": "groups",
        "group_members.csv": "groups",
        "orders/a.csv": "orders",
    }
    assert [p.name for p in unmatched] == ["notes.csv"]


def test_push_window_catches_up_a_missed_window_but_not_forever(workspace):
    settings = load_settings(workspace)
    tz = ZoneInfo("Asia/Shanghai")
    now = datetime(2026, 11, 24, 15, 0, tzinfo=tz)
    ctx = StepContext(settings=settings, run_id="r", step=Step("push_due", "push_due", {}), log=None, now=now)
    start, end, skipped = push_window(ctx)
    assert (start, end, skipped) == (now - timedelta(hours=1), now, None)  # first run: the last hour
    from siyu_cli.store import open_store

    with open_store(settings) as con:  # the last successful push ended at 09:00 (machine off since)
        con.execute(
            "INSERT INTO pipeline_steps VALUES ('r0', 0, 'push_due', 'push_due', 'ok', now(), now(), ?, NULL)",
            [json.dumps({"window_end": datetime(2026, 11, 24, 9, 0, tzinfo=tz).isoformat()})],
        )
    start, end, skipped = push_window(ctx)
    assert start == datetime(2026, 11, 24, 9, 0, tzinfo=tz) and skipped is None  # caught up from 09:00
    later = StepContext(settings=settings, run_id="r", step=Step("push_due", "push_due", {"max_catchup": "2h"}), log=None, now=now)
    start, end, skipped = push_window(later)
    assert start == now - timedelta(hours=2) and skipped == datetime(2026, 11, 24, 9, 0, tzinfo=tz)


def test_parse_duration():
    assert parse_duration("90m", "x") == timedelta(minutes=90)
    assert parse_duration("2w", "x") == timedelta(weeks=2)
    with pytest.raises(ConfigError):
        parse_duration("soon", "x")


def test_segment_step_follows_siyu_toml_scheme(workspace, cli):
    add_config(workspace, '[segment]\nscheme = "rfm11"\n[pipelines.seg]\nsteps = ["segment"]')
    data = json.loads(cli("run", "seg", "--format", "json").stdout)
    assert data["steps"][0]["counts"]["scheme"] == "rfm11"
