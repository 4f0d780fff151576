"""The merge stage of a members load (rows resolved to people, folded per member, then :func:`merge.merge`,
identities, tags, WeCom contacts and staff) and the bare members an orders load creates for new buyers."""

from __future__ import annotations

from siyu_cli import clock
from siyu_cli.ingest import identity
from siyu_cli.ingest.merge import merge
from siyu_cli.ingest.staging import lit

MEMBER_ATTRS = ("source_member_id", "external_userid", "unionid", "phone", "phone_masked", "email", "name", "nickname",
                "gender", "birthday", "level", "points", "join_at", "join_channel", "store", "guide_userid",
                "guide_name")
#: a row's buyer/customer key: its five ids joined by U+001F (one distinct key per identity tuple)
BUYER_KEY = ("concat_ws(chr(31), coalesce(member_id, ''), coalesce(external_userid, ''), coalesce(unionid, ''), "
             "coalesce(phone, ''), coalesce(email, ''))")


def resolve_buyers(con, fr, table: str, keep: list[str] | tuple[str, ...] = ()) -> None:
    """Give each distinct buyer tuple of ``table`` a member (creating bare members for new buyers).

    ``siyu_res`` has one row per tuple; ``keep``: buyer columns of ``table`` (member_id, phone, …) it also
    holds as they are in ``table`` (``__o_<column>``; resolving may drop a shared id from ``siyu_keys``), so
    ``table``'s rows find their member by those short columns."""
    # the distinct id tuples first, their key (BUYER_KEY) built once per tuple: grouping on the short ids is
    # cheaper than on the joined key built for every row (10M orders: 2.5M buyers)
    kept = "".join(f", {c} AS __o_{c}" for c in keep)
    con.execute(f"""
        CREATE TEMP TABLE siyu_keys AS
        SELECT {BUYER_KEY} AS __bk, member_id AS member_ref, external_userid, unionid, phone, email{kept} FROM (
            SELECT DISTINCT member_id, external_userid, unionid, phone, email FROM {table}
            WHERE coalesce(member_id, external_userid, unionid, phone, email) IS NOT NULL)
    """)
    identity.resolve(con, "siyu_keys", "siyu_res", carry=[f"__o_{c}" for c in keep])
    # the new members' id range as constants: the check against stored members then reads only the row groups
    # it can be in, and a file whose buyers are all known (most daily files) skips the check: no new member
    lo, hi = con.execute("SELECT min(member_id), max(member_id) FROM siyu_res WHERE NOT matched").fetchone()
    if lo is not None:
        _insert_new_buyers(con, fr, lo, hi)
    identity.record_identities(con, "siyu_keys", "siyu_res", "siyu_id_hit")
    # the tuples' working tables are done with: at 10M orders they hold ~3M tuples, which the orders insert
    # (the load's largest statement, under the load's memory limit) would otherwise spill around
    for t in ("siyu_keys", "siyu_id0", "siyu_id_hit", "siyu_link"):
        con.execute(f"DROP TABLE IF EXISTS temp.{t}")


def _insert_new_buyers(con, fr, lo: str, hi: str) -> None:
    """Bare members for the buyers ``siyu_res`` resolved to no existing member (ids between ``lo`` and ``hi``)."""
    con.execute(f"""
        INSERT INTO members (member_id, source, source_member_id, external_userid, unionid, phone, email,
                             first_batch, updated_batch, updated_at)
        SELECT n.member_id, {lit(fr.source)}, {', '.join(f"CASE WHEN len(n.p) = 5 THEN nullif(n.p[{i}], '') END" for i in range(1, 6))},
               ?, ?, now()
        FROM (
            -- a new member's ids come from its greatest buyer key: one max() per member instead of five
            -- arg_max() (2.5M new members: 4 s → 1.5 s); the key is the ids joined by U+001F, split back here
            -- (an id holding U+001F never gets here: the rejects stage refuses it as CONTROL_CHARACTER).
            -- siyu_res has one row per key of siyu_keys, with the key itself: no join back to siyu_keys (at 10M
            -- orders, a 2.5M-row join on the long key string)
            SELECT r.member_id, string_split(max(r.__bk), chr(31)) AS p
            FROM siyu_res r
            WHERE NOT r.matched AND r.member_id IS NOT NULL
            GROUP BY r.member_id
        ) n ANTI JOIN members m ON m.member_id = n.member_id AND m.member_id BETWEEN ? AND ?
    """, [fr.batch_id, fr.batch_id, lo, hi])


