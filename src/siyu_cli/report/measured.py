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
    fit = con.execute("SELECT fit_id, as_of, created_at, params FROM clv_fits ORDER BY fit_id DESC LIMIT 1").fetchone()
    snap = con.execute("SELECT max(snapshot_id) FROM segment_members").fetchone()[0]
    if fit is None or snap is None:
        return None
    params = {"fit": fit[0], "snap": snap, "risk": AT_RISK_P_ALIVE}
    rows = sql.run_duckdb(con, "report/clv_by_segment", params).fetchall()
    risk = sql.run_duckdb(con, "report/clv_at_risk", params).fetchone()
    import json

    return {
        "fit_id": fit[0], "as_of": fit[1], "fitted_at": fit[2],
        "horizon_months": json.loads(fit[3]).get("horizon_months"), "snapshot_id": snap,
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


def experiments(con, dfrom: date, dto: date, tz: str, window_days: int) -> list[dict[str, Any]] | None:
    """Randomised results (ITT, delivered-only) of campaigns with arms created in the period; None without any."""
    if "push_arms" not in table_names(con):
        return None
    start, end = _period(dfrom, dto, tz)
    ids = [r[0] for r in con.execute(
        """SELECT DISTINCT c.campaign_id FROM push_campaigns c JOIN push_arms a USING (campaign_id)
           WHERE c.created_at >= ? AND c.created_at < ? ORDER BY 1""", [start, end]).fetchall()]
    if not ids:
        return None
    from siyu_cli.push.experiments import results  # only when there is something to read (a heavy import)

    out = []
    for cid in ids:
        d = results(con, cid, days=window_days)
        out.append({"campaign_id": cid, "name": d["name"], "reference": d["reference"], "window_open": d["window_open"],
                    "arms": d["arms"],
                    "uplift": [{"arm": u["arm"], "versus": u["versus"],
                                "itt": {**u["itt"]["response_rate"], "verdict": u["itt"]["verdict"]},
                                "delivered_only": ({**u["delivered_only"]["response_rate"],
                                                    "verdict": u["delivered_only"]["verdict"]}
                                                   if "delivered_only" in u else None)} for u in d["uplift"]]})
    return out


def redemptions(con, dfrom: date, dto: date, tz: str, window_days: int) -> list[dict[str, Any]] | None:
    """Attribution by redemption of the campaigns created in the period that declared a coupon code (``--coupon``):
    per arm (or sent / not sent without a holdout) the members who used the code in the window, their orders and
    GMV, the ITT uplift of the redemption rate, and the code's orders from outside the campaign. None without any."""
    cols = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_name = 'push_campaigns'").fetchall()}
    if "coupon_code" not in cols:
        return None
    start, end = _period(dfrom, dto, tz)
    ids = [r[0] for r in con.execute(
        "SELECT campaign_id FROM push_campaigns WHERE coupon_code IS NOT NULL AND created_at >= ? AND created_at < ? "
        "ORDER BY 1", [start, end]).fetchall()]
    if not ids:
        return None
    from siyu_cli.push.experiments import results

    out = []
    for cid in ids:
        d = results(con, cid, days=window_days)
        red = d["redemption"]
        out.append({"campaign_id": cid, "name": d["name"], "design": d["design"], "reference": d["reference"],
                    "window_open": d["window_open"], "codes": red["codes"], "arms": red["arms"],
                    "uplift": [{"arm": u["arm"], "versus": u["versus"],
                                "itt": {**u["itt"]["redemption_rate"], "verdict": u["itt"]["verdict"]}}
                               for u in red["uplift"]],
                    "outside": red["outside"], "note": red["note"]})
    return out or None
