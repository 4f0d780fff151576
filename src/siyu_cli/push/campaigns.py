"""Creating campaigns (audience × template × channel) into the ledger, previewing and listing them.

Creation does all the heavy work in one SQL statement per step: resolve the
audience, attach WeCom ids and senders, apply opt-outs and frequency caps
(excluded recipients stay in the ledger as ``skipped`` with a reason), then cut
the rest into batches per sender within the API limits. ``dry_run`` runs the
same transaction and rolls it back, so the preview is exactly what a real
create would store.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from siyu_cli import clock
from siyu_cli.errors import DataError, UsageError
from siyu_cli.push import audiences, experiments, policy as pol
from siyu_cli.push.ledger import get_campaign, state_counts
from siyu_cli.push.templates import Template, common_vars
from siyu_cli.store import open_store
from siyu_cli.i18n import _

CHANNELS = ("customer", "group", "app", "robot")
#: Recipients per API call: add_msg_template external_userid ≤ 10,000, chat_id_list ≤ 2,000,
#: message/send touser ≤ 1,000; a robot message goes to one group.
API_BATCH_LIMIT = {"customer": 10000, "group": 2000, "app": 1000, "robot": 1}
#: Text size limits in UTF-8 bytes (WECOM.md §2.2, §5.1, §5.2).
TEXT_LIMIT = {"customer": 4000, "group": 4000, "app": 2048, "robot": 2048}
MAX_ATTACHMENTS = 9
CONFIG_BATCH_KEY = {"customer": "batch_size", "group": "group_batch_size", "app": "app_batch_size"}


def batch_size(settings, channel: str) -> int:
    limit = API_BATCH_LIMIT[channel]
    key = CONFIG_BATCH_KEY.get(channel)
    value = settings.section("push").get(key, limit) if key else limit
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise UsageError(_('siyu.toml: push.{key} must be a whole number').format(key=key)) from None
    if value < 1 or value > limit:
        from siyu_cli.errors import ConfigError

        raise ConfigError(_('siyu.toml: push.{key} must be between 1 and {limit} (the WeCom API limit), not {value}').format(key=key, limit=limit, value=value))
    return value


@dataclass
class CampaignSpec:
    channel: str
    audience: str
    text: str
    name: str | None = None
    attachments: list[dict] = field(default_factory=list)
    campaign_id: str | None = None
    scheduled_at: datetime | None = None
    due_key: str | None = None
    sender: str | None = None  # force one sender (e.g. a DueMessage's guide / group owner)
    raw_text: bool = False  # the text is final (no Jinja2), e.g. already rendered by plan
    holdout: str | float | None = None  # share held out ("10%", 0.1, 0); None = [push] holdout (push/experiments.py)
    variants: list[str] = field(default_factory=list)  # "NAME[:WEIGHT]=TEMPLATE" message variants
    coupons: list[str] = field(default_factory=list)  # the campaign's coupon code(s): attribution by redemption


def new_campaign_id(con, now: datetime, tz: ZoneInfo) -> str:
    day = now.astimezone(tz).strftime("%Y%m%d")
    n = con.execute("SELECT count(*) FROM push_campaigns WHERE campaign_id LIKE ?", [f"c{day}-%"]).fetchone()[0]
    while True:
        n += 1
        cid = f"c{day}-{n:03d}"
        if not con.execute("SELECT 1 FROM push_campaigns WHERE campaign_id = ?", [cid]).fetchone():
            return cid


def check_attachments(attachments: list[dict]) -> list[dict]:
    if len(attachments) > MAX_ATTACHMENTS:
        raise UsageError(_('at most {MAX_ATTACHMENTS} attachments per message (WeCom limit), got {len}').format(MAX_ATTACHMENTS=MAX_ATTACHMENTS, len=len(attachments)))
    for att in attachments:
        kind = att.get("msgtype")
        if kind not in ("image", "link", "miniprogram", "video", "file") or kind not in att:
            raise UsageError(_("attachment must be {{'msgtype': K, K: {{…}}}} with K image|link|miniprogram|video|file: {att}").format(att=att))
        body = att[kind]
        if kind == "link":
            if not body.get("title") or not body.get("url"):
                raise UsageError(_('a link attachment needs a title and a url'))
            if len(body["title"].encode()) > 128:
                raise UsageError(_('link title is longer than 128 bytes (WeCom limit)'))
        for key in ("path", "pic_path"):
            if key in body and not Path(body[key]).is_file():
                raise UsageError(_('attachment file {value}: no such file').format(value=body[key]))
        if kind == "image" and not (body.get("path") or body.get("media_id") or body.get("pic_url")):
            raise UsageError(_('an image attachment needs a path (uploaded at send time), media_id or pic_url'))
        if kind == "miniprogram":
            missing = [k for k in ("title", "appid", "page") if not body.get(k)]
            if missing or not (body.get("pic_media_id") or body.get("pic_path")):
                raise UsageError(_('a miniprogram attachment needs title, appid, page and a cover (pic_path or pic_media_id)'))
    return attachments


def create_campaign(settings, spec: CampaignSpec, *, dry_run: bool = False, now: datetime | None = None,
                    session=None, with_preview: bool = True, in_transaction: bool = False) -> dict:
    """Build the campaign's ledger; return its preview. With ``dry_run`` nothing is stored.

    ``session`` (a :class:`~siyu_cli.push.ledger.StoreSession`) reuses a held store connection;
    ``with_preview=False`` returns only ``campaign_id``, ``status``, ``created`` and ``dry_run`` (push_due
    creates many campaigns and reads none of their previews). ``in_transaction``: the caller has
    a transaction open on ``session`` and ends it (push_due's dry run builds every due campaign in
    one transaction, so each sees the budget the previous ones used, then rolls them all back).
    """
    if spec.channel not in CHANNELS:
        raise UsageError(_('unknown channel {channel!r} (customer, group, app, robot)').format(channel=spec.channel))
    now = now or clock.now()
    tz = ZoneInfo(settings.timezone)
    at = spec.scheduled_at or now
    kind = audiences.KIND_BY_CHANNEL[spec.channel]
    design = experiments.design(settings, spec.channel, spec.holdout, spec.variants)
    coupon = experiments.coupon_codes(spec.coupons, spec.channel)
    if design.variants and spec.text:
        raise UsageError(_('give either --text/--template-file or --variant NAME=TEMPLATE (each variant has its text)'))
    text = spec.text or (design.variants[0][2] if design.variants else "")
    source = "{% raw %}" + text + "{% endraw %}" if spec.raw_text else text
    template = Template(source, kind)
    templates = {None: template, **{n: Template(t, kind) for n, _w, t in design.variants}}
    check_attachments(spec.attachments)
    policy = pol.load_policy(settings)
    size = batch_size(settings, spec.channel)
    if session is not None and audiences.opens_store(spec.audience):
        session.close()  # plan opens the store itself (read-only): not while this process holds it read-write
    pre = audiences.pre_resolve(settings, spec.audience, spec.channel, now=now)
    with (nullcontext(session.con()) if session is not None else open_store(settings)) as con:
        if spec.due_key:
            row = con.execute("SELECT campaign_id, status FROM push_campaigns WHERE due_key = ?", [spec.due_key]).fetchone()
            if row:
                return campaign_preview(con, settings, row[0]) if with_preview else {"campaign_id": row[0], "status": row[1], "created": False}
        cid = spec.campaign_id or new_campaign_id(con, now, tz)
        if con.execute("SELECT 1 FROM push_campaigns WHERE campaign_id = ?", [cid]).fetchone():
            raise UsageError(_('campaign {cid} already exists').format(cid=cid))
        aud = pre or audiences.resolve(con, settings, spec.audience, spec.channel, now=now)
        common = common_vars(cid, spec.channel, at.astimezone(tz).date())
        if not in_transaction:
            con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "INSERT INTO push_campaigns (campaign_id, name, channel, audience, snapshot_id, segment_id, status, "
                "created_at, template, attachments, personalised, due_key, scheduled_at, updated_at, coupon_code) "
                "VALUES (?, ?, ?, ?, ?, ?, 'ready', ?, ?, ?, ?, ?, ?, ?, ?)",
                [cid, spec.name or cid, spec.channel, aud.spec, aud.snapshot_id, aud.segment_id, now, text,
                 json.dumps(spec.attachments, ensure_ascii=False),
                 any(t.personalised for t in templates.values()), spec.due_key, at, now, coupon],
            )
            _insert_recipients(con, cid, spec, aud, policy, at)
            if design.active:
                for arm in experiments.assign(con, cid, design, text):
                    templates.setdefault(arm.name, template)
            _make_batches(con, cid, spec.channel, templates, common, size, kind)
            result = (campaign_preview(con, settings, cid, now=now, policy=policy) if with_preview
                      else {"campaign_id": cid, "status": "ready", "created": not dry_run})
            if with_preview and design.active:
                result["experiment"] = experiments.plan_summary(con, cid, at)
            result["dry_run"] = dry_run
            if not in_transaction:
                con.execute("ROLLBACK" if dry_run else "COMMIT")
        except BaseException:
            if not in_transaction:
                try:
                    con.execute("ROLLBACK")
                except Exception:
                    pass
            raise
        return result


def _insert_recipients(con, cid, spec, aud, policy, at) -> None:
    channel = spec.channel
    con.execute("CREATE OR REPLACE TEMP TABLE _push_aud AS SELECT DISTINCT CAST(id AS VARCHAR) AS id FROM (" + aud.sql + ") WHERE id IS NOT NULL", aud.params)
    cap_sql, cap_params = pol.over_cap_sql(policy, channel, cid, at)
    optout = pol.optout_condition("b", channel)
    if aud.kind == "member":
        forced = "?::VARCHAR"
        base = f"""
        m AS (SELECT a.id AS member_id, mem.external_userid AS ext, mem.guide_userid, mem.member_id IS NOT NULL AS known
              FROM _push_aud a LEFT JOIN members mem ON mem.member_id = a.id),
        pick AS (SELECT m.member_id, c.staff_userid,
                        row_number() OVER (PARTITION BY m.member_id ORDER BY (c.staff_userid = m.guide_userid) DESC,
                                           c.added_at DESC NULLS LAST, c.staff_userid) AS rn
                 FROM m JOIN wecom_contacts c ON c.external_userid = m.ext),
        b AS (SELECT m.member_id, coalesce(m.ext, 'member:' || m.member_id) AS recipient_id, m.ext,
                     coalesce({forced}, p.staff_userid, m.guide_userid) AS sender,
                     row_number() OVER (PARTITION BY m.ext ORDER BY m.member_id) AS dup
              FROM m LEFT JOIN pick p ON p.member_id = m.member_id AND p.rn = 1),
        r AS (SELECT b.*, CASE WHEN {optout} THEN 'opted_out'
                               WHEN b.ext IS NULL THEN 'no_wecom_id'
                               WHEN b.dup > 1 THEN 'duplicate'
                               WHEN b.sender IS NULL THEN 'not_contact' END AS reason0
              FROM b)"""
        base_params = [spec.sender]
    elif aud.kind == "group":
        base = f"""
        b AS (SELECT NULL::VARCHAR AS member_id, a.id AS recipient_id, coalesce(?::VARCHAR, g.owner_userid) AS sender,
                     g.group_id IS NOT NULL AS known
              FROM _push_aud a LEFT JOIN groups g ON g.group_id = a.id),
        r AS (SELECT b.*, CASE WHEN {optout} THEN 'opted_out'
                               WHEN b.sender IS NULL THEN 'no_owner' END AS reason0 FROM b)"""
        base_params = [spec.sender]
    elif aud.kind == "staff":
        base = f"""
        b AS (SELECT NULL::VARCHAR AS member_id, a.id AS recipient_id, NULL::VARCHAR AS sender FROM _push_aud a),
        r AS (SELECT b.*, CASE WHEN {optout} THEN 'opted_out' END AS reason0 FROM b)"""
        base_params = []
    else:  # robot
        base = """
        r AS (SELECT NULL::VARCHAR AS member_id, 'robot' AS recipient_id, NULL::VARCHAR AS sender, NULL::VARCHAR AS reason0)"""
        base_params = []
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _push_r AS
            WITH {base.strip()},
            capped AS ({cap_sql})
            SELECT r.recipient_id, r.member_id, r.sender,
                   CASE WHEN coalesce(r.reason0, capped.reason) IS NULL THEN 'planned' ELSE 'skipped' END AS state,
                   coalesce(r.reason0, capped.reason) AS reason, NULL::VARCHAR AS arm
            FROM r LEFT JOIN capped ON capped.recipient_id = r.recipient_id""",
        [*base_params, *cap_params],
    )


