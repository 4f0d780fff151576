"""How report values read: money, ratios and counts, shared by the terminal and HTML renderers."""

from __future__ import annotations

from typing import Any

from siyu_cli.report.kpis import KPI_BY_ID


def fmt_money(value: Any, currency: str = "CNY") -> str:
    if value is None:
        return "—"
    symbol = "¥" if currency in ("CNY", "RMB") else f"{currency} "
    v = float(value)
    if abs(v) >= 1_000_000:
        return f"{symbol}{v / 10_000:,.1f}万"
    return f"{symbol}{v:,.2f}" if abs(v) < 1000 else f"{symbol}{v:,.0f}"


def fmt_ratio(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"


def fmt_count(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


def fmt_number(value: Any) -> str:
    return "—" if value is None else f"{float(value):.2f}"


def fmt_kpi(kpi_id: str, value: Any, currency: str = "CNY") -> str:
    unit = KPI_BY_ID[kpi_id].unit if kpi_id in KPI_BY_ID else "count"
    return {"money": lambda v: fmt_money(v, currency), "ratio": fmt_ratio, "count": fmt_count}.get(unit, fmt_number)(value)
