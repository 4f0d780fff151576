"""Who may be messaged, and when: opt-outs, frequency caps and quiet hours.

All limits come from ``[push]`` in siyu.toml, never from constants, because
WeCom's own per-customer limit has changed over the years (4 a month, 1 a
day, and now "days in the month" a month, tightenable by admins to 7 a week
or 1 a day):

    [push]
    platform_cap = "days/month"   # WeCom's per-customer limit: N/day|week|month, N may be "days"
    cap = "2/week"                # the send budget per customer: 1v1 mass messages ("" = off)
    group_cap = "3/day"           # the send budget per group: posts to one customer group ("" = off)
    quiet_hours = "22:00-08:00"   # no customer/group mass-send starts in this window ("" = off)

The caps are one workspace-wide budget across playbooks and campaigns: they are
checked when a campaign is created (so previews and dry runs show who is over it,
counting messages already planned) and again at send time, inside the ledger
transaction that claims each batch (counting only what was sent or is in flight),
so two processes, playbooks or campaigns together cannot exceed them. A recipient
over a cap is recorded as ``skipped`` with the cap as its reason, never sent.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from siyu_cli.errors import ConfigError
from siyu_cli.i18n import N_, _

#: Exclusion reasons (stable ids) with their labels for people (msgids: translate with ``_()`` where shown).
REASONS = {
    "opted_out": N_("opted out"),
    "no_wecom_id": N_("no WeCom id"),
    "not_contact": N_("not a contact of any guide"),
    "platform_cap": N_("over the platform's mass-send limit"),
    "frequency_cap": N_("over the frequency cap"),
    "group_cap": N_("over the group's daily send budget"),
    "quiet_hours": N_("quiet hours"),
    "duplicate": N_("duplicate recipient"),
    "no_owner": N_("group has no owner"),
}

#: Channels whose sends count toward the per-customer mass-send caps.
CAPPED_CHANNELS = ("customer", "group")

DEFAULTS = {"platform_cap": "days/month", "cap": "2/week", "group_cap": "3/day", "quiet_hours": ""}

#: Which channels each cap counts: siyu's per-customer budget only 1v1 mass messages, the
#: per-group budget only group posts, WeCom's own limit both (per customer or per group).
CAP_CHANNELS = {"platform_cap": ("customer", "group"), "frequency_cap": ("customer",), "group_cap": ("group",)}

_CAP = re.compile(r"^\s*(\d+|days)\s*/\s*(day|week|month)\s*$")


@dataclass(frozen=True)
class Cap:
    name: str  # platform_cap | frequency_cap
    limit: int | str  # an int, or "days" (days in the month)
    period: str  # day | week | month

    def limit_at(self, local: datetime) -> int:
        if self.limit == "days":
            return calendar.monthrange(local.year, local.month)[1]
        return int(self.limit)

    def window(self, local: datetime) -> tuple[datetime, datetime]:
        """The calendar window (in the workspace time zone) holding ``local``."""
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.period == "day":
            return day, day + timedelta(days=1)
        if self.period == "week":
            start = day - timedelta(days=day.weekday())
            return start, start + timedelta(days=7)
        start = day.replace(day=1)
        days = calendar.monthrange(start.year, start.month)[1]
        return start, start + timedelta(days=days)

    def describe(self) -> str:
        return f"{self.limit}/{self.period}"

    def applies_to(self, channel: str) -> bool:
        return channel in CAP_CHANNELS.get(self.name, ())


@dataclass(frozen=True)
class Policy:
    caps: tuple[Cap, ...]
    quiet: tuple[time, time] | None
    tz: ZoneInfo

    def in_quiet_hours(self, at: datetime) -> datetime | None:
        """When ``at`` falls in quiet hours, the local time they end; else None."""
        if not self.quiet:
            return None
        local = at.astimezone(self.tz)
        start, end = self.quiet
        t = local.time()
        inside = (start <= t < end) if start < end else (t >= start or t < end)
        if not inside:
            return None
        end_dt = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
        if end_dt <= local:
            end_dt += timedelta(days=1)
        return end_dt


def _parse_cap(name: str, value) -> Cap | None:
    if value in (None, "", "off", False):
        return None
    m = _CAP.match(str(value))
    if not m:
        raise ConfigError(_("siyu.toml: push.{name} must look like '2/week', '1/day' or 'days/month', not {value!r}").format(name=name, value=value))
    limit = m.group(1) if m.group(1) == "days" else int(m.group(1))
    return Cap(name if name != "cap" else "frequency_cap", limit, m.group(2))


def _parse_quiet(value) -> tuple[time, time] | None:
    if value in (None, "", "off", False):
        return None
    m = re.match(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$", str(value))
    if not m:
        raise ConfigError(_("siyu.toml: push.quiet_hours must look like '22:00-08:00', not {value!r}").format(value=value))
    h1, m1, h2, m2 = map(int, m.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ConfigError(_('siyu.toml: push.quiet_hours has an impossible time: {value!r}').format(value=value))
    return time(h1, m1), time(h2, m2)


#: every key [push] may hold
PUSH_KEYS = ("platform_cap", "cap", "group_cap", "quiet_hours", "batch_size", "group_batch_size", "app_batch_size",
             "store_hold_seconds",
             "holdout")  # default holdout share of new customer campaigns (push/experiments.py)


def load_policy(settings, *, overrides: dict | None = None) -> Policy:
    section = settings.section("push")
    unknown = sorted(set(section) - set(PUSH_KEYS))
    if unknown:
        raise ConfigError(_('{config_file}: unknown key push.{value} (known: {join})').format(config_file=settings.config_file, value=unknown[0], join=', '.join(PUSH_KEYS)))
    cfg = {**DEFAULTS, **section, **(overrides or {})}
    caps = tuple(c for c in (_parse_cap(k, cfg.get(k)) for k in ("platform_cap", "cap", "group_cap")) if c)
    return Policy(caps=caps, quiet=_parse_quiet(cfg.get("quiet_hours")), tz=ZoneInfo(settings.timezone))


def optout_condition(alias: str, channel: str) -> str:
    """SQL condition: the recipient row ``alias`` (member_id, recipient_id) is opted out of ``channel``.

    An opt-out may name a member id, an external_userid or a phone number. Written with
    uncorrelated IN-subqueries so DuckDB runs them as hash semi-joins (1M rows in well under a second).
    People erased by ``siyu forget`` count as opted out of everything: their tombstones are keyed
    hashes (``erased_identities``), checked only when there are any.
    """
    ch = channel.replace("'", "")
    oo = f"SELECT member_id FROM optouts WHERE channel IN ('all', '{ch}')"
    from siyu_cli.forget import erased_hashes_sql

    erased = erased_hashes_sql(("external_userid", "member_id"))
    return (
        f"({alias}.member_id IN ({oo}) OR {alias}.recipient_id IN ({oo}) OR {alias}.member_id IN "
        f"(SELECT m.member_id FROM members m WHERE m.phone IN ({oo}))"
        f" OR siyu_keyed('external_userid', {alias}.recipient_id) IN {erased})"
    )


NO_CAP_SQL = "SELECT NULL::VARCHAR AS recipient_id, NULL::VARCHAR AS reason WHERE false"


def over_cap_sql(policy: Policy, channel: str, campaign_id: str, at: datetime, *,
                 states: tuple[str, ...] = ("sent", "in_flight", "planned"),
                 batch_id: str | None = None) -> tuple[str, list]:
    """SQL yielding (recipient_id, reason) for recipients already at a cap in its window around ``at``.

    Counts the recipient's rows in *other* campaigns of the same channel in ``states``:
    at creation sent, in flight and planned (what is already promised), at send time only
    sent and in flight (what has gone or is going). ``batch_id`` limits the check to the
    recipients of that batch of ``campaign_id`` (the send-time check, per claimed batch).
    One scan counts every cap's window (FILTER per cap); when several caps are reached the
    first by name is given ('frequency_cap' < 'group_cap' < 'platform_cap': siyu's own budget).
    """
    caps = sorted((c for c in policy.caps if c.applies_to(channel)), key=lambda c: c.name)
    if not caps:
        return NO_CAP_SQL, []
    local = at.astimezone(policy.tz)
    windows = [c.window(local) for c in caps]
    counts = ", ".join(f"count(*) FILTER (WHERE t >= ? AND t < ?) AS n{i}" for i in range(len(caps)))
    reason = " ".join(f"WHEN n{i} >= ? THEN '{c.name}'" for i, c in enumerate(caps))
    only = ("AND p.recipient_id IN (SELECT recipient_id FROM push_recipients WHERE campaign_id = ? AND batch_id = ?)"
            if batch_id is not None else "")
    marks = ", ".join("?" for _ in states)
    sql = f"""SELECT recipient_id, reason FROM (
                SELECT recipient_id, CASE {reason} END AS reason FROM (
                  SELECT recipient_id, {counts} FROM (
                    SELECT p.recipient_id, coalesce(p.sent_at, c.scheduled_at, c.created_at) AS t
                    FROM push_recipients p JOIN push_campaigns c USING (campaign_id)
                    WHERE c.channel = ? AND c.campaign_id <> ? AND c.status <> 'cancelled'
                      AND p.state IN ({marks}) {only})
                  WHERE t >= ? AND t < ? GROUP BY recipient_id))
              WHERE reason IS NOT NULL"""
    # placeholders in text order: the CASE's limits, the FILTERs' windows, then the WHERE clauses
    params = ([c.limit_at(local) for c in caps] + [x for w in windows for x in w] + [channel, campaign_id, *states]
              + ([campaign_id, batch_id] if batch_id is not None else [])
              + [min(w[0] for w in windows), max(w[1] for w in windows)])
    return sql, params
