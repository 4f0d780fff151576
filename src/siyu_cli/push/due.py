"""push_due: plan slots and SOP steps that fall due become campaigns, keyed by DueMessage.key.

Each DueMessage becomes (at most) one campaign whose ``due_key`` is the
message's key, so running ``push_due`` for overlapping windows, or again after
a crash, finds the existing campaign instead of creating a second one; an
existing campaign that is not finished is resumed (which reconciles anything
left in flight), a finished one is left alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from siyu_cli import clock
from siyu_cli.errors import SiyuError, TemporaryFailure

FINISHED = ("sent", "partial", "cancelled", "empty")


@dataclass
class DueReport:
    start: datetime
    end: datetime
    items: list[dict] = field(default_factory=list)

    def _count(self, outcome: str) -> int:
        return sum(1 for i in self.items if i["outcome"] == outcome)

    @property
    def created(self) -> int:
        return sum(1 for i in self.items if i.get("created"))

    @property
    def sent(self) -> int:
        return self._count("sent")

    @property
    def failed(self) -> int:
        """Messages that failed (an error, some recipients failed, or a template that could not render)."""
        return self._count("failed") + self._count("partial") + sum(1 for i in self.items if i.get("reason") == "template")

    def to_dict(self) -> dict:
        outcomes: dict[str, int] = {}
        for i in self.items:
            outcomes[i["outcome"]] = outcomes.get(i["outcome"], 0) + 1
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "due": len(self.items),
            "created": self.created,
            "sent": self.sent,
            "failed": self.failed,
            "outcomes": outcomes,
            "items": self.items,
        }


def due_campaign_id(key: str) -> str:
    return "due-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def _audience(msg) -> str:
    if msg.channel == "robot":
        return "robot"
    if msg.channel == "app":
        # an app message goes to staff: for a member-targeted SOP step, to the member's guide
        return f"staff:{msg.sender if msg.target_type == 'member' and msg.sender else msg.target_id}"
    if msg.target_type == "group":
        return f"group:{msg.target_id}"
    return f"list:{msg.target_id}"


def push_due(
    settings,
    start: datetime,
    end: datetime,
    *,
    playbooks: list[Path] | None = None,
    send: bool = True,
    client=None,
    now: datetime | None = None,
    messages=None,
) -> DueReport:
    """Create (idempotently) and send the campaigns for messages due in [start, end).

    One store connection (a :class:`~siyu_cli.push.ledger.StoreSession`, released every
    ``push.store_hold_seconds`` like a single send) and one WeCom client per kind (so one
    token) serve every campaign of the call; each campaign still has its own lock, its own
    committed ledger transitions and its own crash reconciliation.
    """
    from siyu_cli.push import ledger
    from siyu_cli.push.campaigns import CampaignSpec, create_campaign
    from siyu_cli.push.sender import _close, make_client, send_campaign

    now = now or clock.now()
    if messages is None:
        from siyu_cli.plan import due_messages

        messages = due_messages(settings, start, end, playbooks=playbooks)
    report = DueReport(start, end)
    due = [m for m in sorted(messages, key=lambda m: (m.scheduled_at, m.key)) if start <= m.scheduled_at < end]
    if not due:
        return report
    clients: dict[str, object] = {}  # "wecom" | "robot" -> a client this call made (and closes)

    def client_for(channel: str):
        robot = channel == "robot"
        if client is not None and robot == hasattr(client, "send_text"):
            return client
        kind = "robot" if robot else "wecom"
        if kind not in clients:
            clients[kind] = make_client(settings, channel)
        return clients[kind]

    hold = float(settings.section("push").get("store_hold_seconds", 2.0))
    try:
        with ledger.StoreSession(settings, hold) as session:
            # every "does this due message already have a campaign?" in one query
            keys = [m.key for m in due]
            status_by_key = dict(session.con().execute(
                "SELECT due_key, status FROM push_campaigns WHERE due_key IN (SELECT unnest(?::VARCHAR[]))", [keys]
            ).fetchall())
            for msg in due:
                session.release_if_old()  # let other siyu processes at the store between campaigns
                cid = due_campaign_id(msg.key)
                item = {"key": msg.key, "campaign_id": cid, "channel": msg.channel, "target": msg.target_id,
                        "scheduled_at": msg.scheduled_at.isoformat(), "created": False}
                report.items.append(item)
                if getattr(msg, "error", None):  # its template failed for this group/member: held back, no campaign
                    item.update(outcome="held", reason="template", error=msg.error)
                    continue
                try:
                    status = status_by_key.get(msg.key)
                    if status is None:
                        res = create_campaign(
                            settings,
                            CampaignSpec(channel=msg.channel, audience=_audience(msg), text=msg.text, name=msg.key,
                                         attachments=[dict(a) for a in msg.attachments], campaign_id=cid,
                                         scheduled_at=msg.scheduled_at, due_key=msg.key, sender=msg.sender,
                                         raw_text=True),
                            now=now, session=session, with_preview=False,
                        )
                        # another process may have created it since the lookup: then it is that one's status
                        item["created"] = res["created"]
                        status = status_by_key[msg.key] = res["status"]
                    if status in FINISHED:
                        item["outcome"] = "already_" + status if not item["created"] else status
                        continue
                    if not send:
                        item["outcome"] = "created" if item["created"] else "pending"
                        continue
                    if msg.scheduled_at > now:
                        item["outcome"] = "not_yet_due"
                        continue
                    rep = send_campaign(settings, cid, client=client_for(msg.channel), now=now, session=session)
                    status_by_key[msg.key] = rep.status
                    item["states"] = rep.states
                    item["outcome"] = rep.status if rep.status in ("sent", "partial", "empty") else "pending"
                    if rep.stopped:
                        item["error"] = rep.stopped
                except TemporaryFailure as exc:
                    item["outcome"] = "held"
                    item["error"] = exc.message
                except SiyuError as exc:
                    item["outcome"] = "failed"
                    item["error"] = exc.message
    finally:
        for c in clients.values():
            _close(c, True)
    return report
