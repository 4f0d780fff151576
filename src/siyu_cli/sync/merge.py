"""The merge of a complete sync's staging into the store: one transaction per phase, and per unit of customers in
the phases that write per customer (sync/units.py; see sync/wecom.py).

Per entity (relations, customers, groups, group members, corp tags) it counts added / updated /
unchanged / removed against the store, records contact events for relations and group members a
previous sync saw (the first sync is a baseline), replaces the synced rows (writing only the new and changed
ones: :func:`_diff`, :func:`_replace`), links customers to members and writes one ``load_log`` row per entity.
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager

from siyu_cli.errors import DataError
from siyu_cli.i18n import _
from siyu_cli.sync.units import add_counts

#: ``[sync] memory_limit``: DuckDB's memory limit during the merge (it spills to the workspace scratch beyond it),
#: so the merge's working set stays bounded whatever the number of contacts
#: (64MB: with 128MB, the buffer pool's cached blocks kept the merge's peak 50 MB higher at 250k customers; units of
#: 25,000 customers fit in 64MB, and a unit that does not climbs the ladder)
DEFAULT_MEMORY_LIMIT = "64MB"
FALLBACK_MEMORY_LIMIT = "2GB"  # the top of the ladder (the loader itself now defaults to 1600MB)
#: the limits a phase that ran out of the default one tries next, in order
LADDER = ("128MB", "512MB", FALLBACK_MEMORY_LIMIT)

STAGING = ("wecom_sync_contacts", "wecom_sync_groups", "wecom_sync_group_members", "wecom_sync_tags")
GM_SHAPE = json.dumps([{"userid": "VARCHAR", "type": "INTEGER", "join_time": "BIGINT", "join_scene": "INTEGER",
                        "invitor": {"userid": "VARCHAR"}, "unionid": "VARCHAR"}])


def _diff(con, new: str, old: str, keys: list[str], cols: list[str], old_filter: str = "") -> dict[str, int]:
    """Counts of rows of ``new`` against ``old`` by key: read, added, updated, unchanged, removed.

    Keeps in the temp table :data:`WRITE` the rows of ``new`` that :func:`_replace` writes: added, updated (a value
    of ``cols`` IS DISTINCT FROM the held one) or held but never seen by a sync (``synced_batch`` NULL: loaded from a
    file) — not the unchanged rows a sync saw, so a nightly sync rewrites only what changed.
    """
    on = " AND ".join(f"n.{k} = o.{k}" for k in keys)
    changed = f"row({', '.join(f'n.{c}' for c in cols)}) IS DISTINCT FROM row({', '.join(f'o.{c}' for c in cols)})"
    old_rows = f"(SELECT * FROM {old} WHERE {old_filter or 'TRUE'})"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {WRITE} AS
        SELECT n.*, o.{keys[0]} IS NULL AS siyu_added, o.{keys[0]} IS NOT NULL AND {changed} AS siyu_updated
        FROM {new} n LEFT JOIN {old_rows} o ON {on}
        WHERE o.{keys[0]} IS NULL OR {changed} OR o.synced_batch IS NULL""")
    # a row held from a file with the same values is written (it becomes synced) but counted unchanged, as before
    added, updated = con.execute(f"SELECT count(*) FILTER (WHERE siyu_added), count(*) FILTER (WHERE siyu_updated) "
                                 f"FROM {WRITE}").fetchone()
    read = con.execute(f"SELECT count(*) FROM {new}").fetchone()[0]
    removed = con.execute(f"SELECT count(*) FROM {old_rows} o ANTI JOIN {new} n ON {on}").fetchone()[0]
    return {"read": read, "added": added, "updated": updated, "unchanged": read - added - updated, "removed": removed}


#: the temp table of the rows :func:`_diff` found to write, which :func:`_replace` upserts
WRITE = "s_write"


