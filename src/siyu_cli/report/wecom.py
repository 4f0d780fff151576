"""Report sections fed by `siyu sync wecom`: contact events (流失), guide activity and group health.

Kept apart from kpis.py: these read the sync's tables (contact_events, wecom_behavior,
wecom_group_stats) and are None when no sync has run, so a file-only workspace's report is unchanged.
"""

from __future__ import annotations

from datetime import date
from typing import Any

#: who ended a relation: ``contact_removed`` the guide removed the customer (gone from WeCom's lists),
#: ``contact_deleted`` the customer deleted the guide (still listed one-way; a send came back "not a friend");
#: the totals' ``contact_lost`` is both
EVENT_KINDS = ("contact_added", "contact_removed", "contact_deleted", "group_joined", "group_left")
EVENT_ZH = {"contact_added": "新增好友", "contact_removed": "导购删除客户", "contact_deleted": "客户删除导购",
            "contact_lost": "好友流失", "group_joined": "入群", "group_left": "退群"}

from siyu_cli import sql
from siyu_cli.i18n import N_
from siyu_cli.store import table_exists

#: what the terminal dashboard shows (siyu's catalogue); EVENT_ZH stays the CSV's stable label column
EVENT_LABELS = {"contact_added": N_("new friends"), "contact_removed": N_("removed by the guide"),
                "contact_deleted": N_("deleted by the customer"), "contact_lost": N_("friends lost"),
                "group_joined": N_("joined groups"), "group_left": N_("left groups")}


def wecom_sections(con, dfrom: date, dto: date) -> dict[str, Any]:
    """``contact_events``, ``guide_activity`` and ``group_health`` for [dfrom, dto] (each None without data)."""
    out: dict[str, Any] = {"contact_events": None, "guide_activity": None, "group_health": None}
    if not table_exists(con, "contact_events"):
        return out
    period = {"f": dfrom, "t": dto}
    from siyu_cli.sync.merge import done_runs

    if done_runs(con):
        totals = dict(sql.run_duckdb(con, "report/contact_event_totals", period).fetchall())
        by_guide = sql.run_duckdb(con, "report/contact_events_by_guide", period).fetchall()
        t = {k: totals.get(k, 0) for k in EVENT_KINDS}
        t["contact_lost"] = t["contact_removed"] + t["contact_deleted"]
        out["contact_events"] = {
            "totals": t,
            "by_guide": [{"guide": g, "name": n, "added": a, "removed": rm, "deleted": dl, "lost": rm + dl}
                         for g, n, a, rm, dl in by_guide],
        }
    rows = sql.run_duckdb(con, "report/guide_activity", period).fetchall()
    if rows:
        out["guide_activity"] = [
            {"rank": i, "guide": r[0], "name": r[1], "new_contacts": r[2], "chats": r[3], "messages": r[4],
             "reply_percentage": None if r[5] is None else round(r[5], 1),
             "avg_reply_minutes": None if r[6] is None else round(r[6], 1), "negative_feedback": r[7], "days": r[8]}
            for i, r in enumerate(rows, 1)]
    rows = sql.run_duckdb(con, "report/group_health", period).fetchall()
    if rows:
        left = dict(sql.run_duckdb(con, "report/groups_left", period).fetchall())
        out["group_health"] = [
            {"owner": r[0], "groups": r[1], "members": r[2], "new_members": r[3],
             "active_members_per_day": None if r[4] is None else round(r[4], 1), "messages": r[5],
             "left": left.get(r[0], 0), "active_share": (r[4] / r[2]) if r[2] and r[4] is not None else None,
             "days": r[6]}
            for r in rows]
    return out


def synced_online(con, dto: date) -> dict[str, Any] | None:
    """在线率 after a WeCom sync: members with a live guide relation (a member whose every guide lost them
    keeps an external_userid but is not reachable). None when no sync has run (the file-based rule stays)."""
    from siyu_cli.sync.merge import done_runs

    if not table_exists(con, "wecom_sync_runs") or not done_runs(con):
        return None
    reach, total = sql.run_duckdb(con, "report/synced_online", {"t": dto}).fetchone()
    return {"reachable_members": reach, "online_rate": reach / total if total else None}


def csv_rows(sections: dict[str, Any]) -> list[list[Any]]:
    """Long rows (section, group, kpi, name, value) for ``siyu report --format csv``."""
    out: list[list[Any]] = []
    ev = sections.get("contact_events")
    if ev:
        for kind, n in ev["totals"].items():
            out.append(["contact_events", "", kind, EVENT_ZH[kind], n])
    for r in sections.get("guide_activity") or []:
        for key in ("new_contacts", "chats", "messages", "reply_percentage", "avg_reply_minutes", "negative_feedback"):
            out.append(["guide_activity", r["guide"], key, key, r[key]])
    for r in sections.get("group_health") or []:
        for key in ("groups", "members", "new_members", "active_members_per_day", "messages", "left"):
            out.append(["group_health", r["owner"], key, key, r[key]])
    return out


def render_terminal(report, console) -> None:
    """Panels for the terminal dashboard (after the others; nothing without a sync)."""
    from rich.panel import Panel
    from rich.table import Table

    s = report.sections
    from siyu_cli.i18n import label

    def L(message: str) -> str:
        return label(message, report.language)

    def table(cols) -> Table:
        t = Table(box=None, header_style="bold", padding=(0, 1))
        for i, col in enumerate(cols):
            t.add_column(col, justify="left" if i == 0 else "right", overflow="fold")
        return t

    def show(t: Table, title: str, head: str | None = None) -> None:
        """A panel that fits the console: headers wrap at word breaks, numbers are never cut (each column is at
        least as wide as its widest cell); a line of totals goes above the table, not into the title."""
        from rich.cells import cell_len
        from rich.console import Group

        from siyu_cli.output import rich_text

        for column in t.columns:
            column.min_width = max((cell_len(str(c)) for c in column._cells), default=0) or None
        body = Group(rich_text(head), t) if head else t
        console.print(Panel(body, title=title, title_align="left"))

    ev = s.get("contact_events")
    if ev:
        t = table((L("guide"), L("added"), L("removed by guide"), L("deleted by customer")))
        for r in ev["by_guide"][:8]:
            t.add_row(str(r["name"] or r["guide"])[:24], str(r["added"]), str(r["removed"]), str(r["deleted"]))
        show(t, L("Contact events  ").strip(), " · ".join(f"{L(EVENT_LABELS[k])} {n}" for k, n in ev["totals"].items()))
    ga = s.get("guide_activity")
    if ga:
        t = table((L("guide"), L("new"), L("chats"), L("messages"), L("reply %"), L("avg reply min"), L("negative")))
        for r in ga[:10]:
            t.add_row(str(r["name"] or r["guide"])[:24], str(r["new_contacts"]), str(r["chats"]), str(r["messages"]),
                      "—" if r["reply_percentage"] is None else f"{r['reply_percentage']:.0f}%",
                      "—" if r["avg_reply_minutes"] is None else f"{r['avg_reply_minutes']:.1f}",
                      str(r["negative_feedback"]))
        show(t, L("Guide activity (WeCom)"))
    gh = s.get("group_health")
    if gh:
        t = table((L("owner"), L("groups"), L("group members"), L("joined the group"), L("active/day"), L("messages"),
                   L("left the group")))
        for r in gh[:10]:
            t.add_row(str(r["owner"])[:24], str(r["groups"]), str(r["members"]), str(r["new_members"]),
                      "—" if r["active_members_per_day"] is None else f"{r['active_members_per_day']:.1f}",
                      str(r["messages"]), str(r["left"]))
        show(t, L("Group health"))
