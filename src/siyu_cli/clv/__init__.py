"""``siyu clv``: who is about to leave and what they are worth (BG/NBD + Gamma-Gamma).

:func:`run_clv` measures every buyer in DuckDB (:mod:`siyu_cli.clv.measures`), fits the models
(:mod:`siyu_cli.clv.models`, pymc-marketing, optional extra ``siyu-cli[clv]``) and stores a fit:
``clv_fits`` (parameters, fit date, as-of) and ``clv_members`` (P(alive), expected purchases in
30/90 days, expected spend per purchase, CLV over the horizon). Audiences (``clv:p_alive<0.3``), the
SOP anchor ``clv_alive_below``, ``segment show`` and the report read the newest fit.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from siyu_cli.errors import ConfigError, DataError, UsageError
from siyu_cli.i18n import _

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings

#: Keys of the [clv] table in siyu.toml.
CONFIG_KEYS = ("horizon_months", "discount_rate", "keep_fits")
DEFAULTS = {"horizon_months": 12, "discount_rate": 0.0, "keep_fits": 5}
#: Per-member prediction columns (clv_members), usable in ``clv:`` audiences and exports.
COLUMNS = ("p_alive", "purchases_30d", "purchases_90d", "expected_spend", "clv")


@dataclass
class ClvRun:
    fit_id: int
    as_of: date
    created_at: datetime
    params: dict[str, Any]
    buyers: int
    repeat_buyers: int
    library: str
    seconds: dict[str, float] = field(default_factory=dict)
    pruned: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fit_id": self.fit_id,
            "as_of": self.as_of.isoformat(),
            "fitted_at": self.created_at.isoformat(),
            "buyers": self.buyers,
            "repeat_buyers": self.repeat_buyers,
            "library": self.library,
            **self.params,
            "seconds": self.seconds,
            "pruned_fits": self.pruned,
        }


def clv_config(settings: "Settings", horizon_months=None, discount_rate=None) -> dict[str, Any]:
    """[clv] settings (flags win), validated: horizon 1–120 months, monthly discount rate in [0, 1)."""
    cfg = settings.section("clv")
    for key in cfg:
        if key not in CONFIG_KEYS:
            raise ConfigError(_('{config_file}: unknown key clv.{key} (known: {join})').format(config_file=settings.config_file, key=key, join=', '.join(CONFIG_KEYS)))
    out = {**DEFAULTS, **cfg}
    if horizon_months is not None:
        out["horizon_months"] = horizon_months
    if discount_rate is not None:
        out["discount_rate"] = discount_rate
    try:
        out["horizon_months"] = int(out["horizon_months"])
        out["discount_rate"] = float(out["discount_rate"])
        out["keep_fits"] = int(out["keep_fits"])
    except (TypeError, ValueError):
        raise UsageError(_('clv: horizon_months and keep_fits must be whole numbers, discount_rate a number')) from None
    if not 1 <= out["horizon_months"] <= 120:
        raise UsageError(_('--horizon must be 1–120 months, not {value}').format(value=out['horizon_months']))
    if not 0 <= out["discount_rate"] < 1:
        raise UsageError(_('--discount is a monthly rate in [0, 1), e.g. 0.01, not {value}').format(value=out['discount_rate']))
    if out["keep_fits"] < 1:
        raise UsageError(_('clv.keep_fits must be at least 1'))
    return out


def run_clv(settings: "Settings", *, as_of=None, horizon_months=None, discount_rate=None,
            now: datetime | None = None) -> ClvRun:
    """Measure, fit, predict and store one fit; returns what was stored."""
    from siyu_cli.clv import measures, models
    from siyu_cli.segment.measures import parse_as_of
    from siyu_cli.store import open_store

    cfg = clv_config(settings, horizon_months, discount_rate)
    as_of_day = parse_as_of(as_of, settings.timezone)
    library = models.check_installed()  # fail before the scan when the extra is missing
    now = now or datetime.now(timezone.utc)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    from siyu_cli.engine import spark_runner

    runner = spark_runner(settings)  # [engine] kind = "spark": the order scan runs there
    with open_store(settings) as con:
        n = measures.build_summary(con, as_of_day, settings.timezone, runner=runner)
        if n == 0:
            raise DataError(_('no purchases up to {as_of_day}: load orders first (siyu load)').format(as_of_day=as_of_day))
        arrays = con.execute(
            "SELECT frequency, recency_days, t_days, coalesce(avg_repeat_spend, 0) AS avg_repeat_spend "
            "FROM clv_summary ORDER BY idx").fetchnumpy()
        con.execute("CREATE OR REPLACE TABLE _clv_keep AS SELECT idx, member_id, frequency, recency_days, t_days, "
                    "avg_repeat_spend FROM clv_summary")  # survives the close while the model fits
    seconds["measures"] = round(time.perf_counter() - t0, 3)
    t1 = time.perf_counter()
    try:
        fitted = models.fit(arrays["frequency"], arrays["recency_days"], arrays["t_days"], arrays["avg_repeat_spend"],
                            horizon_months=cfg["horizon_months"], discount_rate=cfg["discount_rate"])
    except BaseException:
        with open_store(settings) as con:
            con.execute("DROP TABLE IF EXISTS _clv_keep")
        raise
    seconds["fit"] = round(time.perf_counter() - t1, 3)
    del arrays
    params = {
        "bgnbd": fitted.bgnbd,
        "gamma_gamma": fitted.gamma_gamma,
        "time_unit": "week",
        "horizon_months": cfg["horizon_months"],
        "discount_rate_monthly": cfg["discount_rate"],
    }
    params["population"] = models.describe(params)
    t2 = time.perf_counter()
    repeat = 0
    with open_store(settings) as con:
        pred = fitted.predictions
        con.register("_clv_pred", _frame(pred))
        fit_id = int(con.execute("SELECT coalesce(max(fit_id), 0) + 1 FROM clv_fits").fetchone()[0])
        repeat = int(con.execute("SELECT count(*) FROM _clv_keep WHERE frequency > 0").fetchone()[0])
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "INSERT INTO clv_fits (fit_id, created_at, as_of, params, buyers, repeat_buyers, library) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [fit_id, now, as_of_day, json.dumps(params), n, repeat, fitted.library],
            )
            con.execute(
                """INSERT INTO clv_members
                   SELECT ?, k.member_id, k.frequency, k.recency_days, k.t_days, CAST(k.avg_repeat_spend AS DECIMAL(18,2)),
                          p.p_alive, p.purchases_30d, p.purchases_90d, p.expected_spend, p.clv
                   FROM _clv_keep k JOIN _clv_pred p ON p.idx = k.idx""",
                [fit_id],
            )
            pruned = [r[0] for r in con.execute(
                "SELECT fit_id FROM clv_fits ORDER BY fit_id DESC OFFSET ?", [cfg["keep_fits"]]).fetchall()]
            if pruned:
                con.execute("DELETE FROM clv_members WHERE list_contains(?, fit_id)", [pruned])
                con.execute("DELETE FROM clv_fits WHERE list_contains(?, fit_id)", [pruned])
            con.execute("DROP TABLE _clv_keep")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    seconds["store"] = round(time.perf_counter() - t2, 3)
    return ClvRun(fit_id, as_of_day, now, params, n, repeat, fitted.library, seconds, sorted(pruned))


def _frame(pred):
    """The predictions as a pandas DataFrame keyed by idx (pandas comes with the clv extra)."""
    import numpy as np
    import pandas as pd

    return pd.DataFrame({"idx": np.arange(len(pred.p_alive), dtype=np.int64), "p_alive": pred.p_alive,
                         "purchases_30d": pred.purchases_30d, "purchases_90d": pred.purchases_90d,
                         "expected_spend": pred.expected_spend, "clv": pred.clv})


def latest_fit(con) -> dict[str, Any] | None:
    """The newest fit's row (params parsed), or None when ``siyu clv`` never ran."""
    row = con.execute(
        "SELECT fit_id, created_at, as_of, params, buyers, repeat_buyers, library FROM clv_fits ORDER BY fit_id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    return {"fit_id": row[0], "fitted_at": row[1], "as_of": row[2], "params": json.loads(row[3]),
            "buyers": row[4], "repeat_buyers": row[5], "library": row[6]}