def _recipient_vars_sql(kind: str) -> str:
    if kind == "member":
        return """SELECT r.recipient_id, r.sender, r.arm, m.name, m.nickname, m.store, m.level, m.points, m.guide_name,
                         r.member_id, m.gender, NULL AS city
                  FROM push_recipients r LEFT JOIN members m ON m.member_id = r.member_id"""
    if kind == "group":
        return """SELECT r.recipient_id, r.sender, r.arm, g.name, g.store, g.city, g.member_count, r.recipient_id AS group_id
                  FROM push_recipients r LEFT JOIN groups g ON g.group_id = r.recipient_id"""
    return """SELECT r.recipient_id, r.sender, r.arm, s.name, s.store, r.recipient_id AS userid
              FROM push_recipients r LEFT JOIN staff s ON s.userid = r.recipient_id"""


def _make_batches(con, cid, channel, templates: dict, common, size, kind) -> None:
    """Cut the planned recipients into batches per (arm, sender[, text]); ``templates`` maps arm → Template
    (key None: the campaign's one template when there is no experiment)."""
    limit = TEXT_LIMIT[channel]
    if not any(t.personalised for t in templates.values()):
        texts = []
        for arm, tmpl in templates.items():
            text = tmpl.render(common)
            if len(text.encode()) > limit:
                raise DataError(_('the message{value} is {len} bytes; the {channel} channel allows {limit}').format(value=f' of variant {arm}' if arm else '', len=len(text.encode()), channel=channel, limit=limit))
            texts.append((arm, text))
        con.execute("CREATE OR REPLACE TEMP TABLE _push_t (arm VARCHAR, text VARCHAR)")
        con.executemany("INSERT INTO _push_t VALUES (?, ?)", texts)
        con.execute(
            """INSERT INTO push_recipients (campaign_id, recipient_id, member_id, batch_id, sender, state, reason, arm)
               SELECT ?, recipient_id, member_id,
                      CASE WHEN state = 'planned' THEN
                        'b' || lpad(CAST(dense_rank() OVER (ORDER BY state = 'planned' DESC, arm NULLS FIRST, sender NULLS FIRST, chunk) AS VARCHAR), 6, '0')
                      END,
                      sender, state, reason, arm
               FROM (SELECT *, (row_number() OVER (PARTITION BY state = 'planned', arm, sender ORDER BY recipient_id) - 1) // ? AS chunk
                     FROM _push_r)""",
            [cid, size],
        )
        con.execute(
            """INSERT INTO push_batches (campaign_id, batch_id, sender, text, recipients, state, arm)
               SELECT ?, b.batch_id, b.sender, t.text, b.n, 'planned', b.arm
               FROM (SELECT batch_id, any_value(sender) AS sender, any_value(arm) AS arm, count(*) AS n FROM push_recipients
                     WHERE campaign_id = ? AND state = 'planned' GROUP BY batch_id) b
               JOIN _push_t t ON t.arm IS NOT DISTINCT FROM b.arm""",
            [cid, cid],
        )
        return
    # personalised: one text per recipient; batch = (arm, sender, text) chunked by size
    con.execute(
        "INSERT INTO push_recipients (campaign_id, recipient_id, member_id, batch_id, sender, state, reason, arm) "
        "SELECT ?, recipient_id, member_id, NULL, sender, state, reason, arm FROM _push_r",
        [cid],
    )
    cur = con.execute(
        f"SELECT * FROM ({_recipient_vars_sql(kind)} WHERE r.campaign_id = ? AND r.state = 'planned') "
        "ORDER BY arm NULLS FIRST, sender NULLS FIRST, recipient_id",
        [cid],
    )
    cols = [d[0] for d in cur.description]
    groups: dict[tuple, list[str]] = {}
    while True:
        rows = cur.fetchmany(10000)
        if not rows:
            break
        for row in rows:
            rec = dict(zip(cols, row))
            rid, sender, arm = rec.pop("recipient_id"), rec.pop("sender"), rec.pop("arm")
            text = templates[arm].render(common, rec)
            if len(text.encode()) > limit:
                raise DataError(_('the message for {rid} is {len} bytes; the {channel} channel allows {limit}').format(rid=rid, len=len(text.encode()), channel=channel, limit=limit))
            groups.setdefault((arm, sender or "", text), []).append(rid)
    assign, batches, n = [], [], 0
    for (arm, sender, text), rids in groups.items():
        for i in range(0, len(rids), size):
            n += 1
            bid = f"b{n:06d}"
            chunk = rids[i:i + size]
            batches.append((cid, bid, sender or None, text, len(chunk), "planned", arm))
            assign.extend((rid, bid) for rid in chunk)
    if not batches:
        return
    con.execute("CREATE OR REPLACE TEMP TABLE _push_b (recipient_id VARCHAR, batch_id VARCHAR)")
    con.executemany("INSERT INTO _push_b VALUES (?, ?)", assign)
    con.execute(
        "UPDATE push_recipients AS r SET batch_id = b.batch_id FROM _push_b b WHERE r.campaign_id = ? AND r.recipient_id = b.recipient_id",
        [cid],
    )
    con.executemany(
        "INSERT INTO push_batches (campaign_id, batch_id, sender, text, recipients, state, arm) VALUES (?, ?, ?, ?, ?, ?, ?)",
        batches,
    )


