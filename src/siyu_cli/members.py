"""Merging two members into one person, undoing it, and explaining who a member is.

A load merges members when a new row links ids that belong to two of them
(:mod:`siyu_cli.ingest.identity`); an operator merges or splits by hand with ``siyu members merge|split``.
Both go through :func:`apply_merges`, which repoints every table that holds a member id (:data:`REPOINT`)
and writes an audit trail (``member_merges``, ``member_merge_rows``: migration 330) from which
:func:`split` restores the rows exactly as they were.

The survivor (:func:`survivor_order`, docs/identity.md): the member whose own id is the strongest kind
(a back-office member id, then ``wx:`` external_userid, ``un:``, ``ph:``, ``em:``, anonymous ``h:``) —
the id a single row carrying both sets of ids would have been given — then the one with more orders,
then the one siyu saw first (its first load batch), then the smaller id.
"""

from __future__ import annotations

from siyu_cli.i18n import _

import getpass
import uuid
from dataclasses import dataclass
from typing import Any

from siyu_cli import clock
from siyu_cli.errors import DataError, UsageError

#: tables (besides ``members``) holding a member id: the key columns that identify a row without it, and
#: whether the key is unique per member (then a row the survivor already has is dropped, not moved)
REPOINT: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("member_identities", ("id_type", "id_value"), False),
    ("orders", ("source", "order_id"), False),
    ("wecom_contacts", ("external_userid", "staff_userid"), False),
    ("group_members", ("group_id", "external_userid"), False),
    ("wecom_customers", ("external_userid",), False),
    ("contact_events", ("batch_id", "kind", "external_userid", "staff_userid", "group_id"), False),
    ("wecom_tag_ledger", ("run_id", "external_userid", "staff_userid"), False),
    ("push_recipients", ("campaign_id", "recipient_id"), False),
    ("member_tags", ("tag_group", "tag"), True),
    ("optouts", ("channel",), True),
    ("segment_member_rows", ("snapshot_id", "gone"), True),  # spelled out first: store/segment_rows.py
    ("clv_members", ("fit_id",), True),
)
#: member columns the survivor takes from the merged member when its own is empty
FILL_COLUMNS = ("source_member_id", "external_userid", "unionid", "phone", "phone_masked", "email", "name", "nickname",
                "gender", "birthday", "level", "points", "join_channel", "store", "guide_userid", "guide_name")
ID_STRENGTH_SQL = ("CASE WHEN {c} LIKE 'wx:%' THEN 1 WHEN {c} LIKE 'un:%' THEN 2 WHEN {c} LIKE 'ph:%' THEN 3 "
                   "WHEN {c} LIKE 'em:%' THEN 4 WHEN {c} LIKE 'h:%' THEN 9 ELSE 0 END")


@dataclass(frozen=True)
class MergePair:
    """``merged`` folds into ``survivor``; ``via`` is the (id type, id value) that linked them, if any."""

    merged: str
    survivor: str
    via_type: str | None = None
    via_value: str | None = None


def key_sql(keys: tuple[str, ...], alias: str) -> str:
    """A row's key as one text (the same expression when auditing and when splitting)."""
    return "concat_ws(chr(31), " + ", ".join(f"coalesce(CAST({alias}.{k} AS VARCHAR), chr(0))" for k in keys) + ")"


def live_merges_via_sql(id_type: str) -> str:
    """SQL of (v, n): each value of ``id_type`` (a siyu key type, never user text) that live merges went
    through, and how many."""
    return (f"SELECT via_value AS v, count(*) AS n FROM member_merges WHERE via_type = '{id_type}' "
            "AND undone_at IS NULL GROUP BY 1")


def held_apart(con) -> set[frozenset]:
    """The pairs of members a split (`siyu members split`) set apart: merging them again is refused."""
    return {frozenset(r) for r in con.execute(
        "SELECT survivor_id, merged_id FROM member_merges WHERE undone_at IS NOT NULL").fetchall()}


