"""Rows of segment snapshots as migration 101 stores them, for the writers outside siyu_cli.segment.

A chained snapshot stores only members whose row changed (:mod:`siyu_cli.segment.chains`), so a member
merge or split (:mod:`siyu_cli.members`, a layer below segment) cannot move rows one by one without
changing what later snapshots rebuild; these helpers first store the members concerned in full.
"""

from __future__ import annotations

from typing import Any

COLUMNS = ("member_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score", "segment_id",
           "segment_name", "revenue", "first_purchase", "last_purchase")
ROW = ", ".join(COLUMNS)


def spell_out(con, member_ids: list[Any]) -> None:
    """Store ``member_ids`` in full: a row in every snapshot of a chain they appear in from their first row
    on, a tombstone where they are absent. A merge then moves or drops rows per snapshot
    (:mod:`siyu_cli.members`, key (snapshot_id, gone)) and every snapshot shows what the full layout would:
    without this, a merged member's later changed row would hide the survivor's older one."""
    if not member_ids:
        return
    con.execute("CREATE OR REPLACE TEMP TABLE siyu_seg_x AS SELECT DISTINCT unnest(?::VARCHAR[]) AS member_id",
                [list(member_ids)])
    # each snapshot of a chain from the member's first row in it on: their latest row of the chain up to that
    # snapshot (a real row before a tombstone of the same snapshot), recency aged — what the segment_members
    # view rebuilds, computed here from these members' rows alone (the view, filtered by member through a
    # join, would rebuild every snapshot of every member)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE siyu_seg_full AS
        WITH mine AS (
            SELECT r.*, coalesce(o.chain_id, o.snapshot_id) AS chain, o.as_of AS stored_as_of
            FROM segment_member_rows r JOIN segment_snapshots o ON o.snapshot_id = r.snapshot_id
            WHERE r.member_id IN (SELECT member_id FROM siyu_seg_x)),
        latest AS (
            SELECT s.snapshot_id AS at_id, s.as_of AS at_as_of, m.*,
                   row_number() OVER (PARTITION BY s.snapshot_id, m.member_id
                                      ORDER BY m.snapshot_id DESC, coalesce(m.gone, false)) AS pick
            FROM segment_snapshots s JOIN mine m
                 ON m.chain = coalesce(s.chain_id, s.snapshot_id) AND m.snapshot_id <= s.snapshot_id)
        SELECT at_id AS snapshot_id, member_id,
               CASE WHEN coalesce(gone, false) THEN NULL
                    ELSE recency_days + CAST(coalesce(at_as_of - stored_as_of, 0) AS INTEGER) END AS recency_days,
               {", ".join(f"CASE WHEN coalesce(gone, false) THEN NULL ELSE {c} END AS {c}" for c in COLUMNS[2:])},
               coalesce(gone, false) AS gone
        FROM latest WHERE pick = 1""")
    con.execute("DELETE FROM segment_member_rows WHERE member_id IN (SELECT member_id FROM siyu_seg_x)")
    con.execute(f"INSERT INTO segment_member_rows (snapshot_id, {ROW}, gone) SELECT snapshot_id, {ROW}, gone "
                "FROM siyu_seg_full")
    con.execute("DROP TABLE siyu_seg_full")
    con.execute("DROP TABLE siyu_seg_x")


def close_after(con, member_id: str) -> None:
    """A split gave ``member_id`` its rows back (up to the chain's last snapshot at the merge, which
    :func:`spell_out` wrote in full): the snapshots made since did not have it, so each gets a tombstone —
    without one the restored rows would show in them."""
    con.execute("""
        INSERT INTO segment_member_rows (snapshot_id, member_id, gone)
        SELECT s.snapshot_id, l.member_id, true
        FROM (SELECT r.member_id, coalesce(c.chain_id, c.snapshot_id) AS chain, max(r.snapshot_id) AS last
              FROM segment_member_rows r JOIN segment_snapshots c USING (snapshot_id)
              WHERE r.member_id = ? GROUP BY 1, 2) l
        JOIN segment_snapshots s ON coalesce(s.chain_id, s.snapshot_id) = l.chain AND s.snapshot_id > l.last""",
                [member_id])
