"""When a load lets DuckDB compact row groups: on every ``COMPACT_EVERY``-th loaded file, not on any.

DuckDB (2.x) appends each load's rows to a table that was checkpointed as a NEW row group, and at the
checkpoint that closes the store it "vacuums": merges adjacent row groups whose live rows fit in fewer
ones, rewriting every column of them. A daily load therefore leaves a partly filled row group at the
end of ``orders``/``members``/``member_identities``, and a later load's checkpoint merges it with its
neighbours as soon as they fit in fewer (two partly filled ones side by side, or deletes near them: a
changed record is deleted and re-inserted, :mod:`merge`): up to four whole row groups rewritten
(377,799 orders rows measured at a 3M store for a 50k-row file, changed or not, against 50k at 1M
where no merge fitted) — a cost that has nothing to do with the file, paid on an unpredictable day.

Policy: a load sets ``max_vacuum_tasks = 0`` (deleted rows stay as delete markers, appended row groups
stay partly filled) except the load that brings the store's count of loaded files across a multiple of
``COMPACT_EVERY``: that load's checkpoint compacts as DuckDB normally does. The slack — and the scan
cost and file space it wastes — stays bounded (about ``COMPACT_EVERY`` partly filled row groups per
table), and the compaction is paid once per that many loads on a predictable load instead of on
whichever day the row groups happened to line up. (Measuring the slack itself, from
``pragma_storage_info``, cost 0.25 s per table at a 3M store: more than it saves; counting ``load_log``
rows is free.)
"""

from __future__ import annotations

COMPACT_EVERY = 8  # loaded files per compaction


def set_vacuum_policy(con, files: int) -> bool:
    """Before loading ``files`` files: allow DuckDB's row-group compaction at this connection's
    checkpoints only when this load crosses a multiple of ``COMPACT_EVERY`` loaded files; returns
    whether it is allowed."""
    done = con.execute("SELECT count(*) FROM load_log WHERE status = 'loaded'").fetchone()[0]
    due = (done + files) // COMPACT_EVERY > done // COMPACT_EVERY
    if not due:
        con.execute("SET max_vacuum_tasks = 0")
    return due