def _tables(con) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}


def backoffice_ids(con, member_ids: list[str]) -> set[str]:
    """Those of ``member_ids`` that have a back-office member id (a ``source_member_id`` identity): two of them
    never merge. Asked apart from :func:`rank`, whose count of orders scans every stored order's member."""
    con.execute("CREATE OR REPLACE TEMP TABLE siyu_mg_c AS SELECT DISTINCT unnest(?::VARCHAR[]) AS member_id", [member_ids])
    rows = con.execute("""SELECT DISTINCT member_id FROM member_identities WHERE id_type = 'source_member_id'
                          AND member_id IN (SELECT member_id FROM siyu_mg_c)""").fetchall()
    con.execute("DROP TABLE siyu_mg_c")
    return {r[0] for r in rows}


def rank(con, member_ids: list[str]) -> dict[str, tuple]:
    """Per member: its sort key by the survivor rule (smaller is better; whether members may merge at all is
    :func:`backoffice_ids`).

    One query for any number of members (a load may link thousands of pairs at once).
    """
    con.execute("CREATE OR REPLACE TEMP TABLE siyu_mg_c AS SELECT DISTINCT unnest(?::VARCHAR[]) AS member_id", [member_ids])
    rows = con.execute(f"""
        SELECT c.member_id, {ID_STRENGTH_SQL.format(c='c.member_id')}, -coalesce(o.n, 0), m.first_batch
        FROM siyu_mg_c c
        LEFT JOIN (SELECT member_id, count(*) AS n FROM orders WHERE member_id IN (SELECT member_id FROM siyu_mg_c)
                   GROUP BY 1) o USING (member_id)
        LEFT JOIN members m USING (member_id)
    """).fetchall()
    con.execute("DROP TABLE siyu_mg_c")
    # first_batch NULL (not a stored member) sorts last
    return {r[0]: (r[1], r[2], r[3] is None, r[3] or "", r[0]) for r in rows}


def survivor_order(con, member_ids: list[str]) -> list[str]:
    """``member_ids`` best survivor first (the documented rule; see the module docstring)."""
    ranks = rank(con, member_ids)
    return sorted(ranks, key=ranks.__getitem__)


