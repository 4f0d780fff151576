"""Sending a campaign, reconciling after a crash, and syncing delivery from WeCom.

The send loop, per batch: claim (commit ``in_flight``) → one WeCom call →
complete (commit ``sent``/``failed``). Before sending, every batch still
``in_flight`` is reconciled: for customer and group mass-sends the records
WeCom already holds (``get_groupmsg_list_v2`` over the batch's time window)
are matched by text, sender and recipient set; a match means the call
reached WeCom, so the batch is marked sent with that msgid; no match means it
did not, so the batch goes back to planned. App messages are re-sent with
WeCom's own duplicate check on. A robot batch found in flight cannot be
checked and is marked failed (``outcome_unknown``) rather than risk a double.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from siyu_cli import clock
from siyu_cli.errors import SiyuError, TemporaryFailure, UsageError
from siyu_cli.push import ledger, policy as pol
from siyu_cli.push.ledger import Batch, utcnow
from siyu_cli.store import open_store
from siyu_cli.i18n import _

log = logging.getLogger(__name__)

#: add_msg_template / get_groupmsg_* chat_type per channel
CHAT_TYPE = {"customer": "single", "group": "group"}
#: get_groupmsg_send_result status → ledger delivery
DELIVERY = {0: "unconfirmed", 1: "delivered", 2: "not_friend", 3: "quota_exceeded"}
RECONCILE_SLACK = 120  # seconds around the batch's in-flight time when listing WeCom's records


@dataclass
class SendReport:
    campaign_id: str
    batches_sent: int = 0
    batches_failed: int = 0
    reconciled: int = 0
    released: int = 0
    states: dict = field(default_factory=dict)
    status: str = ""
    stopped: str | None = None
    #: the whole campaign's batches per state after this run (a resumed send's earlier runs included)
    batches: dict = field(default_factory=dict)
    #: what happened to batches whose outcome was unknown: waited for what, concluded what
    notes: list = field(default_factory=list)
    on_note: object = field(default=None, repr=False, compare=False)

    def note(self, message: str) -> None:
        """Record a message for people (and hand it to ``on_note`` at once: a wait may follow)."""
        self.notes.append(message)
        log.info('%s', message)
        if callable(self.on_note):
            self.on_note(message)

    @property
    def failed(self) -> int:
        return self.states.get("failed", 0)

    def to_dict(self) -> dict:
        return {
            "campaign_id": self.campaign_id,
            "status": self.status,
            "batches_sent": self.batches_sent,
            "batches_failed": self.batches_failed,
            "batches_reconciled": self.reconciled,
            "batches_released": self.released,
            "batches": self.batches,
            "states": self.states,
            "stopped": self.stopped,
            "notes": self.notes,
        }


def _wecom():
    from siyu_cli import wecom

    return wecom


def make_client(settings, channel: str):
    wecom = _wecom()
    if channel == "robot":
        return wecom.WebhookClient.from_settings(settings)
    return wecom.WeComClient.from_settings(settings)


def _close(client, owned: bool):
    if owned and hasattr(client, "close"):
        try:
            client.close()
        except Exception:  # pragma: no cover
            pass


def send_campaign(
    settings,
    campaign_id: str,
    *,
    client=None,
    now: datetime | None = None,
    ignore_quiet_hours: bool = False,
    max_batches: int | None = None,
    on_batch=None,
    session=None,
    on_note=None,
) -> SendReport:
    """Send (or resume) a campaign under its lock; safe to run again after any crash.

    ``session`` (a :class:`~siyu_cli.push.ledger.StoreSession`) lets a caller sending many
    campaigns (push_due) keep one store connection across them; it is closed if this send fails.
    ``on_note(message)``: called as soon as a batch whose outcome was unknown is being checked (what
    siyu waits for) and decided (found at WeCom / re-queued / failed); the report keeps them in ``notes``.
    """
    if session is None:
        hold = float(settings.section("push").get("store_hold_seconds", 2.0))
        with ledger.StoreSession(settings, hold) as own:
            return send_campaign(settings, campaign_id, client=client, now=now, ignore_quiet_hours=ignore_quiet_hours,
                                 max_batches=max_batches, on_batch=on_batch, session=own, on_note=on_note)
    try:
        return _send_campaign(settings, campaign_id, session, client=client, now=now,
                              ignore_quiet_hours=ignore_quiet_hours, max_batches=max_batches, on_batch=on_batch,
                              on_note=on_note)
    except SiyuError:
        session.rollback()  # raised outside a transition; should one be open, it must not leak into the next
        raise
    except BaseException:
        session.close()  # as a send's own session would be: any transaction left open is rolled back
        raise


def _send_campaign(settings, campaign_id: str, session, *, client, now, ignore_quiet_hours, max_batches,
                   on_batch, on_note=None) -> SendReport:
    report = SendReport(campaign_id, on_note=on_note)
    with ledger.campaign_lock(settings, campaign_id):
        con = session.con()
        camp = ledger.get_campaign(con, campaign_id)
        in_flight = ledger.batches_in_state(con, campaign_id, "in_flight")
        channel = camp["channel"]
        if camp["status"] == "cancelled":
            raise UsageError(_('campaign {campaign_id} was cancelled; nothing to send').format(campaign_id=campaign_id))
        policy = pol.load_policy(settings)
        at = now or utcnow()
        if channel in pol.CAPPED_CHANNELS and not ignore_quiet_hours:
            until = policy.in_quiet_hours(at)
            if until is not None and not in_flight:
                raise TemporaryFailure(
                    _('quiet hours: no mass-send starts before {until:%H:%M} ({timezone}); nothing was sent (run again later, or pass --ignore-quiet-hours)').format(until=until, timezone=settings.timezone)
                )
        if client is not None and (channel == "robot") != hasattr(client, "send_text"):
            client = None  # e.g. push_due handed a WeComClient but this message goes to a robot webhook
        owned = client is None
        client = client or make_client(settings, channel)
        try:
            for batch in in_flight:
                _reconcile(settings, camp, batch, client, report, session)
            # image / mini-program cover paths are uploaded by the client (media_id cached by file hash)
            attachments = camp["attachments"]
            n = 0
            while max_batches is None or n < max_batches:
                # after this send's first claim the campaign is committed as sending: no need to repeat it
                batch = ledger.claim_next_batch(session.con(), campaign_id, channel, mark_sending=n == 0,
                                                budget_at=at, policy=policy)
                if batch is None:
                    break
                n += 1
                if _send_batch(settings, camp, batch, client, attachments, report, session, now) == "stop":
                    break
                if on_batch:
                    on_batch(batch)
        finally:
            _close(client, owned)
        con = session.con()
        report.states = ledger.finish_campaign(con, campaign_id)
        report.status = con.execute("SELECT status FROM push_campaigns WHERE campaign_id = ?", [campaign_id]).fetchone()[0]
        report.batches = dict(con.execute("SELECT state, count(*) FROM push_batches WHERE campaign_id = ? GROUP BY 1",
                                          [campaign_id]).fetchall())
    return report


def _send_batch(settings, camp, batch: Batch, client, attachments, report, session, now=None) -> str | None:
    """``now``: the caller's clock (sent_at counts towards frequency caps), else the current time."""
    wecom = _wecom()
    channel, cid = camp["channel"], camp["campaign_id"]
    session.release_if_old()  # the in_flight mark is committed; others may use the store during the call
    try:
        if channel in CHAT_TYPE:
            kwargs = {"chat_type": CHAT_TYPE[channel], "sender": batch.sender, "text": batch.text,
                      "attachments": attachments or None}
            if channel == "customer":
                kwargs["external_userid"] = batch.recipients
            else:
                kwargs["chat_id_list"] = batch.recipients
            resp = client.add_msg_template(**kwargs)
            fail_list = set(resp.get("fail_list") or [])
            failed = {r: "fail_list: invalid or unsendable external_userid" for r in batch.recipients if r in fail_list}
            ledger.complete_batch(session.con(), cid, batch.batch_id, msgid=resp.get("msgid"), failed=failed, now=now)
        elif channel == "app":
            resp = client.send_app_message(touser=batch.recipients, text=batch.text, enable_duplicate_check=True)
            inv = resp.get("invaliduser") or []
            invalid = set(inv if isinstance(inv, list) else filter(None, str(inv).split("|")))
            failed = {r: "invaliduser: not in the app's visible range" for r in batch.recipients if r in invalid}
            ledger.complete_batch(session.con(), cid, batch.batch_id, msgid=resp.get("msgid"), failed=failed, now=now)
        else:  # robot
            resp = client.send_text(batch.text)
            ledger.complete_batch(session.con(), cid, batch.batch_id, msgid=(resp or {}).get("msgid"), now=now)
        report.batches_sent += 1
        return None
    except wecom.AmbiguousSend as exc:
        # the request may have reached WeCom: leave it in flight and reconcile now
        report.note(_('batch {batch_id}: no answer from WeCom ({value}); the message may or may not have been created').format(batch_id=batch.batch_id, value=exc.errmsg if hasattr(exc, 'errmsg') else exc))
        if channel in CHAT_TYPE:
            time.sleep(0.2)
            try:
                _reconcile(settings, camp, batch, client, report, session)
                return None
            except SiyuError:
                pass
        report.stopped = f"batch {batch.batch_id}: outcome unknown ({exc}); run `siyu push resume {cid}` to reconcile"
        return "stop"
    except wecom.WeComError as exc:
        reason = f"{exc.errcode} {exc.errmsg}".strip()
        if exc.category == "skip":
            ledger.fail_batch(session.con(), cid, batch.batch_id, reason, now=now)
            report.batches_failed += 1
            return None
        # retry (already retried by the client), refresh, fatal: nothing was created; stop and keep it planned
        ledger.release_batch(session.con(), cid, batch.batch_id, reason)
        report.stopped = f"batch {batch.batch_id}: {reason}"
        if exc.category == "fatal":
            raise
        raise TemporaryFailure(_('WeCom error on batch {batch_id}: {reason}; the batch is kept planned — run `siyu push resume {cid}` later').format(batch_id=batch.batch_id, reason=reason, cid=cid)) from None
    except BaseException:
        # Anything else (KeyboardInterrupt, a bug): leave the batch in flight — resume reconciles it.
        raise


