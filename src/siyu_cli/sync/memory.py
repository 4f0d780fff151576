"""DuckDB memory limits for the sync: a piece of work runs under the first of a ladder of limits it fits in.

Both the fetch's staging writes (sync/wecom.py) and the merge's transactions (sync/merge.py) keep DuckDB's
buffer pool small by default and climb only when a write or a unit needs more, so the sync's peak memory is
set by its settings, not by the corp's size.
"""

from __future__ import annotations

from typing import Any, Callable, ContextManager, Sequence


def first_fit(con, limits: Sequence[str], work: Callable[[], Any], *,
              on_oom: Callable[[], Any] | None = None) -> int:
    """Run ``work()`` under the first of ``limits`` it fits in; the index of that limit.

    Out of memory (in ``work`` or in setting a limit DuckDB cannot lower to while it holds buffers), ``on_oom()``
    undoes what the attempt left (a rollback) and the next limit is tried; out of the last one, the error
    propagates.
    """
    import duckdb

    for n, limit in enumerate(limits):
        try:
            con.execute(f"SET memory_limit = '{limit}'")
            work()
            return n
        except duckdb.OutOfMemoryException:
            if on_oom is not None:
                on_oom()
            if n == len(limits) - 1:
                raise
    raise ValueError("no memory limits to try")


def rollback(con) -> None:
    """Roll back a piece of work that ran out of memory (if it got as far as BEGIN and not past COMMIT): the
    ``on_oom`` of a transaction under :func:`first_fit`."""
    import duckdb

    try:
        con.execute("ROLLBACK")
    except duckdb.TransactionException:  # it ran out before BEGIN or in COMMIT: nothing is open
        pass


def checkpoint(open_con: Callable[[], ContextManager], limits: Sequence[str]) -> bool:
    """The store's checkpoint after a committed write, on one thread under the first of ``limits`` it fits in;
    whether one did.

    Each limit gets a fresh connection from ``open_con()``: in DuckDB 2.0 a checkpoint out of memory may raise
    FatalException rather than OutOfMemoryException, and the instance is unusable after it. When none fits the
    write stays committed in the WAL, and a later checkpoint writes it back.
    """
    import duckdb

    for limit in limits:
        try:
            with open_con() as con:
                con.execute("SET threads = 1")
                con.execute(f"SET memory_limit = '{limit}'")
                con.execute("CHECKPOINT")
            return True
        except (duckdb.OutOfMemoryException, duckdb.FatalException):
            continue
    return False
