"""Audience specs → SQL that yields the target ids of a campaign.

Specs (one string, as typed after ``--audience``):

=========================  ==================================================================
``segment:A``              members of segment A (id or Chinese name) in the latest snapshot (latest as_of)
``segment:A@12``           … in snapshot 12
``tag:VIP`` / ``tag:g/VIP``  members tagged VIP (optionally in tag group g)
``store:上海静安店``        members whose home store is that store (any of its names: siyu_cli.dimensions)
``sql:SELECT …``           one query over the store returning ``member_id`` (or ``group_id``,
                           ``userid`` for group / app campaigns); it runs like ``siyu sql``:
                           one read-only statement that cannot write, touch files or settings. With
                           ``[engine] kind = "spark"`` a query over the lake's tables runs on Spark
                           (transpiled by sqlglot; siyu_cli.engine.lake_query)
``list:m1,m2`` / ``list:@file.txt``  explicit ids (member ids or external_userids; one per line)
``all``                    every member (or every group / staff member for those channels)
``clv:p_alive<0.3``        members of the newest ``siyu clv`` fit meeting every condition (``,`` = and) on
                           p_alive, purchases_30d, purchases_90d, expected_spend, clv (ops < <= > >= =)
``bought:category=茶叶,within=90d,times>=2``  members by purchase history (sku=, category=, product=,
                           product~, within=Nd, since=DAY, times>=N, spend>=X, ``,`` = and; ``bought:any``):
                           query ``audience/bought``, on Spark with ``[engine] kind = "spark"`` (push/purchases.py)
``sop:PLAYBOOK[:STEP]``    members with that SOP step due now (from plan.due_messages)
``plan:PLAYBOOK[:SLOT]``   groups with that plan slot due now
``guides:<member spec>``   (app channel) the guides who own the members of another spec
=========================  ==================================================================

Group campaigns also take ``group:ID,ID`` and ``store:…``/``tag:…`` over groups; app
campaigns take ``staff:U1,U2`` and ``store:…`` over staff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from siyu_cli import clock
from siyu_cli.errors import DataError, UsageError
from siyu_cli.i18n import _
from siyu_cli.store import table_exists

KIND_BY_CHANNEL = {"customer": "member", "group": "group", "app": "staff", "robot": "robot"}


@dataclass
class Audience:
    spec: str
    kind: str  # member | group | staff | robot
    sql: str  # yields one column: id
    params: list
    snapshot_id: int | None = None
    segment_id: str | None = None


def _ids(text: str) -> list[str]:
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        try:
            raw = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise UsageError(_('audience list file {path}: no such file').format(path=path)) from None
        items = [line.split(",")[0].strip() for line in raw.splitlines()]
    else:
        items = [x.strip() for x in text.replace("，", ",").split(",")]
    items = [x for x in items if x and not x.startswith("#")]
    if not items:
        raise UsageError(_('the audience list is empty'))
    return list(dict.fromkeys(items))


def _listed(spec: str, kind: str, ids: list[str]) -> Audience:
    """An audience of ids computed outside the campaign's query (list:, sql:, bought:, sop:/plan:)."""
    return Audience(spec, kind, "SELECT unnest(?::VARCHAR[]) AS id", [ids])


def _sql(settings, spec: str, query: str, kind: str) -> Audience:
    """Run an ``sql:`` audience the way ``siyu sql`` runs a query: one statement on a read-only,
    locked-down connection (so ``…) AS q); DELETE FROM optouts; SELECT (…`` cannot write), and
    keep the ids it returns."""
    from siyu_cli.analyst import query_stream

    column = {"member": "member_id", "group": "group_id", "staff": "userid"}[kind]
    on_lake = _sql_on_spark(settings, spec, query, column)
    if on_lake is not None:
        return _listed(spec, kind, on_lake)
    ids: dict[str, None] = {}
    with query_stream(settings, query, what="an sql: audience", error_prefix=f"audience {spec!r}") as stream:
        if column not in stream.columns:
            raise UsageError(_('audience {spec!r}: the query must return a {column} column (it returns {value})').format(spec=spec, column=column, value=', '.join(stream.columns) or 'nothing'))
        at = stream.columns.index(column)
        for rows in stream.batches():
            ids.update((str(row[at]), None) for row in rows if row[at] is not None)
    return _listed(spec, kind, list(ids))


