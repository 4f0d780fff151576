"""How siyu writes numbers and times for people: one money format, one ratio format, local times.

One rule for money everywhere (report terminal and HTML, push, segment, CLV): the currency symbol,
thousands separators and exactly two decimals (``¥28,769,028.00``, ``¥624.00``) — exact to the fen,
never abbreviated (no ``万``), so a column of amounts lines up and no total is rounded away.
Machine outputs (json/csv) keep raw numbers; these functions are for people only.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from siyu_cli.i18n import N_

DASH = "—"

#: experiment verdicts (stable ids in the data, push/experiments.py) as people read them (translated where shown)
VERDICTS = {"significant": N_("significant"), "significant_so_far": N_("significant so far (window still open)"),
            "no_clear_difference": N_("no clear difference"), "not_enough_data": N_("not enough data")}
_SYMBOLS = {"CNY": "¥", "RMB": "¥"}


def money(value: Any, currency: str = "CNY") -> str:
    """``1234.5`` → ``¥1,234.50``; ``None`` → ``—``; other currencies as ``USD 1,234.50``."""
    if value is None:
        return DASH
    try:
        amount = Decimal(str(value).replace(",", "").replace("¥", "").replace("￥", "").strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount") from None
    amount = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    symbol = _SYMBOLS.get((currency or "CNY").upper(), f"{currency} ")
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{abs(amount):,.2f}"


def ratio(value: Any) -> str:
    """``0.1234`` → ``12.3%``."""
    return DASH if value is None else f"{float(value) * 100:.1f}%"


def count(value: Any) -> str:
    """``12345`` → ``12,345``."""
    return DASH if value is None else f"{int(value):,}"


def number(value: Any, digits: int = 2) -> str:
    """A measure that is neither money nor a count (``1.77``), thousands grouped."""
    return DASH if value is None else f"{float(value):,.{digits}f}"


def local_time(value: datetime | date | str | None, tz: tzinfo | str | None = None, *, seconds: bool = False) -> str:
    """An instant as the workspace's wall-clock time (``2026-12-07 13:27``); dates and text pass through.

    Naive datetimes are taken as UTC (siyu stores aware instants; DuckDB hands back naive UTC for
    ``TIMESTAMP`` columns).
    """
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(tz, str):
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(tz)
    if value.tzinfo is None:
        from datetime import timezone

        value = value.replace(tzinfo=timezone.utc)
    if tz is not None:
        value = value.astimezone(tz)
    return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
