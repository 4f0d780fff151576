"""The merge stage of a groups load: a group list (one record per group) or a membership list (one record
per group and member), each through :func:`merge.merge`."""

from __future__ import annotations

from siyu_cli import clock
from siyu_cli.ingest.merge import last, merge

GROUP_ATTRS = ("name", "owner_userid", "store", "city", "tags", "created_at", "member_count", "notice")


def merge_groups(con, fr, mapping: dict[str, str]) -> None:
    """Fold ``siyu_good`` per group (or per membership, when the file names members) and merge."""
    if "member_ref" in mapping:
        _merge_group_members(con, fr)
        return
    aggs = ", ".join(last(a) for a in GROUP_ATTRS if a != "tags")
    con.execute(f"""
        CREATE TEMP TABLE siyu_fin AS
        SELECT group_id, {aggs},
               list_sort(list_distinct(list_transform(flatten(list(coalesce(g.tags, []))), lambda t: t.t))) AS tags,
               count(*) AS __n,
               arg_max(owner_name, __row) FILTER (WHERE owner_name IS NOT NULL) AS owner_name
        FROM siyu_good g GROUP BY group_id
    """)
    con.execute("UPDATE siyu_fin SET tags = NULL WHERE len(tags) = 0")
    merged = {a: f"coalesce(f.{a}, t.{a})" for a in GROUP_ATTRS}
    inserted = {"group_id": "f.group_id", **{a: f"f.{a}" for a in GROUP_ATTRS}}
    fr.inserted, fr.updated, fr.unchanged, fr.merged = merge(
        con, "groups", ("group_id",), merged, inserted,
        {"batch_id": fr.batch_id, "updated_at": clock.now()})
    con.execute("""
        INSERT INTO staff (userid, name, updated_at)
        SELECT owner_userid, any_value(owner_name), now() FROM siyu_fin WHERE owner_userid IS NOT NULL GROUP BY 1
        ON CONFLICT DO UPDATE SET name = coalesce(excluded.name, staff.name)
    """)


def _merge_group_members(con, fr) -> None:
    con.execute("""
        CREATE TEMP TABLE siyu_fin AS
        SELECT g.group_id, g.member_ref AS external_userid,
               coalesce(arg_max(i1.member_id, g.__row), arg_max(i2.member_id, g.__row)) AS member_id,
               min(g.joined_at) AS joined_at, count(*) AS __n,
               arg_max(g.name, g.__row) FILTER (WHERE g.name IS NOT NULL) AS group_name
        FROM siyu_good g
        LEFT JOIN member_identities i1 ON i1.id_type = 'external_userid' AND i1.id_value = g.member_ref
        LEFT JOIN member_identities i2 ON i2.id_type = 'unionid' AND i2.id_value = g.unionid
        GROUP BY g.group_id, g.member_ref
    """)
    now = clock.now()
    # a membership list may name groups the store has not seen yet: create them (name only)
    con.execute("""
        INSERT INTO groups (group_id, name, batch_id, updated_at)
        SELECT group_id, any_value(group_name), ?, ? FROM siyu_fin GROUP BY group_id
        ON CONFLICT DO NOTHING
    """, [fr.batch_id, now])
    merged = {c: f"coalesce(f.{c}, t.{c})" for c in ("member_id", "joined_at")}
    inserted = {c: f"f.{c}" for c in ("group_id", "external_userid", "member_id", "joined_at")}
    fr.inserted, fr.updated, fr.unchanged, fr.merged = merge(
        con, "group_members", ("group_id", "external_userid"), merged, inserted, {"batch_id": fr.batch_id})
