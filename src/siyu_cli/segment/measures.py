"""R/F/M measures per member, computed in DuckDB SQL (orders never come into Python).

Definitions (docs/segment.md repeats them for users):

* A *purchase* is an order with a member, a payment time, a status other than
  ``cancelled``/``unpaid``, and a positive net amount (paid − refunded). So a
  fully refunded order, a refund larger than the order, or a zero-value order
  is not a purchase and adds nothing to F or M.
* Days are local calendar days in the workspace timezone: an order paid at
  23:30 Shanghai time on 1 May counts on 1 May even though it is 15:30 UTC.
* The as-of date is inclusive (orders paid up to 23:59:59 local on that day);
  ``--window 365d`` keeps purchases on the 365 local days ending at the as-of date.
* recency_days = as-of date − local date of the last purchase (0 = bought on the as-of day).
* frequency = number of purchases (``orders``) or of distinct purchase days (``days``).
* monetary = net paid amount summed over purchases (``total``) or that sum ÷ frequency (``average``).
* Every member is kept: members without a purchase in the window get frequency 0,
  recency NULL, monetary 0 and end up in the 未购 / no_purchase group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from siyu_cli.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

FREQUENCY_UNITS = ("orders", "days")
MONETARY_MODES = ("total", "average")

_WINDOW = re.compile(r"^\s*(\d+)\s*([dwmy])\s*$", re.I)
_WINDOW_UNITS = {"d": "DAY", "w": "WEEK", "m": "MONTH", "y": "YEAR"}


@dataclass(frozen=True)
class MeasureParams:
    as_of: date
    timezone: str
    window: str | None = None  # normalised, e.g. "365d"; None = all history
    frequency_unit: str = "orders"
    monetary: str = "total"

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "timezone": self.timezone,
            "window": self.window,
            "frequency_unit": self.frequency_unit,
            "monetary": self.monetary,
        }


@dataclass
class MeasureStats:
    members: int = 0
    buyers: int = 0
    excluded: dict[str, int] = field(default_factory=dict)


def parse_window(window: str | None) -> str | None:
    """``365d`` / ``52w`` / ``12m`` / ``2y`` / ``all`` → normalised text (None for all history)."""
    if window is None or str(window).strip().lower() in ("", "all"):
        return None
    m = _WINDOW.match(str(window))
    if not m or int(m.group(1)) <= 0:
        raise UsageError(f"--window must look like 365d, 26w, 12m, 1y or all, not {window!r}")
    return f"{int(m.group(1))}{m.group(2).lower()}"


def parse_as_of(value: str | date | None, timezone: str) -> date:
    """An explicit date (YYYY-MM-DD), or today in the workspace timezone."""
    if value is None or value == "":
        from zoneinfo import ZoneInfo

        return datetime.now(ZoneInfo(timezone)).date()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise UsageError(f"--as-of must be a date like 2026-11-28, not {value!r}") from None


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    value = str(value).strip().lower()
    if value not in choices:
        raise UsageError(f"--{name.replace('_', '-')} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _window_start_sql(params: MeasureParams) -> str:
    """SQL for the exclusive lower bound of local purchase dates (NULL = none)."""
    if params.window is None:
        return "NULL::DATE"
    n, unit = int(params.window[:-1]), _WINDOW_UNITS[params.window[-1]]
    return f"CAST(DATE '{params.as_of.isoformat()}' - INTERVAL {n} {unit} AS DATE)"


def _tz_literal(tz: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", tz):
        raise UsageError(f"invalid time zone {tz!r}")
    return f"'{tz}'"


def order_facts_sql(params: MeasureParams) -> str:
    """One row per order with its member, local paid date, net amount and why it does (not) count."""
    as_of = f"DATE '{params.as_of.isoformat()}'"
    start = _window_start_sql(params)
    return f"""
        SELECT member_id,
               CAST(timezone({_tz_literal(params.timezone)}, paid_at) AS DATE) AS d,
               CASE WHEN paid_amount IS NULL THEN net_amount
                    ELSE paid_amount - coalesce(refund_amount, 0) END AS net,
               CASE
                 WHEN status = 'cancelled' THEN 'cancelled'
                 WHEN status = 'unpaid' OR paid_at IS NULL THEN 'unpaid'
                 WHEN CAST(timezone({_tz_literal(params.timezone)}, paid_at) AS DATE) > {as_of} THEN 'after_as_of'
                 WHEN {start} IS NOT NULL
                      AND CAST(timezone({_tz_literal(params.timezone)}, paid_at) AS DATE) <= {start} THEN 'before_window'
                 WHEN (CASE WHEN paid_amount IS NULL THEN net_amount
                            ELSE paid_amount - coalesce(refund_amount, 0) END) <= 0 THEN 'net_not_positive'
                 WHEN member_id IS NULL THEN 'no_member'
                 ELSE 'purchase'
               END AS why
        FROM orders
    """


def build_measures(con: "duckdb.DuckDBPyConnection", params: MeasureParams, table: str = "seg_measures") -> MeasureStats:
    """Create TEMP TABLE ``table`` (member_id, recency_days, frequency, monetary, revenue, first/last_purchase)."""
    as_of = f"DATE '{params.as_of.isoformat()}'"
    freq = "count(*)" if params.frequency_unit == "orders" else "count(DISTINCT d)"
    monetary = (
        "coalesce(a.revenue, 0)"
        if params.monetary == "total"
        else "CASE WHEN a.frequency > 0 THEN round(a.revenue / a.frequency, 2) ELSE 0 END"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        WITH facts AS ({order_facts_sql(params)}),
        agg AS (
            SELECT member_id,
                   max(d) AS last_purchase,
                   min(d) AS first_purchase,
                   {freq} AS frequency,
                   sum(net) AS revenue
            FROM facts WHERE why = 'purchase'
            GROUP BY member_id
        ),
        universe AS (
            SELECT member_id FROM members
            UNION
            SELECT member_id FROM agg
        )
        SELECT u.member_id,
               CAST({as_of} - a.last_purchase AS INTEGER) AS recency_days,
               CAST(coalesce(a.frequency, 0) AS INTEGER) AS frequency,
               CAST({monetary} AS DECIMAL(18,2)) AS monetary,
               CAST(coalesce(a.revenue, 0) AS DECIMAL(18,2)) AS revenue,
               a.first_purchase,
               a.last_purchase
        FROM universe u LEFT JOIN agg a USING (member_id)
        """
    )
    stats = MeasureStats()
    stats.members, stats.buyers = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE frequency > 0) FROM {table}"
    ).fetchone()
    rows = con.execute(
        f"SELECT why, count(*) FROM ({order_facts_sql(params)}) WHERE why <> 'purchase' GROUP BY why ORDER BY why"
    ).fetchall()
    stats.excluded = {why: int(n) for why, n in rows}
    return stats
