"""Writing a rendered week (or a day's SOP list) as table, Markdown, CSV, JSON or ICS.

Every format is deterministic: rows are sorted, no "generated at" stamps,
JSON keys in a fixed order, ICS UIDs derived from (playbook, week, slot,
group) and DTSTAMP derived from the event itself. Rendering the same inputs
twice gives byte-identical files, so plans can be diffed and committed.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from siyu_cli.i18n import N_
from siyu_cli.output import rich_text
from siyu_cli.plan.render import PlannedMessage, WeekPlan
from siyu_cli.plan.model import WEEKDAY_CN
from siyu_cli.plan.sop import SopReport
from siyu_cli.plan.templates import cn_date

WEEK_FORMATS = ("table", "md", "csv", "json", "ics")
SOP_FORMATS = ("table", "md", "csv", "json")

WEEK_COLUMNS = ("scheduled_at", "date", "weekday", "time", "store", "group_id", "group", "owner", "slot",
                "kind", "kind_id", "channel", "text", "attachments")
SOP_COLUMNS = ("scheduled_at", "playbook", "step", "day", "kind", "channel", "member_id", "member", "guide",
               "store", "text", "attachments")


def attachment_summary(attachments: tuple) -> str:
    parts = []
    for a in attachments:
        t = a.get("msgtype")
        if t == "image":
            parts.append(f"图片:{a['image']['path'].rsplit('/', 1)[-1]}")
        elif t == "link":
            parts.append(f"链接:{a['link'].get('title', '')}")
        elif t == "miniprogram":
            parts.append(f"小程序:{a['miniprogram'].get('title', '')}")
    return "; ".join(parts)


def week_records(plan: WeekPlan) -> list[dict[str, Any]]:
    rows = []
    for m in plan.messages:
        rows.append({
            "scheduled_at": m.scheduled_at.isoformat(),
            "date": m.scheduled_at.date().isoformat(),
            "weekday": WEEKDAY_CN[m.scheduled_at.weekday()],
            "time": f"{m.scheduled_at:%H:%M}",
            "store": m.group.store or "",
            "group_id": m.group.group_id,
            "group": m.group.name,
            "owner": m.group.owner or "",
            "slot": m.slot_id,
            "kind": m.kind,
            "kind_id": m.kind_id,
            "channel": m.channel,
            "text": m.text,
            "attachments": list(m.attachments),
            "key": m.key,
            "uid": m.uid,
        })
    return rows


def week_to_json(plan: WeekPlan) -> str:
    doc = {
        "playbook": plan.playbook.name,
        "title": plan.playbook.title,
        "week": plan.week.id,
        "start": plan.week.start.isoformat(),
        "end": plan.week.end.isoformat(),
        "timezone": plan.timezone,
        "skipped_week": plan.skipped_week,
        "groups": len(plan.targets),
        "messages": week_records(plan),
        "skipped": plan.skipped,
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def week_to_csv(plan: WeekPlan, *, bom: bool = False) -> str:
    from siyu_cli.output import rows_to_csv

    rows = []
    for r in week_records(plan):
        r = dict(r, attachments=attachment_summary(tuple(r["attachments"])))
        rows.append([r[c] for c in WEEK_COLUMNS])
    return rows_to_csv(WEEK_COLUMNS, rows, bom=bom)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def week_to_markdown(plan: WeekPlan) -> str:
    pb = plan.playbook
    lines = [f"# {pb.title} · {plan.week.id}（{plan.week.label}）", ""]
    if pb.description:
        lines += [pb.description.strip(), ""]
    lines += [f"时区 {plan.timezone} · {len(plan.targets)} 个群 · {len(plan.messages)} 条消息", ""]
    if plan.skipped_week:
        lines += ["本周跳过（rules.skip_weeks）。", ""]
    day = None
    for m in plan.messages:
        d = m.scheduled_at.date()
        if d != day:
            if day is not None:
                lines.append("")
            day = d
            lines += [f"## {cn_date(d)}", "", "| 时间 | 门店 | 群 | 类型 | 内容 | 附件 |", "|---|---|---|---|---|---|"]
        lines.append(
            f"| {m.scheduled_at:%H:%M} | {_md_cell(m.group.store or '')} | {_md_cell(m.group.name)} | "
            f"{_md_cell(m.kind)} | {_md_cell(m.text)} | {_md_cell(attachment_summary(m.attachments))} |"
        )
    if day is not None:
        lines.append("")
    if plan.skipped:
        lines += ["## 未安排", "", "| 群 | 时段 | 原因 |", "|---|---|---|"]
        for s in plan.skipped:
            lines.append(f"| {s['group_id']} | {s['slot_id']} | {s['reason']} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# ----------------------------------------------------------------------------- ICS (RFC 5545)


def _ics_escape(text: str) -> str:
    return (str(text).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n"))


def _fold(line: str) -> str:
    """Fold at 75 octets without splitting a UTF-8 character."""
    if len(line) <= 18 or len(line.encode("utf-8")) <= 75:  # 18 chars × 4 bytes max fits
        return line
    out, current, size = [], "", 0
    for ch in line:
        n = len(ch.encode("utf-8"))
        limit = 75 if not out else 74  # continuation lines start with a space
        if size + n > limit:
            out.append(current)
            current, size = ch, n
        else:
            current += ch
            size += n
    out.append(current)
    return "\r\n ".join(out)


def _utc(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def week_to_ics(plan: WeekPlan, *, duration_minutes: int = 15) -> str:
    pb = plan.playbook
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//siyu//plan//ZH",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_ics_escape(pb.title + ' ' + plan.week.id)}",
        f"X-WR-TIMEZONE:{plan.timezone}",
    ]
    for m in plan.messages:
        lines += _vevent(m, duration_minutes)
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)


def _vevent(m: PlannedMessage, duration_minutes: int) -> list[str]:
    desc = m.text
    summary = attachment_summary(m.attachments)
    if summary:
        desc += f"\n\n附件：{summary}"
    lines = [
        "BEGIN:VEVENT",
        f"UID:{m.uid}",
        f"DTSTAMP:{_utc(m.scheduled_at)}",
        f"DTSTART:{_utc(m.scheduled_at)}",
        f"DURATION:PT{duration_minutes}M",
        f"SUMMARY:{_ics_escape(f'【{m.kind}】{m.group.name}')}",
        f"DESCRIPTION:{_ics_escape(desc)}",
        f"CATEGORIES:{_ics_escape(m.kind_id)}",
    ]
    if m.group.store:
        lines.append(f"LOCATION:{_ics_escape(m.group.store)}")
    lines.append("END:VEVENT")
    return lines


# ----------------------------------------------------------------------------- rendering a week for people


def week_text(plan: WeekPlan, fmt: str) -> str | None:
    """The week in ``fmt`` (None for ``table``, which prints with Rich)."""
    return {"md": week_to_markdown, "csv": week_to_csv, "json": week_to_json, "ics": week_to_ics}.get(fmt, lambda p: None)(plan)


def day_title(d) -> str:
    """A day as a table title: ``11月24日 周二`` in Chinese, ``Tue 2026-11-24`` in English."""
    from siyu_cli.i18n import current

    return cn_date(d) if current() == "zh" else f"{d:%a %Y-%m-%d}"


def week_progress(plan: WeekPlan, today=None) -> tuple[int, int] | None:
    """(days elapsed including today, 7) when the plan's week is still in progress in its time zone, else None."""
    from siyu_cli import clock

    today = today or clock.today(plan.timezone)
    if plan.week.start <= today <= plan.week.end:
        return (today - plan.week.start).days + 1, (plan.week.end - plan.week.start).days + 1
    return None


