"""Randomised experiments in the push ledger: holdout arms, message variants, their sizes and results.

Assignment happens inside ``create_campaign``'s transaction, *after* every exclusion (opt-outs, no
WeCom id, not a contact, caps), so every arm is drawn from the same eligible recipients and the arms
are comparable. Within each sender (guide / group owner) the eligible recipients are ordered by
``md5(campaign_id | member_id)`` — a random order that any run, any DuckDB version and any reader
can reproduce — and cut at the cumulative shares, rounded with a per-sender random offset
(``md5(campaign_id | sender)``), so each guide's arm sizes are within ±1 of their targets and the
totals are unbiased (plain rounding would push every x.5 the same way). Holdout recipients stay in the ledger as ``skipped`` with reason ``holdout`` and arm
``holdout``: no batch ever holds them, so they are never sent.

Statistics (uplift CIs, p-values, the minimum detectable effect) come from scipy.stats. The uplift of
a rate is a Welch two-sample t-test on the per-member 0/1 outcome (the linear-probability estimate of
a difference in proportions; with the arm sizes a test can detect anything, it equals the two-proportion
z-test), GMV per assigned member the same test on per-member GMV.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from siyu_cli.errors import ConfigError, UsageError
from siyu_cli.i18n import _

HOLDOUT = "holdout"
#: largest holdout share accepted (a test with less than half treated is allowed, all-holdout is not)
MAX_HOLDOUT = 0.9
ALPHA = 0.05
POWER = 0.8
DEFAULT_WINDOW_DAYS = 30
_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")


@dataclass
class Arm:
    name: str
    share: float  # of the eligible recipients
    text: str | None  # None for the holdout


@dataclass
class Design:
    holdout: float = 0.0
    variants: list[tuple[str, float, str]] = field(default_factory=list)  # (name, weight, text)

    @property
    def active(self) -> bool:
        return self.holdout > 0 or len(self.variants) > 1

    def arms(self, default_text: str) -> list[Arm]:
        """Holdout first, then the treatment arms sharing the rest by weight (one arm 'treatment' without variants)."""
        variants = self.variants or [("treatment", 1.0, default_text)]
        total = sum(w for _n, w, _t in variants)
        arms = [Arm(HOLDOUT, self.holdout, None)] if self.holdout > 0 else []
        return arms + [Arm(n, (1 - self.holdout) * w / total, t) for n, w, t in variants]


def parse_share(value: Any, what: str = "--holdout") -> float:
    """``10%``, ``0.1`` or ``0`` → 0.1 / 0.1 / 0.0 (a share of the eligible recipients)."""
    text = str(value).strip()
    try:
        share = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise UsageError(_('{what} must be a share like 10% or 0.1 (0 = no holdout), not {value!r}').format(what=what, value=value)) from None
    if not 0 <= share <= MAX_HOLDOUT or math.isnan(share):
        raise UsageError(_('{what} must be between 0 and {MAX_HOLDOUT:.0%}, not {value!r}').format(what=what, MAX_HOLDOUT=MAX_HOLDOUT, value=value))
    return share


def parse_variant(spec: str) -> tuple[str, float, str]:
    """``NAME=TEMPLATE`` or ``NAME:WEIGHT=TEMPLATE`` (``TEMPLATE`` may be ``@file``)."""
    head, sep, text = spec.partition("=")
    name, _sep, weight = head.partition(":")
    name = name.strip()
    if not sep or not _NAME.match(name) or name == HOLDOUT:
        raise UsageError(_("--variant needs NAME=TEMPLATE or NAME:WEIGHT=TEMPLATE (NAME: letters, digits, _ -; not 'holdout'), got {spec!r}").format(spec=spec))
    try:
        w = float(weight) if weight.strip() else 1.0
    except ValueError:
        raise UsageError(_('--variant {name}: the weight must be a number, not {weight!r}').format(name=name, weight=weight)) from None
    if not w > 0 or math.isinf(w):
        raise UsageError(_('--variant {name}: the weight must be positive').format(name=name))
    if text.startswith("@"):
        from pathlib import Path

        try:
            text = Path(text[1:]).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(_('--variant {name}: cannot read {value}: {strerror}').format(name=name, value=text[1:], strerror=exc.strerror)) from None
    if not text.strip():
        raise UsageError(_('--variant {name}: the template is empty').format(name=name))
    return name, w, text


def design(settings, channel: str, holdout: str | float | None, variants: list[str] | None) -> Design:
    """The experiment of a new campaign: flags, else ``[push] holdout`` (only for customer campaigns)."""
    parsed = [parse_variant(v) for v in variants or []]
    names = [n for n, _w, _t in parsed]
    if len(set(names)) != len(names):
        raise UsageError(_('--variant names must differ: {join}').format(join=', '.join(names)))
    if holdout is None:
        default = settings.section("push").get("holdout")
        try:
            share = parse_share(default, "push.holdout") if default not in (None, "") else 0.0
        except UsageError as exc:
            raise ConfigError(_('siyu.toml: {message}').format(message=exc.message)) from None
        if channel != "customer":
            share = 0.0  # the workspace default applies where results can be measured: customer campaigns
    else:
        share = parse_share(holdout)
    d = Design(share, parsed)
    if d.active and channel != "customer":
        raise UsageError(_("--holdout and --variant need the customer channel (results are measured on members' purchases)"))
    return d


#: bounds on ``--coupon``: codes per campaign and characters per code
MAX_COUPONS = 20
MAX_COUPON_LEN = 64


def coupon_codes(values: list[str] | None, channel: str) -> str | None:
    """``--coupon`` values (repeatable, or comma lists) in the stored form of ``orders.coupon_code``; None = no code."""
    from siyu_cli.ingest.values import normalise_codes

    stored = normalise_codes(values or [])
    if stored is None:
        if any(v.strip() for v in values or []):
            raise UsageError(_('--coupon needs a code (e.g. --coupon SPRING10 or --coupon A,B)'))
        return None
    codes = stored.split(",")
    if len(codes) > MAX_COUPONS or any(len(c) > MAX_COUPON_LEN for c in codes):
        raise UsageError(_('--coupon takes at most {MAX_COUPONS} codes of at most {MAX_COUPON_LEN} characters each').format(MAX_COUPONS=MAX_COUPONS, MAX_COUPON_LEN=MAX_COUPON_LEN))
    if channel != "customer":
        raise UsageError(_('--coupon needs the customer channel (redemptions are attributed to the members sent to)'))
    return stored


def assign(con, cid: str, d: Design, default_text: str) -> list[Arm]:
    """Give every eligible row of ``_push_r`` its arm; holdout rows become skipped/holdout. Records the arms."""
    arms = d.arms(default_text)
    cuts, acc = [], 0.0
    for arm in arms:
        acc += arm.share
        cuts.append((arm.name, acc))
    cases = " ".join(f"WHEN i < floor(n * {min(c, 1.0)!r} + u) THEN '{name}'" for name, c in cuts[:-1])
    con.execute(
        f"""UPDATE _push_r AS r SET arm = a.arm,
                   state = CASE WHEN a.arm = '{HOLDOUT}' THEN 'skipped' ELSE r.state END,
                   reason = CASE WHEN a.arm = '{HOLDOUT}' THEN '{HOLDOUT}' ELSE r.reason END
            FROM (SELECT recipient_id, CASE {cases} ELSE '{cuts[-1][0]}' END AS arm
                  FROM (SELECT recipient_id,
                               row_number() OVER (PARTITION BY sender ORDER BY md5(? || '|' || coalesce(member_id, recipient_id)),
                                                  recipient_id) - 1 AS i,
                               count(*) OVER (PARTITION BY sender) AS n,
                               -- the sender's rounding offset in [0, 1): its arms get floor(n·share + u) members, so
                               -- each is within ±1 of n·share and, over many senders, exactly n·share on average
                               CAST('0x' || left(md5(? || '|' || coalesce(sender, '')), 8) AS UBIGINT) / 4294967296.0 AS u
                        FROM _push_r WHERE state = 'planned')) a
            WHERE r.recipient_id = a.recipient_id""",
        [cid, cid],
    )
    con.executemany(
        "INSERT INTO push_arms (campaign_id, arm, share, template) VALUES (?, ?, ?, ?)",
        [[cid, a.name, a.share, a.text] for a in arms],
    )
    con.execute("UPDATE push_campaigns SET holdout = ? WHERE campaign_id = ?", [d.holdout, cid])
    return arms


# ---------------------------------------------------------------- statistics


def mde(n_treat: int, n_ref: int, base_rate: float, *, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """Smallest absolute difference in a rate (at ``base_rate``) a two-sided test detects with this power."""
    from scipy.stats import norm

    if n_treat < 1 or n_ref < 1:
        return None
    p = min(max(base_rate, 1e-9), 1 - 1e-9)
    return float((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * math.sqrt(p * (1 - p) * (1 / n_treat + 1 / n_ref)))


def compare(treat, ref, *, alpha: float = ALPHA) -> dict[str, Any]:
    """Difference of means treat − ref with its (1−alpha) CI and two-sided p-value (Welch's t-test, scipy.stats)."""
    import numpy as np
    from scipy.stats import ttest_ind

    t, r = np.asarray(treat, dtype=float), np.asarray(ref, dtype=float)
    diff = float(t.mean() - r.mean()) if len(t) and len(r) else None
    if len(t) < 2 or len(r) < 2 or (t.var() == 0 and r.var() == 0):
        return {"diff": diff, "ci_low": None, "ci_high": None, "p_value": None}
    res = ttest_ind(t, r, equal_var=False)
    ci = res.confidence_interval(1 - alpha)
    return {"diff": diff, "ci_low": float(ci.low), "ci_high": float(ci.high), "p_value": float(res.pvalue)}


def verdict(cmp: dict[str, Any], ref_rate: float, n_min: int, window_open: bool) -> str:
    """significant | no_clear_difference | not_enough_data (the wording docs/experiments.md explains)."""
    if cmp["p_value"] is None or n_min < 30:
        return "not_enough_data"
    if cmp["p_value"] < ALPHA:
        return "significant" if not window_open else "significant_so_far"
    half = (cmp["ci_high"] - cmp["ci_low"]) / 2
    # the interval still admits an effect as large as half the reference rate (or 1 pp): too wide to call
    if half > max(0.5 * ref_rate, 0.01):
        return "not_enough_data"
    return "no_clear_difference" if not window_open else "not_enough_data"


# ---------------------------------------------------------------- reading


def campaigns_with_arms(con, start: datetime, end: datetime) -> list[str]:
    """Ids of the campaigns created in [start, end) that have arms (a randomised design), in order."""
    return [r[0] for r in con.execute(
        """SELECT DISTINCT c.campaign_id FROM push_campaigns c JOIN push_arms a USING (campaign_id)
           WHERE c.created_at >= ? AND c.created_at < ? ORDER BY 1""", [start, end]).fetchall()]


def coupon_campaigns(con, start: datetime, end: datetime) -> list[str] | None:
    """Ids of the campaigns created in [start, end) that declared a coupon code; None when the store predates coupons."""
    cols = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                      "WHERE table_name = 'push_campaigns'").fetchall()}
    if "coupon_code" not in cols:
        return None
    return [r[0] for r in con.execute(
        "SELECT campaign_id FROM push_campaigns WHERE coupon_code IS NOT NULL AND created_at >= ? AND created_at < ? "
        "ORDER BY 1", [start, end]).fetchall()]


