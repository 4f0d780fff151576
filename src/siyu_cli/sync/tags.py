"""``siyu tags sync``: each member's segment (or an audience) as a WeCom corp tag on every (guide, customer) relation.

- The tags live in a tag group siyu owns (``[wecom.tags] group``, default ``RFM分层``); siyu creates the
  group and its tags with ``add_corp_tag`` once, records them in ``wecom_tag_owned`` and never adds or
  removes any other tag. Names are at most 30 characters and the library stays under 3,000 tags.
- Only differences are sent: the plan compares what each relation should carry with what siyu applied
  last time (``wecom_tag_state``), so a member who stays in C costs no call. A move from one segment
  tag to another is one ``mark_tag`` with both ``add_tag`` and ``remove_tag`` (a customer may carry
  several tags of one group, so the old one must be removed explicitly).
- Every planned call is a ledger row (``wecom_tag_ledger``). Progress is committed at least every
  second; a killed run is resumed by the next ``siyu tags sync`` of the same scope. ``mark_tag`` is
  idempotent, so the calls of the last uncommitted second that are sent again change nothing.
- Per-call errcodes: 84061 (the customer is no longer the guide's contact) → skipped; 40068 (a tag
  was deleted in the admin console) → tags re-checked and recreated once, then failed; 45033/45009
  are retried by the client and, when they persist, stop the run (resumable) with exit 75.
- Memory: the plan compares every relation, so it runs under ``[sync] memory_limit`` with the sync's ladder
  (sync/memory.py ``first_fit``; DuckDB spills to the workspace's scratch), and the sender reads the ledger a
  page at a time; out of the top of the ladder (or of a configured limit) is one clear error (exit 78).
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from siyu_cli.errors import ConfigError, DataError, UsageError
from siyu_cli.i18n import _

DEFAULT_GROUP = "RFM分层"
AUDIENCE_GROUP = "siyu人群"
NAME_LIMIT = 30
LIBRARY_LIMIT = 3000
CHECKPOINT_SECONDS = 1.0
CHECKPOINT_CALLS = 1000
KEYS = {"scheme", "group", "audience_group", "enabled"}


@dataclass
class TagConfig:
    scheme: str | None = None
    group: str = DEFAULT_GROUP
    audience_group: str = AUDIENCE_GROUP
    enabled: bool = False  # the nightly pipeline applies tags after segmenting

    @classmethod
    def from_settings(cls, settings) -> "TagConfig":
        raw = (settings.section("wecom").get("tags") if settings is not None else None) or {}
        where = f"{settings.config_file}: wecom.tags" if settings is not None else "wecom.tags"
        if not isinstance(raw, dict):
            raise ConfigError(_('{where} must be a table').format(where=where))
        unknown = set(raw) - KEYS
        if unknown:
            raise ConfigError(_('{where}: unknown key {value} (known: {join})').format(where=where, value=sorted(unknown)[0], join=', '.join(sorted(KEYS))))
        cfg = cls(enabled=bool(raw.get("enabled", bool(raw))))
        for key in ("scheme", "group", "audience_group"):
            if key in raw:
                if not isinstance(raw[key], str) or not raw[key].strip():
                    raise ConfigError(_('{where}.{key} must be a non-empty string').format(where=where, key=key))
                setattr(cfg, key, raw[key].strip())
        for name in (cfg.group, cfg.audience_group):
            check_name(name, f"{where} group")
        return cfg


def check_name(name: str, what: str) -> None:
    if not name or len(name) > NAME_LIMIT:
        raise DataError(_('{what} {name!r}: WeCom tag and group names are 1..{NAME_LIMIT} characters').format(what=what, name=name, NAME_LIMIT=NAME_LIMIT))


@dataclass
class TagSyncReport:
    run_id: str | None
    mode: str
    group: str
    dry_run: bool = False
    resumed: int = 0
    planned: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    calls: int = 0
    created_tags: list[str] = field(default_factory=list)
    per_tag: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> {"add": n, "remove": n}
    memory_limits: dict[str, str] = field(default_factory=dict)  # steps (plan, ledger, checkpoint) above the first limit

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "mode": self.mode, "group": self.group, "dry_run": self.dry_run,
                "resumed": self.resumed, "planned": self.planned, "done": self.done, "skipped": self.skipped,
                "failed": self.failed, "api_calls": self.calls, "created_tags": self.created_tags,
                "per_tag": self.per_tag, "memory_limits": self.memory_limits}


# ---------------------------------------------------------------- planning (pure SQL over the store)

def _desired_sql(con, settings, mode: str, *, scheme: str | None, tag: str | None, audience: str | None):
    """SQL of (external_userid, staff_userid, member_id, tag) each current relation should carry; params; snapshot."""
    if mode == "segment":
        from siyu_cli.segment.audience import member_segments_sql
        from siyu_cli.segment.snapshots import latest_snapshot_id

        snap = latest_snapshot_id(con, scheme)
        if snap is None:
            raise UsageError(_("no segment snapshot of scheme {scheme!r} yet: run `siyu segment run` first").format(
                scheme=scheme) if scheme else _("no segment snapshot yet: run `siyu segment run` first"))
        sql = ("SELECT c.external_userid, c.staff_userid, c.member_id, s.segment_name AS tag FROM wecom_contacts c "
               f"JOIN ({member_segments_sql()}) s ON s.member_id = c.member_id")
        return sql, [snap], snap
    from siyu_cli.push.audiences import resolve

    aud = resolve(con, settings, audience or "", "customer")
    sql = (f"SELECT c.external_userid, c.staff_userid, c.member_id, ?::VARCHAR AS tag FROM wecom_contacts c "
           f"WHERE c.member_id IN (SELECT id FROM ({aud.sql}))")
    return sql, [tag, *aud.params], aud.snapshot_id


def observed_since_push(con, group: str) -> bool:
    """Whether the latest ``siyu sync wecom`` read the relations' tags after the last tag run of ``group`` ended:
    then what WeCom reported is the truth about siyu's tags (a guide may have removed one by hand in the app);
    otherwise siyu's own record of what it applied is newer."""
    row = con.execute("""SELECT (SELECT max(finished_at) FROM wecom_sync_runs WHERE status = 'done'),
                                (SELECT max(coalesce(finished_at, started_at)) FROM wecom_tag_runs WHERE group_name = ?)""",
                      [group]).fetchone()
    return row[0] is not None and (row[1] is None or row[0] > row[1])