def _as_int_time(value) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(value)


def _call_retrying(fn, *args, tries: int = 6, **kw):
    """get_groupmsg_* may answer 41063 (still dispatching) right after creation: wait and retry."""
    wecom = _wecom()
    delay = 0.2
    for attempt in range(tries):
        try:
            return fn(*args, **kw)
        except wecom.WeComError as exc:
            if exc.errcode == 41063 and attempt < tries - 1:
                time.sleep(delay)
                delay = min(delay * 2, 3)
                continue
            raise


def _text_of(msg: dict) -> str:
    text = msg.get("text")
    if isinstance(text, dict):
        return (text.get("content") or "").strip()
    return (text or "").strip()


def _reconcile(settings, camp, batch: Batch, client, report, session) -> None:
    """Decide an in-flight batch from WeCom's records: sent (found) or planned again (not found)."""
    channel, cid = camp["channel"], camp["campaign_id"]
    what = f"batch {batch.batch_id} ({len(batch.recipients)} recipient(s))"
    if channel == "app":
        ledger.release_batch(session.con(), cid, batch.batch_id, "re-sent after a crash with WeCom's duplicate check")
        report.released += 1
        report.note(_("{what}: outcome unknown; app messages are sent again with WeCom's duplicate check on (WeCom drops a repeat of a message that did arrive)").format(what=what))
        return
    if channel == "robot":
        ledger.fail_batch(session.con(), cid, batch.batch_id, "outcome_unknown: the robot webhook keeps no record to check")
        report.batches_failed += 1
        report.note(_('{what}: outcome unknown; a robot webhook keeps no record to check, so it is marked failed (outcome_unknown) and NOT sent again').format(what=what))
        return
    started = batch.started_at or utcnow()
    if started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    # a request may still be in transit: give it the client's timeout to land before concluding it never did
    settle = float(getattr(getattr(client, "config", None), "timeout", 10.0)) + 1.0
    report.note(_("{what}: outcome unknown; checking WeCom's mass-send records for it").format(what=what))
    for attempt in (1, 2):
        if _find_at_wecom(settings, camp, batch, client, report, session, started):
            return
        age = (utcnow() - started).total_seconds()
        if attempt == 1 and age < settle:
            report.note(_("{what}: not in WeCom's records yet; waiting {value:.0f} s (the client's timeout + 1 s after it was sent) in case the request is still in transit, then checking again").format(what=what, value=settle - age))
            session.close()  # let other processes use the store while we wait
            time.sleep(settle - age)
        else:
            break
    ledger.release_batch(session.con(), cid, batch.batch_id, "not found at WeCom after a crash; re-queued")
    report.released += 1
    report.note(_("{what}: not in WeCom's records {settle:.0f} s after it was sent: it never reached WeCom; re-queued and sent again (no duplicate)").format(what=what, settle=settle))


