"""``siyu sync wecom``: pull staff, customers with every relation, groups and the tag library into the store.

A sync is a load like any other (``load_log`` rows, counts added/updated/unchanged/removed) and it is
resumable: pages are written to staging tables (``wecom_sync_*``) together with the cursor that follows
them, so a killed sync continues from its last checkpoint and re-fetched pages replace their staged rows
(by key) instead of duplicating. Nothing outside staging changes until every page is in; then the merge
(sync/merge.py) compares staging with the store, records contact events, replaces the synced tables, links
customers to members and logs the load, in transactions per phase and per unit of customers recorded in the
run's progress. A kill rolls back the transaction it interrupted; the rerun resumes at the first one not committed.

The API is the source of truth: a relation, group or group member the API no longer returns is removed
(from a file or a previous sync alike), but only what a *previous sync* saw becomes a contact event, and
the very first sync is a baseline (no events).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable
from siyu_cli.i18n import _

BATCH_USERIDS = 100  # batch/get_by_user userid_list and groupchat/list owner_filter limit
CHECKPOINT_ROWS = 5000  # staged rows per store write
#: rows per INSERT statement inside a checkpoint's write: reading a JSON array back as rows (from_json + unnest)
#: holds several times its size at once, so a whole checkpoint in one statement set the fetch's memory peak
INSERT_ROWS = 1000
CHECKPOINT_SECONDS = 2.0
#: DuckDB memory limits of a staging write (one thread), the first it fits in. The store checkpoints after each
#: write; the checkpoint that completes one of the staging table's row groups (122,880 rows) kept every block it
#: touched in the buffer pool, which grew with the rows already staged (+40-60 MB at 250k), unless the pool is small
STAGE_LIMITS = ("16MB", "128MB", "512MB", "2GB")

CONTACT_FIELDS = {
    "external_userid": "VARCHAR", "staff_userid": "VARCHAR", "name": "VARCHAR", "type": "INTEGER",
    "gender": "INTEGER", "unionid": "VARCHAR", "corp_name": "VARCHAR", "remark": "VARCHAR",
    "description": "VARCHAR", "remark_mobiles": "VARCHAR[]", "createtime": "BIGINT", "add_way": "INTEGER",
    "state": "VARCHAR", "oper_userid": "VARCHAR", "tag_ids": "VARCHAR[]",
}
GROUP_FIELDS = {"chat_id": "VARCHAR", "fetched": "BOOLEAN", "name": "VARCHAR", "owner": "VARCHAR",
                "notice": "VARCHAR", "create_time": "BIGINT", "member_count": "INTEGER"}
GROUP_MEMBER_FIELDS = {"chat_id": "VARCHAR", "userid": "VARCHAR", "type": "INTEGER", "join_time": "BIGINT",
                       "join_scene": "INTEGER", "invitor": "VARCHAR", "unionid": "VARCHAR"}
TAG_FIELDS = {"tag_id": "VARCHAR", "name": "VARCHAR", "group_id": "VARCHAR", "group_name": "VARCHAR",
              "create_time": "BIGINT", "sort_order": "INTEGER"}
ENTITIES = ("contacts", "customers", "groups", "group_members", "tags")


@dataclass
class SyncReport:
    batch_id: str
    resumed: bool = False
    follow_users: int = 0
    calls: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    linked: dict[str, int] = field(default_factory=dict)
    activity: dict[str, int] = field(default_factory=dict)
    baseline: bool = False
    staff_names: int = 0
    notes: list[str] = field(default_factory=list)
    merge_limits: dict[str, str] = field(default_factory=dict)  # merge phases that needed more than the default
    resolved: int = 0  # customers the link resolved again (new, or something linking reads changed; linking.py)

    def to_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "resumed": self.resumed, "baseline": self.baseline,
                "follow_users": self.follow_users, "api_calls": self.calls, "counts": self.counts,
                "events": self.events, "linked": self.linked, "activity": self.activity,
                "staff_names": self.staff_names, "notes": self.notes, "merge_limits": self.merge_limits,
                "resolved": self.resolved}


def _rows_json(rows: list[dict], fields: dict[str, str]) -> tuple[str, str]:
    """A JSON array and the from_json shape that reads it back as rows (fast bulk insert, no pyarrow)."""
    return json.dumps(rows, ensure_ascii=False), json.dumps([fields])


def _insert(con, table: str, batch_id: str, rows: list[dict], fields: dict[str, str], verb: str = "INSERT OR REPLACE"
            ) -> None:
    """``rows`` into staging ``table``, :data:`INSERT_ROWS` per statement (in the caller's transaction)."""
    cols = ", ".join(fields)
    for i in range(0, len(rows), INSERT_ROWS):
        data, shape = _rows_json(rows[i:i + INSERT_ROWS], fields)
        con.execute(f"""{verb} INTO {table} (batch_id, {cols})
                        SELECT ?, {cols} FROM (SELECT unnest(from_json(?::JSON, ?), recursive := true))""",
                    [batch_id, data, shape])


def _replace_contacts(con, batch_id: str, rows: list[dict]) -> None:
    """Relations into wecom_sync_contacts, replacing the staged rows of the same (external_userid, staff_userid):
    the table has no key (migration 314), so a page fetched again after a kill deletes its rows first."""
    rows = list({(r["external_userid"], r["staff_userid"]): r for r in rows}.values())  # a relation twice: the last
    con.execute("""DELETE FROM wecom_sync_contacts t
                   USING (SELECT unnest(?::VARCHAR[]) AS e, unnest(?::VARCHAR[]) AS s) k
                   WHERE t.batch_id = ? AND t.external_userid = k.e AND t.staff_userid = k.s""",
                [[r["external_userid"] for r in rows], [r["staff_userid"] for r in rows], batch_id])
    _insert(con, "wecom_sync_contacts", batch_id, rows, CONTACT_FIELDS, verb="INSERT")


def _insert_groups(con, batch_id: str, groups: list[dict]) -> None:
    """Fetched groups into wecom_sync_groups and their members, one row each, into wecom_sync_group_members
    (a group fetched again after a kill replaces its rows)."""
    members = [{"chat_id": g["chat_id"], "userid": m.get("userid"), "type": m.get("type"),
                "join_time": m.get("join_time"), "join_scene": m.get("join_scene"),
                "invitor": (m.get("invitor") or {}).get("userid"), "unionid": m.get("unionid") or None}
               for g in groups for m in g["members"] if m.get("userid")]
    _insert(con, "wecom_sync_groups", batch_id, [{**{k: g.get(k) for k in GROUP_FIELDS}, "member_count": len(g["members"])}
                                                 for g in groups], GROUP_FIELDS)
    con.execute("DELETE FROM wecom_sync_group_members WHERE batch_id = ? AND list_contains(?::VARCHAR[], chat_id)",
                [batch_id, [g["chat_id"] for g in groups]])
    _insert(con, "wecom_sync_group_members", batch_id, members, GROUP_MEMBER_FIELDS, verb="INSERT")


def contact_row(item: dict) -> dict:
    """One batch/get_by_user item → one staging row (a relation with its customer's fields)."""
    c = item.get("external_contact") or {}
    f = item.get("follow_info") or {}
    return {
        "external_userid": c.get("external_userid"), "staff_userid": f.get("userid"), "name": c.get("name"),
        "type": c.get("type"), "gender": c.get("gender"), "unionid": c.get("unionid") or None,
        "corp_name": c.get("corp_name") or None, "remark": f.get("remark") or None,
        "description": f.get("description") or None, "remark_mobiles": [str(m) for m in f.get("remark_mobiles") or []],
        "createtime": f.get("createtime"), "add_way": f.get("add_way"), "state": f.get("state") or None,
        "oper_userid": f.get("oper_userid") or None, "tag_ids": sorted(f.get("tag_id") or []),
    }


class _Stage:
    """The running sync's row in wecom_sync_runs and its staging writes (short store connections)."""

    def __init__(self, settings, batch_id: str, progress: dict):
        self.settings = settings
        self.batch_id = batch_id
        self.progress = progress

    def write(self, table: str | None = None, rows: list[dict] | None = None, fields: dict | None = None,
              **progress: Any) -> None:
        """``rows`` and the progress in one transaction, then the store's checkpoint, both under :data:`STAGE_LIMITS`."""
        import duckdb

        from siyu_cli.store import open_store
        from siyu_cli.sync.memory import checkpoint, first_fit, rollback

        self.progress.update(progress)
        with open_store(self.settings) as con:
            con.execute("SET threads = 1")
            step = first_fit(con, STAGE_LIMITS, lambda: self._commit(con, table, rows, fields),
                             on_oom=lambda: rollback(con))
            # committed; the checkpoint runs under the same limit or a higher one (lowering one fails once buffers
            # are held) ...
            try:
                first_fit(con, STAGE_LIMITS[step:], lambda: con.execute("CHECKPOINT"))
                return
            except (duckdb.OutOfMemoryException, duckdb.FatalException):
                pass
        # ... and when out of memory there (a FatalException leaves the instance unusable), on fresh connections
        checkpoint(lambda: open_store(self.settings), STAGE_LIMITS[step:])

    def _commit(self, con, table: str | None, rows: list[dict] | None, fields: dict | None) -> None:
        con.execute("BEGIN TRANSACTION")
        if table == "wecom_sync_groups" and rows and "members" in rows[0]:
            _insert_groups(con, self.batch_id, rows)
        elif table == "wecom_sync_contacts" and rows:
            _replace_contacts(con, self.batch_id, rows)
        elif table and rows:
            _insert(con, table, self.batch_id, rows, fields or {})
        con.execute("UPDATE wecom_sync_runs SET progress = ? WHERE batch_id = ?",
                    [json.dumps(self.progress), self.batch_id])
        con.execute("COMMIT")


def _start(settings, now: dt.datetime) -> tuple[str, dict, list[str] | None, bool]:
    """The unfinished sync to resume, or a new one."""
    from siyu_cli.store import open_store

    with open_store(settings) as con:
        row = con.execute("SELECT batch_id, progress, follow_users FROM wecom_sync_runs WHERE status = 'running' "
                          "ORDER BY started_at DESC LIMIT 1").fetchone()
        if row:
            return row[0], json.loads(row[1] or "{}"), (json.loads(row[2]) if row[2] else None), True
        batch_id = f"wsync-{now.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"
        con.execute("INSERT INTO wecom_sync_runs (batch_id, status, progress, started_at) VALUES (?, 'running', '{}', ?)",
                    [batch_id, now])
        return batch_id, {}, None, False


@contextmanager
def _sync_lock(settings):
    """One sync per workspace (two would stage into and merge the same run): an flock the kernel drops on death."""
    import fcntl

    from siyu_cli.errors import StoreBusy

    path = settings.root / ".siyu" / "sync.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise StoreBusy(_('another `siyu sync wecom` is running in this workspace; retry when it has finished')) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def sync_wecom(settings, *, client=None, activity: bool = True, activity_days: int | None = None,
               progress: Callable[[str], None] | None = None, checkpoint_rows: int = CHECKPOINT_ROWS) -> SyncReport:
    """Pull everything (resuming an unfinished sync), merge it, link members; see the module docstring."""
    with _sync_lock(settings):
        return _sync(settings, client, activity, activity_days, progress, checkpoint_rows)