def apply_merges(con, pairs: list[MergePair], *, reason: str, batch_id: str | None = None,
                 actor: str = "siyu load", note: str | None = None) -> list[str]:
    """Fold each pair's merged member into its survivor, in the caller's transaction; returns the merge ids.

    Every table of :data:`REPOINT` follows; the survivor's empty member fields take the merged member's
    values (``join_at``: the earlier); the merged member's row is deleted. Each change is recorded in
    ``member_merge_rows`` for :func:`split`. A survivor must not itself be merged in the same call.
    """
    if not pairs:
        return []
    now = clock.now()
    ids = [f"mg-{uuid.uuid4().hex[:12]}" for _ in pairs]
    # the pairs as one temp table (lists unnested: a load may merge thousands at once)
    con.execute("""CREATE OR REPLACE TEMP TABLE siyu_mg AS
                   SELECT unnest(?::VARCHAR[]) AS merge_id, unnest(?::VARCHAR[]) AS loser, unnest(?::VARCHAR[]) AS survivor,
                          unnest(?::VARCHAR[]) AS via_type, unnest(?::VARCHAR[]) AS via_value""",
                [ids, [p.merged for p in pairs], [p.survivor for p in pairs], [p.via_type for p in pairs],
                 [p.via_value for p in pairs]])
    con.execute("""INSERT INTO member_merges (merge_id, survivor_id, merged_id, reason, via_type, via_value, batch_id,
                                              actor, note, merged_at)
                   SELECT merge_id, survivor, loser, ?, via_type, via_value, ?, ?, ?, ? FROM siyu_mg""",
                [reason, batch_id, actor, note, now])
    # the member rows: both recorded, the survivor's blanks filled, the merged one deleted
    con.execute("""
        INSERT INTO member_merge_rows (merge_id, table_name, action, row_key, row_data)
        SELECT g.merge_id, 'members', 'member', m.member_id, to_json(m) FROM members m JOIN siyu_mg g ON m.member_id = g.loser
        UNION ALL
        SELECT g.merge_id, 'members', 'survivor', m.member_id, to_json(m) FROM members m JOIN siyu_mg g ON m.member_id = g.survivor
    """)
    fills = ", ".join(f"arg_min(m.{c}, g.loser) FILTER (WHERE m.{c} IS NOT NULL) AS {c}" for c in FILL_COLUMNS)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE siyu_mg_fill AS
        SELECT g.survivor, {fills}, min(m.join_at) AS join_at
        FROM siyu_mg g JOIN members m ON m.member_id = g.loser GROUP BY g.survivor
    """)
    sets = ", ".join(f"{c} = coalesce(members.{c}, f.{c})" for c in FILL_COLUMNS)
    con.execute(f"""UPDATE members SET {sets}, join_at = least(members.join_at, f.join_at)
                    FROM siyu_mg_fill f WHERE members.member_id = f.survivor""")
    con.execute("DELETE FROM members WHERE member_id IN (SELECT loser FROM siyu_mg)")
    present = _tables(con)
    if "segment_member_rows" in present:  # each snapshot's row of both, stored in full, then moved or dropped
        from siyu_cli.store.segment_rows import spell_out

        spell_out(con, [r[0] for r in con.execute("SELECT loser FROM siyu_mg UNION SELECT survivor FROM siyu_mg").fetchall()])
    for table, keys, unique in REPOINT:
        if table not in present:
            continue
        k_t, k_s = key_sql(keys, "t"), key_sql(keys, "s")
        if unique:
            # a key the survivor (or an earlier merged member of the same survivor) already holds is dropped
            con.execute(f"""
                INSERT INTO member_merge_rows (merge_id, table_name, action, row_key, row_data)
                SELECT merge_id, '{table}', CASE WHEN dropped THEN 'dropped' ELSE 'moved' END, k,
                       CASE WHEN dropped THEN j END
                FROM (
                    SELECT g.merge_id, {k_t} AS k, to_json(t) AS j,
                           EXISTS (SELECT 1 FROM {table} s WHERE s.member_id = g.survivor AND {k_s} = {k_t})
                           OR row_number() OVER (PARTITION BY g.survivor, {k_t} ORDER BY g.loser) > 1 AS dropped
                    FROM {table} t JOIN siyu_mg g ON t.member_id = g.loser
                )
            """)
            con.execute(f"""
                DELETE FROM {table} t USING siyu_mg g, member_merge_rows r
                WHERE t.member_id = g.loser AND r.merge_id = g.merge_id AND r.table_name = '{table}'
                  AND r.action = 'dropped' AND r.row_key = {k_t}
            """)
        else:
            con.execute(f"""
                INSERT INTO member_merge_rows (merge_id, table_name, action, row_key)
                SELECT g.merge_id, '{table}', 'moved', {k_t} FROM {table} t JOIN siyu_mg g ON t.member_id = g.loser
            """)
        con.execute(f"UPDATE {table} SET member_id = g.survivor FROM siyu_mg g WHERE {table}.member_id = g.loser")
    con.execute("DROP TABLE IF EXISTS siyu_mg_fill")
    con.execute("DROP TABLE IF EXISTS siyu_mg")
    return ids


# ---------------------------------------------------------------- operator commands


def _who() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name (some containers)
        return "cli"


def find_member(con, ident: str, *, follow_merges: bool = False) -> str:
    """The member an id names: a member id, or any id of member_identities (phone, external_userid, …).

    ``follow_merges``: a member id merged away names the member it was merged into (through chains).
    """
    ident = ident.strip()
    if con.execute("SELECT count(*) FROM members WHERE member_id = ?", [ident]).fetchone()[0]:
        return ident
    from siyu_cli.forget import normalise

    value, _kind = normalise(ident)  # a phone in any style (+86, spaces), an email in any case
    rows = con.execute("SELECT DISTINCT member_id FROM member_identities WHERE id_value IN (?, ?) ORDER BY 1 LIMIT 2",
                       [ident, value]).fetchall()
    if len(rows) == 1:
        return rows[0][0]
    if rows:
        raise UsageError(_('That id belongs to several members; give a member id.'))
    merged = con.execute("SELECT survivor_id FROM member_merges WHERE merged_id = ? AND undone_at IS NULL "
                         "ORDER BY merged_at DESC LIMIT 1", [ident]).fetchone()
    if merged and follow_merges:
        return find_member(con, merged[0], follow_merges=True)
    if merged:
        raise UsageError(_('Member {ident} was merged into {value}; see `siyu members why {value}`.').format(ident=ident, value=merged[0]))
    raise DataError(_('No member has the id {ident}.').format(ident=ident))


def merge(settings, a: str, b: str, *, keep: str | None = None, note: str | None = None) -> dict[str, Any]:
    """Merge two members by hand (``siyu members merge A B``); the survivor by the rule unless ``keep``."""
    from siyu_cli.store import open_store

    with open_store(settings) as con:
        ma, mb = find_member(con, a), find_member(con, b)
        if ma == mb:
            raise UsageError(_('{a} and {b} are already the same member ({ma}).').format(a=a, b=b, ma=ma))
        if keep is not None:
            mk = find_member(con, keep)
            if mk not in (ma, mb):
                raise UsageError(_('--keep must name one of the two members.'))
            survivor = mk
        else:
            survivor = survivor_order(con, [ma, mb])[0]
        loser = mb if survivor == ma else ma
        con.execute("BEGIN TRANSACTION")
        try:
            [merge_id] = apply_merges(con, [MergePair(loser, survivor)], reason="cli", actor=_who(), note=note)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        moved = _changed(con, merge_id)
    return {"merge_id": merge_id, "survivor_id": survivor, "merged_id": loser, "rows": moved}


def _changed(con, merge_id: str) -> dict[str, int]:
    return {t: int(n) for t, n in con.execute(
        "SELECT table_name, count(*) FROM member_merge_rows WHERE merge_id = ? AND action IN ('moved', 'dropped') "
        "GROUP BY 1 ORDER BY 1", [merge_id]).fetchall()}


def _find_merge(con, ident: str) -> tuple:
    row = con.execute("SELECT merge_id, survivor_id, merged_id, undone_at FROM member_merges WHERE merge_id = ?",
                      [ident]).fetchone()
    if row is None:
        rows = con.execute("SELECT merge_id, survivor_id, merged_id, undone_at FROM member_merges "
                           "WHERE merged_id = ? AND undone_at IS NULL ORDER BY merged_at DESC", [ident]).fetchall()
        if not rows:
            rows = con.execute("SELECT merge_id, survivor_id, merged_id, undone_at FROM member_merges "
                               "WHERE survivor_id = ? AND undone_at IS NULL ORDER BY merged_at DESC", [ident]).fetchall()
            if len(rows) > 1:
                raise UsageError(_('{len} members were merged into {ident}; name the merge id or the merged member id (see `siyu members why {ident}`).').format(len=len(rows), ident=ident))
        if not rows:
            raise DataError(_('No merge to undo for {ident} (give a merge id, or the member id that was merged away).').format(ident=ident))
        row = rows[0]
    if row[3] is not None:
        raise UsageError(_('Merge {value} was already undone.').format(value=row[0]))
    return row


def split(settings, ident: str) -> dict[str, Any]:
    """Undo one merge (``siyu members split``) from its audit rows; the pair is never merged again by a load.

    Rows a later load added to the survivor stay with it; the survivor's fields the merge filled go back
    to empty when they still hold the merged member's value.
    """
    import json

    from siyu_cli.store import open_store

    with open_store(settings) as con:
        merge_id, survivor, loser, _rest = _find_merge(con, ident)
        if not con.execute("SELECT count(*) FROM members WHERE member_id = ?", [survivor]).fetchone()[0]:
            later = con.execute("SELECT merge_id FROM member_merges WHERE merged_id = ? AND undone_at IS NULL "
                                "ORDER BY merged_at DESC LIMIT 1", [survivor]).fetchone()
            hint = f" Undo merge {later[0]} first." if later else ""
            raise DataError(_('Member {survivor} no longer exists, so merge {merge_id} cannot be undone.{hint}').format(survivor=survivor, merge_id=merge_id, hint=hint))
        if con.execute("SELECT count(*) FROM members WHERE member_id = ?", [loser]).fetchone()[0]:
            raise DataError(_('Member {loser} exists again, so merge {merge_id} cannot be undone.').format(loser=loser, merge_id=merge_id))
        before = {a: json.loads(j) for a, j in con.execute(
            "SELECT action, row_data FROM member_merge_rows WHERE merge_id = ? AND table_name = 'members'",
            [merge_id]).fetchall()}
        present = _tables(con)
        con.execute("BEGIN TRANSACTION")
        try:
            restored = _restore(con, merge_id, survivor, loser, before, present)
            con.execute("UPDATE member_merges SET undone_at = ?, undone_by = ? WHERE merge_id = ?",
                        [clock.now(), _who(), merge_id])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return {"merge_id": merge_id, "survivor_id": survivor, "restored_id": loser, "rows": restored}


def _row_type(con, table: str) -> str:
    cols = con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
                       "AND table_schema = 'main' ORDER BY ordinal_position", [table]).fetchall()
    import json

    return json.dumps({c: t for c, t in cols})


def _restore(con, merge_id, survivor, loser, before, present) -> dict[str, int]:
    counts: dict[str, int] = {}
    if "member" in before:
        con.execute(f"INSERT INTO members BY NAME SELECT unnest(from_json(?::JSON, '{_row_type(con, 'members')}'))",
                    [_json(before["member"])])
    if "member" in before and "survivor" in before:
        # fields the merge gave the survivor go back to its own value, unless a later load changed them
        mtype = _row_type(con, "members")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE siyu_mg_prev AS
                        SELECT 'old' AS w, unnest(from_json(?::JSON, '{mtype}'))
                        UNION ALL SELECT 'gone', unnest(from_json(?::JSON, '{mtype}'))""",
                    [_json(before["survivor"]), _json(before["member"])])
        sets = ", ".join(f"{c} = CASE WHEN members.{c} IS NOT DISTINCT FROM g.{c} AND o.{c} IS DISTINCT FROM g.{c} "
                         f"THEN o.{c} ELSE members.{c} END" for c in (*FILL_COLUMNS, "join_at"))
        con.execute(f"""UPDATE members SET {sets} FROM siyu_mg_prev o, siyu_mg_prev g
                        WHERE o.w = 'old' AND g.w = 'gone' AND members.member_id = ?""", [survivor])
        con.execute("DROP TABLE siyu_mg_prev")
    for table, keys, _unique in REPOINT:
        if table not in present:
            continue
        n = con.execute(f"""
            UPDATE {table} SET member_id = ? WHERE member_id = ? AND {key_sql(keys, table)} IN (
                SELECT row_key FROM member_merge_rows WHERE merge_id = ? AND table_name = '{table}' AND action = 'moved')
        """, [loser, survivor, merge_id]).fetchone()[0]
        n += con.execute(f"""
            INSERT INTO {table} BY NAME SELECT unnest(from_json(row_data, '{_row_type(con, table)}'))
            FROM member_merge_rows WHERE merge_id = ? AND table_name = '{table}' AND action = 'dropped'
        """, [merge_id]).fetchone()[0]
        if n:
            counts[table] = int(n)
    if "segment_member_rows" in present:  # snapshots made since the merge did not have the loser
        from siyu_cli.store.segment_rows import close_after

        close_after(con, loser)
    return counts


