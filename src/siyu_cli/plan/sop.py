"""Lifecycle SOP: which members are due which step on a given day.

Day 0 is the day (in the playbook's time zone) a member joined — as a member
(``members.join_at``, the default) or, with ``anchor: group_join``, their first
group join (``group_members.joined_at``), or, with ``anchor: segment_entered``,
the ``as_of`` date of the segment snapshot that first showed them in one of the
SOP's ``segments`` (the churn / "activity is dropping" trigger; see
:func:`_candidates_sql`), or, with ``anchor: contact_lost`` / ``contact_added`` /
``group_left``, the day of that contact event (``contact_events``, from
``siyu sync wecom``). A step with ``day: N`` is due for everyone whose day 0
was N days before. Selection and exclusions run in SQL; only the due members
come back to Python to render their message.

Excluded, and counted so the operator sees why the list is shorter:
``opted_out`` (table ``optouts``, channel ``all`` or the step's channel),
``missing`` (group joiners with no member record) and ``unreachable``
(customer channel without a WeCom contact id, app channel without a guide).
Members for whom the step's condition is false are counted as ``condition``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from siyu_cli.plan.render import local_datetime, render_message
from siyu_cli.plan.model import Playbook, SopStep
from siyu_cli.plan.templates import Obj, step_context

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

    from siyu_cli.config import Settings

EXCLUSIONS = ("opted_out", "missing", "unreachable", "condition")

#: SQL for "has paid for something" (refunded-in-full orders do not count).
_PAID = "o.paid_at IS NOT NULL AND o.status IN ('paid', 'partially_refunded')"


@dataclass(frozen=True)
class SopItem:
    playbook: str
    step_id: str
    day: int
    kind: str
    channel: str
    scheduled_at: datetime
    member_id: str
    member_name: str
    external_userid: str | None
    guide_userid: str | None
    store: str | None
    joined_at: datetime | None
    text: str
    attachments: tuple
    #: ``segment_entered`` SOPs: the day the member entered the segments. Part of the key, so a
    #: member who leaves and later re-enters gets the steps again (push dedupes by key).
    entered_on: date | None = None
    #: sop_due_in(hold_errors=True) only: why this message could not be rendered (text is then empty)
    error: str | None = None

    @property
    def key(self) -> str:
        base = f"sop:{self.playbook}:{self.step_id}:{self.member_id}"
        return f"{base}:{self.entered_on.isoformat()}" if self.entered_on is not None else base


@dataclass
class SopReport:
    date: date
    items: list[SopItem] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=lambda: {k: 0 for k in EXCLUSIONS})
    steps: list[dict] = field(default_factory=list)  # per (playbook, step): due / excluded counts
    notes: list[str] = field(default_factory=list)  # e.g. "no previous rfm8 snapshot: nobody enters yet"

    def to_dict(self) -> dict:
        return {
            "date": self.date.isoformat(),
            "due": len(self.items),
            "excluded": dict(self.excluded),
            "steps": self.steps,
            "notes": list(self.notes),
        }


#: anchors on `contact_events` (siyu sync wecom): the relation lost/added, the group left
CONTACT_EVENT_ANCHORS = ("contact_lost", "contact_removed", "contact_deleted", "contact_added", "group_left")
#: the event kinds an anchor starts on: ``contact_lost`` is a relation ended by either side
ANCHOR_KINDS = {"contact_lost": ("contact_removed", "contact_deleted")}
_MEMBER_COLUMNS = """m.name, m.nickname, m.store, m.guide_userid, m.guide_name, m.level, m.points"""


def _candidates_sql(con: "duckdb.DuckDBPyConnection", pb: Playbook, step: SopStep, day0: date) -> tuple[str, list[Any]]:
    """Everyone whose day 0 is ``day0``, with the member columns and ``anchor_at``, plus its parameters.

    ``segment_entered``: per as_of date of the SOP's scheme the latest snapshot of that date
    counts (``segment.snapshots.snapshots_by_day_sql``: the highest id); a member enters on as_of D when that snapshot has them in one of ``segments``
    and the previous counted snapshot (the newest with an earlier as_of) had them in none
    of them or did not list them. The scheme's first snapshot has no previous one, so
    nobody enters on it. ``anchor_at`` is the start of D in the playbook's zone.
    """
    anchor = pb.sop.anchor
    if anchor == "clv_alive_below":
        return _clv_alive_below_sql(pb, day0)
    if anchor == "segment_entered":
        return _segment_entered_sql(con, pb, day0)
    if anchor in CONTACT_EVENT_ANCHORS:
        return _contact_event_sql(pb, day0)
    if anchor == "group_join":
        return _group_join_sql(pb, day0)
    return _member_join_sql(pb, day0)


def _clv_alive_below_sql(pb: Playbook, day0: date) -> tuple[str, list[Any]]:
    """Day 0 = the as_of of the `siyu clv` fit where a member's P(alive) fell below the threshold."""
    from siyu_cli.clv import alive_below_entries_sql

    # like segment_entered, over `siyu clv` fits (the first fit has no previous one: nobody enters on it)
    base = f"""
    WITH entered AS ({alive_below_entries_sql()})
    SELECT e.member_id, m.member_id IS NULL AS missing, {_MEMBER_COLUMNS},
           m.external_userid, m.phone, timezone(?, CAST(e.as_of AS TIMESTAMP)) AS anchor_at,
           NULL AS segment_id, NULL AS segment_name
    FROM entered e LEFT JOIN members m ON m.member_id = e.member_id
    """
    return base, [day0, pb.sop.p_alive_below, pb.sop.p_alive_below, pb.timezone]


