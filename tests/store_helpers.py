"""Helpers shared by the load tests: write an export file, query the store, read one order, hold the store from another process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

from siyu_cli.store import open_store


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def q(settings, sql, params=None):
    with open_store(settings, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def order(settings, order_id, cols="status, paid_amount, refund_amount, net_amount"):
    """The one stored row of an order (its id is unique in the test's store)."""
    rows = q(settings, f"SELECT {cols} FROM orders WHERE order_id = ?", [order_id])
    assert len(rows) == 1, rows
    return rows[0]


@contextmanager
def store_held_elsewhere(settings):
    """Another process holding the store read-write (as a running load or push would); yields that process."""
    with open_store(settings):
        pass  # the store exists and is migrated before the other process takes it
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, time
            con = duckdb.connect({str(settings.store)!r})
            print("held", flush=True)
            time.sleep(30)
        """)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def pid(settings, value: str, id_type: str = "phone") -> str:
    """The pseudonymous member id a load gives a person first known by this phone (email, unionid)."""
    from siyu_cli.privacy import pseudonym, workspace_key

    return pseudonym(workspace_key(settings), id_type, value)


def load_export(settings, path: Path, text: str, kind: str, file_encoding: str = "utf-8", **options):
    """Write ``text`` (in ``file_encoding``) as an export file at ``path`` and load it as ``kind``: the load's report.

    ``options`` go to ``load_files`` (``encoding=`` there forces how the load reads the file)."""
    from siyu_cli.ingest import load_files

    return load_files(settings, kind, [write(path, text, file_encoding)], **options)
