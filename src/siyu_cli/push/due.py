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
    #: playbooks not enabled in ``[plan] enabled``: held back, never sent ({playbook, file, reason[, messages]})
    inactive: list[dict] = field(default_factory=list)
    dry_run: bool = False

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
            "dry_run": self.dry_run,
            "inactive": self.inactive,
            "steps": due_steps(self.items),
            "items": self.items,
        }


def step_of(key: str) -> str:
    """The slot or step id in a DueMessage key (plan:PB:WEEK:SLOT:GROUP, sop:PB:STEP:MEMBER[:DATE])."""
    parts = key.split(":")
    if parts[0] == "plan" and len(parts) >= 4:
        return parts[3]
    return parts[2] if len(parts) >= 3 else key


def due_steps(items: list[dict]) -> list[dict]:
    """Items summed per (playbook, step): what goes where, a sample text, and what is held back and why.

    ``groups``: the groups a group slot goes to; ``customers_by_guide``: how many customers each
    guide's 1v1 mass-send reaches; ``held_back``: recipients not sent, by reason (a recipient
    excluded by policy, or every recipient of a message held as a whole, e.g. quiet hours).
    """
    steps: dict[tuple, dict] = {}
    for i in items:
        k = (i.get("playbook"), i.get("step"))
        st = steps.setdefault(k, {
            "playbook": i.get("playbook"), "step": i.get("step"), "channel": i["channel"],
            "first_at": i["scheduled_at"], "messages": 0, "to_send": 0, "groups": [], "customers_by_guide": {},
            "held_back": {}, "outcomes": {}, "sample": None})
        st["messages"] += 1
        st["first_at"] = min(st["first_at"], i["scheduled_at"])
        st["outcomes"][i["outcome"]] = st["outcomes"].get(i["outcome"], 0) + 1
        if i.get("text") and (st["sample"] is None or (i["outcome"] == "would_send" and not st["to_send"])):
            st["sample"] = i["text"]  # preferably a text that would go
        held = st["held_back"]
        for reason, n in (i.get("excluded") or {}).items():
            held[reason] = held.get(reason, 0) + n
        n = int(i.get("to_send") or 0)
        if i["outcome"] != "would_send":
            if n and i["outcome"] in HELD_OUTCOMES:
                reason = i.get("reason") or i["outcome"]
                held[reason] = held.get(reason, 0) + n
            continue
        st["to_send"] += n
        if i["channel"] in ("group", "robot"):
            st["groups"].append(i["target"])
        for s in i.get("senders") or []:
            guide = s["sender"] or "-"
            st["customers_by_guide"][guide] = st["customers_by_guide"].get(guide, 0) + s["recipients"]
    return list(steps.values())


#: dry-run outcomes of a whole message that hold its recipients back (counted under the reason)
HELD_OUTCOMES = ("held", "failed")


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
    dry_run: bool = False,
) -> DueReport:
    """Create (idempotently) and send the campaigns for messages due in [start, end).

    Only *enabled* playbooks (``[plan] enabled``) are considered: ``playbooks`` (default: every
    playbook in ``playbooks/``) is narrowed to the enabled ones and the others are listed in
    :attr:`DueReport.inactive`, never sent. ``messages`` (a caller's own DueMessages) are taken as
    given. ``dry_run``: build every campaign in one transaction that is rolled back, and report
    per message what would go (recipients per sender, rendered text) and what is held back and
    why; nothing is stored or sent.

    One store connection (a :class:`~siyu_cli.push.ledger.StoreSession`, released every
    ``push.store_hold_seconds`` like a single send) and one WeCom client per kind (so one
    token) serve every campaign of the call; each campaign still has its own lock, its own
    committed ledger transitions and its own crash reconciliation.
    """
    from siyu_cli.push import ledger

    now = now or clock.now()
    report = DueReport(start, end, dry_run=dry_run)
    if messages is None:
        messages = _enabled_messages(settings, start, end, playbooks, report)
    due = [m for m in sorted(messages, key=lambda m: (m.scheduled_at, m.key)) if start <= m.scheduled_at < end]
    if not due:
        return report
    if dry_run:
        return _dry_run(settings, due, report, now)
    clients = _Clients(settings, client)
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
                item = _item(msg)
                report.items.append(item)
                if getattr(msg, "error", None):  # its template failed for this group/member: held back, no campaign
                    item.update(outcome="held", reason="template", error=msg.error)
                    continue
                try:
                    _create_and_send(settings, msg, item, status_by_key, session=session, clients=clients,
                                     send=send, now=now)
                except TemporaryFailure as exc:
                    item["outcome"] = "held"
                    item["error"] = exc.message
                except SiyuError as exc:
                    item["outcome"] = "failed"
                    item["error"] = exc.message
    finally:
        clients.close()
    return report


class _Clients:
    """One WeCom client per kind for the whole call (so one token); the caller's own client is used as given."""

    def __init__(self, settings, client=None):
        self.settings, self.client = settings, client
        self.made: dict[str, object] = {}  # "wecom" | "robot" -> a client this call made (and closes)

    def for_channel(self, channel: str):
        robot = channel == "robot"
        if self.client is not None and robot == hasattr(self.client, "send_text"):
            return self.client
        kind = "robot" if robot else "wecom"
        if kind not in self.made:
            from siyu_cli.push.sender import make_client

            self.made[kind] = make_client(self.settings, channel)
        return self.made[kind]

    def close(self) -> None:
        from siyu_cli.push.sender import _close

        for c in self.made.values():
            _close(c, True)


