"""The step types a pipeline can run. Each takes a :class:`StepContext` and returns counts.

A step raises a :class:`~siyu_cli.errors.SiyuError` (or calls ``ctx.fail``
after finishing what it could) to fail; the runner records it and stops the
pipeline there, so ``--resume`` starts again at this step. ``ctx.partial``
marks a step that did its work with something to look at (a file's rejects
over the threshold, a file left unloaded): the pipeline goes on, the run ends
``partial`` (exit 3) and ``--resume`` runs that step again.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from siyu_cli.errors import ConfigError, DataError, ExitCode, SiyuError, StoreBusy, explain_failure, is_interrupt
from siyu_cli.runner.model import StepContext
from siyu_cli.runner.wecom_steps import step_sync, step_tags  # WeCom sync and tag write-back
from siyu_cli.i18n import _

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings


_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")


def parse_duration(text: str | int, what: str) -> timedelta:
    """``90m``, ``1h``, ``7d``, ``2w`` (or seconds as a number)."""
    if isinstance(text, (int, float)):
        return timedelta(seconds=text)
    m = _DURATION.match(str(text))
    if not m:
        raise ConfigError(_('{what}: {text!r} is not a duration like 90m, 1h, 7d or 2w').format(what=what, text=text))
    n, unit = int(m.group(1)), m.group(2)
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]


# ---------------------------------------------------------------- load

#: Which kind a file in the inbox is, by glob on its path relative to the inbox (first match wins,
#: kinds tried in this order: group files are often named "客户群…", orders "…订单…").
DEFAULT_GLOBS: dict[str, list[str]] = {
    "groups": ["groups/*", "*group*", "*群*"],
    "orders": ["orders/*", "*order*", "*订单*", "*交易*"],
    "members": ["members/*", "*member*", "*customer*", "*会员*", "*客户*", "*粉丝*"],
}
LOADABLE = {".csv", ".tsv", ".txt", ".xlsx", ".xls", ".parquet"}
SKIP_DIRS = {"done", "failed"}


#: why an inbox entry is not loaded (stable codes: the JSON log, `siyu runs`, the alert)
REFUSALS = {
    "symlink": "a symbolic link (siyu loads only files physically in the inbox)",
    "not_regular_file": "not a regular file (a fifo, device or socket)",
    "hard_link": "a hard link to a file elsewhere (copy the export into the inbox instead)",
    "outside_inbox": "resolves outside the inbox",
}


def refusal(inbox: Path, path: Path) -> str | None:
    """Why ``path`` (under ``inbox``) must not be loaded, as a code from :data:`REFUSALS`; None when it may.

    Checked without following links (lstat), for the file and every folder between it and the inbox.
    """
    import os
    import stat

    rel = path.relative_to(inbox)
    here = inbox
    for part in rel.parts:
        here = here / part
        try:
            st = os.lstat(here)
        except OSError:
            return "not_regular_file"
        if stat.S_ISLNK(st.st_mode):
            return "symlink"
    if not stat.S_ISREG(st.st_mode):
        return "not_regular_file"
    if st.st_nlink > 1:
        return "hard_link"
    real_inbox = os.path.realpath(inbox)
    if os.path.commonpath([real_inbox, os.path.realpath(path)]) != real_inbox:
        return "outside_inbox"
    return None


@dataclass
class InboxScan:
    matched: list[tuple[str, Path]] = field(default_factory=list)  # (kind, file), oldest first
    unmatched: list[Path] = field(default_factory=list)  # no glob says what it holds
    refused: list[tuple[Path, str]] = field(default_factory=list)  # (entry, REFUSALS code): never opened


def scan_inbox(inbox: Path, globs: dict[str, list[str]]) -> InboxScan:
    """What the inbox holds: files to load by kind, files no glob claims, and entries refused unread.

    The walk never follows a symbolic link (a link to /etc/shadow or to another folder is refused, not read).
    """
    import os

    scan = InboxScan()
    if not inbox.is_dir():
        return scan
    candidates: list[Path] = []
    for folder, dirs, names in os.walk(inbox, followlinks=False):
        here = Path(folder)
        rel_dir = here.relative_to(inbox).parts
        if set(rel_dir) & SKIP_DIRS:
            dirs[:] = []
            continue
        for d in list(dirs):
            if (here / d).is_symlink():
                dirs.remove(d)
                scan.refused.append((here / d, "symlink"))
        for name in names:
            path = here / name
            if name.startswith(".") or path.suffix.lower() not in LOADABLE:
                continue
            why = refusal(inbox, path)
            if why:
                scan.refused.append((path, why))
            else:
                candidates.append(path)
    candidates.sort(key=lambda p: (p.stat().st_mtime, str(p)))
    for path in candidates:
        rel = path.relative_to(inbox).as_posix().lower()
        kind = next(
            (k for k, patterns in globs.items() if any(fnmatch.fnmatch(rel, pat.lower()) for pat in patterns)),
            None,
        )
        if kind is None:
            scan.unmatched.append(path)
        else:
            scan.matched.append((kind, path))
    return scan


def inbox_files(inbox: Path, globs: dict[str, list[str]]) -> tuple[list[tuple[str, Path]], list[Path]]:
    """(kind, file) pairs to load, oldest first, and the files no glob claims (refused entries left out)."""
    scan = scan_inbox(inbox, globs)
    return scan.matched, scan.unmatched


def _move(path: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    n = 1
    while target.exists():
        target = folder / f"{path.stem}.{n}{path.suffix}"
        n += 1
    shutil.move(str(path), target)
    return target


#: nightly thresholds per file (``[load] max_reject_ratio`` / ``max_rejects``, or the step's own options):
#: a file whose bad rows (rejects other than SUMMARY_ROW) exceed either is loaded but marks the step partial
DEFAULT_MAX_REJECT_RATIO = 0.01
NIGHTLY_MAX_REJECTS = 1000  # the absolute cap when neither the step nor [load] sets max_rejects


def reject_limits(ctx: StepContext) -> tuple[float, int]:
    """(ratio, cap) for one file of this load step: step options, then ``[load]``, then the defaults."""
    cfg = ctx.settings.section("load")
    where = ctx.settings.config_file
    ratio = ctx.option("max_reject_ratio", cfg.get("max_reject_ratio", DEFAULT_MAX_REJECT_RATIO))
    cap = ctx.option("max_rejects", cfg.get("max_rejects", NIGHTLY_MAX_REJECTS))
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
        raise ConfigError(_('{where}: load.max_reject_ratio must be a number from 0 to 1 (0.01 = 1 %)').format(where=where))
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 0:
        raise ConfigError(_('{where}: load.max_rejects must be a whole number ≥ 0').format(where=where))
    return float(ratio), cap


def reasons_text(reasons: dict[str, int]) -> str:
    """``BAD_AMOUNT×1, SUMMARY_ROW×1``: reason codes and counts, never a row's text."""
    return ", ".join(f"{r}×{n}" for r, n in sorted(reasons.items()))


