"""``siyu sql`` and ``siyu tables``: analyst access to the store."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from siyu_cli.cli.options import TABLE_CSV_JSON, format_option

from siyu_cli.i18n import N_, _

from siyu_cli.analyst import DEFAULT_TABLE_LIMIT, DEFAULT_TIMEOUT  # light: duckdb is imported inside functions
from siyu_cli.cli.context import settings
from siyu_cli.output import Format, emit_rows


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)
    app.command("tables")(tables)


def sql(
    ctx: typer.Context,
    query: str = typer.Argument(
        ..., help=N_("One SQL query (DuckDB dialect: SELECT, WITH, SHOW, DESCRIBE, EXPLAIN) over the store's tables. "
        "It runs read-only and cannot touch files, URLs or settings.")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json.")),
    bom: bool = typer.Option(False, "--bom", help=N_("Start CSV with a UTF-8 BOM so Excel shows Chinese correctly.")),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help=N_("Write to this file instead of stdout.")),
    limit: Optional[int] = typer.Option(
        None, "--limit", min=0,
        help=N_("At most this many rows; 0 for all. Default: 1,000 for the table, all for "
                "csv/json (streamed in batches).")),
    timeout: float = typer.Option(
        DEFAULT_TIMEOUT, "--timeout", min=0,
        help=N_("Stop the query after this many seconds (running and fetching rows); 0 for no limit.")),
    unmask: bool = typer.Option(False, "--unmask", help=N_("Show phone numbers in full (personal data: share with care).")),
) -> None:
    """Run one read-only SQL query against the store (phone numbers masked unless --unmask)."""
    from siyu_cli.analyst import query_stream
    from siyu_cli.output import emit_batches, info, unmask as show_in_full

    show_in_full(unmask)
    if limit is None:
        limit = DEFAULT_TABLE_LIMIT if fmt is Format.table else 0
    with query_stream(settings(ctx), query, limit=limit or None, timeout=timeout) as stream:
        emit_batches(stream.columns, stream.batches(), fmt, bom=bom, output=output)
    if stream.truncated:
        info(_('showing the first {count:,} rows; more were cut. Use --limit N for more, --limit 0 for all, or --format csv|json to stream them all.').format(count=stream.count))


def tables(
    ctx: typer.Context,
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json.")),
) -> None:
    """List the store's tables and views with row counts."""
    from siyu_cli.analyst import list_tables

    result = list_tables(settings(ctx))
    emit_rows(result.columns, result.rows, fmt, title=_('siyu tables'))
