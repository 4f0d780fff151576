"""``siyu demo``: the whole private-domain loop on generated data, in a throwaway workspace.

The demo is a list of ordered :class:`DemoStep` s (generate → load → segment →
plan → push → report). Each step is a function of the shared
:class:`DemoContext` that returns a short summary dict, shown as one line.
Other areas add their own steps with :func:`with_steps` instead of editing
this file. A step whose package is missing fails loudly: the demo is the
README's main command, so a silently skipped step would hide a broken build.
"""

from __future__ import annotations

import json
import os
import shutil
import time as _time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from siyu_cli.errors import SiyuError, UsageError
from siyu_cli.i18n import _

MARKER = ".siyu-demo"
EXPORTS_DIR = "exports"
REPORT_PATH = Path("reports") / "report.html"
DEMO_ROBOT_KEY = "demo-ops-robot"


class DemoStepError(SiyuError):
    """A demo step failed; the message names the step."""


# ------------------------------------------------------------------ types

@dataclass
class DemoContext:
    """What the steps share: the workspace, the demo parameters and earlier steps' results."""

    root: Path
    members: int
    seed: int
    today: date
    settings: Any = None  # siyu_cli.config.Settings of the demo workspace
    data: Any = None  # siyu_cli.demo.generator.DemoData once generated
    results: dict[str, Any] = field(default_factory=dict)  # step id -> whatever the step keeps (raw objects)
    playbooks: list[Path] = field(default_factory=list)  # the demo brand's playbooks in the workspace

    @property
    def exports(self) -> Path:
        return self.root / EXPORTS_DIR

    def week(self) -> tuple[datetime, datetime]:
        """The demo week: Monday 00:00 of ``today``'s week to the next Monday, in the workspace time zone."""
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(getattr(self.settings, "timezone", None) or "Asia/Shanghai")
        monday = self.today - timedelta(days=self.today.weekday())
        start = datetime.combine(monday, time(0, 0), tzinfo=tz)
        return start, start + timedelta(days=7)


@dataclass(frozen=True)
class DemoStep:
    id: str
    title: str
    func: Callable[[DemoContext], dict]


@dataclass
class StepResult:
    id: str
    title: str
    status: str  # ok | failed | not_run
    summary: dict = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    exit_code: int | None = None

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "status": self.status, "summary": self.summary,
                "seconds": round(self.seconds, 3), "error": self.error}


@dataclass
class DemoResult:
    root: Path
    members: int
    seed: int
    today: date
    steps: list[StepResult]

    @property
    def ok(self) -> bool:
        return all(s.status == "ok" for s in self.steps)

    @property
    def failed(self) -> StepResult | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    def step(self, step_id: str) -> StepResult | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def to_dict(self) -> dict:
        failed = self.failed
        return {
            "workspace": str(self.root),
            "members": self.members,
            "seed": self.seed,
            "today": self.today.isoformat(),
            "ok": self.ok,
            "failed_step": failed.id if failed else None,
            "steps": [s.to_dict() for s in self.steps],
        }


def with_steps(steps: Sequence[DemoStep], extra: Sequence[DemoStep] | DemoStep, *,
               before: str | None = None, after: str | None = None) -> tuple[DemoStep, ...]:
    """``steps`` with ``extra`` inserted before the step ``before``, after ``after``, or at the end."""
    if isinstance(extra, DemoStep):
        extra = [extra]
    steps = list(steps)
    ids = [s.id for s in steps]
    for s in extra:
        if s.id in ids:
            raise ValueError(f"demo step {s.id!r} is already in the list")
    if before is not None and after is not None:
        raise ValueError("give before or after, not both")
    anchor = before if before is not None else after
    if anchor is None:
        return tuple(steps + list(extra))
    if anchor not in ids:
        raise ValueError(f"no demo step {anchor!r} (steps: {', '.join(ids)})")
    at = ids.index(anchor) + (0 if before is not None else 1)
    return tuple(steps[:at] + list(extra) + steps[at:])


# ------------------------------------------------------------------ helpers for steps

