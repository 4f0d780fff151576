"""Analyst access: run SQL against the store (read-only) and list its tables.

Analyst SQL is untrusted input (it is typed by people and written into playbooks as
``sql:`` audiences), so it runs on a connection that cannot write anything:

* exactly one statement, parsed by DuckDB itself (``extract_statements``), and only
  a query (``SELECT``/``WITH``/``FROM``/``VALUES``/``SHOW``/``DESCRIBE``/``SUMMARIZE``)
  or an ``EXPLAIN`` of one;
* the store opened read-only;
* DuckDB's own guards, then ``lock_configuration`` so the query cannot undo them:
  ``enable_external_access = false`` (no file, URL or database outside the store:
  no ``COPY … TO``, ``EXPORT DATABASE``, ``ATTACH``, ``read_csv``, ``INSTALL``/``LOAD``)
  and no extension auto-loading;
* a time budget (``timeout``) after which the connection is interrupted; Ctrl-C interrupts it too.

Rows are fetched in batches (:func:`query_stream`) so a large result streams in bounded memory.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence, TYPE_CHECKING

from siyu_cli.errors import UsageError
from siyu_cli.store import open_store
from siyu_cli.i18n import _

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings

#: Rows a terminal table shows unless --limit says otherwise (csv/json stream everything).
DEFAULT_TABLE_LIMIT = 1000
#: Seconds a query may run (including fetching its rows) before it is interrupted.
DEFAULT_TIMEOUT = 300.0
#: Rows fetched from DuckDB at a time.
BATCH_ROWS = 2048

#: Settings applied to every analyst connection, in this order (the last one locks them).
LOCKDOWN = (
    "SET enable_external_access = false",
    "SET autoload_known_extensions = false",
    "SET autoinstall_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET allow_unsigned_extensions = false",
    "SET lock_configuration = true",
)


@dataclass
class ResultSet:
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass
class QueryStream:
    """The columns of a running query and its rows in batches (``truncated`` is known once consumed)."""

    columns: list[str]
    _cursor: Any = field(repr=False)
    _guard: "_Guard" = field(repr=False)
    limit: int | None = None
    batch_rows: int = BATCH_ROWS
    truncated: bool = False
    count: int = 0

    def batches(self) -> Iterator[list[tuple[Any, ...]]]:
        """Batches of rows, at most ``limit`` rows in all; sets ``truncated`` when rows were left."""
        while True:
            want = self.batch_rows
            if self.limit is not None:
                left = self.limit - self.count
                if left <= 0:
                    self.truncated = bool(self._guard.call(self._cursor.fetchmany, 1))
                    return
                want = min(want, left)
            rows = self._guard.call(self._cursor.fetchmany, want)
            if not rows:
                return
            self.count += len(rows)
            yield rows


def check_statement(query: str, *, what: str = "siyu sql") -> str:
    """The one read-only statement in ``query`` (parsed by DuckDB), or a UsageError saying why not."""
    import duckdb

    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise UsageError(_('SQL error: {first_line}').format(first_line=_first_line(exc))) from None
    if not statements:
        raise UsageError(_('{what}: the query is empty').format(what=what))
    if len(statements) > 1:
        raise UsageError(_('{what} runs exactly one statement; this text has {len}').format(what=what, len=len(statements)))
    kind = statements[0].type
    if kind not in (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN):
        name = getattr(kind, "name", str(kind))
        raise UsageError(_('{what} is read-only: a {name} statement is not allowed (one SELECT, WITH, SHOW, DESCRIBE or EXPLAIN)').format(what=what, name=name))
    return query


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


@contextmanager
def query_stream(
    settings: "Settings",
    query: str,
    *,
    params: Sequence[Any] | None = None,
    limit: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    what: str = "siyu sql",
    error_prefix: str = "SQL error",
) -> Iterator[QueryStream]:
    """Run one read-only statement; yield its :class:`QueryStream` while the store is open.

    ``timeout`` (seconds, ``None``/0 for none) covers running the query and fetching its rows.
    DuckDB errors, raised running or fetching, become one-line :class:`UsageError`.
    """
    import duckdb

    check_statement(query, what=what)
    limit = limit or None
    with open_store(settings, read_only=True) as con:
        for setting in LOCKDOWN:
            con.execute(setting)
        guard = _Guard(con, timeout)
        try:
            cur = guard.call(con.execute, query, list(params) if params else None)
            columns = [d[0] for d in cur.description] if cur.description else []
            yield QueryStream(columns, cur, guard, limit=limit)
        except duckdb.Error as exc:
            if guard.timed_out:
                raise UsageError(
                    _('{what}: the query was stopped after {timeout:g} s (--timeout SECONDS; 0 for no limit)').format(what=what, timeout=timeout)
                ) from None
            raise UsageError(_('{error_prefix}: {first_line}').format(error_prefix=error_prefix, first_line=_first_line(exc))) from None


class _Guard:
    """Runs each DuckDB call on a worker thread while this thread waits, so that Ctrl-C and the
    deadline can interrupt it: a query blocked inside DuckDB does not otherwise see SIGINT reliably
    (it did not once a second thread existed), and the deadline needs someone awake to call
    ``con.interrupt()``."""

    def __init__(self, con, timeout: float | None):
        self.con = con
        self.deadline = time.monotonic() + timeout if timeout and timeout > 0 else None
        self.timed_out = False

    def call(self, fn, *args):
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["value"] = fn(*args)
            except BaseException as exc:  # handed to the waiting thread
                box["error"] = exc

        worker = threading.Thread(target=work, name="siyu-sql", daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                if self.deadline is None:
                    worker.join(0.2)
                    continue
                left = self.deadline - time.monotonic()
                if left <= 0:
                    self.timed_out = True
                    self._stop(worker)
                    break
                worker.join(min(left, 0.2))
        except KeyboardInterrupt:
            self._stop(worker)
            self._settle()
            raise
        if "error" in box:
            raise box["error"]
        return box["value"]

    def _stop(self, worker: threading.Thread) -> None:
        """Interrupt the worker's call until it has returned: an interrupt that lands before DuckDB has started
        the query (a slow start on a busy machine) is a no-op, and a single one left the worker running for as long
        as the query lasts."""
        while worker.is_alive():
            self.con.interrupt()
            worker.join(0.2)

    def _settle(self, wait: float = 2.0) -> None:
        """After Ctrl-C DuckDB winds the interrupted call down on its own for a moment (the connection
        reports "busy"); wait for that, briefly, so the store closes cleanly and the exit is 130."""
        import duckdb

        end = time.monotonic() + wait
        while True:
            try:
                self.con.execute("SELECT 1")
                return
            except duckdb.Error:
                if time.monotonic() >= end:
                    return
                time.sleep(0.05)


def run_sql(
    settings: "Settings", query: str, *, limit: int | None = None, timeout: float | None = DEFAULT_TIMEOUT
) -> ResultSet:
    """Run one read-only query and return up to ``limit`` rows (all when ``None``)."""
    with query_stream(settings, query, limit=limit, timeout=timeout) as stream:
        rows = [row for batch in stream.batches() for row in batch]
    return ResultSet(columns=stream.columns, rows=rows)


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
