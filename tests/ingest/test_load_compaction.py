"""The load's compaction policy (ingest/compaction.py): DuckDB may merge row groups at a load's
checkpoint only on the load that crosses a multiple of COMPACT_EVERY loaded files."""

from __future__ import annotations

import duckdb
import pytest

from siyu_cli.ingest import compaction
from siyu_cli.ingest.compaction import set_vacuum_policy

N = 3 * 122_880  # three full row groups


@pytest.fixture()
def con(tmp_path):
    """A store file whose ``orders`` holds three row groups of which two thirds of the rows are deleted
    (kept as delete markers: compaction was off when they were checkpointed): one row group would do."""
    c = duckdb.connect(str(tmp_path / "s.duckdb"))
    c.execute("CREATE TABLE load_log (batch_id VARCHAR, status VARCHAR)")
    c.execute("CREATE TABLE orders (k BIGINT, v VARCHAR)")
    c.execute(f"INSERT INTO orders SELECT range, 'x' FROM range({N})")
    c.execute("CHECKPOINT")
    c.execute("SET max_vacuum_tasks = 0")
    c.execute("DELETE FROM orders WHERE k % 3 <> 0")
    c.execute("CHECKPOINT")
    c.execute("RESET max_vacuum_tasks")
    yield c
    c.close()


def loaded(con, n: int, status: str = "loaded") -> None:
    con.execute("INSERT INTO load_log SELECT 'b' || range, ? FROM range(?)", [status, n])


def groups(con) -> int:
    return con.execute("SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('orders')").fetchone()[0]


def rows(con) -> tuple[int, int]:
    return con.execute("SELECT count(*), sum(k) FROM orders").fetchone()


def vacuum_tasks(con) -> int:
    return int(con.execute("SELECT current_setting('max_vacuum_tasks')").fetchone()[0])


def test_an_ordinary_load_leaves_row_groups_alone(con):
    loaded(con, 3)
    loaded(con, 9, "skipped")  # skipped and failed files do not count
    assert set_vacuum_policy(con, 1) is False
    assert vacuum_tasks(con) == 0
    con.execute("DELETE FROM orders WHERE k < 1000")  # a load's delete: a merge would now fit
    con.execute("CHECKPOINT")
    assert groups(con) == 3
    assert rows(con) == (N // 3 - 334, sum(range(1002, N, 3)))


@pytest.mark.parametrize("before, files", [(compaction.COMPACT_EVERY - 1, 1), (compaction.COMPACT_EVERY - 2, 3), (0, compaction.COMPACT_EVERY)])
def test_the_load_crossing_a_multiple_of_compact_every_lets_duckdb_compact(con, before, files):
    loaded(con, before)
    default = vacuum_tasks(con)
    assert default > 0
    assert set_vacuum_policy(con, files) is True
    assert vacuum_tasks(con) == default
    con.execute("DELETE FROM orders WHERE k < 1000")
    con.execute("CHECKPOINT")
    assert groups(con) == 1
    assert rows(con) == (N // 3 - 334, sum(range(1002, N, 3)))