def _require(module: str, step: str):
    """Import a sibling area's package, or fail the step with a clear message (never skip it)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == module or module.startswith(exc.name + ".") or exc.name.startswith(module)):
            raise DemoStepError(_('{module} is not part of this siyu build, so the {step} step cannot run').format(module=module, step=step)) from exc
        raise


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for one call and restore them afterwards (secrets never linger)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _to_dict(obj: Any) -> dict:
    if obj is None:
        return {}
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, dict):
        return obj
    return {}


# ------------------------------------------------------------------ the steps

def step_generate(ctx: DemoContext) -> dict:
    from siyu_cli.demo.generator import generate_data

    ctx.data = generate_data(ctx.exports, members=ctx.members, seed=ctx.seed, today=ctx.today)
    exp = ctx.data.expected()
    return {
        "files": len(ctx.data.files),
        "rows": sum(f.rows for f in ctx.data.files),
        "people": ctx.members,
        "orders": exp["orders"],
        "bad rows": len(ctx.data.bad_rows),
    }


#: load order: people first so orders and groups resolve to them
LOAD_ORDER = ("members", "orders", "groups")


def step_load(ctx: DemoContext) -> dict:
    ingest = _require("siyu_cli.ingest", "load")
    files = ctx.data.files if ctx.data is not None else []
    totals = {"read": 0, "inserted": 0, "updated": 0, "unchanged": 0, "rejected": 0}
    reports = {}
    from siyu_cli.demo.sync_step import API_FILES

    for kind in LOAD_ORDER:
        # contacts come from the API (the sync step), as on a real corp; the console export follows it
        paths = [f.path for f in files if f.kind == kind and f.path.name not in API_FILES]
        if not paths:
            continue
        report = ingest.load_files(ctx.settings, kind, paths, preset="auto", max_rejects=None)
        reports[kind] = report
        for key in totals:
            totals[key] += int(getattr(report, key, 0) or 0)
    ctx.results["load"] = reports
    summary: dict[str, Any] = dict(totals)
    if ctx.data is not None:
        summary["expected rejects"] = sum(1 for b in ctx.data.bad_rows if b.file not in API_FILES)
    return summary


def _compare_with_truth(ctx: DemoContext) -> str:
    """Compare the store with what the generator knows a correct load gives ("ok" or the differences)."""
    from siyu_cli.store import open_store

    exp = ctx.data.expected()
    checks = {
        "members": ("SELECT count(*) FROM members", exp["members"]),
        "orders": ("SELECT count(*) FROM orders", exp["orders"]),
        "rejects": ("SELECT count(DISTINCT (file, line)) FROM rejects", exp["rejected"]),
        "group members": ("SELECT count(*) FROM group_members", exp["group_members"]),
    }
    diffs = []
    with open_store(ctx.settings, read_only=True) as con:
        for label, (sql, want) in checks.items():
            got = con.execute(sql).fetchone()[0]
            if got != want:
                diffs.append(f"{label} {got:,}≠{want:,}")
    return "ok" if not diffs else "differs: " + ", ".join(diffs)


def step_segment(ctx: DemoContext) -> dict:
    segment = _require("siyu_cli.segment", "segment")
    run = segment.run_segment(ctx.settings, scheme="rfm8", as_of=ctx.today)
    ctx.results["segment"] = run
    summary: dict[str, Any] = {"snapshot": getattr(run, "snapshot_id", None)}
    for key in ("members", "buyers"):
        if getattr(run, key, None) is not None:
            summary[key] = getattr(run, key)
    top20 = (getattr(run, "pareto", None) or {}).get("top20_revenue_share")
    if top20 is not None:
        summary["top 20% revenue"] = f"{top20:.0%}"
    rows = [r for r in (getattr(run, "summary", None) or []) if (r.get("members") or 0) > 0]
    rows.sort(key=lambda r: -(r.get("members") or 0))
    for r in rows[:3]:
        label = r.get("name") or r.get("segment_name") or r.get("segment_id")
        summary[f"{r.get('segment_id', '')} {label}".strip()] = r.get("members")
    return summary


def step_plan(ctx: DemoContext) -> dict:
    plan = _require("siyu_cli.plan", "plan")
    start, end = ctx.week()
    messages = plan.due_messages(ctx.settings, start, end, playbooks=ctx.playbooks or None)
    ctx.results["plan"] = messages
    by_kind: dict[str, int] = {}
    for m in messages:
        by_kind[m.kind] = by_kind.get(m.kind, 0) + 1
    return {"week": f"{start:%Y-%m-%d}..{(end - timedelta(days=1)):%m-%d}", "messages": len(messages), **by_kind}


def step_push(ctx: DemoContext) -> dict:
    """Send the demo week's messages to a WeCom sandbox on 127.0.0.1 (never the real WeCom)."""
    sandbox_mod = _require("siyu_cli.sandbox", "push")
    push = _require("siyu_cli.push", "push")
    wecom = ctx.settings.section("wecom") if ctx.settings is not None else {}
    corp_env = wecom.get("corp_id_env", "WECOM_CORP_ID")
    secret_env = wecom.get("secret_env", "WECOM_SECRET")
    robot_env = wecom.get("robot_key_env", "WECOM_ROBOT_KEY")
    start, end = ctx.week()
    server = sandbox_mod.SandboxServer(settings=ctx.settings, confirm="auto", robot_keys=[DEMO_ROBOT_KEY],
                                       state_dir=ctx.root / "sandbox")
    server.start()
    try:
        env = {corp_env: server.corp_id if hasattr(server, "corp_id") else "wwsandbox",
               secret_env: server.secret, robot_env: DEMO_ROBOT_KEY, "SIYU_WECOM_BASE_URL": server.url}
        with _environ(env):
            report = push.push_due(ctx.settings, start, end, playbooks=ctx.playbooks or None)
        deliveries = server.deliveries()
    finally:
        server.stop()
    ctx.results["push"] = report
    by_channel: dict[str, int] = {}
    for d in deliveries:
        by_channel[d.get("channel", "?")] = by_channel.get(d.get("channel", "?"), 0) + 1
    info = _to_dict(report)
    summary: dict[str, Any] = {}
    for key in ("due", "sent"):
        if key in info:
            summary[key] = info[key]
    summary.update(_push_unsent(ctx, info))
    summary["failed"] = int(getattr(report, "failed", 0) or 0)
    summary["received"] = len(deliveries)
    summary.update({f"by {k}": v for k, v in sorted(by_channel.items())})
    return summary