def _segment_entered_sql(con: "duckdb.DuckDBPyConnection", pb: Playbook, day0: date) -> tuple[str, list[Any]]:
    """Day 0 = the as_of of the snapshot where a member entered one of the SOP's segments."""
    from siyu_cli.segment.audience import entry_snapshots, segment_entries_sql

    # custom schemes are not validated against a catalogue: match ids or names as written
    entries, entry_params = segment_entries_sql(list(pb.sop.segments), match_names=pb.sop.scheme.startswith("custom:"),
                                                snapshots=entry_snapshots(con, pb.sop.scheme, day0))
    base = f"""
    WITH entered AS ({entries})
    SELECT e.member_id, m.member_id IS NULL AS missing, {_MEMBER_COLUMNS},
           m.external_userid, m.phone, timezone(?, CAST(e.as_of AS TIMESTAMP)) AS anchor_at,
           e.segment_id, e.segment_name
    FROM entered e LEFT JOIN members m ON m.member_id = e.member_id
    """
    return base, [*entry_params, pb.timezone]


def _contact_event_sql(pb: Playbook, day0: date) -> tuple[str, list[Any]]:
    """Day 0 = the day of a contact event seen by `siyu sync wecom` (relation lost/added, group left)."""
    base = f"""
    WITH ev AS (
        SELECT member_id, external_userid, min(event_at) AS anchor_at FROM contact_events
        WHERE list_contains(?::VARCHAR[], kind) AND CAST(timezone(?, event_at) AS DATE) = ?
        GROUP BY member_id, external_userid
    )
    SELECT coalesce(m.member_id, ev.external_userid) AS member_id, m.member_id IS NULL AS missing,
           {_MEMBER_COLUMNS}, coalesce(m.external_userid, ev.external_userid) AS external_userid, m.phone,
           ev.anchor_at, NULL AS segment_id, NULL AS segment_name
    FROM ev LEFT JOIN members m ON m.member_id = ev.member_id
    """
    return base, [list(ANCHOR_KINDS.get(pb.sop.anchor, (pb.sop.anchor,))), pb.timezone, day0]


