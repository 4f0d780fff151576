"""``siyu sql`` and ``siyu tables``: analyst access to the store."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from siyu_cli.cli.context import settings
from siyu_cli.output import Format, emit_rows


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)
    app.command("tables")(tables)


def sql(
    ctx: typer.Context,
    query: str = typer.Argument(..., help="A SQL query (DuckDB dialect). The store is opened read-only."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, csv or json."),
    bom: bool = typer.Option(False, "--bom", help="Start CSV with a UTF-8 BOM so Excel shows Chinese correctly."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most this many rows."),
    unmask: bool = typer.Option(False, "--unmask", help="Show phone numbers in full (personal data: share with care)."),
) -> None:
    """Run a read-only SQL query against the store (phone numbers masked unless --unmask)."""
    from siyu_cli.analyst import run_sql
    from siyu_cli.output import mask_rows, unmask as show_in_full

    show_in_full(unmask)
    result = run_sql(settings(ctx), query, limit=limit)
    emit_rows(result.columns, result.rows if unmask else mask_rows(result.rows), fmt, bom=bom, output=output)


def tables(
    ctx: typer.Context,
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table, csv or json."),
) -> None:
    """List the store's tables and views with row counts."""
    from siyu_cli.analyst import list_tables

    result = list_tables(settings(ctx))
    emit_rows(result.columns, result.rows, fmt, title="siyu tables")