def print_week_table(plan: WeekPlan) -> None:
    """One table per day that fits the terminal (output.rows_table: a message folds, times stay whole); cell
    text is literal (a message may contain [brackets]). A week still in progress is marked, as a partial
    month is in the report: its first days have passed."""
    from siyu_cli.i18n import _, ngettext
    from siyu_cli.output import rows_table, stdout_console

    console = stdout_console()
    progress = week_progress(plan)
    mark = "*" if progress else ""
    console.print(rich_text(
        _("{title} · {week}{mark} ({start} – {end}) · {timezone} · {groups} · {messages}").format(
            title=plan.playbook.title, week=plan.week.id, mark=mark, start=plan.week.start, end=plan.week.end,
            timezone=plan.timezone,
            groups=ngettext("{count} group", "{count} groups", len(plan.targets)).format(count=len(plan.targets)),
            messages=ngettext("{count} message", "{count} messages", len(plan.messages)).format(count=len(plan.messages))),
        style="bold"))
    if progress:
        console.print(rich_text(_("* week in progress: day {day} of {days}; the messages of the days before today "
                                  "have passed").format(day=progress[0], days=progress[1]), style="yellow"))
    if plan.skipped_week:
        console.print(rich_text(_("this week is skipped (rules.skip_weeks)")))
    by_day: dict = {}
    for m in plan.messages:
        by_day.setdefault(m.scheduled_at.date(), []).append(m)
    heads = [_("time"), _("store"), _("group"), _("kind"), _("text"), _("attachments")]
    for d, msgs in by_day.items():
        rows = [[f"{m.scheduled_at:%H:%M}", m.group.store or "", m.group.name, m.kind, m.text,
                 attachment_summary(m.attachments)] for m in msgs]
        console.print(rows_table(heads, rows, title=day_title(d), drop=(heads[5], heads[1]), lines=True))


