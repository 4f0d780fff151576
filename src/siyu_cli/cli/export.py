"""``siyu export lake DIR``: the store's orders/members as partitioned Parquet (siyu_cli.lake)."""

from __future__ import annotations

from siyu_cli.i18n import N_, _

import typer

from siyu_cli.cli.options import TABLE_CSV_JSON, format_option

from siyu_cli.cli.context import settings
from siyu_cli.output import Format

export_app = typer.Typer(help=N_("Write the store's data out for other engines."), no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Register `siyu export …` on the root app."""
    app.add_typer(export_app, name="export")


@export_app.command("lake")
def lake(
    ctx: typer.Context,
    folder: str = typer.Argument(..., help=N_("Folder to write orders/ (partitioned by paid month), order_lines/ and members/ into.")),
    unmask: bool = typer.Option(False, "--unmask", help=N_("Also write phones, emails, names and birthdays.")),
    overwrite: bool = typer.Option(False, "--overwrite", help=N_("Write into a folder that is not empty.")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table (people) or json.")),
) -> None:
    """Write the store's orders, order lines and members as Parquet, for [engine] kind = "spark" (docs/scale.md)."""
    from siyu_cli import output as out
    from siyu_cli.lake import export_lake

    result = export_lake(settings(ctx), folder, unmask=unmask, overwrite=overwrite)
    if fmt is Format.json:
        out.emit_json(result.to_dict())
        return
    out.info(_('Wrote {orders} orders in {partitions} monthly partitions, {lines} order lines and {members} members to {folder}.').format(orders=result.orders, partitions=result.partitions, lines=result.order_lines, members=result.members, folder=result.folder))