def _group_join_sql(pb: Playbook, day0: date) -> tuple[str, list[Any]]:
    """Day 0 = the day a customer first joined a group (a customer not yet a member counts by external id)."""
    base = f"""
    WITH joins AS (
        SELECT external_userid, min(member_id) AS member_id, min(joined_at) AS anchor_at
        FROM group_members WHERE joined_at IS NOT NULL GROUP BY external_userid
    )
    SELECT coalesce(m.member_id, j.member_id, j.external_userid) AS member_id,
           m.member_id IS NULL AS missing, {_MEMBER_COLUMNS},
           coalesce(m.external_userid, j.external_userid) AS external_userid, m.phone, j.anchor_at,
           NULL AS segment_id, NULL AS segment_name
    FROM joins j LEFT JOIN members m
      ON m.member_id = j.member_id OR (j.member_id IS NULL AND m.external_userid = j.external_userid)
    WHERE CAST(timezone(?, j.anchor_at) AS DATE) = ?
    """
    return base, [pb.timezone, day0]


def _member_join_sql(pb: Playbook, day0: date) -> tuple[str, list[Any]]:
    """Day 0 = the day the member joined (``members.join_at``), the default anchor."""
    base = f"""
    SELECT m.member_id, false AS missing, {_MEMBER_COLUMNS},
           m.external_userid, m.phone, m.join_at AS anchor_at, NULL AS segment_id, NULL AS segment_name
    FROM members m
    WHERE m.join_at IS NOT NULL AND CAST(timezone(?, m.join_at) AS DATE) = ?
    """
    return base, [pb.timezone, day0]


def _step_rows(con: "duckdb.DuckDBPyConnection", pb: Playbook, step: SopStep, day: date) -> list[tuple]:
    base, base_params = _candidates_sql(con, pb, step, day - timedelta(days=step.day))
    params: list[Any] = [*base_params, step.channel]
    filters = []
    if pb.sop.stores:  # canonical stores: any name of a store (id, name, alias) matches all of them
        from siyu_cli.dimensions import ensure_prepared

        ensure_prepared(con)
        filters.append(f"dim_store(c.store) IN ({', '.join('dim_store(?)' for _ in pb.sop.stores)})")
        params.extend(pb.sop.stores)
    if pb.sop.tags:
        filters.append(
            f"EXISTS (SELECT 1 FROM member_tags t WHERE t.member_id = c.member_id "
            f"AND t.tag IN ({', '.join('?' for _ in pb.sop.tags)}))"
        )
        params.extend(pb.sop.tags)
    where = ("WHERE " + " AND ".join(filters)) if filters else ""
    sql = f"""
    WITH c AS ({base})
    SELECT c.*,
      EXISTS (SELECT 1 FROM optouts x WHERE x.member_id IN (c.member_id, c.external_userid, c.phone)
              AND x.channel IN ('all', ?)) AS opted_out,
      EXISTS (SELECT 1 FROM orders o WHERE o.member_id = c.member_id AND {_PAID} AND o.paid_at >= c.anchor_at)
        AS bought_since,
      EXISTS (SELECT 1 FROM orders o WHERE o.member_id = c.member_id AND {_PAID}) AS bought_ever
    FROM c {where}
    ORDER BY c.member_id
    """
    return con.execute(sql, params).fetchall()


def segment_notes(con: "duckdb.DuckDBPyConnection", pb: Playbook) -> list[str]:
    """Why a ``segment_entered`` SOP may list nobody: no snapshot, or only one as_of, of its scheme."""
    if pb.sop is None or pb.sop.anchor != "segment_entered":
        return []
    from siyu_cli.segment.snapshots import scheme_as_of_span

    n, first = scheme_as_of_span(con, pb.sop.scheme)
    if not n:
        return [f"{pb.name}: no {pb.sop.scheme} segment snapshot yet, so nobody has entered "
                f"{'/'.join(pb.sop.segments)} (run `siyu segment run`)"]
    if n == 1:
        return [f"{pb.name}: only one {pb.sop.scheme} snapshot (as_of {first}); the first snapshot has no "
                f"previous one, so nobody enters a segment on it — entries start with the next snapshot"]
    return []


