"""``siyu forget``: erase people (PIPL right to erasure); the work is in siyu_cli.forget."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from siyu_cli.cli.options import TABLE_CSV_JSON, format_option

from siyu_cli.i18n import N_, _

from siyu_cli.cli.context import settings
from siyu_cli.output import Format, emit_json, info


def register(app: typer.Typer) -> None:
    app.command("forget")(forget)


def forget(
    ctx: typer.Context,
    ids: Optional[List[str]] = typer.Argument(None, help=N_("Member id, phone, email or external_userid of each person.")),
    file: Optional[Path] = typer.Option(None, "--file", help=N_("A file of identifiers, one per line (or first CSV column).")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table (a summary line) or json.")),
) -> None:
    """Erase people from every table and inbox file siyu keeps; keep only keyed hashes so they are never messaged or reloaded."""
    from siyu_cli.forget import forget as erase, read_id_file

    wanted = list(ids or []) + (read_id_file(file) if file else [])
    report = erase(settings(ctx), wanted)
    if fmt is Format.json:
        emit_json(report.to_dict())
    rows = sum(v for k, v in report.rows.items() if k != "files_lines")
    info(_("forgot {people} member(s): {identifiers} identifier(s) tombstoned, {rows} row(s) erased").format(
        people=report.people, identifiers=report.identifiers, rows=rows)
         + (_(", {count} inbox file(s) scrubbed").format(count=len(report.files)) if report.files else "")
         + (_("; {count} already erased").format(count=report.already) if report.already else "")
         + (_("; {count} not found (tombstoned anyway)").format(count=report.not_found) if report.not_found else ""))
    for path in report.not_reached:
        info(_('not reached (edit or delete it yourself): {path}').format(path=path))
