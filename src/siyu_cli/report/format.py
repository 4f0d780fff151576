"""How report values read: money, ratios and counts, shared by the terminal and HTML renderers.

One format for people everywhere (``siyu_cli.formatting``); these names keep the report's vocabulary.
"""

from __future__ import annotations

from typing import Any

from siyu_cli import formatting as _f
from siyu_cli.i18n import N_
from siyu_cli.report.kpis import KPI_BY_ID

fmt_money = _f.money
fmt_ratio = _f.ratio
fmt_count = _f.count
fmt_number = _f.number

#: experiment verdicts (stable ids in the data, push/experiments.py) as people read them (translated where shown)
VERDICTS = {"significant": N_("significant"), "significant_so_far": N_("significant so far (window still open)"),
            "no_clear_difference": N_("no clear difference"), "not_enough_data": N_("not enough data")}


def fmt_kpi(kpi_id: str, value: Any, currency: str = "CNY") -> str:
    unit = KPI_BY_ID[kpi_id].unit if kpi_id in KPI_BY_ID else "count"
    return {"money": lambda v: fmt_money(v, currency), "ratio": fmt_ratio, "count": fmt_count}.get(unit, fmt_number)(value)