#: push_due outcomes that are neither sent nor failed, as the demo's push line names them
_UNSENT = {"not_yet_due": "not yet due", "held": "held", "pending": "pending", "created": "created",
           "empty": "empty", "already_sent": "already sent", "already_partial": "already sent",
           "already_empty": "already empty", "already_cancelled": "cancelled", "cancelled": "cancelled"}


def _push_unsent(ctx: DemoContext, info: dict) -> dict[str, Any]:
    """Why "due" and "sent" differ: messages not sent yet (with when), and recipients skipped by policy."""
    from collections import Counter
    from zoneinfo import ZoneInfo

    items = info.get("items") or []
    out: dict[str, Any] = {}
    counts = Counter(_UNSENT[i.get("outcome")] for i in items if i.get("outcome") in _UNSENT)
    for label, n in counts.items():
        out[label] = n
    later = sorted(i["scheduled_at"] for i in items if i.get("outcome") == "not_yet_due" and i.get("scheduled_at"))
    if later and ctx.settings is not None:
        first = datetime.fromisoformat(later[0]).astimezone(ZoneInfo(ctx.settings.timezone))
        out["not yet due"] = f"{counts['not yet due']} (scheduled from {first:%m-%d %H:%M})"
    cids = [i["campaign_id"] for i in items if i.get("campaign_id")]
    if cids and ctx.settings is not None:
        from siyu_cli.store import open_store

        with open_store(ctx.settings, read_only=True) as con:
            reasons = con.execute(
                "SELECT reason, count(*) FROM push_recipients WHERE state = 'skipped' "
                "AND campaign_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1 ORDER BY 2 DESC, 1", [cids]).fetchall()
        if reasons:
            why = ", ".join(f"{str(r or 'other').replace('_', ' ')} {n}" if len(reasons) > 1 else str(r or "other").replace("_", " ")
                            for r, n in reasons)
            out["skipped recipients"] = f"{sum(n for _r, n in reasons)} ({why})"
    return out


