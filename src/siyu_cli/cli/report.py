"""``siyu report``: the KPI report (terminal dashboard, json/csv, offline HTML) and ``siyu report traffic``."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Optional

import typer

from siyu_cli.cli.options import TABLE_CSV_JSON, format_option, default_command_group

from siyu_cli.i18n import N_, _

from siyu_cli.cli.context import settings
from siyu_cli.output import Format

report_app = default_command_group(N_("KPI report: 会员占比, 在线率, 复购率, 客单价, RFM mix, cohorts, leaderboards, campaigns."))


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")


def _date(value: Optional[str], flag: str) -> Optional[date]:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        from siyu_cli.errors import UsageError

        raise UsageError(_('{flag} {value!r}: use a date like 2026-03-31').format(flag=flag, value=value)) from None


@report_app.callback()
def report(
    ctx: typer.Context,
    date_from: Optional[str] = typer.Option(None, "--from", help=N_("First day (YYYY-MM-DD). Default: report.period_days (365) days before --to.")),
    date_to: Optional[str] = typer.Option(None, "--to", help=N_("Last day, included (YYYY-MM-DD). Default: today.")),
    by: Optional[str] = typer.Option(None, "--by", help=N_("Also split the base KPIs by store, guide, channel or month.")),
    html: Optional[Path] = typer.Option(None, "--html", help=N_("Write a self-contained offline HTML page to this file.")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table (dashboard), json or csv.")),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help=N_("Write json/csv to this file instead of stdout.")),
    bom: bool = typer.Option(False, "--bom", help=N_("Start CSV with a UTF-8 BOM so Excel shows Chinese correctly.")),
) -> None:
    """Compute the private-domain KPIs for a period (definitions: docs/report.md)."""
    if ctx.invoked_subcommand is not None:
        return
    from siyu_cli.errors import UsageError
    from siyu_cli.output import emit_json, emit_rows, info
    from siyu_cli.report import build_report, write_html

    if output is not None and fmt is Format.table:
        raise UsageError(_('--output needs --format csv or json'))
    from siyu_cli import progress

    with progress.bar(_("computing the report")) as tick:
        rep = build_report(settings(ctx), date_from=_date(date_from, "--from"), date_to=_date(date_to, "--to"), by=by,
                           progress=tick)
    if html is not None:
        path = write_html(rep, html)
        info(_('wrote {path}').format(path=path))
    if fmt is Format.json:
        emit_json(rep.to_dict(), output)
    elif fmt is Format.csv:
        columns, rows = rep.rows()
        emit_rows(columns, rows, fmt, bom=bom, output=output)
    elif html is None or not _quiet(ctx):
        from siyu_cli.report.terminal import render

        render(rep)


def _quiet(ctx: typer.Context) -> bool:
    from siyu_cli.cli.context import state

    return state(ctx).quiet


@report_app.command("traffic")
def traffic(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help=N_("CSV with store, date (2026-03-01 or 2026-03), customers (门店,日期,客流 also work).")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json.")),
) -> None:
    """Load store traffic (进店客数) so the report can show 加粉率 per store."""
    from siyu_cli.output import emit_json, emit_rows
    from siyu_cli.report import load_traffic

    result = load_traffic(settings(ctx), file)
    if fmt is Format.json:
        emit_json(result.to_dict())
    else:
        d = result.to_dict()
        emit_rows(list(d), [list(d.values())], fmt, title=_('store traffic loaded'))