#: ids an ``sql:`` audience may return from Spark (more is an error, not a cut; siyu keeps them in memory)
SPARK_ID_CAP = 5_000_000


def _sql_on_spark(settings, spec: str, query: str, column: str) -> list[str] | None:
    """With ``[engine] kind = "spark"``, an ``sql:`` audience that reads the lake's tables (orders, order_lines,
    members where the lake has them) runs there, transpiled by sqlglot (:func:`siyu_cli.engine.lake_query` says what
    is refused); the ids it returns, or None when it reads the store only (then it runs there, as without Spark)."""
    from siyu_cli.engine import SparkRunner, collect_column, engine_config, lake_query

    cfg = engine_config(settings)
    if not cfg.spark:
        return None
    what = f"audience {spec!r}"
    text = lake_query(query, cfg, what=what)
    if text is None:
        return None
    from siyu_cli.analyst import DEFAULT_TIMEOUT

    return collect_column(SparkRunner(settings, cfg), text, column, what=what, cap=SPARK_ID_CAP,
                          timeout=DEFAULT_TIMEOUT)


def _split(spec: str) -> tuple[str, str]:
    head, _sep, rest = (spec or "").strip().partition(":")
    return head.lower(), rest


def opens_store(spec: str) -> bool:
    """Whether :func:`pre_resolve` opens the store itself for this audience spec (the caller must not hold it)."""
    head, rest = _split(spec)
    if head == "guides":
        return opens_store(rest)
    return head in ("sop", "plan", "sql")


def pre_resolve(settings, spec: str, channel: str, *, now: datetime | None = None) -> Audience | None:
    """Audiences computed outside the store connection: sop:/plan: ask plan and sql: runs read-only,
    each opening the store itself (call this while no read-write connection is open)."""
    kind = KIND_BY_CHANNEL.get(channel)
    if kind is None:
        raise UsageError(_('unknown channel {channel!r} (customer, group, app, robot)').format(channel=channel))
    head, rest = _split(spec)
    if head in ("sop", "plan"):
        return _due(settings, spec.strip(), head, rest, kind, now)
    if head == "sql" and kind != "robot":
        return _sql(settings, spec.strip(), rest, kind)
    if head == "guides" and kind == "staff" and opens_store(rest):
        return _guides(spec.strip(), pre_resolve(settings, rest, "customer", now=now))
    return None


def _guides(spec: str, inner: Audience) -> Audience:
    sql = (
        "SELECT DISTINCT coalesce(m.guide_userid, c.staff_userid) AS id FROM (" + inner.sql + ") a "
        "JOIN members m ON m.member_id = a.id LEFT JOIN wecom_contacts c ON c.external_userid = m.external_userid "
        "WHERE coalesce(m.guide_userid, c.staff_userid) IS NOT NULL"
    )
    return Audience(spec, "staff", sql, inner.params, inner.snapshot_id, inner.segment_id)