def _sync(settings, client, activity, activity_days, progress, checkpoint_rows) -> SyncReport:
    from siyu_cli.sync import linking, units
    from siyu_cli.wecom.client import WeComClient

    # the merge's settings are checked before anything is fetched
    units.chunk_size(settings, "merge_chunk", units.DEFAULT_MERGE_CHUNK)
    linking.chunk_size(settings)
    note = progress or (lambda _msg: None)
    own = client is None
    client = client or WeComClient.from_settings(settings)
    calls0 = client.stats["calls"]
    try:
        now = dt.datetime.now(dt.timezone.utc)
        batch_id, prog, follow_users, resumed = _start(settings, now)
        stage = _Stage(settings, batch_id, prog)
        if follow_users is None:
            follow_users = sorted(set(client.get_follow_user_list()))
            _save_follow_users(settings, batch_id, follow_users)
        note(_('{len} guides with customer contact').format(len=len(follow_users)))
        _fetch_contacts(client, stage, follow_users, checkpoint_rows, note)
        _fetch_tags(client, stage)
        _fetch_groups(client, stage, follow_users, note, checkpoint_rows)
        report = SyncReport(batch_id=batch_id, resumed=resumed, follow_users=len(follow_users))
        names = _staff_names(client, follow_users, report)
        note(_('{staff_names} staff names').format(staff_names=report.staff_names))
        from siyu_cli.sync.merge import merge

        merge(settings, report, follow_users, names)
        if activity:
            from siyu_cli.sync.activity import sync_activity

            report.activity = sync_activity(settings, client, follow_users, days=activity_days)
        report.calls = client.stats["calls"] - calls0
        return report
    finally:
        if own:
            client.close()


