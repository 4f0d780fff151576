"""Nightly resilience (issue 15): a file's bad rows make the load step partial, not the run failed.

Driven as cron runs it: `siyu run nightly` in a subprocess on a workspace inbox, with the robot alert
captured by the WeCom sandbox.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from siyu_cli.config import load_settings
from siyu_cli.runner import list_runs, run_pipeline
from siyu_cli.sandbox import SandboxServer
from siyu_cli.store import open_store

EXPORTS = Path(__file__).resolve().parents[2] / "examples" / "exports"
KEY = "robot-key-nightly-51ab"
MARKER = "MARK-9c1e"  # text in a bad value: the alert must never quote it


def add_config(root: Path, text: str) -> None:
    with open(root / "siyu.toml", "a", encoding="utf-8") as fh:
        fh.write("\n" + text + "\n")


def orders_csv(good: int, *, bad: int = 0, summary: bool = False, footer: bool = False) -> str:
    rows = ["order_id,paid_at,paid_amount,status"]
    rows += [f"T{i:03d},2024-03-{1 + i % 28:02d} 10:00,{10 + i}.50,paid" for i in range(good)]
    rows += [f"B{i:03d},2024-03-02 10:00,{MARKER}{i},paid" for i in range(bad)]  # BAD_AMOUNT
    if summary:
        rows.append("合计,,1234.50,")
    if footer:
        rows.append(",,99.00,")  # a blank-id footer: only an amount
    return "\n".join(rows) + "\n"


def q(settings, sql: str):
    with open_store(settings, read_only=True) as con:
        return con.execute(sql).fetchall()


def events_of(proc) -> list[dict]:
    return [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]


@pytest.mark.zh  # the robot alert is asserted in Chinese, the default
def test_summary_row_and_one_bad_row_load_the_rest_run_on_exit_3_and_alert(workspace, tmp_path, siyu_subprocess):
    inbox = workspace / "inbox"
    (inbox / "tmall_订单.csv").write_text(orders_csv(10, bad=1, summary=True, footer=True), encoding="utf-8")
    shutil.copy(EXPORTS / "members" / "wecom_customers.csv", inbox / "有赞导出.csv")  # no glob claims this name
    (inbox / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")  # nobody can tell what this holds
    sb = SandboxServer(robot_keys=[KEY], state_dir=tmp_path / "sb").start()
    try:
        add_config(workspace, f'[alerts]\nrobot_key_env = "OPS_ROBOT"\nbase_url = "{sb.url}"')
        proc = siyu_subprocess("run", "nightly", "--log-format", "json", "--format", "json", env={"OPS_ROBOT": KEY})
        alerts = sb.robot_messages(KEY)
    finally:
        sb.stop()
    assert proc.returncode == 3, proc.stderr
    run = json.loads(proc.stdout)
    assert run["status"] == "partial" and run["total_steps"] == 3
    assert [(s["step"], s["status"]) for s in run["steps"]] == [("load", "partial"), ("segment", "ok"), ("report", "ok")]
    load = run["steps"][0]["counts"]
    # every row accounted for: 10 + the 2nd file's rows stored, 1 bad + 2 summary rows rejected
    assert load["read"] == load["inserted"] + load["updated"] + load["unchanged"] + load["merged"] + load["rejected"] + load["erased"]
    assert load["loaded"] == 2 and load["failed"] == 0 and load["classified"] == 1 and load["unmatched"] == 1
    settings = load_settings(workspace)
    assert q(settings, "SELECT count(*) FROM orders") == [(10,)]
    assert q(settings, "SELECT reason, count(*) FROM rejects GROUP BY 1 ORDER BY 1") == [("BAD_AMOUNT", 1), ("SUMMARY_ROW", 2)]
    # the name-less members file was loaded as members, by its header
    assert q(settings, "SELECT kind, status FROM load_log WHERE file LIKE '%有赞导出.csv'") == [("members", "loaded")]
    assert q(settings, "SELECT count(*) FROM members WHERE external_userid = 'wmA001'") == [(1,)]
    # both loaded files are in done/ (the orders file's good rows are stored); the unknown one stays, with a warning
    assert sorted(p.name for p in (inbox / "done").rglob("*.csv")) == ["tmall_订单.csv", "有赞导出.csv"]
    assert (inbox / "notes.csv").exists() and not (inbox / "failed").exists()
    issues = {i["file"]: i for i in load["issues"]}
    assert issues["tmall_订单.csv"]["problem"] == "rejects"
    assert (issues["tmall_订单.csv"]["bad"], issues["tmall_订单.csv"]["read"]) == (1, 13)
    assert issues["tmall_订单.csv"]["reasons"] == {"BAD_AMOUNT": 1, "SUMMARY_ROW": 2}
    assert issues["notes.csv"]["problem"] == "unrecognised"
    events = events_of(proc)
    assert any(e["event"] == "inbox_classified" and e["kind"] == "members" for e in events)
    assert any(e["event"] == "inbox_unmatched" and e["level"] == "warning" and "notes.csv" in e["message"] for e in events)
    # one alert: partial, which file, how many rows, why (codes), the step numbered out of 3; never the file's text
    [alert] = alerts
    text = alert["text"]
    assert "部分完成" in text and "第 1/3 步" in text and "--resume" in text
    assert "tmall_订单.csv" in text and "拒收 1/13 行" in text and "BAD_AMOUNT×1" in text and "SUMMARY_ROW×2" in text
    assert "notes.csv" in text and "仍留在 inbox" in text
    assert MARKER not in text and MARKER not in proc.stderr and KEY not in text


def test_few_rejects_under_the_ratio_leave_the_run_ok(workspace, siyu_subprocess):
    inbox = workspace / "inbox"
    # 1 bad row in 150 (0.67 % < 1 %) plus a total row (never counted against the threshold)
    (inbox / "orders_big.csv").write_text(orders_csv(149, bad=1, summary=True), encoding="utf-8")
    proc = siyu_subprocess("run", "nightly", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    load = json.loads(proc.stdout)["steps"][0]
    assert load["status"] == "ok" and load["counts"]["rejected"] == 2 and "issues" not in load["counts"]
    assert q(load_settings(workspace), "SELECT count(*) FROM orders") == [(149,)]


def test_absolute_cap_and_ratio_from_siyu_toml(workspace, siyu_subprocess):
    cfg = workspace / "siyu.toml"
    text = cfg.read_text(encoding="utf-8")
    assert "max_reject_ratio = 0.01" in text  # what `siyu init` writes
    cfg.write_text(text.replace("max_reject_ratio = 0.01", "max_reject_ratio = 0.5\nmax_rejects = 2"), encoding="utf-8")
    inbox = workspace / "inbox"
    (inbox / "orders_a.csv").write_text(orders_csv(10, bad=2), encoding="utf-8")  # 2 ≤ cap, 17 % ≤ 50 %: ok
    proc = siyu_subprocess("run", "nightly", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (inbox / "orders_b.csv").write_text(orders_csv(20, bad=3).replace("T0", "U0"), encoding="utf-8")  # 3 > cap
    proc = siyu_subprocess("run", "nightly", "--format", "json")
    assert proc.returncode == 3, proc.stderr
    [issue] = json.loads(proc.stdout)["steps"][0]["counts"]["issues"]
    assert (issue["file"], issue["bad"]) == ("orders_b.csv", 3)
    # a ratio that is not a share fails the step (exit 1, like any failed step) naming the key, and loads nothing
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("max_reject_ratio = 0.5", "max_reject_ratio = 5"), encoding="utf-8")
    (inbox / "orders_c.csv").write_text(orders_csv(3).replace("T0", "V0"), encoding="utf-8")
    proc = siyu_subprocess("run", "nightly")
    assert proc.returncode == 1 and "load.max_reject_ratio must be a number from 0 to 1" in proc.stderr
    assert (inbox / "orders_c.csv").exists()


@pytest.mark.zh  # the robot alert is asserted in Chinese, the default
def test_failed_step_alert_numbers_the_step_out_of_all_steps(workspace, tmp_path, monkeypatch):
    add_config(workspace, '[pipelines.three]\nsteps = [{type = "sql", name = "a", sql = "SELECT 1"}, '
                          '{type = "sql", name = "b", sql = "SELEC nonsense"}, {type = "sql", name = "c", sql = "SELECT 3"}]')
    sb = SandboxServer(robot_keys=[KEY], state_dir=tmp_path / "sb").start()
    try:
        add_config(workspace, f'[alerts]\nrobot_key_env = "OPS_ROBOT"\nbase_url = "{sb.url}"')
        monkeypatch.setenv("OPS_ROBOT", KEY)
        result = run_pipeline(load_settings(workspace), "three")
        [alert] = sb.robot_messages(KEY)
    finally:
        sb.stop()
    assert result.status == "failed" and result.exit_code == 1 and len(result.steps) == 2
    assert "失败步骤：b（第 2/3 步" in alert["text"]


def test_resume_after_partial_reruns_the_partial_step_and_what_follows(workspace, siyu_subprocess):
    inbox = workspace / "inbox"
    (inbox / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    proc = siyu_subprocess("run", "nightly", "--format", "json")
    assert proc.returncode == 3, proc.stderr
    (inbox / "notes.csv").unlink()  # dealt with
    (inbox / "orders_new.csv").write_text(orders_csv(4), encoding="utf-8")
    proc = siyu_subprocess("run", "nightly", "--resume", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)
    assert run["resumed_from"] and [s["status"] for s in run["steps"]] == ["ok", "ok", "ok"]
    assert run["steps"][0]["counts"]["loaded"] == 1
    settings = load_settings(workspace)
    assert q(settings, "SELECT count(*) FROM orders") == [(4,)]
    # segment ran again after the re-run load: the latest snapshot sees the new buyers' orders
    assert len(q(settings, "SELECT DISTINCT snapshot_id FROM segment_snapshots")) == 2
    assert [r["status"] for r in list_runs(settings)] == ["ok", "partial"]