def resolve(con, settings, spec: str, channel: str, *, now: datetime | None = None) -> Audience:
    """Turn an audience spec into SQL over the open store ``con``."""
    kind = KIND_BY_CHANNEL.get(channel)
    if kind is None:
        raise UsageError(_('unknown channel {channel!r} (customer, group, app, robot)').format(channel=channel))
    spec = (spec or "").strip()
    if kind == "robot":
        return Audience(spec or "robot", "robot", "SELECT 'robot' AS id", [])
    if not spec:
        raise UsageError(_('--audience is required (e.g. segment:A, tag:VIP, store:…, sql:…, list:…)'))
    head, _sep, rest = spec.partition(":")
    head = head.lower()
    if head == "sql":
        return _sql(settings, spec, rest, kind)  # its own read-only connection: see pre_resolve
    if head in ("list", "group", "staff") and rest:
        ids = _ids(rest)
        if kind == "member":
            sql = (
                "SELECT DISTINCT coalesce(i.member_id, m.member_id, x.id) AS id FROM (SELECT unnest(?::VARCHAR[]) AS id) x "
                "LEFT JOIN members m ON m.member_id = x.id "
                "LEFT JOIN member_identities i ON m.member_id IS NULL AND i.id_value = x.id "
                "AND i.id_type IN ('external_userid', 'phone', 'source_member_id', 'unionid')"
            )
            return Audience(spec, kind, sql, [ids])
        return _listed(spec, kind, ids)
    if head == "all":
        sql = {"member": "SELECT member_id AS id FROM members", "group": "SELECT group_id AS id FROM groups",
               "staff": "SELECT userid AS id FROM staff"}[kind]
        return Audience(spec, kind, sql, [])
    if head == "store":
        if not rest:
            raise UsageError(_('store: needs a store name, e.g. store:上海静安店'))
        table, col = {"member": ("members", "member_id"), "group": ("groups", "group_id"), "staff": ("staff", "userid")}[kind]
        from siyu_cli.dimensions import prepare as prepare_dimensions

        prepare_dimensions(con, settings)  # any name of the store (id, name, alias) selects all of its rows
        return Audience(spec, kind, f"SELECT {col} AS id FROM {table} WHERE dim_store(store) = dim_store(?)", [rest])
    if head == "tag":
        if not rest:
            raise UsageError(_('tag: needs a tag, e.g. tag:VIP or tag:等级/VIP'))
        if kind == "group":
            return Audience(spec, kind, "SELECT group_id AS id FROM groups WHERE list_contains(tags, ?)", [rest])
        if kind != "member":
            raise UsageError(_('tag: audiences select members or groups'))
        group, sep, tag = rest.rpartition("/")
        if sep:
            return Audience(spec, kind, "SELECT DISTINCT member_id AS id FROM member_tags WHERE tag_group = ? AND tag = ?", [group, tag])
        return Audience(spec, kind, "SELECT DISTINCT member_id AS id FROM member_tags WHERE tag = ?", [rest])
    if head == "segment":
        if kind != "member":
            raise UsageError(_('segment: audiences select members (use the customer channel)'))
        return _segment(con, spec, rest)
    if head == "clv":
        if kind != "member":
            raise UsageError(_('clv: audiences select members (use the customer channel)'))
        return _clv(con, spec, rest)
    if head == "bought":
        if kind != "member":
            raise UsageError(_('bought: audiences select members (use the customer channel)'))
        from siyu_cli.push.purchases import bought_ids

        return _listed(spec, kind, bought_ids(con, settings, rest, now=now))
    if head in ("sop", "plan"):
        return _due(settings, spec, head, rest, kind, now)
    if head == "guides" and kind == "staff":
        return _guides(spec, resolve(con, settings, rest, "customer", now=now))
    raise UsageError(
        _('unknown audience {spec!r} for the {channel} channel (segment:ID[@SNAPSHOT], tag:TAG, store:NAME, sql:SELECT…, list:IDS|@FILE, all, clv:p_alive<0.3, bought:category=…, sop:PLAYBOOK[:STEP], plan:PLAYBOOK[:SLOT])').format(spec=spec, channel=channel)
    )