#: user/get errcodes that mean "this app may not read the directory": names are skipped, not an error
NO_DIRECTORY = (60011, 48002)


def _staff_names(client, follow_users: list[str], report: SyncReport) -> dict[str, str]:
    """Guides' names from ``user/get`` (one call each) where the app may read them; none and a note where not."""
    from siyu_cli.wecom.errors import WeComError

    names: dict[str, str] = {}
    for userid in follow_users:
        try:
            name = client.get_user(userid).get("name")
        except WeComError as exc:
            if exc.errcode in NO_DIRECTORY:
                report.notes.append(_("staff names skipped: the app may not read the directory (errcode {errcode}); "
                                      "staff keep the names loaded from exports").format(errcode=exc.errcode))
                return {}
            if exc.errcode == 60111:  # left the corp between the two calls
                continue
            raise
        if name:
            names[userid] = name
    report.staff_names = len(names)
    return names


def _save_follow_users(settings, batch_id: str, users: list[str]) -> None:
    from siyu_cli.store import open_store

    with open_store(settings) as con:
        con.execute("UPDATE wecom_sync_runs SET follow_users = ? WHERE batch_id = ?", [json.dumps(users), batch_id])


def _fetch_contacts(client, stage: _Stage, follow_users: list[str], checkpoint_rows: int, note) -> None:
    from siyu_cli.wecom.errors import WeComError

    batches = [follow_users[i:i + BATCH_USERIDS] for i in range(0, len(follow_users), BATCH_USERIDS)]
    i = int(stage.progress.get("contacts_batch", 0))
    cursor = stage.progress.get("cursor", "")
    buf: list[dict] = []
    last = time.monotonic()
    seen: set[str] = set()
    while i < len(batches):
        try:
            items, nxt = client.batch_get_by_user_page(batches[i], cursor, 100)
        except WeComError as exc:
            if exc.errcode == 40058 and cursor:  # a stale cursor from an old killed run: redo this batch
                cursor = ""
                continue
            raise
        # an item without both ids cannot be a relation (never seen from WeCom; a malformed answer)
        buf.extend(r for r in map(contact_row, items) if r["external_userid"] and r["staff_userid"])
        if nxt and nxt not in seen:
            seen.add(nxt)
            cursor = nxt
        else:
            i, cursor, seen = i + 1, "", set()
        if len(buf) >= checkpoint_rows or i == len(batches) or time.monotonic() - last > CHECKPOINT_SECONDS:
            stage.write("wecom_sync_contacts", buf, CONTACT_FIELDS, contacts_batch=i, cursor=cursor)
            note(_('contacts: {i}/{len} guide batches').format(i=i, len=len(batches)))
            buf, last = [], time.monotonic()


