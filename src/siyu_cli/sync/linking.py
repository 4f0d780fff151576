"""Synced customers → siyu members, through the identity module (never building member ids here).

Each customer is one key tuple: its external_userid, its unionid (when WeCom returns one — often not
for customers added after 2022-06-20), and the first valid mainland phone the guides typed into
``remark_mobiles``. ``identity.resolve`` looks them up in that priority order against every identity
loaded from order and member exports, so a customer links to the member who bought with the same
unionid or phone. Customers nobody knows become new members (source ``wecom``).

Bounded in customers: the resolution's temp tables and the new rows' index entries of an open transaction
stay in memory, so the merge links customers in units of about ``[sync] link_chunk`` customers, each its own
transaction (:func:`units`). Customers whose result depends on each other — who share a unionid or phone
inside the sync (resolve gives them one member), or whose keys name an existing member another customer's
keys name too (one member row gains both customers' values) — are one unit of their own ("shared"); every
other customer is independent of all but itself, so the units give exactly what one resolution of all
customers gives.

Incremental: a customer linked before whose member and inputs are unchanged (``wecom_customers.link_keys``) is not
resolved again (:func:`_to_resolve` says why that changes nothing), and the finish runs per unit of members
(:func:`finish_units`).
"""

from __future__ import annotations

#: ``[sync] link_chunk``: about this many customers are linked per transaction of the merge's link phase (units
#: of 50,000 needed more than the merge's default 64MB memory limit)
DEFAULT_CHUNK = 25_000


def chunk_size(settings) -> int:
    """``[sync] link_chunk`` (customers per link transaction), validated."""
    from siyu_cli.sync.units import chunk_size

    return chunk_size(settings, "link_chunk", DEFAULT_CHUNK)


def units(con, size: int) -> list[str]:
    """The link phase's units for the customers now in ``wecom_customers``: ``["all"]`` when they fit in one,
    else ``"shared"`` then one unit per hash bucket (``"0"``, ``"1"``, …)."""
    from siyu_cli.sync.units import buckets

    hashed = buckets(con.execute("SELECT count(*) FROM wecom_customers").fetchone()[0], size)
    return hashed if hashed == ["all"] else ["shared", *hashed]


_PHONES = """(SELECT external_userid, min(siyu_phone(m)) AS phone
              FROM (SELECT external_userid, unnest(remark_mobiles) AS m FROM wecom_contacts {where}) GROUP BY 1)"""


def _unit_customers(con, unit: str, buckets: int) -> str:
    """``WHERE`` clause (on ``c.external_userid``) selecting the customers of ``unit`` of ``buckets`` hash buckets.

    Stable while the phase runs: an earlier unit records identities only for its own customers' keys, which no
    customer of another unit shares (that would have made both "shared").
    """
    if unit == "all":
        return "TRUE"
    from siyu_cli.store import table_exists

    if not table_exists(con, "siyu_link_shared"):  # once per connection (a temp table outlives the unit's transaction)
        _shared(con)
    shared = "c.external_userid IN (SELECT external_userid FROM siyu_link_shared)"
    if unit == "shared":
        return shared
    from siyu_cli.sync.units import in_bucket

    return f"NOT {shared} AND {in_bucket('c.external_userid', unit, buckets)}"


def _shared(con) -> None:
    """``siyu_link_shared``: the customers whose links depend on another customer's (see the module docstring)."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE siyu_link_keys AS
        SELECT c.external_userid, c.unionid, p.phone FROM wecom_customers c LEFT JOIN {_PHONES.format(where='')} p
        USING (external_userid) WHERE c.unionid IS NOT NULL OR p.phone IS NOT NULL""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE siyu_link_shared AS
        SELECT external_userid FROM siyu_link_keys
        WHERE unionid IN (SELECT unionid FROM siyu_link_keys WHERE unionid IS NOT NULL GROUP BY 1 HAVING count(*) > 1)
           OR phone IN (SELECT phone FROM siyu_link_keys WHERE phone IS NOT NULL GROUP BY 1 HAVING count(*) > 1)
        UNION
        SELECT external_userid FROM (
            SELECT DISTINCT h.external_userid, i.member_id
            FROM (SELECT external_userid, 'external_userid' AS t, external_userid AS v FROM wecom_customers
                  UNION ALL SELECT external_userid, 'unionid', unionid FROM siyu_link_keys WHERE unionid IS NOT NULL
                  UNION ALL SELECT external_userid, 'phone', phone FROM siyu_link_keys WHERE phone IS NOT NULL) h
            JOIN member_identities i ON i.id_type = h.t AND i.id_value = h.v)
        QUALIFY count(*) OVER (PARTITION BY member_id) > 1""")
    con.execute("DROP TABLE siyu_link_keys")


#: what a customer was linked by (``wecom_customers.link_keys``): its member and the inputs linking reads for it
LINK_KEYS = "md5(to_json([{m}, {a}.unionid, {a}.phone, CAST({a}.join_at AS VARCHAR), {a}.join_channel, {a}.guide_userid]))"


