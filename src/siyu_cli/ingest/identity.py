"""Member identity resolution ("OneID") in set-based SQL.

A person is recognised by, in this order: the back-office's own member id,
the WeCom external_userid, the WeChat unionid, a normalised mainland phone,
then an email. Every such id is recorded in ``member_identities`` pointing at
one member. Resolution of a batch of buyer/customer key tuples:

1. each tuple looks up existing identities in priority order; the first hit wins
   (a lower-priority id that already belongs to someone else is *not* stolen);
2. tuples with no hit get a new member id from their strongest key
   (``<member id>`` / ``wx:<external_userid>`` / ``un:<hash>`` / ``ph:<hash>`` / ``em:<hash>``): ids
   made from a unionid, a phone or an email are pseudonymous — a keyed hash under the workspace's id
   key (:mod:`siyu_cli.privacy`), computed in SQL by the ``siyu_pseudonym`` macro that
   :func:`siyu_cli.store.open_store` installs on every read-write connection;
3. inside the batch, tuples that share any key are given one member id
   (two propagation passes over the key types, strongest id first);
4. new identities are inserted; existing ones are left alone.

Inside a load (:func:`start_batch` … :func:`end_batch`), resolution also follows links between existing
members: a tuple whose keys name two of them merges them (:func:`_merge_linked`, through
:mod:`siyu_cli.members`), except through an id shared by more than ``[identity] max_members_per_id``
members (:func:`_shared_ids`), between two back-office member ids, or for a pair an operator split —
those are recorded in ``identity_conflicts`` instead (docs/identity.md).

Masked phones (``138****1234``) never reach this module: they are not keys.
"""

from __future__ import annotations

from siyu_cli.i18n import _

from dataclasses import dataclass

from siyu_cli import clock

KEY_TYPES = ("source_member_id", "external_userid", "unionid", "phone", "email")
KEY_COLUMNS = {"source_member_id": "member_ref", "external_userid": "external_userid", "unionid": "unionid",
               "phone": "phone", "email": "email"}
PREFIX = {"source_member_id": "", "external_userid": "wx:"}  # the others: siyu_cli.privacy.PSEUDONYM_PREFIX
#: ``member_identities.id_hash`` of an id (migration 006): every writer of the table stores it
ID_HASH = "hash({t}, {v})"
#: the join of pairs ``{n}`` (id_type, id_value, id_hash) with member_identities ``{i}``: on the hash alone, so
#: DuckDB's hash join filters the table scan by a Bloom filter of the pairs' hashes and reads the text columns
#: only of the rows it keeps (10M orders / 5M ids, a 50k-row daily file: 0.29–0.35 s → 0.16 s); the text is
#: compared too, inside a CASE, which keeps the optimizer from making it a join key of its own: with three keys
#: it hashes and compares the text of every stored id again, and pushes no Bloom filter
SAME_ID = ("{i}.id_hash = {n}.id_hash AND CASE WHEN {i}.id_type = {n}.id_type AND {i}.id_value = {n}.id_value "
           "THEN TRUE ELSE FALSE END")


def own_id_sql(alias: str = "", types: tuple[str, ...] = KEY_TYPES) -> str:
    """The member id a tuple's strongest key (of ``types``) gives it (personal keys pseudonymised)."""
    return f"coalesce({', '.join(_own_ids(alias, types))})"


def _own_ids(alias: str, types: tuple[str, ...]) -> list[str]:
    a = f"{alias}." if alias else ""
    return [
        (f"'{PREFIX[t]}' || {a}{KEY_COLUMNS[t]}" if PREFIX[t] else f"{a}{KEY_COLUMNS[t]}") if t in PREFIX
        else f"siyu_pseudonym('{t}', {a}{KEY_COLUMNS[t]})"
        for t in types
    ]


def strength_sql(alias: str = "") -> str:
    """0 for the strongest key present … 4; 9 when none."""
    a = f"{alias}." if alias else ""
    whens = " ".join(f"WHEN {a}{KEY_COLUMNS[t]} IS NOT NULL THEN {i}" for i, t in enumerate(KEY_TYPES))
    return f"CASE {whens} ELSE 9 END"


