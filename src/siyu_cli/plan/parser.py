"""Playbook parsing: YAML with positions -> :class:`Playbook`, reporting every problem at once.

Template checks (syntax, undefined variables, sandbox) live in ``plan/templates.py``;
``plan/schema.py`` runs both.
"""

from __future__ import annotations

from siyu_cli.i18n import _

import re
from datetime import date, time
from pathlib import Path
from typing import Any

from siyu_cli.plan.checker import _Checker
from siyu_cli.plan.located import load_located

from siyu_cli.plan.model import (
    _CUSTOM_SCHEME_RE, _NAME_RE, _WEEKDAY_ALIASES, AUDIENCE_KEYS, CONDITIONS, FALLBACK_KEYS, RESERVED_NAMES,
    RULE_KEYS, SEGMENT_SCHEMES, SLOT_CHANNELS, SLOT_KEYS, SOP_ANCHORS, SOP_CHANNELS, SOP_KEYS, STEP_KEYS,
    TARGET_KEYS, TOP_KEYS, WEEKDAY_CN, WEEKDAYS, Playbook, Problem, Rules, Slot, Sop, SopStep, Target, Targets,
    closest, kind_id, parse_time, parse_week, parse_weekdays,
)

def parse_playbook(path: Path, *, default_timezone: str = "Asia/Shanghai") -> tuple[Playbook | None, list[Problem]]:
    """Parse and validate a playbook. Returns the playbook (None if unusable) and every problem found.

    Template checks (syntax, undefined variables, sandbox) are added by
    :func:`siyu_cli.plan.templates.check_templates`; :func:`check_playbook` runs both.
    """
    problems: list[Problem] = []
    doc = load_located(Path(path), problems)
    if doc is None:
        return None, problems
    c = _Checker(doc, problems)
    data = c.mapping((), doc.data, TOP_KEYS, "the playbook")
    if not isinstance(doc.data, dict):
        return None, problems

    version = data.get("version")
    if version is None:
        c.err((), _('missing `version`'), _('add `version: 1` as the first line'))
    elif version != 1:
        c.err(("version",), _('unsupported version {version!r}').format(version=version), _('this siyu reads `version: 1`'))

    name = c.text(("name",), data.get("name"), "name", required=True)
    if name is not None and not _NAME_RE.match(name):
        c.err(("name",), _('name {name!r} must be a short id of lowercase letters, digits, - and _').format(name=name),
              _('e.g. `name: coffee-week`; put the Chinese title in `title:`'))
    title = c.text(("title",), data.get("title"), "title") or name or ""
    description = c.text(("description",), data.get("description"), "description") or ""

    tz = c.text(("timezone",), data.get("timezone"), "timezone") or default_timezone
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        c.err(("timezone",), _('unknown time zone {tz!r}').format(tz=tz), _('use an IANA name such as Asia/Shanghai or Europe/Berlin'))
        tz = default_timezone
    language = c.text(("language",), data.get("language"), "language") or "zh"
    if language not in ("zh", "en"):
        c.err(("language",), _('language must be zh or en, not {language!r}').format(language=language))

    variables = _parse_variables(c, data.get("variables"))

    targets = _parse_targets(c, data.get("targets"))
    rules = _parse_rules(c, data.get("rules"))
    slots = _parse_week(c, data.get("week"), rules)
    sop = _parse_sop(c, data.get("sop"))
    if data.get("week") is None and data.get("sop") is None:
        c.err((), _('the playbook has neither `week:` nor `sop:`'), _('add a weekly plan (`week:`) or lifecycle steps (`sop:`)'))
    if data.get("week") is not None and "targets" not in data:
        c.err(("week",), _('a weekly plan needs `targets:` (which groups it is for)'),
              _('e.g. `targets: {tags: [咖啡群]}` or `targets: {all: true}`'), key=True)

    pb = Playbook(
        path=Path(path).resolve(),
        name=name or Path(path).stem,
        title=title,
        description=description,
        timezone=tz,
        language=language,
        targets=targets,
        variables=variables,
        rules=rules,
        slots=slots,
        sop=sop,
        loose_templates=tuple(c.loose),
    )
    return pb, problems


