"""Segmentation schemes: rfm8 (the 2×2×2 blue-book model), rfm11 (quintile scores, 11 names), custom YAML.

Each scheme turns the measures table into a result table with scores and a
segment per member, entirely in SQL, and returns ``info``: the thresholds it
used and its segment catalogue (ids, Chinese names, actions). ``info`` is stored
with the snapshot so ``siyu segment show`` can explain a member later.

Members without a purchase always get the segment ``no_purchase`` (未购) in
every scheme, with NULL scores: they are reported, never dropped.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siyu_cli.errors import DataError, UsageError
from siyu_cli.i18n import _

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

NO_PURCHASE = {
    "id": "no_purchase",
    "key": "no_purchase",
    "name": "未购",
    "name_en": "no purchase",
    "action": "首单转化：新人券、首购引导",
    "action_en": "first-purchase conversion: welcome coupon, first-order nudge",
}


@dataclass(frozen=True)
class Segment:
    id: str
    key: str
    name: str
    name_en: str
    action: str

    def to_dict(self) -> dict[str, str]:
        """Catalogue entry; ``action`` is the Chinese text, ``action_en`` the English one."""
        d = asdict(self)
        d["action"], d["action_en"] = split_action(self.action)
        return d


def split_action(text: str) -> tuple[str, str]:
    """'中文 (english)' → ('中文', 'english')."""
    if text.endswith(")") and " (" in text:
        zh, en = text.rsplit(" (", 1)
        return zh, en[:-1]
    return text, ""


# ---------------------------------------------------------------- rfm8

#: (R high, F high, M high) → class; names and actions from DOMAIN.md / RFM.md §1a.
RFM8: dict[tuple[int, int, int], Segment] = {
    (1, 1, 1): Segment("A", "important_value", "重要价值客户", "super users",
                       "VIP 服务、新品抢先、推荐/合伙人计划 (VIP service, early access, referral programme)"),
    (1, 1, 0): Segment("B", "general_value", "一般价值客户", "potential",
                       "组合套餐、加购提客单 (bundles, upsell to raise basket)"),
    (1, 0, 1): Segment("C", "important_develop", "重要发展客户", "big new spenders",
                       "提频：会员权益、复购提醒 (raise frequency: membership benefits, reminders)"),
    (1, 0, 0): Segment("D", "general_develop", "一般发展客户", "new customers",
                       "新客 SOP、首次复购券 (onboarding SOP, first-repurchase coupon)"),
    (0, 1, 1): Segment("E", "important_keep", "重要保持客户", "slipping super users",
                       "导购 1:1 立即召回 (win-back by a guide 1:1, now)"),
    (0, 1, 0): Segment("F", "general_keep", "一般保持客户", "slipping regulars",
                       "唤醒优惠 (reactivation offer)"),
    (0, 0, 1): Segment("G", "important_retain", "重要挽留客户", "lapsed big spenders",
                       "专人回访、了解流失原因 (personal recall, understand why)"),
    (0, 0, 0): Segment("H", "general_retain", "一般挽留客户", "lost",
                       "低成本内容触达，必要时放弃 (low-cost content, eventually let go)"),
}

_DIMS = {"r": "recency_days", "f": "frequency", "m": "monetary"}
_DIM_LABEL = {"r": "R (recency_days)", "f": "F (frequency)", "m": "M (monetary)"}

#: Defaults, chosen so the split is not degenerate when most members bought once (see docs/segment.md):
#: F is a fixed "bought at least twice" (a median of 1 would call every buyer high or none),
#: R and M split at the buyers' median (continuous, so roughly half on each side).
DEFAULT_SPLITS = {"r": "median", "f": "2", "m": "median"}


@dataclass(frozen=True)
class Split:
    dim: str  # r | f | m
    kind: str  # median | mean | quantile | fixed
    q: float | None = None
    value: float | None = None  # the fixed threshold

    @property
    def spec(self) -> str:
        if self.kind == "quantile":
            return f"q{self.q:g}"
        if self.kind == "fixed":
            return f"{self.value:g}"
        return self.kind


def parse_split(dim: str, spec: Any) -> Split:
    """``median`` | ``mean`` | ``q0.8`` / ``p80`` / ``quantile:0.8`` | a number (fixed business threshold)."""
    text = str(spec).strip().lower()
    if text in ("median", "mean"):
        return Split(dim, text)
    m = re.fullmatch(r"(?:q|quantile:?)\s*(0?\.\d+|1(?:\.0+)?|0)", text) or re.fullmatch(r"p(\d{1,2}(?:\.\d+)?)", text)
    if m:
        q = float(m.group(1)) if not text.startswith("p") else float(m.group(1)) / 100
        if not 0 < q < 1:
            raise UsageError(_('--{dim}-split quantile must be between 0 and 1 (exclusive), not {spec!r}').format(dim=dim, spec=spec))
        return Split(dim, "quantile", q=q)
    try:
        value = float(text)
    except ValueError:
        raise UsageError(
            _('--{dim}-split must be median, mean, a quantile like q0.8 / p80, or a number, not {spec!r}').format(dim=dim, spec=spec)
        ) from None
    if value < 0:
        raise UsageError(_('--{dim}-split threshold must not be negative, not {spec!r}').format(dim=dim, spec=spec))
    return Split(dim, "fixed", value=value)


def _split_thresholds(con, table: str, splits: dict[str, Split]) -> dict[str, float | None]:
    """Each dimension's threshold: the fixed value, or a statistic over buyers (all in one query)."""
    out: dict[str, float | None] = {}
    exprs = []
    for d in "rfm":
        split, col = splits[d], _DIMS[d]
        if split.kind == "fixed":
            out[d] = split.value
        else:
            exprs.append((d, {"median": f"median({col})", "mean": f"avg({col})"}.get(
                split.kind, f"quantile_cont({col}, {split.q})")))
    if exprs:
        row = con.execute(f"SELECT {', '.join(e for _, e in exprs)} FROM {table} WHERE frequency > 0").fetchone()
        for (d, _expr), value in zip(exprs, row):
            out[d] = None if value is None else float(value)
    return {d: out[d] for d in "rfm"}