def _fetch_tags(client, stage: _Stage) -> None:
    if stage.progress.get("tags_done"):
        return
    rows = [{"tag_id": t["id"], "name": t["name"], "group_id": g["group_id"], "group_name": g["group_name"],
             "create_time": t.get("create_time"), "sort_order": t.get("order")}
            for g in client.get_corp_tag_list() for t in g.get("tag") or []]
    stage.write("wecom_sync_tags", rows, TAG_FIELDS, tags_done=True)


def _fetch_groups(client, stage: _Stage, follow_users: list[str], note, checkpoint_rows: int = CHECKPOINT_ROWS) -> None:
    from siyu_cli.store import open_store

    if not stage.progress.get("groups_listed"):
        chats: list[dict] = []
        for i in range(0, len(follow_users), BATCH_USERIDS):
            for g in client.groupchat_list(owners=follow_users[i:i + BATCH_USERIDS]):
                chats.append({"chat_id": g["chat_id"], "fetched": False})
        chats = list({c["chat_id"]: c for c in chats}.values())
        stage.write("wecom_sync_groups", chats, {"chat_id": "VARCHAR", "fetched": "BOOLEAN"}, groups_listed=True)
    with open_store(stage.settings, read_only=True) as con:
        todo = [r[0] for r in con.execute("SELECT chat_id FROM wecom_sync_groups WHERE batch_id = ? AND NOT fetched "
                                          "ORDER BY chat_id", [stage.batch_id]).fetchall()]
    buf: list[dict] = []
    held = 0  # group members in buf: a checkpoint holds about checkpoint_rows of them, not a number of groups
    last = time.monotonic()
    for n, chat_id in enumerate(todo, 1):
        g = client.groupchat_get(chat_id)
        members = g.get("member_list") or []
        buf.append({"chat_id": chat_id, "fetched": True, "name": g.get("name") or None, "owner": g.get("owner"),
                    "notice": g.get("notice") or None, "create_time": g.get("create_time"), "members": members})
        held += len(members) + 1
        if held >= checkpoint_rows or n == len(todo) or time.monotonic() - last > CHECKPOINT_SECONDS:
            stage.write("wecom_sync_groups", buf, GROUP_FIELDS)
            note(_('groups: {n}/{len}').format(n=n, len=len(todo)))
            buf, held, last = [], 0, time.monotonic()
