"""The load's compaction policy (ingest/compaction.py): DuckDB may merge row groups at a load's
checkpoint only once enough slack (row groups beyond what the live rows need) has piled up."""

from __future__ import annotations

import duckdb
import pytest

from siyu_cli.ingest import compaction
from siyu_cli.ingest.compaction import set_vacuum_policy, slack


N = 3 * 122_880  # three full row groups


@pytest.fixture()
def con(tmp_path):
    """A store file whose ``orders`` holds three row groups of which two thirds of the rows are deleted
    (kept as delete markers: compaction off while they were checkpointed), so 2 row groups of slack."""
    c = duckdb.connect(str(tmp_path / "s.duckdb"))
    for t in compaction.TABLES:
        c.execute(f"CREATE TABLE {t} (k BIGINT, v VARCHAR)")
    c.execute(f"INSERT INTO orders SELECT range, 'x' FROM range({N})")
    c.execute("CHECKPOINT")
    c.execute("SET max_vacuum_tasks = 0")
    c.execute("DELETE FROM orders WHERE k % 3 <> 0")
    c.execute("CHECKPOINT")
    c.execute("RESET max_vacuum_tasks")
    yield c
    c.close()


def groups(con) -> int:
    return con.execute("SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('orders')").fetchone()[0]


def rows(con) -> tuple[int, int]:
    return con.execute("SELECT count(*), sum(k) FROM orders").fetchone()


def vacuum_tasks(con) -> int:
    return int(con.execute("SELECT current_setting('max_vacuum_tasks')").fetchone()[0])


def test_slack_counts_row_groups_beyond_what_the_live_rows_need(con):
    assert groups(con) == 3  # 122,880 live rows: one would do
    assert slack(con, "orders") == 2
    assert slack(con, "members") == 0  # empty: no row groups, none needed


def test_below_the_threshold_a_load_leaves_row_groups_alone(con, monkeypatch):
    monkeypatch.setattr(compaction, "SLACK_ROW_GROUPS", 3)
    assert set_vacuum_policy(con) is False
    assert vacuum_tasks(con) == 0
    con.execute("DELETE FROM orders WHERE k < 1000")  # a load's delete: merging would fit
    con.execute("CHECKPOINT")
    assert groups(con) == 3
    assert rows(con) == (N // 3 - 334, sum(range(1002, N, 3)))


def test_at_the_threshold_a_load_lets_duckdb_compact(con, monkeypatch):
    monkeypatch.setattr(compaction, "SLACK_ROW_GROUPS", 2)
    default = vacuum_tasks(con)
    assert default > 0
    assert set_vacuum_policy(con) is True
    assert vacuum_tasks(con) == default
    con.execute("DELETE FROM orders WHERE k < 1000")
    con.execute("CHECKPOINT")
    assert groups(con) == 1
    assert slack(con, "orders") == 0
    assert rows(con) == (N // 3 - 334, sum(range(1002, N, 3)))
