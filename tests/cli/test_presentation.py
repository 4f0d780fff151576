"""Presentation (issue 15): tables readable at 80 and 200 columns with every number whole, progress only
for a person watching, partial months marked, only campaigns that sent, one money format, local times."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from rich.cells import cell_len

from siyu_cli import formatting
from demo_helpers import built_demo

TODAY = date(2026, 11, 25)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return built_demo(tmp_path_factory, "present", TODAY)


@pytest.fixture(params=(80, 200), ids=lambda w: f"COLUMNS={w}")
def columns(request, monkeypatch) -> int:
    """The CLI tests' two terminal widths (Rich reads $COLUMNS when stdout is no terminal)."""
    monkeypatch.setenv("COLUMNS", str(request.param))
    return request.param


def _numbers(value) -> set[int]:
    """Every whole number (> 9, so it cannot match by accident inside another) in a JSON value."""
    if isinstance(value, bool):
        return set()
    if isinstance(value, int):
        return {value} if abs(value) > 9 else set()
    if isinstance(value, dict):
        return set().union(*map(_numbers, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(_numbers, value)) if value else set()
    return set()


def _assert_fits(name: str, text: str, width: int, *, labels_may_shorten: bool = False) -> None:
    wide = [line for line in text.splitlines() if cell_len(line) > width]
    assert not wide, f"{name}: {len(wide)} line(s) wider than {width}: {wide[0]!r}"
    if not labels_may_shorten:
        assert "…" not in text, f"{name}: something was cut with an ellipsis"


def _whole(text: str, n: int) -> bool:
    """``n`` appears as a whole number (with or without thousands separators), not split over lines."""
    for shown in {str(n), f"{n:,}"}:
        if re.search(rf"(?<![0-9,.]){re.escape(shown)}(?![0-9])", text):
            return True
    return False


# every command that prints a table, with the json form whose numbers must all appear in it
TABLE_COMMANDS = {
    "rejects": (("rejects", "--all"), ("rejects", "--all", "--format", "json")),
    "push list": (("push", "list"), ("push", "list", "--format", "json")),
    "segment": (("segment",), ("segment", "--format", "json")),
    "stores": (("stores", "list"), ("stores", "list", "--format", "json")),
    "staff": (("staff", "list"), ("staff", "list", "--format", "json")),
    "plan list": (("plan", "list"), ("plan", "list", "--format", "json")),
    "runs": (("runs",), ("runs", "--format", "json")),
    "tables": (("tables",), ("tables", "--format", "json")),
    "load summary": (("load", "orders", "--dry-run", "--force", "exports/youzan_orders.csv"),
                     ("load", "orders", "--dry-run", "--force", "exports/youzan_orders.csv", "--format", "json")),
}


@pytest.mark.parametrize("name", sorted(TABLE_COMMANDS))
def test_every_table_fits_and_keeps_numbers_whole(demo, cli, monkeypatch, columns, name):
    monkeypatch.setenv("SIYU_WORKSPACE", str(demo))
    monkeypatch.chdir(demo)
    table_args, json_args = TABLE_COMMANDS[name]
    table = cli(*table_args, expect=None)
    data = json.loads(cli(*json_args, expect=None).stdout)
    assert table.exit_code == 0 or name == "load summary", table.stderr
    _assert_fits(name, table.stdout, columns)
    if name == "load summary":  # the summary's counts are per file in json
        data = [{k: f[k] for k in ("read", "inserted", "updated", "unchanged", "rejected")} for f in data["files"]]
    if name == "rejects":  # ids and raw text may be left out at 80 columns; line numbers must not
        data = [r["line"] for r in data]
    if name == "segment":  # json lists members; the table counts them per segment
        from collections import Counter

        data = list(Counter(r["segment_id"] for r in data).values())
    missing = sorted(n for n in _numbers(data) if not _whole(table.stdout, n))
    assert not missing, f"{name} at {columns} columns lost numbers {missing[:5]}:\n{table.stdout}"


def test_rejects_row_is_a_few_lines_at_80_columns(demo, cli, monkeypatch):
    """Issue 15: `rejects` took 40 lines per row at 80 columns; the raw line and batch id give way first."""
    monkeypatch.setenv("SIYU_WORKSPACE", str(demo))
    monkeypatch.setenv("COLUMNS", "80")
    rows = json.loads(cli("rejects", "--all", "--format", "json").stdout)
    out = cli("rejects", "--all").stdout
    body = [line for line in out.splitlines() if line.startswith("│")]
    assert rows and len(body) <= 5 * (len(rows) + 1), out
    assert "left out" in out and "raw" in out.split("left out")[1]
    monkeypatch.setenv("COLUMNS", "200")
    assert "left out" not in cli("rejects", "--all").stdout.split("raw")[0]  # wide: raw is shown


def test_push_status_and_preview_fit(demo, cli, monkeypatch, columns):
    monkeypatch.setenv("SIYU_WORKSPACE", str(demo))
    campaigns = json.loads(cli("push", "list", "--format", "json").stdout)
    sent = [c for c in campaigns if c["sent"]][:2]
    assert sent
    for c in sent:
        for args in (("push", "status", c["campaign_id"], "--no-sync"), ("push", "preview", c["campaign_id"])):
            out = cli(*args).stdout
            _assert_fits(" ".join(args), out, columns)
            assert _whole(out, c["recipients"]) or c["recipients"] < 10


PLAN_COMMANDS = {
    "plan week": ("plan", "week", "playbooks/coffee-week.yaml", "--week", "2026-W48"),
    "plan sop": ("plan", "sop", "--date", "2026-11-25"),
    "doctor": ("doctor",),
}


@pytest.mark.parametrize("name", sorted(PLAN_COMMANDS))
def test_plan_and_doctor_tables_fit(demo, cli, monkeypatch, columns, name):
    """`plan week`, `plan sop` and `doctor` go through output.rows_table like the other tables: nothing is
    wider than the terminal, times stay whole, and at 80 columns low-priority columns give way (said so)."""
    monkeypatch.setenv("SIYU_WORKSPACE", str(demo))
    monkeypatch.setenv("SIYU_NOW", "2026-11-25T10:00:00+08:00")
    monkeypatch.chdir(demo)
    out = cli(*PLAN_COMMANDS[name]).stdout
    _assert_fits(name, out, columns)
    if name == "plan week":
        data = json.loads(cli(*PLAN_COMMANDS[name], "--format", "json").stdout)
        times = {m["scheduled_at"][11:16] for m in data["messages"]}
        assert times and all(_whole_time(out, t) for t in times), times
        assert ("left out" in out) == (columns == 80)  # store and attachments give way at 80 columns
    if name == "plan sop":
        assert "10:30" in out and "(day 3)" in out
    if name == "doctor":
        assert "integrity" in out and "ok" in out and "what to do" in out


def _whole_time(text: str, hhmm: str) -> bool:
    return re.search(rf"(?<![0-9:]){hhmm}(?![0-9])", text) is not None


def test_plan_week_marks_a_week_in_progress(demo, cli, monkeypatch):
    """A week still in progress is marked like a partial month: its first days have passed."""
    monkeypatch.setenv("SIYU_WORKSPACE", str(demo))
    monkeypatch.setenv("SIYU_NOW", "2026-11-25T10:00:00+08:00")  # the Wednesday of 2026-W48
    monkeypatch.chdir(demo)
    now = cli("plan", "week", "playbooks/coffee-week.yaml", "--week", "2026-W48").stdout
    assert "2026-W48*" in now and "* week in progress: day 3 of 7" in now
    for week in ("2026-W47", "2026-W49"):  # past and future weeks are whole
        out = cli("plan", "week", "playbooks/coffee-week.yaml", "--week", week).stdout
        assert f"{week}*" not in out and "in progress" not in out


@pytest.mark.zh
def test_plan_week_and_sop_read_chinese(demo, cli, monkeypatch):
    monkeypatch.setenv("SIYU_WORKSPACE", str(demo))
    monkeypatch.setenv("SIYU_NOW", "2026-11-25T10:00:00+08:00")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(demo)
    week = cli("plan", "week", "playbooks/coffee-week.yaml", "--week", "2026-W48").stdout
    assert "* 本周进行中：第 3/7 天" in week and "11月23日 周一" in week and "时间" in week and "6 个群" in week
    assert "time" not in week and "in progress" not in week
    sop = cli("plan", "sop", "--date", "2026-11-25").stdout
    assert "SOP 11月25日 周三 · 应触达" in sop and "（第3天）" in sop and "剧本" in sop
    doctor = cli("doctor").stdout
    assert "检查项" in doctor and "正常" in doctor and "what to do" not in doctor
    assert "校验和一致" in doctor and "checksums match" not in doctor  # details read Chinese too


def test_report_fits_with_money_whole_and_one_format(demo, cli, monkeypatch, columns):
    monkeypatch.setenv("SIYU_WORKSPACE", str(demo))
    period = ("--from", "2026-01-01", "--to", "2026-11-20")
    data = json.loads(cli("report", *period, "--format", "json").stdout)
    out = cli("report", *period).stdout
    _assert_fits("report", out, columns, labels_may_shorten=True)  # KPI labels may end in …, values never
    from siyu_cli.report.terminal import HEADLINE, fmt_kpi

    for kpi in HEADLINE:
        assert fmt_kpi(kpi, data["kpis"][kpi]) in out, (kpi, data["kpis"][kpi])
    for board in ("store", "guide"):
        for r in data["sections"]["leaderboards"][board][:5]:
            assert formatting.money(r["gmv"]) in out, (board, r)
    amounts = re.findall(r"¥[0-9,]+(?:\.[0-9]+)?", out)
    assert amounts and all(re.fullmatch(r"¥\d{1,3}(,\d{3})*\.\d\d", a) for a in amounts), amounts
    assert "万" not in out


def test_report_marks_the_partial_month(demo, cli, monkeypatch, tmp_path):
    monkeypatch.setenv("SIYU_WORKSPACE", str(demo))
    period = ("--from", "2026-01-01", "--to", "2026-11-20")
    data = json.loads(cli("report", *period, "--format", "json").stdout)
    trend = {m["month"]: m for m in data["sections"]["trend"]}
    assert trend["2026-11"]["partial"] and trend["2026-11"]["days_covered"] == 20
    assert trend["2026-11"]["days_in_month"] == 30
    assert not any(m["partial"] for k, m in trend.items() if k != "2026-11")
    out = cli("report", *period).stdout
    assert "2026-11 (20/30)" in out and "2026-10 (" not in out
    html = tmp_path / "r.html"
    cli("report", *period, "--html", html)
    assert "2026-11 (20/30 days)" in html.read_text(encoding="utf-8")
    full = json.loads(cli("report", "--from", "2026-01-01", "--to", "2026-10-31", "--format", "json").stdout)
    assert not any(m["partial"] for m in full["sections"]["trend"])


def test_mark_partial_months_first_and_last():
    from siyu_cli.report import mark_partial_months

    rows = mark_partial_months([{"month": "2025-12"}, {"month": "2026-01"}, {"month": "2026-02"}],
                               date(2025, 12, 8), date(2026, 2, 28))
    assert [(r["partial"], r["days_covered"], r["days_in_month"]) for r in rows] == [
        (True, 24, 31), (False, 31, 31), (False, 28, 28)]


def test_report_shows_only_campaigns_that_reached_someone(demo, cli, monkeypatch, tmp_path):
    monkeypatch.setenv("SIYU_WORKSPACE", str(demo))
    pushed = json.loads(cli("push", "list", "--format", "json").stdout)
    data = json.loads(cli("report", "--format", "json").stdout)
    shown = data["sections"]["campaigns"]
    assert shown and all(c["reached"] > 0 for c in shown)
    unsent = [c for c in pushed if c["sent"] == 0 and c["status"] == "empty"]
    assert unsent, "the demo has campaigns that reached nobody, or this test means nothing"
    assert not {c["campaign_id"] for c in unsent} & {c["campaign_id"] for c in shown}
    assert any("reached nobody" in n for n in data["notes"])
    html = tmp_path / "r.html"
    cli("report", "--html", html)
    text = html.read_text(encoding="utf-8")
    section = text.split("Campaign results")[1].split("</section>")[0]
    assert all(c["name"] not in section for c in unsent if c["name"] and
               not any(c["name"] == s["name"] for s in shown))


def test_money_is_one_format():
    from siyu_cli.plan.templates import money as template_money
    from siyu_cli.report.terminal import fmt_money

    assert formatting.money(28769028) == "¥28,769,028.00"
    assert formatting.money("624") == fmt_money(624) == template_money(624) == "¥624.00"
    assert formatting.money(-12.345) == "-¥12.35" and formatting.money(None) == "—"
    assert formatting.money(5, "USD") == "USD 5.00"


def test_rows_table_drops_listed_columns_then_goes_compact():
    from rich.console import Console

    from siyu_cli.output import rows_table

    rows = [["f.csv", 123456789, "x" * 300, "batch-20261207-abcdef"], ["g.csv", 7, "y", "b2"]]
    console = Console(width=60, file=open(os.devnull, "w"), record=True)
    console.print(rows_table(["file", "count", "raw", "batch"], rows, width=60, drop=("raw",)))
    text = console.export_text()
    assert "123,456,789" in text or "123456789" in text
    assert "raw" in text.split("left out")[1] and "xxxx" not in text
    assert max(cell_len(line) for line in text.splitlines()) <= 60


def _pty_run(args, env):
    """Run siyu with stderr on a pseudo-terminal (stdout a pipe); returns (stdout, stderr as seen)."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "siyu_cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    out = proc.stdout.read()
    proc.wait(timeout=120)
    os.close(master)
    return out.decode(), b"".join(chunks).decode(errors="replace")


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NO_COLOR", None)
    env.update(extra)
    return env


def test_progress_only_on_a_terminal(tmp_path):
    args = ("demo", "data", str(tmp_path / "a"), "--members", "60", "--seed", "3")
    _, tty_err = _pty_run(args, _env())
    assert "generating the demo exports" in tty_err
    assert re.search(r"\x1b\[(3[0-9]|9[0-7])m", tty_err)  # drawn in colour (and erased) on the terminal
    _, plain = _pty_run(("demo", "data", str(tmp_path / "b"), "--members", "60", "--seed", "3"), _env(NO_COLOR="1"))
    assert "generating the demo exports" in plain  # NO_COLOR: progress still drawn, without colour
    assert not re.search(r"\x1b\[(3[0-9]|9[0-7])m", plain)
    piped = subprocess.run([sys.executable, "-m", "siyu_cli", *("demo", "data", str(tmp_path / "c"), "--members",
                                                                  "60", "--seed", "3")],
                           env=_env(), capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and "generating" not in piped.stderr and "\x1b" not in piped.stderr
    _, q_err = _pty_run(("--quiet", "demo", "data", str(tmp_path / "d"), "--members", "60"), _env())
    assert "generating" not in q_err


def test_library_reports_progress_through_its_callback(tmp_path):
    from siyu_cli.demo.generator import generate_data

    calls = []
    generate_data(tmp_path / "x", members=40, seed=2, today=TODAY, progress=lambda d, t, w: calls.append((d, t, w)))
    assert calls[0][0] == 0 and calls[-1][0] == calls[-1][1] == len(calls) - 1
    assert [d for d, _, _ in calls] == sorted(d for d, _, _ in calls)
    assert any("tmall_orders" in w for _, _, w in calls)


def test_event_and_log_times_are_the_workspaces(tmp_path):
    import logging

    from siyu_cli.cli.context import AppState
    from siyu_cli.cli.main import WorkspaceTimeFormatter
    from siyu_cli.runner.events import EventLog

    log = EventLog(fmt="json", file=tmp_path / "log.jsonl", tz="Asia/Shanghai")
    log.emit("hello")
    log.close()
    assert json.loads((tmp_path / "log.jsonl").read_text())["ts"].endswith("+08:00")
    log = EventLog(fmt="json", file=tmp_path / "ny.jsonl", tz="America/New_York")
    log.emit("hello")
    log.close()
    assert json.loads((tmp_path / "ny.jsonl").read_text())["ts"][-6:] in ("-05:00", "-04:00")
    record = logging.LogRecord("siyu", logging.INFO, __file__, 1, "msg", None, None)
    line = WorkspaceTimeFormatter(AppState(overrides={"timezone": "Asia/Shanghai"})).format(record)
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+08:00 INFO siyu: msg", line), line


def test_init_counts_example_playbooks(cli, tmp_path):
    from siyu_cli.workspace import example_playbooks_dir

    expected = len(list(example_playbooks_dir().glob("*.yaml")))
    r = cli("init", tmp_path / "ws")
    assert f"({expected} example playbooks)" in r.stderr
    assert expected < sum(1 for p in example_playbooks_dir().rglob("*") if p.is_file())  # files ≠ playbooks


@pytest.mark.parametrize("where", ["bar", "load"])
def test_progress_shows_names_from_data_as_text_not_markup(monkeypatch, where):
    """A file or group named like Rich markup is drawn as it is named: its brackets are not styles or links."""
    import io

    from rich.console import Console

    from siyu_cli import output, progress
    from siyu_cli.ingest.loader import _Progress

    screen = io.StringIO()
    monkeypatch.setattr(output, "stderr_console", lambda: Console(file=screen, force_terminal=True, width=160))
    name = "[red]a[link=https:x.example]b[blink].csv"  # no slash: a file name
    if where == "bar":
        monkeypatch.setattr(progress, "enabled", lambda: True)
        with progress.bar("start") as update:
            update(1, 2, name)
    else:
        shown = _Progress(True, 1)
        shown.start(Path(name))
        shown.close()
    assert name in screen.getvalue()