def _have_sql(con, mode: str, group: str, tag: str | None) -> tuple[str, list]:
    """SQL of (external_userid, staff_userid, tag_name): siyu's tags each relation carries now.

    Only tags siyu created in its group count (``wecom_tag_owned``: the rule of what siyu owns); every other
    tag is the operator's and never planned. After a newer sync the tags WeCom reported (``wecom_contacts.tag_ids``)
    are used for the relations that sync saw, so a tag removed by hand is added again and one of siyu's tags
    added by hand to the wrong member is removed; relations from files keep siyu's record.
    """
    one = " AND o.name = ?" if mode == "audience" else ""
    state = "SELECT external_userid, staff_userid, tag_name FROM wecom_tag_state WHERE group_name = ?" + \
        (" AND tag_name = ?" if mode == "audience" else "")
    state_params = [group] + ([tag] if mode == "audience" else [])
    if not observed_since_push(con, group):
        return state, state_params
    sql = f"""SELECT c.external_userid, c.staff_userid, o.name AS tag_name
              FROM (SELECT external_userid, staff_userid, unnest(tag_ids) AS tag_id FROM wecom_contacts
                    WHERE synced_batch IS NOT NULL) c
              JOIN wecom_tag_owned o ON o.tag_id = c.tag_id AND o.group_name = ?{one}
              UNION ALL
              SELECT s.* FROM ({state}) s ANTI JOIN (SELECT external_userid, staff_userid FROM wecom_contacts
                                                    WHERE synced_batch IS NOT NULL) c USING (external_userid, staff_userid)"""
    return sql, [group] + ([tag] if mode == "audience" else []) + state_params