def resolve(con, keys_table: str, out_table: str, carry: list[str] | tuple[str, ...] = ()) -> None:
    """Resolve ``keys_table(__bk, member_ref, external_userid, unionid, phone, email)`` (one row per __bk).

    Creates ``out_table(__bk, member_id, matched)`` where ``matched`` says the member
    existed before this batch (and the ``carry`` columns of ``keys_table``, which resolving leaves alone). Rows without any key get member_id NULL. Inside a load (after
    :func:`start_batch`) ids shared by too many members are removed from ``keys_table``'s tuples that
    have a stronger id, and two existing members a row links are merged (:func:`_merge_linked`).
    """
    ctx = _context(con)
    check_hashes(con)
    _hits(con, keys_table)
    if ctx is not None and _shared_ids(con, ctx):
        # a shared id is dropped from every tuple that has a stronger id of its own (the shop phone on a
        # member's order): not followed, not linked inside the batch, not recorded as that member's identity
        for i, t in enumerate(KEY_TYPES[1:], start=1):
            c = KEY_COLUMNS[t]
            stronger = " OR ".join(f"{KEY_COLUMNS[s]} IS NOT NULL" for s in KEY_TYPES[:i])
            con.execute(f"UPDATE {keys_table} SET {c} = NULL WHERE ({stronger}) "
                        f"AND {c} IN (SELECT v FROM siyu_id_shared WHERE id_type = '{t}')")
        _hits(con, keys_table)
    # propagate inside the batch: tuples linked by shared key values, directly or through a chain
    # (a–b share a phone, b–c a member id), are one person and take the strongest member id among them
    counts = con.execute(
        f"SELECT {', '.join(f'count({KEY_COLUMNS[t]})' for t in KEY_TYPES)} FROM siyu_id0"
    ).fetchone()
    present = [t for t, n in zip(KEY_TYPES, counts) if n]
    # with one key type every tuple has its own value: nobody to link
    linked = len(present) > 1 and _propagate(con, [KEY_COLUMNS[t] for t in present])
    more = "".join(f", i.{c}" for c in carry)
    if linked:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {out_table} AS
            SELECT i.__bk, coalesce(l.__mid, i.__mid) AS member_id, (coalesce(l.__str, i.__str) = -1) AS matched{more}
            FROM siyu_id0 i LEFT JOIN siyu_link l USING (__bk)
        """)
        con.execute("DROP TABLE siyu_link")
    else:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {out_table} AS
            SELECT __bk, __mid AS member_id, (__str = -1) AS matched{more} FROM siyu_id0 i
        """)
    if ctx is not None:
        _merge_linked(con, out_table, ctx)
        con.execute("DROP TABLE IF EXISTS siyu_id_shared")


def check_hashes(con) -> None:
    """Recompute ``member_identities.id_hash`` when DuckDB's ``hash()`` no longer gives what is stored.

    DuckDB does not promise ``hash()`` stays the same across versions; after an upgrade that changed it, every
    lookup by hash would miss and a load would give known people new members. Every row was hashed by the same
    DuckDB (this check runs before each batch writes any), so the first few rows tell."""
    h = ID_HASH.format(t="id_type", v="id_value")
    if con.execute(f"SELECT count(*) FROM (SELECT * FROM member_identities LIMIT 64) WHERE id_hash <> {h}").fetchone()[0]:
        con.execute(f"UPDATE member_identities SET id_hash = {h} WHERE id_hash <> {h}")