def merge(settings, report, follow_users: list[str], names: dict[str, str] | None = None) -> None:
    """Apply the staging of ``report.batch_id`` to the store, one transaction per phase (:data:`PHASES`);
    fills report counts/events/linked.

    Each phase runs under ``[sync] memory_limit`` (default :data:`DEFAULT_MEMORY_LIMIT`). A phase that runs out
    of the *default* limit rolls back and runs again under the next step of :data:`LADDER` (its temp tables
    and uncommitted index entries do not spill); the phases after it go back to the default. The contacts,
    customers and groups phases commit per unit of ``[sync] merge_chunk`` customers (sync/units.py), the link phase per unit
    of ``[sync] link_chunk`` (sync/linking.py), each unit a step of its own. A limit the operator set is kept and
    its shortage is one clear error that loses nothing (the committed phases and units and the staged pages stay;
    the next sync resumes).
    """
    import duckdb

    from siyu_cli.errors import ConfigError

    limits, configured = memory_limits(settings)
    try:
        _merge(settings, report, follow_users, limits, names or {})
    except duckdb.OutOfMemoryException:
        if not configured:
            raise
        raise ConfigError(_("{config_file}: the sync's merge needs more memory than sync.memory_limit = {limit!r}; raise it (the staged pages are kept: rerun `siyu sync wecom` to merge them)").format(config_file=settings.config_file, limit=limits[0])) from None


def memory_limits(settings) -> tuple[list[str], bool]:
    """The DuckDB memory limits a piece of the sync's work tries in order (sync/memory.py ``first_fit``), and
    whether the operator set ``[sync] memory_limit``: then that limit alone (its shortage is an error to report),
    else :data:`DEFAULT_MEMORY_LIMIT` and the :data:`LADDER` above it."""
    configured = "memory_limit" in settings.section("sync")
    limit = settings.memory_limit("sync", DEFAULT_MEMORY_LIMIT)
    return ([limit] if configured else [limit, *LADDER]), configured


#: the merge's phases, each recorded in ``wecom_sync_runs.progress["merged"]`` when its last transaction commits:
#: a transaction holds its uncommitted rows and index entries in memory, so one transaction for everything grew
#: with the number of contacts; a killed or out-of-memory merge resumes at the first phase (or unit) not committed
PHASES = ("contacts", "customers", "tags", "groups", "link")
#: the phases that commit per hash unit of customers (sync/units.py), ``progress["merge_units"]``
PER_CUSTOMER = ("contacts", "customers", "groups")


def _merge(settings, report, follow_users: list[str], limits: list[str], names: dict[str, str]) -> None:
    from siyu_cli.ingest.values import install_macros
    from siyu_cli.scratch import scratch_dir
    from siyu_cli.store import open_store

    b = report.batch_id
    # spill files hold unmasked personal data: the workspace's 0700 scratch, as the loader's
    with scratch_dir(settings.root, "sync") as tmp, open_store(settings) as con:
        con.execute(f"SET temp_directory = '{(tmp / 'spill').as_posix()}'")
        install_macros(con)
        prev = last_done_at(con)
        report.baseline = prev is None
        progress = _running(con, b)
        merged = progress.setdefault("merged", {})
        now = dt.datetime.fromisoformat(progress.setdefault("merge_at", dt.datetime.now(dt.timezone.utc).isoformat()))
        for phase in PHASES:
            if phase in merged:
                continue
            if phase in PER_CUSTOMER:
                _per_customer(settings, con, b, report, progress, phase, limits, prev, now)
                continue
            if phase != "link":
                _commit(con, b, report, progress, phase, limits, merged, phase,
                        lambda p=phase: _phase(con, p, b, prev, now, follow_users, names))
                continue
            # linking commits per unit of customers (sync/linking.py): its uncommitted state grows with them
            from siyu_cli.sync import linking

            done = _each_unit(con, b, report, progress, limits, ("link_units", "linked_units"),
                              lambda: linking.units(con, linking.chunk_size(settings)),
                              lambda u, units: _phase(con, "link", b, prev, now, follow_users, names,
                                                      (u, len(units) - 1, False))["linked"])
            # relinking orders, group members and relations, naming this sync's events and replacing the synced
            # member tags: per hash unit of member_id too, as one transaction over every member held all of their
            # new rows and undo in memory (sync/linking.py finish)
            _each_unit(con, b, report, progress, limits, ("finish_units", "finished_units"),
                       lambda: linking.finish_units(con, linking.chunk_size(settings)),
                       # one unit (everybody): the finish as it always was, ``finish(con, b)``
                       lambda u, units: linking.finish(con, b, *(() if units == ["all"] else (u, len(units)))) or True)
            merged["link"] = {"linked": add_counts(done.values())}
        with _transaction(con, b):
            _running(con, b)
            _finish(con, b, report, merged, now)


