"""The merge of a complete sync's staging into the store, in one transaction (see sync/wecom.py).

Per entity (relations, customers, groups, group members, corp tags) it counts added / updated /
unchanged / removed against the store, records contact events for relations and group members a
previous sync saw (the first sync is a baseline), replaces the synced rows, links customers to members
and writes one ``load_log`` row per entity.
"""

from __future__ import annotations

import datetime as dt
import json

from siyu_cli.errors import DataError

GM_SHAPE = json.dumps([{"userid": "VARCHAR", "type": "INTEGER", "join_time": "BIGINT", "join_scene": "INTEGER",
                        "invitor": {"userid": "VARCHAR"}, "unionid": "VARCHAR"}])


def _diff(con, new: str, old: str, keys: list[str], cols: list[str], old_filter: str = "") -> dict[str, int]:
    """Counts of rows of ``new`` against ``old`` by key: added, updated, unchanged, removed."""
    on = " AND ".join(f"n.{k} = o.{k}" for k in keys)
    same = ", ".join(f"n.{c}" for c in cols), ", ".join(f"o.{c}" for c in cols)
    where = f"WHERE {old_filter}" if old_filter else ""
    added, updated, unchanged = con.execute(f"""
        SELECT count(*) FILTER (WHERE o.{keys[0]} IS NULL),
               count(*) FILTER (WHERE o.{keys[0]} IS NOT NULL AND row({same[0]}) IS DISTINCT FROM row({same[1]})),
               count(*) FILTER (WHERE o.{keys[0]} IS NOT NULL AND row({same[0]}) IS NOT DISTINCT FROM row({same[1]}))
        FROM {new} n LEFT JOIN (SELECT * FROM {old} {where}) o ON {on}""").fetchone()
    removed = con.execute(f"SELECT count(*) FROM (SELECT * FROM {old} {where}) o ANTI JOIN {new} n ON {on}").fetchone()[0]
    return {"added": added, "updated": updated, "unchanged": unchanged, "removed": removed}


def merge(settings, report, follow_users: list[str]) -> None:
    """Apply the staging of ``report.batch_id`` to the store (one transaction); fills report counts/events/linked."""
    from siyu_cli.ingest.values import install_macros
    from siyu_cli.store import open_store

    b = report.batch_id
    with open_store(settings) as con:
        install_macros(con)
        con.execute("BEGIN TRANSACTION")
        try:
            status = con.execute("SELECT status FROM wecom_sync_runs WHERE batch_id = ?", [b]).fetchone()
            if status is None or status[0] != "running":
                raise DataError(f"sync {b} is not running any more (status {status[0] if status else 'missing'})")
            prev = con.execute("SELECT max(finished_at) FROM wecom_sync_runs WHERE status = 'done'").fetchone()[0]
            _refuse_empty(con, b)
            report.baseline = prev is None
            now = dt.datetime.now(dt.timezone.utc)
            started = con.execute("SELECT started_at FROM wecom_sync_runs WHERE batch_id = ?", [b]).fetchone()[0]
            _stage_views(con, b)
            report.counts["contacts"] = _merge_relations(con, b, prev, now)
            report.counts["customers"] = _merge_customers(con, b, now)
            report.counts["tags"] = _merge_tags(con, b)
            report.counts["groups"], report.counts["group_members"] = _merge_groups(con, b, prev, now)
            con.execute("""INSERT INTO staff (userid, updated_at) SELECT unnest(?::VARCHAR[]), ?
                           ON CONFLICT DO NOTHING""", [follow_users, now])
            from siyu_cli.sync.linking import link_customers

            report.linked = link_customers(con, b)
            report.events = dict(con.execute("SELECT kind, count(*) FROM contact_events WHERE batch_id = ? GROUP BY 1",
                                             [b]).fetchall())
            rows = {"contacts": "s_rel", "customers": "s_cust", "tags": "s_tags", "groups": "s_grp",
                    "group_members": "s_gm"}
            for entity, table in rows.items():
                c = report.counts[entity]
                read = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                con.execute("""INSERT INTO load_log (batch_id, kind, file, file_sha256, preset, source, rows_read,
                                   inserted, updated, unchanged, rejected, removed, status, started_at, finished_at)
                               VALUES (?, ?, 'wecom api', '', 'wecom-api', 'wecom', ?, ?, ?, ?, 0, ?, 'loaded', ?, ?)""",
                            [f"{b}:{entity}", f"wecom_{entity}", read, c["added"], c["updated"], c["unchanged"],
                             c["removed"], started, now])
            con.execute("UPDATE wecom_sync_runs SET status = 'done', finished_at = ?, counts = ? WHERE batch_id = ?",
                        [now, json.dumps({"counts": report.counts, "events": report.events, "linked": report.linked}),
                         b])
            for table in ("wecom_sync_contacts", "wecom_sync_groups", "wecom_sync_tags"):
                con.execute(f"DELETE FROM {table} WHERE batch_id = ?", [b])
            con.execute("COMMIT")
        except BaseException as exc:
            con.execute("ROLLBACK")
            if isinstance(exc, EmptySync):  # the next sync starts afresh instead of resuming this empty one
                con.execute("UPDATE wecom_sync_runs SET status = 'failed', finished_at = now() WHERE batch_id = ?", [b])
                for table in ("wecom_sync_contacts", "wecom_sync_groups", "wecom_sync_tags"):
                    con.execute(f"DELETE FROM {table} WHERE batch_id = ?", [b])
            raise


