"""``siyu load members|orders|groups FILE...`` and ``siyu rejects`` (thin: the work is in siyu_cli.ingest)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from siyu_cli.cli.options import TABLE_CSV_JSON, format_option

from siyu_cli.i18n import N_, _, ngettext

from siyu_cli.cli.context import settings
from siyu_cli.output import Format, emit_json, emit_rows, info, warn


#: the load summary's columns and statuses as the table shows them (the keys stay English in csv/json)
TABLE_WORDS = (N_("file"), N_("preset"), N_("encoding"), N_("status"), N_("read"), N_("inserted"), N_("updated"),
               N_("unchanged"), N_("merged"), N_("rejected"), N_("erased"), N_("total"), N_("loaded"), N_("skipped"),
               N_("failed"), N_("dry run"), N_("batch_id"), N_("line"), N_("column"), N_("reason"), N_("message"),
               N_("raw"))


class Kind(str, Enum):
    members = "members"
    orders = "orders"
    groups = "groups"


def register(app: typer.Typer) -> None:
    app.command("load")(load)
    app.command("rejects")(rejects)


def load(
    ctx: typer.Context,
    kind: Kind = typer.Argument(..., help=N_("What the files hold: members, orders or groups (group lists or group-member lists).")),
    files: Optional[List[str]] = typer.Argument(None, help=N_("Export files or globs (CSV/TSV, XLSX, Parquet).")),
    preset: str = typer.Option("auto", "--preset", "-p", help=N_("auto (recognise by header), a built-in preset (see docs/load.md) or a custom mapping NAME from mappings.NAME in siyu.toml.")),
    encoding: Optional[str] = typer.Option(None, "--encoding", "-e", help=N_("Force the text encoding (utf-8, gbk, gb18030, utf-16); default: detected.")),
    source: Optional[str] = typer.Option(None, "--source", help=N_("Source name stored with the rows (default: the preset's platform).")),
    max_rejects: Optional[int] = typer.Option(None, "--max-rejects", min=0, help=N_("Exit 65 when more rows than this are rejected, not counting summary/total rows (default: load.max_rejects in siyu.toml, else 0). The nightly load uses a ratio instead: docs/operations.md.")),
    force: bool = typer.Option(False, "--force", help=N_("Load a file again even if the same content (sha256) was loaded before.")),
    show_mapping: bool = typer.Option(False, "--show-mapping", help=N_("Print the preset and column mapping that would be used, then stop.")),
    dry_run: bool = typer.Option(False, "--dry-run", help=N_("Do the whole load, report its counts and rejects, then roll it back: nothing is written. Same exit codes as a load.")),
    unmask: bool = typer.Option(False, "--unmask", help=N_("With --dry-run: show phone numbers in the rejects' raw text in full.")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json.")),
) -> None:
    """Load back-office exports into the store; every row is stored or listed in `siyu rejects`."""
    from siyu_cli import ingest
    from siyu_cli.output import progress_enabled

    s = settings(ctx)
    if show_mapping:
        paths = ingest.expand_paths(files) if files else []
        result = ingest.show_mapping(s, kind.value, paths, preset=preset, encoding=encoding)
        _print_mapping(result, fmt)
        return
    if not files:
        raise typer.BadParameter("give at least one FILE (or --show-mapping)", param_hint="FILES")
    if unmask and not dry_run:
        from siyu_cli.errors import UsageError

        raise UsageError(_("--unmask applies to --dry-run's rejects (for stored rejects: siyu rejects --unmask)"))
    paths = ingest.expand_paths(files)
    report = ingest.load_files(s, kind.value, paths, preset=preset, encoding=encoding, source=source,
                               max_rejects=max_rejects, force=force, progress=progress_enabled(), dry_run=dry_run)
    for fr in report.files:
        for w in fr.warnings:
            warn(_('{path}: {w}').format(path=fr.path, w=w))
        if fr.status == "skipped":
            info(_('{path}: skipped, {message}').format(path=fr.path, message=fr.message))
    if dry_run and not unmask:
        _mask_rejects(report)
    if unmask:
        from siyu_cli.output import unmask as show_in_full

        show_in_full()
    if fmt is Format.json:
        emit_json(report.to_dict())
    else:
        cols, rows = _summary_rows(report, fmt)
        title = (_("siyu load {kind} (dry run)") if dry_run else _("siyu load {kind}")).format(kind=kind.value)
        emit_rows(cols, rows, fmt, title=title, drop=(_("encoding"), _("preset")) if fmt is Format.table else ())
        if dry_run and fmt is Format.table:
            _print_dry_rejects(report)
    _say_rejected(report, fmt, dry_run)
    ingest.check_exceeded(report)


def _summary_rows(report, fmt: Format) -> tuple[list[str], list[list]]:
    """The load summary, a row per file (and a total row in a table of several), columns as the format wants them."""
    cols = ["file", "preset", "encoding", "status", "read", "inserted", "updated", "unchanged", "merged", "rejected"]
    rows = [[f.path, f.preset, f.encoding or f.format, f.status, f.read, f.inserted, f.updated, f.unchanged, f.merged,
             f.rejected] for f in report.files]
    if fmt is Format.table and len(rows) > 1:
        rows.append(["total", "", "", "", report.read, report.inserted, report.updated, report.unchanged, report.merged,
                     report.rejected])
    # shown only when there are any: rows naming people `siyu forget` erased (skipped), existing members a
    # row linked and merged into another (the store holds that many fewer), links not merged (guardrails)
    for extra in ("erased", "members_merged", "identity_conflicts"):
        if getattr(report, extra):
            cols.append(extra)
            for row, f in zip(rows, [*report.files, report]):
                row.append(getattr(f, extra))
    if fmt is Format.table:  # headers for people; csv/json keep the stable English keys
        cols = [_(c) for c in cols]
        rows = [[_(v) if isinstance(v, str) and (i == 3 or (i == 0 and n >= len(report.files))) else v
                 for i, v in enumerate(row)] for n, row in enumerate(rows)]  # status; the total row's label
    return cols, rows


def _say_rejected(report, fmt: Format, dry_run: bool) -> None:
    """The closing line on stderr: how many rows were (or would be) rejected and where to see them."""
    if dry_run:
        warn(_('dry run — nothing was written'))
        if report.rejected:
            info(ngettext("{count} row would be rejected", "{count} rows would be rejected", report.rejected).format(
                count=report.rejected) + ("" if fmt is Format.table else _(" — `--format json` lists them")))
    elif report.rejected:
        summary = report.rejected - report.bad
        if summary:
            info(ngettext("{count} row rejected ({summary} of them summary/total rows, skipped) — see `siyu rejects`",
                          "{count} rows rejected ({summary} of them summary/total rows, skipped) — see `siyu rejects`",
                          report.rejected).format(count=report.rejected, summary=summary))
        else:
            info(ngettext("{count} row rejected — see `siyu rejects`", "{count} rows rejected — see `siyu rejects`",
                          report.rejected).format(count=report.rejected))


DRY_REJECTS_SHOWN = 50  # rejects in a dry run's table (JSON has up to DRY_RUN_REJECTS per file)


def _mask_rejects(report) -> None:
    from siyu_cli.output import mask_phones_in_text

    for fr in report.files:
        for r in fr.rejects or []:
            for k in ("raw", "message"):
                if isinstance(r.get(k), str):
                    r[k] = mask_phones_in_text(r[k])


def _print_dry_rejects(report) -> None:
    from siyu_cli.ingest.rejects import readable_message

    rows = [[r["file"], r["line"], r["column"], r["reason"], readable_message(r["reason"], r["message"]), r["raw"]]
            for fr in report.files for r in fr.rejects or []]
    total = sum(fr.rejects_total or 0 for fr in report.files)
    if not total:
        return
    emit_rows([_(c) for c in ("file", "line", "column", "reason", "message", "raw")], rows[:DRY_REJECTS_SHOWN], Format.table,
              title=_('rejects (first {min} of {total})').format(min=min(len(rows), DRY_REJECTS_SHOWN), total=total), drop=(_("raw"),))
    if total > DRY_REJECTS_SHOWN:
        info(_('{value} more reject(s) not shown — `--format json` lists up to 1000 per file').format(value=total - DRY_REJECTS_SHOWN))


def _print_mapping(result: list[dict], fmt: Format) -> None:
    if fmt is Format.json:
        emit_json(result)
        return
    rows = []
    for item in result:
        head = item["file"] or "(preset)"
        for fld, col in item["columns"].items():
            rows.append([head, item["preset"], fld, col])
        for raw, canon in (item.get("statuses") or {}).items():
            rows.append([head, item["preset"], f"status {raw}", canon])
    emit_rows(["file", "preset", "siyu field", "file column"], rows, fmt, title=_('column mapping'))
    for item in result:
        if item.get("file"):
            info(_('{value}: preset {value2} ({value3}), {value4}{value5}, header on line {value6}').format(value=item['file'], value2=item['preset'], value3=item['title'], value4=item['format'], value5=', ' + item['encoding'] if item.get('encoding') else '', value6=item['header_line']))
            if item.get("unused"):
                info(_('  columns not used: {join}').format(join=', '.join(item['unused'])))


def rejects(
    ctx: typer.Context,
    batch: Optional[str] = typer.Option(None, "--batch", help=N_("Only this batch (see load_log).")),
    file: Optional[str] = typer.Option(None, "--file", help=N_("Only files whose path contains this text.")),
    all_batches: bool = typer.Option(False, "--all", help=N_("Rejects of every load, not only each file's latest.")),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help=N_("Show at most this many.")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json.")),
    unmask: bool = typer.Option(False, "--unmask", help=N_("Show phone numbers in the raw text in full.")),
) -> None:
    """List rejected rows: file, line, column, reason and the raw text (phones masked unless --unmask)."""
    from siyu_cli.ingest import list_rejects
    from siyu_cli.output import mask_rows, unmask as show_in_full

    show_in_full(unmask)
    cols, rows = list_rejects(settings(ctx), batch=batch, file=file, all_batches=all_batches, limit=limit)
    shown = [_(c) for c in cols] if fmt is Format.table else cols  # csv/json keep the English keys
    if fmt is Format.table:  # people read the message in their language; csv/json keep the stored English
        from siyu_cli.ingest.rejects import readable_rows

        rows = readable_rows(cols, rows)
    emit_rows(shown, rows if unmask else mask_rows(rows), fmt, title=_('rejects ({len})').format(len=len(rows)),
              drop=(_("batch_id"), _("raw")) if fmt is Format.table else ())