# ---------------------------------------------------------------- reading campaigns

def preview(settings, campaign_id: str, *, now: datetime | None = None, excluded_limit: int | None = None) -> dict:
    """:func:`campaign_preview` on a read-only session of its own."""
    with open_store(settings, read_only=True) as con:
        return campaign_preview(con, settings, campaign_id, now=now, excluded_limit=excluded_limit)


def campaign_preview(con, settings, campaign_id: str, *, now: datetime | None = None, policy=None,
                     excluded_limit: int | None = None) -> dict:
    """Counts, batches per sender, a rendered sample and every excluded recipient with its reason
    (``settings``: the batch size and send policy of the workspace)."""
    now = now or clock.now()
    policy = policy or pol.load_policy(settings)
    camp = get_campaign(con, campaign_id)
    counts = state_counts(con, campaign_id)
    per_sender = con.execute(
        """SELECT coalesce(sender, '') AS sender, count(*) AS batches, sum(recipients) AS recipients,
                  count(DISTINCT text) AS texts
           FROM push_batches WHERE campaign_id = ? GROUP BY 1 ORDER BY 1""",
        [campaign_id],
    ).fetchall()
    sample = con.execute(
        "SELECT batch_id, sender, text, recipients FROM push_batches WHERE campaign_id = ? ORDER BY batch_id LIMIT 1",
        [campaign_id],
    ).fetchone()
    texts, nbatches = con.execute(
        "SELECT count(DISTINCT text), count(*) FROM push_batches WHERE campaign_id = ?", [campaign_id]
    ).fetchone()
    sql = ("SELECT recipient_id, member_id, reason FROM push_recipients WHERE campaign_id = ? AND state = 'skipped' "
           "ORDER BY reason, recipient_id")
    excluded = con.execute(sql + (f" LIMIT {int(excluded_limit)}" if excluded_limit else ""), [campaign_id]).fetchall()
    reasons = dict(con.execute(
        "SELECT reason, count(*) FROM push_recipients WHERE campaign_id = ? AND state = 'skipped' GROUP BY 1",
        [campaign_id]).fetchall())
    quiet_until = policy.in_quiet_hours(camp["scheduled_at"] or now) if camp["channel"] in pol.CAPPED_CHANNELS else None
    planned = counts.get("planned", 0)
    size = batch_size(settings, camp["channel"])
    unsplit = sum(-(-int(r or 0) // size) for _s, _b, r, _t in per_sender)
    return {
        "campaign_id": campaign_id,
        "name": camp["name"],
        "channel": camp["channel"],
        "audience": camp["audience"],
        "snapshot_id": camp["snapshot_id"],
        "snapshot_as_of": _snapshot_as_of(con, camp["snapshot_id"]),
        "segment_id": camp["segment_id"],
        "status": camp["status"],
        "personalised": bool(camp["personalised"]),
        "recipients": sum(counts.values()),
        "states": {s: counts.get(s, 0) for s in ("planned", "in_flight", "sent", "failed", "skipped")},
        "to_send": planned,
        "excluded_by_reason": {k: {"count": v, "name": _(pol.REASONS.get(k, k))} for k, v in sorted(reasons.items())},
        "batches": nbatches,
        "distinct_texts": texts,
        "batches_without_personalisation": unsplit,
        "senders": [{"sender": s or None, "batches": b, "recipients": int(r or 0), "texts": t} for s, b, r, t in per_sender],
        "sample": {"batch_id": sample[0], "sender": sample[1], "text": sample[2], "recipients": sample[3]} if sample else None,
        "attachments": camp["attachments"],
        "coupon_codes": camp["coupon_code"].split(",") if camp.get("coupon_code") else [],
        "quiet_hours": ({"held_until": quiet_until.isoformat(), "reason": "quiet_hours", "name": _(pol.REASONS["quiet_hours"]),
                         "recipients": planned} if quiet_until else None),
        "caps": [c.describe() + f" ({c.name})" for c in policy.caps],
        "excluded": [{"recipient_id": r, "member_id": m, "reason": why, "reason_name": _(pol.REASONS.get(why, why))}
                     for r, m, why in excluded],
    }


def list_campaigns(settings) -> list[dict]:
    with open_store(settings, read_only=True) as con:
        cur = con.execute(
            """SELECT c.campaign_id, c.name, c.channel, c.audience, c.status, c.created_at, c.sent_at,
                      count(r.recipient_id) AS recipients,
                      count(*) FILTER (WHERE r.state = 'sent') AS sent,
                      count(*) FILTER (WHERE r.state = 'failed') AS failed,
                      count(*) FILTER (WHERE r.state = 'skipped') AS skipped,
                      count(*) FILTER (WHERE r.state IN ('planned', 'in_flight')) AS pending,
                      count(*) FILTER (WHERE r.delivery = 'delivered') AS delivered
               FROM push_campaigns c LEFT JOIN push_recipients r USING (campaign_id)
               GROUP BY ALL ORDER BY c.created_at, c.campaign_id"""
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]


def _snapshot_as_of(con, snapshot_id: int | None) -> str | None:
    """The as-of date of the segment snapshot a campaign targets (shown next to its id), or None."""
    if snapshot_id is None:
        return None
    from siyu_cli.segment.snapshots import snapshot_as_of

    as_of = snapshot_as_of(con, snapshot_id)
    return None if as_of is None else as_of.isoformat()
