"""The demo runner and the `siyu demo` CLI, as a user runs them.

Steps whose package is not on this branch yet must fail loudly (non-zero exit naming the step), never be
skipped; the tests work out which steps can run from what is importable, so they keep holding as areas merge.
"""

from __future__ import annotations

import importlib.util
import json
import os
from datetime import date
from pathlib import Path

import pytest

from siyu_cli.demo.runner import (
    DEFAULT_STEPS,
    MARKER,
    DemoStep,
    _environ,
    prepare_demo_dir,
    run_demo,
    summary_line,
    with_steps,
)
from siyu_cli.errors import UsageError

TODAY = date(2026, 11, 25)

#: the package each default step needs beyond the demo itself
NEEDS = {
    "generate": [],
    "load": ["siyu_cli.ingest"],
    "sync": ["siyu_cli.sandbox", "siyu_cli.sync"],
    "segment": ["siyu_cli.segment"],
    "plan": ["siyu_cli.plan"],
    "push": ["siyu_cli.sandbox", "siyu_cli.push"],
    "report": ["siyu_cli.report"],
}


def available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def first_unavailable_step() -> str | None:
    for step in DEFAULT_STEPS:
        if not all(available(m) for m in NEEDS[step.id]):
            return step.id
    return None


def _step(step_id, result=None, fail=None, calls=None):
    def func(ctx):
        if calls is not None:
            calls.append(step_id)
        if fail:
            raise fail
        return result or {"done": step_id}

    return DemoStep(step_id, f"title {step_id}", func)


# ---------------------------------------------------------------- with_steps

def test_with_steps_inserts_before_after_and_at_the_end():
    a, b, c, x, y = (_step(i) for i in "abcxy")
    assert [s.id for s in with_steps((a, b, c), x, before="b")] == ["a", "x", "b", "c"]
    assert [s.id for s in with_steps((a, b, c), [x, y], after="c")] == ["a", "b", "c", "x", "y"]
    assert [s.id for s in with_steps((a, b, c), [x], after="a")] == ["a", "x", "b", "c"]
    assert [s.id for s in with_steps((a, b), x)] == ["a", "b", "x"]
    assert [s.id for s in with_steps(DEFAULT_STEPS, x, before="report")][-2:] == ["x", "report"]
    with pytest.raises(ValueError, match="no demo step 'zz'"):
        with_steps((a, b), x, before="zz")
    with pytest.raises(ValueError, match="already"):
        with_steps((a, b), _step("a"))


def test_default_steps_are_the_loop_in_order():
    assert [s.id for s in DEFAULT_STEPS] == ["generate", "load", "sync", "segment", "plan", "push", "report"]


# ---------------------------------------------------------------- running

def test_run_demo_runs_steps_in_order_and_stops_at_the_first_failure(tmp_path):
    calls: list[str] = []
    steps = (
        _step("one", {"rows": 3}, calls=calls),
        _step("two", fail=RuntimeError("boom"), calls=calls),
        _step("three", calls=calls),
    )
    result = run_demo(tmp_path / "d", members=10, seed=1, today=TODAY, steps=steps)
    assert calls == ["one", "two"]
    assert [s.status for s in result.steps] == ["ok", "failed", "not_run"]
    assert result.failed.id == "two" and "boom" in result.failed.error
    assert not result.ok
    d = result.to_dict()
    assert d["failed_step"] == "two" and d["steps"][0]["summary"] == {"rows": 3}
    # it made a real workspace, marked as a demo
    assert (tmp_path / "d" / "siyu.toml").is_file() and (tmp_path / "d" / MARKER).is_file()


def test_generate_step_writes_exports_into_the_workspace(tmp_path):
    result = run_demo(tmp_path / "d", members=50, seed=3, today=TODAY, steps=DEFAULT_STEPS[:1])
    assert result.ok
    gen = result.step("generate")
    assert gen.summary["files"] == 8 and gen.summary["bad rows"] == 9 and gen.summary["people"] == 50
    assert sorted(p.name for p in (tmp_path / "d" / "exports").glob("*.csv")) == sorted([
        "youzan_members.csv", "miniprogram_members.csv", "wecom_customers.csv", "youzan_orders.csv", "tmall_orders.csv",
        "shopify_orders.csv", "wecom_groups.csv", "wecom_group_members.csv"])


