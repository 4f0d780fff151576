"""Synced customers → siyu members, through the identity module (never building member ids here).

Each customer is one key tuple: its external_userid, its unionid (when WeCom returns one — often not
for customers added after 2022-06-20), and the first valid mainland phone the guides typed into
``remark_mobiles``. ``identity.resolve`` looks them up in that priority order against every identity
loaded from order and member exports, so a customer links to the member who bought with the same
unionid or phone. Customers nobody knows become new members (source ``wecom``). Runs inside the sync's
merge transaction.
"""

from __future__ import annotations


def link_customers(con, batch_id: str) -> dict[str, int]:
    """Link every synced customer; returns counts (customers, already, by_unionid, by_phone, new_members)."""
    from siyu_cli.ingest import identity, people

    con.execute("""
        CREATE OR REPLACE TEMP TABLE siyu_keys AS
        SELECT c.external_userid AS __bk, NULL::VARCHAR AS member_ref, c.external_userid, c.unionid,
               p.phone, NULL::VARCHAR AS email
        FROM wecom_customers c LEFT JOIN (
            SELECT external_userid, min(siyu_phone(m)) AS phone
            FROM (SELECT external_userid, unnest(remark_mobiles) AS m FROM wecom_contacts) GROUP BY 1
        ) p USING (external_userid)
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
               min(k.unionid) AS unionid, min(k.phone) AS phone, any_value(c.name) AS name,
               any_value(CASE c.gender WHEN 1 THEN 'male' WHEN 2 THEN 'female' END) AS gender,
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
    con.execute("UPDATE wecom_customers SET member_id = r.member_id FROM siyu_res r "
                "WHERE wecom_customers.external_userid = r.__bk AND wecom_customers.member_id IS DISTINCT FROM r.member_id")
    people.link_contacts(con, "siyu_res")
    identity.relink(con)
    # events of this sync name the member too (a new relation had none when its event was written)
    con.execute("""UPDATE contact_events SET member_id = i.member_id FROM member_identities i
                   WHERE contact_events.batch_id = ? AND contact_events.member_id IS NULL
                     AND i.id_type = 'external_userid' AND i.id_value = contact_events.external_userid""", [batch_id])
    # the relation tags of linked customers, as member tags (the previous sync's are replaced)
    people.replace_synced_tags(con, batch_id)
    row = con.execute("""
        SELECT count(*), count(*) FILTER (WHERE r.matched AND p.by_ext),
               count(*) FILTER (WHERE r.matched AND NOT p.by_ext AND p.by_union),
               count(*) FILTER (WHERE r.matched AND NOT p.by_ext AND NOT p.by_union AND p.by_phone),
               count(*) FILTER (WHERE r.matched)
        FROM siyu_res r JOIN siyu_pre p USING (__bk)
    """).fetchone()
    new_members = con.execute("SELECT count(*) FROM siyu_attr WHERE NOT matched").fetchone()[0]
    for t in ("siyu_keys", "siyu_pre", "siyu_res", "siyu_attr", "siyu_id0"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return {"customers": row[0], "already_linked": row[1], "linked_by_unionid": row[2], "linked_by_phone": row[3],
            "linked": row[4], "new_members": new_members}
