"""The DuckDB store: migrations, newer-store refusal, read-only analyst access, busy store."""

from __future__ import annotations

import time

import pytest

from siyu_cli.errors import ConfigError, ExitCode
from siyu_cli.store import migrations, open_store, schema_version
from store_helpers import store_held_elsewhere


def test_new_store_gets_every_migration(settings):
    with open_store(settings) as con:
        assert schema_version(con) == migrations()[-1].version
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    for required in ("members", "orders", "order_lines", "groups", "group_members", "member_tags", "load_log", "rejects"):
        assert required in tables


def test_older_store_is_upgraded(settings):
    import duckdb

    first = migrations()[0]
    con = duckdb.connect(str(settings.store))
    con.execute(first.sql)
    con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [first.version, first.name])
    con.close()
    with open_store(settings, read_only=True) as con:  # a read-only open still upgrades first
        assert schema_version(con) == migrations()[-1].version


def test_newer_store_is_refused(settings):
    with open_store(settings) as con:
        con.execute("INSERT INTO schema_migrations VALUES (9999, 'from_the_future', now())")
    with pytest.raises(ConfigError, match="newer siyu"):
        with open_store(settings):
            pass


def test_sql_is_read_only(workspace, cli):
    result = cli("sql", "DELETE FROM members", expect=ExitCode.USAGE)
    assert "read-only" in result.stderr
    out = cli("sql", "SELECT 1 AS one, '中文' AS zh", "--format", "csv", "--bom").stdout
    assert out.startswith("\ufeffone,zh\n1,中文")


def test_tables_lists_counts(workspace, cli):
    out = cli("tables", "--format", "json").stdout
    assert '"table": "orders"' in out


def test_busy_store_waits_then_fails_with_exit_4(settings, workspace, siyu_subprocess):
    with store_held_elsewhere(settings) as holder:
        started = time.monotonic()
        result = siyu_subprocess("tables", env={"SIYU_WORKSPACE": str(workspace), "SIYU_LOCK_WAIT": "1"})
        assert result.returncode == ExitCode.LOCKED, result.stderr
        assert f"process {holder.pid}" in result.stderr and "busy" in result.stderr
        assert time.monotonic() - started < 20
    # once the holder is gone the store opens again
    with open_store(settings, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM members").fetchone()[0] == 0
