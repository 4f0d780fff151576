"""Rendering a playbook's week for its target groups: concrete, time-zone-aware, rule-abiding.

Times are wall-clock times in the playbook's time zone. A slot time that does
not exist (a DST spring-forward gap) moves forward by the gap; an ambiguous one
(fall-back) takes its first occurrence. Stagger offsets are added in absolute
time so staggered posts are exactly N minutes apart even across a switch.
Rules are enforced here as well as in ``plan check``: a staggered post that
lands in quiet hours, or beyond the per-group daily limit, is skipped and
reported, never sent silently.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterable
from zoneinfo import ZoneInfo

from siyu_cli import clock
from siyu_cli.plan.model import Playbook, Slot, Target, parse_week
from siyu_cli.plan.templates import Obj, TemplateError, WeekInfo, render, slot_context
from siyu_cli.i18n import _

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings


def target_context(t: Target) -> Obj:
    """The ``group`` a template sees."""
    return Obj(id=t.group_id, name=t.name, store=t.store or "", city=t.city or "",
               owner=t.owner or "", tags=t.tags, member_count=t.member_count)


@dataclass(frozen=True)
class PlannedMessage:
    """One post of the rendered week."""

    playbook: str
    week: str
    slot_id: str  # occurrence id, e.g. "mon-0800"
    kind: str
    kind_id: str
    channel: str
    scheduled_at: datetime  # aware, in the playbook's zone
    group: Target
    text: str
    attachments: tuple  # WeCom attachment dicts
    #: render_week(hold_errors=True) only: why this post could not be rendered (text is then empty)
    error: str | None = None

    @property
    def key(self) -> str:
        return f"plan:{self.playbook}:{self.week}:{self.slot_id}:{self.group.group_id}"

    @property
    def uid(self) -> str:
        digest = hashlib.sha1(self.key.encode("utf-8")).hexdigest()[:20]
        return f"{digest}@siyu"


@dataclass
class WeekPlan:
    playbook: Playbook
    week: WeekInfo
    timezone: str
    targets: list[Target]
    messages: list[PlannedMessage] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # {"group_id","slot_id","reason","at"}
    skipped_week: bool = False


# ----------------------------------------------------------------------------- time


def local_datetime(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The aware datetime for a wall-clock time; DST gaps move forward, overlaps take the first."""
    # PEP 495: fold=0 reads a gap time with the offset before the switch (so the instant is the
    # wall time plus the gap after it) and an ambiguous time as its first occurrence.
    candidate = datetime.combine(day, at).replace(tzinfo=tz, fold=0)
    return candidate.astimezone(timezone.utc).astimezone(tz)


def week_info(week: str | date | None, tz: str) -> WeekInfo:
    """``2026-W48`` (or any date in it; default: the current week in ``tz``)."""
    from siyu_cli.errors import UsageError

    if week is None:
        today = clock.today(tz)
        y, w, _rest = today.isocalendar()
        return WeekInfo.of(y, w)
    if isinstance(week, date):
        y, w, _rest = week.isocalendar()
        return WeekInfo.of(y, w)
    parsed = parse_week(week)
    if parsed is None:
        try:
            d = date.fromisoformat(str(week))
        except ValueError:
            raise UsageError(_('--week {week!r} is not an ISO week like 2026-W48 (or a date in the week)').format(week=week)) from None
        y, w, _rest = d.isocalendar()
        return WeekInfo.of(y, w)
    return WeekInfo.of(*parsed)


# ----------------------------------------------------------------------------- targets


def resolve_targets(playbook: Playbook, store_groups: Iterable[Target] | None, *,
                    only: list[str] | None = None) -> list[Target]:
    """Groups a weekly plan is for.

    The universe is the store's ``groups`` table, or the playbook's
    ``targets.fallback`` when the store has none. ``all: true`` takes every
    group; otherwise a group is chosen when it is listed in ``groups`` (id or
    name) or matches the ``tags`` (any) and ``stores`` (any) filters given.
    ``only`` (``--group``) narrows to ids or names.
    """
    from siyu_cli.errors import UsageError

    t = playbook.targets
    universe = list(store_groups or [])
    if not universe:
        universe = list(t.fallback)
    chosen = []
    for g in universe:
        if t.all:
            ok = True
        else:
            listed = g.group_id in t.groups or g.name in t.groups
            filtered = bool(t.tags or t.stores)
            ok_tags = not t.tags or bool(set(t.tags) & set(g.tags))
            ok_stores = not t.stores or bool({g.store, *g.store_names} & set(t.stores))
            ok = listed or (filtered and ok_tags and ok_stores)
        if ok:
            chosen.append(g)
    if only:
        wanted = set(only)
        known = {g.group_id for g in universe} | {g.name for g in universe}
        unknown = sorted(wanted - known)
        if unknown:
            raise UsageError(_("--group {value!r}: no such group in the store or the playbook's fallback list").format(value=unknown[0]))
        chosen = [g for g in chosen if g.group_id in wanted or g.name in wanted]
    chosen.sort(key=lambda g: (g.store or "", g.group_id))
    return chosen