# ----------------------------------------------------------------------------- SOP lists


def sop_records(report: SopReport) -> list[dict[str, Any]]:
    return [{
        "scheduled_at": i.scheduled_at.isoformat(),
        "playbook": i.playbook,
        "step": i.step_id,
        "day": i.day,
        "kind": i.kind,
        "channel": i.channel,
        "member_id": i.member_id,
        "member": i.member_name,
        "guide": i.guide_userid or "",
        "store": i.store or "",
        "text": i.text,
        "attachments": list(i.attachments),
        "key": i.key,
    } for i in report.items]


def sop_text(report: SopReport, fmt: str) -> str | None:
    if fmt == "json":
        doc = report.to_dict()
        doc["items"] = sop_records(report)
        return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        from siyu_cli.output import rows_to_csv

        rows = [[r[c] if c != "attachments" else attachment_summary(tuple(r[c])) for c in SOP_COLUMNS]
                for r in sop_records(report)]
        return rows_to_csv(SOP_COLUMNS, rows)
    if fmt == "md":
        lines = [f"# SOP {cn_date(report.date)}", "",
                 f"应触达 {len(report.items)} 人；排除：" + "，".join(f"{_EXCL_CN[k]} {v}" for k, v in report.excluded.items()),
                 *(f"> {n}" for n in report.notes),
                 "", "| 时间 | 方案 | 步骤 | 会员 | 导购 | 内容 |", "|---|---|---|---|---|---|"]
        for i in report.items:
            lines.append(f"| {i.scheduled_at:%H:%M} | {_md_cell(i.playbook)} | {_md_cell(i.step_id)}（第{i.day}天） | "
                         f"{_md_cell(i.member_name)} ({_md_cell(i.member_id)}) | {_md_cell(i.guide_userid or '')} | "
                         f"{_md_cell(i.text)} |")
        return "\n".join(lines) + "\n"
    return None


_EXCL_CN = {"opted_out": "已退订", "missing": "会员不存在", "unreachable": "无法触达", "condition": "不满足条件"}


#: why a member due for an SOP step gets no message (plan/sop.py EXCLUSIONS), as people read it
EXCLUSION_LABELS = {"opted_out": N_("opted out"), "missing": N_("member not found"), "unreachable": N_("unreachable"),
                    "condition": N_("condition not met")}


def exclusion_line(report: SopReport) -> str:
    """The SOP run's exclusions in words (the reason ids stay in ``report.excluded`` and its JSON)."""
    from siyu_cli.i18n import _

    line = _("excluded: {counts}").format(counts=", ".join(
        f"{_(EXCLUSION_LABELS[k]) if k in EXCLUSION_LABELS else k} {v}" for k, v in report.excluded.items()))
    return "\n".join([line, *(_("note: {note}").format(note=n) for n in report.notes)])


def print_sop_table(report: SopReport) -> None:
    """Today's SOP touches in a table that fits the terminal (output.rows_table)."""
    from siyu_cli.i18n import _
    from siyu_cli.output import rows_table, stdout_console

    heads = [_("time"), _("playbook"), _("step"), _("channel"), _("member"), _("guide"), _("text")]
    rows = [[f"{i.scheduled_at:%H:%M}", i.playbook, _("{step} (day {day})").format(step=i.step_id, day=i.day), i.channel,
             f"{i.member_name} ({i.member_id})", i.guide_userid or "", i.text] for i in report.items]
    title = _("SOP {date} · {count} due").format(date=day_title(report.date), count=len(report.items))
    stdout_console().print(rows_table(heads, rows, title=title, drop=(heads[3], heads[5]), lines=True))