def _each_unit(con, b: str, report, progress: dict, limits: list[str], keys: tuple[str, str], plan, work) -> dict:
    """A step of the link phase, one transaction per unit: the units are ``progress[keys[0]]`` (``plan()`` when the
    step starts, saved with its first unit) and ``progress[keys[1]][unit] = work(unit, units)`` for each unit not
    committed yet, so a kill between units resumes at the first unit not committed; returns ``progress[keys[1]]``."""
    if keys[0] not in progress:
        progress[keys[0]] = plan()
    units = progress[keys[0]]
    done = progress.setdefault(keys[1], {})
    for unit in units:
        if unit not in done:
            _commit(con, b, report, progress, "link", limits, done, unit, lambda u=unit: work(u, units))
    return done


def _per_customer(settings, con, b: str, report, progress: dict, phase: str, limits: list[str], prev, now) -> None:
    """The contacts, customers or groups phase, one transaction per unit of customers (sync/units.py).

    The units are fixed when the contacts phase starts (``progress["merge_units"]``, saved with its first unit) and
    each committed unit's counts are kept in ``progress["merged_units"][phase]``, so a kill between units resumes at
    the first unit not committed and the phase's counts are the sum over its units.
    """
    from siyu_cli.sync import units as U

    if "merge_units" not in progress:
        customers = max(con.execute(sql, [b] * ("?" in sql)).fetchone()[0] for sql in (
            "SELECT count(DISTINCT external_userid) FROM wecom_sync_contacts WHERE batch_id = ?",
            "SELECT count(DISTINCT userid) FROM wecom_sync_group_members WHERE batch_id = ? AND type = 2",
            "SELECT count(*) FROM wecom_customers"))
        progress["merge_units"] = U.buckets(customers, U.chunk_size(settings, "merge_chunk", U.DEFAULT_MERGE_CHUNK))
    units = progress["merge_units"]
    done = progress.setdefault("merged_units", {}).setdefault(phase, {})
    for unit in units:
        if unit not in done:
            _commit(con, b, report, progress, phase, limits, done, unit,
                    lambda u=unit: _phase(con, phase, b, prev, now, [], {}, (u, len(units), u == units[-1])))
    entities = dict.fromkeys(e for c in done.values() for e in c)  # groups themselves: the last unit's
    progress["merged"][phase] = {e: add_counts(c[e] for c in done.values() if e in c) for e in entities}


def _commit(con, b: str, report, progress: dict, phase: str, limits: list[str], into: dict, key: str, work) -> None:
    """``into[key] = work()`` in one transaction that also saves ``progress``, under the first of ``limits`` it fits in.

    Running out of memory rolls the transaction back and tries the next limit (the highest one a phase needed is
    ``report.merge_limits[phase]``); out of the last one, the error propagates.
    """
    from siyu_cli.sync.memory import first_fit

    def attempt() -> None:
        with _transaction(con, b):
            _running(con, b)
            into[key] = work()
            con.execute("UPDATE wecom_sync_runs SET progress = ? WHERE batch_id = ?", [json.dumps(progress), b])

    n = first_fit(con, limits, attempt, on_oom=lambda: into.pop(key, None))  # rolled back: the key is not done
    if n and limits.index(report.merge_limits.get(phase, limits[0])) < n:
        report.merge_limits[phase] = limits[n]


def last_done_at(con):
    """When the latest finished ``siyu sync wecom`` ended (None before the first)."""
    return con.execute("SELECT max(finished_at) FROM wecom_sync_runs WHERE status = 'done'").fetchone()[0]


def done_runs(con) -> int:
    """How many ``siyu sync wecom`` runs finished."""
    return con.execute("SELECT count(*) FROM wecom_sync_runs WHERE status = 'done'").fetchone()[0]