def test_a_missing_area_fails_loudly_not_silently(tmp_path, monkeypatch):
    """Simulate a build without the report package: the report step must fail, naming the package."""
    import sys

    monkeypatch.setitem(sys.modules, "siyu_cli.report", None)  # makes the import raise ModuleNotFoundError
    report_step = next(s for s in DEFAULT_STEPS if s.id == "report")
    result = run_demo(tmp_path / "d", members=10, seed=1, today=TODAY, steps=(report_step,))
    assert result.failed.id == "report"
    assert "siyu_cli.report" in result.failed.error


def test_console_gets_one_line_per_step_and_a_panel(tmp_path):
    from rich.console import Console

    console = Console(record=True, width=120, no_color=True)
    run_demo(tmp_path / "d", members=10, seed=1, today=TODAY, console=console,
             steps=(_step("alpha", {"rows": 1234, "files": 2}), _step("beta", {"ok": "yes"})))
    text = console.export_text()
    assert "alpha" in text and "rows 1,234 · files 2" in text and "beta" in text
    assert "All 2 steps done" in text


@pytest.mark.zh
def test_console_reads_chinese_by_default(tmp_path):
    """The demo is the README's first command: its lines, keys it knows and closing panel are Chinese."""
    from rich.console import Console

    console = Console(record=True, width=120, no_color=True)
    run_demo(tmp_path / "d", members=10, seed=1, today=TODAY, console=console,
             steps=(_step("alpha", {"rows": 1234, "files": 2, "repurchase rate": "40%"}),))
    text = console.export_text()
    assert "行 1,234 · 文件 2 · 复购率 40%" in text and "全部 1 步完成" in text and "接下来试试" in text
    assert "steps done" not in text and "people" not in text


def test_summary_line():
    assert summary_line({"read": 12000, "rejected": 0, "html": "r.html"}) == "read 12,000 · rejected 0 · html r.html"


# ---------------------------------------------------------------- the demo folder

