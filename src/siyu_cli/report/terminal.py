"""The report as a compact Rich dashboard that fits 100 terminal columns (bars and sparklines, no charts)."""

from __future__ import annotations

import io
from typing import Any

from siyu_cli.output import rich_text
from siyu_cli.report import Report
from siyu_cli.report.kpis import KPI_BY_ID

WIDTH = 100
SPARKS = "▁▂▃▄▅▆▇█"


def fmt_money(value: Any, currency: str = "CNY") -> str:
    if value is None:
        return "—"
    symbol = "¥" if currency in ("CNY", "RMB") else f"{currency} "
    v = float(value)
    if abs(v) >= 1_000_000:
        return f"{symbol}{v / 10_000:,.1f}万"
    return f"{symbol}{v:,.2f}" if abs(v) < 1000 else f"{symbol}{v:,.0f}"


def fmt_ratio(value: Any) -> str:
    return "—" if value is None else f"{float(value) * 100:.1f}%"


def fmt_count(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


def fmt_number(value: Any) -> str:
    return "—" if value is None else f"{float(value):.2f}"


def fmt_kpi(kpi_id: str, value: Any, currency: str = "CNY") -> str:
    unit = KPI_BY_ID[kpi_id].unit if kpi_id in KPI_BY_ID else "count"
    return {"money": lambda v: fmt_money(v, currency), "ratio": fmt_ratio, "count": fmt_count}.get(unit, fmt_number)(value)


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


def _labeller(language: str):
    """``L(msgid)``: a label in the report's language (siyu's catalogue; the msgids are English)."""
    from siyu_cli.i18n import label

    return lambda message: label(message, language)


def _label(report: Report, kpi_id: str) -> str:
    k = KPI_BY_ID[kpi_id]
    return k.name if report.language == "zh" else k.name_en


def render(report: Report, console=None) -> None:
    """Print the dashboard on ``console`` (default: stdout, at most 100 columns wide)."""
    from rich.console import Console, Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    if console is None:
        from siyu_cli.output import stdout_console

        base = stdout_console()
        # a pipe or file gets the full 100 columns (Rich would otherwise assume 80)
        width = min(base.width, WIDTH) if base.is_terminal else WIDTH
        console = Console(width=width, no_color=base.no_color, soft_wrap=False, force_terminal=base.is_terminal)
    zh = report.language == "zh"
    L = _labeller(report.language)
    cur = report.currency
    k = report.kpis
    s = report.sections
    title = L("Private-domain report  {date_from} – {date_to} ({days} days)").format(
        date_from=report.date_from, date_to=report.date_to, days=report.days)

    # headline KPIs: three name/value pairs per row
    per_row = 3 if console.width >= 90 else 2 if console.width >= 56 else 1
    ids = ["gmv", "orders", "aov", "members", "new_members", "items_per_order", "buyers", "new_buyers",
           "returning_buyers", "member_order_share", "member_gmv_share", "online_rate", "repurchase_rate",
           "purchase_frequency", "new_contacts", "active_share", "silent_share", "churned_share",
           "annual_revenue_per_member", "head_share", "share_for_80"]
    cells = [(_label(report, i), fmt_kpi(i, k.get(i), cur)) for i in ids]
    from rich.cells import cell_len

    # fixed column widths: labels may be shortened with an ellipsis, numbers never are
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

    # trend
    trend = s.get("trend") or []
    if trend:
        t = Table.grid(padding=(0, 1))
        t.add_column(style="dim", no_wrap=True)
        t.add_column(no_wrap=True)
        t.add_column(style="dim", no_wrap=True)
        months = trend[-36:]
        span = f"{months[0]['month']} → {months[-1]['month']}"
        t.add_row(L("GMV"), Text(sparkline([m["gmv"] for m in months]), style="green"),
                  f"{span}  max {fmt_money(max(m['gmv'] for m in months), cur)}")
        t.add_row(L("Orders"), Text(sparkline([m["orders"] for m in months]), style="cyan"),
                  f"max {fmt_count(max(m['orders'] for m in months))}")
        t.add_row(L("New members"), Text(sparkline([m["new_members"] for m in months]), style="magenta"),
                  f"max {fmt_count(max(m['new_members'] for m in months))}")
        console.print(Panel(t, title=L("Monthly trend"), title_align="left"))

    # lifecycle + pareto side by side as one small table
    life = s.get("lifecycle") or {}
    lt = Table(box=None, show_header=False, padding=(0, 1), expand=False)
    lt.add_column(no_wrap=True)
    lt.add_column(justify="right", no_wrap=True)
    lt.add_column(no_wrap=True)
    cfg = report.config
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

    # segments
    seg = s.get("segments")
    if seg:
        st = Table(title=None, header_style="bold", box=None, padding=(0, 1))
        st.add_column(L("segment"), no_wrap=True)
        st.add_column(L("members"), justify="right")
        st.add_column(L("share"), justify="right")
        st.add_column("", no_wrap=True)
        has_prev = seg.get("previous") is not None
        if has_prev:
            st.add_column(L("change"), justify="right")
        for m in sorted(seg["mix"], key=lambda m: -m["members"]):
            row = [rich_text(f"{m['segment_id']} {m['segment_name'] or ''}".strip()), fmt_count(m["members"]),
                   fmt_ratio(m["share"]), Text(bar(m["share"], 20), style="cyan")]
            if has_prev:
                ch = m.get("change_members") or 0
                row.append(Text(f"{ch:+d} ({(m.get('change_share') or 0) * 100:+.1f}pt)",
                                style="green" if ch > 0 else "red" if ch < 0 else "dim"))
            st.add_row(*row)
        snap = seg["latest"]
        sub = L("snapshot {snapshot_id} ({as_of})").format(snapshot_id=snap["snapshot_id"], as_of=snap["as_of"])
        if has_prev:
            sub += " " + L("vs {snapshot_id} ({as_of})").format(snapshot_id=seg["previous"]["snapshot_id"],
                                                               as_of=seg["previous"]["as_of"])
        console.print(Panel(st, title=L("RFM segments  {snapshot}").format(snapshot=sub), title_align="left"))

    # cohorts: the latest 8 cohorts × months 0..7
    cohorts = (s.get("cohorts") or [])[-8:]
    if cohorts:
        span = min(8, max(len(c["retention"]) for c in cohorts))
        ct = Table(box=None, header_style="bold", padding=(0, 1))
        ct.add_column(L("joined"), no_wrap=True)
        ct.add_column(L("size"), justify="right")
        for i in range(span):
            ct.add_column(f"+{i}", justify="right")
        for c in cohorts:
            vals = [fmt_ratio(r) for r in c["retention"][:span]] + [""] * (span - len(c["retention"][:span]))
            ct.add_row(rich_text(c["month"]), fmt_count(c["size"]), *vals)
        console.print(Panel(ct, title=L("Cohort retention (bought in month k)"),
                            title_align="left"))

    # leaderboards
    for key, title in (("store", L("Stores")), ("guide", L("Guides"))):
        rows = (s.get("leaderboards") or {}).get(key) or []
        if not rows:
            continue
        lb = Table(box=None, header_style="bold", padding=(0, 1))
        for col, justify in (("#", "right"), (L("store") if key == "store" else L("guide"), "left"),
                             (L("GMV"), "right"), ("", "left"),
                             (L("buyers"), "right"), (L("repurchase"), "right"),
                             (L("new contacts"), "right")):
            lb.add_column(col, justify=justify, no_wrap=True)
        top = max((r["gmv"] for r in rows), default=0) or 1
        for r in rows[:5]:
            who = (r.get("name") or r["store"]) if key == "store" else (f"{r['name']} ({r['guide']})" if r.get("name") else r["guide"])
            lb.add_row(str(r["rank"]), rich_text(str(who)[:24]), fmt_money(r["gmv"], cur), Text(bar(r["gmv"] / top, 16), style="green"),
                       fmt_count(r["buyers"]), fmt_ratio(r["repurchase_rate"]), fmt_count(r["new_contacts"]))
        more = "  " + L("(top 5 of {count})").format(count=len(rows)) if len(rows) > 5 else ""
        console.print(Panel(lb, title=title + more, title_align="left"))

    # add rate
    if s.get("add_rate"):
        at = Table(box=None, header_style="bold", padding=(0, 1))
        for i, col in enumerate((L("store"), L("new contacts"), L("traffic"), L("add rate"))):
            at.add_column(col, justify="left" if i == 0 else "right", no_wrap=True)
        for r in s["add_rate"][:10]:
            at.add_row(rich_text(r["store"]), fmt_count(r["new_contacts"]), fmt_count(r["store_traffic"]), fmt_ratio(r["add_rate"]))
        console.print(Panel(at, title=L("Add rate"), title_align="left"))

    # campaigns
    if s.get("campaigns"):
        cp = Table(box=None, header_style="bold", padding=(0, 1))
        heads = ((L("campaign"), "left"), (L("reached"), "right"), (L("delivered"), "right"),
                 (L("rep {days}d").format(days=cfg.campaign_days), "right"), (L("control"), "right"),
                 (L("uplift"), "right"))
        for col, j in heads:
            cp.add_column(col, justify=j, no_wrap=True)
        for c in s["campaigns"][:8]:
            up = c["campaign_uplift"]
            cp.add_row(rich_text(str(c["name"] or c["campaign_id"])[:28]), fmt_count(c["reached"]), fmt_count(c["delivered"]),
                       fmt_ratio(c["campaign_repurchase"]), fmt_ratio(c["control_repurchase"]),
                       "—" if up is None else f"{up * 100:+.1f}pt")
        console.print(Panel(cp, title=L("Campaigns (observational control: not randomised)"), title_align="left"))
    _measured(s, console, zh, cur)

    # breakdown
    bd = s.get("breakdown")
    if bd:
        by = bd["by"]
        btab = Table(box=None, header_style="bold", padding=(0, 1))
        by_label = {"store": L("store"), "guide": L("guide"), "channel": L("channel"), "month": L("month")}.get(by, by)
        for col, j in ((by_label, "left"), (L("orders"), "right"), (L("buyers"), "right"),
                       (L("GMV"), "right"), (L("AOV"), "right"),
                       (L("member GMV"), "right"), (L("repurchase"), "right")):
            btab.add_column(rich_text(col), justify=j, no_wrap=True)
        for r in bd["rows"]:
            key = r[by] if r[by] is not None else L("(none)")
            if r.get("name"):
                key = f"{r['name']} ({key})"
            btab.add_row(rich_text(str(key)[:24]), fmt_count(r["orders"]),
                         fmt_count(r["buyers"]), fmt_money(r["gmv"], cur), fmt_money(r["aov"], cur),
                         fmt_ratio(r["member_gmv_share"]), fmt_ratio(r["repurchase_rate"]))
        console.print(Panel(btab, title=rich_text(L("By {dimension}").format(dimension=by_label)), title_align="left"))

    from siyu_cli.report.wecom import render_terminal

    render_terminal(report, console)  # contact events, guide activity, group health (after `siyu sync wecom`)

    if report.notes:
        console.print(Group(*[rich_text(f"· {n}", style="dim") for n in report.notes]))


def _itt_cell(e: dict, arm: str) -> tuple[dict | None, str]:
    """An arm's ITT comparison in a measured section (None for the reference arm) and its "diff [CI]" text."""
    u = next((x["itt"] for x in e["uplift"] if x["arm"] == arm), None)
    ci = "" if not u or u["ci_low"] is None else (
        f"{u['diff'] * 100:+.1f}pt [{u['ci_low'] * 100:+.1f}, {u['ci_high'] * 100:+.1f}]")
    return u, ci


def _measured(s: dict, console, zh: bool, cur: str) -> None:
    """The randomised experiments and CLV-by-segment panels (sections from report/measured.py)."""
    from rich.panel import Panel
    from rich.table import Table

    L = _labeller("zh" if zh else "en")
    exps = s.get("experiments") or []
    if exps:
        et = Table(box=None, header_style="bold", padding=(0, 1))
        for i, col in enumerate((L("campaign"), L("arm"), L("assigned"), L("reached"), L("response"),
                                 L("ITT uplift [95% CI]"), "p", L("verdict"))):
            et.add_column(col, no_wrap=True, justify="left" if i in (0, 1, 7) else "right")
        for e in exps[:8]:
            for a in e["arms"]:
                u, ci = _itt_cell(e, a["arm"])
                et.add_row(rich_text(str(e["name"] or e["campaign_id"])[:20]), a["arm"], fmt_count(a["assigned"]),
                           fmt_count(a["reached"]), fmt_ratio(a["response_rate"]), ci,
                           "" if not u or u["p_value"] is None else f"{u['p_value']:.3g}", u["verdict"] if u else "")
        console.print(Panel(et, title=L("Randomised experiments (intent-to-treat)"),
                            title_align="left"))
    reds = s.get("redemptions") or []
    if reds:
        rt = Table(box=None, header_style="bold", padding=(0, 1))
        for i, col in enumerate((L("campaign"), L("code"), L("arm"), L("assigned"), L("redeemers"),
                                 L("redemption rate"), L("redeemed orders"), L("redeemed GMV"), L("uplift [95% CI]"),
                                 L("verdict"))):
            rt.add_column(col, no_wrap=True, justify="left" if i in (0, 1, 2, 9) else "right")
        for e in reds[:8]:
            for a in e["arms"]:
                u, ci = _itt_cell(e, a["arm"])
                rt.add_row(rich_text(str(e["name"] or e["campaign_id"])[:20]), rich_text(",".join(e["codes"])[:16]),
                           a["arm"], fmt_count(a["assigned"]), fmt_count(a["redeemers"]), fmt_ratio(a["redemption_rate"]),
                           fmt_count(a["orders"]), fmt_money(a["gmv"], cur), ci, u["verdict"] if u else "")
            o = e["outside"]
            rt.add_row(rich_text(str(e["name"] or e["campaign_id"])[:20]), "", L("outside"), "", "", "",
                       fmt_count(o["orders"]), fmt_money(o["gmv"], cur), "", "")
        console.print(Panel(rt, title=L("Attribution by redemption (orders using the campaign's code; holdout "
                                        "redemptions = leaked codes)"), title_align="left"))
    clv = s.get("clv")
    if clv:
        ct = Table(box=None, header_style="bold", padding=(0, 1))
        for i, col in enumerate((L("segment"), L("predicted"), L("mean P(alive)"), L("CLV total"), L("CLV mean"),
                                 L("at risk"), L("at-risk CLV"))):
            ct.add_column(col, no_wrap=True, justify="left" if i == 0 else "right")
        for r in clv["segments"]:
            ct.add_row(f"{r['segment_id']} {r['segment_name'] or ''}"[:24], fmt_count(r["with_prediction"]),
                       fmt_ratio(r["p_alive_mean"]), fmt_money(r["clv_total"], cur), fmt_money(r["clv_mean"], cur),
                       fmt_count(r["at_risk"]), fmt_money(r["at_risk_clv"], cur))
        risk = clv["at_risk"]
        title = L("CLV ({months} months, fit {fit_id}, as of {as_of}) · at risk P(alive)<{below}: {members}, "
                  "past revenue {revenue}").format(
            months=clv["horizon_months"], fit_id=clv["fit_id"], as_of=clv["as_of"], below=risk["p_alive_below"],
            members=fmt_count(risk["members"]), revenue=fmt_money(risk["past_revenue"], cur))
        console.print(Panel(ct, title=title, title_align="left"))


def render_text(report: Report, width: int = WIDTH) -> str:
    """The dashboard as plain text (for tests and for pasting)."""
    from rich.console import Console

    buf = io.StringIO()
    render(report, Console(file=buf, width=width, no_color=True, force_terminal=False, soft_wrap=False))
    return buf.getvalue()