def _running(con, b: str) -> dict:
    """The progress of sync ``b``, which must still be running."""
    row = con.execute("SELECT status, progress FROM wecom_sync_runs WHERE batch_id = ?", [b]).fetchone()
    if row is None or row[0] != "running":
        raise DataError(_('sync {b} is not running any more (status {value})').format(b=b, value=row[0] if row else 'missing'))
    return json.loads(row[1] or "{}")


@contextmanager
def _transaction(con, b: str):
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException as exc:
        con.execute("ROLLBACK")
        if isinstance(exc, EmptySync):  # the next sync starts afresh instead of resuming this empty one
            con.execute("UPDATE wecom_sync_runs SET status = 'failed', finished_at = now() WHERE batch_id = ?", [b])
            for table in STAGING:
                con.execute(f"DELETE FROM {table} WHERE batch_id = ?", [b])
        raise


def _phase(con, phase: str, b: str, prev, now, follow_users: list[str], names: dict[str, str],
           unit: tuple[str, int, bool] = ("all", 0, True)) -> dict:
    """One merge phase (for contacts, customers, groups and link, one ``unit`` of customers: its name, the number of hash
    units, whether it is the last); returns what the final load_log rows need (counts and rows read per entity)."""
    from siyu_cli.sync.units import in_bucket

    lit = "'" + b.replace("'", "''") + "'"
    name, buckets, last = unit
    if phase == "contacts":
        _refuse_empty(con, b)
        where = in_bucket("external_userid", name, buckets)
        _stage_relations(con, lit, where)
        out = {"contacts": _merge_relations(con, b, prev, now, where, last)}
    elif phase == "customers":
        where = in_bucket("external_userid", name, buckets)
        _stage_customers(con, lit, where)
        out = {"customers": _merge_customers(con, b, now, where)}
    elif phase == "tags":
        _stage_tags(con, lit)
        out = {"tags": _merge_tags(con, b)}
    elif phase == "groups":
        _stage_groups(con, lit, name, buckets, last)
        out = _merge_groups(con, b, prev, now, in_bucket("external_userid", name, buckets), last)
    else:
        from siyu_cli.sync.linking import link_customers

        if name in ("all", "shared"):  # the first unit
            # a guide's name from user/get (when the app may read the directory) wins over an export's
            from siyu_cli.ingest import people

            people.upsert_staff_names(con, now, follow_users, names)
        return {"linked": link_customers(con, b, name, buckets, last)}
    for t in ("s_rel", "s_cust", "s_tags", "s_grp", "s_gm"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return out


def _finish(con, b: str, report, merged: dict, now) -> None:
    """load_log rows, the run marked done, staging emptied."""
    from siyu_cli.ingest import people

    started = con.execute("SELECT started_at FROM wecom_sync_runs WHERE batch_id = ?", [b]).fetchone()[0]
    report.linked = dict(merged["link"]["linked"])
    # how many customers went through identity.resolve (a customer nothing changed for is not resolved again)
    report.resolved = report.linked.pop("resolved", report.linked.get("customers", 0))
    report.events = dict(con.execute("SELECT kind, count(*) FROM contact_events WHERE batch_id = ? GROUP BY 1",
                                     [b]).fetchall())
    for phase in PHASES[:-1]:
        for entity, c in merged[phase].items():
            report.counts[entity] = {k: c[k] for k in ("added", "updated", "unchanged", "removed")}
            people.log_api_batch(con, f"{b}:{entity}", f"wecom_{entity}", c["read"], c, started, now)
    con.execute("UPDATE wecom_sync_runs SET status = 'done', finished_at = ?, counts = ? WHERE batch_id = ?",
                [now, json.dumps({"counts": report.counts, "events": report.events, "linked": report.linked,
                                  "resolved": report.resolved}), b])
    for table in STAGING:
        con.execute(f"DELETE FROM {table} WHERE batch_id = ?", [b])


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
    from siyu_cli.forget import not_erased_sql

    return not_erased_sql(col)


def _stage_relations(con, lit: str, where: str = "TRUE") -> None:
    con.execute(f"""CREATE OR REPLACE TEMP TABLE s_rel AS
        SELECT external_userid, staff_userid, to_timestamp(createtime) AS added_at, CAST(add_way AS VARCHAR) AS add_way,
               remark, description, remark_mobiles, state, oper_userid, tag_ids
        FROM wecom_sync_contacts WHERE batch_id = {lit} AND {where} AND {_not_erased("external_userid")}""")


def _stage_customers(con, lit: str, where: str = "TRUE") -> None:
    con.execute(f"""CREATE OR REPLACE TEMP TABLE s_cust AS
        SELECT external_userid, arg_max(name, createtime) AS name, arg_max(type, createtime) AS type,
               arg_max(gender, createtime) AS gender, max(unionid) AS unionid, max(corp_name) AS corp_name
        FROM wecom_sync_contacts WHERE batch_id = {lit} AND {where} AND {_not_erased("external_userid")}
        GROUP BY external_userid""")


def _stage_tags(con, lit: str) -> None:
    con.execute(f"""CREATE OR REPLACE TEMP TABLE s_tags AS
        SELECT tag_id, name, group_id, group_name, to_timestamp(create_time) AS created_at, sort_order
        FROM wecom_sync_tags WHERE batch_id = {lit}""")


def _stage_groups(con, lit: str, unit: str = "all", buckets: int = 1, last: bool = True) -> None:
    """``s_gm``: the customers of ``unit`` in groups; ``s_grp`` (the ``last`` unit): the groups."""
    from siyu_cli.sync.units import in_bucket

    if last:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE s_grp AS
            SELECT chat_id AS group_id, name, owner AS owner_userid, notice, to_timestamp(create_time) AS created_at,
                   coalesce(member_count, CAST(json_array_length(members) AS INTEGER)) AS member_count
            FROM wecom_sync_groups WHERE batch_id = {lit} AND fetched""")
    # members are staged one row each (migration 312); a sync staged before it kept them as JSON arrays
    con.execute(f"""CREATE OR REPLACE TEMP TABLE s_gm AS
        SELECT chat_id AS group_id, userid AS external_userid, to_timestamp(join_time) AS joined_at,
               type AS member_type, join_scene, invitor, unionid
        FROM wecom_sync_group_members WHERE batch_id = {lit} AND type = 2 AND {in_bucket("userid", unit, buckets)}
          AND {_not_erased("userid")}
        UNION ALL
        SELECT group_id, m.userid, to_timestamp(m.join_time), m.type, m.join_scene, m.invitor.userid, m.unionid
        FROM (SELECT chat_id AS group_id, unnest(from_json(members, '{GM_SHAPE}')) AS m
              FROM wecom_sync_groups WHERE batch_id = {lit} AND fetched AND members IS NOT NULL)
        WHERE m.type = 2 AND {in_bucket("m.userid", unit, buckets)} AND {_not_erased("m.userid")}""")


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


def _replace(con, new: str, table: str, keys: list[str], cols: list[str], extra: dict[str, object],
             where: str = "TRUE") -> None:
    """Make the rows of ``table`` matching ``where`` hold exactly the keys of ``new``: delete the others, upsert
    ``cols`` and ``extra`` values of the rows :func:`_diff` (called first) kept in :data:`WRITE` — added, changed
    or not synced before. A row a sync saw unchanged is not written again: its ``extra`` (``synced_batch``,
    ``updated_at``, ``batch_id``) keeps the sync that last added or changed it."""
    on = " AND ".join(f"n.{k} = o.{k}" for k in keys)
    con.execute(f"DELETE FROM {table} o WHERE {where} AND NOT EXISTS (SELECT 1 FROM {new} n WHERE {on})")
    names = ", ".join([*keys, *cols, *extra])
    sets = ", ".join(f"{c} = excluded.{c}" for c in [*cols, *extra])
    con.execute(f"""INSERT INTO {table} ({names}) SELECT {', '.join([*keys, *cols])}, {', '.join('?' for _ in extra)}
                    FROM {WRITE} ON CONFLICT DO UPDATE SET {sets}""", list(extra.values()))
    con.execute(f"DROP TABLE {WRITE}")


REL_COLS = ["added_at", "add_way", "remark", "description", "remark_mobiles", "state", "oper_userid", "tag_ids"]
CUST_COLS = ["name", "type", "gender", "unionid", "corp_name"]
TAG_COLS = ["name", "group_id", "group_name", "created_at", "sort_order"]
GROUP_COLS = ["name", "owner_userid", "notice", "created_at", "member_count"]
GM_COLS = ["joined_at", "member_type", "join_scene", "invitor", "unionid"]


def _merge_relations(con, b: str, prev, now, where: str = "TRUE", last: bool = True) -> dict[str, int]:
    """The relations of the customers ``where`` selects (one unit); the ``last`` unit also records the relations
    customers deleted, over all of them."""
    keys = ["external_userid", "staff_userid"]
    counts = _diff(con, "s_rel", "wecom_contacts", keys, REL_COLS, where)
    _events(con, b, "s_rel", f"(SELECT * FROM wecom_contacts WHERE {where})", "staff_userid", "added_at",
            ("contact_added", "contact_removed"), now, prev)
    _replace(con, "s_rel", "wecom_contacts", keys, REL_COLS, {"synced_batch": b}, where)
    if last:
        _deleted_by_customers(con, b)
    return counts


def _deleted_by_customers(con, b: str) -> None:
    """``contact_deleted``: relations WeCom still lists whose customer deleted the guide.

    WeCom keeps a relation on the guide's side after the customer deletes the guide (only the
    ``del_follow_user`` callback says so at once, and siyu runs no callback server). The evidence a pull can
    see is a mass send from that guide to that customer that came back "not a friend" (status 2,
    ``push_recipients.delivery = 'not_friend'``) after the relation was added. One event per relation and
    friendship: dated by that send, ``since`` = when the relation was added.
    """
    from siyu_cli.push.ledger import not_friend_sends_sql

    con.execute(f"""
        INSERT INTO contact_events (batch_id, kind, external_userid, staff_userid, member_id, event_at, since)
        SELECT ?, 'contact_deleted', c.external_userid, c.staff_userid, any_value(c.member_id), min(r.at), c.added_at
        FROM wecom_contacts c JOIN ({not_friend_sends_sql()}) r ON r.recipient_id = c.external_userid AND r.sender = c.staff_userid
        WHERE (c.added_at IS NULL OR r.at >= c.added_at)
          AND NOT EXISTS (SELECT 1 FROM contact_events e WHERE e.kind = 'contact_deleted'
                          AND e.external_userid = c.external_userid AND e.staff_userid = c.staff_userid
                          AND (c.added_at IS NULL OR e.event_at >= c.added_at))
        GROUP BY c.external_userid, c.staff_userid, c.added_at""", [b])


def _merge_customers(con, b: str, now, where: str = "TRUE") -> dict[str, int]:
    counts = _diff(con, "s_cust", "wecom_customers", ["external_userid"], CUST_COLS, where)
    _replace(con, "s_cust", "wecom_customers", ["external_userid"], CUST_COLS, {"synced_batch": b, "updated_at": now},
             where)
    return counts


def _merge_tags(con, b: str) -> dict[str, int]:
    counts = _diff(con, "s_tags", "wecom_corp_tags", ["tag_id"], TAG_COLS)
    _replace(con, "s_tags", "wecom_corp_tags", ["tag_id"], TAG_COLS, {"synced_batch": b})
    return counts


def _merge_groups(con, b: str, prev, now, where: str = "TRUE", last: bool = True) -> dict[str, dict[str, int]]:
    """The group members ``where`` selects (one unit of customers); the ``last`` unit also replaces the groups."""
    keys = ["group_id", "external_userid"]
    out = {"group_members": _diff(con, "s_gm", "group_members", keys, GM_COLS, where)}
    _events(con, b, "s_gm", f"(SELECT * FROM group_members WHERE {where})", "group_id", "joined_at",
            ("group_joined", "group_left"), now, prev)
    _replace(con, "s_gm", "group_members", keys, GM_COLS, {"batch_id": b, "synced_batch": b}, where)
    if last:
        out["groups"] = _diff(con, "s_grp", "groups", ["group_id"], GROUP_COLS)
        _replace(con, "s_grp", "groups", ["group_id"], GROUP_COLS, {"batch_id": b, "synced_batch": b, "updated_at": now})
    return out