def arms_of(con, cid: str) -> list[dict[str, Any]]:
    rows = con.execute("SELECT arm, share, template FROM push_arms WHERE campaign_id = ? ORDER BY arm <> ?, arm",
                       [cid, HOLDOUT]).fetchall()
    return [{"arm": a, "share": s, "template": t} for a, s, t in rows]


_PAID = "o.status NOT IN ('cancelled', 'unpaid') AND o.net_amount > 0"
_PURCHASE = "o.member_id IS NOT NULL AND " + _PAID
#: an order carries one of the campaign's codes (both sides in the normalised form; case is ignored)
_REDEEMED = "list_has_any(string_split(upper(o.coupon_code), ','), $codes::VARCHAR[])"


def baseline_rate(con, cid: str, at: datetime, days: int) -> float | None:
    """Share of the campaign's eligible members (every arm) who bought in the ``days`` days before ``at``."""
    row = con.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM orders o WHERE o.member_id = r.member_id AND {_PURCHASE}
                     AND o.paid_at >= ? AND o.paid_at < ?))
            FROM push_recipients r WHERE r.campaign_id = ? AND r.arm IS NOT NULL AND r.member_id IS NOT NULL""",
        [at - timedelta(days=days), at, cid],
    ).fetchone()
    return (row[1] / row[0]) if row and row[0] else None


def plan_summary(con, cid: str, at: datetime, days: int = DEFAULT_WINDOW_DAYS) -> dict[str, Any] | None:
    """Arm sizes (overall and per sender) and each treatment arm's minimum detectable effect on the repurchase rate."""
    arms = arms_of(con, cid)
    if not arms:
        return None
    sizes = dict(con.execute("SELECT arm, count(*) FROM push_recipients WHERE campaign_id = ? AND arm IS NOT NULL GROUP BY 1",
                             [cid]).fetchall())
    per_sender = con.execute(
        "SELECT coalesce(sender, ''), arm, count(*) FROM push_recipients WHERE campaign_id = ? AND arm IS NOT NULL "
        "GROUP BY 1, 2 ORDER BY 1, 2", [cid]).fetchall()
    base = baseline_rate(con, cid, at, days)
    ref = HOLDOUT if any(a["arm"] == HOLDOUT for a in arms) else arms[0]["arm"]
    out_arms = []
    for a in arms:
        n = int(sizes.get(a["arm"], 0))
        # no baseline purchases (rate 0 or 1): the normal approximation says nothing; show no MDE
        eff = None if a["arm"] == ref or not base or base >= 1 else mde(n, int(sizes.get(ref, 0)), base)
        out_arms.append({"arm": a["arm"], "share": a["share"], "assigned": n, "mde_vs_" + ref: eff,
                         "template": a["template"]})
    senders: dict[str, dict[str, int]] = {}
    for s, arm, n in per_sender:
        senders.setdefault(s or None, {})[arm] = int(n)
    return {"reference": ref, "baseline_window_days": days, "baseline_rate": base, "arms": out_arms,
            "per_sender": [{"sender": s, **v} for s, v in senders.items()],
            "note": ("mde_* = smallest absolute change in the repurchase rate a two-sided 5 % test detects "
                     "with 80 % power, at the baseline rate (eligible members who bought in the window before)")}


