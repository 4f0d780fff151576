"""Lifecycle SOP: which members are due which step on a given day.

Day 0 is the day (in the playbook's time zone) a member joined — as a member
(``members.join_at``, the default) or, with ``anchor: group_join``, their first
group join (``group_members.joined_at``). A step with ``day: N`` is due for
everyone whose day 0 was N days before. Selection and exclusions run in SQL;
only the due members come back to Python to render their message.

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

from siyu_cli.plan.render import attachment_dicts, local_datetime
from siyu_cli.plan.schema import Playbook, SopStep
from siyu_cli.plan.templates import Obj, TemplateError, render, step_context

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

    @property
    def key(self) -> str:
        return f"sop:{self.playbook}:{self.step_id}:{self.member_id}"


@dataclass
class SopReport:
    date: date
    items: list[SopItem] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=lambda: {k: 0 for k in EXCLUSIONS})
    steps: list[dict] = field(default_factory=list)  # per (playbook, step): due / excluded counts

    def to_dict(self) -> dict:
        return {
            "date": self.date.isoformat(),
            "due": len(self.items),
            "excluded": dict(self.excluded),
            "steps": self.steps,
        }


def _candidates_sql(pb: Playbook, step: SopStep) -> tuple[str, list[Any]]:
    sop = pb.sop
    params: list[Any] = []
    if sop.anchor == "group_join":
        base = """
        WITH joins AS (
            SELECT external_userid, min(member_id) AS member_id, min(joined_at) AS anchor_at
            FROM group_members WHERE joined_at IS NOT NULL GROUP BY external_userid
        )
        SELECT coalesce(m.member_id, j.member_id, j.external_userid) AS member_id,
               m.member_id IS NULL AS missing,
               m.name, m.nickname, m.store, m.guide_userid, m.guide_name, m.level, m.points,
               coalesce(m.external_userid, j.external_userid) AS external_userid, m.phone, j.anchor_at
        FROM joins j LEFT JOIN members m
          ON m.member_id = j.member_id OR (j.member_id IS NULL AND m.external_userid = j.external_userid)
        WHERE CAST(timezone(?, j.anchor_at) AS DATE) = ?
        """
    else:
        base = """
        SELECT m.member_id, false AS missing, m.name, m.nickname, m.store, m.guide_userid, m.guide_name,
               m.level, m.points, m.external_userid, m.phone, m.join_at AS anchor_at
        FROM members m
        WHERE m.join_at IS NOT NULL AND CAST(timezone(?, m.join_at) AS DATE) = ?
        """
    return base, params


def _step_rows(con: "duckdb.DuckDBPyConnection", pb: Playbook, step: SopStep, day: date) -> list[tuple]:
    base, _ = _candidates_sql(pb, step)
    join_day = day - timedelta(days=step.day)
    params: list[Any] = [pb.timezone, join_day]
    filters = []
    if pb.sop.stores:
        filters.append(f"c.store IN ({', '.join('?' for _ in pb.sop.stores)})")
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
    # the channel parameter sits before the filters' parameters in the text
    all_params = params[:2] + [step.channel] + params[2:]
    return con.execute(sql, all_params).fetchall()


def _condition(step: SopStep, bought_since: bool, bought_ever: bool) -> bool:
    if step.condition == "not_purchased_since_join":
        return not bought_since
    if step.condition == "purchased_since_join":
        return bought_since
    if step.condition == "never_purchased":
        return not bought_ever
    return True


def sop_due_in(con: "duckdb.DuckDBPyConnection", playbooks: list[Playbook], day: date, *,
               variables: dict[str, Any] | None = None) -> SopReport:
    """The SOP steps due on ``day`` (a calendar day in each playbook's zone), on an open store."""
    report = SopReport(date=day)
    for pb in playbooks:
        if pb.sop is None:
            continue
        tz = ZoneInfo(pb.timezone)
        values = pb.with_variables(variables)
        for step in pb.sop.steps:
            counts = {k: 0 for k in EXCLUSIONS}
            due = 0
            at = local_datetime(day, step.at, tz)
            for row in _step_rows(con, pb, step, day):
                (member_id, missing, name, nickname, store, guide_userid, guide_name, level, points,
                 external_userid, _phone, anchor_at, opted_out, bought_since, bought_ever) = row
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
                )
                ctx = step_context(pb, step, member, day, values)
                try:
                    text = render(step.template, ctx)
                    attachments = attachment_dicts(step.attachments, ctx)
                except TemplateError as exc:
                    raise exc.about(f"step {step.id}, member {member_id}") from None
                report.items.append(SopItem(
                    playbook=pb.name, step_id=step.id, day=step.day, kind=step.kind, channel=step.channel,
                    scheduled_at=at, member_id=member_id, member_name=member["display_name"],
                    external_userid=external_userid, guide_userid=guide_userid, store=store,
                    joined_at=joined_local, text=text, attachments=attachments,
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
        return sop_due_in(con, playbooks, day, variables=variables)
