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
from siyu_cli.i18n import _

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
        raise UsageError(_('--window must look like 365d, 26w, 12m, 1y or all, not {window!r}').format(window=window))
    return f"{int(m.group(1))}{m.group(2).lower()}"


def parse_as_of(value: str | date | None, timezone: str) -> date:
    """An explicit date (YYYY-MM-DD), or today in the workspace timezone."""
    if value is None or value == "":
        from siyu_cli import clock

        return clock.today(timezone)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise UsageError(_('--as-of must be a date like 2026-11-28, not {value!r}').format(value=value)) from None


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    value = str(value).strip().lower()
    if value not in choices:
        raise UsageError(_('--{replace} must be one of {join}, not {value!r}').format(replace=name.replace('_', '-'), join=', '.join(choices), value=value))
    return value


def _minus(day: date, n: int, unit: str) -> date:
    """``day`` minus n days/weeks/months/years (months and years clamp to the month's last day)."""
    import calendar
    from datetime import timedelta

    if unit in ("d", "w"):
        return day - timedelta(days=n * (7 if unit == "w" else 1))
    months = n * (12 if unit == "y" else 1)
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    m += 1
    return date(y, m, min(day.day, calendar.monthrange(y, m)[1]))


def bounds(params: MeasureParams) -> tuple[str | None, str]:
    """[start, end) as TIMESTAMPTZ literals: local midnights in the workspace timezone.

    Comparing ``paid_at`` with two instants avoids converting every order to a
    local date; only each member's first/last purchase is converted.
    """
    from datetime import time, timedelta
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(params.timezone)

    def midnight(day: date) -> str:
        return "TIMESTAMPTZ '" + datetime.combine(day, time(0), tzinfo=tz).isoformat(sep=" ") + "'"

    end = midnight(params.as_of + timedelta(days=1))
    if params.window is None:
        return None, end
    first_excluded = _minus(params.as_of, int(params.window[:-1]), params.window[-1])
    return midnight(first_excluded + timedelta(days=1)), end


