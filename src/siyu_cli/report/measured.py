"""Report sections for measured operation: CLV by RFM class with the value at risk, randomised campaign results,
and attribution by coupon redemption.

Kept out of :mod:`siyu_cli.report.kpis` (one concern per module): both read tables other areas own
(``clv_fits``/``clv_members`` from ``siyu clv``, ``push_arms`` from push experiments) and return None
when those never ran, so the report notes the gap instead of failing.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from siyu_cli import sql
from siyu_cli.store import table_names

#: P(alive) below this counts as "at risk" in the report (the docs' churn-risk list, clv:p_alive<0.3).
AT_RISK_P_ALIVE = 0.3


def clv_by_segment(con) -> dict[str, Any] | None:
    """Per RFM segment of the newest snapshot: buyers with a prediction, mean P(alive), total and mean CLV;
    and the at-risk group (P(alive) < 0.3): members, their past net revenue and their remaining CLV."""
    if not {"clv_fits", "clv_members", "segment_members"} <= table_names(con):
        return None
    from siyu_cli.clv import latest_fit
    from siyu_cli.segment.audience import newest_snapshot_with_members

    fit = latest_fit(con)
    snap = newest_snapshot_with_members(con)
    if fit is None or snap is None:
        return None
    params = {"fit": fit["fit_id"], "snap": snap, "risk": AT_RISK_P_ALIVE}
    rows = sql.run_duckdb(con, "report/clv_by_segment", params).fetchall()
    risk = sql.run_duckdb(con, "report/clv_at_risk", params).fetchone()
    return {
        "fit_id": fit["fit_id"], "as_of": fit["as_of"], "fitted_at": fit["fitted_at"],
        "horizon_months": fit["params"].get("horizon_months"), "snapshot_id": snap,
        "segments": [{"segment_id": r[0], "segment_name": r[1], "with_prediction": r[2], "p_alive_mean": r[3],
                      "clv_total": r[4], "clv_mean": r[5], "at_risk": r[6], "at_risk_clv": r[7]} for r in rows],
        "at_risk": {"p_alive_below": AT_RISK_P_ALIVE, "members": risk[0], "past_revenue": float(risk[1]),
                    "remaining_clv": float(risk[2])},
    }


def _period(dfrom: date, dto: date, tz: str) -> tuple[datetime, datetime]:
    """The report period as [start, end) instants in the workspace time zone."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    return datetime.combine(dfrom, time(0), tzinfo=zone), datetime.combine(dto + timedelta(days=1), time(0), tzinfo=zone)


def _results(con, campaign_ids: list[str] | None, window_days: int):
    """(campaign id, :func:`siyu_cli.push.experiments.results`) of each campaign, in order."""
    from siyu_cli.push.experiments import results  # only when there is something to read

    for cid in campaign_ids or ():
        yield cid, results(con, cid, days=window_days)


def experiments(con, dfrom: date, dto: date, tz: str, window_days: int) -> list[dict[str, Any]] | None:
    """Randomised results (ITT, delivered-only) of campaigns with arms created in the period; None without any."""
    if "push_arms" not in table_names(con):
        return None
    from siyu_cli.push.experiments import campaigns_with_arms

    out = []
    for cid, d in _results(con, campaigns_with_arms(con, *_period(dfrom, dto, tz)), window_days):
        out.append({"campaign_id": cid, "name": d["name"], "reference": d["reference"], "window_open": d["window_open"],
                    "arms": d["arms"],
                    "uplift": [{"arm": u["arm"], "versus": u["versus"],
                                "itt": {**u["itt"]["response_rate"], "verdict": u["itt"]["verdict"]},
                                "delivered_only": ({**u["delivered_only"]["response_rate"],
                                                    "verdict": u["delivered_only"]["verdict"]}
                                                   if "delivered_only" in u else None)} for u in d["uplift"]]})
    return out or None


def redemptions(con, dfrom: date, dto: date, tz: str, window_days: int) -> list[dict[str, Any]] | None:
    """Attribution by redemption of the campaigns created in the period that declared a coupon code (``--coupon``):
    per arm (or sent / not sent without a holdout) the members who used the code in the window, their orders and
    GMV, the ITT uplift of the redemption rate, and the code's orders from outside the campaign. None without any."""
    from siyu_cli.push.experiments import coupon_campaigns

    out = []
    for cid, d in _results(con, coupon_campaigns(con, *_period(dfrom, dto, tz)), window_days):
        red = d["redemption"]
        out.append({"campaign_id": cid, "name": d["name"], "design": d["design"], "reference": d["reference"],
                    "window_open": d["window_open"], "codes": red["codes"], "arms": red["arms"],
                    "uplift": [{"arm": u["arm"], "versus": u["versus"],
                                "itt": {**u["itt"]["redemption_rate"], "verdict": u["itt"]["verdict"]}}
                               for u in red["uplift"]],
                    "outside": red["outside"], "note": red["note"]})
    return out or None