def test_prepare_demo_dir_refuses_foreign_folders(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("precious")
    for force in (False, True):
        with pytest.raises(UsageError, match="not a siyu demo folder"):
            prepare_demo_dir(foreign, force=force)
    assert (foreign / "thesis.docx").read_text() == "precious"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert prepare_demo_dir(empty) == empty.resolve()
    assert prepare_demo_dir(tmp_path / "new").is_dir()


def test_prepare_demo_dir_rebuilds_a_demo_only_with_force(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / MARKER).write_text("{}")
    (d / "old.txt").write_text("x")
    with pytest.raises(UsageError, match="--force"):
        prepare_demo_dir(d)
    prepare_demo_dir(d, force=True)
    assert d.is_dir() and not any(d.iterdir())


def test_environ_is_restored(monkeypatch):
    monkeypatch.setenv("SIYU_DEMO_A", "before")
    monkeypatch.delenv("SIYU_DEMO_B", raising=False)
    with _environ({"SIYU_DEMO_A": "x", "SIYU_DEMO_B": "y"}):
        assert os.environ["SIYU_DEMO_A"] == "x" and os.environ["SIYU_DEMO_B"] == "y"
    assert os.environ["SIYU_DEMO_A"] == "before" and "SIYU_DEMO_B" not in os.environ


def test_demo_ignores_siyu_store_from_the_environment(tmp_path, monkeypatch):
    real = tmp_path / "real.duckdb"
    monkeypatch.setenv("SIYU_STORE", str(real))
    seen = {}

    def grab(ctx):
        seen["store"] = ctx.settings.store
        return {}

    run_demo(tmp_path / "d", members=5, seed=1, today=TODAY, steps=(DemoStep("s", "s", grab),))
    assert seen["store"] == (tmp_path / "d").resolve() / "siyu.duckdb"


# ---------------------------------------------------------------- the CLI

def test_cli_demo_data_writes_the_same_bytes_as_the_library(cli, tmp_path):
    from siyu_cli.demo.generator import generate

    out = cli("demo", "data", tmp_path / "cli", "--members", "60", "--seed", "5", "--today", "2026-11-25",
              "--format", "json")
    listed = json.loads(out.stdout)
    assert [r["file"] for r in listed][:3] == ["youzan_members.csv", "miniprogram_members.csv", "wecom_customers.csv"]
    assert sum(r["bad_rows"] for r in listed) == 9
    generate(tmp_path / "lib", members=60, seed=5, today=TODAY)
    for r in listed:
        assert (tmp_path / "cli" / r["file"]).read_bytes() == (tmp_path / "lib" / r["file"]).read_bytes()


def test_cli_demo_rejects_bad_options(cli, tmp_path):
    bad = cli("demo", "--dir", tmp_path / "d", "--today", "yesterday", expect=2)
    assert "--today" in bad.stderr
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    refused = cli("demo", "--dir", tmp_path / "mine", expect=2)
    assert "not a siyu demo folder" in refused.stderr
    assert (tmp_path / "mine" / "notes.txt").exists()


def test_cli_demo_end_to_end(siyu_subprocess, tmp_path, moved_clock):
    """`siyu demo` in a real process (on the real clock and with SIYU_NOW moved far away): refuses an old demo without --force, rebuilds it with --force; every step
    available on this build succeeds; the first missing one fails loudly with a non-zero exit naming it."""
    target = tmp_path / "demo"
    target.mkdir()
    (target / MARKER).write_text('{"members": 5}')
    (target / "old.txt").write_text("from an older demo")
    refused = siyu_subprocess("demo", "--dir", target, "--members", "80", "--today", "2026-11-25")
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert (target / "old.txt").exists()
    proc = siyu_subprocess("demo", "--dir", target, "--members", "80", "--seed", "7", "--today", "2026-11-25",
                           "--format", "json", "--force", timeout=120)
    assert not (target / "old.txt").exists()
    assert json.loads((target / MARKER).read_text())["members"] == 80
    result = json.loads(proc.stdout)
    missing = first_unavailable_step()
    statuses = {s["id"]: s["status"] for s in result["steps"]}
    assert result["workspace"] == str(target.resolve())
    assert statuses["generate"] == "ok"
    if missing is None:
        assert proc.returncode == 0, proc.stderr
        assert result["ok"] and all(v == "ok" for v in statuses.values())
        assert (target / "reports" / "report.html").is_file()
        steps = {s["id"]: s["summary"] for s in result["steps"]}
        # contacts come through `siyu sync wecom`; the console export is loaded after it, adding nobody
        assert steps["load"]["read"] + steps["sync"]["export rows"] == steps["generate"]["rows"]
        assert steps["sync"]["ground truth"] == "ok" and steps["sync"]["links"].startswith("ok (")
        assert steps["sync"]["by remark phone"] > 0 and steps["sync"]["export new members"] == 0
        assert steps["sync"]["by unionid"] > 0  # the mini-program export carries unionids (test_demo_sync: exact)
        assert steps["plan"]["messages"] > 0
        assert steps["push"]["failed"] == 0 and steps["push"]["received"] > 0
        assert steps["report"]["html"] == str(target.resolve() / "reports" / "report.html")
        assert steps["report"]["GMV"].startswith("¥")
        received = "".join(p.read_text(encoding="utf-8") for p in (target / "sandbox").glob("*.jsonl"))
        assert "山茶咖啡" in received  # the demo brand's own playbooks, not the example brands'
        assert "花间集" not in received and "晨光咖啡" not in received
    else:
        assert proc.returncode != 0
        assert result["failed_step"] == missing
        assert f"demo step '{missing}' failed" in proc.stderr
        ids = [s["id"] for s in result["steps"]]
        assert all(statuses[i] == "ok" for i in ids[: ids.index(missing)])
        assert all(statuses[i] == "not_run" for i in ids[ids.index(missing) + 1:])


def test_demo_installs_its_own_playbooks(tmp_path):
    seen = {}

    def grab(ctx):
        seen["playbooks"] = [p.name for p in ctx.playbooks]
        seen["exist"] = all(p.is_file() for p in ctx.playbooks)
        return {}

    run_demo(tmp_path / "d", members=5, seed=1, today=TODAY, steps=(DemoStep("s", "s", grab),))
    assert seen == {"playbooks": ["shancha-sop.yaml", "shancha-week.yaml"], "exist": True}


def test_demo_playbooks_are_valid(tmp_path):
    plan = pytest.importorskip("siyu_cli.plan")
    from siyu_cli.demo.runner import install_playbooks

    for path in install_playbooks(tmp_path):
        assert plan.check_playbook(path) == [], path.name
