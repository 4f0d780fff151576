"""``bought:`` audiences: members by purchase history (query ``audience/bought`` of :mod:`siyu_cli.sql`).

Spec: ``bought:`` then conditions joined by ``,`` (all must hold), e.g.
``bought:category=茶叶,within=90d,times>=2,spend>=200``:

=======================  ============================================================================
``sku=A1``               an order line of SKU A1 (exact)
``category=茶叶``         an order line of that category (exact)
``product=铁观音 250g``   an order line of that product name (exact); ``product~乌龙``: the name contains
                         乌龙 (any case)
``within=90d``           paid in the last N local calendar days (today included); ``since=2026-01-01``:
                         paid on or after that local day
``times>=2``             at least N such orders (default 1)
``spend>=200``           those orders (with a product condition: the matching lines) add up to at least 200
``any``                  no condition: every member who ever bought
=======================  ============================================================================

It runs on the store's DuckDB by default and on Spark when ``[engine] kind = "spark"`` (orders and, for a
product condition, ``engine.order_lines`` from the lake); either way the member ids come back and the
audience is a list of them, like ``sql:``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from siyu_cli.errors import ConfigError, DataError, UsageError
from siyu_cli.i18n import _

QUERY = "audience/bought"
#: product conditions: spec key → the query's @if choice (and its parameter)
LINE_KEYS = {("sku", "="): "sku", ("category", "="): "category", ("product", "="): "product",
             ("product", "~"): "product_like"}
_CONDITION = re.compile(r"^\s*([a-z]+)\s*(>=|=|~)\s*(.*?)\s*$")


@dataclass
class BoughtSpec:
    """A parsed ``bought:`` spec: the query's choices and parameters (``since`` is resolved at run time)."""

    lines: dict[str, str] = field(default_factory=dict)  # choice → value (sku, category, product, product_like)
    within_days: int | None = None
    since_day: date | None = None
    times: int = 1
    spend: Decimal | None = None

    def choices(self) -> dict[str, bool]:
        out = {name: name in self.lines for name in LINE_KEYS.values()}
        out.update(lines=bool(self.lines), since=self.within_days is not None or self.since_day is not None,
                   spend=self.spend is not None)
        return out

    def params(self, timezone: str, today: date) -> dict[str, Any]:
        from zoneinfo import ZoneInfo

        out: dict[str, Any] = {**self.lines, "times": self.times, "spend": self.spend}
        day = self.since_day or (today - timedelta(days=self.within_days - 1) if self.within_days else None)
        out["since"] = datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)) if day else None
        return out


def _bad(part: str) -> UsageError:
    return UsageError(_('bought: conditions look like sku=A1, category=茶叶, product=NAME, product~乌龙, within=90d, '
                        'since=2026-01-01, times>=2, spend>=200 or any (joined by ","); not {part!r}').format(part=part))


def parse_bought(rest: str) -> BoughtSpec:
    """The conditions of ``bought:REST``; a malformed or repeated one is a one-line :class:`UsageError`."""
    spec, seen = BoughtSpec(), set()
    parts = rest.split(",")
    if [p.strip().lower() for p in parts] == ["any"]:
        return spec
    for part in parts:
        m = _CONDITION.match(part)
        if not m or not m.group(3):
            raise _bad(part.strip())
        key, op, value = m.groups()
        name = LINE_KEYS.get((key, op)) or (key if (key, op) in {("within", "="), ("since", "="), ("times", ">="),
                                                                   ("spend", ">=")} else None)
        if name is None:
            raise _bad(part.strip())
        slot = "window" if key in ("within", "since") else key
        if slot in seen:
            raise UsageError(_('bought: {key} is given twice').format(key=key))
        seen.add(slot)
        _set(spec, name, value, part.strip())
    return spec


def _set(spec: BoughtSpec, name: str, value: str, part: str) -> None:
    if name in LINE_KEYS.values():
        spec.lines[name] = value
    elif name == "within":
        m = re.fullmatch(r"(\d{1,5})d", value)
        if not m or int(m.group(1)) < 1:
            raise _bad(part)
        spec.within_days = int(m.group(1))
    elif name == "since":
        try:
            spec.since_day = date.fromisoformat(value)
        except ValueError:
            raise _bad(part) from None
    elif name == "times":
        if not re.fullmatch(r"\d{1,9}", value) or int(value) < 1:
            raise _bad(part)
        spec.times = int(value)
    else:
        try:
            spec.spend = Decimal(value).quantize(Decimal("0.01"))
        except InvalidOperation:
            raise _bad(part) from None
        if not spec.spend.is_finite() or spec.spend < 0 or spec.spend >= Decimal("1e16"):
            raise _bad(part)


def bought_ids(con, settings, rest: str, *, now: datetime | None = None) -> list[str]:
    """The member ids of ``bought:REST`` — on Spark with ``[engine] kind = "spark"``, else on ``con`` (DuckDB)."""
    from zoneinfo import ZoneInfo

    from siyu_cli import clock, sql
    from siyu_cli.engine import engine_config

    spec = parse_bought(rest)
    today = (now or clock.now()).astimezone(ZoneInfo(settings.timezone)).date()
    params, choices = spec.params(settings.timezone, today), spec.choices()
    cfg = engine_config(settings)
    if not cfg.spark:
        return [str(r[0]) for r in sql.run_duckdb(con, QUERY, params, **choices).fetchall()]
    if spec.lines and not cfg.order_lines:
        raise ConfigError(_('{file}: engine.order_lines must say where the order lines live (a Parquet folder or '
                            'table:NAME) for a bought: audience on a product, SKU or category; `siyu export lake DIR` '
                            'writes DIR/order_lines').format(file=settings.config_file))
    from siyu_cli.engine import SparkRunner, first_line

    runner = SparkRunner(settings, cfg)
    try:
        rows = runner.rows(QUERY, params, **choices)
    except Exception as exc:  # the lake's tables lack a column the query reads, or have another type
        raise DataError(_('bought: Spark cannot run it over the lake ({value}); the lake needs the store\'s columns '
                          '(docs/scale.md)').format(value=first_line(exc))) from None
    return [str(r[0]) for r in rows]
