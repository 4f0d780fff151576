"""The one place siyu asks what time it is.

Every default "now" and "today" goes through :func:`now` / :func:`today`, so a whole command can be run
at another moment: ``SIYU_NOW=2026-11-24T09:00+08:00 siyu push due`` behaves as if started then. The
moved clock keeps ticking (it is an offset from the real clock, fixed when the value is first read), so
durations, lock ages and timeouts stay real. A value without an offset is read as UTC; a date alone is
midnight UTC. Tests use it to prove a command does not depend on the calendar date.

WeCom token expiry and log/lock timestamps stay on the real clock (they talk to the outside world).
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone, tzinfo
from siyu_cli.i18n import _

ENV = "SIYU_NOW"

_offsets: dict[str, timedelta] = {}


def parse_now(value: str) -> datetime:
    """``SIYU_NOW``'s value as an aware datetime (ConfigError when it is not ISO 8601)."""
    from siyu_cli.errors import ConfigError

    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(_('{ENV} must be an ISO date or datetime such as 2026-11-24T09:00+08:00, not {value!r}').format(ENV=ENV, value=value)) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def offset() -> timedelta:
    """How far the moved clock is from the real one (zero when ``SIYU_NOW`` is unset)."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return timedelta(0)
    if value not in _offsets:
        _offsets[value] = parse_now(value) - datetime.now(timezone.utc)
    return _offsets[value]


def now(tz: tzinfo | None = None) -> datetime:
    """The current moment, aware, in ``tz`` (default UTC)."""
    moved = offset()  # first: reading it may fix the offset against the real clock
    return (datetime.now(timezone.utc) + moved).astimezone(tz or timezone.utc)


def today(tz: tzinfo | str) -> date:
    """Today's date in ``tz`` (a tzinfo or an IANA name such as ``Asia/Shanghai``)."""
    if isinstance(tz, str):
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(tz)
    return now(tz).date()
