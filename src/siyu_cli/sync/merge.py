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
from siyu_cli.i18n import _

#: ``[sync] memory_limit``: DuckDB's memory limit during the merge (it spills to the workspace scratch beyond it),
#: so the merge's working set stays bounded whatever the number of contacts
DEFAULT_MEMORY_LIMIT = "128MB"
FALLBACK_MEMORY_LIMIT = "2GB"  # the loader's default

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


def merge(settings, report, follow_users: list[str], names: dict[str, str] | None = None) -> None:
    """Apply the staging of ``report.batch_id`` to the store (one transaction); fills report counts/events/linked.

    Under ``[sync] memory_limit`` (default :data:`DEFAULT_MEMORY_LIMIT`). What DuckDB cannot spill (the
    primary-key indexes the upserts use) grows with the store, so a merge that runs out of the *default*
    limit rolls back and runs once more under :data:`FALLBACK_MEMORY_LIMIT`; a limit the operator set is kept
    and its shortage is one clear error.
    """
    import duckdb

    from siyu_cli.errors import ConfigError

    limit = settings.memory_limit("sync", DEFAULT_MEMORY_LIMIT)
    try:
        _merge(settings, report, follow_users, limit, names or {})
    except duckdb.OutOfMemoryException:
        if "memory_limit" in settings.section("sync"):
            raise ConfigError(_("{config_file}: the sync's merge needs more memory than sync.memory_limit = {limit!r}; raise it (the staged pages are kept: rerun `siyu sync wecom` to merge them)").format(config_file=settings.config_file, limit=limit)) from None
        _merge(settings, report, follow_users, FALLBACK_MEMORY_LIMIT, names or {})


def _merge(settings, report, follow_users: list[str], limit: str, names: dict[str, str]) -> None:
    from siyu_cli.ingest.values import install_macros
    from siyu_cli.scratch import scratch_dir
    from siyu_cli.store import open_store

    b = report.batch_id
    # spill files hold unmasked personal data: the workspace's 0700 scratch, as the loader's
    with scratch_dir(settings.root, "sync") as tmp, open_store(settings) as con:
        con.execute(f"SET memory_limit = '{limit}'")
        con.execute(f"SET temp_directory = '{(tmp / 'spill').as_posix()}'")
        install_macros(con)
        con.execute("BEGIN TRANSACTION")
        try:
            status = con.execute("SELECT status FROM wecom_sync_runs WHERE batch_id = ?", [b]).fetchone()
            if status is None or status[0] != "running":
                raise DataError(_('sync {b} is not running any more (status {value})').format(b=b, value=status[0] if status else 'missing'))
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
            # a guide's name from user/get (when the app may read the directory) wins over an export's
            con.execute("""INSERT INTO staff (userid, name, updated_at)
                           SELECT f.u, n.name, ? FROM (SELECT unnest(?::VARCHAR[]) AS u) f
                           LEFT JOIN (SELECT unnest(?::VARCHAR[]) AS userid, unnest(?::VARCHAR[]) AS name) n
                             ON n.userid = f.u
                           ON CONFLICT DO UPDATE SET name = coalesce(excluded.name, staff.name)""",
                        [now, follow_users, list(names), list(names.values())])
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
            _("WeCom returned no customer relation but the store holds {held:,} from earlier syncs; refusing to record them all as lost. Check the app's visible range and 客户联系 permission (`siyu wecom check`) and run the sync again").format(held=held))


def _not_erased(col: str) -> str:
    """A person erased with `siyu forget` is never brought back by a sync (their tombstone is a keyed hash)."""
    return (f"NOT EXISTS (SELECT 1 FROM erased_identities e WHERE e.id_type = 'external_userid' "
            f"AND e.id_hash = siyu_keyed('external_userid', {col}))")


def _stage_views(con, b: str) -> None:
    lit = "'" + b.replace("'", "''") + "'"
    kept = _not_erased("external_userid")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE s_rel AS
        SELECT external_userid, staff_userid, to_timestamp(createtime) AS added_at, CAST(add_way AS VARCHAR) AS add_way,
               remark, description, remark_mobiles, state, oper_userid, tag_ids
        FROM wecom_sync_contacts WHERE batch_id = {lit} AND {kept}""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE s_cust AS
        SELECT external_userid, arg_max(name, createtime) AS name, arg_max(type, createtime) AS type,
               arg_max(gender, createtime) AS gender, max(unionid) AS unionid, max(corp_name) AS corp_name
        FROM wecom_sync_contacts WHERE batch_id = {lit} AND {kept} GROUP BY external_userid""")
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
        WHERE m.type = 2 AND {_not_erased("m.userid")}""")


