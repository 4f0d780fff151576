"""Pipelines: configuration, running, resuming, and the run history in the store."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from siyu_cli.errors import ConfigError, ExitCode, SiyuError, UsageError, explain_failure, is_interrupt
from siyu_cli.runner.model import Pipeline, RunResult, Step, StepResult  # noqa: F401 (re-exported)
from siyu_cli.i18n import _

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings
    from siyu_cli.runner.events import EventLog

#: Pipelines every workspace has unless siyu.toml redefines them.
DEFAULT_PIPELINES: dict[str, list[Any]] = {
    "nightly": ["load", "segment", "report"],
    "hourly": ["push_due"],
}


def _parse_step(pipeline: str, index: int, raw: Any, where: str) -> Step:
    from siyu_cli.runner.steps import STEP_TYPES

    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise ConfigError(_('{where}: pipelines.{pipeline}.steps[{index}] must be a step type or a table with `type`').format(where=where, pipeline=pipeline, index=index))
    options = dict(raw)
    step_type = options.pop("type")
    if step_type not in STEP_TYPES:
        import difflib

        close = difflib.get_close_matches(step_type, list(STEP_TYPES), n=1)
        hint = (_(" (did you mean `{name}`?)").format(name=close[0]) if close
                else _(" (known: {names})").format(names=", ".join(STEP_TYPES)))
        raise ConfigError(_('{where}: pipelines.{pipeline}.steps[{index}]: unknown step type {step_type!r}{hint}').format(where=where, pipeline=pipeline, index=index, step_type=step_type, hint=hint))
    name = str(options.pop("name", step_type))
    return Step(name=name, type=step_type, options=options)


def load_pipelines(settings: "Settings") -> dict[str, Pipeline]:
    """The workspace's pipelines: the defaults, overridden or extended by ``[pipelines.NAME]``."""
    where = str(settings.config_file)
    raw: dict[str, Any] = {name: {"steps": steps} for name, steps in DEFAULT_PIPELINES.items()}
    from siyu_cli.runner.wecom_steps import tags_enabled, wecom_configured

    if wecom_configured(settings):  # WeCom is the source of contacts: sync before segmenting, tags after
        nightly = list(raw["nightly"]["steps"])
        nightly.insert(nightly.index("segment"), "sync")
        if tags_enabled(settings):
            nightly.insert(nightly.index("segment") + 1, "tags")
        raw["nightly"] = {"steps": nightly}
    for name, table in settings.section("pipelines").items():
        if isinstance(table, list):  # pipelines.NAME = ["load", …]
            table = {"steps": table}
        if not isinstance(table, dict) or "steps" not in table:
            raise ConfigError(_('{where}: [pipelines.{name}] needs `steps = [...]`').format(where=where, name=name))
        unknown = set(table) - {"steps"}
        if unknown:
            raise ConfigError(_('{where}: unknown key pipelines.{name}.{value} (only `steps`)').format(where=where, name=name, value=sorted(unknown)[0]))
        raw[name] = table
    pipelines = {}
    for name, table in raw.items():
        steps_raw = table["steps"]
        if not isinstance(steps_raw, list) or not steps_raw:
            raise ConfigError(_('{where}: pipelines.{name}.steps must be a non-empty list').format(where=where, name=name))
        steps = [_parse_step(name, i, s, where) for i, s in enumerate(steps_raw)]
        names = [s.name for s in steps]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ConfigError(_('{where}: pipelines.{name}: two steps named {dup!r}; give one a `name`').format(where=where, name=name, dup=dup))
        pipelines[name] = Pipeline(name, steps)
    return pipelines


def get_pipeline(settings: "Settings", name: str) -> Pipeline:
    pipelines = load_pipelines(settings)
    if name not in pipelines:
        raise UsageError(_('no pipeline named {name!r} (known: {join}; define it under [pipelines.{name}])').format(name=name, join=', '.join(sorted(pipelines))))
    return pipelines[name]


# ---------------------------------------------------------------- history in the store


def _now() -> datetime:
    from siyu_cli import clock

    return clock.now()


def _record(settings: "Settings", sql: str, params: list[Any]) -> None:
    from siyu_cli.store import open_store

    with open_store(settings) as con:
        con.execute(sql, params)