def _issue(problem: str, path: Path, inbox: Path, **fields: Any) -> dict[str, Any]:
    """One thing the operator must look at (file name relative to the inbox, codes and counts only)."""
    try:
        name = path.relative_to(inbox).as_posix()
    except ValueError:
        name = path.name
    return {"problem": problem, "file": name, **fields}


def step_load(ctx: StepContext) -> dict[str, Any]:
    """Load every new export in the inbox; move each to done/DATE/, or to failed/ (with a .error.txt) when
    nothing of it could be loaded. Rejects over the per-file threshold, files left in place and files
    still in failed/ from the run being resumed make the step partial: the pipeline goes on, exit 3."""
    settings = ctx.settings
    inbox = settings.path(ctx.option("inbox") or settings.section("load").get("inbox") or "inbox")
    globs = ctx.option("globs") or DEFAULT_GLOBS
    unknown = set(globs) - set(DEFAULT_GLOBS)
    if unknown:
        raise ConfigError(_('{config_file}: load step globs: unknown kind {value!r} (members, orders, groups)').format(config_file=settings.config_file, value=sorted(unknown)[0]))
    ratio, cap = reject_limits(ctx)
    scan = scan_inbox(inbox, globs)
    files, unmatched = list(scan.matched), scan.unmatched
    issues: list[dict[str, Any]] = []
    counts = ctx.counts
    counts.update(inbox=str(inbox), files=len(files), unmatched=len(unmatched), refused=len(scan.refused))
    by_header = _classify_unmatched(ctx, inbox, scan, files, issues)
    counts.update(files=len(files), classified=by_header, unmatched=len(unmatched) - by_header)
    if ctx.dry_run:
        counts["would_load"] = [f"{kind}: {p.relative_to(inbox)}" for kind, p in files]
        return counts
    from siyu_cli.ingest import load_files

    _still_failed(ctx, inbox, issues)
    day = ctx.local_now().date().isoformat()
    totals = dict(loaded=0, failed=0, read=0, inserted=0, updated=0, unchanged=0, merged=0, rejected=0, erased=0)
    for kind, path in files:
        why = refusal(inbox, path)  # again, just before reading: it may have been swapped for a link since
        if why:
            ctx.log.emit("inbox_refused", level="warning", step=ctx.step.name, reason=why,
                         message=f"{path.relative_to(inbox)}: not loaded: {REFUSALS[why]}; left in place")
            counts["refused"] = counts.get("refused", 0) + 1
            issues.append(_issue("refused", path, inbox, reason=why))
            continue
        fr = None
        try:
            report = load_files(settings, kind, [path], preset=ctx.option("preset", "auto"), max_rejects=cap)
        except StoreBusy:
            raise  # temporary: leave the file for the retry
        except SiyuError as exc:
            error = exc.safe_message  # words, codes and line numbers: never the file's own text
        except Exception as exc:  # a bug: park the file (its text stays out of the error) and go on
            if is_interrupt(exc) or explain_failure(exc) is not None:
                raise
            error = (f"internal error {type(exc).__name__} (a bug in siyu); "
                     "run `siyu --verbose load` on this file by hand to see it")
        else:
            fr = report.files[0]
            for key in ("read", "inserted", "updated", "unchanged", "merged", "rejected", "erased"):
                totals[key] += getattr(fr, key)
            error = None
            stored = fr.inserted + fr.updated + fr.unchanged + fr.merged
            if fr.status == "loaded" and fr.bad and stored == 0:
                error = (f"all {fr.bad} data row(s) rejected ({reasons_text(fr.reasons)}); "
                         "the rows are in `siyu rejects`")
        if error is None:
            _move(path, inbox / "done" / day)
            totals["loaded"] += 1
            ctx.log.emit("file_loaded", step=ctx.step.name, message=f"{kind}: {path.name}")
            if fr is not None and fr.bad and (fr.bad > cap or fr.bad > ratio * fr.read):
                issues.append(_issue("rejects", path, inbox, kind=kind, read=fr.read, rejected=fr.rejected, bad=fr.bad,
                                     reasons=fr.reasons))
                ctx.log.emit("file_rejects", level="warning", step=ctx.step.name,
                             message=f"{kind}: {path.name}: {fr.bad} of {fr.read} rows rejected "
                                     f"({reasons_text(fr.reasons)}), over max_reject_ratio {ratio:g} / max_rejects "
                                     f"{cap}; the rest loaded — see `siyu rejects`")
            elif fr is not None and fr.rejected:
                ctx.log.emit("file_rejects", step=ctx.step.name,
                             message=f"{kind}: {path.name}: {fr.rejected} row(s) skipped ({reasons_text(fr.reasons)})")
        else:
            _park_failed(ctx, inbox, kind, path, error, fr, issues)
            totals["failed"] += 1
        counts.update(totals)
    counts.update(totals)
    if issues:
        counts["issues"] = issues
        ctx.partial(load_issues_line(issues, inbox))
    return counts


