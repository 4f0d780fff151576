"""The demo's default steps (generate → load → sync → segment → plan → push → report).

Each is a function of the shared :class:`DemoContext` returning a short summary dict. The steps
call the areas' public functions directly: the demo is an orchestrator like ``runner/``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from siyu_cli.demo.context import DEMO_ROBOT_KEY, REPORT_PATH, DemoContext, DemoStep, _environ, _to_dict
from siyu_cli.demo.sync_step import API_FILES, step_sync
from siyu_cli.i18n import N_, _


def step_generate(ctx: DemoContext) -> dict:
    from siyu_cli.demo.generator import generate_data

    ctx.data = generate_data(ctx.exports, members=ctx.members, seed=ctx.seed, today=ctx.today, progress=ctx.progress)
    exp = ctx.data.expected()
    return {
        "files": len(ctx.data.files),
        "rows": sum(f.rows for f in ctx.data.files),
        "people": ctx.members,
        "orders": exp["orders"],
        "bad rows": len(ctx.data.bad_rows),
    }


#: load order: people first so orders and groups resolve to them
LOAD_ORDER = ("members", "orders", "groups")


def step_load(ctx: DemoContext) -> dict:
    from siyu_cli.ingest import load_files

    files = ctx.data.files if ctx.data is not None else []
    totals = {"read": 0, "inserted": 0, "updated": 0, "unchanged": 0, "rejected": 0}
    reports = {}
    for kind in LOAD_ORDER:
        # contacts come from the API (the sync step), as on a real corp; the console export follows it
        paths = [f.path for f in files if f.kind == kind and f.path.name not in API_FILES]
        if not paths:
            continue
        report = load_files(ctx.settings, kind, paths, preset="auto", max_rejects=None)
        reports[kind] = report
        for key in totals:
            totals[key] += int(getattr(report, key, 0) or 0)
    ctx.results["load"] = reports
    summary: dict[str, Any] = dict(totals)
    if ctx.data is not None:
        summary["expected rejects"] = sum(1 for b in ctx.data.bad_rows if b.file not in API_FILES)
    return summary


def step_segment(ctx: DemoContext) -> dict:
    from siyu_cli.segment import run_segment

    run = run_segment(ctx.settings, scheme="rfm8", as_of=ctx.today)
    ctx.results["segment"] = run
    summary: dict[str, Any] = {"snapshot": getattr(run, "snapshot_id", None)}
    for key in ("members", "buyers"):
        if getattr(run, key, None) is not None:
            summary[key] = getattr(run, key)
    top20 = (getattr(run, "pareto", None) or {}).get("top20_revenue_share")
    if top20 is not None:
        summary["top 20% revenue"] = f"{top20:.0%}"
    rows = [r for r in (getattr(run, "summary", None) or []) if (r.get("members") or 0) > 0]
    rows.sort(key=lambda r: -(r.get("members") or 0))
    for r in rows[:3]:
        label = r.get("name") or r.get("segment_name") or r.get("segment_id")
        summary[f"{r.get('segment_id', '')} {label}".strip()] = r.get("members")
    return summary


def step_plan(ctx: DemoContext) -> dict:
    from siyu_cli.plan import due_messages

    start, end = ctx.week()
    messages = due_messages(ctx.settings, start, end, playbooks=ctx.playbooks or None)
    ctx.results["plan"] = messages
    by_kind: dict[str, int] = {}
    for m in messages:
        by_kind[m.kind] = by_kind.get(m.kind, 0) + 1
    return {"week": f"{start:%Y-%m-%d}..{(end - timedelta(days=1)):%m-%d}", "messages": len(messages), **by_kind}


def step_push(ctx: DemoContext) -> dict:
    """Send the demo week's messages to a WeCom sandbox on 127.0.0.1 (never the real WeCom)."""
    from siyu_cli.push import push_due
    from siyu_cli.sandbox import SandboxServer

    wecom = ctx.settings.section("wecom") if ctx.settings is not None else {}
    corp_env = wecom.get("corp_id_env", "WECOM_CORP_ID")
    secret_env = wecom.get("secret_env", "WECOM_SECRET")
    robot_env = wecom.get("robot_key_env", "WECOM_ROBOT_KEY")
    start, end = ctx.week()
    server = SandboxServer(settings=ctx.settings, confirm="auto", robot_keys=[DEMO_ROBOT_KEY],
                           state_dir=ctx.root / "sandbox")
    server.start()
    try:
        env = {corp_env: server.corp_id if hasattr(server, "corp_id") else "wwsandbox",
               secret_env: server.secret, robot_env: DEMO_ROBOT_KEY, "SIYU_WECOM_BASE_URL": server.url}
        with _environ(env):
            report = push_due(ctx.settings, start, end, playbooks=ctx.playbooks or None)
        deliveries = server.deliveries()
    finally:
        server.stop()
    ctx.results["push"] = report
    by_channel: dict[str, int] = {}
    for d in deliveries:
        by_channel[d.get("channel", "?")] = by_channel.get(d.get("channel", "?"), 0) + 1
    info = _to_dict(report)
    summary: dict[str, Any] = {}
    for key in ("due", "sent"):
        if key in info:
            summary[key] = info[key]
    summary.update(_push_unsent(ctx, info))
    summary["failed"] = int(getattr(report, "failed", 0) or 0)
    summary["received"] = len(deliveries)
    summary.update({f"by {k}": v for k, v in sorted(by_channel.items())})
    return summary


