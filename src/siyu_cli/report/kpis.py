"""The KPI registry and the DuckDB SQL that computes every KPI.

Each KPI has a stable English id, the Chinese name operators use, a one-sentence
definition and its formula; ``docs/report.md`` is generated from :data:`KPIS`
(``python -m siyu_cli.report.kpis --write docs/report.md``) so the documented
definitions are the computed ones. All arithmetic happens in SQL over the store;
Python only receives small result sets (one row per KPI, store, month…).

Common ground for every KPI (see :data:`CONVENTIONS`): a *period* is
``[date_from, date_to]`` inclusive, in the workspace time zone; an order belongs
to the period when its ``paid_at`` falls in it; a *valid order* is a paid order
that was not fully refunded; GMV is ``net_amount`` (paid − refunds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from siyu_cli import sql
from siyu_cli.store import table_names

if TYPE_CHECKING:  # pragma: no cover
    import duckdb


@dataclass(frozen=True)
class KPI:
    id: str
    name: str  # Chinese name
    name_en: str
    section: str
    unit: str  # count | money | ratio | number | days
    definition: str
    formula: str


#: Report sections: stable id -> (Chinese, English) titles, in display order.
SECTIONS: dict[str, tuple[str, str]] = {
    "base": ("基础指标", "Base"),
    "membership": ("会员占比", "Membership ratio"),
    "reach": ("在线率与加粉率", "Reach"),
    "loyalty": ("复购与活跃", "Repurchase and activity"),
    "value": ("会员价值", "Member value"),
    "segments": ("RFM 分层", "RFM segments"),
    "cohorts": ("同期群留存", "Cohort retention"),
    "leaderboards": ("业绩榜", "Leaderboards"),
    "campaigns": ("活动效果", "Campaign results"),
}

CONVENTIONS = """\
- **Period**: `--from` … `--to`, both days included, in the workspace time zone (`workspace.timezone`).
  Default: the 365 days ending today (`[report] period_days`).
- **Order in the period**: its `paid_at`, read in the workspace time zone, falls on a day of the period.
  Unpaid and cancelled orders (no `paid_at`) never count.
- **Valid order** (a purchase): a paid order that was not fully refunded (status `paid` or
  `partially_refunded`) and whose net amount is above 0 — the same rule `siyu segment` uses. Fully
  refunded and zero-value orders count in no order or buyer total (their net amount still adds to GMV).
- **GMV**: the sum of `net_amount` (paid − refunds) of the period's paid orders.
- **Member at the end of the period**: a member whose `join_at` is on or before `--to` (or unknown).
- **Member order**: an order with a resolved `member_id`; others are non-member (walk-in) orders.
- **Store / guide / channel of an order**: stores and guides resolve through the dimensions
  (docs/dimensions.md: canonical store ids with their aliases, staff by userid, unique name or alias).
  Guide: the order's own guide, else the member's owning guide. Store: the order's own physical store,
  else its guide's store, else the member's home store — an online shop (`kind = "online"`, e.g. Youzan's
  归属店铺) is no store. Channel: the order's own, else the member's join channel.
