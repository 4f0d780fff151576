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

Masked phones (``138****1234``) never reach this module: they are not keys.
"""

from __future__ import annotations

KEY_TYPES = ("source_member_id", "external_userid", "unionid", "phone", "email")
KEY_COLUMNS = {"source_member_id": "member_ref", "external_userid": "external_userid", "unionid": "unionid",
               "phone": "phone", "email": "email"}
PREFIX = {"source_member_id": "", "external_userid": "wx:"}  # the others: siyu_cli.privacy.PSEUDONYM_PREFIX


def own_id_sql(alias: str = "") -> str:
    """The member id a tuple's strongest key gives it (personal keys pseudonymised)."""
    a = f"{alias}." if alias else ""
    parts = [
        (f"'{PREFIX[t]}' || {a}{KEY_COLUMNS[t]}" if PREFIX[t] else f"{a}{KEY_COLUMNS[t]}") if t in PREFIX
        else f"siyu_pseudonym('{t}', {a}{KEY_COLUMNS[t]})"
        for t in KEY_TYPES
    ]
    return f"coalesce({', '.join(parts)})"


def strength_sql(alias: str = "") -> str:
    """0 for the strongest key present … 4; 9 when none."""
    a = f"{alias}." if alias else ""
    whens = " ".join(f"WHEN {a}{KEY_COLUMNS[t]} IS NOT NULL THEN {i}" for i, t in enumerate(KEY_TYPES))
    return f"CASE {whens} ELSE 9 END"


def resolve(con, keys_table: str, out_table: str) -> None:
    """Resolve ``keys_table(__bk, member_ref, external_userid, unionid, phone, email)`` (one row per __bk).

    Creates ``out_table(__bk, member_id, matched)`` where ``matched`` says the member
    existed before this batch. Rows without any key get member_id NULL.
    """
    counts = con.execute(
        f"SELECT {', '.join(f'count({KEY_COLUMNS[t]})' for t in KEY_TYPES)} FROM {keys_table}"
    ).fetchone()
    present = [t for t, n in zip(KEY_TYPES, counts) if n]
    # the batch's (type, value) pairs meet member_identities in ONE join (one scan of the table, which
    # grows with the store: a join per key type read it five times); the first hit in priority order wins
    pairs = " UNION ALL ".join(
        f"SELECT __bk, {i} AS prio, '{t}' AS id_type, {KEY_COLUMNS[t]} AS id_value FROM {keys_table} "
        f"WHERE {KEY_COLUMNS[t]} IS NOT NULL"
        for i, t in enumerate(KEY_TYPES) if t in present
    ) or "SELECT NULL AS __bk, 0 AS prio, NULL AS id_type, NULL AS id_value WHERE false"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE siyu_id0 AS
        SELECT k.*, h.__hit, coalesce(h.__hit, {own_id_sql('k')}) AS __mid,
               CASE WHEN h.__hit IS NOT NULL THEN -1 ELSE {strength_sql('k')} END AS __str
        FROM {keys_table} k LEFT JOIN (
            SELECT v.__bk, arg_min(i.member_id, v.prio) AS __hit
            FROM ({pairs}) v JOIN member_identities i ON i.id_type = v.id_type AND i.id_value = v.id_value
            GROUP BY v.__bk
        ) h USING (__bk)
    """)
    # propagate inside the batch: tuples linked by shared key values, directly or through a chain
    # (a–b share a phone, b–c a member id), are one person and take the strongest member id among them
    # with one key type every tuple has its own value: nobody to link
    linked = len(present) > 1 and _propagate(con, [KEY_COLUMNS[t] for t in present])
    if linked:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {out_table} AS
            SELECT i.__bk, coalesce(l.__mid, i.__mid) AS member_id, (coalesce(l.__str, i.__str) = -1) AS matched
            FROM siyu_id0 i LEFT JOIN siyu_link l USING (__bk)
        """)
        con.execute("DROP TABLE siyu_link")
    else:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {out_table} AS
            SELECT __bk, __mid AS member_id, (__str = -1) AS matched FROM siyu_id0
        """)


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


def record_identities(con, keys_table: str, resolved_table: str) -> None:
    """Insert every key of the batch as an identity of its member (first claimant keeps it)."""
    counts = con.execute(
        f"SELECT {', '.join(f'count({KEY_COLUMNS[t]})' for t in KEY_TYPES)} FROM {keys_table}"
    ).fetchone()
    present = [t for t, n in zip(KEY_TYPES, counts) if n]
    if not present:
        return
    selects = [
        f"SELECT '{t}' AS id_type, k.{KEY_COLUMNS[t]} AS id_value, r.member_id FROM {keys_table} k "
        f"JOIN {resolved_table} r USING (__bk) WHERE k.{KEY_COLUMNS[t]} IS NOT NULL AND r.member_id IS NOT NULL"
        for t in present
    ]
    con.execute(f"""
        INSERT INTO member_identities (id_type, id_value, member_id)
        SELECT n.* FROM (
            SELECT id_type, id_value, min(member_id) AS member_id FROM ({' UNION ALL '.join(selects)}) GROUP BY ALL
        ) n ANTI JOIN member_identities i ON i.id_type = n.id_type AND i.id_value = n.id_value
    """)


def relink(con) -> None:
    """Give orders and group members without a member the one their ids now point to."""
    con.execute("""
        UPDATE orders SET member_id = i.member_id
        FROM member_identities i
        WHERE orders.member_id IS NULL AND orders.buyer_phone IS NOT NULL
          AND i.id_type = 'phone' AND i.id_value = orders.buyer_phone
    """)
    con.execute("""
        UPDATE group_members SET member_id = i.member_id
        FROM member_identities i
        WHERE group_members.member_id IS NULL
          AND i.id_type = 'external_userid' AND i.id_value = group_members.external_userid
    """)
    con.execute("""
        UPDATE wecom_contacts SET member_id = i.member_id
        FROM member_identities i
        WHERE wecom_contacts.member_id IS NULL
          AND i.id_type = 'external_userid' AND i.id_value = wecom_contacts.external_userid
    """)
