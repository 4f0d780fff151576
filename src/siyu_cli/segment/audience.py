"""Who is in a segment: its members in a snapshot, who entered one between snapshots, a segment's audience.

The reads of ``segment_members`` other areas build on (push audiences, SOP anchors, the tag sync, the
report): functions, or SQL a caller composes into its own query (ARCHITECTURE.md, "Table owners").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from siyu_cli.errors import UsageError
from siyu_cli.i18n import _
from siyu_cli.segment.snapshots import latest_snapshot_ids, match_segment, snapshot_params, snapshots_by_day_sql

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

    from siyu_cli.config import Settings


def newest_snapshot_with_members(con: "duckdb.DuckDBPyConnection") -> int | None:
    """The highest snapshot id that has members (None without any)."""
    return con.execute("SELECT max(snapshot_id) FROM segment_members").fetchone()[0]


def member_segments_sql() -> str:
    """SQL (one ``?``: the snapshot id) of (member_id, segment_name) for a snapshot's members with a segment name."""
    return "SELECT member_id, segment_name FROM segment_members WHERE snapshot_id = ? AND segment_name IS NOT NULL"


def segment_entries_sql(segment_ids: list[str], *, match_names: bool) -> tuple[str, list[Any]]:
    """SQL of (member_id, as_of, segment_id, segment_name): who entered one of ``segment_ids`` on one as_of date,
    and the parameters after the two it leaves open (first ``?``: the scheme; second: the as_of date).

    Per as_of date the snapshot :func:`snapshots_by_day_sql` picks counts; a member enters on D when that
    snapshot has them in one of the segments and the previous counted snapshot (the newest with an earlier
    as_of) had them in none of them or did not list them; the scheme's first snapshot has no previous one.
    ``match_names`` (custom schemes): match ids or names as written.
    """
    marks = ", ".join("?" for _ in segment_ids)

    def member_in(alias: str) -> tuple[str, list[Any]]:
        if match_names:
            return f"({alias}.segment_id IN ({marks}) OR {alias}.segment_name IN ({marks}))", [*segment_ids, *segment_ids]
        return f"{alias}.segment_id IN ({marks})", list(segment_ids)

    cur_sql, cur_params = member_in("cur")
    prev_sql, prev_params = member_in("p")
    sql = f"""
    WITH snaps AS ({snapshots_by_day_sql()}), seq AS (
        SELECT as_of, snapshot_id, lag(snapshot_id) OVER (ORDER BY as_of) AS prev_id FROM snaps
    )
    SELECT cur.member_id, s.as_of, cur.segment_id, cur.segment_name
    FROM seq s JOIN segment_members cur ON cur.snapshot_id = s.snapshot_id
    WHERE s.as_of = ? AND s.prev_id IS NOT NULL AND {cur_sql}
      AND NOT EXISTS (SELECT 1 FROM segment_members p
                      WHERE p.snapshot_id = s.prev_id AND p.member_id = cur.member_id AND {prev_sql})
    """
    return sql, [*cur_params, *prev_params]


#: SQL (two ``?``: snapshot id, segment id) yielding the member ids of one segment of one snapshot as ``id``
SEGMENT_MEMBERS_SQL = "SELECT member_id AS id FROM segment_members WHERE snapshot_id = ? AND segment_id = ?"


def find_segment(con: "duckdb.DuckDBPyConnection", segment: str, snapshot_ids: list[int]) -> tuple[int, str] | None:
    """(snapshot id, segment id) of the first of ``snapshot_ids`` that has ``segment``, or None.

    A segment is named by id ('A'), English id or key, or Chinese name: matched in the snapshot's
    catalogue (:func:`match_segment`), else among the ids and names its members carry.
    """
    for sid in snapshot_ids:
        seg = match_segment(snapshot_params(con, sid).get("segments", []), segment)
        if seg is not None:
            return sid, seg["id"]
        row = con.execute(
            "SELECT any_value(segment_id) FROM segment_members WHERE snapshot_id = ? AND (segment_id = ? OR segment_name = ?)",
            [sid, segment, segment],
        ).fetchone()
        if row and row[0] is not None:
            return sid, row[0]
    return None


def segment_ids_in(con: "duckdb.DuckDBPyConnection", snapshot_id: int) -> list[str]:
    """The segment ids a snapshot's members carry, sorted."""
    return [r[0] for r in con.execute(
        "SELECT DISTINCT segment_id FROM segment_members WHERE snapshot_id = ? ORDER BY 1", [snapshot_id]).fetchall()]


def snapshot_member_count(con: "duckdb.DuckDBPyConnection", snapshot_id: int) -> int:
    return con.execute("SELECT count(*) FROM segment_members WHERE snapshot_id = ?", [snapshot_id]).fetchone()[0]


def audience_in(con: "duckdb.DuckDBPyConnection", segment: str, snapshot_id: int | None = None) -> list[str]:
    """:func:`audience` on an open connection."""
    ids = [snapshot_id] if snapshot_id is not None else latest_snapshot_ids(con)
    if not ids:
        raise UsageError(_('no segment snapshot yet: run `siyu segment` first'))
    found = find_segment(con, segment, ids)
    if found is not None:
        rows = con.execute(SEGMENT_MEMBERS_SQL + " ORDER BY member_id", list(found)).fetchall()
        return [r[0] for r in rows]
    known = ", ".join(s["id"] for s in snapshot_params(con, ids[0]).get("segments", []))
    where = f"snapshot {snapshot_id}" if snapshot_id is not None else "any snapshot"
    raise UsageError(_('no segment {segment!r} in {where} (e.g. {known})').format(segment=segment, where=where, known=known))


def audience(settings: "Settings", segment: str, snapshot_id: int | None = None) -> list[str]:
    """Member ids of a segment (id 'A', English id or Chinese name).

    Without ``snapshot_id``: the latest snapshot (by as_of, :func:`latest_snapshot`) of the latest
    scheme that has that segment (so 'A' finds the latest rfm8 run even if an rfm11 run came after it).
    """
    from siyu_cli.store import open_store

    with open_store(settings, read_only=True) as con:
        return audience_in(con, segment, snapshot_id)