def _high_sql(split: Split, threshold: float | None) -> str:
    """R: recent = recency ≤ t (both kinds). F/M: fixed = value ≥ t; statistic = value > t."""
    col = _DIMS[split.dim]
    if threshold is None:
        return "FALSE"
    t = repr(float(threshold))
    if split.dim == "r":
        return f"({col} <= {t})"
    return f"({col} >= {t})" if split.kind == "fixed" else f"({col} > {t})"


def high_rule_text(dim: str, kind: str, threshold: float | None) -> str:
    """The rule in words, e.g. ``F ≥ 2 (fixed)`` or ``M > 420.5 (median)``."""
    letter = dim.upper()
    if threshold is None:
        return f"{letter}: no buyers"
    op = "≤" if dim == "r" else ("≥" if kind == "fixed" else ">")
    return f"{letter} {op} {threshold:g}"


def _codes_table(con, rows: list[tuple[int, str, str]]) -> None:
    """TEMP TABLE seg_codes (code, segment_id, segment_name): the scheme's catalogue, bound as lists."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE seg_codes AS SELECT unnest(?::INTEGER[]) AS code, "
        "unnest(?::VARCHAR[]) AS segment_id, unnest(?::VARCHAR[]) AS segment_name",
        [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
    )


def rfm8_codes() -> list[tuple[int, str, str]]:
    return [(r * 100 + f * 10 + m, seg.id, seg.name) for (r, f, m), seg in RFM8.items()]


def rfm8_query(splits: dict[str, Split], thresholds: dict[str, float | None]) -> tuple[str, dict[str, Any]]:
    """Query segment/rfm8 and its parameters for these splits and thresholds."""
    from siyu_cli import sql

    params = {f"{d}_threshold": thresholds[d] for d in "rfm"}
    params |= {f"{d}_fixed": splits[d].kind == "fixed" for d in "fm"}
    params["no_purchase_name"] = NO_PURCHASE["name"]
    return sql.render("segment/rfm8"), sql.bind("segment/rfm8", params)


def rfm8_assign(con, buyers: str, emit, splits: dict[str, Split]) -> dict[str, Any]:
    """Pass the scoring SELECT to ``emit`` (the caller inserts it); return thresholds and catalogue.

    ``buyers`` is the per-buyer table from ``measures.build_buyers``: thresholds are
    statistics over buyers, and members without a purchase join in inside the SELECT.
    """
    thresholds = _split_thresholds(con, buyers, splits)
    highs = {d: _high_sql(splits[d], thresholds[d]) for d in "rfm"}
    _codes_table(con, rfm8_codes())
    emit(*rfm8_query(splits, thresholds))
    splits_info = {
        d: {
            "spec": splits[d].spec,
            "kind": splits[d].kind,
            "threshold": thresholds[d],
            "rule": high_rule_text(d, splits[d].kind, thresholds[d]),
        }
        for d in "rfm"
    }
    warnings = []
    counts = con.execute(
        f"""SELECT count(*) FILTER (WHERE {highs['r']}), count(*) FILTER (WHERE {highs['f']}),
                   count(*) FILTER (WHERE {highs['m']}), count(*)
            FROM {buyers} WHERE frequency > 0"""
    ).fetchone()
    buyers = counts[3]
    for d, highs_n in zip("rfm", counts[:3]):
        if buyers and highs_n in (0, buyers):
            side = "high" if highs_n == buyers else "low"
            warnings.append(
                f"the {d.upper()} split ({splits_info[d]['rule']}, {splits[d].spec}) puts every buyer on the {side} "
                f"side; choose another --{d}-split"
            )
    return {
        "splits": splits_info,
        "segments": [s.to_dict() for s in RFM8.values()] + [NO_PURCHASE],
        "codes": {seg.id: list(code) for code, seg in RFM8.items()},
        "warnings": warnings,
    }


# ---------------------------------------------------------------- rfm11

#: The 125-code lookup table (RFM.md §1b(i)): codes are R F M scores; Lost is the ELSE branch.
RFM11_CODES: list[tuple[Segment, tuple[int, ...]]] = [
    (Segment("champions", "champions", "冠军客户", "Champions",
             "专属权益、新品首发、邀请推荐 (reward them, early access, ask for referrals)"),
     (555, 554, 544, 545, 454, 455, 445)),
    (Segment("loyal_customers", "loyal_customers", "忠诚客户", "Loyal Customers",
             "会员升级、加购推荐 (upsell higher-value products, ask for reviews)"),
     (543, 444, 435, 355, 354, 345, 344, 335)),
    (Segment("potential_loyalist", "potential_loyalist", "潜力忠诚客户", "Potential Loyalist",
             "会员计划、个性化推荐 (membership / loyalty programme, recommendations)"),
     (553, 551, 552, 541, 542, 533, 532, 531, 452, 451, 442, 441, 431, 453, 433, 432, 423, 353, 352, 351,
      342, 341, 333, 323)),
    (Segment("recent_customers", "recent_customers", "新近客户", "Recent Customers",
             "新客 SOP、建立关系 (onboarding support, early success)"),
     (512, 511, 422, 421, 412, 411, 311)),
    (Segment("promising", "promising", "有潜力客户", "Promising",
             "品牌内容、小额优惠 (create brand awareness, free trials)"),
     (525, 524, 523, 522, 521, 515, 514, 513, 425, 424, 413, 414, 415, 315, 314, 313)),
    (Segment("need_attention", "need_attention", "需要关注客户", "Customers Needing Attention",
             "限时优惠、基于历史推荐 (limited-time offers based on past purchases)"),
     (535, 534, 443, 434, 343, 334, 325, 324)),
    (Segment("about_to_sleep", "about_to_sleep", "即将沉睡客户", "About To Sleep",
             "热门品推荐、折扣唤醒 (share popular products, renew interest with discounts)"),
     (331, 321, 312, 221, 213)),
    (Segment("at_risk", "at_risk", "流失风险客户", "At Risk",
             "个性化召回、续费/复购提醒 (personalised win-back emails/messages)"),
     (255, 254, 245, 244, 253, 252, 243, 242, 235, 234, 225, 224, 153, 152, 145, 143, 142, 135, 134, 133,
      125, 124)),
    (Segment("cant_lose", "cant_lose", "不能失去的客户", "Can't Lose Them",
             "导购 1:1 召回、了解原因 (win them back 1:1, talk to them)"),
     (155, 154, 144, 214, 215, 115, 114, 113)),
    (Segment("hibernating", "hibernating", "休眠客户", "Hibernating",
             "低成本内容、相关品推荐 (offer other relevant products, low-cost content)"),
     (332, 322, 231, 241, 251, 233, 232, 223, 222, 132, 123, 122, 212, 211)),
]
RFM11_LOST = Segment("lost", "lost", "流失客户", "Lost",
                     "低成本唤醒，否则放弃 (revive with outreach, otherwise ignore)")


def rfm11_segment_of(code: int) -> Segment:
    for seg, codes in RFM11_CODES:
        if code in codes:
            return seg
    return RFM11_LOST


QUINTILE_RULE = "quintiles by percent rank: score = min(5, 1 + floor(5*(rank-1)/(buyers-1))), rank() from worst to best; ties share a score"


def quintile_scores_sql(con, buyers: str) -> tuple[str, dict[str, Any]]:
    """Query segment/quintile_scores and its cut parameters: every member's measures with 1–5 scores (NULL for members without a purchase).

    score = min(5, 1 + ⌊5·(rank−1)/(n−1)⌋) among the n buyers, ranked with
    ``rank()`` from worst to best (R: oldest last purchase first; F, M:
    smallest first), so equal values share the lowest rank and always get the
    same score whatever the row order. Integer arithmetic: exact boundaries.
    Computed as comparisons with four exact cut values per dimension
    (``measures.quintile_cuts``), which gives the same scores as ``rank()``
    without sorting the buyers. Consequences (docs/segment.md): the worst value
    scores 1 and the best 5; on skewed F everyone who bought once scores 1 and
    some scores can be empty; a single buyer scores 1/1/1.
    """
    from siyu_cli import sql
    from siyu_cli.segment.measures import quintile_cuts

    return sql.render("segment/quintile_scores"), quintile_cuts(con, buyers).params()


def _catalog_case(pairs: list[tuple[str, str]], expr: str, default: str) -> str:
    return f"CASE {expr} " + " ".join(f"WHEN {_lit(i)} THEN {_lit(n)}" for i, n in pairs) + f" ELSE {_lit(default)} END"


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def rfm11_codes() -> list[tuple[int, str, str]]:
    """The 125 quintile codes with their segment (Lost for codes no segment lists)."""
    return [(code, seg.id, seg.name) for code in (r * 100 + f * 10 + m for r in range(1, 6) for f in range(1, 6)
                                                  for m in range(1, 6)) for seg in [rfm11_segment_of(code)]]


def rfm11_assign(con, buyers: str, emit) -> dict[str, Any]:
    # A 125-row lookup joined on the code (a CASE over 119 codes per member was the slowest step).
    from siyu_cli import sql

    segments = [seg for seg, _ in RFM11_CODES] + [RFM11_LOST]
    _codes_table(con, rfm11_codes())
    _, cuts = quintile_scores_sql(con, buyers)
    emit(sql.render("segment/rfm11"), sql.bind("segment/rfm11", cuts | {"no_purchase_name": NO_PURCHASE["name"]}))
    return {
        "scoring": QUINTILE_RULE,
        "segments": [s.to_dict() for s in segments] + [NO_PURCHASE],
        "codes": {seg.id: list(codes) for seg, codes in RFM11_CODES} | {"lost": "else"},
        "warnings": [],
    }


# ---------------------------------------------------------------- custom YAML

#: Fields a custom rule may test, with the measure column each maps to.
CUSTOM_FIELDS = {
    "recency": "recency_days",
    "recency_days": "recency_days",
    "frequency": "frequency",
    "monetary": "monetary",
    "revenue": "revenue",
    "r_score": "r_score",
    "f_score": "f_score",
    "m_score": "m_score",
}
_COND = re.compile(r"^\s*(>=|<=|==|!=|>|<|=)\s*(-?\d+(?:\.\d+)?)\s*$")
_RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*\.\.\s*(-?\d+(?:\.\d+)?)\s*$")
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")


def _line_loader():
    import yaml

    class LineLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=deep)
        mapping["__line__"] = node.start_mark.line + 1
        mapping["__lines__"] = {
            k.value: k.start_mark.line + 1 for k, _ in node.value if hasattr(k, "value")
        }
        return mapping

    LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return LineLoader


def parse_condition(value: Any) -> tuple[str, list[float]]:
    """``5`` (equals), ``[4, 5]`` (one of), ``">= 500"``, ``"1..3"`` (inclusive range) → (op, numbers)."""
    if isinstance(value, bool):
        raise ValueError("a condition must be a number, a list of numbers, 'OP N' or 'A..B'")
    if isinstance(value, (int, float)):
        return "==", [float(value)]
    if isinstance(value, list):
        if not value or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ValueError("a list condition must hold numbers, e.g. [4, 5]")
        return "in", [float(v) for v in value]
    if isinstance(value, str):
        m = _COND.match(value)
        if m:
            op = "==" if m.group(1) in ("=", "==") else m.group(1)
            return op, [float(m.group(2))]
        m = _RANGE.match(value)
        if m:
            lo, hi = float(m.group(1)), float(m.group(2))
            if lo > hi:
                raise ValueError(f"range {value!r} is empty (low > high)")
            return "between", [lo, hi]
    raise ValueError(f"cannot read condition {value!r}: use a number, [list], '>= 500', '< 30' or '1..3'")


def condition_sql(column: str, op: str, nums: list[float]) -> str:
    if op == "in":
        return f"{column} IN ({', '.join(repr(n) for n in nums)})"
    if op == "between":
        return f"{column} BETWEEN {nums[0]!r} AND {nums[1]!r}"
    return f"{column} {'=' if op == '==' else op} {nums[0]!r}"


def condition_holds(value: Any, op: str, nums: list[float]) -> bool:
    if value is None:
        return False
    v = float(value)
    return {
        "in": lambda: v in nums,
        "between": lambda: nums[0] <= v <= nums[1],
        "==": lambda: v == nums[0],
        "!=": lambda: v != nums[0],
        ">=": lambda: v >= nums[0],
        "<=": lambda: v <= nums[0],
        ">": lambda: v > nums[0],
        "<": lambda: v < nums[0],
    }[op]()


def condition_text(field: str, op: str, nums: list[float]) -> str:
    if op == "in":
        return f"{field} in {[f'{n:g}' for n in nums]}".replace("'", "")
    if op == "between":
        return f"{nums[0]:g} ≤ {field} ≤ {nums[1]:g}"
    return f"{field} {op} {nums[0]:g}"


def _scheme_fail(path: Path, line: int | None, rule: str | None, message: str):
    """Raise the one-line error a scheme author needs: file, line and rule."""
    where = f"{path}:{line}" if line else str(path)
    raise DataError(_('{where}: {value}{message}').format(where=where, value='rule ' + repr(rule) + ': ' if rule else '', message=message))


def _read_scheme_yaml(path: Path) -> Any:
    """The YAML of a scheme file, every mapping carrying its line numbers for error messages."""
    import yaml

    from siyu_cli.config import read_utf8

    text = read_utf8(path, missing=UsageError(_('{path}: no such scheme file (use rfm8, rfm11 or a YAML file)').format(path=path)),
                     not_utf8=DataError(_('{path}: not UTF-8 text').format(path=path)))
    try:
        return yaml.load(text, Loader=_line_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise DataError(_('{where}: invalid YAML: {getattr}').format(where=where, getattr=getattr(exc, 'problem', exc))) from None


def _segment_labels(raw: dict[str, Any], sid: str) -> dict[str, str]:
    """The id and the operator-facing names of a rule or the default (English falls back to the id)."""
    return {
        "id": sid,
        "key": sid,
        "name": raw["name"].strip(),
        "name_en": str(raw.get("name_en") or sid),
        "action": str(raw.get("action") or ""),
        "action_en": str(raw.get("action_en") or ""),
    }


def _parse_when(path: Path, when: dict[str, Any], line: int, label: str) -> list[dict[str, Any]]:
    """A rule's `when:` mapping as a list of checked conditions on the known fields."""
    conds = []
    for fld, cond in when.items():
        if fld.startswith("__"):
            continue
        fline = when["__lines__"].get(fld, line)
        if fld not in CUSTOM_FIELDS:
            _scheme_fail(path, fline, label, f"unknown field `{fld}` (use {', '.join(sorted(set(CUSTOM_FIELDS)))})")
        try:
            op, nums = parse_condition(cond)
        except ValueError as exc:
            _scheme_fail(path, fline, label, f"{fld}: {exc}")
        conds.append({"field": fld, "op": op, "values": nums})
    return conds