def step_report(ctx: DemoContext) -> dict:
    report_mod = _require("siyu_cli.report", "report")
    report = report_mod.build_report(ctx.settings, date_to=ctx.today)
    path = report_mod.write_html(report, ctx.root / REPORT_PATH)
    ctx.results["report"] = report
    kpis = _to_dict(report).get("kpis") or {}
    summary: dict[str, Any] = {}
    if kpis.get("gmv") is not None:
        summary["GMV"] = f"¥{kpis['gmv']:,.0f}"
    if kpis.get("repurchase_rate") is not None:
        summary["复购率"] = f"{kpis['repurchase_rate']:.0%}"
    if kpis.get("online_rate") is not None:
        summary["在线率"] = f"{kpis['online_rate']:.0%}"
    summary["html"] = str(path)
    return summary


def _step_sync(ctx: DemoContext) -> dict:
    from siyu_cli.demo.sync_step import step_sync

    return step_sync(ctx)


DEFAULT_STEPS: tuple[DemoStep, ...] = (
    DemoStep("generate", "生成演示数据 generate demo exports", step_generate),
    DemoStep("load", "导入 load exports", step_load),
    DemoStep("sync", "企微同步（沙箱）sync contacts from the WeCom sandbox", _step_sync),
    DemoStep("segment", "RFM 分层 segment members", step_segment),
    DemoStep("plan", "本周计划 plan the week", step_plan),
    DemoStep("push", "企微推送（沙箱）push to the WeCom sandbox", step_push),
    DemoStep("report", "经营报告 write the KPI report", step_report),
)


# ------------------------------------------------------------------ folder handling

def install_playbooks(root: Path) -> list[Path]:
    """Copy the demo brand's playbooks (a weekly group plan and a member SOP) into the workspace.

    The demo enables only these (``[plan] enabled``), so its messages — and those of a later
    ``siyu run hourly`` in the demo folder — speak for 山茶咖啡 rather than for the brands of the
    (inactive) example playbooks ``siyu init`` also copies.
    """
    source = Path(__file__).resolve().parent / "playbooks"
    target = Path(root) / "playbooks"
    target.mkdir(parents=True, exist_ok=True)
    out = []
    for path in sorted(source.glob("*.yaml")):
        dest = target / path.name
        shutil.copyfile(path, dest)
        out.append(dest)
    return out


def is_demo_dir(root: Path) -> bool:
    return (Path(root) / MARKER).is_file()


def prepare_demo_dir(root: Path, *, force: bool = False) -> Path:
    """Make ``root`` ready for a fresh demo; refuse to touch a folder that is not ours.

    Empty or missing: fine. A previous demo (it carries the ``.siyu-demo`` marker): rebuilt with
    ``force``, otherwise refused. Anything else that is not empty is refused even with ``force``.
    """
    root = Path(root).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise UsageError(_('{root} is a file, not a folder').format(root=root))
    if root.exists() and any(root.iterdir()):
        if not is_demo_dir(root):
            raise UsageError(_('{root} is not empty and is not a siyu demo folder; choose another --dir').format(root=root))
        if not force:
            raise UsageError(_('{root} already holds a siyu demo; use --force to rebuild it').format(root=root))
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    return root


# ------------------------------------------------------------------ running

