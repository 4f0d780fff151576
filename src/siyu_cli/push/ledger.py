"""The push ledger: durable, crash-safe state transitions of batches and recipients.

Every transition is its own short transaction in the store (opened briefly so
other siyu commands can read between batches). The rule that makes sends
exactly-once: a batch is committed as ``in_flight`` *before* its WeCom call and
completed *after* it. A batch still ``in_flight`` when a sender starts means the
previous sender died mid-call; it is reconciled against WeCom's records
(``siyu_cli.push.sender._reconcile``), never re-sent blindly.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator

from siyu_cli.errors import StoreBusy, UsageError
from siyu_cli.store import open_store
from siyu_cli.i18n import _

STATES = ("planned", "in_flight", "sent", "failed", "skipped")
TERMINAL = ("sent", "failed", "skipped")


class CampaignBusy(StoreBusy):
    """Another process is sending this campaign (exit 4)."""


@dataclass
class Batch:
    campaign_id: str
    batch_id: str
    sender: str | None
    text: str
    state: str
    msgid: str | None = None
    started_at: datetime | None = None
    attempts: int = 0
    recipients: list[str] = field(default_factory=list)


def utcnow() -> datetime:
    from siyu_cli import clock

    return clock.now()


# ---------------------------------------------------------------- campaign lock

def lock_path(settings, campaign_id: str) -> Path:
    folder = settings.path(".locks")
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in campaign_id)
    return folder / f"push-{safe}.lock"


@contextmanager
def campaign_lock(settings, campaign_id: str) -> Iterator[None]:
    """One sender per campaign: an flock the kernel releases when the process dies (never stale)."""
    import fcntl

    path = lock_path(settings, campaign_id)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ""
            try:
                holder = os.pread(fd, 32, 0).decode().strip()
            except OSError:
                pass
            who = f"process {holder}" if holder else "another process"
            raise CampaignBusy(_('campaign {campaign_id} is already being sent by {who}; not starting a second sender').format(campaign_id=campaign_id, who=who)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


# ---------------------------------------------------------------- a held store connection

class StoreSession:
    """One read-write connection reused across ledger transitions (each still its own committed
    transaction), reopened every ``hold`` seconds so other siyu processes can get at the store
    between batches. Opening DuckDB per transition costs tens of ms (a checkpoint on close)."""

    def __init__(self, settings, hold: float = 2.0):
        self.settings = settings
        self.hold = hold
        self._cm = None
        self._con = None
        self._opened = 0.0

    def release_if_old(self) -> None:
        """Called while waiting on WeCom: let other processes in if we have held the store a while."""
        import time

        if self._con is not None and time.monotonic() - self._opened > self.hold:
            self.close()

    def con(self):
        import time

        if self._con is None:
            self._cm = open_store(self.settings)
            self._con = self._cm.__enter__()
            self._opened = time.monotonic()
        return self._con

    def rollback(self) -> None:
        """Roll back a transaction left open on the held connection, if any."""
        if self._con is not None:
            try:
                self._con.execute("ROLLBACK")
            except Exception:  # no transaction open: nothing to undo
                pass

    def close(self) -> None:
        if self._cm is not None:
            cm, self._cm, self._con = self._cm, None, None
            cm.__exit__(None, None, None)

    def __enter__(self) -> "StoreSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------- reads

def get_campaign(con, campaign_id: str) -> dict:
    cur = con.execute("SELECT * FROM push_campaigns WHERE campaign_id = ?", [campaign_id])
    row = cur.fetchone()
    if row is None:
        raise UsageError(_('no campaign {campaign_id!r} (see `siyu push list`)').format(campaign_id=campaign_id))
    cols = [d[0] for d in cur.description]
    out = dict(zip(cols, row))
    out["attachments"] = json.loads(out["attachments"]) if out.get("attachments") else []
    return out


def batches_in_state(con, campaign_id: str, state: str) -> list[Batch]:
    rows = con.execute(
        "SELECT batch_id, sender, text, state, msgid, started_at, attempts FROM push_batches "
        "WHERE campaign_id = ? AND state = ? ORDER BY batch_id",
        [campaign_id, state],
    ).fetchall()
    out = []
    for bid, sender, text, st, msgid, started, attempts in rows:
        b = Batch(campaign_id, bid, sender, text, st, msgid, started, attempts)
        b.recipients = batch_recipients(con, campaign_id, bid)
        out.append(b)
    return out


def batch_recipients(con, campaign_id: str, batch_id: str, states: tuple[str, ...] = ("planned", "in_flight")) -> list[str]:
    marks = ",".join("?" * len(states))
    return [
        r[0]
        for r in con.execute(
            f"SELECT recipient_id FROM push_recipients WHERE campaign_id = ? AND batch_id = ? AND state IN ({marks}) "
            "ORDER BY recipient_id",
            [campaign_id, batch_id, *states],
        ).fetchall()
    ]


# ---------------------------------------------------------------- transitions

def _tx(con):
    con.execute("BEGIN TRANSACTION")


def claim_next_batch(con, campaign_id: str, channel: str, *, policy, now: datetime | None = None,
                     mark_sending: bool = True, budget_at: datetime | None = None) -> Batch | None:
    """Mark the next planned batch in_flight and COMMIT, before any HTTP call is made.

    Recipients who opted out since the campaign was created are skipped here
    (opt-outs are honoured up to the last moment), and so are recipients the send budget
    (``[push]`` caps, counted over what other campaigns sent or have in flight in the cap's
    window around ``budget_at``, default ``now``) no longer allows: this check and the
    in_flight mark are one transaction, so two senders can never together exceed a cap.
    Returns None when no planned batch is left. ``mark_sending=False``: the caller (holding
    the campaign lock) already committed the campaign as ``sending`` with an earlier claim,
    so that no-op update is skipped. ``policy``: the workspace's (:func:`siyu_cli.push.policy.load_policy`).
    """
    now = now or utcnow()
    while True:
        _tx(con)
        row = con.execute(
            "SELECT batch_id, sender, text, attempts FROM push_batches WHERE campaign_id = ? AND state = 'planned' "
            "ORDER BY batch_id LIMIT 1",
            [campaign_id],
        ).fetchone()
        if row is None:
            con.execute("COMMIT")
            return None
        bid, sender, text, attempts = row
        _skip_late_exclusions(con, policy, campaign_id, channel, bid, budget_at or now)
        # (a plain UPDATE then a SELECT: DuckDB's UPDATE … RETURNING is ~100× slower for 10,000 rows)
        con.execute(
            "UPDATE push_recipients SET state = 'in_flight' WHERE campaign_id = ? AND batch_id = ? AND state = 'planned'",
            [campaign_id, bid],
        )
        ids = batch_recipients(con, campaign_id, bid, ("in_flight",))
        if not ids:
            con.execute(
                "UPDATE push_batches SET state = 'skipped', error = 'no recipient left', finished_at = ? "
                "WHERE campaign_id = ? AND batch_id = ?",
                [now, campaign_id, bid],
            )
            con.execute("COMMIT")
            continue
        con.execute(
            "UPDATE push_batches SET state = 'in_flight', started_at = ?, attempts = attempts + 1, error = NULL "
            "WHERE campaign_id = ? AND batch_id = ?",
            [now, campaign_id, bid],
        )
        if mark_sending:
            con.execute(
                "UPDATE push_campaigns SET status = 'sending', updated_at = ? WHERE campaign_id = ? AND status <> 'sending'",
                [now, campaign_id],
            )
        con.execute("COMMIT")
        b = Batch(campaign_id, bid, sender, text, "in_flight", None, now, attempts + 1)
        b.recipients = ids
        return b


def _skip_late_exclusions(con, policy, campaign_id: str, channel: str, bid: str, budget_at: datetime) -> None:
    """Inside the claim's transaction: skip the batch's planned recipients who opted out since the
    campaign was built, or whom the send budget no longer allows."""
    from siyu_cli.push.policy import optout_condition, over_cap_sql

    # opt-outs added since the campaign was built (cheap check first; the update is a semi-join)
    if con.execute(
        "SELECT count(*) FROM optouts WHERE created_at >= (SELECT created_at FROM push_campaigns WHERE campaign_id = ?)",
        [campaign_id],
    ).fetchone()[0]:
        con.execute(
            f"""UPDATE push_recipients AS r SET state = 'skipped', reason = 'opted_out'
                WHERE r.campaign_id = ? AND r.batch_id = ? AND r.state = 'planned'
                  AND {optout_condition('r', channel)}""",
            [campaign_id, bid],
        )
    # the send budget, counted now over what has gone or is going (never over planned rows)
    cap_sql, cap_params = over_cap_sql(policy, channel, campaign_id, budget_at,
                                       states=("sent", "in_flight"), batch_id=bid)
    over: dict[str, list[str]] = {}
    for rid, reason in (con.execute(cap_sql, cap_params).fetchall() if cap_params else []):
        over.setdefault(reason, []).append(rid)
    for reason, rids in over.items():  # usually nobody: then this SELECT was the only cost
        con.execute(
            "UPDATE push_recipients SET state = 'skipped', reason = ? WHERE campaign_id = ? AND batch_id = ? "
            "AND state = 'planned' AND recipient_id IN (SELECT unnest(?::VARCHAR[]))",
            [reason, campaign_id, bid, rids],
        )


def complete_batch(
    con,
    campaign_id: str,
    batch_id: str,
    *,
    msgid: str | None,
    failed: dict[str, str] | None = None,
    reconciled: bool = False,
    now: datetime | None = None,
) -> None:
    """The WeCom call succeeded: batch and its recipients become sent (``failed`` maps recipient → reason)."""
    now = now or utcnow()
    failed = failed or {}
    _tx(con)
    if failed:
        con.execute("CREATE OR REPLACE TEMP TABLE _push_failed (recipient_id VARCHAR, reason VARCHAR)")
        con.executemany("INSERT INTO _push_failed VALUES (?, ?)", list(failed.items()))
        con.execute(
            """UPDATE push_recipients AS r SET state = 'failed', reason = f.reason, msgid = ?
               FROM _push_failed f
               WHERE r.campaign_id = ? AND r.batch_id = ? AND r.recipient_id = f.recipient_id AND r.state = 'in_flight'""",
            [msgid, campaign_id, batch_id],
        )
    con.execute(
        "UPDATE push_recipients SET state = 'sent', msgid = ?, sent_at = ?, reason = NULL "
        "WHERE campaign_id = ? AND batch_id = ? AND state = 'in_flight'",
        [msgid, now, campaign_id, batch_id],
    )
    con.execute(
        "UPDATE push_batches SET state = 'sent', msgid = ?, finished_at = ?, reconciled = ? "
        "WHERE campaign_id = ? AND batch_id = ?",
        [msgid, now, reconciled, campaign_id, batch_id],
    )
    con.execute("COMMIT")


def fail_batch(con, campaign_id: str, batch_id: str, reason: str, *, now: datetime | None = None) -> None:
    """WeCom refused the batch for a reason that retrying will not fix: recipients fail with that reason."""
    now = now or utcnow()
    _tx(con)
    con.execute(
        "UPDATE push_recipients SET state = 'failed', reason = ? WHERE campaign_id = ? AND batch_id = ? AND state = 'in_flight'",
        [reason, campaign_id, batch_id],
    )
    con.execute(
        "UPDATE push_batches SET state = 'failed', error = ?, finished_at = ? WHERE campaign_id = ? AND batch_id = ?",
        [reason, now, campaign_id, batch_id],
    )
    con.execute("COMMIT")


def release_batch(con, campaign_id: str, batch_id: str, error: str | None = None) -> None:
    """Nothing reached WeCom (known for certain): the batch goes back to planned to be sent later."""
    _tx(con)
    con.execute(
        "UPDATE push_recipients SET state = 'planned' WHERE campaign_id = ? AND batch_id = ? AND state = 'in_flight'",
        [campaign_id, batch_id],
    )
    con.execute(
        "UPDATE push_batches SET state = 'planned', error = ? WHERE campaign_id = ? AND batch_id = ?",
        [error, campaign_id, batch_id],
    )
    con.execute("COMMIT")


def finish_campaign(con, campaign_id: str, *, now: datetime | None = None) -> dict:
    """Set the campaign's status from its recipients; return the counts per state."""
    now = now or utcnow()
    counts = state_counts(con, campaign_id)
    status_now = con.execute("SELECT status FROM push_campaigns WHERE campaign_id = ?", [campaign_id]).fetchone()[0]
    if status_now == "cancelled":
        return counts
    if counts.get("planned", 0) or counts.get("in_flight", 0):
        status = "sending"
    elif counts.get("failed", 0):
        status = "partial"
    elif counts.get("sent", 0):
        status = "sent"
    else:
        status = "empty"
    con.execute(
        "UPDATE push_campaigns SET status = ?, updated_at = ?, "
        "sent_at = CASE WHEN ? IN ('sent','partial') THEN coalesce(sent_at, ?) ELSE sent_at END "
        "WHERE campaign_id = ?",
        [status, now, status, now, campaign_id],
    )
    return counts