def require_fit(con) -> dict[str, Any]:
    fit = latest_fit(con)
    if fit is None:
        raise DataError(_('no CLV fit yet: run `siyu clv` first'))
    return fit


def alive_below_entries_sql() -> str:
    """SQL (three ``?``: the as_of date, the threshold twice) of (member_id, as_of): who fell below a P(alive)
    threshold in the fit of that as_of.

    Per as_of the newest fit counts; a member's day is the as_of of the fit where P(alive) < threshold while
    the previous counted fit had it ≥ threshold (or had no prediction for them). The first fit has no
    previous one: nobody enters on it.
    """
    return """
    WITH fits AS (SELECT as_of, max(fit_id) AS fit_id FROM clv_fits GROUP BY as_of),
    seq AS (SELECT as_of, fit_id, lag(fit_id) OVER (ORDER BY as_of) AS prev_id FROM fits)
    SELECT cur.member_id, s.as_of FROM seq s JOIN clv_members cur ON cur.fit_id = s.fit_id
    WHERE s.as_of = ? AND s.prev_id IS NOT NULL AND cur.p_alive < ?
      AND NOT EXISTS (SELECT 1 FROM clv_members p
                      WHERE p.fit_id = s.prev_id AND p.member_id = cur.member_id AND p.p_alive < ?)
    """


def members_where_sql(conditions: list[str]) -> str:
    """SQL (``?``: the fit id, then the conditions' values) of the ``id`` of a fit's members meeting every
    condition (``p_alive < ?``: a column of :data:`COLUMNS`, an operator, a placeholder)."""
    return f"SELECT member_id AS id FROM clv_members WHERE fit_id = ? AND {' AND '.join(conditions)}"


def newest_fit_members(con, limit: int = 0) -> tuple[dict[str, Any], list[tuple]]:
    """(the newest fit, its members as :func:`fit_members` lists them); no fit is a DataError."""
    fit = require_fit(con)
    return fit, fit_members(con, fit["fit_id"], limit)


#: the columns of :func:`fit_members`, in order
MEMBER_COLUMNS = ("member_id", "frequency", "recency_days", "t_days", "avg_repeat_spend", *COLUMNS)


def fit_members(con, fit_id: int, limit: int = 0) -> list[tuple]:
    """A fit's per-member predictions (:data:`MEMBER_COLUMNS`), lowest P(alive) × highest CLV first (limit 0 = all)."""
    sql = (f"SELECT {', '.join(MEMBER_COLUMNS)} FROM clv_members WHERE fit_id = ? "
           "ORDER BY p_alive, clv DESC, member_id" + (f" LIMIT {int(limit)}" if limit > 0 else ""))
    return con.execute(sql, [fit_id]).fetchall()