def _classify_unmatched(ctx: StepContext, inbox: Path, scan: "InboxScan", files: list[tuple[str, Path]],
                        issues: list[dict[str, Any]]) -> int:
    """Files no glob claims join ``files`` when their header says what they hold (returns how many);
    the others, and the refused ones, become issues and stay in the inbox."""
    from siyu_cli.ingest import classify_file

    by_header = 0
    for path in scan.unmatched:
        kind = classify_file(ctx.settings, path)
        if kind is not None:  # no glob claims it, but its header says what it holds
            files.append((kind, path))
            by_header += 1
            ctx.log.emit("inbox_classified", step=ctx.step.name, kind=kind,
                         message=f"{path.name}: no glob matches its name; its header says {kind}")
            continue
        issues.append(_issue("unrecognised", path, inbox))
        ctx.log.emit("inbox_unmatched", level="warning", step=ctx.step.name,
                     message=f"{path.name}: neither a glob nor its header says whether it holds members, orders or "
                             "groups; left in place")
    for path, why in scan.refused:
        issues.append(_issue("refused", path, inbox, reason=why))
        ctx.log.emit("inbox_refused", level="warning", step=ctx.step.name, reason=why,
                     message=f"{path.relative_to(inbox)}: not loaded: {REFUSALS[why]}; left in place")
    return by_header