def _to_resolve(con, unit: str, where: str) -> int:
    """``siyu_link_in``: the customers of the unit with what linking reads for them and ``todo`` — whether they must
    be resolved again; returns how many need not be.

    A customer need not be when resolving it could change nothing: it was linked before and its ``link_keys`` still
    hash its member and inputs, its external_userid is an identity of that member (resolution's first hit, whatever
    exports loaded since: a customer holds no back-office id), its unionid and phone are identities (of anyone:
    recording them would add nothing), no relation names another member, and it is not shared (:func:`_shared`:
    customers linked to each other or naming one member are resolved together, every sync).
    """
    from siyu_cli.store import table_exists

    shared = {"shared": "TRUE", "all": "c.external_userid IN (SELECT external_userid FROM siyu_link_shared)"}.get(unit, "FALSE")
    if unit == "all" and not table_exists(con, "siyu_link_shared"):
        if con.execute("SELECT count(link_keys) FROM wecom_customers").fetchone()[0]:
            _shared(con)
        else:  # nobody was linked before: everyone is resolved
            shared = "TRUE"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE siyu_link_in AS
        SELECT c.*, c.link_keys IS NULL OR c.member_id IS NULL OR c.link_keys <> {LINK_KEYS.format(m='c.member_id', a='c')}
                    OR c.off OR {shared} AS todo
        FROM (SELECT c.external_userid, c.unionid, p.phone, c.member_id, c.link_keys, w.join_at, w.join_channel,
                     w.guide_userid, coalesce(w.off, FALSE) AS off
              FROM wecom_customers c LEFT JOIN {_PHONES.format(where=f'c WHERE {where}')} p USING (external_userid)
              LEFT JOIN (SELECT w.external_userid, min(w.added_at) AS join_at, arg_min(w.state, w.added_at) AS join_channel,
                                arg_min(w.staff_userid, w.added_at) AS guide_userid,
                                bool_or(w.member_id IS DISTINCT FROM c.member_id AND w.member_id IS NOT NULL) AS off
                         FROM wecom_contacts w JOIN wecom_customers c USING (external_userid) WHERE {where}
                         GROUP BY 1) w USING (external_userid)
              WHERE {where}) c""")
    if con.execute("SELECT count(*) FILTER (WHERE NOT todo) FROM siyu_link_in").fetchone()[0]:
        # the identities are looked up only for the customers the cheap tests keep (none at a first sync)
        con.execute("""
            UPDATE siyu_link_in SET todo = TRUE FROM (
                SELECT k.external_userid FROM siyu_link_in k
                LEFT JOIN member_identities ie ON ie.id_type = 'external_userid' AND ie.id_value = k.external_userid
                LEFT JOIN member_identities iu ON iu.id_type = 'unionid' AND iu.id_value = k.unionid
                LEFT JOIN member_identities ip ON ip.id_type = 'phone' AND ip.id_value = k.phone
                WHERE NOT k.todo AND (ie.member_id IS DISTINCT FROM k.member_id
                                      OR (k.unionid IS NOT NULL AND iu.member_id IS NULL)
                                      OR (k.phone IS NOT NULL AND ip.member_id IS NULL))) x
            WHERE siyu_link_in.external_userid = x.external_userid""")
    return con.execute("SELECT count(*) FILTER (WHERE NOT todo) FROM siyu_link_in").fetchone()[0]


def link_customers(con, batch_id: str, unit: str = "all", buckets: int = 1, last: bool = True) -> dict[str, int]:
    """Link the synced customers of ``unit`` (:func:`units`; ``buckets`` = the number of hash units); returns
    counts (customers, already_linked, linked_by_unionid, linked_by_phone, linked, new_members, and ``resolved``:
    how many went through ``identity.resolve`` — the others were linked before and nothing linking reads for them
    changed, :func:`_to_resolve`; they count as already linked). ``last``: also :func:`finish` in the same
    transaction (the merge runs it as transactions of its own after the last unit)."""
    from siyu_cli.ingest import identity, people

    kept = _to_resolve(con, unit, _unit_customers(con, unit, buckets))
    con.execute("""
        CREATE OR REPLACE TEMP TABLE siyu_keys AS
        SELECT external_userid AS __bk, NULL::VARCHAR AS member_ref, external_userid, unionid, phone,
               NULL::VARCHAR AS email
        FROM siyu_link_in WHERE todo
    """)
    # which existing identity each customer would hit (for the report), before the batch adds its own
    con.execute("""
        CREATE OR REPLACE TEMP TABLE siyu_pre AS
        SELECT k.__bk, ie.member_id IS NOT NULL AS by_ext, iu.member_id IS NOT NULL AS by_union,
               ip.member_id IS NOT NULL AS by_phone
        FROM siyu_keys k
        LEFT JOIN member_identities ie ON ie.id_type = 'external_userid' AND ie.id_value = k.external_userid
        LEFT JOIN member_identities iu ON iu.id_type = 'unionid' AND iu.id_value = k.unionid
        LEFT JOIN member_identities ip ON ip.id_type = 'phone' AND ip.id_value = k.phone
    """)
    identity.resolve(con, "siyu_keys", "siyu_res")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE siyu_attr AS
        SELECT r.member_id, bool_or(r.matched) AS matched, min(k.external_userid) AS external_userid,
               min(k.unionid) AS unionid, min(k.phone) AS phone,
               -- the name and gender of the member's first customer: any_value made them depend on the scan order
               arg_min(c.name, c.external_userid) AS name,
               arg_min(CASE c.gender WHEN 1 THEN 'male' WHEN 2 THEN 'female' END, c.external_userid) AS gender,
               min(w.added_at) AS join_at, arg_min(w.state, w.added_at) AS join_channel,
               arg_min(w.staff_userid, w.added_at) AS guide_userid
        FROM siyu_res r JOIN siyu_keys k USING (__bk)
        JOIN wecom_customers c ON c.external_userid = k.__bk
        LEFT JOIN wecom_contacts w ON w.external_userid = k.__bk
        WHERE r.member_id IS NOT NULL
        GROUP BY r.member_id
    """)
    people.add_synced_members(con, "siyu_attr", batch_id)
    identity.record_identities(con, "siyu_keys", "siyu_res")
    keys = LINK_KEYS.format(m="r.member_id", a="i")
    con.execute(f"""UPDATE wecom_customers SET member_id = r.member_id, link_keys = {keys}
                    FROM siyu_res r JOIN siyu_link_in i ON i.external_userid = r.__bk
                    WHERE wecom_customers.external_userid = r.__bk
                      AND (wecom_customers.member_id IS DISTINCT FROM r.member_id
                           OR wecom_customers.link_keys IS DISTINCT FROM {keys})""")
    people.link_contacts(con, "siyu_res")
    if last:
        finish(con, batch_id)
    row = con.execute("""
        SELECT count(*), count(*) FILTER (WHERE r.matched AND p.by_ext),
               count(*) FILTER (WHERE r.matched AND NOT p.by_ext AND p.by_union),
               count(*) FILTER (WHERE r.matched AND NOT p.by_ext AND NOT p.by_union AND p.by_phone),
               count(*) FILTER (WHERE r.matched)
        FROM siyu_res r JOIN siyu_pre p USING (__bk)
    """).fetchone()
    new_members = con.execute("SELECT count(*) FROM siyu_attr WHERE NOT matched").fetchone()[0]
    for t in ("siyu_keys", "siyu_pre", "siyu_res", "siyu_attr", "siyu_id0", "siyu_link_in",
              *(["siyu_link_shared"] if last else [])):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return {"customers": row[0] + kept, "already_linked": row[1] + kept, "linked_by_unionid": row[2],
            "linked_by_phone": row[3], "linked": row[4] + kept, "new_members": new_members, "resolved": row[0]}


