"""``siyu clv``: fit BG/NBD + Gamma-Gamma on the store's purchases and store per-member P(alive) and CLV."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from siyu_cli.cli.options import TABLE_CSV_JSON, format_option, default_command_group

from siyu_cli.i18n import N_, _

from siyu_cli.cli.context import settings
from siyu_cli.output import Format

clv_app = default_command_group(N_("Who is about to leave: BG/NBD (P(alive), expected purchases) and Gamma-Gamma (spend) per member."))


def register(app: typer.Typer) -> None:
    """Register `siyu clv …` on the root app."""
    app.add_typer(clv_app, name="clv")


@clv_app.callback()
def run(
    ctx: typer.Context,
    as_of: Optional[str] = typer.Option(None, "--as-of", help=N_("End of the observed history (default: today, workspace timezone).")),
    horizon: Optional[int] = typer.Option(None, "--horizon", help=N_("CLV horizon in months (default [clv] horizon_months or 12).")),
    discount: Optional[float] = typer.Option(None, "--discount", help=N_("Monthly discount rate for CLV (default [clv] discount_rate or 0).")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table (people) or json (the fitted parameters).")),
) -> None:
    """Fit the models on every buyer's history and store a fit (parameters, fit date, per-member predictions)."""
    if ctx.invoked_subcommand is not None:
        return
    from siyu_cli import output as out
    from siyu_cli.clv import run_clv

    result = run_clv(settings(ctx), as_of=as_of, horizon_months=horizon, discount_rate=discount)
    if result.pruned:
        out.info(_('clv.keep_fits: deleted old fit(s) {join}').format(join=', '.join(map(str, result.pruned))))
    d = result.to_dict()
    if fmt is Format.json:
        out.emit_json(d)
        return
    if fmt is Format.csv:
        out.emit_rows(*_param_rows(d), fmt)
        return
    out.emit_rows(*_param_rows(d), title=_('siyu clv · fit {value} · as of {value2} · {value3} buyers ({value4} repeat) · {value5}').format(value=d['fit_id'], value2=d['as_of'], value3=d['buyers'], value4=d['repeat_buyers'], value5=d['library']))
    out.info(_('measures {value} s, fit {value2} s, store {value3} s').format(value=d['seconds']['measures'], value2=d['seconds']['fit'], value3=d['seconds']['store']))


def _param_rows(d: dict) -> tuple[list[str], list[list]]:
    rows = [["bgnbd", k, round(v, 6)] for k, v in d["bgnbd"].items()]
    rows += [["gamma_gamma", k, round(v, 6)] for k, v in d["gamma_gamma"].items()]
    rows += [["population", k, round(v, 6)] for k, v in d["population"].items()]
    return ["model", "parameter", "value"], rows


@clv_app.command("show")
def show(
    ctx: typer.Context,
    limit: int = typer.Option(50, "--limit", help=N_("Members to list, lowest P(alive) × highest CLV first (0 = all).")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json (per member).")),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help=N_("Write the rows to this file (csv/json).")),
) -> None:
    """The newest fit's per-member predictions (read-only)."""
    from siyu_cli import output as out
    from siyu_cli.clv import MEMBER_COLUMNS, newest_fit_members
    from siyu_cli.store import read

    fit, rows = read(settings(ctx), newest_fit_members, limit)
    cols = list(MEMBER_COLUMNS)
    rows = out.mask_rows(rows)
    if fmt is Format.table:  # for people: amounts in the one money format, rates and counts to 3 decimals
        rows = [_readable(dict(zip(cols, r))) for r in rows]
    from siyu_cli.formatting import local_time

    out.emit_rows(cols, rows, fmt, output=output, drop=("t_days", "recency_days", "purchases_30d"),
                  title=_("clv fit {fit_id} · as of {as_of} · fitted {fitted}").format(
                      fit_id=fit["fit_id"], as_of=fit["as_of"], fitted=local_time(fit["fitted_at"], out.timezone_name())))


def _readable(row: dict) -> list:
    from siyu_cli.formatting import money, number

    money_cols = ("avg_repeat_spend", "expected_spend", "clv")
    return [money(v) if k in money_cols and v is not None else number(v, 3) if isinstance(v, float) else v
            for k, v in row.items()]
