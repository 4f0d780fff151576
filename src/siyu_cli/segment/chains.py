"""Snapshot chains: a nightly snapshot stores only the members whose row changed (migration 101, issue 16).

A full snapshot stored 15.7 bytes per member (2.45M members); between two nightly runs ~1.5 % of members
change in anything but recency_days growing with as_of, so a run that continues the chain of the previous
snapshot with the same settings stores those rows and a tombstone per member that left, and the
``segment_members`` view rebuilds every snapshot's full rows exactly. Writers of ``segment_member_rows``
(run and prune here; forget; member merges and splits: :mod:`siyu_cli.store.segment_rows`) keep that
reconstruction exact; see each function for how.
"""

from __future__ import annotations

import json

from siyu_cli.store.segment_rows import COLUMNS, ROW

#: snapshots per chain before a run writes a full one again: what a read rebuilds grows with the chain
#: (2.45M members, ~4 % changing a night: the newest snapshot reads in ≈ 0.45 s second in a chain, ≈ 0.8 s
#: seventh, ≈ 2 s thirtieth; a full snapshot ≈ 0.005–0.08 s), so a weekly full one (benchmarks/segment.py)
CHAIN_MAX = 7
#: a run where more than this share of members changed stores them all (a new chain is no bigger)
FULL_SHARE = 0.5
_COMPARED = [c for c in COLUMNS if c not in ("member_id", "recency_days")]


def chain_key(params, stored_scheme: str, splits: dict, custom: dict | None) -> str:
    """What a run's rows depend on besides as_of: two runs continue one chain only when these are equal."""
    inputs = params.to_dict()
    inputs.pop("as_of")
    return json.dumps({**inputs, "scheme": stored_scheme, "splits": {d: str(s) for d, s in sorted(splits.items())},
                       "custom": custom}, sort_keys=True, ensure_ascii=False, default=str)


def chain_to_continue(con, scheme: str, key: str, as_of, chain_max: int | None = None) -> tuple | None:
    """(snapshot_id, chain_id, as_of) of the snapshot a run continues, or None: write a full snapshot.

    The latest snapshot with the same scheme and settings, as of no later than this run, whose chain is
    shorter than :data:`CHAIN_MAX` (it is the last of its chain: a chain only ever holds one key).
    """
    chain_max = CHAIN_MAX if chain_max is None else chain_max
    row = con.execute("""SELECT snapshot_id, coalesce(chain_id, snapshot_id), as_of FROM segment_snapshots
                         WHERE scheme = ? AND chain_key = ? ORDER BY snapshot_id DESC LIMIT 1""", [scheme, key]).fetchone()
    if row is None or row[2] is None or as_of is None or row[2] > as_of:
        return None
    size = con.execute("SELECT count(*) FROM segment_snapshots WHERE coalesce(chain_id, snapshot_id) = ?",
                       [row[1]]).fetchone()[0]
    return row if size < chain_max else None