def _plan(con, settings, mode, group, *, scheme, tag, audience) -> tuple[int | None, str, list]:
    """Create TEMP TABLE tag_plan(external_userid, staff_userid, member_id, add_names, remove_names)."""
    desired, params, snap = _desired_sql(con, settings, mode, scheme=scheme, tag=tag, audience=audience)
    scope_params = [group] + ([tag] if mode == "audience" else [])
    have_sql, have_params = _have_sql(con, mode, group, tag)
    # one (relation, tag) row per side, matched by a full join: only the rows that differ are grouped per relation,
    # so the work that grows with the members is a join DuckDB can spill (grouping every relation's tags into
    # lists first needed ≈ 550 MB at 1M members and did not fit 64 MB)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE tag_plan AS
        WITH diff AS (
            SELECT coalesce(w.external_userid, h.external_userid) AS external_userid,
                   coalesce(w.staff_userid, h.staff_userid) AS staff_userid,
                   CASE WHEN h.external_userid IS NULL THEN w.tag END AS add_name,
                   CASE WHEN w.external_userid IS NULL THEN h.tag_name END AS remove_name
            FROM ({desired}) w FULL JOIN ({have_sql}) h
              ON w.external_userid = h.external_userid AND w.staff_userid = h.staff_userid AND w.tag = h.tag_name
            WHERE w.external_userid IS NULL OR h.external_userid IS NULL)
        SELECT l.external_userid, l.staff_userid, l.member_id,
               coalesce(list_sort(list(DISTINCT d.add_name) FILTER (WHERE d.add_name IS NOT NULL)), []) AS add_names,
               coalesce(list_sort(list(DISTINCT d.remove_name) FILTER (WHERE d.remove_name IS NOT NULL)), [])
                   AS remove_names
        FROM diff d JOIN wecom_contacts l USING (external_userid, staff_userid)
        GROUP BY l.external_userid, l.staff_userid, l.member_id
        HAVING len(add_names) > 0 OR len(remove_names) > 0
    """, [*params, *have_params])
    names = sorted({r[0] for r in con.execute("SELECT DISTINCT unnest(add_names) FROM tag_plan").fetchall()})
    for name in names:
        check_name(name, "tag")
    return snap, names, scope_params


def _per_tag(con, table: str, where: str = "", params: list | None = None) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for col, key in (("add_names", "add"), ("remove_names", "remove")):
        for name, n in con.execute(f"SELECT t, count(*) FROM (SELECT unnest({col}) AS t FROM {table} {where}) GROUP BY t",
                                   params or []).fetchall():
            out.setdefault(name, {"add": 0, "remove": 0})[key] = n
    return dict(sorted(out.items()))


# ---------------------------------------------------------------- memory

@contextmanager
def _store(settings, *, read_only: bool = False):
    """A short store connection whose statements spill to the workspace's 0700 scratch (they hold personal data)."""
    from siyu_cli.scratch import scratch_dir
    from siyu_cli.store import open_store

    with scratch_dir(settings.root, "tags") as tmp, open_store(settings, read_only=read_only) as con:
        con.execute(f"SET temp_directory = '{(tmp / 'spill').as_posix()}'")
        yield con


def _bounded(settings, con, work, report: TagSyncReport, step: str, *, rollback: bool = False) -> None:
    """``work()`` under ``[sync] memory_limit`` with the sync merge's default and ladder (sync/merge.py); a
    ``rollback`` work is one transaction, rolled back before the next limit is tried. A limit above the first is
    recorded as ``report.memory_limits[step]``. Out of the top of the ladder, or of a limit the operator set, is
    one clear error: a transaction is committed whole or not at all, so the ledger resumes."""
    import duckdb

    from siyu_cli.errors import ConfigError
    from siyu_cli.sync import memory
    from siyu_cli.sync.merge import memory_limits

    limits, configured = memory_limits(settings)
    limit = limits[0]
    try:
        n = memory.first_fit(con, limits, work, on_oom=(lambda: memory.rollback(con)) if rollback else None)
    except duckdb.OutOfMemoryException:
        if configured:
            raise ConfigError(_("{config_file}: `siyu tags sync` needs more memory than sync.memory_limit = {limit!r}; raise it (nothing is lost: a rerun resumes)").format(config_file=settings.config_file, limit=limit)) from None
        raise ConfigError(_("`siyu tags sync` ran out of memory even under {limit} (the top of the sync's memory ladder): set a higher [sync] memory_limit in {config_file}").format(limit=limits[-1], config_file=settings.config_file)) from None
    if n and limits.index(report.memory_limits.get(step, limits[0])) < n:  # the highest step this one needed
        report.memory_limits[step] = limits[n]


