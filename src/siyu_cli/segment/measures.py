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
from datetime import UTC, date, datetime
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


def _tz_literal(tz: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]+", tz):
        raise UsageError(_('invalid time zone {tz!r}').format(tz=tz))
    return f"'{tz}'"


#: The start bound when there is no window: before any order siyu can load (the query keeps one shape).
_ALL_HISTORY = datetime(1700, 1, 1, tzinfo=UTC)


def query_params(params: MeasureParams) -> dict[str, Any]:
    """The bound parameters of segment/buyers and segment/excluded: as-of day and [start, end) instants."""
    from datetime import time, timedelta
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(params.timezone)
    end = datetime.combine(params.as_of + timedelta(days=1), time(0), tzinfo=tz)
    start = _ALL_HISTORY
    if params.window is not None:
        first_excluded = _minus(params.as_of, int(params.window[:-1]), params.window[-1])
        start = datetime.combine(first_excluded + timedelta(days=1), time(0), tzinfo=tz)
    return {"as_of": params.as_of, "start": start, "end": end}


def query_choices(params: MeasureParams) -> dict[str, str]:
    """The structural choices of segment/buyers."""
    return {"frequency_unit": params.frequency_unit, "monetary": params.monetary}


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


def prepare_functions(con: "duckdb.DuckDBPyConnection", timezone: str) -> None:
    """Define the queries' engine functions (``siyu_local_date``) on ``con`` for this workspace's timezone."""
    from siyu_cli import sql

    sql.define_duckdb_functions(con, local_date_sql(con, _tz_literal(timezone)))


def build_buyers(con: "duckdb.DuckDBPyConnection", params: MeasureParams, table: str = "seg_buyers",
                 runner=None) -> MeasureStats:
    """Create TEMP TABLE ``table``: one row per buyer (member_id, recency_days, frequency, monetary, revenue,
    first_purchase, last_purchase), typed as segment_members stores them (query segment/buyers).

    One scan of ``orders``; only each buyer's first/last purchase is converted to a local date. Members
    without a purchase join in later (segment/members), straight into the snapshot insert, so the
    per-member table is never materialised twice. ``stats.members`` is filled in by the caller.
    With a Spark ``runner`` (:mod:`siyu_cli.engine`) both queries run on Spark and land here the same.
    """
    from siyu_cli import sql

    stats = MeasureStats()
    if runner is not None:
        stats.buyers = runner.table(con, table, "segment/buyers", query_params(params), **query_choices(params))
        stats.excluded = excluded_counts(runner.rows("segment/excluded", query_params(params)))
        return stats
    prepare_functions(con, params.timezone)
    stats.buyers = sql.create_duckdb_table(con, table, "segment/buyers", query_params(params), **query_choices(params))
    stats.excluded = excluded_counts(sql.run_duckdb(con, "segment/excluded", query_params(params)).fetchall())
    return stats


def excluded_counts(rows) -> dict[str, int]:
    return {why: int(n) for why, n in rows}


def member_measures_sql(buyers: str) -> str:
    """Every member with measures (query segment/members, which reads ``seg_buyers``)."""
    from siyu_cli import sql

    if buyers != "seg_buyers":
        raise ValueError("segment/members reads seg_buyers")
    return sql.render("segment/members")


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

    def params(self) -> dict[str, Any]:
        """The cut values as the bound parameters of segment/quintile_scores ($r1..$r4, $f1..$f4, $m1..$m4)."""
        return {f"{d}{k + 1}": (self.cuts[d][k] if self.n > 1 else None) for d in SCORE_KEYS for k in range(4)}


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