def _tz_literal(tz: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", tz):
        raise UsageError(_('invalid time zone {tz!r}').format(tz=tz))
    return f"'{tz}'"


#: An order's net paid amount: the loader's ``net_amount`` (paid − refunded for paid, partially refunded and
#: refunded orders, never below 0; 0 for unpaid and cancelled ones — docs/schema.md). Reading the stored
#: column rather than re-deriving it from paid/refund per row keeps the one 10M-row scan ~20% cheaper,
#: and the report's revenue KPIs read the same column, so both agree by construction.
_NET = "net_amount"


def excluded_sql(params: MeasureParams) -> str:
    """Why each non-purchase order does not count, as (why, orders) rows."""
    start, end = bounds(params)
    before = f"WHEN paid_at < {start} THEN 'before_window'" if start else ""
    return f"""
        SELECT why, count(*) FROM (
            SELECT CASE
                     WHEN status = 'cancelled' THEN 'cancelled'
                     WHEN status = 'unpaid' OR paid_at IS NULL THEN 'unpaid'
                     WHEN paid_at >= {end} THEN 'after_as_of'
                     {before}
                     WHEN {_NET} <= 0 THEN 'net_not_positive'
                     WHEN member_id IS NULL THEN 'no_member'
                     ELSE 'purchase'
                   END AS why
            FROM orders
        ) WHERE why <> 'purchase' GROUP BY why ORDER BY why
    """


def local_date_sql(con: "duckdb.DuckDBPyConnection", tz: str):
    """A function col → SQL for the local calendar date of TIMESTAMPTZ ``col`` in time zone ``tz`` (a literal).

    ``timezone(tz, ts)`` asks ICU for every value, which costs more than the rest
    of the per-buyer work. When the zone's UTC offset is the same at every hour
    from the first to the last ``paid_at`` in ``orders`` (asked of ICU itself,
    so the same tz database decides; Asia/Shanghai has had no DST since 1991),
    the date is plain arithmetic: UTC microseconds + that offset, cast to DATE.
    Otherwise (DST zones, or a span so long that checking it would cost more
    than converting) every value goes through ICU as before.
    """
    icu = lambda col: f"CAST(timezone({tz}, {col}) AS DATE)"  # noqa: E731
    lo, hi, rows = con.execute("SELECT epoch(min(paid_at)), epoch(max(paid_at)), count(*) FROM orders").fetchone()
    if lo is None or (hi - lo) / 3600 > max(rows, 10_000):
        return icu
    lo, hi = int(lo // 3600 * 3600), int(hi)
    low, high = con.execute(
        f"""SELECT min(o), max(o) FROM (
               SELECT epoch_us(timezone({tz}, t)) - epoch_us(t) AS o
               FROM (SELECT to_timestamp(s) AS t FROM range({lo}, {hi + 3601}, 3600) r(s)))"""
    ).fetchone()
    if low is None or low != high:
        return icu
    return lambda col: f"CAST(make_timestamp(epoch_us({col}) + {int(low)}) AS DATE)"


def build_buyers(con: "duckdb.DuckDBPyConnection", params: MeasureParams, table: str = "seg_buyers") -> MeasureStats:
    """Create TEMP TABLE ``table``: one row per buyer (member_id, recency_days, frequency, monetary, revenue,
    first_purchase, last_purchase), typed as segment_members stores them.

    One scan of ``orders``; only each buyer's first/last purchase is converted to a
    local date. Members without a purchase join in later (:func:`member_measures_sql`),
    straight into the snapshot insert, so the per-member table is never materialised twice.
    ``stats.members`` is filled in by the caller from that insert.
    """
    as_of = f"DATE '{params.as_of.isoformat()}'"
    tz = _tz_literal(params.timezone)
    start, end = bounds(params)
    local_date = local_date_sql(con, tz)
    freq = "count(*)" if params.frequency_unit == "orders" else f"count(DISTINCT {local_date('paid_at')})"
    monetary = "revenue" if params.monetary == "total" else "round(revenue / frequency, 2)"
    created = con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        WITH agg AS (
            SELECT member_id,
                   max(paid_at) AS last_at,
                   min(paid_at) AS first_at,
                   {freq} AS frequency,
                   sum({_NET}) AS revenue
            FROM orders
            WHERE member_id IS NOT NULL AND status NOT IN ('cancelled', 'unpaid')
              AND paid_at < {end} {f"AND paid_at >= {start}" if start else ""}
              AND {_NET} > 0
            GROUP BY member_id
        ),
        b AS (
            SELECT member_id, frequency, revenue,
                   {local_date('last_at')} AS last_d,
                   {local_date('first_at')} AS first_d,
                   CAST({monetary} AS DECIMAL(18,2)) AS mon
            FROM agg
        )
        SELECT member_id,
               CAST({as_of} - last_d AS INTEGER) AS recency_days,
               CAST(frequency AS INTEGER) AS frequency,
               CAST(mon AS DECIMAL(18,2)) AS monetary,
               CAST(revenue AS DECIMAL(18,2)) AS revenue,
               first_d AS first_purchase,
               last_d AS last_purchase
        FROM b
        """
    )
    stats = MeasureStats()
    stats.buyers = int(created.fetchone()[0])  # CREATE TABLE AS returns its row count
    stats.excluded = {why: int(n) for why, n in con.execute(excluded_sql(params)).fetchall()}
    return stats


def member_measures_sql(buyers: str) -> str:
    """Every member (and every buyer id not in ``members``) with measures; non-buyers get F 0, M 0, R NULL."""
    return f"""
        SELECT coalesce(m.member_id, b.member_id) AS member_id,
               b.recency_days,
               CAST(coalesce(b.frequency, 0) AS INTEGER) AS frequency,
               CAST(coalesce(b.monetary, 0) AS DECIMAL(18,2)) AS monetary,
               CAST(coalesce(b.revenue, 0) AS DECIMAL(18,2)) AS revenue,
               b.first_purchase,
               b.last_purchase
        FROM (SELECT member_id FROM members) m FULL OUTER JOIN {buyers} b ON b.member_id = m.member_id
    """


#: What each quintile score ranks, worst first: R by last purchase (oldest first), F and M smallest first.
SCORE_KEYS = {"r": ("-recency_days", "INTEGER"), "f": ("frequency", "INTEGER"), "m": ("monetary", "DECIMAL(18,2)")}


@dataclass(frozen=True)
class QuintileCuts:
    """Per dimension the values a[c_k − 1] (k = 2..5) of the buyers sorted worst → best.

    score = min(5, 1 + ⌊5·(rank−1)/(n−1)⌋) with rank = 1 + #(values worse than v)
    (SQL ``rank()``), so score ≥ k ⇔ #(worse) ≥ c_k = ⌈(k−1)(n−1)/5⌉ ⇔ v > a[c_k − 1].
    Four order statistics per dimension replace three window sorts over all buyers,
    and give exactly the same scores (ties included). ``n`` ≤ 1: everyone scores 1.
    """

    n: int
    cuts: dict[str, list[Any]]

    def score_sql(self, dim: str) -> str:
        """INTEGER 1–5 for a buyer row (columns recency_days/frequency/monetary in scope)."""
        if self.n <= 1:
            return "1"
        expr, typ = SCORE_KEYS[dim]
        terms = " + ".join(f"CAST(({expr}) > {_typed(v, typ)} AS INTEGER)" for v in self.cuts[dim])
        return f"CAST(1 + {terms} AS INTEGER)"


def _typed(value: Any, typ: str) -> str:
    if typ == "INTEGER":
        return str(int(value))
    return f"CAST('{value}' AS {typ})"


def quintile_cuts(con: "duckdb.DuckDBPyConnection", buyers: str) -> QuintileCuts:
    """The exact cut values for R/F/M quintile scores (see :class:`QuintileCuts`).

    R and F are whole days / counts with few distinct values: one GROUP BY gives
    their histograms (a few hundred rows) and the cut values are read off the
    cumulative counts in Python, exactly. M (cents, up to one value per buyer):
    ``quantile_disc`` (a selection, not a sort) proposes each a[c − 1]; one counting
    pass proves it (#(< t) < c ≤ #(≤ t) holds for a[c − 1] and nothing else). A
    candidate that fails the proof is replaced by an ORDER BY … OFFSET lookup, so the
    result never depends on how a DuckDB version rounds quantile positions.
    """
    n = int(con.execute(f"SELECT count(*) FROM {buyers}").fetchone()[0])
    if n <= 1:
        return QuintileCuts(n, {d: [] for d in SCORE_KEYS})
    positions = [-(-(k - 1) * (n - 1) // 5) for k in range(2, 6)]  # c_k = ceil((k-1)(n-1)/5) >= 1
    cuts: dict[str, list[Any]] = {}
    exact = ("r", "f")
    hist = con.execute(
        " UNION ALL ".join(
            f"SELECT {i} AS d, v, count(*) AS c FROM (SELECT CAST({SCORE_KEYS[d][0]} AS BIGINT) AS v FROM {buyers}) "
            "WHERE v IS NOT NULL GROUP BY v"
            for i, d in enumerate(exact)
        )
        + " ORDER BY d, v"
    ).fetchall()
    for i, d in enumerate(exact):
        values, below, j = [], 0, 0
        for _bucket, v, c in (row for row in hist if row[0] == i):
            below += c  # values ≤ v
            while j < len(positions) and positions[j] <= below:  # a[c - 1] = smallest v with #(≤ v) ≥ c
                values.append(int(v))
                j += 1
        cuts[d] = values
    sampled = ("m",)
    qs = "[" + ", ".join(repr((c - 0.5) / n) for c in positions) + "]"
    row = con.execute(
        "SELECT " + ", ".join(f"CAST(quantile_disc({SCORE_KEYS[d][0]}, {qs}) AS {SCORE_KEYS[d][1]}[])" for d in sampled)
        + f" FROM {buyers}"
    ).fetchone()
    cuts.update({d: list(row[i]) for i, d in enumerate(sampled)})
    checks = []
    for d in sampled:
        expr, typ = SCORE_KEYS[d]
        for t in cuts[d]:
            lit = _typed(t, typ)
            checks.append(f"sum(CAST(({expr}) < {lit} AS INTEGER))")  # cheaper than 8 FILTER clauses
            checks.append(f"sum(CAST(({expr}) <= {lit} AS INTEGER))")
    counts = con.execute(f"SELECT {', '.join(checks)} FROM {buyers}").fetchone()
    i = 0
    for d in sampled:
        expr = SCORE_KEYS[d][0]
        for j, c in enumerate(positions):
            below, upto = counts[i], counts[i + 1]
            i += 2
            if not (below < c <= upto):
                cuts[d][j] = con.execute(
                    f"SELECT {expr} AS v FROM {buyers} ORDER BY v LIMIT 1 OFFSET {c - 1}"
                ).fetchone()[0]
    return QuintileCuts(n, {d: cuts[d] for d in SCORE_KEYS})