def _parse_rule(path: Path, data: dict[str, Any], index: int, raw: Any, seen: set[str]) -> dict[str, Any]:
    """One entry of `segments:`, validated key by key; its id is added to ``seen`` (ids must be unique)."""
    fail = partial(_scheme_fail, path)
    if not isinstance(raw, dict):
        fail(data["__lines__"].get("segments"), f"#{index}", "each rule must be a mapping with id, name and when")
    line = raw["__line__"]
    rid = raw.get("id")
    label = str(rid) if rid is not None else f"#{index}"
    for key in raw:
        if key not in ("id", "name", "name_en", "action", "action_en", "when", "__line__", "__lines__"):
            fail(raw["__lines__"].get(key, line), label,
                 f"unknown key `{key}` (expected id, name, name_en, action, action_en, when)")
    if not isinstance(rid, str) or not _ID.match(rid):
        fail(raw["__lines__"].get("id", line), label, "`id` must be a short name of letters, digits, _ or - (e.g. vip)")
    if rid in seen or rid == "no_purchase":
        fail(raw["__lines__"].get("id", line), label, f"id {rid!r} is used twice" if rid in seen else "id 'no_purchase' is reserved")
    seen.add(rid)
    if not isinstance(raw.get("name"), str) or not raw["name"].strip():
        fail(raw["__lines__"].get("name", line), label, "`name` (the label operators see, e.g. 重要会员) is required")
    when = raw.get("when")
    if not isinstance(when, dict) or not [k for k in when if not k.startswith("__")]:
        fail(raw["__lines__"].get("when", line), label, "`when` must map fields to conditions, e.g. {monetary: '>= 500'}")
    return {**_segment_labels(raw, rid), "when": _parse_when(path, when, line, label), "line": line}