def _find_at_wecom(settings, camp, batch: Batch, client, report, session, started) -> bool:
    """Look for the batch among WeCom's mass-send records; mark it sent when found."""
    channel, cid = camp["channel"], camp["campaign_id"]
    # started_at is on siyu's clock (SIYU_NOW may move it); WeCom's records are on the real one
    start_time = int((started - clock.offset()).timestamp()) - RECONCILE_SLACK
    end_time = int(time.time()) + RECONCILE_SLACK
    known = {r[0] for r in session.con().execute("SELECT msgid FROM push_batches WHERE msgid IS NOT NULL").fetchall()}
    records = _call_retrying(client.get_groupmsg_list_v2, chat_type=CHAT_TYPE[channel], start_time=start_time,
                             end_time=end_time, filter_type=2)
    want = set(batch.recipients)
    for msg in records:
        msgid = msg.get("msgid")
        if not msgid or msgid in known or _text_of(msg) != (batch.text or "").strip():
            continue
        creator = msg.get("creator")
        if creator and batch.sender and creator != batch.sender:
            continue
        tasks = _call_retrying(client.get_groupmsg_task, msgid)
        userids = [t.get("userid") for t in tasks if t.get("userid")]
        if batch.sender and channel == "group" and batch.sender not in userids:
            continue
        key = "external_userid" if channel == "customer" else "chat_id"
        got = set()
        for userid in userids:  # WeCom routes each customer to the guide who last chatted with them
            got |= {r.get(key) for r in _call_retrying(client.get_groupmsg_send_result, msgid, userid) if r.get(key)}
        if not (got & want):
            continue
        if got and not want <= got:
            # WeCom recorded only part of the batch: those missing were not accepted (fail_list)
            failed = {r: "fail_list: not accepted by WeCom (found on reconcile)" for r in want - got}
        else:
            failed = {}
        ledger.complete_batch(session.con(), cid, batch.batch_id, msgid=msgid, failed=failed, reconciled=True,
                              now=started)
        report.reconciled += 1
        report.note(_("batch {batch_id}: found in WeCom's records (msgid {msgid}): it did reach WeCom; marked sent{value} and NOT sent again").format(batch_id=batch.batch_id, msgid=msgid, value=f' ({len(failed)} recipient(s) not accepted)' if failed else ''))
        return True
    return False


