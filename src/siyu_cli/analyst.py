"""Analyst access: run SQL against the store (read-only) and list its tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TYPE_CHECKING

from siyu_cli.errors import UsageError
from siyu_cli.store import open_store

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings


@dataclass
class ResultSet:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def run_sql(settings: "Settings", query: str, *, limit: int | None = None, write: bool = False) -> ResultSet:
    """Run one query. Read-only unless ``write`` (the store is opened read-only, so writes are refused)."""
    import duckdb

    with open_store(settings, read_only=not write) as con:
        try:
            cur = con.execute(query)
        except duckdb.Error as exc:
            raise UsageError(f"SQL error: {str(exc).splitlines()[0]}") from None
        if cur.description is None:
            return ResultSet(columns=[], rows=[])
        columns = [d[0] for d in cur.description]
        rows = cur.fetchmany(limit) if limit else cur.fetchall()
    return ResultSet(columns=columns, rows=rows)


def list_tables(settings: "Settings") -> ResultSet:
    """Tables and views of the store with their row counts."""
    with open_store(settings, read_only=True) as con:
        names = con.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = 'main' ORDER BY table_name"
        ).fetchall()
        rows = []
        for name, kind in names:
            count = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            cols = con.execute(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = ?", [name]
            ).fetchone()[0]
            rows.append((name, "view" if kind == "VIEW" else "table", count, cols))
    return ResultSet(columns=["table", "kind", "rows", "columns"], rows=rows)