# ---------------------------------------------------------------- the run

def tags_sync(settings, *, client=None, tag: str | None = None, audience: str | None = None,
              scheme: str | None = None, group: str | None = None, dry_run: bool = False) -> TagSyncReport:
    """Plan (and unless ``dry_run`` apply) the tag changes; resumes an unfinished run of the same scope first."""
    from siyu_cli.store import open_store

    cfg = TagConfig.from_settings(settings)
    if (tag is None) != (audience is None):
        raise UsageError(_('--tag and --audience go together (a tag name and who gets it)'))
    mode = "audience" if tag else "segment"
    group = group or (cfg.audience_group if mode == "audience" else cfg.group)
    check_name(group, "tag group")
    if tag:
        check_name(tag, "tag")
    scheme = scheme or cfg.scheme
    report = TagSyncReport(run_id=None, mode=mode, group=group, dry_run=dry_run)
    with _store(settings, read_only=dry_run) as con:
        pending = con.execute("SELECT run_id FROM wecom_tag_runs WHERE status = 'running' AND group_name = ? "
                              "AND tag_name IS NOT DISTINCT FROM ? ORDER BY started_at", [group, tag]).fetchall()
        planned: list = []
        _bounded(settings, con, lambda: planned.append(
            _plan(con, settings, mode, group, scheme=scheme, tag=tag, audience=audience)), report, "plan")
        snap, names, _rest = planned[-1]
        if dry_run:
            owned = {r[0] for r in con.execute("SELECT name FROM wecom_tag_owned WHERE group_name = ? "
                                               "AND tag_id NOT LIKE 'pending:%'", [group]).fetchall()}
            missing = [n for n in names if n not in owned]
            report.planned = con.execute("SELECT count(*) FROM tag_plan").fetchone()[0]
            report.per_tag = _per_tag(con, "tag_plan")
            report.resumed = sum(con.execute("SELECT count(*) FROM wecom_tag_ledger WHERE run_id = ? AND status = 'pending'",
                                             [r[0]]).fetchone()[0] for r in pending)
            report.created_tags = missing
            report.calls = report.planned + report.resumed + (1 if missing else 0)
            return report
    from siyu_cli.wecom.client import WeComClient

    own = client is None
    client = client or WeComClient.from_settings(settings)
    calls0 = client.stats["calls"]
    try:
        for (run_id,) in pending:  # a killed run of this scope: finish its ledger first
            n = _execute(settings, client, run_id, group, report)
            report.resumed += n
        run_id = _new_run(settings, mode, group, tag, scheme, snap, audience, names, client, report)
        report.run_id = run_id
        _execute(settings, client, run_id, group, report)
        with open_store(settings, read_only=True) as con:
            report.per_tag = _per_tag(con, "wecom_tag_ledger", "WHERE run_id = ?", [run_id])
        report.calls = client.stats["calls"] - calls0
        return report
    finally:
        if own:
            client.close()


def _new_run(settings, mode, group, tag, scheme, snap, audience, names, client, report) -> str:
    """Ensure the tags exist, then write the plan as a ledger (the store is re-read: the plan is current)."""
    from siyu_cli.store import open_store

    created = ensure_tags(settings, client, group, names)
    report.created_tags = created
    run_id = f"tags-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"
    with _store(settings) as con:
        _bounded(settings, con, lambda: _write_plan(con, settings, run_id, mode, group, tag, scheme, snap, audience, report),
                 report, "ledger", rollback=True)
    return run_id


