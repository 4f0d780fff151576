"""BG/NBD (purchases, P(alive)) and Gamma-Gamma (spend per purchase) from pymc-marketing, fitted by MAP.

Why pymc-marketing: it is the maintained successor of ``lifetimes`` (same likelihoods, same closed-form
predictions), and its MAP fit with flat priors is the maximum-likelihood estimate the papers report
(tests/clv/test_clv_cdnow.py reproduces Fader, Hardie & Lee 2005 and the Gamma-Gamma note on CDNOW).
It is an optional extra (``pip install 'siyu-cli[clv]'``) because it brings pymc, pytensor and pandas.

Time is measured in weeks inside the models (the literature's unit, so ``alpha`` compares with the
papers); r, a, b, p, q do not depend on the unit, ``alpha`` scales with it and ``v`` is in currency.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from siyu_cli.errors import ConfigError, DataError
from siyu_cli.i18n import _

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

DAYS_PER_WEEK = 7.0
#: Gamma-Gamma needs some repeat buyers; below this the spend model is not estimable in any useful way.
MIN_REPEAT_BUYERS = 10


@dataclass
class Predictions:
    p_alive: "np.ndarray"
    purchases_30d: "np.ndarray"
    purchases_90d: "np.ndarray"
    expected_spend: "np.ndarray"
    clv: "np.ndarray"


@dataclass
class Fitted:
    bgnbd: dict[str, float]  # r, alpha (per week), a, b
    gamma_gamma: dict[str, float]  # p, q, v
    library: str
    predictions: Predictions


def _import():
    """pymc-marketing's CLV models, or a one-line error naming the extra to install."""
    try:
        with _quiet():
            import pymc_marketing
            from pymc_extras.prior import Prior
            from pymc_marketing.clv import BetaGeoModel, GammaGammaModel
            from pymc_marketing.clv.utils import customer_lifetime_value
    except ImportError as exc:
        raise ConfigError(
            _("siyu clv needs the optional clv extra (pymc-marketing): pip install 'siyu-cli[clv]' ({value})").format(value=exc.name or exc)
        ) from None
    return pymc_marketing, Prior, BetaGeoModel, GammaGammaModel, customer_lifetime_value


@contextmanager
def _quiet() -> Iterator[None]:
    """pymc/arviz announce refactors and sampler details as warnings and log lines: not for operators."""
    import logging

    loggers = [logging.getLogger(n) for n in ("pymc", "pytensor", "pymc_marketing", "arviz")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def _values(result, names: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for n in names:
        v = float(result[n].values.reshape(-1)[0])
        if not math.isfinite(v) or v <= 0:
            raise DataError(_('the model fit did not converge ({n} = {v}); the purchase history may be too short or too uniform').format(n=n, v=v))
        out[n] = v
    return out


def _squeeze(arr) -> "np.ndarray":
    import numpy as np

    return np.asarray(arr.values, dtype=float).reshape(-1)


def fit(frequency, recency_days, t_days, avg_repeat_spend, *, horizon_months: int, discount_rate: float) -> Fitted:
    """Fit both models on the buyers' summary arrays and predict per buyer (arrays in the same order)."""
    import numpy as np

    pymc_marketing, Prior, BetaGeoModel, GammaGammaModel, customer_lifetime_value = _import()
    import pandas as pd

    n = len(frequency)
    freq = np.asarray(frequency, dtype=float)
    repeat = freq > 0
    if n < 2 or int(repeat.sum()) < MIN_REPEAT_BUYERS:
        raise DataError(
            _('not enough purchase history to fit: {n} buyer(s), {int} with a repeat purchase day (need at least {MIN_REPEAT_BUYERS} repeat buyers)').format(n=n, int=int(repeat.sum()), MIN_REPEAT_BUYERS=MIN_REPEAT_BUYERS)
        )
    data = pd.DataFrame({
        "customer_id": np.arange(n),
        "frequency": freq,
        "recency": np.asarray(recency_days, dtype=float) / DAYS_PER_WEEK,
        "T": np.asarray(t_days, dtype=float) / DAYS_PER_WEEK,
    })
    spend = np.nan_to_num(np.asarray(avg_repeat_spend, dtype=float), nan=0.0)  # one-time buyers: unused (weight 0)
    flat = {k: Prior("HalfFlat") for k in ("r", "alpha", "a", "b")}  # MAP with flat priors = maximum likelihood
    with _quiet():
        bg = BetaGeoModel(data=data, model_config=flat)
        bg.fit(method="map", progressbar=False)
        bg_params = _values(bg.fit_result, ("r", "alpha", "a", "b"))
        gg_data = pd.DataFrame({"customer_id": np.arange(n)[repeat], "frequency": freq[repeat], "monetary_value": spend[repeat]})
        gg = GammaGammaModel(data=gg_data, model_config={k: Prior("HalfFlat") for k in ("p", "q", "v")})
        gg.fit(method="map", progressbar=False)
        gg_params = _values(gg.fit_result, ("p", "q", "v"))
        p_alive = _squeeze(bg.expected_probability_alive(data))
        e30 = _squeeze(bg.expected_purchases(data, future_t=30 / DAYS_PER_WEEK))
        e90 = _squeeze(bg.expected_purchases(data, future_t=90 / DAYS_PER_WEEK))
        all_spend = pd.DataFrame({"customer_id": np.arange(n), "frequency": freq, "monetary_value": spend})
        e_spend = _squeeze(gg.expected_customer_spend(all_spend))
        clv_data = data.assign(future_spend=e_spend)
        clv = _squeeze(customer_lifetime_value(bg, clv_data, future_t=horizon_months, discount_rate=discount_rate,
                                               time_unit="W"))
    return Fitted(bg_params, gg_params, f"pymc-marketing {pymc_marketing.__version__}",
                  Predictions(p_alive, e30, e90, e_spend, clv))


def check_installed() -> str:
    """The library's name and version (raises the ConfigError that names the extra when missing)."""
    pymc_marketing = _import()[0]
    return f"pymc-marketing {pymc_marketing.__version__}"


def describe(params: dict[str, Any]) -> dict[str, float]:
    """Derived population figures operators can read: mean spend per purchase and the dropout probability."""
    gg, bg = params["gamma_gamma"], params["bgnbd"]
    out = {"dropout_probability_per_purchase": bg["a"] / (bg["a"] + bg["b"]),
           "purchase_rate_per_week_mean": bg["r"] / bg["alpha"]}
    if gg["q"] > 1:
        out["spend_per_purchase_mean"] = gg["p"] * gg["v"] / (gg["q"] - 1)
    return out