_EMPTY = {"reached": [], "orders": [], "gmv": [], "c_orders": [], "c_gmv": []}


def results(con, cid: str, *, days: int = DEFAULT_WINDOW_DAYS, now: datetime | None = None) -> dict[str, Any]:
    """Per arm: assigned, reached, responders, orders, GMV; uplift over the reference arm (ITT and delivered-only).

    With a coupon code on the campaign, ``redemption`` holds the same per arm for orders that used it."""
    from siyu_cli.push.ledger import get_campaign

    now = now or datetime.now(timezone.utc)
    camp = get_campaign(con, cid)
    codes = camp["coupon_code"].upper().split(",") if camp.get("coupon_code") else []
    arms = arms_of(con, cid)
    start = con.execute("SELECT min(sent_at) FROM push_recipients WHERE campaign_id = ? AND sent_at IS NOT NULL",
                        [cid]).fetchone()[0] or camp["scheduled_at"] or camp["created_at"]
    end = start + timedelta(days=days)
    window_open = now < end
    randomised = bool(arms)
    # without arms: everyone sent vs everyone in the audience who was not (observational, labelled so)
    group = "r.arm" if randomised else "CASE WHEN r.state = 'sent' THEN 'sent' ELSE 'not_sent' END"
    in_experiment = "r.member_id IS NOT NULL" + (" AND r.arm IS NOT NULL" if randomised else "")
    params = {"start": start, "end": end, "cid": cid, "codes": codes}
    cur = con.execute(
        f"""SELECT {group} AS arm, r.member_id, r.delivery = 'delivered' AS reached,
                   count(o.order_id) AS orders, coalesce(sum(o.net_amount), 0) AS gmv,
                   count(o.order_id) FILTER (WHERE {_REDEEMED}) AS c_orders,
                   coalesce(sum(o.net_amount) FILTER (WHERE {_REDEEMED}), 0) AS c_gmv
            FROM push_recipients r
            LEFT JOIN orders o ON o.member_id = r.member_id AND {_PURCHASE} AND o.paid_at >= $start AND o.paid_at < $end
            WHERE r.campaign_id = $cid AND {in_experiment}
            GROUP BY ALL""",
        params,
    )
    per: dict[str, dict[str, list]] = {}
    for arm, _mid, reached, orders, gmv, c_orders, c_gmv in cur.fetchall():
        d = per.setdefault(arm, {k: [] for k in _EMPTY})
        d["reached"].append(bool(reached))
        d["orders"].append(int(orders))
        d["gmv"].append(float(gmv))
        d["c_orders"].append(int(c_orders))
        d["c_gmv"].append(float(c_gmv))
    order = [a["arm"] for a in arms] if randomised else ["sent", "not_sent"]
    # the reference: the holdout; variants without one: the first variant; observational: those not sent (so the
    # uplift reads "sent vs not sent", as labelled)
    ref = HOLDOUT if HOLDOUT in order else order[0] if randomised else "not_sent"
    out = {"campaign_id": cid, "name": camp["name"], "design": "randomised" if randomised else "observational",
           "reference": ref, "window_days": days, "window_start": start, "window_end": end,
           "window_open": window_open,
           "attribution": "window: any purchase within the window counts, whatever code it used",
           "arms": _arm_rows(per, order, "orders", "gmv", "responders", "response_rate"),
           "uplift": _uplifts(per, order, ref, randomised, window_open, "orders", "gmv", "response_rate")}
    if codes:
        outside = con.execute(
            f"""SELECT count(*), coalesce(sum(o.net_amount), 0), count(*) FILTER (WHERE o.member_id IS NULL)
                FROM orders o WHERE {_PAID} AND o.paid_at >= $start AND o.paid_at < $end AND {_REDEEMED}
                  AND (o.member_id IS NULL OR o.member_id NOT IN (
                       SELECT r.member_id FROM push_recipients r WHERE r.campaign_id = $cid AND {in_experiment}))""",
            params).fetchone()
        coded = con.execute("SELECT count(*) FROM orders o WHERE o.paid_at >= $start AND o.paid_at < $end "
                            "AND o.coupon_code IS NOT NULL", {"start": start, "end": end}).fetchone()[0]
        out["redemption"] = {
            "codes": camp["coupon_code"].split(","),
            "label": "attribution by redemption: only orders that used the campaign's code (case ignored) within "
                     "the window; redemptions in the holdout are codes that leaked",
            "arms": _arm_rows(per, order, "c_orders", "c_gmv", "redeemers", "redemption_rate"),
            "uplift": _uplifts(per, order, ref, randomised, window_open, "c_orders", "c_gmv", "redemption_rate"),
            "outside": {"label": "orders with the code from people outside the " + ("experiment" if randomised else
                                                                                    "audience") + " (incl. walk-ins)",
                        "orders": int(outside[0]), "gmv": round(float(outside[1]), 2), "non_member_orders": int(outside[2])},
            "note": None if coded else "no order paid in the window carries any coupon code: load an export with a "
                                       "coupon column (docs/load.md) before reading redemptions",
        }
    return out


