"""The hand-off to push: every plan slot and SOP step due in a time window, in one shape.

``push_due`` calls :func:`due_messages` for ``[start, end)`` and keys its
campaigns by :attr:`DueMessage.key`, so the keys must be stable: the same
slot for the same group in the same week (or the same SOP step for the same
member) always gets the same key, whatever window it was found in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo
from siyu_cli.i18n import _

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings


@dataclass(frozen=True)
class DueMessage:
    key: str  # "plan:<playbook>:<week>:<slot>:<group_id>" or "sop:<playbook>:<step>:<member_id>"
    kind: str  # "group_slot" | "sop_step"
    scheduled_at: datetime  # tz-aware
    playbook: str
    target_type: str  # "group" | "member"
    target_id: str  # group_id (WeCom chat_id) or member_id
    channel: str  # "group" | "customer" | "app" | "robot"
    sender: str | None  # staff userid who must confirm (group owner / member's guide) when known
    text: str
    attachments: tuple  # WeCom attachment dicts
    #: the template failed for this target (over budget, an error in the data): held back, never sent
    error: str | None = None


def due_messages(settings: "Settings", start: datetime, end: datetime, *,
                 playbooks: list[Path] | None = None) -> list[DueMessage]:
    """Plan slots and SOP steps scheduled in ``[start, end)``; opted-out members excluded.

    ``playbooks`` defaults to the *enabled* playbooks of the workspace (``[plan] enabled``);
    explicit paths are taken as given (a preview), so senders filter them first
    (:func:`siyu_cli.plan.enabled.split_enabled`). Invalid playbooks raise DataError (exit 65)
    rather than being skipped silently. A message whose template fails for its own group/member
    comes back with ``error`` set (push holds it).
    """
    from siyu_cli.errors import UsageError
    from siyu_cli.plan.render import render_week, resolve_targets, store_groups
    from siyu_cli.plan.schema import load_playbook
    from siyu_cli.plan.sop import sop_due_in
    from siyu_cli.store import open_store

    if start.tzinfo is None or end.tzinfo is None:
        raise UsageError(_('due_messages needs time-zone-aware start and end'))
    if playbooks is None:
        from siyu_cli.plan.enabled import enabled_playbooks

        paths = enabled_playbooks(settings)
    else:
        paths = list(playbooks)
    books = [load_playbook(p, default_timezone=settings.timezone) for p in paths]
    out: list[DueMessage] = []
    if end <= start or not books:
        return out
    groups = store_groups(settings) if any(b.slots for b in books) else []
    for pb in books:
        if not pb.slots:
            continue
        targets = resolve_targets(pb, groups)
        for wk in _weeks(start, end, pb.timezone):
            for m in render_week(pb, targets, wk, hold_errors=True).messages:
                if start <= m.scheduled_at < end:
                    out.append(DueMessage(
                        key=m.key, kind="group_slot", scheduled_at=m.scheduled_at, playbook=pb.name,
                        target_type="group", target_id=m.group.group_id, channel=m.channel,
                        sender=m.group.owner, text=m.text, attachments=m.attachments, error=m.error,
                    ))
    sop_books = [b for b in books if b.sop is not None]
    if sop_books:
        with open_store(settings, read_only=True) as con:
            for pb in sop_books:
                for day in _days(start, end, pb.timezone):
                    for item in sop_due_in(con, [pb], day, hold_errors=True).items:
                        if start <= item.scheduled_at < end:
                            out.append(DueMessage(
                                key=item.key, kind="sop_step", scheduled_at=item.scheduled_at, playbook=pb.name,
                                target_type="member", target_id=item.member_id, channel=item.channel,
                                sender=item.guide_userid, text=item.text, attachments=item.attachments,
                                error=item.error,
                            ))
    out.sort(key=lambda d: (d.scheduled_at, d.key))
    return out


def _days(start: datetime, end: datetime, tz: str) -> list[date]:
    z = ZoneInfo(tz)
    first, last = start.astimezone(z).date(), end.astimezone(z).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _weeks(start: datetime, end: datetime, tz: str) -> list[str]:
    seen: list[str] = []
    for d in _days(start, end, tz):
        y, w, _rest = d.isocalendar()
        wk = f"{y}-W{w:02d}"
        if wk not in seen:
            seen.append(wk)
    # a staggered Sunday-night post may spill into the next week's window: look one week back too
    first = _days(start, end, tz)[0] - timedelta(days=7)
    y, w, _rest = first.isocalendar()
    prev = f"{y}-W{w:02d}"
    return [prev] + seen if prev not in seen else seen