def _events(con, b: str, new: str, old: str, who: str, at_col: str, kinds: tuple[str, str], now, prev) -> None:
    """Contact events of one relation kind: ``kinds[0]`` for rows of ``new`` no previous sync saw, ``kinds[1]``
    for rows a previous sync saw that ``new`` lacks (dated now, ``since`` the previous sync)."""
    if prev is None:  # the first sync is a baseline
        return
    con.execute(f"""INSERT INTO contact_events (batch_id, kind, external_userid, {who}, member_id, event_at)
        SELECT ?, ?, n.external_userid, n.{who}, o.member_id, coalesce(n.{at_col}, ?)
        FROM {new} n LEFT JOIN {old} o USING (external_userid, {who}) WHERE o.synced_batch IS NULL""",
                [b, kinds[0], now])
    con.execute(f"""INSERT INTO contact_events (batch_id, kind, external_userid, {who}, member_id, event_at, since)
        SELECT ?, ?, o.external_userid, o.{who}, o.member_id, ?, ?
        FROM {old} o ANTI JOIN {new} n USING (external_userid, {who}) WHERE o.synced_batch IS NOT NULL""",
                [b, kinds[1], now, prev])


def _replace(con, new: str, table: str, keys: list[str], cols: list[str], extra: dict[str, object]) -> None:
    """Make ``table`` hold exactly the keys of ``new``: delete the others, upsert ``cols`` and ``extra`` values."""
    on = " AND ".join(f"n.{k} = o.{k}" for k in keys)
    con.execute(f"DELETE FROM {table} o WHERE NOT EXISTS (SELECT 1 FROM {new} n WHERE {on})")
    names = ", ".join([*keys, *cols, *extra])
    sets = ", ".join(f"{c} = excluded.{c}" for c in [*cols, *extra])
    con.execute(f"""INSERT INTO {table} ({names}) SELECT {', '.join([*keys, *cols])}, {', '.join('?' for _ in extra)}
                    FROM {new} ON CONFLICT DO UPDATE SET {sets}""", list(extra.values()))


REL_COLS = ["added_at", "add_way", "remark", "description", "remark_mobiles", "state", "oper_userid", "tag_ids"]
CUST_COLS = ["name", "type", "gender", "unionid", "corp_name"]
TAG_COLS = ["name", "group_id", "group_name", "created_at", "sort_order"]
GROUP_COLS = ["name", "owner_userid", "notice", "created_at", "member_count"]
GM_COLS = ["joined_at", "member_type", "join_scene", "invitor", "unionid"]


def _merge_relations(con, b: str, prev, now) -> dict[str, int]:
    keys = ["external_userid", "staff_userid"]
    counts = _diff(con, "s_rel", "wecom_contacts", keys, REL_COLS)
    _events(con, b, "s_rel", "wecom_contacts", "staff_userid", "added_at", ("contact_added", "contact_lost"), now, prev)
    _replace(con, "s_rel", "wecom_contacts", keys, REL_COLS, {"synced_batch": b})
    return counts


def _merge_customers(con, b: str, now) -> dict[str, int]:
    counts = _diff(con, "s_cust", "wecom_customers", ["external_userid"], CUST_COLS)
    _replace(con, "s_cust", "wecom_customers", ["external_userid"], CUST_COLS, {"synced_batch": b, "updated_at": now})
    return counts


def _merge_tags(con, b: str) -> dict[str, int]:
    counts = _diff(con, "s_tags", "wecom_corp_tags", ["tag_id"], TAG_COLS)
    _replace(con, "s_tags", "wecom_corp_tags", ["tag_id"], TAG_COLS, {"synced_batch": b})
    return counts


def _merge_groups(con, b: str, prev, now) -> tuple[dict[str, int], dict[str, int]]:
    groups = _diff(con, "s_grp", "groups", ["group_id"], GROUP_COLS)
    members = _diff(con, "s_gm", "group_members", ["group_id", "external_userid"], GM_COLS)
    _events(con, b, "s_gm", "group_members", "group_id", "joined_at", ("group_joined", "group_left"), now, prev)
    _replace(con, "s_gm", "group_members", ["group_id", "external_userid"], GM_COLS, {"batch_id": b, "synced_batch": b})
    _replace(con, "s_grp", "groups", ["group_id"], GROUP_COLS, {"batch_id": b, "synced_batch": b, "updated_at": now})
    return groups, members
