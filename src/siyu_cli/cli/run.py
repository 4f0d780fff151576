"""``siyu run`` and ``siyu runs``: pipelines for cron and systemd timers."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from siyu_cli.cli.options import TABLE_CSV_JSON, format_option

from siyu_cli.i18n import N_, _

from siyu_cli.cli.context import settings, state
from siyu_cli.output import Format, emit_json, emit_rows


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("runs")(runs)


def run(
    ctx: typer.Context,
    pipeline: Optional[str] = typer.Argument(None, help=N_("Pipeline name (nightly, hourly, or one from \\[pipelines.*]); omit to list them.")),
    resume: bool = typer.Option(False, "--resume", help=N_("Retry the last failed, partial or killed run: from its first unfinished step on.")),
    lock_wait: float = typer.Option(0.0, "--lock-wait", help=N_("Seconds to wait for another run to finish before exiting with code 4.")),
    log_format: str = typer.Option("text", "--log-format", help=N_("text (for people) or json (one object per event, for log collectors).")),
    log_file: Optional[Path] = typer.Option(None, "--log-file", help=N_("Append the event log to this file instead of stderr.")),
    alert: Optional[bool] = typer.Option(None, "--alert/--no-alert", help=N_("Force or suppress the robot alert ([alerts] decides by default).")),
    dry_run: bool = typer.Option(False, "--dry-run", help=N_("Show what each step would do; change nothing.")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("Summary on stdout: table or json.")),
) -> None:
    """Run a pipeline (load inbox → segment → report, or push what is due) under the workspace lock.

    Exit codes: 0 ok, 1 a step failed (alert sent; retry with --resume), 2 usage,
    3 partial (every step ran but one needs a look, e.g. a file's rejects over the threshold; alert sent),
    4 another run holds the workspace, 130 interrupted.
    """
    from siyu_cli.runner import load_pipelines, run_pipeline
    from siyu_cli.runner.events import EventLog

    st = state(ctx)
    cfg = settings(ctx)
    if pipeline is None:
        rows = [(p.name, " → ".join(s.name for s in p.steps)) for p in load_pipelines(cfg).values()]
        emit_rows(["pipeline", "steps"], rows, fmt, title=_('pipelines'))
        return
    log = EventLog(fmt=log_format, file=log_file, quiet=st.quiet, tz=cfg.timezone)
    try:
        result = run_pipeline(cfg, pipeline, resume=resume, lock_wait=lock_wait, log=log, dry_run=dry_run, alert=alert)
    finally:
        log.close()
    if fmt is Format.json:
        emit_json(result.to_dict())
    elif fmt is Format.csv:
        emit_rows(["step", "type", "status", "error"], [(s.name, s.type, s.status, s.error) for s in result.steps], fmt)
    elif not st.quiet:
        rows = [
            (s.name, s.type, s.status, ", ".join(f"{k}={v}" for k, v in s.counts.items() if not isinstance(v, (list, dict))), s.error or "")
            for s in result.steps
        ]
        emit_rows(["step", "type", "status", "counts", "error"], rows, fmt, title=_('{pipeline} · {run_id} · {status}').format(pipeline=result.pipeline, run_id=result.run_id, status=result.status))
        if dry_run:
            from siyu_cli.push.render import print_due_preview

            for s in result.steps:
                if isinstance(s.counts.get("preview"), dict):
                    print_due_preview({"start": s.counts["window_start"], "end": s.counts["window_end"], **s.counts["preview"]})
    raise typer.Exit(result.exit_code)


def runs(
    ctx: typer.Context,
    pipeline: Optional[str] = typer.Option(None, "--pipeline", "-p", help=N_("Only this pipeline.")),
    run_id: Optional[str] = typer.Option(None, "--run", help=N_("One run, with its steps.")),
    limit: int = typer.Option(20, "--limit", help=N_("At most this many runs.")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json.")),
) -> None:
    """History of pipeline runs and their steps (newest first)."""
    from siyu_cli.runner import list_runs

    history = list_runs(settings(ctx), pipeline=pipeline, limit=limit, run_id=run_id)
    if fmt is Format.json:
        emit_json(history)
        return
    rows = []
    for r in history:
        took = (r["finished_at"] - r["started_at"]).total_seconds() if r["finished_at"] else None
        steps = " ".join(f"{s['step']}:{s['status']}" for s in r["steps"])
        rows.append((r["run_id"], r["pipeline"], r["status"], r["started_at"], f"{took:.1f}s" if took is not None else "", steps, r["error"] or ""))
    emit_rows(["run", "pipeline", "status", "started", "took", "steps", "error"], rows, fmt, title=_('siyu runs'))
