"""The KPI report: private-domain metrics over a period, for the terminal, programs and an offline HTML page.

``build_report`` opens the store read-only once, computes every KPI in DuckDB
(:mod:`siyu_cli.report.kpis`) and returns a :class:`Report` — plain data that
``terminal``, ``html`` and ``--format json|csv`` render. Sections whose tables
another area owns (segments, campaigns) are skipped with a note when those
tables are absent or empty.
"""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siyu_cli import clock
from siyu_cli.errors import UsageError
from siyu_cli.i18n import _, label
from siyu_cli.report.model import (  # noqa: F401 (re-exported)
    BY_CHOICES, CONFIG_DEFAULTS, DEFAULT_MEMORY_LIMIT, Report, ReportConfig,
)

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings

__all__ = ["Report", "ReportConfig", "build_report", "write_html", "default_html_path", "load_traffic", "BY_CHOICES"]


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
                 by: str | None = None, progress=None) -> Report:
    """Compute the report for ``[date_from, date_to]`` (inclusive) from the store, read-only.

    ``progress(done, total, what)`` (siyu_cli.progress) hears of each stage."""
    tick = progress or (lambda done, total=None, what="": None)
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
    # cohorts: the period's join months, at most cohort_months of them
    last_month = dto.replace(day=1)
    y, m = divmod(last_month.year * 12 + last_month.month - 1 - (cfg.cohort_months - 1), 12)
    cfrom = max(dfrom, date(y, m + 1, 1))

    from siyu_cli.engine import spark_runner

    runner = spark_runner(settings)  # [engine] kind = "spark": the order history scan runs there (docs/scale.md)
    with tempfile.TemporaryDirectory(prefix="siyu-report-") as tmp, open_store(settings, read_only=True) as con:
        con.execute(f"SET memory_limit = '{cfg.memory_limit}'")
        con.execute(f"SET temp_directory = '{Path(tmp).as_posix()}'")
        from siyu_cli.dimensions import prepare as prepare_dimensions

        prepare_dimensions(con, settings)  # stores and guides resolve through siyu.toml and `siyu stores`
        K.prepare(con)
        if runner is not None:  # the orders the report reads besides the history, from the lake
            K.lake_orders(con, runner, dfrom)
        K.period_orders(con, dfrom, dto, runner)
        K.period_contacts(con, dfrom, dto)
        _headline(con, report)
        tick(1, 4, "segments and cohorts")
        s = report.sections
        s["segments"] = K.segments(con)
        s["cohorts"] = K.cohorts(con, cfrom, dto, dfrom)
        trend = K.trend(con, dfrom, dto)
        K.release(con)  # the per-member tables are done with: free their memory before the leaderboards
        tick(2, 4, "leaderboards and campaigns")
        unsent = _operations(con, report, settings)
        s["trend"] = mark_partial_months(trend, dfrom, dto)
        s["breakdown"] = {"by": by, "rows": K.breakdown(con, by)} if by else None
        tick(3, 4, "WeCom sections")
        from siyu_cli.report.wecom import wecom_sections

        s.update(wecom_sections(con, dfrom, dto))  # contact events, guide activity, group health (from sync)
    tick(4, 4, "done")
    _add_notes(report, unsent)
    return report


def _headline(con, report: Report) -> None:
    """The headline KPIs (``report.kpis``, in display order) and the sections made of the same queries:
    totals, add rates, lifecycle and the Pareto curve."""
    from siyu_cli.report import kpis as K
    from siyu_cli.report.wecom import synced_online

    cfg, dfrom, dto = report.config, report.date_from, report.date_to
    b = K.base(con, dfrom, dto, report.days)
    kp = {k: b[k] for k in ("members", "new_members", "buyers", "new_buyers", "returning_buyers", "orders", "gmv", "aov",
                            "items_per_order", "member_order_share", "member_gmv_share")}
    reach, life = K.members_at_end(con, dto, cfg.active_days, cfg.churn_days)
    kp.update(reach)
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


def _operations(con, report: Report, settings: "Settings") -> int:
    """The sections about running the private domain: leaderboards, campaigns (only those that reached someone:
    built-but-unsent ones — empty audiences, all held back — are noise), experiments, redemptions and CLV.
    Returns how many campaigns of the period reached nobody (a note says so)."""
    from siyu_cli.report import kpis as K
    from siyu_cli.report import measured

    cfg, dfrom, dto, s = report.config, report.date_from, report.date_to, report.sections
    s["leaderboards"] = K.leaderboards(con, dfrom, dto)
    campaigns = K.campaigns(con, dfrom, dto, cfg.campaign_days)
    s["campaigns"] = None if campaigns is None else [c for c in campaigns if c["reached"]]
    s["experiments"] = measured.experiments(con, dfrom, dto, settings.timezone, cfg.campaign_days)
    s["redemptions"] = measured.redemptions(con, dfrom, dto, settings.timezone, cfg.campaign_days)
    s["clv"] = measured.clv_by_segment(con)
    return 0 if campaigns is None else len(campaigns) - len(s["campaigns"])


def _add_notes(report: Report, unsent: int = 0) -> None:
    """Notes on what the report could not show, and why (missing data, not a failure); ``unsent``: campaigns
    of the period left out because they reached nobody."""
    s, kp, dfrom, dto = report.sections, report.kpis, report.date_from, report.date_to
    if not s["add_rate"]:
        report.notes.append(label("add rate: no store traffic in the period (load it with `siyu report traffic FILE`)", report.language))
    if s["segments"] is None:
        report.notes.append(label("RFM segments: no segment snapshot yet (run `siyu segment run`)", report.language))
    if s["campaigns"] is None:
        report.notes.append(label("campaigns: no campaigns yet (push has not run)", report.language))
    elif not s["campaigns"]:
        report.notes.append(label("campaigns: no campaign was sent in the period", report.language))
    if unsent:
        report.notes.append(label("campaigns: {count} campaign(s) in the period reached nobody and are not shown",
                                  report.language).format(count=unsent))
    if kp["orders"] and not s["totals"]["non_member_orders"]:
        report.notes.append(label("member share: every order in the period has a member (no walk-in orders loaded), so it is 100%",
                                  report.language))
    if kp["orders"] and kp["items_per_order"] is None:
        report.notes.append(label("items per order: no order lines or item counts loaded for the period's orders", report.language))
    if kp["orders"] == 0:
        report.notes.append(label("no paid orders between {start} and {end}", report.language).format(start=dfrom, end=dto))


def mark_partial_months(trend: list[dict[str, Any]], dfrom: date, dto: date) -> list[dict[str, Any]]:
    """Each month of the trend with ``days_covered``, ``days_in_month`` and ``partial`` (the period covers
    only part of it — the current month, or the first month of a rolling period), so a half month is
    shown as such instead of as a collapse."""
    import calendar

    for row in trend:
        year, month = (int(x) for x in row["month"].split("-"))
        days = calendar.monthrange(year, month)[1]
        first, last = date(year, month, 1), date(year, month, days)
        covered = (min(last, dto) - max(first, dfrom)).days + 1
        row.update(days_covered=max(covered, 0), days_in_month=days, partial=covered < days)
    return trend


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
