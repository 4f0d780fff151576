"""Who is in a segment: its members in a snapshot, who entered one between snapshots, a segment's audience.

The reads of ``segment_members`` other areas build on (push audiences, SOP anchors, the tag sync, the
report): functions, or SQL a caller composes into its own query (ARCHITECTURE.md, "Table owners").
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from siyu_cli.errors import UsageError
from siyu_cli.i18n import _
from siyu_cli.segment.snapshots import latest_snapshot_ids, match_segment, snapshot_params, snapshots_by_day_sql

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

    from siyu_cli.config import Settings


def newest_snapshot_with_members(con: "duckdb.DuckDBPyConnection") -> int | None:
    """The highest snapshot id that has members (None without any).

    Asked snapshot by snapshot from the newest, each by its id: ``segment_members`` is a view that rebuilds
    snapshots from their chains (migration 101), and only a constant snapshot id confines it to one —
    ``max(snapshot_id)`` over the view rebuilt every snapshot (3.2 s for 23 at 2.45M members)."""
    for (snapshot_id,) in con.execute("SELECT snapshot_id FROM segment_snapshots ORDER BY snapshot_id DESC").fetchall():
        if con.execute("SELECT 1 FROM segment_members WHERE snapshot_id = ? LIMIT 1", [snapshot_id]).fetchone():
            return int(snapshot_id)
    return None


@contextmanager
def only_snapshots(con: "duckdb.DuckDBPyConnection", pairs: Iterable[tuple[int, str]]) -> Iterator[None]:
    """Inside the block ``segment_members`` holds only these (snapshot, segment) pairs on this connection: a TEMP
    copy, read by their snapshot ids as constants, shadows the view. For SQL that names its snapshots through a
    join (the report's campaign control groups): ``segment_members`` rebuilds snapshots from their chains
    (migration 101), and only constant ids confine it — through a join it rebuilt every stored snapshot."""
    pairs = sorted({(int(s), str(g)) for s, g in pairs})
    ids = ", ".join(str(s) for s in sorted({s for s, _ in pairs})) or "NULL"  # constants: what confines the view
    each = " OR ".join("(snapshot_id = ? AND segment_id = ?)" for _ in pairs) or "false"
    con.execute(f"CREATE TEMP TABLE segment_members AS SELECT * FROM segment_members WHERE snapshot_id IN ({ids}) "
                f"AND ({each})", [v for pair in pairs for v in pair])
    try:
        yield
    finally:
        con.execute("DROP TABLE temp.main.segment_members")


def member_segments_sql() -> str:
    """SQL (one ``?``: the snapshot id) of (member_id, segment_name) for a snapshot's members with a segment name."""
    return "SELECT member_id, segment_name FROM segment_members WHERE snapshot_id = ? AND segment_name IS NOT NULL"


def entry_snapshots(con: "duckdb.DuckDBPyConnection", scheme: str, as_of) -> tuple[int, int] | None:
    """(the snapshot counted for ``as_of``, the previous counted one) of a scheme, or None when that day has no
    snapshot or it is the scheme's first: per as_of date the snapshot :func:`snapshots_by_day_sql` picks counts,
    and the previous counted one is the newest with an earlier as_of."""
    row = con.execute(f"""
        WITH snaps AS ({snapshots_by_day_sql()})
        SELECT snapshot_id, prev_id FROM (
            SELECT as_of, snapshot_id, lag(snapshot_id) OVER (ORDER BY as_of) AS prev_id FROM snaps)
        WHERE as_of = ?""", [scheme, as_of]).fetchone()
    return None if row is None or row[1] is None else (int(row[0]), int(row[1]))


def segment_entries_sql(segment_ids: list[str], *, match_names: bool,
                        snapshots: tuple[int, int] | None) -> tuple[str, list[Any]]:
    """SQL of (member_id, as_of, segment_id, segment_name): who entered one of ``segment_ids`` between two
    snapshots (:func:`entry_snapshots`), and its parameters; no rows when ``snapshots`` is None.

    A member enters when the later snapshot has them in one of the segments and the earlier one had them in
    none of them or did not list them. ``match_names`` (custom schemes): match ids or names as written. The
    snapshot ids are constants in the SQL: ``segment_members`` is a view rebuilding snapshots from their chains
    (migration 101), and a snapshot id that comes from a join would make it rebuild every snapshot.
    """
    if snapshots is None:
        return ("SELECT NULL::VARCHAR AS member_id, NULL::DATE AS as_of, NULL::VARCHAR AS segment_id, "
                "NULL::VARCHAR AS segment_name WHERE false"), []
    cur_id, prev_id = (int(i) for i in snapshots)
    marks = ", ".join("?" for _ in segment_ids)

    def member_in(alias: str) -> tuple[str, list[Any]]:
        if match_names:
            return f"({alias}.segment_id IN ({marks}) OR {alias}.segment_name IN ({marks}))", [*segment_ids, *segment_ids]
        return f"{alias}.segment_id IN ({marks})", list(segment_ids)

    cur_sql, cur_params = member_in("cur")
    prev_sql, prev_params = member_in("p")
    sql = f"""
    SELECT cur.member_id, s.as_of, cur.segment_id, cur.segment_name
    FROM segment_members cur JOIN segment_snapshots s ON s.snapshot_id = cur.snapshot_id
    WHERE cur.snapshot_id = {cur_id} AND {cur_sql}
      AND NOT EXISTS (SELECT 1 FROM segment_members p
                      WHERE p.snapshot_id = {prev_id} AND p.member_id = cur.member_id AND {prev_sql})
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
