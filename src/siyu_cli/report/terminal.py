"""The report as a compact Rich dashboard that fits 100 terminal columns (bars and sparklines, no charts)."""

from __future__ import annotations

import io

from siyu_cli.output import rich_text
from siyu_cli.report.format import VERDICTS, fmt_count, fmt_kpi, fmt_money, fmt_number, fmt_ratio  # noqa: F401 (re-exported)
from siyu_cli.report.kpis import kpi_label
from siyu_cli.report.model import Report

WIDTH = 100
SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    if not values:
        return ""
    hi = max(values)
    if hi <= 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[min(len(SPARKS) - 1, int(v / hi * (len(SPARKS) - 1) + 0.5))] if v > 0 else " "
                   for v in values)


def bar(share: float | None, width: int = 20) -> str:
    if not share:
        return ""
    n = max(1, round(float(share) * width)) if share > 0 else 0
    return "█" * min(n, width)


def _ellipsis(text: str, width: int) -> str:
    from rich.cells import cell_len

    while text and cell_len(text) > width - 1:
        text = text[:-1]
    return text + "…"


def _label(report: Report, kpi_id: str) -> str:
    return kpi_label(kpi_id, report.language)


def render(report: Report, console=None) -> None:
    """Print the dashboard on ``console`` (default: stdout, at most 100 columns wide), section by section."""
    if console is None:
        console = _console()
    for section in SECTIONS:
        section(report, console)


def _console():
    """stdout at most ``WIDTH`` columns: the terminal's width, else ``$COLUMNS``, else the full ``WIDTH``
    (a pipe or file; Rich would otherwise assume 80)."""
    import os

    from rich.console import Console

    from siyu_cli.output import stdout_console

    base = stdout_console()
    columns = os.environ.get("COLUMNS", "")
    width = base.width if base.is_terminal else int(columns) if columns.isdigit() and int(columns) > 0 else WIDTH
    return Console(width=min(width, WIDTH), no_color=base.no_color, soft_wrap=False, force_terminal=base.is_terminal)


def _panel(console, body, title) -> None:
    from rich.panel import Panel

    _keep_words(body)
    console.print(Panel(body, title=title, title_align="left"))


def _keep_words(table) -> None:
    """Folded text columns keep their words (a coupon code, a store name) whole up to 16 cells: Rich would
    otherwise squeeze them to a few cells when the numbers take the room."""
    from rich.cells import cell_len
    from rich.table import Table

    if not isinstance(table, Table):
        return
    for column in table.columns:
        if column.overflow == "fold" and not column.no_wrap:
            words = [w for cell in column._cells for w in str(cell).replace(",", ", ").split()]
            column.min_width = min(16, max((cell_len(w) for w in words), default=0)) or None


def _table(columns, console=None, *, bar_width: int = 0):
    """A borderless table: ``columns`` are (header, kind) with kind ``text`` (folds), ``num`` (right-aligned,
    never wrapped or cut), ``id`` (left-aligned, never wrapped: months, arms) or ``bar`` (left out below
    90 columns, where it would squeeze the numbers)."""
    from rich.table import Table

    t = Table(box=None, header_style="bold", padding=(0, 1))
    for head, kind in columns:
        if kind == "bar" and console is not None and console.width < 90:
            continue
        t.add_column(head, justify="right" if kind == "num" else "left", no_wrap=kind != "text",
                     overflow="fold" if kind == "text" else "ellipsis")
    return t


def _row(t, cells, kinds) -> None:
    """Add a row to a :func:`_table`, leaving out the cells of the columns it left out."""
    shown = [c for c, kind in zip(cells, kinds) if kind != "bar" or len(t.columns) == len(kinds)]
    t.add_row(*shown)


def _labeller(language: str):
    """``L(msgid)``: a label in the report's language (siyu's catalogue; the msgids are English)."""
    from siyu_cli.i18n import label

    return lambda message: label(message, language)


#: the KPIs of the headline grid, in reading order
HEADLINE = ("gmv", "orders", "aov", "members", "new_members", "items_per_order", "buyers", "new_buyers",
            "returning_buyers", "member_order_share", "member_gmv_share", "online_rate", "repurchase_rate",
            "purchase_frequency", "new_contacts", "active_share", "silent_share", "churned_share",
            "annual_revenue_per_member", "head_share", "share_for_80")