# ---------------------------------------------------------------- status, remind, cancel

def sync_status(settings, campaign_id: str, *, client=None) -> dict:
    """Pull per-recipient delivery for the campaign's sent batches from WeCom into the ledger.

    The store is opened twice per sync whatever the number of batches: read-only before the HTTP calls
    (the batches and their sent recipients in one query) and read-write once to write the results.
    """
    with open_store(settings, read_only=True) as con:
        camp = ledger.get_campaign(con, campaign_id)
        batches = con.execute(
            "SELECT batch_id, sender, msgid FROM push_batches WHERE campaign_id = ? AND state = 'sent' AND msgid IS NOT NULL "
            "ORDER BY batch_id",
            [campaign_id],
        ).fetchall()
        sent: dict[str, list[str]] = {}
        for bid, rid in con.execute(
                "SELECT batch_id, recipient_id FROM push_recipients WHERE campaign_id = ? AND state = 'sent' "
                "ORDER BY batch_id, recipient_id", [campaign_id]).fetchall():
            sent.setdefault(bid, []).append(rid)
    channel = camp["channel"]
    updates: list[tuple[str, str, str | None]] = []  # (recipient_id, delivery, delivered_at)
    if channel in CHAT_TYPE and batches:
        owned = client is None
        client = client or make_client(settings, channel)
        key = "external_userid" if channel == "customer" else "chat_id"
        try:
            for bid, sender, msgid in batches:
                tasks = _call_retrying(client.get_groupmsg_task, msgid)
                results: dict[str, dict] = {}
                for t in tasks:
                    if t.get("status") == 2:  # this guide confirmed: per-recipient results exist
                        for r in _call_retrying(client.get_groupmsg_send_result, msgid, t["userid"]):
                            if r.get(key):
                                results[r[key]] = r
                for rid in sent.get(bid, []):
                    res = results.get(rid)
                    status = res.get("status") if res else 0
                    when = None
                    if res and res.get("send_time"):
                        when = datetime.fromtimestamp(int(res["send_time"]), timezone.utc).isoformat()
                    updates.append((rid, DELIVERY.get(status, "unconfirmed"), when))
        finally:
            _close(client, owned)
    elif channel in ("app", "robot"):
        updates = [(rid, "delivered", None) for rids in sent.values() for rid in rids]
    with open_store(settings) as con:
        if updates:
            con.execute("BEGIN TRANSACTION")
            con.execute("CREATE OR REPLACE TEMP TABLE _push_d (recipient_id VARCHAR, delivery VARCHAR, d_at VARCHAR)")
            con.executemany("INSERT INTO _push_d VALUES (?, ?, ?)", updates)
            con.execute(
                "UPDATE push_recipients AS r SET delivery = d.delivery, delivered_at = CAST(d.d_at AS TIMESTAMPTZ) "
                "FROM _push_d d WHERE r.campaign_id = ? AND r.recipient_id = d.recipient_id",
                [campaign_id],
            )
            con.execute("COMMIT")
        return campaign_status(con, campaign_id)