def _json(d: dict) -> str:
    import json

    return json.dumps(d, ensure_ascii=False)


def why(settings, ident: str) -> dict[str, Any]:
    """Which ids and rows link this member, the merges it took part in and the links loads refused."""
    from siyu_cli.store import open_store

    with open_store(settings, read_only=True) as con:
        mid = find_member(con, ident, follow_merges=True)
        present = _tables(con)
        m = con.execute("SELECT source, first_batch, updated_batch FROM members WHERE member_id = ?", [mid]).fetchone()
        ids = [{"id_type": t, "id_value": v} for t, v in con.execute(
            "SELECT id_type, id_value FROM member_identities WHERE member_id = ? ORDER BY id_type, id_value",
            [mid]).fetchall()]
        rows = {}
        for table, _keys, _u in REPOINT:
            if table in present and table != "member_identities":
                # snapshots through the view: segment_member_rows holds only changed rows and tombstones (101)
                shown = "segment_members" if table == "segment_member_rows" else table
                n = con.execute(f"SELECT count(*) FROM {shown} WHERE member_id = ?", [mid]).fetchone()[0]
                if n:
                    rows[shown] = int(n)
        # the rows that carry the ids: which load batches (files) named this member
        batches = [dict(zip(("batch_id", "kind", "file", "rows"), r)) for r in con.execute("""
            SELECT l.batch_id, l.kind, l.file, x.n FROM (
                SELECT batch_id, count(*) AS n FROM orders WHERE member_id = ? GROUP BY 1
                UNION ALL SELECT DISTINCT unnest([first_batch, updated_batch]), 1 FROM members WHERE member_id = ?
            ) x JOIN load_log l USING (batch_id) ORDER BY l.started_at, l.batch_id
        """, [mid, mid]).fetchall()]
        merged_batches: dict[str, dict] = {}
        for b in batches:
            merged_batches.setdefault(b["batch_id"], {**b, "rows": 0})["rows"] += b["rows"]
        merges = [dict(zip(("merge_id", "survivor_id", "merged_id", "reason", "via_type", "via_value", "batch_id",
                            "actor", "merged_at", "undone_at"), r)) for r in con.execute("""
            SELECT merge_id, survivor_id, merged_id, reason, via_type, via_value, batch_id, actor, merged_at, undone_at
            FROM member_merges WHERE ? IN (survivor_id, merged_id) ORDER BY merged_at, merge_id
        """, [mid]).fetchall()]
        conflicts = [dict(zip(("reason", "id_type", "id_value", "members", "last_batch"), r)) for r in con.execute("""
            SELECT reason, id_type, id_value, members, last_batch FROM identity_conflicts
            WHERE list_contains(member_ids, ?) ORDER BY last_seen DESC LIMIT 50
        """, [mid]).fetchall()]
    return {"member_id": mid, "source": m[0] if m else None, "first_batch": m[1] if m else None,
            "identities": ids, "rows": rows, "batches": list(merged_batches.values()), "merges": merges,
            "conflicts": conflicts}


def conflicts(settings, *, limit: int = 200) -> list[dict[str, Any]]:
    """Links loads refused to follow (identity_conflicts), most recent first."""
    from siyu_cli.store import open_store

    with open_store(settings, read_only=True) as con:
        rows = con.execute("""
            SELECT reason, id_type, id_value, members, member_ids, first_batch, last_batch, last_seen
            FROM identity_conflicts ORDER BY last_seen DESC, reason, id_type, id_value LIMIT ?
        """, [limit]).fetchall()
    cols = ("reason", "id_type", "id_value", "members", "member_ids", "first_batch", "last_batch", "last_seen")
    return [dict(zip(cols, r)) for r in rows]