def _hits(con, keys_table: str) -> None:
    """``siyu_id0``: each tuple with the member each of its keys already names (``__h0``…) and its first hit.

    The batch's (type, value) pairs meet member_identities in ONE join: a join per key type read the table,
    which grows with the store, five times. The pairs found are kept (``siyu_id_hit``): they are exactly the
    batch's pairs already stored, which :func:`record_identities` then need not look up again.
    """
    pairs = " UNION ALL ".join(
        f"SELECT __bk, {i} AS prio, '{t}' AS id_type, {KEY_COLUMNS[t]} AS id_value FROM {keys_table} "
        f"WHERE {KEY_COLUMNS[t]} IS NOT NULL"
        for i, t in enumerate(KEY_TYPES)
    )
    per_type = ", ".join(f"min(v.member_id) FILTER (WHERE v.prio = {i}) AS __h{i}" for i in range(len(KEY_TYPES)))
    hits = ", ".join(f"h.__h{i}" for i in range(len(KEY_TYPES)))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE siyu_id_hit AS
        SELECT v.__bk, v.prio, v.id_type, v.id_value, i.member_id
        FROM (SELECT *, {ID_HASH.format(t='id_type', v='id_value')} AS id_hash FROM ({pairs})) v
        JOIN member_identities i ON {SAME_ID.format(i='i', n='v')}
    """)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE siyu_id0 AS
        SELECT k.*, {hits}, coalesce({hits}) AS __hit,
               coalesce(coalesce({hits}), {own_id_sql('k')}) AS __mid,
               CASE WHEN coalesce({hits}) IS NOT NULL THEN -1 ELSE {strength_sql('k')} END AS __str
        FROM {keys_table} k LEFT JOIN (
            SELECT v.__bk, {per_type} FROM siyu_id_hit v GROUP BY v.__bk
        ) h ON h.__bk = k.__bk
    """)


# ---------------------------------------------------------------- merges during a load

DEFAULT_MAX_MEMBERS_PER_ID = 3


@dataclass(frozen=True)
class _Ctx:
    batch_id: str
    max_members: int


def start_batch(con, settings, batch_id: str) -> None:
    """From here on this connection's :func:`resolve` merges linked members (a load's merge step).

    ``[identity] max_members_per_id`` (default 3): an id that would join more members than this (counting
    members merged through it before) is shared — a shop phone, a family email — and is not followed.
    """
    n = settings.section("identity").get("max_members_per_id", DEFAULT_MAX_MEMBERS_PER_ID)
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        from siyu_cli.errors import ConfigError

        raise ConfigError(_('{config_file}: identity.max_members_per_id must be a whole number ≥ 2').format(config_file=settings.config_file))
    con.execute("CREATE OR REPLACE TEMP TABLE siyu_id_ctx AS SELECT ?::VARCHAR AS batch_id, ?::INTEGER AS max_members, "
                "0::BIGINT AS merged, 0::BIGINT AS conflicts", [batch_id, n])


def end_batch(con, fr) -> None:
    """Put the batch's merge counts on the file report (``members_merged``, ``identity_conflicts``)."""
    row = con.execute("SELECT merged, conflicts FROM siyu_id_ctx").fetchone()
    con.execute("DROP TABLE siyu_id_ctx")
    fr.members_merged, fr.identity_conflicts = int(row[0]), int(row[1])
    if fr.identity_conflicts:
        fr.warnings.append(f"{fr.identity_conflicts} link(s) between members were not merged (an id shared by many "
                           "members, two back-office member ids, or a pair an operator split); see "
                           "`siyu members conflicts`.")


def _context(con) -> _Ctx | None:
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = 'siyu_id_ctx'").fetchone()[0]:
        return None
    b, n = con.execute("SELECT batch_id, max_members FROM siyu_id_ctx").fetchone()
    return _Ctx(b, int(n))


