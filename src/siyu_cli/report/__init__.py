"""The KPI report: private-domain metrics over a period, for the terminal, programs and an offline HTML page.

``build_report`` opens the store read-only once, computes every KPI in DuckDB
(:mod:`siyu_cli.report.kpis`) and returns a :class:`Report` — plain data that
``terminal``, ``html`` and ``--format json|csv`` render. Sections whose tables
another area owns (segments, campaigns) are skipped with a note when those
tables are absent or empty.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siyu_cli import clock
from siyu_cli.errors import ConfigError, UsageError
from siyu_cli.i18n import _, label

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings

__all__ = ["Report", "ReportConfig", "build_report", "write_html", "default_html_path", "load_traffic", "BY_CHOICES"]

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
                hint = _(" (did you mean `{name}`?)").format(name=close[0]) if close else ""
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


def _today(settings: "Settings") -> date:
    from siyu_cli import clock

    return clock.today(settings.timezone)


def resolve_period(settings: "Settings", date_from: date | None, date_to: date | None,
                   cfg: ReportConfig) -> tuple[date, date]:
    """Default: ``period_days`` days ending today (or ending ``date_to``, or starting ``date_from``)."""
    span = timedelta(days=cfg.period_days - 1)
    if date_to is None:
        date_to = date_from + span if date_from is not None else _today(settings)
    if date_from is None:
        date_from = date_to - span
    if date_from > date_to:
        raise UsageError(_('--from {date_from} is after --to {date_to}').format(date_from=date_from, date_to=date_to))
    return date_from, date_to


def build_report(settings: "Settings", *, date_from: date | None = None, date_to: date | None = None,
                 by: str | None = None) -> Report:
    """Compute the report for ``[date_from, date_to]`` (inclusive) from the store, read-only."""
    from siyu_cli.report import kpis as K
    from siyu_cli.store import open_store

    if by is not None and by not in BY_CHOICES:
        raise UsageError(_('--by must be one of {join}, not {by!r}').format(join=', '.join(BY_CHOICES), by=by))
    cfg = ReportConfig.from_settings(settings)
    dfrom, dto = resolve_period(settings, date_from, date_to, cfg)
    from zoneinfo import ZoneInfo

    report = Report(date_from=dfrom, date_to=dto, by=by, config=cfg,
                    generated_at=clock.now(ZoneInfo(settings.timezone)).replace(microsecond=0),
                    currency=settings.currency, language=settings.language)
    days = report.days
    # cohorts: the period's join months, at most cohort_months of them
    last_month = dto.replace(day=1)
    y, m = divmod(last_month.year * 12 + last_month.month - 1 - (cfg.cohort_months - 1), 12)
    cfrom = max(dfrom, date(y, m + 1, 1))

    with tempfile.TemporaryDirectory(prefix="siyu-report-") as tmp, open_store(settings, read_only=True) as con:
        con.execute(f"SET memory_limit = '{cfg.memory_limit}'")
        con.execute(f"SET temp_directory = '{Path(tmp).as_posix()}'")
        from siyu_cli.dimensions import prepare as prepare_dimensions

        prepare_dimensions(con, settings)  # stores and guides resolve through siyu.toml and `siyu stores`
        K.prepare(con)
        K.period_orders(con, dfrom, dto)
        b = K.base(con, dfrom, dto, days)
        kp = {k: b[k] for k in ("members", "new_members", "buyers", "new_buyers", "returning_buyers", "orders", "gmv", "aov", "items_per_order",
                                "member_order_share", "member_gmv_share")}
        reach, life = K.members_at_end(con, dto, cfg.active_days, cfg.churn_days)
        kp.update(reach)
        from siyu_cli.report.wecom import synced_online

        synced = synced_online(con, dto)  # after `siyu sync wecom`: live guide relations only
        if synced is not None:
            kp.update(synced)
            report.notes.append(label("online rate: members with a live WeCom guide relation as of the last `siyu sync wecom`", report.language))
        kp["new_contacts"] = K.new_contacts(con, dfrom, dto)
        kp.update(repurchase_rate=b["repurchase_rate"], purchase_frequency=b["purchase_frequency"])
        kp.update({k: life[k] for k in ("active_share", "silent_share", "churned_share", "never_bought_share")})
        par = K.pareto(con, cfg.head_percent)
        kp.update(annual_revenue_per_member=b["annual_revenue_per_member"], head_share=par["head_share"],
                  share_for_80=par["share_for_80"])
        report.kpis = kp
        s = report.sections
        s["totals"] = {k: b[k] for k in ("member_orders", "non_member_orders", "member_gmv", "repeat_buyers")}
        s["add_rate"] = K.add_rates(con, dfrom, dto)
        s["lifecycle"] = life
        s["pareto"] = par
        s["segments"] = K.segments(con)
        s["cohorts"] = K.cohorts(con, cfrom, dto, dfrom)
        trend = K.trend(con, dfrom, dto)
        K.release(con)  # the per-member tables are done with: free their memory before the leaderboards
        s["leaderboards"] = K.leaderboards(con, dfrom, dto)
        s["campaigns"] = K.campaigns(con, dfrom, dto, cfg.campaign_days)
        from siyu_cli.report import measured

        s["experiments"] = measured.experiments(con, dfrom, dto, settings.timezone, cfg.campaign_days)
        s["redemptions"] = measured.redemptions(con, dfrom, dto, settings.timezone, cfg.campaign_days)
        s["clv"] = measured.clv_by_segment(con)
        s["trend"] = trend
        s["breakdown"] = {"by": by, "rows": K.breakdown(con, by)} if by else None
        from siyu_cli.report.wecom import wecom_sections

        s.update(wecom_sections(con, dfrom, dto))  # contact events, guide activity, group health (from sync)
    if not s["add_rate"]:
        report.notes.append(label("add rate: no store traffic in the period (load it with `siyu report traffic FILE`)", report.language))
    if s["segments"] is None:
        report.notes.append(label("RFM segments: no segment snapshot yet (run `siyu segment run`)", report.language))
    if s["campaigns"] is None:
        report.notes.append(label("campaigns: no campaigns yet (push has not run)", report.language))
    elif not s["campaigns"]:
        report.notes.append(label("campaigns: no campaign was sent in the period", report.language))
    if kp["orders"] and not s["totals"]["non_member_orders"]:
        report.notes.append(label("member share: every order in the period has a member (no walk-in orders loaded), so it is 100%",
                                  report.language))
    if kp["orders"] and kp["items_per_order"] is None:
        report.notes.append(label("items per order: no order lines or item counts loaded for the period's orders", report.language))
    if kp["orders"] == 0:
        report.notes.append(label("no paid orders between {start} and {end}", report.language).format(start=dfrom, end=dto))
    return report


def write_html(report: Report, path: Path) -> Path:
    """Write the report as one self-contained offline HTML page; returns the path written."""
    from siyu_cli.report.html import write_html as _write

    return _write(report, Path(path))


def default_html_path(settings: "Settings", report: Report) -> Path:
    """Where `siyu demo` and pipelines put the page: ``<workspace>/reports/report-<from>_<to>.html``."""
    return settings.root / "reports" / f"report-{report.date_from}_{report.date_to}.html"


def load_traffic(settings: "Settings", path: Path):
    """Load store traffic (门店客流) from CSV; see :mod:`siyu_cli.report.traffic`."""
    from siyu_cli.report.traffic import load_traffic as _load

    return _load(settings, Path(path))