def campaign_status(con, campaign_id: str) -> dict:
    camp = ledger.get_campaign(con, campaign_id)
    states = ledger.state_counts(con, campaign_id)
    delivery = dict(con.execute(
        "SELECT coalesce(delivery, 'unknown'), count(*) FROM push_recipients WHERE campaign_id = ? AND state = 'sent' GROUP BY 1",
        [campaign_id]).fetchall())
    failed = con.execute(
        "SELECT recipient_id, member_id, reason FROM push_recipients WHERE campaign_id = ? AND state = 'failed' ORDER BY 1",
        [campaign_id]).fetchall()
    per_sender = con.execute(
        """SELECT coalesce(b.sender, '') AS sender, count(DISTINCT b.batch_id) AS batches,
                  count(r.recipient_id) FILTER (WHERE r.state = 'sent') AS sent,
                  count(r.recipient_id) FILTER (WHERE r.delivery = 'delivered') AS delivered,
                  count(r.recipient_id) FILTER (WHERE r.delivery = 'unconfirmed') AS unconfirmed
           FROM push_batches b LEFT JOIN push_recipients r ON r.campaign_id = b.campaign_id AND r.batch_id = b.batch_id
           WHERE b.campaign_id = ? GROUP BY 1 ORDER BY 1""",
        [campaign_id]).fetchall()
    return {
        "campaign_id": campaign_id,
        "name": camp["name"],
        "channel": camp["channel"],
        "status": camp["status"],
        "states": {s: states.get(s, 0) for s in ledger.STATES},
        "delivery": delivery,
        "senders": [dict(zip(("sender", "batches", "sent", "delivered", "unconfirmed"), r)) for r in per_sender],
        "failed": [{"recipient_id": r, "member_id": m, "reason": why} for r, m, why in failed],
    }