#: push_due outcomes that are neither sent nor failed, as the demo's push line names them
_UNSENT = {"not_yet_due": "not yet due", "held": "held", "pending": "pending", "created": "created",
           "empty": "empty", "already_sent": "already sent", "already_partial": "already sent",
           "already_empty": "already empty", "already_cancelled": "cancelled", "cancelled": "cancelled"}


def _push_unsent(ctx: DemoContext, info: dict) -> dict[str, Any]:
    """Why "due" and "sent" differ: messages not sent yet (with when), and recipients skipped by policy."""
    from collections import Counter
    from zoneinfo import ZoneInfo

    items = info.get("items") or []
    out: dict[str, Any] = {}
    counts = Counter(_UNSENT[i.get("outcome")] for i in items if i.get("outcome") in _UNSENT)
    for label, n in counts.items():
        out[label] = n
    later = sorted(i["scheduled_at"] for i in items if i.get("outcome") == "not_yet_due" and i.get("scheduled_at"))
    if later and ctx.settings is not None:
        first = datetime.fromisoformat(later[0]).astimezone(ZoneInfo(ctx.settings.timezone))
        out["not yet due"] = _("{n} (scheduled from {when})").format(n=counts["not yet due"], when=f"{first:%m-%d %H:%M}")
    cids = [i["campaign_id"] for i in items if i.get("campaign_id")]
    if cids and ctx.settings is not None:
        from siyu_cli.push.ledger import skipped_reasons
        from siyu_cli.store import open_store

        with open_store(ctx.settings, read_only=True) as con:
            reasons = skipped_reasons(con, cids)
        if reasons:
            why = ", ".join(f"{str(r or 'other').replace('_', ' ')} {n}" if len(reasons) > 1 else str(r or "other").replace("_", " ")
                            for r, n in reasons)
            out["skipped recipients"] = f"{sum(n for _r, n in reasons)} ({why})"
    return out


def step_report(ctx: DemoContext) -> dict:
    from siyu_cli.report import build_report, write_html

    report = build_report(ctx.settings, date_to=ctx.today)
    path = write_html(report, ctx.root / REPORT_PATH)
    ctx.results["report"] = report
    kpis = _to_dict(report).get("kpis") or {}
    summary: dict[str, Any] = {}
    if kpis.get("gmv") is not None:
        from siyu_cli.formatting import money

        summary["GMV"] = money(kpis["gmv"])
    if kpis.get("repurchase_rate") is not None:
        summary["repurchase rate"] = f"{kpis['repurchase_rate']:.0%}"
    if kpis.get("online_rate") is not None:
        summary["online rate"] = f"{kpis['online_rate']:.0%}"
    summary["html"] = str(path)
    return summary


#: titles are msgids: the runner shows them in the reader's language
DEFAULT_STEPS: tuple[DemoStep, ...] = (
    DemoStep("generate", N_("generate demo exports"), step_generate),
    DemoStep("load", N_("load exports"), step_load),
    DemoStep("sync", N_("sync contacts from the WeCom sandbox"), step_sync),
    DemoStep("segment", N_("segment members (RFM)"), step_segment),
    DemoStep("plan", N_("plan the week"), step_plan),
    DemoStep("push", N_("push to the WeCom sandbox"), step_push),
    DemoStep("report", N_("write the KPI report"), step_report),
)