def _fmt_value(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def summary_line(summary: dict) -> str:
    return " · ".join(f"{k} {_fmt_value(v)}" for k, v in summary.items())


def run_demo(
    root: Path,
    *,
    members: int = 2000,
    seed: int = 7,
    today: date | None = None,
    steps: Sequence[DemoStep] = DEFAULT_STEPS,
    console=None,
    force: bool = False,
) -> DemoResult:
    """Create a demo workspace at ``root`` and run ``steps`` in order, stopping at the first failure.

    ``console`` (a Rich console, or None for silence) gets one line per step and a closing panel.
    """
    from siyu_cli.config import load_settings
    from siyu_cli.demo.generator import default_today
    from siyu_cli.workspace import init_workspace

    if members < 1:
        raise UsageError(_('--members must be at least 1'))
    today = today or default_today()
    root = prepare_demo_dir(root, force=force)
    (root / MARKER).write_text(json.dumps({"members": members, "seed": seed, "today": today.isoformat()}) + "\n",
                               encoding="utf-8")
    init_workspace(root)
    from siyu_cli.demo.generator import dimensions_toml

    with (root / "siyu.toml").open("a", encoding="utf-8") as fh:  # the stores an operator configures once
        fh.write(dimensions_toml())
    # the demo's own store, whatever SIYU_STORE says: a demo must never write into a real store
    env = {k: v for k, v in os.environ.items() if k != "SIYU_STORE"}
    ctx = DemoContext(root=root, members=members, seed=seed, today=today, settings=load_settings(root, env=env),
                      playbooks=install_playbooks(root))
    # nothing is sent unless enabled: the demo enables its own brand's playbooks, and only those
    from siyu_cli.plan.enabled import playbook_name, write_enabled

    write_enabled(ctx.settings, [playbook_name(p) for p in ctx.playbooks])
    if console is not None:
        console.print(f"[bold]山茶咖啡 demo[/bold] · {members:,} people · seed {seed} · today {today} · {root}",
                      highlight=False)
    results: list[StepResult] = []
    failed = False
    for n, step in enumerate(steps, 1):
        if failed:
            results.append(StepResult(step.id, step.title, "not_run"))
            continue
        t0 = _time.perf_counter()
        try:
            summary = step.func(ctx) or {}
            res = StepResult(step.id, step.title, "ok", summary=dict(summary), seconds=_time.perf_counter() - t0)
        except SiyuError as exc:
            res = StepResult(step.id, step.title, "failed", seconds=_time.perf_counter() - t0,
                             error=exc.message, exit_code=exc.exit_code)
        except Exception as exc:  # a bug in a step: report it as that step's failure
            res = StepResult(step.id, step.title, "failed", seconds=_time.perf_counter() - t0,
                             error=f"{type(exc).__name__}: {exc}")
        results.append(res)
        failed = res.status == "failed"
        if console is not None:
            _print_step(console, n, len(steps), res)
    result = DemoResult(root=root, members=members, seed=seed, today=today, steps=results)
    if console is not None:
        _print_panel(console, result)
    return result


def _print_step(console, n: int, total: int, res: StepResult) -> None:
    from rich.markup import escape

    if res.status == "ok":
        mark, text = "[green]✓[/green]", escape(summary_line(res.summary))
    else:
        mark, text = "[red]✗[/red]", f"[red]{escape(res.error or 'failed')}[/red]"
    console.print(f"{mark} [{n}/{total}] [bold]{res.id:<8}[/bold] {text} [dim]({res.seconds:.1f}s)[/dim]",
                  highlight=False)


def _print_panel(console, result: DemoResult) -> None:
    from rich.markup import escape
    from rich.panel import Panel

    root = escape(str(result.root))
    if result.ok:
        lines = [f"[green]All {len(result.steps)} steps done.[/green] Workspace: {root}", "",
                 "Try next:",
                 f"  siyu -w {root} tables",
                 f"  siyu -w {root} rejects",
                 f"  siyu -w {root} segment",
                 f"  siyu -w {root} report"]
        report = result.step("report")
        if report and report.status == "ok":
            lines.append(f"  open {escape(str(report.summary.get('html')))}")
        console.print(Panel("\n".join(lines), title="siyu demo · 山茶咖啡", border_style="green"))
    else:
        failed = result.failed
        lines = [f"[red]Step '{failed.id}' ({escape(failed.title)}) failed:[/red] {escape(failed.error or '')}",
                 f"Workspace so far: {root}"]
        not_run = [s.id for s in result.steps if s.status == "not_run"]
        if not_run:
            lines.append(f"Not run: {', '.join(not_run)}")
        console.print(Panel("\n".join(lines), title="siyu demo · 山茶咖啡", border_style="red"))