def _parse_variables(c: _Checker, raw_vars: Any) -> dict[str, Any]:
    """``variables:``: name -> default value; names must be identifiers that hide no built-in."""
    variables: dict[str, Any] = {}
    if raw_vars is None:
        return variables
    if not isinstance(raw_vars, dict):
        c.err(("variables",), _('variables must be a mapping of name: default value'))
        return variables
    for k, v in raw_vars.items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k):
            c.err(("variables", k), _('variable name `{k}` is not a valid identifier').format(k=k),
                  _('use letters, digits and _ (e.g. coupon_code)'), key=True)
            continue
        if k in RESERVED_NAMES:
            c.err(("variables", k), _('variable `{k}` hides the built-in `{k}`').format(k=k),
                  _('rename it; built-ins: {join}').format(join=', '.join(sorted(RESERVED_NAMES))), key=True)
            continue
        variables[k] = v
    return variables


def _parse_targets(c: _Checker, value: Any) -> Targets:
    if value is None:
        return Targets()
    if isinstance(value, str) and value in ("all", "全部"):
        return Targets(all=True)
    t = c.mapping(("targets",), value, TARGET_KEYS, "targets")
    all_ = t.get("all", False)
    if not isinstance(all_, bool):
        c.err(("targets", "all"), _('targets.all must be true or false'))
        all_ = False
    fallback = []
    raw_fb = t.get("fallback")
    if raw_fb is not None:
        if not isinstance(raw_fb, list):
            c.err(("targets", "fallback"), _('targets.fallback must be a list of groups'),
                  _('e.g. `- {id: wrAAA001, name: 国贸店1群, store: 国贸店, owner: zhangsan}`'))
        else:
            seen: set[str] = set()
            for i, g in enumerate(raw_fb):
                p = ("targets", "fallback", i)
                g = c.mapping(p, g, FALLBACK_KEYS, "a fallback group")
                gid = c.text(p + ("id",), g.get("id"), "id", required=True) if g else None
                if gid is None:
                    continue
                if gid in seen:
                    c.err(p + ("id",), _('duplicate group id {gid}').format(gid=gid))
                seen.add(gid)
                mc = g.get("member_count")
                if mc is not None and (not isinstance(mc, int) or isinstance(mc, bool)):
                    c.err(p + ("member_count",), _('member_count must be a whole number'))
                    mc = None
                fallback.append(Target(
                    group_id=gid,
                    name=c.text(p + ("name",), g.get("name"), "name") or gid,
                    store=c.text(p + ("store",), g.get("store"), "store"),
                    city=c.text(p + ("city",), g.get("city"), "city"),
                    owner=c.text(p + ("owner",), g.get("owner"), "owner"),
                    tags=c.string_list(p + ("tags",), g.get("tags"), "tags"),
                    member_count=mc,
                ))
    if isinstance(value, dict) and not (all_ or t.get("tags") or t.get("stores") or t.get("groups")):
        c.err(("targets",), _('targets selects no group'),
              _('add `all: true`, `tags: [...]`, `stores: [...]` or `groups: [...]` (fallback only lists candidates)'))
    return Targets(
        all=all_,
        tags=c.string_list(("targets", "tags"), t.get("tags"), "targets.tags"),
        stores=c.string_list(("targets", "stores"), t.get("stores"), "targets.stores"),
        groups=c.string_list(("targets", "groups"), t.get("groups"), "targets.groups"),
        fallback=tuple(fallback),
    )


