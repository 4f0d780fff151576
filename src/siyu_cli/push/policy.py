"""Who may be messaged, and when: opt-outs, frequency caps and quiet hours.

All limits come from ``[push]`` in siyu.toml, never from constants, because
WeCom's own per-customer limit has changed over the years (4 a month, 1 a
day, and now "days in the month" a month, tightenable by admins to 7 a week
or 1 a day):

    [push]
    platform_cap = "days/month"   # WeCom's per-customer limit: N/day|week|month, N may be "days"
    cap = "2/week"                # siyu's own, stricter limit ("" = off)
    quiet_hours = "22:00-08:00"   # no customer/group mass-send starts in this window ("" = off)
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from siyu_cli.errors import ConfigError

#: Exclusion reasons (stable ids) with their Chinese labels.
REASONS = {
    "opted_out": "已退订",
    "no_wecom_id": "无企业微信ID",
    "not_contact": "非任何导购的好友",
    "platform_cap": "超出平台群发上限",
    "frequency_cap": "超出频次上限",
    "quiet_hours": "免打扰时段",
    "duplicate": "重复对象",
    "no_owner": "群无群主",
}

#: Channels whose sends count toward the per-customer mass-send caps.
CAPPED_CHANNELS = ("customer", "group")

DEFAULTS = {"platform_cap": "days/month", "cap": "2/week", "quiet_hours": ""}

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
        raise ConfigError(f"siyu.toml: push.{name} must look like '2/week', '1/day' or 'days/month', not {value!r}")
    limit = m.group(1) if m.group(1) == "days" else int(m.group(1))
    return Cap(name if name != "cap" else "frequency_cap", limit, m.group(2))


def _parse_quiet(value) -> tuple[time, time] | None:
    if value in (None, "", "off", False):
        return None
    m = re.match(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$", str(value))
    if not m:
        raise ConfigError(f"siyu.toml: push.quiet_hours must look like '22:00-08:00', not {value!r}")
    h1, m1, h2, m2 = map(int, m.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ConfigError(f"siyu.toml: push.quiet_hours has an impossible time: {value!r}")
    return time(h1, m1), time(h2, m2)


#: every key [push] may hold
PUSH_KEYS = ("platform_cap", "cap", "quiet_hours", "batch_size", "group_batch_size", "app_batch_size",
             "store_hold_seconds",
             "holdout")  # default holdout share of new customer campaigns (push/experiments.py)


def load_policy(settings, *, overrides: dict | None = None) -> Policy:
    section = settings.section("push")
    unknown = sorted(set(section) - set(PUSH_KEYS))
    if unknown:
        raise ConfigError(f"{settings.config_file}: unknown key push.{unknown[0]} (known: {', '.join(PUSH_KEYS)})")
    cfg = {**DEFAULTS, **section, **(overrides or {})}
    caps = tuple(c for c in (_parse_cap("platform_cap", cfg.get("platform_cap")), _parse_cap("cap", cfg.get("cap"))) if c)
    return Policy(caps=caps, quiet=_parse_quiet(cfg.get("quiet_hours")), tz=ZoneInfo(settings.timezone))


def optout_condition(alias: str, channel: str) -> str:
    """SQL condition: the recipient row ``alias`` (member_id, recipient_id) is opted out of ``channel``.

    An opt-out may name a member id, an external_userid or a phone number. Written with
    uncorrelated IN-subqueries so DuckDB runs them as hash semi-joins (1M rows in well under a second).
    """
    ch = channel.replace("'", "")
    oo = f"SELECT member_id FROM optouts WHERE channel IN ('all', '{ch}')"
    return (
        f"({alias}.member_id IN ({oo}) OR {alias}.recipient_id IN ({oo}) OR {alias}.member_id IN "
        f"(SELECT m.member_id FROM members m WHERE m.phone IN ({oo})))"
    )