def _headline(report: Report, console) -> None:
    """The KPI grid: name/value pairs, three per row (two or one when narrow); labels shorten, numbers never."""
    from rich.cells import cell_len
    from rich.panel import Panel
    from rich.table import Table
    L = _labeller(report.language)
    title = L("Private-domain report  {date_from} – {date_to} ({days} days)").format(
        date_from=report.date_from, date_to=report.date_to, days=report.days)
    per_row = 3 if console.width >= 90 else 2 if console.width >= 56 else 1
    cells = [(_label(report, i), fmt_kpi(i, report.kpis.get(i), report.currency)) for i in HEADLINE]
    value_width = max(cell_len(v) for _, v in cells)
    inner = console.width - 4  # panel border and padding
    label_width = max(4, (inner - (2 * per_row - 1) * 2) // per_row - value_width)
    grid = Table.grid(padding=(0, 2))
    for _ in range(per_row):
        grid.add_column(style="dim", no_wrap=True, width=label_width, overflow="ellipsis")
        grid.add_column(justify="right", style="bold", no_wrap=True, width=value_width)
    cells = [(label if cell_len(label) <= label_width else _ellipsis(label, label_width), value)
             for label, value in cells]
    for row in range(0, len(cells), per_row):
        chunk = cells[row:row + per_row] + [("", "")] * (per_row - len(cells[row:row + per_row]))
        grid.add_row(*[x for pair in chunk for x in pair])
    console.print(Panel(grid, title=title, title_align="left", border_style="cyan"))


def _trend(report: Report, console) -> None:
    """Monthly sparklines; a month the period covers only in part is marked, not shown as a collapse."""
    from rich.table import Table
    from rich.text import Text

    trend = report.sections.get("trend") or []
    if not trend:
        return
    cur = report.currency
    L = _labeller(report.language)
    t = Table.grid(padding=(0, 1))
    t.add_column(style="dim", no_wrap=True)
    t.add_column(no_wrap=True)
    t.add_column(style="dim", overflow="fold")
    months = trend[-36:]
    span = f"{months[0]['month']} → {months[-1]['month']}"
    t.add_row(L("GMV"), Text(sparkline([m["gmv"] for m in months]), style="green"),
              f"{span}  " + L("max {value}").format(value=fmt_money(max(m['gmv'] for m in months), cur)))
    t.add_row(L("Orders"), Text(sparkline([m["orders"] for m in months]), style="cyan"),
              L("max {value}").format(value=fmt_count(max(m['orders'] for m in months))))
    t.add_row(L("New members"), Text(sparkline([m["new_members"] for m in months]), style="magenta"),
              L("max {value}").format(value=fmt_count(max(m['new_members'] for m in months))))
    partial = [m for m in months if m.get("partial")]
    if partial:
        marks = "".join("*" if m.get("partial") else " " for m in months)
        covered = L(", ").join(f"{m['month']} ({m['days_covered']}/{m['days_in_month']})" for m in partial)
        t.add_row("", Text(marks, style="yellow"),
                  L("* partial months (days in the period/days in the month): {months}").format(months=covered))
    _panel(console, t, L("Monthly trend"))


def _activity(report: Report, console) -> None:
    """Lifecycle shares and the Pareto summary, side by side when there is room."""
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    s, cfg = report.sections, report.config
    L = _labeller(report.language)
    life = s.get("lifecycle") or {}
    lt = Table(box=None, show_header=False, padding=(0, 1), expand=False)
    lt.add_column(no_wrap=True)
    lt.add_column(justify="right", no_wrap=True)
    lt.add_column(no_wrap=True)
    names = {
        "active": (L("active ≤{days}d").format(days=cfg.active_days), "green"),
        "silent": (L("silent ≤{days}d").format(days=cfg.churn_days), "yellow"),
        "churned": (L("churned >{days}d").format(days=cfg.churn_days), "red"),
        "never_bought": (L("never bought"), "dim"),
    }
    for key, (name, style) in names.items():
        share = life.get(f"{key}_share")
        lt.add_row(name, f"{fmt_count(life.get(key))}  {fmt_ratio(share)}", Text(bar(share, 24), style=style))
    par = s.get("pareto") or {}
    pt = Table(box=None, show_header=False, padding=(0, 1))
    pt.add_column(no_wrap=True)
    pt.add_column(justify="right", no_wrap=True)
    pt.add_row(L("top {percent}% buyers").format(percent=par.get("head_percent", cfg.head_percent)),
               fmt_ratio(par.get("head_share")))
    pt.add_row(L("buyers making 80%"), fmt_ratio(par.get("share_for_80")))
    curve = par.get("curve") or []
    if curve:
        deciles = [pt_[1] for pt_ in curve if pt_[0] % 10 == 0 and pt_[0] > 0]
        pt.add_row(L("curve 10%→100%"), Text(sparkline(deciles), style="green"))
    life_panel = Panel(lt, title=L("Activity"), title_align="left")
    pareto_panel = Panel(pt, title=L("Pareto"), title_align="left")
    if console.width >= 90:
        both = Table.grid(padding=(0, 2))
        both.add_column()
        both.add_column()
        both.add_row(life_panel, pareto_panel)
        console.print(both)
    else:
        console.print(life_panel)
        console.print(pareto_panel)


def _segments(report: Report, console) -> None:
    """The RFM mix of the latest snapshot (by as-of date), with the change against the previous one."""
    from rich.text import Text

    seg = report.sections.get("segments")
    if not seg:
        return
    L = _labeller(report.language)
    has_prev = seg.get("previous") is not None
    kinds = ["text", "num", "num", "bar"] + (["num"] if has_prev else [])
    st = _table(zip((L("segment"), L("members"), L("share"), "",
                     L("change")), kinds), console)
    for m in sorted(seg["mix"], key=lambda m: -m["members"]):
        row = [rich_text(f"{m['segment_id']} {m['segment_name'] or ''}".strip()), fmt_count(m["members"]),
               fmt_ratio(m["share"]), Text(bar(m["share"], 20), style="cyan")]
        if has_prev:
            ch = m.get("change_members") or 0
            row.append(Text(f"{ch:+d} ({(m.get('change_share') or 0) * 100:+.1f}pt)",
                            style="green" if ch > 0 else "red" if ch < 0 else "dim"))
        _row(st, row, kinds)
    snap, prev = seg["latest"], seg.get("previous")
    sub = L("snapshot {snapshot} ({as_of})").format(snapshot=snap["snapshot_id"], as_of=snap["as_of"])
    if has_prev:
        sub = L("snapshot {snapshot} ({as_of}) vs {previous} ({previous_as_of})").format(
            snapshot=snap["snapshot_id"], as_of=snap["as_of"], previous=prev["snapshot_id"], previous_as_of=prev["as_of"])
    _panel(console, st, L("RFM segments  {snapshot}").format(snapshot=sub))


def _cohorts(report: Report, console) -> None:
    """Retention of the latest 8 join-month cohorts × months 0..7."""
    cohorts = (report.sections.get("cohorts") or [])[-8:]
    if not cohorts:
        return
    L = _labeller(report.language)
    span = min(8, max(len(c["retention"]) for c in cohorts))
    ct = _table([(L("joined"), "id"), (L("size"), "num")]
                + [(f"+{i}", "num") for i in range(span)])
    for c in cohorts:
        vals = [fmt_ratio(r) for r in c["retention"][:span]] + [""] * (span - len(c["retention"][:span]))
        ct.add_row(rich_text(c["month"]), fmt_count(c["size"]), *vals)
    _panel(console, ct, L("Cohort retention (bought in month k)"))


def _leaderboards(report: Report, console) -> None:
    """Top 5 stores and guides by GMV (canonical stores and staff, see siyu_cli.dimensions)."""
    from rich.text import Text

    cur = report.currency
    L = _labeller(report.language)
    kinds = ["num", "text", "num", "bar", "num", "num", "num"]
    for key, who_head, title in (("store", L("store"), L("Store leaderboard")), ("guide", L("guide"), L("Guide leaderboard"))):
        rows = (report.sections.get("leaderboards") or {}).get(key) or []
        if not rows:
            continue
        heads = ("#", who_head, L("GMV"), "",
                 L("buyers"), L("repurchase"), L("new contacts"))
        lb = _table(zip(heads, kinds), console)
        top = max((r["gmv"] for r in rows), default=0) or 1
        for r in rows[:5]:
            who = (r.get("name") or r["store"]) if key == "store" else (f"{r['name']} ({r['guide']})" if r.get("name") else r["guide"])
            _row(lb, [str(r["rank"]), rich_text(str(who)), fmt_money(r["gmv"], cur), Text(bar(r["gmv"] / top, 16), style="green"),
                      fmt_count(r["buyers"]), fmt_ratio(r["repurchase_rate"]), fmt_count(r["new_contacts"])], kinds)
        _panel(console, lb, title + _more(L, 5, len(rows)))


def _add_rate(report: Report, console) -> None:
    """New WeCom contacts per store visitor (needs `siyu report traffic`)."""
    rows = report.sections.get("add_rate")
    if not rows:
        return
    L = _labeller(report.language)
    heads = (L("store"), L("new contacts"), L("traffic"), L("add rate"))
    at = _table(zip(heads, ("text", "num", "num", "num")))
    for r in rows[:10]:
        at.add_row(rich_text(r["store"]), fmt_count(r["new_contacts"]), fmt_count(r["store_traffic"]), fmt_ratio(r["add_rate"]))
    _panel(console, at, L("Add rate"))


def _campaigns(report: Report, console) -> None:
    """Campaigns that reached someone in the period, against the same segments' members not reached."""
    campaigns = report.sections.get("campaigns")
    if not campaigns:
        return
    cfg = report.config
    L = _labeller(report.language)
    heads = (L("campaign"), L("reached"), L("delivered"), L("rep {days}d").format(days=cfg.campaign_days),
             L("control"), L("uplift"))
    cp = _table(zip(heads, ("text", "num", "num", "num", "num", "num")))
    for c in campaigns[:8]:
        up = c["campaign_uplift"]
        cp.add_row(rich_text(str(c["name"] or c["campaign_id"])), fmt_count(c["reached"]), fmt_count(c["delivered"]),
                   fmt_ratio(c["campaign_repurchase"]), fmt_ratio(c["control_repurchase"]),
                   "—" if up is None else f"{up * 100:+.1f}pt")
    _panel(console, cp, L("Campaigns (observational control: unreached members of the same segment, not randomised)")
           + _more(L, 8, len(campaigns)))


def _more(L, shown: int, total: int) -> str:
    """"  (top 5 of 12)" after a panel title when the panel shows only the first rows."""
    return "  " + L("(top {shown} of {total})").format(shown=shown, total=total) if total > shown else ""


def _measured_sections(report: Report, console) -> None:
    _measured(report.sections, console, report.language, report.currency)


def _breakdown(report: Report, console) -> None:
    """The period split by store, guide, channel or month (`siyu report --by`)."""
    bd = report.sections.get("breakdown")
    if not bd:
        return
    cur, by = report.currency, bd["by"]
    L = _labeller(report.language)
    by_label = {"store": L("store"), "guide": L("guide"), "channel": L("channel"), "month": L("month")}.get(by, by)
    heads = (by_label, L("orders"), L("buyers"), L("GMV"),
             L("AOV"), L("member GMV"), L("repurchase"))
    btab = _table(zip([rich_text(h) for h in heads], ("text", "num", "num", "num", "num", "num", "num")))
    for r in bd["rows"]:
        key = r[by] if r[by] is not None else L("(none)")
        if r.get("name"):
            key = f"{r['name']} ({key})"
        btab.add_row(rich_text(str(key)), fmt_count(r["orders"]),
                     fmt_count(r["buyers"]), fmt_money(r["gmv"], cur), fmt_money(r["aov"], cur),
                     fmt_ratio(r["member_gmv_share"]), fmt_ratio(r["repurchase_rate"]))
    _panel(console, btab, rich_text(L("By {dimension}").format(dimension=by_label)))


def _wecom(report: Report, console) -> None:
    from siyu_cli.report.wecom import render_terminal

    render_terminal(report, console)  # contact events, guide activity, group health (after `siyu sync wecom`)


def _notes(report: Report, console) -> None:
    from rich.console import Group

    if report.notes:
        console.print(Group(*[rich_text(f"· {n}", style="dim") for n in report.notes]))


#: the dashboard's sections, top to bottom; each prints nothing when its data is absent
SECTIONS = (_headline, _trend, _activity, _segments, _cohorts, _leaderboards, _add_rate, _campaigns,
            _measured_sections, _breakdown, _wecom, _notes)


def _itt_cell(e: dict, arm: str) -> tuple[dict | None, str]:
    """An arm's ITT comparison in a measured section (None for the reference arm) and its "diff [CI]" text."""
    u = next((x["itt"] for x in e["uplift"] if x["arm"] == arm), None)
    ci = "" if not u or u["ci_low"] is None else (
        f"{u['diff'] * 100:+.1f}pt [{u['ci_low'] * 100:+.1f}, {u['ci_high'] * 100:+.1f}]")
    return u, ci


def _measured(s: dict, console, language: str, cur: str) -> None:
    """The randomised experiments, redemption and CLV-by-segment tables (sections from report/measured.py),
    through output.rows_table: they fit the dashboard's width without cutting a number (low-priority columns
    give way, and the caption says so); the title wraps instead of being cut."""
    from siyu_cli.output import rows_table

    L = _labeller(language)
    verdict = lambda u: L(VERDICTS.get(u["verdict"], u["verdict"])) if u else ""  # noqa: E731
    exps = s.get("experiments") or []
    if exps:
        heads = [L("campaign"), L("arm"), L("assigned"), L("reached"), L("response"), L("ITT uplift [95% CI]"), L("p"),
                 L("verdict")]
        rows = []
        for e in exps[:8]:
            for a in e["arms"]:
                u, ci = _itt_cell(e, a["arm"])
                rows.append([str(e["name"] or e["campaign_id"]), a["arm"], fmt_count(a["assigned"]), fmt_count(a["reached"]),
                             fmt_ratio(a["response_rate"]), ci,
                             "" if not u or u["p_value"] is None else f"{u['p_value']:.3g}", verdict(u)])
        console.print(rows_table(heads, rows, title=L("Randomised experiments (intent-to-treat)"), width=console.width,
                                 drop=(heads[6], heads[3])))
    reds = s.get("redemptions") or []
    if reds:
        heads = [L("campaign"), L("code"), L("arm"), L("assigned"), L("redeemers"), L("rate"), L("orders"), L("GMV"),
                 L("uplift [95% CI]"), L("verdict")]
        rows = []
        for e in reds[:8]:
            name = str(e["name"] or e["campaign_id"])
            for a in e["arms"]:
                u, ci = _itt_cell(e, a["arm"])
                rows.append([name, ", ".join(e["codes"]), a["arm"], fmt_count(a["assigned"]), fmt_count(a["redeemers"]),
                             fmt_ratio(a["redemption_rate"]), fmt_count(a["orders"]), fmt_money(a["gmv"], cur), ci,
                             verdict(u)])
            o = e["outside"]
            rows.append([name, "", L("outside"), "", "", "", fmt_count(o["orders"]), fmt_money(o["gmv"], cur), "", ""])
        console.print(rows_table(heads, rows, width=console.width, drop=(heads[5], heads[6]), title=L(
            "Attribution by redemption (orders using the campaign's code; holdout redemptions = leaked codes)")))
    clv = s.get("clv")
    if clv:
        heads = [L("segment"), L("predicted"), L("mean P(alive)"), L("CLV total"), L("CLV mean"), L("at risk"),
                 L("at-risk CLV")]
        rows = [[f"{r['segment_id']} {r['segment_name'] or ''}", fmt_count(r["with_prediction"]), fmt_ratio(r["p_alive_mean"]),
                 fmt_money(r["clv_total"], cur), fmt_money(r["clv_mean"], cur), fmt_count(r["at_risk"]),
                 fmt_money(r["at_risk_clv"], cur)] for r in clv["segments"]]
        risk = clv["at_risk"]
        title = L("CLV ({months} months, fit {fit}, as of {as_of}) · at risk P(alive)<{p_alive}: {members}, "
                  "past revenue {past_revenue}").format(
            months=clv["horizon_months"], fit=clv["fit_id"], as_of=clv["as_of"], p_alive=risk["p_alive_below"],
            members=fmt_count(risk["members"]), past_revenue=fmt_money(risk["past_revenue"], cur))
        console.print(rows_table(heads, rows, title=title, width=console.width, drop=(heads[1], heads[4])))


def render_text(report: Report, width: int = WIDTH) -> str:
    """The dashboard as plain text (for tests and for pasting)."""
    from rich.console import Console

    buf = io.StringIO()
    render(report, Console(file=buf, width=width, no_color=True, force_terminal=False, soft_wrap=False))
    return buf.getvalue()