def _parse_rules(c: _Checker, value: Any) -> Rules:
    if value is None:
        return Rules()
    r = c.mapping(("rules",), value, RULE_KEYS, "rules")
    limit = r.get("daily_limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        c.err(("rules", "daily_limit"), _('daily_limit must be a whole number ≥ 1, not {limit!r}').format(limit=limit))
        limit = None
    stagger = r.get("stagger_minutes", 0)
    if not isinstance(stagger, int) or isinstance(stagger, bool) or not 0 <= stagger <= 120:
        c.err(("rules", "stagger_minutes"), _('stagger_minutes must be a whole number from 0 to 120, not {stagger!r}').format(stagger=stagger))
        stagger = 0
    qs = qe = None
    quiet = r.get("quiet_hours")
    if quiet is not None:
        parts = str(quiet).replace("–", "-").replace("~", "-").split("-")
        if len(parts) == 2 and parse_time(parts[0]) and parse_time(parts[1]):
            qs, qe = parse_time(parts[0]), parse_time(parts[1])
            if qs == qe:
                c.err(("rules", "quiet_hours"), _('quiet_hours start and end are the same'), _('e.g. 22:00-08:00'))
                qs = qe = None
        else:
            c.err(("rules", "quiet_hours"), _('quiet_hours {quiet!r} is not a range like 22:00-08:00').format(quiet=quiet),
                  _('write it quoted: quiet_hours: "22:00-08:00"'))
    weeks = []
    for i, w in enumerate(c.string_list(("rules", "skip_weeks"), r.get("skip_weeks"), "rules.skip_weeks")):
        pw = parse_week(w)
        if pw is None:
            c.err(("rules", "skip_weeks", i), _('{w!r} is not an ISO week').format(w=w), _('write weeks as 2026-W40'))
        else:
            weeks.append(f"{pw[0]}-W{pw[1]:02d}")
    dates = []
    raw_dates = r.get("skip_dates")
    if raw_dates is not None:
        if not isinstance(raw_dates, list):
            raw_dates = [raw_dates]
        for i, d in enumerate(raw_dates):
            if isinstance(d, date):
                dates.append(d)
            else:
                try:
                    dates.append(date.fromisoformat(str(d)))
                except ValueError:
                    c.err(("rules", "skip_dates", i), _('{d!r} is not a date').format(d=d), _('write dates as 2026-10-01'))
    channel = r.get("channel", "group")
    if channel not in SLOT_CHANNELS:
        c.err(("rules", "channel"), _('unknown channel {channel!r}').format(channel=channel), _('one of: {join}').format(join=', '.join(SLOT_CHANNELS)))
        channel = "group"
    return Rules(daily_limit=limit, quiet_start=qs, quiet_end=qe, stagger_minutes=stagger,
                 skip_weeks=tuple(weeks), skip_dates=tuple(dates), channel=channel)


def _parse_week(c: _Checker, value: Any, rules: Rules) -> tuple[Slot, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        c.err(("week",), _('week must be a list of slots'), _('each slot starts with `- weekday: 周一`'))
        return ()
    slots: list[Slot] = []
    seen: dict[str, tuple] = {}
    for i, item in enumerate(value):
        p = ("week", i)
        s = c.mapping(p, item, SLOT_KEYS, f"slot week[{i}]")
        if not s:
            continue
        days = None
        if "weekday" not in s:
            c.err(p, _('slot week[{i}] has no `weekday`').format(i=i), _('e.g. weekday: 周一 (or mon, 1, daily, 工作日)'))
        else:
            days = parse_weekdays(s["weekday"])
            if days is None:
                best = closest(str(s["weekday"]).lower(), list(_WEEKDAY_ALIASES))
                c.err(p + ("weekday",), f"bad weekday {s['weekday']!r}" + (f" (did you mean `{best}`?)" if best else ""),
                      _('use 周一…周日, mon…sun, 1…7 (1 = Monday), daily/每天, weekdays/工作日 or weekend/周末'))
        at = None
        if "time" not in s:
            c.err(p, _('slot week[{i}] has no `time`').format(i=i), _('e.g. time: "08:00"'))
        else:
            at = c.time_of(p, s, _('write 24-hour time as "HH:MM", e.g. "08:30"'))
        kind = c.text(p + ("kind",), s.get("kind"), "kind") or "消息"
        channel = s.get("channel", rules.channel)
        if channel not in SLOT_CHANNELS:
            best = closest(str(channel), SLOT_CHANNELS)
            c.err(p + ("channel",), f"unknown channel {channel!r}" + (f" (did you mean `{best}`?)" if best else ""),
                  _('one of: {join}').format(join=', '.join(SLOT_CHANNELS)))
            channel = rules.channel
        sid = c.text(p + ("id",), s.get("id"), "id")
        if sid is not None and not _NAME_RE.match(sid):
            c.err(p + ("id",), _('slot id {sid!r} must be lowercase letters, digits, - and _').format(sid=sid), _('e.g. id: mon-morning'))
        tmpl = c.template(p, s, f"slot week[{i}]")
        atts = c.attachments(p + ("attachments",), s.get("attachments"), channel)
        if days is None or at is None or tmpl is None:
            if tmpl is not None:
                c.loose.append(("slot", tmpl))
            continue
        if rules.in_quiet_hours(at):
            c.err(p + ("time",), _('slot at {at:%H:%M} falls in quiet hours {quiet_start:%H:%M}-{quiet_end:%H:%M}').format(at=at, quiet_start=rules.quiet_start, quiet_end=rules.quiet_end),
                  _('move the slot or change rules.quiet_hours'))
        for d in days:
            base = f"{WEEKDAYS[d]}-{at:%H%M}"
            occ = base if sid is None else (sid if len(days) == 1 else f"{sid}-{WEEKDAYS[d]}")
            if occ in seen:
                c.err(p, _('slot `{occ}` is defined twice (also week[{value}])').format(occ=occ, value=seen[occ][1]),
                      _('give one of them a different `id:` or time'))
                continue
            seen[occ] = (d, i)
            slots.append(Slot(id=occ, slot_id=sid or occ, index=i, weekday=d, at=at, kind=kind,
                              kind_id=kind_id(kind), channel=channel, template=tmpl, attachments=atts))
    if rules.daily_limit is not None:
        for d in range(7):
            day_slots = [sl for sl in slots if sl.weekday == d and sl.channel == "group"]
            if len(day_slots) > rules.daily_limit:
                extra = sorted(day_slots, key=lambda sl: (sl.at, sl.index))[rules.daily_limit]
                c.err(("week", extra.index), _('{value} has {len} group messages; rules.daily_limit is {daily_limit}').format(value=WEEKDAY_CN[d], len=len(day_slots), daily_limit=rules.daily_limit),
                      _('drop a slot on that day or raise rules.daily_limit'))
    slots.sort(key=lambda sl: (sl.weekday, sl.at, sl.index))
    return tuple(slots)


def _parse_sop(c: _Checker, value: Any) -> Sop | None:
    if value is None:
        return None
    s = c.mapping(("sop",), value, SOP_KEYS, "sop")
    if not s and not isinstance(value, dict):
        return None
    anchor = s.get("anchor", "member_join")
    if anchor not in SOP_ANCHORS:
        best = closest(str(anchor), SOP_ANCHORS)
        c.err(("sop", "anchor"), f"unknown anchor {anchor!r}" + (f" (did you mean `{best}`?)" if best else ""),
              _('member_join (day 0 = joined as member), group_join (day 0 = joined a group), segment_entered (day 0 = the snapshot that moved them into `segments`), clv_alive_below (day 0 = the `siyu clv` fit in which P(alive) fell below `p_alive_below`), or contact_removed (the guide removed the customer) / contact_deleted (the customer deleted the guide) / contact_lost (either) / contact_added / group_left (day 0 = a contact event found by `siyu sync wecom`)'))
        anchor = "member_join"
    scheme, segments = _parse_segment_trigger(c, s, anchor)
    p_alive_below = _parse_clv_trigger(c, s, anchor)
    channel = s.get("channel", "customer")
    if channel not in SOP_CHANNELS:
        c.err(("sop", "channel"), _('unknown SOP channel {channel!r}').format(channel=channel), _('one of: {join}').format(join=', '.join(SOP_CHANNELS)))
        channel = "customer"
    default_time = time(10, 0)
    if "time" in s:
        t = c.time_of(("sop",), s, _('write 24-hour time as "HH:MM"'))
        if t is not None:
            default_time = t
    aud, all_ = _parse_sop_audience(c, s, anchor)
    stores = c.string_list(("sop", "audience", "stores"), aud.get("stores"), "sop.audience.stores")
    tags = c.string_list(("sop", "audience", "tags"), aud.get("tags"), "sop.audience.tags")
    steps: list[SopStep] = []
    raw_steps = s.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        c.err(("sop", "steps") if "steps" in s else ("sop",), _('sop needs a list of `steps`'),
              _('each step: `- {day: 0, template: ...}`'))
        raw_steps = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw_steps):
        step = _parse_sop_step(c, i, item, seen, channel, default_time)
        if step is not None:
            steps.append(step)
    steps.sort(key=lambda x: (x.day, x.at, x.index))
    return Sop(anchor=anchor, channel=channel, stores=stores, tags=tags, steps=tuple(steps),
               segments=segments, scheme=scheme, all=all_, p_alive_below=p_alive_below)


def _parse_sop_step(c: _Checker, i: int, item: Any, seen: dict[str, int], channel: str,
                    default_time: time) -> SopStep | None:
    """``sop.steps[i]``; None when it is too broken to schedule (its problems are recorded)."""
    p = ("sop", "steps", i)
    st = c.mapping(p, item, STEP_KEYS, f"step sop.steps[{i}]")
    if not st:
        return None
    day = st.get("day")
    if day is None:
        c.err(p, _('step sop.steps[{i}] has no `day`').format(i=i), _('days after joining: 0, 3, 7, 15, 30, 60, 90, 150'))
    elif not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 3650:
        c.err(p + ("day",), _('bad day {day!r}').format(day=day), _('a whole number of days after joining, 0 = the join day'))
        day = None
    at = default_time
    if "time" in st:
        at = c.time_of(p, st, _('write 24-hour time as "HH:MM"'))
    sid = c.text(p + ("id",), st.get("id"), "id")
    if sid is None and isinstance(day, int):
        sid = f"d{day}"
    if sid is not None and not _NAME_RE.match(sid):
        c.err(p + ("id",), _('step id {sid!r} must be lowercase letters, digits, - and _').format(sid=sid))
    if sid in seen:
        c.err(p + ("id",) if "id" in st else p, _('step `{sid}` is defined twice (also sop.steps[{value}])').format(sid=sid, value=seen[sid]),
              _('give each step its own `id:`'))
    elif sid is not None:
        seen[sid] = i
    kind = c.text(p + ("kind",), st.get("kind"), "kind") or "触达"
    sch = st.get("channel", channel)
    if sch not in SOP_CHANNELS:
        best = closest(str(sch), SOP_CHANNELS)
        c.err(p + ("channel",), f"unknown SOP channel {sch!r}" + (f" (did you mean `{best}`?)" if best else ""),
              _('one of: {join}').format(join=', '.join(SOP_CHANNELS)))
        sch = channel
    cond = st.get("condition", "always")
    if cond not in CONDITIONS:
        best = closest(str(cond), CONDITIONS)
        c.err(p + ("condition",), f"unknown condition {cond!r}" + (f" (did you mean `{best}`?)" if best else ""),
              _('one of: {join}').format(join=', '.join(CONDITIONS)))
        cond = "always"
    tmpl = c.template(p, st, f"step sop.steps[{i}]")
    atts = c.attachments(p + ("attachments",), st.get("attachments"), sch)
    if day is None or at is None or tmpl is None or sid is None:
        if tmpl is not None:
            c.loose.append(("step", tmpl))
        return None
    return SopStep(id=sid, index=i, day=day, at=at, kind=kind, kind_id=kind_id(kind), channel=sch,
                   condition=CONDITIONS[cond], template=tmpl, attachments=atts)


_AUDIENCE_HINT = ("`audience: all` for every member, or `audience: {tags: [...]}` / `audience: {stores: [...]}` "
                  "to narrow it")


def _parse_sop_audience(c: _Checker, s: dict, anchor: str) -> tuple[dict, bool]:
    """``sop.audience``: who an SOP is for. Never implied: a missing audience is an error (except for
    ``segment_entered``, whose ``segments`` say who), and "everyone" must be written as ``all``."""
    value = s.get("audience")
    if value is None:
        if anchor not in ("segment_entered", "clv_alive_below"):  # the trigger itself says who
            c.err(("sop",) if "audience" not in s else ("sop", "audience"),
                  _('the SOP has no `audience:`; siyu never assumes it is for every member'), _AUDIENCE_HINT, key=True)
        return {}, False
    if isinstance(value, str) and value in ("all", "全部"):
        return {}, True
    aud = c.mapping(("sop", "audience"), value, AUDIENCE_KEYS, "sop.audience")
    all_ = aud.get("all", False)
    if not isinstance(all_, bool):
        c.err(("sop", "audience", "all"), _('sop.audience.all must be true or false'))
        all_ = False
    if all_ and (aud.get("stores") or aud.get("tags")):
        c.err(("sop", "audience", "all"), _('sop.audience has `all: true` and stores/tags'),
              _('keep `all: true` for every member, or only stores/tags to narrow it'))
    elif isinstance(value, dict) and not (all_ or aud.get("stores") or aud.get("tags")):
        c.err(("sop", "audience"), _('sop.audience selects nobody'), _AUDIENCE_HINT)
    return aud, all_


def _parse_clv_trigger(c: _Checker, s: dict, anchor: str) -> float | None:
    """``p_alive_below`` of a ``clv_alive_below`` SOP: a number strictly between 0 and 1."""
    if anchor != "clv_alive_below":
        if "p_alive_below" in s:
            c.err(("sop", "p_alive_below"), _("`p_alive_below` only applies with `anchor: clv_alive_below` (this SOP's anchor is {anchor})").format(anchor=anchor), _('remove it, or set `anchor: clv_alive_below`'), key=True)
        return None
    value = s.get("p_alive_below")
    if value is None:
        c.err(("sop", "anchor"), _('`anchor: clv_alive_below` needs `p_alive_below`'),
              _('the P(alive) threshold, e.g. `p_alive_below: 0.3`'))
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        c.err(("sop", "p_alive_below"), _('bad p_alive_below {value!r}').format(value=value), _('a probability between 0 and 1, e.g. 0.3'))
        return None
    return float(value)


def builtin_catalog(scheme: str) -> list[dict[str, Any]]:
    """The segment catalogue of a built-in scheme (ids, keys, Chinese and English names)."""
    from siyu_cli.segment import schemes as S

    if scheme == "rfm8":
        segs = list(S.RFM8.values())
    else:
        segs = [seg for seg, _ in S.RFM11_CODES] + [S.RFM11_LOST]
    return [seg.to_dict() for seg in segs] + [dict(S.NO_PURCHASE)]


def _parse_segment_trigger(c: _Checker, s: dict, anchor: str) -> tuple[str, tuple[str, ...]]:
    """``scheme`` and ``segments`` of a ``segment_entered`` SOP (errors if given with another anchor)."""
    if anchor != "segment_entered":
        for key in ("segments", "scheme"):
            if key in s:
                c.err(("sop", key), _("`{key}` only applies with `anchor: segment_entered` (this SOP's anchor is {anchor})").format(key=key, anchor=anchor),
                      _('remove it, or set `anchor: segment_entered` to trigger on RFM segment moves'), key=True)
        return "rfm8", ()
    scheme = s.get("scheme", "rfm8")
    known = True
    if not isinstance(scheme, str) or not (scheme in SEGMENT_SCHEMES or _CUSTOM_SCHEME_RE.match(scheme)):
        best = closest(str(scheme), SEGMENT_SCHEMES)
        c.err(("sop", "scheme"), f"unknown segment scheme {scheme!r}" + (f" (did you mean `{best}`?)" if best else ""),
              _('rfm8 (default), rfm11, or custom:<name> for a custom scheme (as `siyu segment list` shows it)'))
        scheme, known = "rfm8", False
    if "segments" not in s:
        c.err(("sop", "anchor"), _('`anchor: segment_entered` needs `segments`'),
              _('list the segments to react to, e.g. `segments: [E, G]` (ids or Chinese names of the scheme)'))
        return scheme, ()
    value = s.get("segments")
    if value is None or value == []:
        c.err(("sop", "segments"), _('`segments` is empty'), _('e.g. `segments: [E, G]`'))
        return scheme, ()
    raw = c.string_list(("sop", "segments"), value, "sop.segments")
    if not raw:
        return scheme, ()
    if scheme.startswith("custom:") or not known:
        return scheme, tuple(dict.fromkeys(raw))
    catalog = builtin_catalog(scheme)
    from siyu_cli.segment.snapshots import match_segment

    out: list[str] = []
    for i, text in enumerate(raw):
        seg = match_segment(catalog, text)
        if seg is None:
            choices = [x["id"] for x in catalog] + [x["name"] for x in catalog]
            best = closest(text, choices)
            valid = ", ".join(f"{x['id']} {x['name']}" for x in catalog)
            c.err(("sop", "segments", i), f"unknown {scheme} segment {text!r}" + (f" (did you mean `{best}`?)" if best else ""),
                  _('{scheme} segments: {valid}').format(scheme=scheme, valid=valid))
            continue
        if seg["id"] not in out:
            out.append(seg["id"])
    return scheme, tuple(out)