def _still_failed(ctx: StepContext, inbox: Path, issues: list[dict[str, Any]]) -> None:
    """Resuming: files the resumed run moved to failed/ and nobody has taken out since are still not loaded."""
    for old in (ctx.previous or {}).get("issues", []):
        moved = old.get("moved")
        if old.get("problem") in ("failed", "still_failed") and moved and (inbox / moved).is_file():
            issues.append({**old, "problem": "still_failed"})
            ctx.log.emit("file_still_failed", level="warning", step=ctx.step.name,
                         message=f"{old.get('file')}: still in {inbox / 'failed'} from the resumed run")


def _park_failed(ctx: StepContext, inbox: Path, kind: str, path: Path, error: str, fr: Any,
                 issues: list[dict[str, Any]]) -> None:
    """Move a file nothing of which loaded to failed/ with NAME.error.txt (masked), owner-only, and record it."""
    from siyu_cli.privacy import chmod_private, mask_text, write_private

    moved = _move(path, inbox / "failed")
    # a failed export keeps its personal data: the owner's only, like the store
    chmod_private(moved.parent)
    chmod_private(moved)
    write_private(moved.with_name(moved.name + ".error.txt"), mask_text(error) + "\n")
    extra = {"read": fr.read, "rejected": fr.rejected, "reasons": fr.reasons} if fr is not None else {}
    issues.append(_issue("failed", path, inbox, kind=kind, error=error,
                         moved=moved.relative_to(inbox).as_posix(), **extra))
    ctx.log.emit("file_failed", level="error", step=ctx.step.name, message=f"{kind}: {path.name}: {error}")


def load_issues_line(issues: list[dict[str, Any]], inbox: Path) -> str:
    """The step's one-line error: how many files need a look, and the first one (names and codes only)."""
    order = ("failed", "rejects", "still_failed", "unrecognised", "refused")
    first = min(issues, key=lambda i: order.index(i["problem"]) if i["problem"] in order else len(order))
    what = {
        "rejects": lambda i: f"{i['bad']} of {i['read']} rows rejected ({reasons_text(i['reasons'])}), the rest loaded",
        "failed": lambda i: f"not loaded ({i['error']}); moved to {inbox / 'failed'}",
        "still_failed": lambda i: f"still in {inbox / 'failed'} from the resumed run",
        "unrecognised": lambda i: "left in the inbox: neither its name nor its header says what it holds",
        "refused": lambda i: f"left in the inbox: {REFUSALS.get(i.get('reason'), i.get('reason'))}",
    }[first["problem"]](first)
    more = _(" (+{count} more)").format(count=len(issues) - 1) if len(issues) > 1 else ""
    return f"{len(issues)} file(s) need a look: {first['file']}: {what}{more}"


# ---------------------------------------------------------------- segment


def step_segment(ctx: StepContext) -> dict[str, Any]:
    """Take today's RFM snapshot (options go to ``run_segment``: scheme, window, …)."""
    options = dict(ctx.step.options)
    scheme = options.pop("scheme", None)  # None: [segment].scheme in siyu.toml, else rfm8
    if ctx.dry_run:
        return {"scheme": scheme or ctx.settings.section("segment").get("scheme", "rfm8"), **options}
    from siyu_cli.segment import run_segment

    run = run_segment(ctx.settings, scheme=scheme, **options)
    counts = {"scheme": run.scheme, "snapshot_id": run.snapshot_id, "members": run.members, "buyers": run.buyers}
    if run.pruned:  # [segment] keep_snapshots removed older snapshots of this scheme
        counts["pruned_snapshots"] = list(run.pruned)
    return counts


# ---------------------------------------------------------------- report


def step_report(ctx: StepContext) -> dict[str, Any]:
    """Write the KPI report as HTML (``output`` may use {date}); also reports/latest.html."""
    today = ctx.local_now().date()
    output = ctx.settings.path(str(ctx.option("output", "reports/report-{date}.html")).format(date=today.isoformat()))
    days = ctx.option("days")
    date_from = today - parse_duration(f"{days}d" if isinstance(days, int) else days, "report step days") if days else None
    if ctx.dry_run:
        return {"html": str(output), "from": date_from}
    from siyu_cli.report import build_report, write_html

    report = build_report(ctx.settings, date_from=date_from, date_to=today if date_from else None)
    write_html(report, output)
    latest = output.parent / "latest.html"
    if latest != output:
        shutil.copyfile(output, latest)
    return {"html": str(output)}