def state_counts(con, campaign_id: str) -> dict[str, int]:
    return dict(
        con.execute(
            "SELECT state, count(*) FROM push_recipients WHERE campaign_id = ? GROUP BY state", [campaign_id]
        ).fetchall()
    )


#: the columns of :func:`recipient_rows`, in order
RECIPIENT_COLUMNS = ("recipient_id", "member_id", "sender", "batch_id", "state", "delivery", "reason", "msgid",
                     "sent_at", "delivered_at")


def recipient_rows(con, campaign_id: str) -> list[tuple]:
    """One row per recipient of a campaign (:data:`RECIPIENT_COLUMNS`), by recipient id."""
    return con.execute(f"SELECT {', '.join(RECIPIENT_COLUMNS)} FROM push_recipients WHERE campaign_id = ? "
                       "ORDER BY recipient_id", [campaign_id]).fetchall()


def campaign_count(con) -> int:
    """How many campaigns the store holds (0: push never ran)."""
    return con.execute("SELECT count(*) FROM push_campaigns").fetchone()[0]


def not_friend_sends_sql() -> str:
    """SQL of (recipient_id, sender, at): each send WeCom answered "not a friend" (status 2), with when."""
    return ("SELECT recipient_id, sender, coalesce(delivered_at, sent_at) AS at FROM push_recipients "
            "WHERE delivery = 'not_friend' AND coalesce(delivered_at, sent_at) IS NOT NULL")


def skipped_reasons(con, campaign_ids: list[str]) -> list[tuple[str | None, int]]:
    """(reason, recipients) of the recipients skipped by policy in these campaigns, the most common first."""
    return con.execute(
        "SELECT reason, count(*) FROM push_recipients WHERE state = 'skipped' "
        "AND campaign_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1 ORDER BY 2 DESC, 1", [campaign_ids]).fetchall()