def _write_plan(con, settings, run_id, mode, group, tag, scheme, snap, audience, report) -> None:
    """One transaction: the plan again, the observed state adopted, the run and its ledger."""
    con.execute("BEGIN TRANSACTION")
    _plan(con, settings, mode, group, scheme=scheme, tag=tag, audience=audience)
    _adopt_observed(con, mode, group, tag)
    con.execute("""INSERT INTO wecom_tag_runs (run_id, mode, group_name, tag_name, scheme, snapshot_id, audience,
                                               status, planned, started_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, 'running', (SELECT count(*) FROM tag_plan), now())""",
                [run_id, mode, group, tag, scheme, snap, audience])
    con.execute("""INSERT INTO wecom_tag_ledger (run_id, external_userid, staff_userid, member_id, add_names,
                                                 remove_names, status)
                   SELECT ?, external_userid, staff_userid, member_id, add_names, remove_names, 'pending' FROM tag_plan""",
                [run_id])
    report.planned = con.execute("SELECT count(*) FROM tag_plan").fetchone()[0]
    con.execute("COMMIT")


def _adopt_observed(con, mode: str, group: str, tag: str | None) -> None:
    """Before a run's ledger is written: siyu's applied state becomes what the newer sync saw (see _have_sql)."""
    if not observed_since_push(con, group):
        return
    # only the differences are written: rewriting every relation's state in the ledger's transaction held all of
    # them uncommitted (and in the primary key's index) at once
    have, params = _have_sql(con, mode, group, tag)
    one, scope = (" AND tag_name = ?", [group, tag]) if mode == "audience" else ("", [group])
    con.execute(f"""DELETE FROM wecom_tag_state t WHERE group_name = ?{one} AND NOT EXISTS (
                        SELECT 1 FROM ({have}) h WHERE h.external_userid = t.external_userid
                          AND h.staff_userid = t.staff_userid AND h.tag_name = t.tag_name)""", [*scope, *params])
    con.execute(f"""INSERT OR IGNORE INTO wecom_tag_state
                    SELECT DISTINCT h.external_userid, h.staff_userid, ?, h.tag_name, 'observed', now() FROM ({have}) h
                    ANTI JOIN (SELECT * FROM wecom_tag_state WHERE group_name = ?) t
                      ON t.external_userid = h.external_userid AND t.staff_userid = h.staff_userid
                     AND t.tag_name = h.tag_name""", [group, *params, group])


PENDING = "pending:"  # wecom_tag_owned.tag_id of a tag asked for whose add_corp_tag answer was not recorded yet


def ensure_tags(settings, client, group: str, names: list[str]) -> list[str]:
    """Create the tags (and group) siyu needs that do not exist yet; returns the names created.

    A tag of the same name siyu did not create is never adopted: that is an error to resolve by choosing
    another group name — except a tag siyu itself asked for in a call cut off before its answer was
    recorded (a ``pending:`` row written before the call). The library must stay under 3,000 tags.
    """
    from siyu_cli.store import open_store

    library = client.get_corp_tag_list()
    live = {t["id"] for g in library for t in g.get("tag") or []}
    g = next((g for g in library if g["group_name"] == group), None)
    in_group = {t["name"]: t["id"] for t in (g or {}).get("tag") or []}
    with open_store(settings) as con:
        con.execute("BEGIN TRANSACTION")
        for name, tid in con.execute("SELECT name, tag_id FROM wecom_tag_owned WHERE group_name = ?", [group]).fetchall():
            if tid.startswith(PENDING):
                con.execute("DELETE FROM wecom_tag_owned WHERE tag_id = ?", [tid])
                if name in in_group:  # created by siyu's interrupted call: adopt it
                    con.execute("INSERT OR REPLACE INTO wecom_tag_owned VALUES (?, ?, ?, ?, now())",
                                [in_group[name], g["group_id"], group, name])
            elif tid not in live:  # deleted in the admin console: forget it, recreate below
                con.execute("DELETE FROM wecom_tag_owned WHERE tag_id = ?", [tid])
        con.execute("COMMIT")
        owned = dict(con.execute("SELECT name, tag_id FROM wecom_tag_owned WHERE group_name = ?", [group]).fetchall())
        group_id = con.execute("SELECT any_value(group_id) FROM wecom_tag_owned WHERE group_name = ?", [group]).fetchone()[0]
    missing = [n for n in names if n not in owned]
    if not missing:
        return []
    foreign = sorted(set(in_group) & set(missing))
    if foreign:
        raise DataError(_('tag group {group!r} already has {join} created outside siyu; siyu never touches tags it did not create: set another [wecom.tags] group').format(group=group, join=', '.join(foreign)))
    group_id = group_id or (g["group_id"] if g else None)
    if len(live) + len(missing) > LIBRARY_LIMIT:
        raise DataError(_("the corp tag library holds {len} tags; adding {len2} would pass WeCom's {LIBRARY_LIMIT}-tag limit").format(len=len(live), len2=len(missing), LIBRARY_LIMIT=LIBRARY_LIMIT))
    with open_store(settings) as con:
        for name in missing:
            con.execute("INSERT OR REPLACE INTO wecom_tag_owned VALUES (?, '', ?, ?, now())",
                        [f"{PENDING}{group}\x1f{name}", group, name])
    created = client.add_corp_tag(tags=missing, group_id=group_id) if group_id else \
        client.add_corp_tag(tags=missing, group_name=group)
    with open_store(settings) as con:
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM wecom_tag_owned WHERE group_name = ? AND tag_id LIKE 'pending:%'", [group])
        for t in created.get("tag") or []:
            con.execute("INSERT OR REPLACE INTO wecom_tag_owned VALUES (?, ?, ?, ?, now())",
                        [t["id"], created["group_id"], group, t["name"]])
        con.execute("COMMIT")
    return missing