class EmptySync(DataError):
    """The API returned nothing although earlier syncs found customers."""


def _refuse_empty(con, b: str) -> None:
    """A sync that returns no customer while the store holds synced ones is a permission problem, not churn."""
    fetched = con.execute("SELECT count(*) FROM wecom_sync_contacts WHERE batch_id = ?", [b]).fetchone()[0]
    held = con.execute("SELECT count(*) FROM wecom_contacts WHERE synced_batch IS NOT NULL").fetchone()[0]
    if fetched == 0 and held > 0:
        raise EmptySync(
            f"WeCom returned no customer relation but the store holds {held:,} from earlier syncs; refusing to record "
            "them all as lost. Check the app's visible range and 客户联系 permission (`siyu wecom check`) "
            "and run the sync again")


def _stage_views(con, b: str) -> None:
    lit = "'" + b.replace("'", "''") + "'"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE s_rel AS
        SELECT external_userid, staff_userid, to_timestamp(createtime) AS added_at, CAST(add_way AS VARCHAR) AS add_way,
               remark, description, remark_mobiles, state, oper_userid, tag_ids
        FROM wecom_sync_contacts WHERE batch_id = {lit}""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE s_cust AS
        SELECT external_userid, arg_max(name, createtime) AS name, arg_max(type, createtime) AS type,
               arg_max(gender, createtime) AS gender, max(unionid) AS unionid, max(corp_name) AS corp_name
        FROM wecom_sync_contacts WHERE batch_id = {lit} GROUP BY external_userid""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE s_tags AS
        SELECT tag_id, name, group_id, group_name, to_timestamp(create_time) AS created_at, sort_order
        FROM wecom_sync_tags WHERE batch_id = {lit}""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE s_grp AS
        SELECT chat_id AS group_id, name, owner AS owner_userid, notice, to_timestamp(create_time) AS created_at,
               CAST(json_array_length(members) AS INTEGER) AS member_count, members
        FROM wecom_sync_groups WHERE batch_id = {lit} AND fetched""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE s_gm AS
        SELECT group_id, m.userid AS external_userid, to_timestamp(m.join_time) AS joined_at, m.type AS member_type,
               m.join_scene, m.invitor.userid AS invitor, m.unionid
        FROM (SELECT group_id, unnest(from_json(members, '{GM_SHAPE}')) AS m FROM s_grp)
        WHERE m.type = 2""")


REL_COLS = ["added_at", "add_way", "remark", "description", "remark_mobiles", "state", "oper_userid", "tag_ids"]


def _merge_relations(con, b: str, prev, now) -> dict[str, int]:
    counts = _diff(con, "s_rel", "wecom_contacts", ["external_userid", "staff_userid"], REL_COLS)
    if prev is not None:
        con.execute("""INSERT INTO contact_events (batch_id, kind, external_userid, staff_userid, member_id, event_at)
            SELECT ?, 'contact_added', n.external_userid, n.staff_userid, o.member_id, coalesce(n.added_at, ?)
            FROM s_rel n LEFT JOIN wecom_contacts o USING (external_userid, staff_userid)
            WHERE o.synced_batch IS NULL""", [b, now])
        con.execute("""INSERT INTO contact_events (batch_id, kind, external_userid, staff_userid, member_id, event_at, since)
            SELECT ?, 'contact_lost', o.external_userid, o.staff_userid, o.member_id, ?, ?
            FROM wecom_contacts o ANTI JOIN s_rel n USING (external_userid, staff_userid)
            WHERE o.synced_batch IS NOT NULL""", [b, now, prev])
    con.execute("DELETE FROM wecom_contacts o WHERE NOT EXISTS (SELECT 1 FROM s_rel n WHERE n.external_userid = "
                "o.external_userid AND n.staff_userid = o.staff_userid)")
    cols = ", ".join(REL_COLS)
    sets = ", ".join(f"{c} = excluded.{c}" for c in REL_COLS)
    con.execute(f"""INSERT INTO wecom_contacts (external_userid, staff_userid, {cols}, synced_batch)
                    SELECT external_userid, staff_userid, {cols}, ? FROM s_rel
                    ON CONFLICT DO UPDATE SET {sets}, synced_batch = excluded.synced_batch""", [b])
    return counts


CUST_COLS = ["name", "type", "gender", "unionid", "corp_name"]


def _merge_customers(con, b: str, now) -> dict[str, int]:
    counts = _diff(con, "s_cust", "wecom_customers", ["external_userid"], CUST_COLS)
    con.execute("DELETE FROM wecom_customers o WHERE o.external_userid NOT IN (SELECT external_userid FROM s_cust)")
    cols = ", ".join(CUST_COLS)
    sets = ", ".join(f"{c} = excluded.{c}" for c in CUST_COLS)
    con.execute(f"""INSERT INTO wecom_customers (external_userid, {cols}, synced_batch, updated_at)
                    SELECT external_userid, {cols}, ?, ? FROM s_cust
                    ON CONFLICT DO UPDATE SET {sets}, synced_batch = excluded.synced_batch,
                                              updated_at = excluded.updated_at""", [b, now])
    return counts


TAG_COLS = ["name", "group_id", "group_name", "created_at", "sort_order"]


def _merge_tags(con, b: str) -> dict[str, int]:
    counts = _diff(con, "s_tags", "wecom_corp_tags", ["tag_id"], TAG_COLS)
    con.execute("DELETE FROM wecom_corp_tags WHERE tag_id NOT IN (SELECT tag_id FROM s_tags)")
    cols = ", ".join(TAG_COLS)
    sets = ", ".join(f"{c} = excluded.{c}" for c in TAG_COLS)
    con.execute(f"""INSERT INTO wecom_corp_tags (tag_id, {cols}, synced_batch) SELECT tag_id, {cols}, ? FROM s_tags
                    ON CONFLICT DO UPDATE SET {sets}, synced_batch = excluded.synced_batch""", [b])
    return counts


GROUP_COLS = ["name", "owner_userid", "notice", "created_at", "member_count"]
GM_COLS = ["joined_at", "member_type", "join_scene", "invitor", "unionid"]


def _merge_groups(con, b: str, prev, now) -> tuple[dict[str, int], dict[str, int]]:
    groups = _diff(con, "s_grp", "groups", ["group_id"], GROUP_COLS)
    members = _diff(con, "s_gm", "group_members", ["group_id", "external_userid"], GM_COLS)
    if prev is not None:
        con.execute("""INSERT INTO contact_events (batch_id, kind, external_userid, group_id, member_id, event_at)
            SELECT ?, 'group_joined', n.external_userid, n.group_id, o.member_id, coalesce(n.joined_at, ?)
            FROM s_gm n LEFT JOIN group_members o USING (group_id, external_userid)
            WHERE o.synced_batch IS NULL""", [b, now])
        con.execute("""INSERT INTO contact_events (batch_id, kind, external_userid, group_id, member_id, event_at, since)
            SELECT ?, 'group_left', o.external_userid, o.group_id, o.member_id, ?, ?
            FROM group_members o ANTI JOIN s_gm n USING (group_id, external_userid)
            WHERE o.synced_batch IS NOT NULL""", [b, now, prev])
    con.execute("DELETE FROM group_members o WHERE NOT EXISTS (SELECT 1 FROM s_gm n WHERE n.group_id = o.group_id "
                "AND n.external_userid = o.external_userid)")
    con.execute("DELETE FROM groups WHERE group_id NOT IN (SELECT group_id FROM s_grp)")
    cols = ", ".join(GROUP_COLS)
    sets = ", ".join(f"{c} = excluded.{c}" for c in GROUP_COLS)
    con.execute(f"""INSERT INTO groups (group_id, {cols}, batch_id, synced_batch, updated_at)
                    SELECT group_id, {cols}, ?, ?, ? FROM s_grp
                    ON CONFLICT DO UPDATE SET {sets}, synced_batch = excluded.synced_batch,
                                              updated_at = excluded.updated_at""", [b, b, now])
    cols = ", ".join(GM_COLS)
    sets = ", ".join(f"{c} = excluded.{c}" for c in GM_COLS)
    con.execute(f"""INSERT INTO group_members (group_id, external_userid, {cols}, batch_id, synced_batch)
                    SELECT group_id, external_userid, {cols}, ?, ? FROM s_gm
                    ON CONFLICT DO UPDATE SET {sets}, synced_batch = excluded.synced_batch""", [b, b])
    return groups, members