def store_groups(settings: "Settings") -> list[Target]:
    """Every group in the workspace store (read-only open)."""
    from siyu_cli.store import open_store

    from siyu_cli.dimensions import store_names

    with open_store(settings, read_only=True) as con:
        rows = con.execute(
            "SELECT group_id, coalesce(name, group_id), store, city, owner_userid, coalesce(tags, []), member_count "
            "FROM groups ORDER BY group_id"
        ).fetchall()
        names = store_names(con, settings)
    return [Target(r[0], r[1], r[2], r[3], r[4], tuple(r[5] or ()), r[6], names.get((r[2] or "").strip(), ()))
            for r in rows]


# ----------------------------------------------------------------------------- attachments


def render_message(template, attachments, context: dict[str, Any], about: str,
                   hold_errors: bool = False) -> tuple[str, tuple, str | None]:
    """A slot's or step's text, attachments and error; a template error names ``about`` (the slot/step and
    its target) and is raised, or with ``hold_errors`` returned as the error (text and attachments empty)."""
    try:
        return render(template, context), attachment_dicts(attachments, context), None
    except TemplateError as exc:
        if hold_errors:
            return "", (), exc.about(about).message
        raise exc.about(about) from None


def attachment_dicts(attachments, context: dict[str, Any], template_render=render) -> tuple:
    """WeCom attachment dicts for a message (template fields rendered)."""
    out = []
    for att in attachments:
        if att.kind == "image":
            out.append({"msgtype": "image", "image": {"path": str(att.path)}})
            continue
        rendered = dict(att.templates)
        body = {}
        for k, v in att.fields:
            body[k] = template_render(rendered[k], context) if k in rendered else v
        if att.kind == "link":
            out.append({"msgtype": "link", "link": body})
        else:
            if att.path is not None:
                body["pic_path"] = str(att.path)
            out.append({"msgtype": "miniprogram", "miniprogram": body})
    return tuple(out)


# ----------------------------------------------------------------------------- the week


def render_week(
    playbook: Playbook,
    targets: list[Target],
    week: str | date | WeekInfo | None = None,
    *,
    variables: dict[str, Any] | None = None,
    hold_errors: bool = False,
) -> WeekPlan:
    """Render every slot of ``week`` for every target group (deterministic for the same inputs).

    A template error raises TemplateError; with ``hold_errors`` (push due) that one post is
    returned with ``error`` set and no text instead, so the others still go out.
    """
    tz = ZoneInfo(playbook.timezone)
    wk = week if isinstance(week, WeekInfo) else week_info(week, playbook.timezone)
    plan = WeekPlan(playbook=playbook, week=wk, timezone=playbook.timezone, targets=list(targets))
    rules = playbook.rules
    if wk.id in rules.skip_weeks:
        plan.skipped_week = True
        return plan
    values = playbook.with_variables(variables)
    # index of each group within its store, for stagger
    position: dict[str, int] = {}
    per_store: dict[str, int] = {}
    for g in sorted(targets, key=lambda g: (g.store or "", g.group_id)):
        key = g.store or ""
        position[g.group_id] = per_store.get(key, 0)
        per_store[key] = position[g.group_id] + 1
    base_times = {(s.weekday, s.at): local_datetime(wk.start + timedelta(days=s.weekday), s.at, tz)
                  for s in playbook.slots}
    for g in targets:
        gctx = target_context(g)
        per_day: dict[date, int] = {}
        offset = timedelta(minutes=rules.stagger_minutes * position[g.group_id])
        for slot in playbook.slots:
            day = wk.start + timedelta(days=slot.weekday)
            if day in rules.skip_dates:
                plan.skipped.append(_skip(g, slot, base_times[(slot.weekday, slot.at)], "skip_date"))
                continue
            at = base_times[(slot.weekday, slot.at)]
            if offset:
                at = (at.astimezone(timezone.utc) + offset).astimezone(tz)
            if rules.in_quiet_hours(at.timetz().replace(tzinfo=None)):
                plan.skipped.append(_skip(g, slot, at, "quiet_hours"))
                continue
            if slot.channel == "group" and rules.daily_limit is not None:
                n = per_day.get(at.date(), 0)
                if n >= rules.daily_limit:
                    plan.skipped.append(_skip(g, slot, at, "daily_limit"))
                    continue
                per_day[at.date()] = n + 1
            ctx = slot_context(playbook, slot, gctx, wk, day, values)
            text, attachments, error = render_message(slot.template, slot.attachments, ctx,
                                                      f"slot {slot.id}, group {g.group_id}", hold_errors)
            plan.messages.append(PlannedMessage(
                playbook=playbook.name, week=wk.id, slot_id=slot.id, kind=slot.kind, kind_id=slot.kind_id,
                channel=slot.channel, scheduled_at=at, group=g, text=text, attachments=attachments, error=error,
            ))
    plan.messages.sort(key=lambda m: (m.scheduled_at, m.group.store or "", m.group.group_id, m.slot_id))
    return plan


def _skip(g: Target, slot: Slot, at: datetime, reason: str) -> dict:
    return {"group_id": g.group_id, "slot_id": slot.id, "reason": reason, "at": at.isoformat()}