def store_rows(con, snapshot_id: int, select_sql: str, bind: dict, prev: tuple | None, as_of) -> tuple[int, int | None]:
    """Insert a scored snapshot's rows; returns (members, chain_id). ``prev`` None: every member is stored
    (a chain's head); else only members whose row differs from ``prev`` rebuilt, and tombstones."""
    sid = int(snapshot_id)
    if prev is None:
        n = con.execute(f"INSERT INTO segment_member_rows (snapshot_id, {ROW}) SELECT {sid}, {ROW} FROM ({select_sql})",
                        bind).fetchone()[0]
        return int(n), None
    prev_id, chain, prev_as_of = prev
    con.execute(f"CREATE OR REPLACE TEMP TABLE seg_new AS SELECT {ROW} FROM ({select_sql})", bind)
    members = con.execute("SELECT count(*) FROM seg_new").fetchone()[0]
    shift = (as_of - prev_as_of).days
    n_row = ", ".join(f"n.{c}" for c in _COMPARED)
    p_row = ", ".join(f"p.{c}" for c in _COMPARED)
    # one full join rebuilds the previous snapshot once (through the view) for both the changed rows and the
    # tombstones (a member only there: n's columns are all NULL, the tombstone's form)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE seg_changed AS
        SELECT coalesce(n.member_id, p.member_id) AS member_id, {", ".join(f"n.{c}" for c in COLUMNS[1:])},
               n.member_id IS NULL AS gone
        FROM seg_new n FULL JOIN (SELECT * FROM segment_members WHERE snapshot_id = {int(prev_id)}) p
             ON p.member_id = n.member_id
        WHERE n.member_id IS NULL OR p.member_id IS NULL OR row({n_row}) IS DISTINCT FROM row({p_row})
              OR n.recency_days IS DISTINCT FROM p.recency_days + {int(shift)}""")
    changed = con.execute("SELECT count(*) FROM seg_changed").fetchone()[0]
    if changed > FULL_SHARE * members:
        con.execute(f"INSERT INTO segment_member_rows (snapshot_id, {ROW}) SELECT {sid}, {ROW} FROM seg_new")
        chain = None
    else:
        con.execute(f"INSERT INTO segment_member_rows (snapshot_id, {ROW}, gone) SELECT {sid}, {ROW}, gone FROM seg_changed")
    con.execute("DROP TABLE seg_new")
    con.execute("DROP TABLE seg_changed")
    return int(members), chain


def shadow_tables(con) -> None:
    """A preview writes into empty TEMP tables that shadow the stored snapshots on this connection only;
    its snapshot is full (no chain), and ``segment_members`` reads it as stored."""
    con.execute("CREATE OR REPLACE TEMP TABLE segment_snapshots AS SELECT * FROM main.segment_snapshots LIMIT 0")
    con.execute("CREATE OR REPLACE TEMP TABLE segment_member_rows AS SELECT * FROM main.segment_member_rows LIMIT 0")
    con.execute(f"CREATE OR REPLACE TEMP VIEW segment_members AS SELECT snapshot_id, {ROW} "
                "FROM temp.main.segment_member_rows WHERE NOT coalesce(gone, false)")


def fold_forward(con, deleted: list[int]) -> None:
    """Before snapshots are deleted: each one's rows that the next snapshot of its chain still relies on
    (members with no row of their own there) move to that snapshot, recency aged to its as_of; when a
    chain's head goes, the next snapshot becomes the head (and its tombstones, with nothing before, go).
    Every kept snapshot then rebuilds exactly the rows it did before."""
    for sid in sorted(int(i) for i in deleted):
        chain, as_of = con.execute("SELECT coalesce(chain_id, snapshot_id), as_of FROM segment_snapshots "
                                   "WHERE snapshot_id = ?", [sid]).fetchone()
        nxt = con.execute("""SELECT snapshot_id, as_of FROM segment_snapshots WHERE coalesce(chain_id, snapshot_id) = ?
                             AND snapshot_id > ? ORDER BY snapshot_id LIMIT 1""", [chain, sid]).fetchone()
        if nxt is None:
            continue
        shift = 0 if nxt[1] is None or as_of is None else (nxt[1] - as_of).days
        con.execute(f"""INSERT INTO segment_member_rows (snapshot_id, {ROW}, gone)
                        SELECT {int(nxt[0])}, {ROW.replace("recency_days", f"recency_days + {int(shift)}")}, gone
                        FROM segment_member_rows r WHERE r.snapshot_id = {sid} AND NOT EXISTS (
                            SELECT 1 FROM segment_member_rows x WHERE x.snapshot_id = {int(nxt[0])}
                            AND x.member_id = r.member_id)""")
        con.execute("DELETE FROM segment_member_rows WHERE snapshot_id = ?", [sid])
        if chain == sid:
            con.execute("UPDATE segment_snapshots SET chain_id = ? WHERE chain_id = ?", [nxt[0], sid])
            con.execute("UPDATE segment_snapshots SET chain_id = NULL WHERE snapshot_id = ?", [nxt[0]])
            con.execute("DELETE FROM segment_member_rows WHERE snapshot_id = ? AND gone", [nxt[0]])