def _execute(settings, client, run_id: str, group: str, report: TagSyncReport) -> int:
    """Send the pending ledger rows of ``run_id``; returns how many were pending."""
    from siyu_cli.wecom import errcodes
    from siyu_cli.wecom.errors import WeComError

    ids = _owned(settings, group)
    results: list[tuple] = []
    last = time.monotonic()
    refreshed = False
    sent = 0
    try:
        for ext, staff, add, remove in _pending(settings, run_id):
            sent += 1
            for attempt in (1, 2):
                missing = [n for n in add if n not in ids]
                if missing:
                    ensure_tags(settings, client, group, missing)
                    ids = _owned(settings, group)
                add_ids, remove_ids = [ids[n] for n in add], [ids[n] for n in remove if n in ids]
                if not add_ids and not remove_ids:  # only removals of tags deleted in the console: nothing to send
                    results.append((ext, staff, add, remove, "done", None))
                    break
                try:
                    client.mark_tag(userid=staff, external_userid=ext, add=add_ids, remove=remove_ids)
                    results.append((ext, staff, add, remove, "done", None))
                except WeComError as exc:
                    if exc.errcode == 40068 and attempt == 1 and not refreshed:  # tag deleted in the console
                        refreshed = True
                        ensure_tags(settings, client, group, sorted(set(ids) | set(add)))
                        ids = _owned(settings, group)
                        continue
                    if exc.category == errcodes.RETRY or exc.errcode in (40014, 42001, 41001):
                        raise  # limits that persist: stop, the ledger keeps the rest pending
                    # 84061 not a contact any more, 40003 departed guide, 60011 outside the visible range …
                    status = "skipped" if exc.category == errcodes.SKIP else "failed"
                    if status == "failed" and exc.category == errcodes.FATAL and errcodes.lookup(exc.errcode).config:
                        raise
                    results.append((ext, staff, add, remove, status, exc.errcode))
                break
            if len(results) >= CHECKPOINT_CALLS or time.monotonic() - last > CHECKPOINT_SECONDS:
                _checkpoint(settings, run_id, group, results, report)
                results, last = [], time.monotonic()
    finally:
        _checkpoint(settings, run_id, group, results, report)
    _finish(settings, run_id)
    return sent


#: pending ledger rows read per short read-only connection: the sender never holds the whole plan
PAGE_ROWS = 1000


def _pending(settings, run_id: str):
    """The pending ledger rows of ``run_id`` in (staff_userid, external_userid) order, a page at a time.

    Each page starts after the last key read (not at the first row still pending: the rows sent since the last
    checkpoint are still pending in the store)."""
    from siyu_cli.store import open_store

    after: tuple[str, str] | None = None
    while True:
        where, params = ("", [run_id]) if after is None else \
            (" AND (staff_userid > ? OR (staff_userid = ? AND external_userid > ?))", [run_id, after[0], *after])
        with open_store(settings, read_only=True) as con:
            page = con.execute("SELECT external_userid, staff_userid, add_names, remove_names FROM wecom_tag_ledger "
                               f"WHERE run_id = ? AND status = 'pending'{where} "
                               "ORDER BY staff_userid, external_userid LIMIT ?", [*params, PAGE_ROWS]).fetchall()
        yield from page
        if len(page) < PAGE_ROWS:
            return
        after = (page[-1][1], page[-1][0])