def _parse_default(path: Path, data: dict[str, Any], seen: set[str]) -> dict[str, str]:
    """The `default:` segment for members no rule matches; its id must not clash with a rule's."""
    default = data.get("default")
    if not isinstance(default, dict):
        _scheme_fail(path, data["__lines__"].get("default", data["__line__"]), "default",
                     "`default:` (id and name for members no rule matches) is required")
    did = default.get("id")
    if not isinstance(did, str) or not _ID.match(did) or did in seen or did == "no_purchase":
        _scheme_fail(path, default["__lines__"].get("id", default["__line__"]), "default",
                     "`id` must be a new short name (e.g. others)")
    if not isinstance(default.get("name"), str) or not default["name"].strip():
        _scheme_fail(path, default["__lines__"].get("name", default["__line__"]), "default", "`name` is required")
    return _segment_labels(default, did)


def load_custom_scheme(path: Path) -> dict[str, Any]:
    """Read and validate a custom scheme; errors name the file, the line and the rule."""
    path = Path(path)
    data = _read_scheme_yaml(path)
    if not isinstance(data, dict):
        _scheme_fail(path, 1, None, "a scheme must be a mapping with `segments:` (a list of rules) and `default:`")
    known_top = {"name", "description", "segments", "default", "__line__", "__lines__"}
    for key in data:
        if key not in known_top:
            _scheme_fail(path, data["__lines__"].get(key), None,
                         f"unknown key `{key}` (expected name, description, segments, default)")
    rules_raw = data.get("segments")
    if not isinstance(rules_raw, list) or not rules_raw:
        _scheme_fail(path, data["__lines__"].get("segments", data["__line__"]), None,
                     "`segments:` must be a non-empty list of rules")
    seen: set[str] = set()
    rules = [_parse_rule(path, data, index, raw, seen) for index, raw in enumerate(rules_raw, start=1)]
    default = _parse_default(path, data, seen)
    return {"name": str(data.get("name") or path.stem), "file": str(path), "rules": rules, "default": default}