# ---------------------------------------------------------------- push what is due


def last_push_window_end(settings: "Settings") -> datetime | None:
    """Where the last successful push_due step stopped (any pipeline)."""
    from siyu_cli.store import open_store

    with open_store(settings, read_only=True) as con:
        rows = con.execute(
            "SELECT counts FROM pipeline_steps WHERE type = 'push_due' AND status = 'ok' AND counts IS NOT NULL"
        ).fetchall()
    ends = []
    for (counts,) in rows:
        value = json.loads(counts).get("window_end")
        if value:
            ends.append(datetime.fromisoformat(value))
    return max(ends) if ends else None


def push_window(ctx: StepContext) -> tuple[datetime, datetime, datetime | None]:
    """[start, end) to push: from where the last run stopped (catching up a missed window) to now.

    Returns (start, end, skipped_before): when the machine was off longer than
    ``max_catchup`` (default 24h), what was due before that is reported, not sent late.
    """
    end = ctx.local_now()
    first = parse_duration(ctx.option("first_window", "1h"), "push_due first_window")
    max_catchup = parse_duration(ctx.option("max_catchup", "24h"), "push_due max_catchup")
    last = last_push_window_end(ctx.settings)
    start = last.astimezone(end.tzinfo) if last else end - first
    skipped_before = None
    if start < end - max_catchup:
        skipped_before, start = start, end - max_catchup
    if start > end:
        start = end
    return start, end, skipped_before


def step_push_due(ctx: StepContext) -> dict[str, Any]:
    """Push the plan slots and SOP steps due since the last run (idempotent per message key)."""
    start, end, skipped_before = push_window(ctx)
    counts = ctx.counts
    counts.update(window_start=start.isoformat(), window_end=end.isoformat())
    if skipped_before is not None:
        counts["not_caught_up_from"] = skipped_before.isoformat()
        ctx.log.emit(
            "catchup_limited",
            level="warning",
            step=ctx.step.name,
            message=f"last push window ended {skipped_before:%Y-%m-%d %H:%M}; only the last max_catchup is pushed",
        )
    playbooks = ctx.option("playbooks")
    playbook_paths = [ctx.settings.path(p) for p in playbooks] if playbooks else None
    from siyu_cli.push import push_due

    report = push_due(ctx.settings, start, end, playbooks=playbook_paths, send=True, now=end, dry_run=ctx.dry_run)
    data = report.to_dict()
    counts.update({k: v for k, v in data.items() if not isinstance(v, (list, dict))})
    counts["inactive"] = len(report.inactive)
    if ctx.dry_run:
        # what would go, per playbook and step, and what is held back (`siyu run … --dry-run` prints it)
        counts["would_send"] = sum(1 for i in report.items if i["outcome"] == "would_send")
        counts["preview"] = {k: data[k] for k in ("steps", "inactive", "items")}
        return counts
    failed = getattr(report, "failed", 0) or 0
    if failed:
        ctx.fail(f"{failed} due messages failed to send; run `siyu push list` for details", ExitCode.PARTIAL)
    return counts


# ---------------------------------------------------------------- sql


def step_sql(ctx: StepContext) -> dict[str, Any]:
    """Run SQL statements against the store (e.g. a COPY … TO for a nightly export)."""
    sql = ctx.option("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise ConfigError(_('{config_file}: sql step {name!r} needs `sql = "..."`').format(config_file=ctx.settings.config_file, name=ctx.step.name))
    if ctx.dry_run:
        return {"sql": sql}
    import duckdb

    from siyu_cli.store import open_store

    with open_store(ctx.settings) as con:
        try:
            cur = con.execute(sql)
            rows = cur.fetchall() if cur.description else []
        except duckdb.Error as exc:
            raise DataError(_('sql step {name!r}: {value}').format(name=ctx.step.name, value=str(exc).splitlines()[0])) from None
    return {"rows": len(rows)}


STEP_TYPES: dict[str, Callable[[StepContext], dict[str, Any]]] = {
    "load": step_load,
    "segment": step_segment,
    "report": step_report,
    "push_due": step_push_due,
    "sql": step_sql,
    "sync": step_sync,
    "tags": step_tags,
}

__all__ = ["STEP_TYPES", "StepContext", "DEFAULT_GLOBS", "REFUSALS", "inbox_files", "scan_inbox", "parse_duration", "push_window"]