def remind(settings, campaign_id: str, *, client=None, app_message: bool = False, now: datetime | None = None) -> dict:
    """Remind guides of unconfirmed mass-send tasks; optionally tell them by app message too.

    WeCom allows 3 reminders per mass send per 24 h (its 45009 answer is recorded as
    ``limit_reached``); the ledger also stops after 3 reminders per batch in total.
    """
    now = now or utcnow()
    with open_store(settings, read_only=True) as con:
        camp = ledger.get_campaign(con, campaign_id)
        if camp["channel"] not in CHAT_TYPE:
            raise UsageError(_('remind applies to customer and group mass-sends'))
        rows = con.execute(
            """SELECT b.batch_id, b.sender, b.msgid, b.reminders, b.finished_at,
                      count(r.recipient_id) FILTER (WHERE r.delivery IS NULL OR r.delivery = 'unconfirmed') AS waiting
               FROM push_batches b JOIN push_recipients r ON r.campaign_id = b.campaign_id AND r.batch_id = b.batch_id
               WHERE b.campaign_id = ? AND b.state = 'sent' AND b.msgid IS NOT NULL AND r.state = 'sent'
               GROUP BY ALL HAVING waiting > 0 ORDER BY b.batch_id""",
            [campaign_id]).fetchall()
    owned = client is None
    client = client or make_client(settings, camp["channel"])
    reminded, limited, senders = [], [], {}
    try:
        for bid, sender, msgid, count, finished, waiting in rows:
            if count >= 3:
                limited.append(bid)
                continue
            try:
                client.remind_groupmsg_send(msgid)
            except _wecom().WeComError as exc:
                if exc.errcode == 45009:  # WeCom: at most 3 reminders per mass send per 24 h
                    limited.append(bid)
                    continue
                raise
            reminded.append(bid)
            senders[sender] = senders.get(sender, 0) + waiting
        if reminded:
            with open_store(settings) as con:
                con.execute(
                    "UPDATE push_batches SET reminders = reminders + 1 WHERE campaign_id = ? AND batch_id IN (SELECT unnest(?::VARCHAR[]))",
                    [campaign_id, reminded])
        if app_message and senders:
            for sender, waiting in senders.items():
                client.send_app_message(
                    touser=[sender],
                    text=f"【群发待确认】活动 {camp['name']} 有 {waiting} 位客户的群发等待你在企业微信中确认发送。",
                    enable_duplicate_check=True,
                )
    finally:
        _close(client, owned)
    return {"campaign_id": campaign_id, "reminded_batches": reminded, "limit_reached": limited,
            "guides_messaged": sorted(senders) if app_message else []}


def cancel(settings, campaign_id: str, *, client=None, now: datetime | None = None) -> dict:
    """Stop a campaign: planned batches are skipped, unconfirmed WeCom tasks cancelled (sent ones are not recalled)."""
    now = now or utcnow()
    with ledger.campaign_lock(settings, campaign_id):
        with open_store(settings) as con:
            camp = ledger.get_campaign(con, campaign_id)
            con.execute("BEGIN TRANSACTION")
            n = con.execute(
                "UPDATE push_recipients SET state = 'skipped', reason = 'cancelled' WHERE campaign_id = ? AND state = 'planned'",
                [campaign_id]).fetchone()[0]
            con.execute("UPDATE push_batches SET state = 'skipped', error = 'cancelled' WHERE campaign_id = ? AND state = 'planned'",
                        [campaign_id])
            con.execute("UPDATE push_campaigns SET status = 'cancelled', cancelled_at = ?, updated_at = ? WHERE campaign_id = ?",
                        [now, now, campaign_id])
            con.execute("COMMIT")
            msgids = [r[0] for r in con.execute(
                "SELECT DISTINCT msgid FROM push_batches WHERE campaign_id = ? AND state = 'sent' AND msgid IS NOT NULL",
                [campaign_id]).fetchall()]
        cancelled = []
        if camp["channel"] in CHAT_TYPE and msgids:
            owned = client is None
            client = client or make_client(settings, camp["channel"])
            try:
                for msgid in msgids:
                    client.cancel_groupmsg_send(msgid)
                    cancelled.append(msgid)
            finally:
                _close(client, owned)
    return {"campaign_id": campaign_id, "skipped": int(n), "cancelled_tasks": len(cancelled)}