def _segment(con, spec: str, rest: str) -> Audience:
    seg, _sep, snap = rest.partition("@")
    seg = seg.strip()
    if not seg:
        raise UsageError(_('segment: needs a segment id or name, e.g. segment:A or segment:重要价值客户'))
    from siyu_cli.segment.audience import SEGMENT_MEMBERS_SQL, find_segment, segment_ids_in, snapshot_member_count
    from siyu_cli.segment.snapshots import latest_snapshot_ids

    if not table_exists(con, "segment_members"):
        raise DataError(_('no segment snapshots yet: run `siyu segment run` first'))
    if snap:
        try:
            snapshot_id = int(snap)
        except ValueError:
            raise UsageError(_('segment snapshot must be a number: {snap!r}').format(snap=snap)) from None
        if not snapshot_member_count(con, snapshot_id):
            raise DataError(_('segment snapshot {snapshot_id} does not exist or is empty').format(snapshot_id=snapshot_id))
        ids = [snapshot_id]
    else:  # the latest snapshot (latest as_of) of the latest scheme that has this segment, as segment.audience()
        ids = latest_snapshot_ids(con)
        if not ids:
            raise DataError(_('no segment snapshots yet: run `siyu segment run` first'))
    found = find_segment(con, seg, ids)
    if found is None:
        known = segment_ids_in(con, ids[0])
        raise UsageError(_('no segment {seg!r} in snapshot {value} (segments: {join})').format(seg=seg, value=ids[0], join=', '.join(map(str, known))))
    snapshot_id, segment_id = found
    return Audience(spec, "member", SEGMENT_MEMBERS_SQL, [snapshot_id, segment_id], snapshot_id, segment_id)


_CLV_CONDITION = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=|<|>|=)\s*(-?\d+(?:\.\d+)?)\s*$")


def _clv(con, spec: str, rest: str) -> Audience:
    """Members of the newest CLV fit meeting every ``column op number`` condition."""
    from siyu_cli.clv import COLUMNS, members_where_sql, require_fit

    conditions, params = [], []
    for part in rest.split(","):
        m = _CLV_CONDITION.match(part)
        if not m or m.group(1) not in COLUMNS:
            raise UsageError(_('clv: audience conditions look like p_alive<0.3 or clv>=500 on {join}; not {strip!r}').format(join=', '.join(COLUMNS), strip=part.strip()))
        conditions.append(f"{m.group(1)} {m.group(2)} ?")
        params.append(float(m.group(3)))
    if not table_exists(con, "clv_fits"):
        raise DataError(_('no CLV fit yet: run `siyu clv` first'))
    fit = require_fit(con)
    return Audience(spec, "member", members_where_sql(conditions), [fit["fit_id"], *params])


def _due(settings, spec, head, rest, kind, now):
    """Targets of plan slots / SOP steps of the enabled playbooks due today (up to now + 1 h)."""
    from zoneinfo import ZoneInfo

    try:
        from siyu_cli.plan import due_messages
    except ImportError:
        raise UsageError(_('sop:/plan: audiences need the plan module, which this siyu does not have')) from None
    playbook, _sep, step = rest.partition(":")
    from siyu_cli.plan.enabled import enabled_names

    if playbook and playbook not in enabled_names(settings):
        raise UsageError(_('{head}:{playbook}: playbook {playbook!r} is not enabled, so nothing of it is sent (`siyu plan enable {playbook}`; `siyu plan list` shows the live ones)').format(head=head, playbook=playbook))
    now = now or clock.now()
    local = now.astimezone(ZoneInfo(settings.timezone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    wanted_kind = "sop_step" if head == "sop" else "group_slot"
    ids = []
    for msg in due_messages(settings, start, now + timedelta(hours=1)):
        if msg.kind != wanted_kind or (playbook and msg.playbook != playbook):
            continue
        if step and f":{step}:" not in f"{msg.key}:":
            continue
        ids.append(msg.target_id)
    target_kind = "member" if head == "sop" else "group"
    if target_kind != kind:
        raise UsageError(_('{head}: audiences target {target_kind}s; use the {value} channel').format(head=head, target_kind=target_kind, value='customer' if head == 'sop' else 'group'))
    ids = list(dict.fromkeys(ids))
    return _listed(spec, kind, ids)
