"""`siyu sql` is read-only for real: one statement, no files, no settings, bounded rows and time (issue 13)."""

from __future__ import annotations

import json

import pytest

from siyu_cli.store import open_store


@pytest.fixture
def member_store(settings):
    with open_store(settings) as con:
        con.execute("INSERT INTO members (member_id, phone, name) VALUES ('m1', '13812345678', '小李'), "
                    "('m2', '13912345678', '老王')")
    return settings


def _one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("query, target", [
    ("COPY members TO '{dir}/leak.csv'", "leak.csv"),
    ("COPY (SELECT phone FROM members) TO '{dir}/leak.csv' (FORMAT csv)", "leak.csv"),
    ("COPY (SELECT '[workspace]' AS x) TO '{ws}/siyu.toml' (HEADER false)", None),
    ("EXPORT DATABASE '{dir}/dump'", "dump"),
    ("ATTACH '{dir}/other.duckdb' AS o (READ_WRITE)", "other.duckdb"),
    ("CREATE TABLE evil AS SELECT 1", None),
    ("DELETE FROM members", None),
    ("INSTALL httpfs", None),
    ("LOAD httpfs", None),
    ("SET enable_external_access = true", None),
    ("SELECT 1; COPY members TO '{dir}/leak.csv'", "leak.csv"),
    ("SELECT 1; DELETE FROM members", None),
])
def test_sql_cannot_write_anything(member_store, workspace, cli, tmp_path, query, target):
    config_before = (workspace / "siyu.toml").read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    result = cli("sql", query.format(dir=out, ws=workspace), expect=2)
    _one_error_line(result)
    assert list(out.iterdir()) == []  # no file, no directory
    assert (workspace / "siyu.toml").read_bytes() == config_before
    assert not any(p.name.startswith(("leak", "dump", "other")) for p in workspace.rglob("*"))
    with open_store(member_store, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM members").fetchone()[0] == 2
        assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'evil'").fetchone()[0] == 0
    cli("tables")  # the workspace still works (siyu.toml intact)


def test_sql_refuses_files_outside_the_store_even_in_a_select(member_store, workspace, cli):
    (workspace / "inbox" / "x.csv").parent.mkdir(exist_ok=True)
    (workspace / "inbox" / "x.csv").write_text("a\n1\n", encoding="utf-8")
    for query in (f"SELECT * FROM read_csv('{workspace}/inbox/x.csv')", "SELECT * FROM read_text('/etc/hostname')",
                  "SELECT * FROM glob('*')"):
        line = _one_error_line(cli("sql", query, expect=2))
        assert "disabled by configuration" in line


def test_sql_error_messages_are_one_line(member_store, cli):
    assert "one statement" in _one_error_line(cli("sql", "SELECT 1; SELECT 2", expect=2))
    assert "empty" in _one_error_line(cli("sql", " ; ", expect=2))
    assert "SQL error" in _one_error_line(cli("sql", "SELEC nonsense", expect=2))
    assert "SQL error" in _one_error_line(cli("sql", "SELECT nope FROM members", expect=2))


def test_sql_reads_the_store_as_before(member_store, cli):
    rows = json.loads(cli("sql", "WITH x AS (SELECT member_id FROM members) SELECT * FROM x ORDER BY 1",
                          "--format", "json").stdout)
    assert rows == [{"member_id": "m1"}, {"member_id": "m2"}]
    assert "member_id" in cli("sql", "DESCRIBE members").stdout
    assert "members" in cli("sql", "SHOW TABLES").stdout
    cli("sql", "EXPLAIN SELECT * FROM members")
    assert json.loads(cli("sql", "SELECT 1 AS a;", "--format", "json").stdout) == [{"a": 1}]  # a trailing ; is fine


def test_sql_table_output_has_a_default_row_limit_with_a_footer(member_store, cli):
    result = cli("sql", "SELECT range AS n FROM range(1500)")
    assert "│ 999 " in result.stdout and "│ 1000 " not in result.stdout
    assert "first 1,000 rows" in result.stderr and "--limit 0" in result.stderr
    result = cli("sql", "SELECT range AS n FROM range(1500)", "--limit", "0")
    assert "│ 1499 " in result.stdout and "cut" not in result.stderr
    result = cli("sql", "SELECT range AS n FROM range(1500)", "--limit", "3", "--format", "json")
    assert json.loads(result.stdout) == [{"n": 0}, {"n": 1}, {"n": 2}] and "first 3 rows" in result.stderr
    result = cli("sql", "SELECT range AS n FROM range(10)", "--limit", "10")
    assert "cut" not in result.stderr  # exactly the limit: nothing was cut


def test_sql_csv_and_json_stream_every_row_by_default(member_store, cli, tmp_path):
    out = tmp_path / "all.csv"
    result = cli("sql", "SELECT range AS n FROM range(5000)", "--format", "csv", "--output", out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "n" and lines[1:] == [str(i) for i in range(5000)] and "cut" not in result.stderr
    rows = json.loads(cli("sql", "SELECT range AS n, 'x' || range AS s FROM range(4100)", "--format", "json").stdout)
    assert rows[-1] == {"n": 4099, "s": "x4099"} and len(rows) == 4100
    assert cli("sql", "SELECT 1 AS n WHERE false", "--format", "json").stdout == "[]\n"


def test_sql_stream_matches_to_json(member_store, cli):
    from siyu_cli.output import to_json

    stdout = cli("sql", "SELECT member_id, [1, 2] AS l FROM members ORDER BY 1", "--format", "json").stdout
    assert stdout == to_json([{"member_id": "m1", "l": [1, 2]}, {"member_id": "m2", "l": [1, 2]}]) + "\n"


def test_sql_stops_at_the_timeout(member_store, cli):
    result = cli("sql", "SELECT count(*) FROM range(10000000000) a", "--timeout", "0.5", expect=2)
    assert "stopped after 0.5 s" in _one_error_line(result)


def _peak_rss_kb(rows: int, out) -> int:
    """Run `siyu sql … --format csv` for ``rows`` rows of ~200 bytes in a fresh process; its peak RSS in KiB."""
    import subprocess
    import sys

    code = (
        "import resource, sys\n"
        "from siyu_cli.cli.main import app\n"
        f"sys.argv = ['siyu', 'sql', \"SELECT range AS n, repeat('x', 200) AS pad FROM range({rows})\", "
        f"'--format', 'csv', '--output', {str(out)!r}]\n"
        "try:\n    app()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


def test_sql_large_csv_runs_in_bounded_memory(member_store, tmp_path):
    """500,000 rows (~100 MB of CSV) cost about as much memory as 1,000: rows stream, they are not held."""
    small = _peak_rss_kb(1_000, tmp_path / "small.csv")
    big_out = tmp_path / "big.csv"
    big = _peak_rss_kb(500_000, big_out)
    size_kb = big_out.stat().st_size // 1024
    assert size_kb > 90_000 and sum(1 for _ in big_out.open(encoding="utf-8")) == 500_001
    assert big - small < size_kb / 3, (small, big, size_kb)


def test_ctrl_c_stops_a_running_query_with_exit_130(member_store, workspace):
    """DuckDB does not reliably see SIGINT inside a long query; siyu sql interrupts it itself."""
    import os
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "siyu_cli", "sql", "SELECT sum(hash(range)) FROM range(100000000000)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "SIYU_WORKSPACE": str(workspace)},
    )
    try:
        time.sleep(4)  # well inside the query (it would run for minutes)
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert err.strip().startswith("interrupted") and len(err.strip().splitlines()) == 1, err  # one line, exit 130


def test_a_deadline_that_passes_before_the_query_starts_still_stops_it():
    """An interrupt that lands before DuckDB runs the query is a no-op: the guard interrupts until the call returns
    (once was not enough: a slow start on a busy machine left `siyu sql` running for the query's whole length)."""
    import threading
    import time

    import duckdb

    from siyu_cli.analyst import _Guard

    con = duckdb.connect()
    guard = _Guard(con, timeout=0.05)

    def late_query():
        time.sleep(0.5)  # the deadline passes while the worker has not started the query yet
        return con.execute("SELECT sum(hash(range)) FROM range(100000000000)").fetchone()

    box: dict = {}
    caller = threading.Thread(target=lambda: box.update(r=_call(guard, late_query)), daemon=True)
    caller.start()
    caller.join(60)
    try:
        assert not caller.is_alive(), "the query kept running after the deadline"
        assert guard.timed_out and isinstance(box["r"], duckdb.Error)
    finally:
        while caller.is_alive():  # never leave a query burning the machine
            con.interrupt()
            caller.join(0.2)
        con.close()


def _call(guard, fn):
    try:
        return guard.call(fn)
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc
