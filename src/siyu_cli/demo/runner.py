"""``siyu demo``: the whole private-domain loop on generated data, in a throwaway workspace.

The demo is a list of ordered :class:`DemoStep` s (``demo/steps.py``: generate → load → sync →
segment → plan → push → report), each a function of the shared :class:`DemoContext`
(``demo/context.py``) that returns a short summary dict, shown as one line. This module makes the
folder and runs the steps; other areas add their own steps with :func:`with_steps` instead of
editing it. A step whose package is missing fails loudly, naming it: the demo is the README's main
command, so a silently skipped step would hide a broken build.
"""

from __future__ import annotations

import json
import os
import shutil
import time as _time
from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import Any, Sequence

from siyu_cli.demo.context import (  # noqa: F401 (re-exported: the demo's public types)
    DEMO_ROBOT_KEY, EXPORTS_DIR, MARKER, REPORT_PATH, DemoContext, DemoResult, DemoStep, DemoStepError, StepResult,
    _environ, with_steps,
)
from siyu_cli.demo.steps import DEFAULT_STEPS, LOAD_ORDER, _push_unsent  # noqa: F401 (re-exported)
from siyu_cli.demo.truth import compare_with_truth as _compare_with_truth  # noqa: F401 (re-exported)
from siyu_cli import progress
from siyu_cli.errors import SiyuError, UsageError
from siyu_cli.i18n import N_, _


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


#: the steps' summary keys (stable English: `siyu demo --format json` keeps them) as people read them
SUMMARY_LABELS = frozenset((
    N_("files"), N_("rows"), N_("people"), N_("orders"), N_("bad rows"), N_("read"), N_("inserted"), N_("updated"),
    N_("unchanged"), N_("rejected"), N_("expected rejects"), N_("relations"), N_("customers"), N_("groups"),
    N_("linked"), N_("by unionid"), N_("by remark phone"), N_("new members"), N_("api calls"), N_("links"),
    N_("export rows"), N_("export new members"), N_("ground truth"), N_("snapshot"), N_("members"), N_("buyers"),
    N_("top 20% revenue"), N_("week"), N_("messages"), N_("due"), N_("sent"), N_("failed"), N_("received"),
    N_("by customer"), N_("by group"), N_("not yet due"), N_("held"), N_("pending"), N_("created"), N_("empty"),
    N_("already sent"), N_("already empty"), N_("cancelled"), N_("skipped recipients"), N_("repurchase rate"),
    N_("online rate"), N_("html"), N_("group_slot"), N_("sop_step")))


def summary_line(summary: dict) -> str:
    """One step's summary as a line: known keys in the reader's language, values as they are."""
    return " · ".join(f"{_(k) if k in SUMMARY_LABELS else k} {_fmt_value(v)}" for k, v in summary.items())


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
        console.print(_("[bold]{brand} demo[/bold] · {members} people · seed {seed} · today {today} · {root}").format(
            brand="山茶咖啡", members=f"{members:,}", seed=seed, today=today, root=root), highlight=False)
    results: list[StepResult] = []
    failed = False
    for n, step in enumerate(steps, 1):
        if failed:
            results.append(StepResult(step.id, step.title, "not_run"))
            continue
        t0 = _time.perf_counter()
        try:
            with progress.bar(_(step.title)) if console is not None else nullcontext(None) as ctx.progress:
                summary = step.func(ctx) or {}
            res = StepResult(step.id, step.title, "ok", summary=dict(summary), seconds=_time.perf_counter() - t0)
        except SiyuError as exc:
            res = StepResult(step.id, step.title, "failed", seconds=_time.perf_counter() - t0,
                             error=exc.message, exit_code=exc.exit_code)
        except ModuleNotFoundError as exc:  # a build without one of the areas the step calls
            if not (exc.name or "").startswith("siyu_cli"):
                raise
            res = StepResult(step.id, step.title, "failed", seconds=_time.perf_counter() - t0,
                             error=_("{name} is not part of this siyu build, so the {step} step cannot run").format(
                                 name=exc.name, step=step.id),
                             exit_code=DemoStepError.exit_code)
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
        mark, text = "[red]✗[/red]", f"[red]{escape(res.error or _('failed'))}[/red]"
    console.print(f"{mark} [{n}/{total}] [bold]{res.id:<8}[/bold] {text} [dim]({res.seconds:.1f}s)[/dim]",
                  highlight=False)


def _print_panel(console, result: DemoResult) -> None:
    from rich.markup import escape
    from rich.panel import Panel

    root = escape(str(result.root))
    if result.ok:
        lines = [_("[green]All {n} steps done.[/green] Workspace: {root}").format(n=len(result.steps), root=root), "",
                 _("Try next:"),
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
        lines = [_("[red]Step '{step}' ({title}) failed:[/red] {error}").format(
                     step=failed.id, title=escape(_(failed.title)), error=escape(failed.error or '')),
                 _("Workspace so far: {root}").format(root=root)]
        not_run = [s.id for s in result.steps if s.status == "not_run"]
        if not_run:
            lines.append(_("Not run: {steps}").format(steps=", ".join(not_run)))
        console.print(Panel("\n".join(lines), title="siyu demo · 山茶咖啡", border_style="red"))