def merge_members(con, fr) -> None:
    """Resolve ``siyu_good``'s rows to people, fold them per member and merge (counts into ``fr``)."""
    source = fr.source
    # rows without any usable id (e.g. only a masked phone) become anonymous members keyed by a hash of the row
    con.execute(f"""
        CREATE TEMP TABLE siyu_src AS
        SELECT *, {BUYER_KEY} AS __bk,
               CASE WHEN coalesce(member_id, external_userid, unionid, phone, email) IS NULL
                    THEN 'h:' || left(md5(concat_ws(chr(31), {lit(source)}, name, nickname, phone_masked,
                                                    CAST(birthday AS VARCHAR), CAST(join_at AS VARCHAR), store)), 16)
               END AS __anon
        FROM siyu_good
    """)
    con.execute("""
        CREATE TEMP TABLE siyu_keys AS
        SELECT DISTINCT __bk, member_id AS member_ref, external_userid, unionid, phone, email FROM siyu_src
        WHERE __anon IS NULL
    """)
    identity.resolve(con, "siyu_keys", "siyu_res")
    _fold(con)
    # compare with the store: a newer export fills and overrides fields, never blanks them
    merged = {a: f"coalesce(f.{a}, t.{a})" for a in MEMBER_ATTRS}
    merged["join_at"] = "least(f.join_at, t.join_at)"
    inserted = {"member_id": "f.member_id", "source": lit(source), **{a: f"f.{a}" for a in MEMBER_ATTRS},
                "first_batch": lit(fr.batch_id)}
    fr.inserted, fr.updated, fr.unchanged, fr.merged = merge(
        con, "members", ("member_id",), merged, inserted, {"updated_batch": fr.batch_id, "updated_at": clock.now()})
    identity.record_identities(con, "siyu_keys", "siyu_res", "siyu_id_hit")
    _conflicts(con, fr)
    _side_tables(con, fr)


def _fold(con) -> None:
    """``siyu_fin``: one row per member (resolved or anonymous): the last non-NULL value of each attribute,
    the earliest join, the rows' tags, contacts and staff, and how many guides/stores the rows name."""
    attrs = [a for a in MEMBER_ATTRS if a != "source_member_id"]
    aggs = ", ".join(f"arg_max(s.{a}, s.__row) FILTER (WHERE s.{a} IS NOT NULL) AS {a}" for a in attrs if a != "join_at")
    con.execute(f"""
        CREATE TEMP TABLE siyu_fin AS
        SELECT coalesce(r.member_id, s.__anon) AS member_id,
               arg_max(s.member_id, s.__row) FILTER (WHERE s.member_id IS NOT NULL) AS source_member_id,
               {aggs},
               min(s.join_at) AS join_at,
               count(*) AS __n,
               count(DISTINCT coalesce(s.guide_userid, s.guide_name)) AS __guides,
               count(DISTINCT s.store) AS __stores,
               list_distinct(flatten(list(coalesce(s.tags, [])))) AS tags,
               list(DISTINCT {{'ext': s.external_userid, 'staff': s.guide_userid, 'at': s.join_at,
                               'way': s.add_way, 'remark': s.remark}})
                   FILTER (WHERE s.external_userid IS NOT NULL AND s.guide_userid IS NOT NULL) AS contacts,
               list(DISTINCT {{'userid': s.guide_userid, 'name': s.guide_name, 'store': s.store}})
                   FILTER (WHERE s.guide_userid IS NOT NULL) AS staff
        FROM siyu_src s LEFT JOIN siyu_res r USING (__bk)
        GROUP BY 1
    """)


def _conflicts(con, fr) -> None:
    """Count people merged from rows that name different guides or stores (the last row's value is kept)."""
    guides, stores = con.execute(
        "SELECT count(*) FILTER (WHERE __guides > 1), count(*) FILTER (WHERE __stores > 1) FROM siyu_fin").fetchone()
    fr.conflicts = {k: int(v) for k, v in (("guide", guides), ("store", stores)) if v}
    for what, n in fr.conflicts.items():
        fr.warnings.append(f"{n} member(s) merged from rows naming different {what}s; the last row's {what} was kept "
                           "(see docs/load.md, \"Counts\")")


def _side_tables(con, fr) -> None:
    """The members' tags, WeCom contacts (customer ↔ guide) and the guides named, from ``siyu_fin``."""
    con.execute("""
        INSERT INTO member_tags (member_id, tag_group, tag, batch_id)
        SELECT DISTINCT member_id, t.g, t.t, ? FROM (SELECT member_id, unnest(tags) AS t FROM siyu_fin)
        ON CONFLICT DO NOTHING
    """, [fr.batch_id])
    con.execute("""
        INSERT INTO wecom_contacts (external_userid, staff_userid, member_id, added_at, add_way, remark)
        SELECT c.ext, c.staff, any_value(member_id), min(c.at), any_value(c.way), any_value(c.remark)
        FROM (SELECT member_id, unnest(contacts) AS c FROM siyu_fin) GROUP BY c.ext, c.staff
        ON CONFLICT DO UPDATE SET member_id = excluded.member_id,
            -- a relation `siyu sync wecom` read keeps WeCom's createtime/add_way/remark: the API is the truth
            added_at = CASE WHEN wecom_contacts.synced_batch IS NULL THEN excluded.added_at ELSE wecom_contacts.added_at END,
            add_way = CASE WHEN wecom_contacts.synced_batch IS NULL THEN coalesce(excluded.add_way, wecom_contacts.add_way)
                           ELSE coalesce(wecom_contacts.add_way, excluded.add_way) END,
            remark = CASE WHEN wecom_contacts.synced_batch IS NULL THEN coalesce(excluded.remark, wecom_contacts.remark)
                          ELSE coalesce(wecom_contacts.remark, excluded.remark) END
    """)
    con.execute("""
        INSERT INTO staff (userid, name, store, updated_at)
        SELECT s.userid, any_value(s.name), any_value(s.store), now()
        FROM (SELECT unnest(staff) AS s FROM siyu_fin) GROUP BY s.userid
        ON CONFLICT DO UPDATE SET name = coalesce(excluded.name, staff.name), store = coalesce(excluded.store, staff.store),
                                  updated_at = excluded.updated_at
    """)