def finish_units(con, size: int) -> list[str]:
    """The finish's units (:func:`finish`): ``["all"]`` when the members fit in one of ``size``, else one unit per
    hash bucket of member_id (``"0"``, ``"1"``, …)."""
    from siyu_cli.sync.units import buckets

    return buckets(con.execute("SELECT count(*) FROM members").fetchone()[0], size)


def finish(con, batch_id: str, unit: str = "all", buckets: int = 1) -> None:
    """After every link unit: orders, group members and relations gain members, this sync's events name theirs,
    tags follow — for the members of hash ``unit`` of ``buckets`` (:func:`finish_units`).

    Every row it writes belongs to exactly one member (the one an identity names, or the member_tags row's own),
    so the units write disjoint rows and together give exactly what one pass over every member gives; a unit only
    reads what other units do not write (which identity names a row, the relations' member and tags).
    """
    from siyu_cli.ingest import identity, people
    from siyu_cli.sync.units import in_bucket

    identity.relink(con, in_bucket("i.member_id", unit, buckets))
    # events of this sync name the member too (a new relation had none when its event was written)
    con.execute(f"""UPDATE contact_events SET member_id = i.member_id FROM member_identities i
                    WHERE contact_events.batch_id = ? AND contact_events.member_id IS NULL
                      AND i.id_type = 'external_userid' AND i.id_value = contact_events.external_userid
                      AND {in_bucket("i.member_id", unit, buckets)}""", [batch_id])
    # the relation tags of linked customers, as member tags (the previous sync's are replaced)
    people.replace_synced_tags(con, batch_id, in_bucket("member_id", unit, buckets))
    con.execute("DROP TABLE IF EXISTS siyu_link_shared")


def linked_to(con, pairs: list[tuple[str, str]], id_type: str) -> set[str]:
    """The external_userids of ``pairs`` (external_userid, id) whose customer is the member holding that id."""
    if not pairs:
        return set()
    rows = con.execute("""
        SELECT c.external_userid FROM wecom_customers c
        JOIN (SELECT unnest(?::VARCHAR[]) AS ext, unnest(?::VARCHAR[]) AS id) w ON w.ext = c.external_userid
        JOIN member_identities i ON i.id_type = ? AND i.id_value = w.id AND i.member_id = c.member_id
    """, [[e for e, _ in pairs], [v for _, v in pairs], id_type]).fetchall()
    return {r[0] for r in rows}
