"""What a report is: its settings (``[report]`` in siyu.toml) and :class:`Report`, the plain data
that ``terminal``, ``html`` and ``--format json|csv`` render.

Kept apart from ``report/__init__.py`` (which builds it) so the renderers import the type without
importing the builder.
"""

from __future__ import annotations

from siyu_cli.i18n import _

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from siyu_cli.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings

BY_CHOICES = ("store", "guide", "channel", "month")

#: ``[report]`` keys of siyu.toml and their defaults.
CONFIG_DEFAULTS: dict[str, int] = {
    "period_days": 365,  # default period: this many days ending today
    "active_days": 90,  # last order ≤ this many days before the end: active
    "churn_days": 180,  # last order > this many days before the end: churned (between: silent)
    "campaign_days": 7,  # repurchase window after a campaign
    "head_percent": 20,  # the "20%" of the 80/20 rule
    "cohort_months": 12,  # at most this many join-month cohorts
}
#: ``[report] memory_limit``: DuckDB's memory limit while computing a report (it spills beyond it)
DEFAULT_MEMORY_LIMIT = "800MB"


@dataclass(frozen=True)
class ReportConfig:
    period_days: int = 365
    active_days: int = 90
    churn_days: int = 180
    campaign_days: int = 7
    head_percent: int = 20
    cohort_months: int = 12
    memory_limit: str = DEFAULT_MEMORY_LIMIT

    @classmethod
    def from_settings(cls, settings: "Settings") -> "ReportConfig":
        raw = settings.section("report")
        where = settings.config_file
        values = {}
        for key, value in raw.items():
            if key == "memory_limit":
                values[key] = settings.memory_limit("report", DEFAULT_MEMORY_LIMIT)
                continue
            if key not in CONFIG_DEFAULTS:
                import difflib

                close = difflib.get_close_matches(key, list(CONFIG_DEFAULTS), n=1)
                hint = f" (did you mean `{close[0]}`?)" if close else ""
                raise ConfigError(_('{where}: unknown key report.{key}{hint}').format(where=where, key=key, hint=hint))
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(_('{where}: report.{key} must be a positive whole number, not {value!r}').format(where=where, key=key, value=value))
            values[key] = value
        cfg = cls(**values)
        if cfg.churn_days <= cfg.active_days:
            raise ConfigError(
                _('{where}: report.churn_days ({churn_days}) must be greater than report.active_days ({active_days})').format(where=where, churn_days=cfg.churn_days, active_days=cfg.active_days)
            )
        if cfg.head_percent > 100:
            raise ConfigError(_('{where}: report.head_percent must be between 1 and 100, not {head_percent}').format(where=where, head_percent=cfg.head_percent))
        return cfg


@dataclass
class Report:
    """Everything the report shows; plain data (``to_dict`` is JSON-ready)."""

    date_from: date
    date_to: date
    by: str | None
    config: ReportConfig
    generated_at: datetime
    currency: str = "CNY"
    language: str = "zh"
    kpis: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    def kpi(self, kpi_id: str) -> Any:
        return self.kpis.get(kpi_id)

    def to_dict(self) -> dict[str, Any]:
        from siyu_cli.output import _plain

        return _plain({
            "period": {"from": self.date_from, "to": self.date_to, "days": self.days},
            "by": self.by,
            "generated_at": self.generated_at,
            "currency": self.currency,
            "config": self.config.__dict__,
            "kpis": self.kpis,
            "sections": self.sections,
            "notes": self.notes,
        })

    def rows(self) -> tuple[list[str], list[list[Any]]]:
        """A long table for CSV: one row per value (section, group, kpi, name, value)."""
        from siyu_cli.report.kpis import KPI_BY_ID

        def name(kpi_id: str) -> str:
            k = KPI_BY_ID.get(kpi_id)
            return k.name if k else kpi_id

        out: list[list[Any]] = []
        for kpi_id, value in self.kpis.items():
            section = KPI_BY_ID[kpi_id].section if kpi_id in KPI_BY_ID else "base"
            out.append([section, "", kpi_id, name(kpi_id), value])
        s = self.sections
        for row in s.get("add_rate") or []:
            for key in ("new_contacts", "store_traffic", "add_rate"):
                out.append(["add_rate", row["store"], key, name(key), row[key]])
        for key in ("active", "silent", "churned", "never_bought"):
            if s.get("lifecycle"):
                out.append(["lifecycle", key, "members", name("members"), s["lifecycle"][key]])
        for p, share in (s.get("pareto") or {}).get("curve", []):
            out.append(["pareto", f"top {p}%", "pareto_curve", name("pareto_curve"), share])
        for row in (s.get("segments") or {}).get("mix", []):
            out.append(["segments", row["segment_id"], "segment_members", row["segment_name"], row["members"]])
            out.append(["segments", row["segment_id"], "segment_share", name("segment_share"), row["share"]])
            if "change_members" in row:
                out.append(["segments", row["segment_id"], "segment_change", name("segment_change"), row["change_members"]])
        for c in s.get("cohorts") or []:
            for k, r in enumerate(c["retention"]):
                out.append(["cohorts", f"{c['month']} +{k}", "cohort_retention", name("cohort_retention"), r])
        for board, rows in (s.get("leaderboards") or {}).items():
            for row in rows:
                for key in ("new_contacts", "buyers", "gmv", "repurchase_rate"):
                    out.append([f"leaderboard_{board}", row[board], key, name(key), row[key]])
        for c in s.get("campaigns") or []:
            for key in ("campaign_reached", "campaign_delivered", "campaign_repurchase", "control_repurchase", "campaign_uplift"):
                value = c[{"campaign_reached": "reached", "campaign_delivered": "delivered"}.get(key, key)]
                out.append(["campaigns", c["campaign_id"], key, name(key), value])
        if s.get("breakdown"):
            by = s["breakdown"]["by"]
            for row in s["breakdown"]["rows"]:
                for key in ("orders", "buyers", "gmv", "aov", "member_gmv_share", "repurchase_rate"):
                    out.append([f"by_{by}", row[by], key, name(key), row[key]])
        for row in s.get("trend") or []:
            for key in ("orders", "buyers", "gmv", "new_members"):
                out.append(["trend", row["month"], key, name(key), row[key]])
        from siyu_cli.report.wecom import csv_rows

        out.extend(csv_rows(s))
        return ["section", "group", "kpi", "name", "value"], out