def _mark_dead_runs(con, log: "EventLog") -> None:
    """Runs left 'running' by a process that died: we hold the lock, so none is alive."""
    dead = con.execute("SELECT run_id, pid FROM pipeline_runs WHERE status = 'running'").fetchall()
    for run_id, pid in dead:
        con.execute(
            "UPDATE pipeline_steps SET status = 'failed', finished_at = now(), error = 'interrupted: the process died' "
            "WHERE run_id = ? AND status = 'running'",
            [run_id],
        )
        con.execute(
            "UPDATE pipeline_runs SET status = 'interrupted', finished_at = now(), error = 'the process died (pid ' || ? || ')' "
            "WHERE run_id = ?",
            [str(pid), run_id],
        )
    for run_id, pid in dead:
        log.emit("run_interrupted_found", level="warning", message=f"run {run_id} (pid {pid}) died; resumable with --resume")


def _steps_done(con, run_id: str) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Steps of ``run_id``: (finished ones, directly or by the runs it resumed; the others that ran, partial or
    failed) → their counts. A partial or failed step is run again on resume, knowing what it left."""
    rows = con.execute("SELECT step, status, counts FROM pipeline_steps WHERE run_id = ?", [run_id]).fetchall()
    done, unfinished = {}, {}
    for step, status, counts in rows:
        (done if status in ("ok", "skipped") else unfinished)[step] = json.loads(counts) if counts else {}
    return done, unfinished


def _last_run(con, pipeline: str) -> tuple[str, str] | None:
    row = con.execute(
        "SELECT run_id, status FROM pipeline_runs WHERE pipeline = ? ORDER BY started_at DESC LIMIT 1", [pipeline]
    ).fetchone()
    return (row[0], row[1]) if row else None


def _begin(settings: "Settings", result: RunResult, resume: bool, log: "EventLog"):
    """One store session before the steps: mark dead runs, find the run to resume, record this run as running.

    Returns (done, unfinished) of the resumed run ({} {} for a fresh run), or None when there is nothing to
    resume (``result.status`` then says so and nothing is recorded)."""
    from siyu_cli.store import open_store

    done: dict[str, dict[str, Any]] = {}
    unfinished: dict[str, dict[str, Any]] = {}
    with open_store(settings) as con:
        _mark_dead_runs(con, log)
        if resume:
            last = _last_run(con, result.pipeline)
            if last is None or last[1] == "ok":
                log.emit("nothing_to_resume", message=f"nothing to resume: {'no earlier run' if last is None else f'last run {last[0]} succeeded'}")
                result.status = "nothing-to-resume"
                return None
            result.resumed_from = last[0]
            done, unfinished = _steps_done(con, result.resumed_from)
        result.started_at = _now()
        con.execute(
            "INSERT INTO pipeline_runs (run_id, pipeline, status, pid, host, started_at, resumed_from) VALUES (?, ?, 'running', ?, ?, ?, ?)",
            [result.run_id, result.pipeline, os.getpid(), socket.gethostname(), result.started_at, result.resumed_from],
        )
    return done, unfinished


def list_runs(settings: "Settings", *, pipeline: str | None = None, limit: int = 20, run_id: str | None = None) -> list[dict[str, Any]]:
    """Recent runs with their steps, newest first."""
    from siyu_cli.store import open_store

    where, params = [], []
    if pipeline:
        where.append("pipeline = ?")
        params.append(pipeline)
    if run_id:
        where.append("run_id = ?")
        params.append(run_id)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with open_store(settings, read_only=True) as con:
        runs = con.execute(
            f"SELECT run_id, pipeline, status, pid, started_at, finished_at, resumed_from, error FROM pipeline_runs {clause} "
            "ORDER BY started_at DESC LIMIT ?",
            [*params, limit],
        ).fetchall()
        out = []
        for run in runs:
            steps = con.execute(
                "SELECT step_index, step, type, status, started_at, finished_at, counts, error FROM pipeline_steps "
                "WHERE run_id = ? ORDER BY step_index",
                [run[0]],
            ).fetchall()
            out.append(
                {
                    "run_id": run[0],
                    "pipeline": run[1],
                    "status": run[2],
                    "pid": run[3],
                    "started_at": run[4],
                    "finished_at": run[5],
                    "resumed_from": run[6],
                    "error": run[7],
                    "steps": [
                        {
                            "index": s[0],
                            "step": s[1],
                            "type": s[2],
                            "status": s[3],
                            "started_at": s[4],
                            "finished_at": s[5],
                            "counts": json.loads(s[6]) if s[6] else {},
                            "error": s[7],
                        }
                        for s in steps
                    ],
                }
            )
    return out


# ---------------------------------------------------------------- running


def run_pipeline(
    settings: "Settings",
    name: str,
    *,
    resume: bool = False,
    lock_wait: float = 0.0,
    log: "EventLog | None" = None,
    dry_run: bool = False,
    alert: bool | None = None,
    now: datetime | None = None,
) -> RunResult:
    """Run (or resume) a pipeline under the workspace lock; record every step; alert on failure."""
    from siyu_cli.runner.events import EventLog
    from siyu_cli.runner.lock import RunLock, WorkspaceLocked

    log = log or EventLog(quiet=True, tz=settings.timezone)
    pipeline = get_pipeline(settings, name)
    run_id = f"{name}-{_now().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:4]}"
    log.bind(pipeline=name, run_id=run_id)

    if dry_run:
        return _dry_run(settings, pipeline, run_id, log, now)

    try:
        lock = RunLock(settings.root, name, wait=lock_wait).acquire()
    except WorkspaceLocked as exc:
        # log collectors see it too; people already get the error line
        log.emit("locked", level="error", message=exc.message, console=False)
        raise
    with lock:
        if lock.stale:
            log.emit("stale_lock", level="warning", message=f"took over a stale lock left by pid {lock.stale.pid}")
        result = RunResult(run_id=run_id, pipeline=name, status="running", total_steps=len(pipeline.steps))
        begun = _begin(settings, result, resume, log)
        if begun is None:
            return result
        done, unfinished = begun
        started, resumed_from = result.started_at, result.resumed_from
        log.emit("run_started", message=f"resuming {resumed_from}" if resumed_from else None)
        try:
            _run_steps(settings, result, pipeline, done, unfinished, log, now)
        except KeyboardInterrupt:
            result.status = "interrupted"
            _finish(settings, result, "interrupted by the user")
            log.emit("run_interrupted", level="error", message="interrupted; resume with --resume")
            raise
        failed, partial = result.failed_step, result.partial_steps
        result.status = "failed" if failed else "partial" if partial else "ok"
        error = failed.error if failed else "; ".join(f"{s.name}: {s.error}" for s in partial) if partial else None
        _finish(settings, result, error)
        log.emit(
            "run_finished",
            level="error" if failed else "warning" if partial else "info",
            status=result.status,
            message=(f"step {failed.name} failed: {failed.error}" if failed
                     else f"partial ({error}); the other steps ran" if partial else "ok"),
            seconds=(result.finished_at - started).total_seconds(),
        )
    from siyu_cli.runner.alerts import maybe_alert

    maybe_alert(settings, result, log, force=alert)
    return result


def _dry_run(settings: "Settings", pipeline: Pipeline, run_id: str, log: "EventLog", now: datetime | None) -> RunResult:
    """What each step would do, without the lock, the run history or any writes."""
    from siyu_cli.runner.steps import STEP_TYPES, StepContext

    result = RunResult(run_id=run_id, pipeline=pipeline.name, status="dry-run", total_steps=len(pipeline.steps))
    for i, step in enumerate(pipeline.steps):
        ctx = StepContext(settings=settings, run_id=run_id, step=step, log=log, dry_run=True, now=now)
        counts = STEP_TYPES[step.type](ctx)
        result.steps.append(StepResult(i, step.name, step.type, "planned", counts))
    return result


def _run_steps(settings: "Settings", result: RunResult, pipeline: Pipeline, done: dict[str, dict[str, Any]],
               unfinished: dict[str, dict[str, Any]], log: "EventLog", now: datetime | None) -> None:
    """Run the steps in order, stopping at a failed one; resuming, steps ``done`` before are skipped
    until the first that did not finish — from there every later step runs again."""
    run_id, resumed_from = result.run_id, result.resumed_from
    rerun = False
    for i, step in enumerate(pipeline.steps):
        if step.name in done and not rerun:
            sr = StepResult(i, step.name, step.type, "skipped", done[step.name])
            _record(
                settings,
                "INSERT INTO pipeline_steps VALUES (?, ?, ?, ?, 'skipped', ?, ?, ?, NULL)",
                [run_id, i, step.name, step.type, _now(), _now(), json.dumps(done[step.name], default=str)],
            )
            log.emit("step_skipped", step=step.name, message=f"done by {resumed_from}")
            result.steps.append(sr)
            continue
        rerun = True
        sr = _run_step(settings, run_id, i, step, log, now, previous=unfinished.get(step.name))
        result.steps.append(sr)
        if sr.status == "failed":
            break


def _finish(settings: "Settings", result: RunResult, error: str | None) -> None:
    result.finished_at = _now()
    _record(
        settings,
        "UPDATE pipeline_runs SET status = ?, finished_at = ?, error = ? WHERE run_id = ?",
        [result.status, result.finished_at, error, result.run_id],
    )


def _run_step(settings: "Settings", run_id: str, index: int, step: Step, log: "EventLog", now: datetime | None,
              previous: dict[str, Any] | None = None) -> StepResult:
    from siyu_cli.runner.steps import STEP_TYPES, StepContext
    from siyu_cli.secrets import redact

    started = _now()
    _record(
        settings,
        "INSERT INTO pipeline_steps (run_id, step_index, step, type, status, started_at) VALUES (?, ?, ?, ?, 'running', ?)",
        [run_id, index, step.name, step.type, started],
    )
    log.emit("step_started", step=step.name, type=step.type)
    t0 = time.monotonic()
    ctx = StepContext(settings=settings, run_id=run_id, step=step, log=log, dry_run=False, now=now, previous=previous)
    status, error, exit_code = "ok", None, 0
    try:
        try:
            counts = STEP_TYPES[step.type](ctx)
        except Exception as exc:  # DuckDB's "Query interrupted" is Ctrl-C; a full disk is not a bug
            if is_interrupt(exc):
                raise KeyboardInterrupt from exc
            raise explain_failure(exc, settings.store) or exc
    except SiyuError as exc:
        # safe_message: never the input's text (a header, a value) in the run history, log or alert
        status, error, exit_code, counts = "failed", redact(exc.safe_message), exc.exit_code, dict(ctx.counts)
    except KeyboardInterrupt:
        _record(
            settings,
            "UPDATE pipeline_steps SET status = 'failed', finished_at = ?, error = 'interrupted' WHERE run_id = ? AND step_index = ?",
            [_now(), run_id, index],
        )
        raise
    except Exception as exc:  # a step's bug must still be recorded and alerted, not crash the run
        # the type only: a bug's message may quote the data it choked on (the traceback is for `siyu run -v`)
        import logging

        logging.getLogger(__name__).debug("step %s crashed", step.name, exc_info=True)  # --verbose shows it
        status, error, exit_code, counts = "failed", f"internal error: {type(exc).__name__} (a bug in siyu; run again with --verbose)", ExitCode.FAILURE, dict(ctx.counts)
    if status == "ok" and ctx.failed_reason:
        status, error, exit_code = "failed", redact(ctx.failed_reason), ctx.failed_code
    elif status == "ok" and ctx.partial_reason:
        status, error, exit_code = "partial", redact(ctx.partial_reason), ExitCode.PARTIAL
    seconds = time.monotonic() - t0
    _record(
        settings,
        "UPDATE pipeline_steps SET status = ?, finished_at = ?, counts = ?, error = ? WHERE run_id = ? AND step_index = ?",
        [status, _now(), json.dumps(counts, default=str, ensure_ascii=False), error, run_id, index],
    )
    log.emit(
        {"ok": "step_finished", "partial": "step_partial"}.get(status, "step_failed"),
        level={"ok": "info", "partial": "warning"}.get(status, "error"),
        step=step.name,
        type=step.type,
        status=status,
        counts=counts,
        message=error,
        seconds=seconds,
    )
    return StepResult(index, step.name, step.type, status, counts, error, seconds, exit_code)