- Ratios with a zero denominator are empty (`null`), not 0."""

K = KPI
KPIS: tuple[KPI, ...] = (
    # base
    K("members", "会员数", "Members", "base", "count",
      "Members at the end of the period.",
      "count(members with join_at ≤ to or unknown)"),
    K("new_members", "新增会员", "New members", "base", "count",
      "Members who joined during the period.",
      "count(members with from ≤ join_at ≤ to)"),
    K("buyers", "购买会员数", "Buyers", "base", "count",
      "Members with at least one valid order in the period.",
      "count(distinct member_id of valid orders in the period)"),
    K("new_buyers", "新客", "New buyers", "base", "count",
      "Buyers whose first valid order ever was in the period.",
      "count(buyers with min(paid day of valid orders) ≥ from)"),
    K("returning_buyers", "老客", "Returning buyers", "base", "count",
      "Buyers who had bought before the period.",
      "buyers − new_buyers"),
    K("orders", "订单数", "Orders", "base", "count",
      "Valid orders in the period, members' and non-members'.",
      "count(valid orders in the period)"),
    K("gmv", "销售额（扣退款）", "GMV net of refunds", "base", "money",
      "Money received in the period after refunds.",
      "Σ net_amount of paid orders in the period"),
    K("aov", "客单价", "Average order value", "base", "money",
      "GMV per valid order.",
      "gmv ÷ orders"),
    K("items_per_order", "连带率", "Items per order", "base", "number",
      "Units per valid order, over the orders whose units are known (order lines, else the order's item count).",
      "Σ units ÷ count(valid orders with known units); units = Σ order_lines.quantity, else orders.item_count"),
    # membership
    K("member_order_share", "会员订单占比", "Member share of orders", "membership", "ratio",
      "Share of valid orders made by members.",
      "member orders ÷ orders"),
    K("member_gmv_share", "会员销售额占比", "Member share of GMV", "membership", "ratio",
      "Share of GMV paid by members.",
      "Σ net_amount of member orders ÷ gmv"),
    # reach
    K("online_rate", "在线率", "Reachable rate", "reach", "ratio",
      "Share of members who can be reached on WeCom (have an external contact id, or appear in the contacts table).",
      "count(members with external_userid or a wecom_contacts row) ÷ members"),
    K("reachable_members", "在线会员数", "Reachable members", "reach", "count",
      "Members who can be reached on WeCom (the numerator of 在线率).",
      "count(members with external_userid or a wecom_contacts row)"),
    K("new_contacts", "新增企微好友", "New WeCom contacts", "reach", "count",
      "Distinct customers added as WeCom contacts during the period (per store: by the adding guide's store).",
      "count(distinct external_userid of wecom_contacts with from ≤ added_at ≤ to)"),
    K("store_traffic", "进店客数", "Store customers", "reach", "count",
      "Store customers in the period, from `siyu report traffic` (days in the period plus months whose first day is in it).",
      "Σ store_traffic.customers with from ≤ day ≤ to"),
    K("add_rate", "加粉率", "Add rate", "reach", "ratio",
      "New WeCom contacts of a store per store customer; only for stores whose traffic is known.",
      "new_contacts(store) ÷ store_traffic(store)"),
    # loyalty
    K("repurchase_rate", "复购率", "Repurchase rate", "loyalty", "ratio",
      "Share of buyers with two or more valid orders in the period.",
      "count(buyers with ≥ 2 valid orders) ÷ buyers"),
    K("purchase_frequency", "购买频次", "Purchase frequency", "loyalty", "number",
      "Valid member orders per buyer in the period.",
      "member orders ÷ buyers"),
    K("active_share", "活跃会员占比", "Active share", "loyalty", "ratio",
      "Share of members whose last valid order is at most `active_days` days before the period's end.",
      "count(members with to − last order ≤ active_days) ÷ members"),
    K("silent_share", "沉默会员占比", "Silent share", "loyalty", "ratio",
      "Share of members whose last valid order is more than `active_days` and at most `churn_days` days before the end.",
      "count(members with active_days < to − last order ≤ churn_days) ÷ members"),
    K("churned_share", "流失会员占比", "Churned share", "loyalty", "ratio",
      "Share of members whose last valid order is more than `churn_days` days before the end (流失率).",
      "count(members with to − last order > churn_days) ÷ members"),
    K("never_bought_share", "未购会员占比", "Never-bought share", "loyalty", "ratio",
      "Share of members with no valid order up to the period's end.",
      "count(members without a valid order ≤ to) ÷ members"),
    # value
    K("annual_revenue_per_member", "每会员年度贡献", "Annual revenue per member", "value", "money",
      "Member GMV per member, scaled to a year.",
      "member GMV ÷ members × 365 ÷ days in the period"),
    K("head_share", "头部会员贡献", "Head share", "value", "ratio",
      "Share of member GMV from the top `head_percent`% of buyers (ranked by their GMV in the period).",
      "Σ GMV of the top ⌈head_percent × buyers ÷ 100⌉ buyers ÷ member GMV"),
    K("share_for_80", "贡献八成销售额的会员占比", "Buyers making 80% of GMV", "value", "ratio",
      "Smallest share of buyers (richest first) whose GMV reaches 80% of member GMV: the other end of the 80/20 rule.",
      "min k with cumulative GMV(k) ≥ 0.8 × member GMV, ÷ buyers"),
    K("pareto_curve", "帕累托曲线", "Pareto curve", "value", "ratio",
      "For p = 1…100: share of member GMV from the top p% of buyers.",
      "cumulative GMV of the top ⌈p × buyers ÷ 100⌉ buyers ÷ member GMV"),
    # segments
    K("segment_share", "分层占比", "Segment mix", "segments", "ratio",
      "Members per RFM segment in the latest `siyu segment` snapshot, as a share of the snapshot.",
      "count(segment_members of the segment) ÷ snapshot members"),
    K("segment_change", "分层变化", "Segment change", "segments", "ratio",
      "Change of each segment's members and share since the previous snapshot of the same scheme.",
      "latest − previous (members; share in percentage points)"),
    # cohorts
    K("cohort_retention", "同期群留存率", "Cohort retention", "cohorts", "ratio",
      "Of the members who joined in a month, the share who bought (valid order) k months after their join month.",
      "count(cohort members with a valid order in join month + k) ÷ cohort size"),
    # leaderboards
    K("leaderboard", "业绩榜", "Leaderboard", "leaderboards", "money",
      "Per store and per guide: new contacts, buyers, GMV and repurchase rate, ranked by GMV.",
      "the KPIs above restricted to the orders (and contacts) of the store or guide"),
    # campaigns
    K("campaign_reached", "触达人数", "Reached", "campaigns", "count",
      "Recipients (customers, or groups for a group message) a campaign was sent to (push state `sent`); "
      "staff-facing app and robot messages are not campaigns.",
      "count(push_recipients with state = 'sent')"),
    K("campaign_delivered", "送达人数", "Delivered", "campaigns", "count",
      "Recipients confirmed delivered.",
      "count(push_recipients with delivery = 'delivered')"),
    K("campaign_repurchase", "活动后复购率", "Repurchase after", "campaigns", "ratio",
      "Share of reached members (customer recipients sent the message; for a group message, the group's members) "
      "with a valid order within `campaign_days` days after it was sent.",
      "count(reached members with an order in (sent_at, sent_at + N days]) ÷ reached members"),
    K("control_repurchase", "对照组复购率", "Control repurchase", "campaigns", "ratio",
      "The same share for members of the campaign's segment (same snapshot) who were not sent it, from the campaign's send time.",
      "count(unsent segment members with an order in (sent_at, sent_at + N days]) ÷ unsent segment members"),
    K("campaign_uplift", "复购提升", "Uplift", "campaigns", "ratio",
      "Repurchase after the campaign minus the control group's, in percentage points.",
      "campaign_repurchase − control_repurchase"),
)
KPI_BY_ID: dict[str, KPI] = {k.id: k for k in KPIS}


def kpi_label(kpi_id: str, language: str = "zh") -> str:
    """A KPI's name for people in ``language``: its English name is the msgid in siyu's catalogue (which
    i18n_tools extracts from :data:`KPIS`; the catalogue's Chinese is ``name``, tests/report keep them equal)."""
    from siyu_cli.i18n import label

    return label(KPI_BY_ID[kpi_id].name_en, language)


# ---------------------------------------------------------------- docs

DOCS_START = "<!-- kpi-definitions:start (generated from siyu_cli/report/kpis.py; do not edit by hand) -->"
DOCS_END = "<!-- kpi-definitions:end -->"


def definitions_markdown() -> str:
    """The KPI definitions block of docs/report.md."""
    out = [DOCS_START, "", "### Conventions", "", CONVENTIONS, ""]
    for section, (zh, en) in SECTIONS.items():
        kpis = [k for k in KPIS if k.section == section]
        if not kpis:
            continue
        out += [f"### {zh} — {en} (`{section}`)", "", "| id | 指标 | KPI | definition | formula |", "|---|---|---|---|---|"]
        for k in kpis:
            out.append(f"| `{k.id}` | {k.name} | {k.name_en} | {k.definition} | {k.formula} |")
        out.append("")
    out.append(DOCS_END)
    return "\n".join(out)


def update_docs(text: str) -> str:
    """``text`` with its generated block replaced by the current definitions."""
    start, end = text.find(DOCS_START), text.find(DOCS_END)
    if start < 0 or end < 0:
        raise ValueError("docs/report.md lacks the kpi-definitions markers")
    return text[:start] + definitions_markdown() + text[end + len(DOCS_END):]


# ---------------------------------------------------------------- SQL

def _ratio(num, den, digits: int = 6) -> float | None:
    if den is None or num is None or float(den) == 0:
        return None
    return round(float(num) / float(den), digits)


def _money(value) -> float:
    return round(float(value or 0), 2)


def prepare(con: "duckdb.DuckDBPyConnection") -> None:
    """The dimension maps and the view ``rpt_members`` (members with their join day; read-only stores allow
    temp objects): no copy of history.

    Queries over the order history (``sql/report/*.sql``) read only the columns they need and filter on
    ``paid_at`` (zone maps skip row groups outside the range). The period's orders are copied once, with their
    store, guide and channel resolved through the dimensions (joins on the small maps), by :func:`period_orders`.
    """
    from siyu_cli.dimensions import ensure_prepared

    ensure_prepared(con)
    con.execute(f"CREATE OR REPLACE TEMP VIEW rpt_members AS {sql.render('report/members')}")  # no parameters


def local_day(con, expr: str, lo: date, hi: date) -> str:
    """SQL for the calendar day, in the session time zone, of the TIMESTAMPTZ ``expr`` for instants between
    days ``lo`` and ``hi``.

    ``CAST(x AS DATE)`` converts through the ICU calendar row by row (≈ 10× a scan of the column). When the
    zone's UTC offset is the same over the whole range (every zone without daylight saving, e.g.
    Asia/Shanghai since 1991), the day is the UTC instant shifted by that offset — plain integer arithmetic,
    the same day. Otherwise the cast stays."""
    from datetime import datetime, time, timedelta, timezone
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(con.execute("SELECT current_setting('TimeZone')").fetchone()[0])
    start = datetime.combine(lo - timedelta(days=1), time(0), tzinfo=timezone.utc)
    end = datetime.combine(hi + timedelta(days=2), time(0), tzinfo=timezone.utc)
    offset = start.astimezone(zone).utcoffset()
    if end - start > timedelta(days=366 * 50):  # odd data (a 1900 date): not worth checking every hour of it
        return f"CAST({expr} AS DATE)"
    at = start
    while at <= end:  # daily: an offset change (DST, a zone's new rule) lasts far longer than a day
        if at.astimezone(zone).utcoffset() != offset:
            return f"CAST({expr} AS DATE)"
        at += timedelta(days=1)
    micros = (offset.days * 86400 + offset.seconds) * 1_000_000 + offset.microseconds
    return f"CAST(make_timestamp(epoch_us({expr}) + {micros}) AS DATE)"


#: periods of at most this many calendar months keep each buyer's months as bits of one BIGINT (63: the
#: sign bit stays clear, so the bits are the same number on DuckDB and Spark)
MONTH_MASK_BITS = 63


def lake_orders(con, runner, dfrom: date) -> None:
    """With a Spark ``runner``: the orders the report reads besides the history (query ``report/orders_window``:
    paid from two days before the period's first month on), landed as TEMP ``orders``. It shadows the store's
    table on this connection only, so a store whose orders live only in the lake still makes the report."""
    from datetime import datetime, time, timedelta, timezone

    since = dfrom.replace(day=1) - timedelta(days=2)
    runner.table(con, "orders", "report/orders_window", {"lo": datetime.combine(since, time(0), tzinfo=timezone.utc)})


def period_months(dfrom: date, dto: date) -> int:
    """Calendar months the period touches (its month bits, :data:`MONTH_MASK_BITS`)."""
    return (dto.year - dfrom.year) * 12 + dto.month - dfrom.month + 1


def period_orders(con, dfrom: date, dto: date, runner=None) -> None:
    """The period's paid orders (only them) with the store / guide / channel each one counts for.

    Stores and guides resolve through the dimensions (siyu_cli.dimensions): the guide is the canonical
    userid of the order's guide, else the member's; the store is the order's physical store, else the
    guide's store, else the member's home store (an online shop such as Youzan's 归属店铺 is no store).
    Only orders lacking a physical store, a guide or a channel look up their member (most exports carry
    them), and the copy holds only what the sections read: order ids stay in ``orders`` (see :func:`_units`).
    Also ``rpt_member_period``: per member, valid orders and GMV in the period (:func:`pareto`, trend, cohorts);
    and ``rpt_member_last``, that joined once with the history before the period (query ``report/history``: per
    member who bought before it, the day of the last valid order before it — one pass over the history, the
    period's own orders are read once, in the copy): per member, valid orders in the period, last valid day up
    to its end and whether they bought before it, for new buyers (:func:`base`) and the lifecycle
    (:func:`members_at_end`). The history is aggregated inside ``report/member_last``, not stored first. With a
    Spark ``runner`` (``[engine] kind = "spark"``, :mod:`siyu_cli.engine`) that history scan runs on Spark over
    the lake and its rows land here as ``rpt_history``, which ``report/member_last`` then reads.
    """
    # one pass: each order's own physical store, guide and channel; the local day by the fixed-offset fast path
    sql.define_duckdb_functions(con, lambda col: local_day(con, col, dfrom, dto))
    sql.create_duckdb_table(con, "rpt_period", "report/period", {"f": dfrom, "t": dto})
    if con.execute("SELECT EXISTS (FROM rpt_period WHERE store IS NULL OR guide IS NULL OR channel IS NULL)").fetchone()[0]:
        # the few orders without their own: the member's guide and join channel; the store then from the
        # guide (its own, else the member's), else the member's home store
        sql.create_duckdb_table(con, "rpt_period", "report/period_fill", {})
    first_month, months = dfrom.replace(day=1), period_months(dfrom, dto)
    mask = months <= MONTH_MASK_BITS
    # per member in the period: valid orders (base), GMV (pareto), last valid day (lifecycle) and the months
    # they bought in, one bit each (trend, cohorts) — one aggregation for all of them
    sql.create_duckdb_table(con, "rpt_member_period", "report/member_period", {"m0": first_month}, month_bits=mask)
    _drop(con, "rpt_buyer_months")
    if not mask:  # a period longer than the bits: the (member, month) pairs as a table (trend, cohorts read bits)
        sql.create_duckdb_table(con, "rpt_buyer_months", "report/buyer_months", {})
    history = {"start": _day_start(con, dfrom)}  # history before the period, read once: who bought before it
    if runner is not None:
        runner.table(con, "rpt_history", "report/history", history)
    else:
        first = con.execute("SELECT CAST(min(paid_at) AS DATE) FROM orders").fetchone()[0] or dfrom
        sql.define_duckdb_functions(con, lambda col: local_day(con, col, min(first, dfrom), dfrom))
    # the period's end per member, joined once for its readers (base, lifecycle)
    sql.create_duckdb_table(con, "rpt_member_last", "report/member_last", history, history_here=runner is None)


def _day_start(con, day: date):
    """The instant day ``day`` starts in the session time zone (the workspace's), as a bound parameter."""
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    return datetime.combine(day, time(0), tzinfo=ZoneInfo(con.execute("SELECT current_setting('TimeZone')").fetchone()[0]))


def release(con) -> None:
    """Drop the per-member tables :func:`period_orders` made (in memory; the leaderboards need the room)."""
    for name in ("rpt_buyer_months", "rpt_member_period", "rpt_history", "rpt_member_last"):
        _drop(con, name)


def _drop(con, name: str) -> None:
    """Drop the temp table ``name`` if there is one."""
    con.execute(f"DROP TABLE IF EXISTS temp.main.{name}")


def base(con, dfrom: date, dto: date, days: int) -> dict[str, Any]:
    """Base, membership, repurchase and value KPIs of the period (one row of SQL)."""
    row = sql.run_duckdb(con, "report/base", {"f": dfrom, "t": dto}).fetchone()
    members, new_members, buyers, repeaters, member_orders, orders, gmv, member_gmv, new_buyers, *units = row
    if con.execute("SELECT EXISTS (FROM order_lines)").fetchone()[0]:
        units = _units(con, dfrom, dto)
    return {
        "members": members,
        "new_members": new_members,
        "buyers": buyers,
        "new_buyers": new_buyers,
        "returning_buyers": buyers - new_buyers,
        "orders": orders,
        "gmv": _money(gmv),
        "aov": None if not orders else round(float(gmv) / orders, 2),
        "items_per_order": _ratio(units[0], units[1], 4),
        "member_orders": member_orders,
        "non_member_orders": orders - member_orders,
        "member_gmv": _money(member_gmv),
        "member_order_share": _ratio(member_orders, orders),
        "member_gmv_share": _ratio(member_gmv, gmv),
        "repurchase_rate": _ratio(repeaters, buyers),
        "repeat_buyers": repeaters,
        "purchase_frequency": _ratio(member_orders, buyers, 4),
        "annual_revenue_per_member": None if not members else round(float(member_gmv) / members * 365 / days, 2),
    }


def _units(con, dfrom: date, dto: date) -> tuple:
    """(Σ units, valid orders with known units) of the period when order lines exist: a line's quantities
    override its order's item_count (without lines, :func:`base` sums item_count from the period copy)."""
    return sql.run_duckdb(con, "report/units", {"f": dfrom, "t": dto}).fetchone()


def members_at_end(con, dto: date, active_days: int, churn_days: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(在线率, lifecycle) of the members at the period's end: one pass over the members for both."""
    row = sql.run_duckdb(con, "report/lifecycle", {"t": dto, "a": active_days, "c": churn_days}).fetchone()
    active, silent, churned, never, total, reachable = row
    return {"reachable_members": reachable, "online_rate": _ratio(reachable, total)}, {
        "active": active,
        "silent": silent,
        "churned": churned,
        "never_bought": never,
        "active_share": _ratio(active, total),
        "silent_share": _ratio(silent, total),
        "churned_share": _ratio(churned, total),
        "never_bought_share": _ratio(never, total),
    }


def period_contacts(con, dfrom: date, dto: date) -> None:
    """``rpt_contacts``: the WeCom contacts added in the period with the guide who added them and the store
    they count for (the guide's store, else the member's home store) — read once for 新增企微好友, 加粉率 and
    both leaderboards."""
    sql.create_duckdb_table(con, "rpt_contacts", "report/contacts", {"f": dfrom, "t": dto})


def new_contacts(con, dfrom: date, dto: date) -> int:
    """新增企微好友: distinct customers among the period's contacts (``rpt_contacts``)."""
    return sql.run_duckdb(con, "report/new_contacts", {}).fetchone()[0]


def add_rates(con, dfrom: date, dto: date) -> list[dict[str, Any]]:
    """加粉率 per store with known traffic in the period."""
    if "store_traffic" not in table_names(con):
        return []
    rows = sql.run_duckdb(con, "report/add_rates", {"f": dfrom, "t": dto}).fetchall()
    return [
        {"store": s, "new_contacts": n, "store_traffic": int(t), "add_rate": _ratio(n, t)} for s, n, t in rows
    ]


def pareto(con, head_percent: int) -> dict[str, Any]:
    """Pareto curve of member GMV over buyers with positive GMV in the period.

    Exact without sorting the buyers: the GMV of the top k buyers depends only on how many buyers have
    each GMV value, so buyers are counted per distinct value (a hash aggregate) and only those values
    are ordered. A value bucket holding ranks B+1…C (B buyers richer) gives every p whose rank
    ⌈p × n ÷ 100⌉ falls in it, i.e. p from ⌊100·B ÷ n⌋ + 1 to ⌊100·C ÷ n⌋, the cumulative GMV
    ``S_B + (rank − B) × v``: an equality-free expansion instead of a join on a computed rank.
    """
    from decimal import ROUND_CEILING, Decimal

    sql.create_duckdb_table(con, "rpt_pareto", "report/pareto_buckets", {})
    curve = sql.run_duckdb(con, "report/pareto_curve", {}).fetchall()
    n, total = con.execute("SELECT any_value(n), any_value(total) FROM rpt_pareto").fetchone()
    n = int(n or 0)
    # the fewest buyers (richest first) whose GMV reaches 80 %: in the first bucket that reaches it,
    # as many of its buyers as the rest needs (exact decimal arithmetic)
    share_for_80 = None
    if n:
        need = Decimal("0.8") * total
        v, before_n, before_sum = sql.run_duckdb(con, "report/pareto_80", {"need": need}).fetchone()
        k = int(before_n) + max(int(((need - before_sum) / v).to_integral_value(rounding=ROUND_CEILING)), 1)
        share_for_80 = _ratio(k, n)
    head = dict(curve).get(head_percent)
    return {
        "buyers": n,
        "head_percent": head_percent,
        "head_share": None if head is None else round(float(head), 6),
        "share_for_80": share_for_80,
        "curve": [[0, 0.0]] + [[int(p), round(float(s), 6)] for p, s in curve] if curve else [],
    }


def segments(con) -> dict[str, Any] | None:
    """RFM mix of the latest snapshot (latest as_of) and its change since the latest snapshot of the
    same scheme with an earlier as_of."""
    tables = table_names(con)
    if not {"segment_snapshots", "segment_members"} <= tables:
        return None
    from siyu_cli.segment.snapshots import latest_snapshot

    latest = latest_snapshot(con)  # latest as_of (a backfill never becomes "latest")
    if latest is None:
        return None
    previous = latest_snapshot(con, latest["scheme"], before_as_of=latest["as_of"])

    def info(s):
        if s is None:
            return None
        n = sql.run_duckdb(con, "report/snapshot_size", {"s": s["snapshot_id"]}).fetchone()[0]
        return {**{k: s[k] for k in ("snapshot_id", "created_at", "as_of", "scheme", "label")}, "members": n}

    latest, previous = info(latest), info(previous)
    rows = sql.run_duckdb(con, "report/segment_mix", {"l": latest["snapshot_id"],
                                                      "p": previous["snapshot_id"] if previous else -1}).fetchall()
    total, prev_total = latest["members"], previous["members"] if previous else None
    mix = []
    for seg_id, name, n, prev_n in rows:
        share = _ratio(n, total)
        item = {"segment_id": seg_id, "segment_name": name, "members": n, "share": share}
        if previous is not None:
            prev_n = prev_n or 0
            prev_share = _ratio(prev_n, prev_total)
            item.update(
                previous_members=prev_n,
                previous_share=prev_share,
                change_members=n - prev_n,
                change_share=None if share is None or prev_share is None else round(share - prev_share, 6),
            )
        mix.append(item)
    return {"latest": latest, "previous": previous, "mix": mix}


def cohorts(con, cfrom: date, dto: date, dfrom: date | None = None) -> list[dict[str, Any]]:
    """Join-month cohorts from ``cfrom``'s month to ``dto``'s month; retention[k] = share who bought in month k.

    The purchase months come from the period's month bits (``rpt_member_period``) when the period (``dfrom``)
    starts on or before the first cohort month (the default: cohorts are the period's last months) and is short
    enough to have them (:data:`MONTH_MASK_BITS`), else from all orders."""
    cells: dict[str, tuple[int, int, dict[int, int]]] = {}
    months = period_months(dfrom, dto) if dfrom is not None else None
    from_period = months is not None and dfrom <= cfrom.replace(day=1) and months <= MONTH_MASK_BITS
    params = {"f": cfrom, "t": dto}
    if from_period:
        params.update(m0=dfrom.replace(day=1), nm=months)
    for month, size, span, k, n in sql.run_duckdb(con, "report/cohorts", params, from_period=from_period).fetchall():
        counts = cells.setdefault(month, (size, span, {}))[2]
        if k is not None:
            counts[k] = n
    out = []
    for month, (size, span, counts) in cells.items():  # in month order (the query's)
        out.append({
            "month": month,
            "size": size,
            "buyers": [counts.get(k, 0) for k in range(span + 1)],
            "retention": [_ratio(counts.get(k, 0), size, 4) for k in range(span + 1)],
        })
    return out


def _board(con, key: str, traffic: bool) -> list[dict[str, Any]]:
    """Leaderboard per store or guide (key 'store' | 'guide'), ranked by the query."""
    rows = sql.run_duckdb(con, "report/leaderboard", {}, by=key, traffic=traffic).fetchall()
    out = []
    for rank, k, name, contacts_n, buyers, orders, gmv, repeaters in rows:
        item = {"rank": rank, key: k}
        if key == "guide" or name is not None:  # a store's canonical name when the dimension has one
            item["name"] = name
        item.update(new_contacts=contacts_n, buyers=buyers, orders=orders, gmv=_money(gmv),
                    repurchase_rate=_ratio(repeaters, buyers))
        out.append(item)
    return out


def leaderboards(con, dfrom: date, dto: date) -> dict[str, list[dict[str, Any]]]:
    """Per store and per guide: new contacts, buyers, orders, GMV and repurchase rate of the period."""
    traffic = "store_traffic" in table_names(con)
    return {"store": _board(con, "store", traffic), "guide": _board(con, "guide", traffic)}


def campaigns(con, dfrom: date, dto: date, window_days: int) -> list[dict[str, Any]] | None:
    """Results of campaigns sent in the period; None when there are no campaigns at all (push never ran)."""
    tables = table_names(con)
    if not {"push_campaigns", "push_recipients"} <= tables:
        return None
    from siyu_cli.push.ledger import campaign_count

    if campaign_count(con) == 0:
        return None
    # who was reached and from when, and the members of the campaigns' segments (their control groups are
    # counted from them): temp tables first, so the order scan reads only the orders between the earliest
    # send and the latest send + window
    period = {"f": dfrom, "t": dto}
    sql.create_duckdb_table(con, "rpt_campaign_groups", "report/campaign_groups", period)
    segmented = _segment_campaigns(con, period)
    if "segment_members" in tables:
        _campaign_segments(con, period, segmented)
    else:  # no snapshots: no control groups
        con.execute("CREATE OR REPLACE TEMP TABLE rpt_campaign_segments "
                    "(snapshot_id INTEGER, segment_id VARCHAR, member_id VARCHAR)")
    lo, hi = campaign_bounds(con, period, segmented)
    rows = sql.run_duckdb(con, "report/campaigns", {**period, "w": window_days, "lo": lo, "hi": hi}).fetchall()
    return [_campaign_result(*row) for row in rows]


def _segment_campaigns(con, period: dict[str, date]) -> list[tuple]:
    """The rows of ``report/campaigns_sent`` whose campaign went to a segment of a snapshot (a control group)."""
    return [r for r in sql.run_duckdb(con, "report/campaigns_sent", period).fetchall()
            if r[3] is not None and r[4] is not None]


def _campaign_segments(con, period: dict[str, date], segmented: list[tuple]) -> None:
    """``rpt_campaign_segments`` (query ``report/campaign_segments``) over only the snapshots of ``segmented``
    (:func:`_segment_campaigns`).

    ``segment_members`` is a view that rebuilds snapshots from their chains (migration 101); the query's join
    to the campaigns cannot confine it, so it rebuilt every stored snapshot (3.9 s for 23 at 2.45M members).
    The campaigns' (snapshot, segment) pairs are copied first (:func:`siyu_cli.segment.audience.only_snapshots`)."""
    from siyu_cli.segment.audience import only_snapshots

    with only_snapshots(con, {(r[4], r[3]) for r in segmented}):
        sql.create_duckdb_table(con, "rpt_campaign_segments", "report/campaign_segments", period)


def campaign_bounds(con, period: dict[str, date], segmented: list[tuple] | None = None) -> tuple:
    """(earliest, latest) send time whose responses ``report/campaigns`` counts: the reached members' (in
    ``rpt_campaign_groups``) and, for a control group, its campaign's (every campaign of a segment:
    ``segmented``, read here when not given); (None, None) when there is none."""
    if segmented is None:
        segmented = _segment_campaigns(con, period)
    sends = [t for t in con.execute("SELECT min(t), max(t) FROM rpt_campaign_groups").fetchone() if t is not None]
    sends += [r[6] for r in segmented]
    return (min(sends), max(sends)) if sends else (None, None)


def _campaign_result(cid, name, channel, seg, snap, status, at, targeted, reached, delivered, failed,
                     tn, tb, cn, cb) -> dict[str, Any]:
    """One row of ``report/campaigns`` with its rates: repurchase of the reached and of the control group
    (only for a campaign of a segment snapshot), and the uplift between them."""
    rep = _ratio(tb, tn)
    ctl = _ratio(cb, cn) if seg is not None and snap is not None else None
    return {
        "campaign_id": cid, "name": name, "channel": channel, "segment_id": seg, "snapshot_id": snap,
        "status": status, "sent_at": at, "targeted": targeted, "reached": reached, "delivered": delivered,
        "failed": failed, "delivery_rate": _ratio(delivered, reached),
        "reached_members": tn or 0, "campaign_repurchase": rep, "repurchasers": tb or 0,
        "control_members": cn or 0, "control_repurchase": ctl,
        "campaign_uplift": None if rep is None or ctl is None else round(rep - ctl, 6),
    }


BY_CHOICES = ("store", "guide", "channel", "month")


def breakdown(con, by: str) -> list[dict[str, Any]]:
    """Base KPIs of the period split by store, guide, channel or month."""
    rows = sql.run_duckdb(con, "report/breakdown", {}, by=by).fetchall()
    names = {}
    if by == "guide":
        names = dict(sql.run_duckdb(con, "report/guide_names", {}).fetchall())
    out = []
    for k, orders, gmv, member_gmv, buyers, repeaters in rows:
        out.append({
            by: k, **({"name": names.get(k)} if by == "guide" else {}), "orders": orders, "buyers": buyers or 0, "gmv": _money(gmv),
            "aov": None if not orders else round(float(gmv) / orders, 2),
            "member_gmv_share": _ratio(member_gmv, gmv), "repurchase_rate": _ratio(repeaters, buyers),
        })
    return out


def trend(con, dfrom: date, dto: date) -> list[dict[str, Any]]:
    """Month by month over the period: orders, buyers, GMV, new members (months without data are zeros)."""
    months = period_months(dfrom, dto)
    rows = sql.run_duckdb(con, "report/trend", {"f": dfrom, "t": dto, "nm": months},
                          month_bits=months <= MONTH_MASK_BITS).fetchall()
    return [
        {"month": m, "orders": o, "buyers": b, "gmv": _money(g), "new_members": n} for m, o, b, g, n in rows
    ]


def _main(argv: list[str] | None = None) -> int:
    """``python -m siyu_cli.report.kpis --write docs/report.md`` regenerates the definitions block."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(description=_main.__doc__)
    parser.add_argument("--write", type=Path, help="update the generated block of this markdown file")
    args = parser.parse_args(argv)
    if args.write:
        args.write.write_text(update_docs(args.write.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(definitions_markdown())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