def _owned(settings, group: str) -> dict[str, str]:
    from siyu_cli.store import open_store

    with open_store(settings, read_only=True) as con:
        return dict(con.execute("SELECT name, tag_id FROM wecom_tag_owned WHERE group_name = ? "
                                "AND tag_id NOT LIKE 'pending:%'", [group]).fetchall())


def _checkpoint(settings, run_id: str, group: str, results: list[tuple], report: TagSyncReport) -> None:
    """Record finished calls: ledger status and the applied state, set-based in one transaction."""
    if not results:
        return
    import json

    data = json.dumps([{"e": e, "s": st, "add": list(a), "rm": list(r), "status": status, "code": code}
                       for e, st, a, r, status, code in results], ensure_ascii=False)
    shape = json.dumps([{"e": "VARCHAR", "s": "VARCHAR", "add": "VARCHAR[]", "rm": "VARCHAR[]", "status": "VARCHAR",
                         "code": "INTEGER"}])
    with _store(settings) as con:
        con.execute("SET threads = 1")
        _bounded(settings, con, lambda: _record(con, run_id, group, data, shape), report, "checkpoint", rollback=True)
    for *_head, status, _code in results:
        setattr(report, status, getattr(report, status) + 1)
    _store_checkpoint(settings)


def _store_checkpoint(settings) -> None:
    """The store's checkpoint after a write (sync/memory.checkpoint under the sync's ladder). Left to the close,
    writing back the applied state's table and key set the 1M-member run's peak (233 MB against 169)."""
    from siyu_cli.sync.memory import checkpoint
    from siyu_cli.sync.merge import memory_limits

    checkpoint(lambda: _store(settings), memory_limits(settings)[0])


def _record(con, run_id: str, group: str, data: str, shape: str) -> None:
    con.execute("BEGIN TRANSACTION")
    con.execute("CREATE OR REPLACE TEMP TABLE tag_ck AS SELECT unnest(from_json(?::JSON, ?), recursive := true)",
                [data, shape])
    con.execute("""UPDATE wecom_tag_ledger SET status = k.status, errcode = k.code, done_at = now() FROM tag_ck k
                   WHERE wecom_tag_ledger.run_id = ? AND wecom_tag_ledger.external_userid = k.e
                     AND wecom_tag_ledger.staff_userid = k.s""", [run_id])
    # removed tags (done) and everything of siyu's on a relation that is not a contact any more (skipped)
    con.execute("""DELETE FROM wecom_tag_state t USING tag_ck k
                   WHERE t.external_userid = k.e AND t.staff_userid = k.s AND t.group_name = ?
                     AND ((k.status = 'done' AND list_contains(k.rm, t.tag_name)) OR k.status = 'skipped')""",
                [group])
    con.execute("""INSERT OR REPLACE INTO wecom_tag_state
                   SELECT e, s, ?, unnest("add"), ?, now() FROM tag_ck WHERE status = 'done' AND len("add") > 0""",
                [group, run_id])
    con.execute("COMMIT")


def _finish(settings, run_id: str) -> None:
    from siyu_cli.store import open_store

    with open_store(settings) as con:
        con.execute("""UPDATE wecom_tag_runs SET status = 'done', finished_at = now(),
                           done = (SELECT count(*) FROM wecom_tag_ledger WHERE run_id = ? AND status = 'done'),
                           skipped = (SELECT count(*) FROM wecom_tag_ledger WHERE run_id = ? AND status = 'skipped'),
                           failed = (SELECT count(*) FROM wecom_tag_ledger WHERE run_id = ? AND status = 'failed')
                       WHERE run_id = ? AND NOT EXISTS (SELECT 1 FROM wecom_tag_ledger WHERE run_id = ? AND status = 'pending')""",
                    [run_id] * 5)