def _condition(step: SopStep, bought_since: bool, bought_ever: bool) -> bool:
    if step.condition == "not_purchased_since_join":
        return not bought_since
    if step.condition == "purchased_since_join":
        return bought_since
    if step.condition == "never_purchased":
        return not bought_ever
    return True


def sop_due_in(con: "duckdb.DuckDBPyConnection", playbooks: list[Playbook], day: date, *,
               variables: dict[str, Any] | None = None, hold_errors: bool = False) -> SopReport:
    """The SOP steps due on ``day`` (a calendar day in each playbook's zone), on an open store.

    ``hold_errors``: a member whose message fails to render gets an item with ``error`` (see render_week).
    """
    report = SopReport(date=day)
    for pb in playbooks:
        if pb.sop is None:
            continue
        tz = ZoneInfo(pb.timezone)
        values = pb.with_variables(variables)
        for note in segment_notes(con, pb):
            if note not in report.notes:
                report.notes.append(note)
        entered = pb.sop.anchor in ("segment_entered", "clv_alive_below")
        for step in pb.sop.steps:
            counts = {k: 0 for k in EXCLUSIONS}
            due = 0
            at = local_datetime(day, step.at, tz)
            for row in _step_rows(con, pb, step, day):
                (member_id, missing, name, nickname, store, guide_userid, guide_name, level, points,
                 external_userid, _phone, anchor_at, segment_id, segment_name, opted_out, bought_since,
                 bought_ever) = row
                if missing:
                    counts["missing"] += 1
                    continue
                if opted_out:
                    counts["opted_out"] += 1
                    continue
                if (step.channel == "customer" and not external_userid) or (step.channel == "app" and not guide_userid):
                    counts["unreachable"] += 1
                    continue
                if not _condition(step, bought_since, bought_ever):
                    counts["condition"] += 1
                    continue
                joined_local = anchor_at.astimezone(tz) if anchor_at is not None else None
                member = Obj(
                    id=member_id, name=name or nickname or "", nickname=nickname or "",
                    display_name=nickname or name or "亲", store=store or "", guide_userid=guide_userid or "",
                    guide_name=guide_name or "", level=level or "", points=points or 0,
                    join_date=joined_local.date() if joined_local else None, days=step.day,
                    segment=segment_name or "", segment_id=segment_id or "",
                )
                ctx = step_context(pb, step, member, day, values)
                text, attachments, error = render_message(step.template, step.attachments, ctx,
                                                          f"step {step.id}, member {member_id}", hold_errors)
                report.items.append(SopItem(
                    playbook=pb.name, step_id=step.id, day=step.day, kind=step.kind, channel=step.channel,
                    scheduled_at=at, member_id=member_id, member_name=member["display_name"],
                    external_userid=external_userid, guide_userid=guide_userid, store=store,
                    joined_at=joined_local, text=text, attachments=attachments,
                    entered_on=day - timedelta(days=step.day) if entered else None, error=error,
                ))
                due += 1
            for k, v in counts.items():
                report.excluded[k] += v
            report.steps.append({"playbook": pb.name, "step": step.id, "day": step.day, "kind": step.kind,
                                 "channel": step.channel, "due": due, **counts})
    report.items.sort(key=lambda i: (i.scheduled_at, i.playbook, i.day, i.step_id, i.member_id))
    return report


def sop_due(settings: "Settings", day: date, playbooks: list[Playbook], *,
            variables: dict[str, Any] | None = None) -> SopReport:
    """The SOP steps due on ``day`` across ``playbooks`` (opens the store read-only)."""
    from siyu_cli.store import open_store

    with open_store(settings, read_only=True) as con:
        from siyu_cli.dimensions import prepare as prepare_dimensions

        prepare_dimensions(con, settings)  # store filters resolve through siyu.toml [stores] too
        return sop_due_in(con, playbooks, day, variables=variables)