def _arm_rows(per, order, count_key: str, gmv_key: str, who: str, rate: str) -> list[dict[str, Any]]:
    """Per arm: assigned, reached, members with an order (``who``) and their share, orders, GMV, GMV per assigned."""
    rows = []
    for arm in order:
        d = per.get(arm, _EMPTY)
        n = len(d[count_key])
        hit = int(sum(1 for o in d[count_key] if o > 0))
        gmv = sum(d[gmv_key])
        rows.append({"arm": arm, "assigned": n, "reached": int(sum(d["reached"])), who: hit,
                     rate: (hit / n) if n else None, "orders": int(sum(d[count_key])),
                     "gmv": round(float(gmv), 2), "gmv_per_assigned": (gmv / n) if n else None})
    return rows


def _uplifts(per, order, ref, randomised: bool, window_open: bool, count_key: str, gmv_key: str,
             rate: str) -> list[dict[str, Any]]:
    """Each arm against ``ref``: the rate of members with an order and GMV per member, ITT and delivered-only."""
    import numpy as np

    rd = per.get(ref, _EMPTY)
    ref_hit = np.array([o > 0 for o in rd[count_key]], dtype=float)
    ref_gmv = np.array(rd[gmv_key], dtype=float)
    ref_rate = float(ref_hit.mean()) if len(ref_hit) else 0.0
    uplifts = []
    for arm in order:
        if arm == ref:
            continue
        d = per.get(arm, _EMPTY)
        hit = np.array([o > 0 for o in d[count_key]], dtype=float)
        gmv = np.array(d[gmv_key], dtype=float)
        reached = np.array(d["reached"], dtype=bool)
        itt = compare(hit, ref_hit)
        entry = {
            "arm": arm, "versus": ref,
            "itt": {"label": "intent-to-treat: everyone assigned (randomised, unbiased)" if randomised
                    else "observational: sent vs not sent (NOT randomised; biased by who could be reached)",
                    rate: itt, "gmv_per_member": compare(gmv, ref_gmv),
                    "verdict": verdict(itt, ref_rate, min(len(hit), len(ref_hit)), window_open)},
        }
        if randomised:
            dl = compare(hit[reached], ref_hit)
            entry["delivered_only"] = {
                "label": "delivered-only: treated members WeCom reports delivered vs the whole reference arm "
                         "(not randomised: who gets delivered is selected)",
                "members": int(reached.sum()), rate: dl,
                "gmv_per_member": compare(gmv[reached], ref_gmv),
                "verdict": verdict(dl, ref_rate, min(int(reached.sum()), len(ref_hit)), window_open)}
        uplifts.append(entry)
    return uplifts