def custom_assign(con, buyers: str, emit, scheme: dict[str, Any]) -> dict[str, Any]:
    cases = " ".join(
        "WHEN " + " AND ".join(condition_sql(CUSTOM_FIELDS[c["field"]], c["op"], c["values"]) for c in rule["when"])
        + f" THEN {_lit(rule['id'])}"
        for rule in scheme["rules"]
    )
    pairs = [(r["id"], r["name"]) for r in scheme["rules"]] + [
        (scheme["default"]["id"], scheme["default"]["name"]),
        ("no_purchase", NO_PURCHASE["name"]),
    ]
    scores, params = quintile_scores_sql(con, buyers)
    emit(
        f"""
        WITH s AS ({scores}),
        g AS (SELECT *, CASE WHEN frequency = 0 THEN 'no_purchase' {cases} ELSE {_lit(scheme['default']['id'])} END
                        AS segment_id FROM s)
        SELECT *, {_catalog_case(pairs, 'segment_id', '')} AS segment_name FROM g
        """,
        params,
    )
    segments = [
        {k: r[k] for k in ("id", "key", "name", "name_en", "action", "action_en")} for r in scheme["rules"]
    ] + [scheme["default"], NO_PURCHASE]
    return {
        "scoring": QUINTILE_RULE,
        "custom": scheme,
        "segments": segments,
        "warnings": [],
    }
