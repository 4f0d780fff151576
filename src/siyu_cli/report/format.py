"""How report values read: money, ratios and counts, shared by the terminal and HTML renderers.

One format for people everywhere (``siyu_cli.formatting``); these names keep the report's vocabulary.
"""

from __future__ import annotations

from typing import Any

from siyu_cli import formatting as _f
from siyu_cli.report.kpis import KPI_BY_ID

fmt_money = _f.money
fmt_ratio = _f.ratio
fmt_count = _f.count
fmt_number = _f.number
VERDICTS = _f.VERDICTS


def fmt_kpi(kpi_id: str, value: Any, currency: str = "CNY") -> str:
    unit = KPI_BY_ID[kpi_id].unit if kpi_id in KPI_BY_ID else "count"
    return {"money": lambda v: fmt_money(v, currency), "ratio": fmt_ratio, "count": fmt_count}.get(unit, fmt_number)(value)