def _shared_ids(con, ctx: _Ctx) -> int:
    """Find ids (below the strongest type) that would join more than ``max_members`` members.

    A tuple counts as the member its stronger keys name (their hit, else the id they give); the id's
    current owner counts, and so does each earlier merge through it. An id found shared once stays shared
    (its SHARED_ID row in ``identity_conflicts``), so a shop phone cannot collect members one load at a
    time. Creates ``siyu_id_shared`` (id_type, v, ms, n), records those that would join two or more
    members as SHARED_ID conflicts and returns how many ids are shared.
    """
    from siyu_cli import members

    n = ctx.max_members
    counts = con.execute(f"SELECT {', '.join(f'count({KEY_COLUMNS[t]})' for t in KEY_TYPES)} FROM siyu_id0").fetchone()
    parts = []
    for i, t in enumerate(KEY_TYPES[1:], start=1):
        c = KEY_COLUMNS[t]
        if not counts[i]:
            continue
        anchor = f"coalesce({', '.join([f'__h{j}' for j in range(i)] + _own_ids('', KEY_TYPES[:i]))})"
        known = f"SELECT id_value FROM identity_conflicts WHERE reason = 'SHARED_ID' AND id_type = '{t}'"
        merged = members.live_merges_via_sql(t)
        candidates = (f"SELECT {c} FROM siyu_id0 WHERE {c} IS NOT NULL GROUP BY 1 HAVING count(*) >= {n} "
                      f"UNION SELECT v FROM ({merged}) UNION {known}")
        parts.append(f"""
            SELECT '{t}' AS id_type, a.v, list_slice(list_sort(list(DISTINCT a.anchor) FILTER (WHERE a.anchor IS NOT NULL)), 1, 20) AS ms,
                   count(DISTINCT a.anchor) + coalesce(any_value(p.n), 0) AS n
            FROM (
                SELECT {c} AS v, {anchor} AS anchor FROM siyu_id0 WHERE {c} IN ({candidates})
                UNION SELECT id_value, member_id FROM member_identities WHERE id_type = '{t}' AND id_value IN ({candidates})
            ) a LEFT JOIN ({merged}) p USING (v)
            WHERE a.v IN (SELECT {c} FROM siyu_id0)
            GROUP BY a.v HAVING count(DISTINCT a.anchor) + coalesce(any_value(p.n), 0) > {n} OR a.v IN ({known})""")
    if not parts:
        return 0
    found = con.execute(f"CREATE OR REPLACE TEMP TABLE siyu_id_shared AS {' UNION ALL '.join(parts)}").fetchone()[0]
    if found:
        _record_conflicts(con, "SELECT 'SHARED_ID' AS reason, id_type, v, ms, n FROM siyu_id_shared WHERE n > 1", ctx)
    return int(found)


def _record_conflicts(con, select_sql: str, ctx: _Ctx) -> None:
    """Upsert refused links into ``identity_conflicts`` and count them on the batch."""
    now = clock.now()
    n = con.execute(f"""
        INSERT INTO identity_conflicts (reason, id_type, id_value, member_ids, members, first_batch, last_batch,
                                        first_seen, last_seen)
        SELECT reason, id_type, v, any_value(ms), max(n), ?, ?, ?, ? FROM ({select_sql}) GROUP BY ALL
        ON CONFLICT DO UPDATE SET
            member_ids = CASE WHEN excluded.members >= identity_conflicts.members THEN excluded.member_ids
                              ELSE identity_conflicts.member_ids END,
            members = greatest(excluded.members, identity_conflicts.members),
            last_batch = excluded.last_batch, last_seen = excluded.last_seen
    """, [ctx.batch_id, ctx.batch_id, now, now]).fetchone()[0]
    con.execute("UPDATE siyu_id_ctx SET conflicts = conflicts + ?", [int(n)])