def _create_and_send(settings, msg, item: dict, status_by_key: dict, *, session, clients: _Clients, send: bool,
                     now: datetime) -> None:
    """One due message: find or create its campaign, then send it if due; the outcome goes into ``item``."""
    from siyu_cli.push.campaigns import create_campaign
    from siyu_cli.push.sender import send_campaign

    status = status_by_key.get(msg.key)
    if status is None:
        res = create_campaign(settings, _spec(msg), now=now, session=session, with_preview=False)
        # another process may have created it since the lookup: then it is that one's status
        item["created"] = res["created"]
        status = status_by_key[msg.key] = res["status"]
    if status in FINISHED:
        item["outcome"] = "already_" + status if not item["created"] else status
        return
    if not send:
        item["outcome"] = "created" if item["created"] else "pending"
        return
    if msg.scheduled_at > now:
        item["outcome"] = "not_yet_due"
        return
    rep = send_campaign(settings, item["campaign_id"], client=clients.for_channel(msg.channel), now=now,
                        session=session)
    status_by_key[msg.key] = rep.status
    item["states"] = rep.states
    item["outcome"] = rep.status if rep.status in ("sent", "partial", "empty") else "pending"
    if rep.stopped:
        item["error"] = rep.stopped


def _item(msg) -> dict:
    return {"key": msg.key, "campaign_id": due_campaign_id(msg.key), "playbook": msg.playbook, "step": step_of(msg.key),
            "channel": msg.channel, "target": msg.target_id, "scheduled_at": msg.scheduled_at.isoformat(),
            "created": False}


def _spec(msg):
    from siyu_cli.push.campaigns import CampaignSpec

    return CampaignSpec(channel=msg.channel, audience=_audience(msg), text=msg.text, name=msg.key,
                        attachments=[dict(a) for a in msg.attachments], campaign_id=due_campaign_id(msg.key),
                        scheduled_at=msg.scheduled_at, due_key=msg.key, sender=msg.sender, raw_text=True)


def _enabled_messages(settings, start: datetime, end: datetime, playbooks, report: DueReport) -> list:
    """Due messages of the enabled playbooks; the others go to ``report.inactive`` (with, in a dry
    run, how many messages they would have sent in the window)."""
    from siyu_cli.plan import due_messages, workspace_playbooks
    from siyu_cli.plan.enabled import split_enabled

    paths = list(playbooks) if playbooks is not None else workspace_playbooks(settings)
    live, off = split_enabled(settings, paths)
    for name, path in off:
        entry = {"playbook": name, "file": str(path), "reason": "inactive"}
        if report.dry_run:
            try:
                entry["messages"] = len(due_messages(settings, start, end, playbooks=[path]))
            except SiyuError as exc:
                entry["error"] = exc.message
        report.inactive.append(entry)
    return due_messages(settings, start, end, playbooks=live) if live else []


def _dry_run(settings, due: list, report: DueReport, now: datetime) -> DueReport:
    """What push_due would do with ``due`` now: every campaign built in one rolled-back transaction."""
    from siyu_cli.push import ledger, policy as pol
    from siyu_cli.push.campaigns import campaign_preview, create_campaign

    policy = pol.load_policy(settings)
    quiet_until = policy.in_quiet_hours(now)
    with ledger.StoreSession(settings, float("inf")) as session:
        con = session.con()
        status_by_key = dict(con.execute(
            "SELECT due_key, status FROM push_campaigns WHERE due_key IN (SELECT unnest(?::VARCHAR[]))",
            [[m.key for m in due]]).fetchall())
        con.execute("BEGIN TRANSACTION")
        try:
            for msg in due:
                item = _item(msg)
                report.items.append(item)
                status = status_by_key.get(msg.key)
                if status in FINISHED:
                    item["outcome"] = "already_" + status
                    continue
                try:
                    if status is None:
                        p = create_campaign(settings, _spec(msg), now=now, session=session, dry_run=True,
                                            in_transaction=True)
                    else:
                        p = campaign_preview(con, settings, item["campaign_id"], now=now, policy=policy)
                except SiyuError as exc:
                    item.update(outcome="failed", reason="error", error=exc.message, text=msg.text)
                    con.execute("ROLLBACK")  # a failed build may leave the transaction unusable; start afresh
                    con.execute("BEGIN TRANSACTION")
                    continue
                item["created"] = status is None
                item["text"] = p["sample"]["text"] if p.get("sample") else msg.text
                item["to_send"] = p["to_send"]
                item["senders"] = [{"sender": x["sender"], "recipients": x["recipients"]} for x in p["senders"]]
                item["excluded"] = {k: v["count"] for k, v in p["excluded_by_reason"].items()}
                if msg.scheduled_at > now:
                    item["outcome"] = "not_yet_due"
                elif quiet_until is not None and msg.channel in pol.CAPPED_CHANNELS:
                    item.update(outcome="held", reason="quiet_hours", held_until=quiet_until.isoformat())
                elif not p["to_send"]:
                    item["outcome"] = "nothing_to_send"
                else:
                    item["outcome"] = "would_send"
        finally:
            con.execute("ROLLBACK")
    return report
