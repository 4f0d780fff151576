"""When a load lets DuckDB compact row groups: only once enough slack has piled up, not after every file.

DuckDB (2.x) appends each load's rows to a table that was checkpointed as a NEW row group, and at the
checkpoint that closes the store it "vacuums": merges adjacent row groups whose live rows fit in fewer
ones, rewriting every column of them. A daily load therefore leaves a partly filled row group at the
end of ``orders``/``members``/``member_identities``, and the next load that deletes rows near it (a
changed record is deleted and re-inserted, :mod:`merge`) makes the checkpoint rewrite up to four whole
row groups (~370k orders rows measured at a 3M store, against ~50k rows at 1M where no merge fitted):
a cost that has nothing to do with the file, paid on an unpredictable day.

Policy: a load sets ``max_vacuum_tasks = 0`` (deleted rows stay as delete markers, appended row groups
stay partly filled) unless one of those tables holds at least ``SLACK_ROW_GROUPS`` more row groups than
its live rows need; then that load's checkpoint compacts as DuckDB normally does, so the slack — and the
scan cost and file space it wastes — stays bounded, and the compaction is paid once per about that many
daily loads instead of on whichever day the row groups happened to line up. Bulk loads are unaffected:
a 10M-row import writes full row groups.
"""

from __future__ import annotations

ROW_GROUP_ROWS = 122_880  # DuckDB's default row group size
SLACK_ROW_GROUPS = 8  # row groups beyond what the live rows need before a load compacts
TABLES = ("orders", "members", "member_identities")


def slack(con, table: str) -> int:
    """Row groups ``table`` holds beyond ceil(live rows / row group size) (from the storage metadata)."""
    groups = con.execute(f"SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('{table}')").fetchone()[0]
    live = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    return int(groups) - -(-int(live) // ROW_GROUP_ROWS)


def set_vacuum_policy(con) -> bool:
    """Allow DuckDB's row-group compaction at this connection's checkpoints only when slack is due;
    returns whether it is allowed."""
    due = any(slack(con, t) >= SLACK_ROW_GROUPS for t in TABLES)
    if not due:
        con.execute("SET max_vacuum_tasks = 0")
    return due