def _merge_linked(con, out_table: str, ctx: _Ctx) -> None:
    """Merge existing members that one resolved tuple links (its keys name several of them).

    Each connected group of members becomes one (survivor: :func:`siyu_cli.members.survivor_order`),
    unless an operator split two of them before (SPLIT_KEPT_APART) or two of them each have their own
    back-office member id (DISTINCT_MEMBER_IDS): those links are recorded as conflicts instead.
    ``out_table`` is repointed to the survivors.
    """
    from siyu_cli import members

    # one join, only of tuples whose keys name some member other than the one they resolved to
    differs = " OR ".join(f"k.__h{i} <> r.member_id" for i in range(len(KEY_TYPES)))
    edges_sql = " UNION ".join(
        f"SELECT __m AS m, __h{i} AS h, '{t}' AS t, {KEY_COLUMNS[t]} AS v FROM siyu_id_edge WHERE __h{i} <> __m"
        for i, t in enumerate(KEY_TYPES))
    n = con.execute(f"""CREATE OR REPLACE TEMP TABLE siyu_id_edge AS SELECT k.*, r.member_id AS __m
                        FROM siyu_id0 k JOIN {out_table} r USING (__bk)
                        WHERE k.__hit IS NOT NULL AND r.member_id IS NOT NULL AND ({differs})""").fetchone()[0]
    if not n:
        con.execute("DROP TABLE siyu_id_edge")
        return
    edges = con.execute(f"SELECT * FROM ({edges_sql}) ORDER BY ALL").fetchall()
    con.execute("DROP TABLE siyu_id_edge")
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for m, h, _t, _v in edges:
        ra, rb = find(m), find(h)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = {}
    for x in list(parent):
        groups.setdefault(find(x), []).append(x)
    by_group: dict[str, list[tuple]] = {}
    for e in edges:
        by_group.setdefault(find(e[0]), []).append(e)
    apart = members.held_apart(con)
    # whether a group may merge needs only the back-office ids; the survivor rule (which counts each
    # member's orders, a scan of every stored order) runs only for the groups that do merge — a daily file
    # that re-meets the same refused links (two member ids sharing a phone) never pays that scan
    owned = members.backoffice_ids(con, list(parent))
    merging, refused = [], []
    for root, comp in groups.items():
        comp = sorted(comp)
        comp_edges = by_group[root]
        reason = ("SPLIT_KEPT_APART" if any(frozenset((a, b)) in apart for a in comp for b in comp if a < b)
                  else "DISTINCT_MEMBER_IDS" if sum(m in owned for m in comp) > 1 else None)
        if reason:
            refused += [(reason, t, v, comp) for _m, _h, t, v in comp_edges]
        else:
            merging.append((comp, comp_edges))
    ranks = members.rank(con, [m for comp, _e in merging for m in comp]) if merging else {}
    pairs = []
    for comp, comp_edges in merging:
        survivor = min(comp, key=ranks.__getitem__)
        for loser in comp:
            if loser != survivor:
                via = next(e for e in comp_edges if loser in (e[0], e[1]))
                pairs.append(members.MergePair(loser, survivor, via[2], via[3]))
    if refused:
        cols = list(zip(*[(r, t, v, comp[:20], len(comp)) for r, t, v, comp in refused]))
        con.execute("""CREATE OR REPLACE TEMP TABLE siyu_id_refused AS
                       SELECT unnest(?::VARCHAR[]) AS reason, unnest(?::VARCHAR[]) AS id_type, unnest(?::VARCHAR[]) AS v,
                              unnest(?::VARCHAR[][]) AS ms, unnest(?::INTEGER[]) AS n""", [list(c) for c in cols])
        _record_conflicts(con, "SELECT * FROM siyu_id_refused", ctx)
        con.execute("DROP TABLE siyu_id_refused")
    if pairs:
        members.apply_merges(con, pairs, reason="load", batch_id=ctx.batch_id)
        con.execute("CREATE OR REPLACE TEMP TABLE siyu_id_map AS SELECT unnest(?::VARCHAR[]) AS loser, "
                    "unnest(?::VARCHAR[]) AS survivor", [[p.merged for p in pairs], [p.survivor for p in pairs]])
        con.execute(f"UPDATE {out_table} SET member_id = m.survivor FROM siyu_id_map m WHERE {out_table}.member_id = m.loser")
        con.execute("DROP TABLE siyu_id_map")
        con.execute("UPDATE siyu_id_ctx SET merged = merged + ?", [len(pairs)])


def _propagate(con, cols: list[str]) -> bool:
    """Give every tuple of ``siyu_id0`` linked to others by shared key values the least (strength, id).

    Only tuples with a value shared by another tuple can change, and which values are shared does not
    depend on the member ids: one cheap count per key type finds them, and the repeated passes run on
    those tuples (TEMP TABLE ``siyu_link``: __bk, the key columns, __mid, __str) until a pass over every
    key type changes nothing — the connected components, however long the chains. A fixed number of
    passes (as before) could leave one member id split between two people, which a forced reload of the
    same file then "corrected". Returns False (and leaves no table) when no tuple shares a value.
    """
    shared = " OR ".join(
        f"{c} IN (SELECT {c} FROM siyu_id0 WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1)" for c in cols
    )
    n = con.execute(
        f"CREATE OR REPLACE TEMP TABLE siyu_link AS SELECT __bk, {', '.join(cols)}, __mid, __str FROM siyu_id0 WHERE {shared}"
    ).fetchone()[0]
    if not n:
        con.execute("DROP TABLE siyu_link")
        return False
    quiet = 0  # key types checked in a row without a change; all of them → converged
    while quiet < len(cols):
        for c in cols:
            # values whose tuples disagree (min ≠ max is a cheap test); only those get the costly arg_min
            changed = con.execute(f"""
                CREATE OR REPLACE TEMP TABLE siyu_shared AS
                SELECT {c} AS v, arg_min(__mid, (__str, __mid)) AS m, min(__str) AS s
                FROM siyu_link
                WHERE {c} IN (SELECT {c} FROM siyu_link WHERE {c} IS NOT NULL GROUP BY {c} HAVING min(__mid) <> max(__mid))
                GROUP BY {c}
            """).fetchone()[0]
            if changed:
                con.execute(f"""
                    CREATE OR REPLACE TEMP TABLE siyu_link AS
                    SELECT l.* REPLACE (coalesce(x.m, l.__mid) AS __mid, coalesce(x.s, l.__str) AS __str)
                    FROM siyu_link l LEFT JOIN siyu_shared x ON x.v = l.{c}
                """)
                quiet = 0
            else:
                quiet += 1
                if quiet >= len(cols):
                    break
    con.execute("DROP TABLE IF EXISTS siyu_shared")
    return True


def record_identities(con, keys_table: str, resolved_table: str, stored: str = "member_identities") -> None:
    """Insert every key of the batch as an identity of its member (first claimant keeps it).

    ``stored``: where to look for the batch's pairs that are already identities. ``siyu_id_hit`` (what
    :func:`resolve` of the same ``keys_table`` found) when nothing since then added or removed identities —
    a load's merge: it spares a second scan of member_identities, which grows with the store (10M orders:
    0.75 s of a 50k-row daily file)."""
    counts = con.execute(
        f"SELECT {', '.join(f'count({KEY_COLUMNS[t]})' for t in KEY_TYPES)} FROM {keys_table}"
    ).fetchone()
    present = [t for t, n in zip(KEY_TYPES, counts) if n]
    if not present:
        return
    # the keys meet their members in ONE join (a CTE read once per key type), not one join per type:
    # at 10M orders, two joins of 2.5M rows on the long key string
    # each type's values grouped on their own: grouping on (id_type, id_value) compared the type's name too
    # ('source_member_id' is too long to be held in place), 3.4M pairs: 2.7 s → 1.7 s of CPU
    selects = [
        f"SELECT '{t}' AS id_type, {KEY_COLUMNS[t]} AS id_value, min(member_id) AS member_id FROM kr "
        f"WHERE {KEY_COLUMNS[t]} IS NOT NULL GROUP BY {KEY_COLUMNS[t]}"
        for t in present
    ]
    cols = ", ".join(f"k.{KEY_COLUMNS[t]}" for t in present)
    on = (SAME_ID.format(i="i", n="n") if stored == "member_identities"
          else "i.id_type = n.id_type AND i.id_value = n.id_value")
    con.execute(f"""
        INSERT INTO member_identities (id_type, id_value, member_id, id_hash)
        WITH kr AS MATERIALIZED (SELECT {cols}, r.member_id FROM {keys_table} k JOIN {resolved_table} r USING (__bk)
                                 WHERE r.member_id IS NOT NULL)
        SELECT n.* FROM (SELECT *, {ID_HASH.format(t='id_type', v='id_value')} AS id_hash
                         FROM ({' UNION ALL '.join(selects)})) n ANTI JOIN {stored} i ON {on}
    """)


def relink(con, members: str = "TRUE") -> None:
    """Give orders and group members without a member the one their ids now point to (of the members the SQL
    condition ``members`` on ``i.member_id`` selects: the sync's finish relinks per unit of members)."""
    con.execute(f"""
        UPDATE orders SET member_id = i.member_id
        FROM member_identities i
        WHERE orders.member_id IS NULL AND orders.buyer_phone IS NOT NULL
          AND i.id_type = 'phone' AND i.id_value = orders.buyer_phone AND {members}
    """)
    for table in ("group_members", "wecom_contacts"):
        con.execute(f"""
            UPDATE {table} SET member_id = i.member_id
            FROM member_identities i
            WHERE {table}.member_id IS NULL
              AND i.id_type = 'external_userid' AND i.id_value = {table}.external_userid AND {members}
        """)
