"""Week rendering: time zones, DST, stagger, rules, targets, formats, determinism, example playbooks."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from siyu_cli.plan.export import week_to_csv, week_to_ics, week_to_json, week_to_markdown
from siyu_cli.plan.render import Target, render_week, resolve_targets, week_info
from siyu_cli.plan.schema import check_playbook, load_playbook, parse_playbook
from siyu_cli.plan.templates import cn_date, money
from siyu_cli.store import open_store

UTC = timezone.utc
EXAMPLES = Path(__file__).resolve().parents[2] / "playbooks"


def playbook(tmp_path: Path, slots: str, *, tz: str = "Asia/Shanghai", rules: str = "", targets: str = "  all: true\n",
             name: str = "pb.yaml"):
    rules = rules or "  stagger_minutes: 0\n"
    text = (
        f"version: 1\nname: t-week\ntitle: 测试\ntimezone: {tz}\ntargets:\n{targets}"
        f"variables:\n  product: 拿铁\n  price: 12.5\n"
        f"rules:\n{rules}week:\n{slots}"
    )
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def slot(weekday: str, at: str, template: str = "{{ group.name }} {{ date | cn_date }}", kind: str = "早安",
         sid: str | None = None) -> str:
    head = f"  - id: {sid}\n    weekday: {weekday}\n" if sid else f"  - weekday: {weekday}\n"
    return head + f'    time: "{at}"\n    kind: {kind}\n    template: "{template}"\n'


def groups(*spec) -> list[Target]:
    return [Target(gid, f"群{gid}", store=store, owner=f"owner-{gid}") for gid, store in spec]


def test_filters():
    assert cn_date(date(2026, 11, 24)) == "11月24日 周二"
    assert cn_date(datetime(2026, 11, 23, 8, 0)) == "11月23日 周一"
    assert money(12.5) == "¥12.50" and money("1299") == "¥1,299.00" and money(0.005) == "¥0.01"
    assert money(-3) == "-¥3.00"


def test_shanghai_week_times_and_context(tmp_path):
    pb = load_playbook(playbook(tmp_path, slot("周一", "08:30") + slot("周日", "20:00", "{{ week }} {{ store }} "
                                                                       "{{ price | money }}", kind="晚安")))
    plan = render_week(pb, groups(("g1", "国贸店")), "2026-W48")
    a, b = plan.messages
    assert a.scheduled_at.isoformat() == "2026-11-23T08:30:00+08:00"
    assert a.scheduled_at.astimezone(UTC) == datetime(2026, 11, 23, 0, 30, tzinfo=UTC)
    assert a.text == "群g1 11月23日 周一"
    assert b.scheduled_at.isoformat() == "2026-11-29T20:00:00+08:00"
    assert b.text == "2026-W48 国贸店 ¥12.50"
    assert b.kind_id == "good_night" and a.kind_id == "morning"
    assert a.key == "plan:t-week:2026-W48:mon-0830:g1"


def test_week_boundaries_across_the_year(tmp_path):
    pb = load_playbook(playbook(tmp_path, slot("mon", "09:00") + slot("sun", "09:00")))
    w1 = render_week(pb, groups(("g1", "s")), "2026-W01")
    assert [m.scheduled_at.date() for m in w1.messages] == [date(2025, 12, 29), date(2026, 1, 4)]
    w53 = render_week(pb, groups(("g1", "s")), "2026-W53")
    assert [m.scheduled_at.date() for m in w53.messages] == [date(2026, 12, 28), date(2027, 1, 3)]
    assert w53.messages[1].text == "群g1 1月3日 周日"
    # a date selects its ISO week; a Sunday belongs to the week that started the Monday before
    assert week_info("2026-11-29", "Asia/Shanghai").id == "2026-W48"
    assert week_info("2026-11-30", "Asia/Shanghai").id == "2026-W49"
    assert week_info(date(2027, 1, 1), "Asia/Shanghai").id == "2026-W53"


def test_shanghai_has_no_dst(tmp_path):
    pb = load_playbook(playbook(tmp_path, slot("sun", "02:30")))
    for wk in ("2026-W13", "2026-W43", "2026-W27"):
        (m,) = render_week(pb, groups(("g1", "s")), wk).messages
        assert m.scheduled_at.utcoffset() == timedelta(hours=8)
        assert (m.scheduled_at.hour, m.scheduled_at.minute) == (2, 30)


def test_berlin_across_the_spring_switch(tmp_path):
    # 2026-03-29 (Sunday of 2026-W13): 02:00 CET -> 03:00 CEST
    pb = load_playbook(playbook(tmp_path, slot("mon", "09:00") + slot("sun", "02:30") + slot("sun", "09:00"),
                                tz="Europe/Berlin"))
    mon, gap, sun = render_week(pb, groups(("g1", "s")), "2026-W13").messages
    assert mon.scheduled_at.astimezone(UTC) == datetime(2026, 3, 23, 8, 0, tzinfo=UTC)  # +01:00
    assert sun.scheduled_at.astimezone(UTC) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # +02:00
    # 02:30 does not exist that night: it moves forward by the gap to 03:30 CEST
    assert gap.scheduled_at.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert gap.scheduled_at.isoformat() == "2026-03-29T03:30:00+02:00"


def test_berlin_across_the_autumn_switch(tmp_path):
    # 2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 happens twice, the first one is used
    pb = load_playbook(playbook(tmp_path, slot("sat", "09:00") + slot("sun", "02:30") + slot("sun", "09:00"),
                                tz="Europe/Berlin"))
    sat, amb, sun = render_week(pb, groups(("g1", "s")), "2026-W43").messages
    assert sat.scheduled_at.astimezone(UTC) == datetime(2026, 10, 24, 7, 0, tzinfo=UTC)
    assert amb.scheduled_at.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert sun.scheduled_at.astimezone(UTC) == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)


def test_stagger_per_store_in_absolute_time_across_dst(tmp_path):
    pb = load_playbook(playbook(tmp_path, slot("sun", "01:58"), tz="Europe/Berlin",
                                rules="  stagger_minutes: 2\n"))
    plan = render_week(pb, groups(("a1", "A"), ("a2", "A"), ("b1", "B")), "2026-W13")
    at = {m.group.group_id: m.scheduled_at for m in plan.messages}
    assert at["a1"].isoformat() == "2026-03-29T01:58:00+01:00"
    assert at["b1"].isoformat() == "2026-03-29T01:58:00+01:00"  # first group of its own store
    # two minutes later in real time is 03:00 CEST, not 02:00
    assert at["a2"].isoformat() == "2026-03-29T03:00:00+02:00"
    # (aware datetimes in one zone subtract as wall-clock times in Python; compare instants in UTC)
    assert at["a2"].astimezone(UTC) - at["a1"].astimezone(UTC) == timedelta(minutes=2)


def test_stagger_many_groups_of_one_store(tmp_path):
    pb = load_playbook(playbook(tmp_path, slot("wed", "10:00"), rules="  stagger_minutes: 3\n"))
    gs = groups(*[(f"g{i:02d}", "S") for i in range(40)])
    plan = render_week(pb, list(reversed(gs)), "2026-W48")
    times = [m.scheduled_at for m in plan.messages]
    assert len(set(times)) == 40
    assert times[0].isoformat() == "2026-11-25T10:00:00+08:00"
    assert times[-1].isoformat() == "2026-11-25T11:57:00+08:00"  # 39 * 3 minutes later
    assert [m.group.group_id for m in plan.messages] == [f"g{i:02d}" for i in range(40)]


def test_quiet_hours_skip_staggered_posts(tmp_path):
    pb = load_playbook(playbook(tmp_path, slot("fri", "21:56", kind="晚安"),
                                rules='  stagger_minutes: 2\n  quiet_hours: "22:00-08:00"\n'))
    plan = render_week(pb, groups(("g1", "S"), ("g2", "S"), ("g3", "S")), "2026-W48")
    assert [f"{m.scheduled_at:%H:%M}" for m in plan.messages] == ["21:56", "21:58"]
    assert plan.skipped == [{"group_id": "g3", "slot_id": "fri-2156", "reason": "quiet_hours",
                             "at": "2026-11-27T22:00:00+08:00"}]


def test_daily_limit_enforced_at_render(tmp_path):
    path = playbook(tmp_path, slot("mon", "08:00") + slot("mon", "12:00") + slot("mon", "18:00") + slot("tue", "08:00"),
                    rules="  daily_limit: 2\n")
    assert any("daily_limit is 2" in p.message for p in check_playbook(path))
    pb, _ = parse_playbook(path)
    plan = render_week(pb, groups(("g1", "S"), ("g2", "S")), "2026-W48")
    per_group = {g: [f"{m.scheduled_at:%a %H:%M}" for m in plan.messages if m.group.group_id == g] for g in ("g1", "g2")}
    assert per_group["g1"] == ["Mon 08:00", "Mon 12:00", "Tue 08:00"]
    assert per_group["g2"] == ["Mon 08:00", "Mon 12:00", "Tue 08:00"]
    assert sorted((s["group_id"], s["slot_id"], s["reason"]) for s in plan.skipped) == [
        ("g1", "mon-1800", "daily_limit"), ("g2", "mon-1800", "daily_limit")]


def test_skip_weeks_and_dates(tmp_path):
    pb = load_playbook(playbook(tmp_path, slot("daily", "09:00"),
                                rules="  skip_weeks: [2026-W40]\n  skip_dates: [2026-11-25]\n"))
    assert render_week(pb, groups(("g1", "S")), "2026-W40").skipped_week is True
    assert render_week(pb, groups(("g1", "S")), "2026-W40").messages == []
    plan = render_week(pb, groups(("g1", "S")), "2026-W48")
    assert [m.scheduled_at.day for m in plan.messages] == [23, 24, 26, 27, 28, 29]
    assert [s["reason"] for s in plan.skipped] == ["skip_date"]


def test_variables_override(tmp_path):
    pb = load_playbook(playbook(tmp_path, slot("mon", "09:00", "{{ product }} {{ price | money }}")))
    (m,) = render_week(pb, groups(("g1", "S")), "2026-W48", variables={"price": "9.9"}).messages
    assert m.text == "拿铁 ¥9.90"


# ----------------------------------------------------------------------------- targets


def _insert_groups(settings):
    rows = [
        ("wrA1", "国贸1群", "u1", "国贸店", ["咖啡群"]),
        ("wrA2", "国贸2群", "u1", "国贸店", ["咖啡群", "VIP"]),
        ("wrB1", "望京群", "u2", "望京店", ["咖啡群"]),
        ("wrC1", "茶饮群", "u3", "望京店", ["茶饮群"]),
    ]
    with open_store(settings) as con:
        con.executemany("INSERT INTO groups (group_id, name, owner_userid, store, tags) VALUES (?, ?, ?, ?, ?)", rows)


def test_targets_resolved_against_store_groups(tmp_path, settings):
    from siyu_cli.plan.render import store_groups

    _insert_groups(settings)
    stored = store_groups(settings)

    def ids(targets: str, only=None):
        pb = load_playbook(playbook(tmp_path, slot("mon", "09:00"), targets=targets))
        return [g.group_id for g in resolve_targets(pb, stored, only=only)]

    assert ids("  all: true\n") == ["wrA1", "wrA2", "wrB1", "wrC1"]
    assert ids("  tags: [咖啡群]\n") == ["wrA1", "wrA2", "wrB1"]
    assert ids("  stores: [望京店]\n") == ["wrB1", "wrC1"]
    assert ids("  tags: [咖啡群]\n  stores: [望京店]\n") == ["wrB1"]
    assert ids("  groups: [wrC1, 国贸1群]\n") == ["wrA1", "wrC1"]
    assert ids("  tags: [VIP]\n  groups: [wrC1]\n") == ["wrA2", "wrC1"]
    assert ids("  all: true\n", only=["望京群"]) == ["wrB1"]
    # the fallback list is ignored while the store has groups
    fb = "  all: true\n  fallback:\n    - {id: fb1, name: 样例群}\n"
    assert ids(fb) == ["wrA1", "wrA2", "wrB1", "wrC1"]
    pb = load_playbook(playbook(tmp_path, slot("mon", "09:00"), targets=fb))
    assert [g.group_id for g in resolve_targets(pb, [])] == ["fb1"]


def test_cli_week_uses_store_groups_and_group_option(cli, workspace, settings, tmp_path):
    _insert_groups(settings)
    path = playbook(tmp_path, slot("mon", "09:00", "{{ group.name }}@{{ store }}"), targets="  tags: [咖啡群]\n")
    res = cli("plan", "week", path, "--week", "2026-W48", "--format", "json")
    doc = json.loads(res.stdout)
    assert [(m["group_id"], m["owner"], m["text"]) for m in doc["messages"]] == [
        ("wrA1", "u1", "国贸1群@国贸店"), ("wrA2", "u1", "国贸2群@国贸店"), ("wrB1", "u2", "望京群@望京店")]
    res = cli("plan", "week", path, "--week", "2026-W48", "--group", "wrB1", "--format", "csv")
    assert res.stdout.splitlines()[1].startswith("2026-11-23T09:00:00+08:00,2026-11-23,周一,09:00,望京店,wrB1,")
    res = cli("plan", "week", path, "--week", "2026-W48", "--group", "nope", expect=2)
    assert "nope" in res.stderr
    res = cli("plan", "week", path, "--var", "prodct=1", expect=2)
    assert "did you mean `product`" in res.stderr


def test_cli_week_refuses_invalid_playbook(cli, workspace, tmp_path):
    path = playbook(tmp_path, slot("mon", "09:00", "{{ nobody }}"))
    res = cli("plan", "week", path, "--week", "2026-W48", expect=65)
    assert f"{path}:" in res.stderr and "nobody" in res.stderr


# ----------------------------------------------------------------------------- formats


def _rich_plan(tmp_path):
    img = tmp_path / "p.png"
    img.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(16))
    long_text = "，".join(["这是一段很长的中文内容用来测试折行"] * 6) + "; a,b\\\\c"
    slots = slot("mon", "09:00", "{{ group.name }}\\n第二行", sid="m1") + slot("wed", "12:00", long_text, kind="干货")
    slots += "    attachments:\n      - image: p.png\n      - link: {title: 菜单, url: 'https://x.example/m?a=1,2'}\n"
    pb = load_playbook(playbook(tmp_path, slots, rules="  stagger_minutes: 5\n"))
    return render_week(pb, groups(("g1", "S"), ("g2", "S"), ("g3", "T")), "2026-W48")


def test_ics_parses_back_with_icalendar(tmp_path):
    from icalendar import Calendar

    plan = _rich_plan(tmp_path)
    raw = week_to_ics(plan)
    assert all(len(line.encode("utf-8")) <= 75 for line in raw.split("\r\n"))
    assert raw.endswith("END:VCALENDAR\r\n") and "\r\n" in raw
    cal = Calendar.from_ical(raw)
    events = [c for c in cal.walk("VEVENT")]
    assert len(events) == len(plan.messages) == 6
    for ev, m in zip(events, plan.messages):
        assert ev.decoded("DTSTART") == m.scheduled_at
        assert str(ev["UID"]) == m.uid
        assert str(ev["SUMMARY"]) == f"【{m.kind}】{m.group.name}"
        assert str(ev["DESCRIPTION"]).startswith(m.text)
    assert len({str(e["UID"]) for e in events}) == 6
    wed = [e for e in events if "干货" in str(e["SUMMARY"])][0]
    assert str(wed["DESCRIPTION"]).endswith("附件：图片:p.png; 链接:菜单")
    assert "; a,b\\c" in str(wed["DESCRIPTION"])


def test_ics_uids_stable_across_renders_and_variables(tmp_path):
    a = _rich_plan(tmp_path)
    b = _rich_plan(tmp_path)
    assert [m.uid for m in a.messages] == [m.uid for m in b.messages]
    assert a.messages[0].uid != a.messages[1].uid


@pytest.mark.parametrize("writer", [week_to_ics, week_to_json, week_to_csv, week_to_markdown])
def test_byte_identical_rerenders(tmp_path, writer):
    first = writer(_rich_plan(tmp_path)).encode("utf-8")
    second = writer(_rich_plan(tmp_path)).encode("utf-8")
    assert first == second


def test_cli_output_files_byte_identical(cli, workspace, tmp_path):
    path = EXAMPLES / "coffee-week.yaml"
    for fmt in ("ics", "json", "md", "csv"):
        out1, out2 = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
        cli("plan", "week", path, "--week", "2026-W48", "--format", fmt, "--output", out1)
        cli("plan", "week", path, "--week", "2026-W48", "--format", fmt, "--output", out2)
        assert out1.read_bytes() == out2.read_bytes() and out1.stat().st_size > 0


def test_markdown_and_table_output(cli, workspace, tmp_path):
    plan = _rich_plan(tmp_path)
    md = week_to_markdown(plan)
    assert "## 11月23日 周一" in md and "## 11月25日 周三" in md
    assert "| 09:00 | S | 群g1 | 早安 | 群g1<br>第二行 |" in md
    res = cli("plan", "week", EXAMPLES / "coffee-week.yaml", "--week", "2026-W48")
    assert "Mon 2026-11-23" in res.stdout and "国贸店福利1群" in res.stdout


# ----------------------------------------------------------------------------- example playbooks


EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


def test_there_are_four_examples_and_init_copies_them(workspace):
    assert [p.name for p in EXAMPLE_FILES] == ["beauty-sop.yaml", "coffee-week.yaml", "edu-groups.yaml",
                                               "fresh-daily.yaml"]
    copied = sorted(p.name for p in (workspace / "playbooks").glob("*.yaml"))
    assert copied == [p.name for p in EXAMPLE_FILES]
    assert (workspace / "playbooks" / "images" / "new-latte.png").is_file()
    assert (workspace / "playbooks" / "templates" / "coffee-tips.j2").is_file()


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_playbook_checks_clean_and_renders(cli, workspace, path):
    cli("plan", "check", path)
    pb = load_playbook(path)
    if pb.slots:
        res = cli("plan", "week", path, "--week", "2026-W48", "--format", "json")
        doc = json.loads(res.stdout)
        assert doc["messages"], "an example week renders messages"
        for m in doc["messages"]:
            assert "{{" not in m["text"] and m["text"].strip()
            at = datetime.fromisoformat(m["scheduled_at"])
            assert at.utcoffset() == timedelta(hours=8)
            assert not pb.rules.in_quiet_hours(at.time())
        per_day: dict = {}
        for m in doc["messages"]:
            per_day[(m["group_id"], m["date"])] = per_day.get((m["group_id"], m["date"]), 0) + 1
        assert max(per_day.values()) <= pb.rules.daily_limit
    if pb.sop:
        cli("plan", "sop", "--date", "2026-11-24", "--playbook", path, "--format", "json")


def test_coffee_example_week_content(cli, workspace):
    res = cli("plan", "week", EXAMPLES / "coffee-week.yaml", "--week", "2026-W48", "--format", "json")
    doc = json.loads(res.stdout)
    assert doc["groups"] == 3 and len(doc["messages"]) == 3 * 8
    wed = [m for m in doc["messages"] if m["slot"] == "wed-new" and m["group_id"] == "wrCoffeeGM02"][0]
    assert wed["scheduled_at"] == "2026-11-25T14:02:00+08:00"  # second group of 国贸店: +2 minutes
    assert "尝鲜价 ¥15.90" in wed["text"] and "11月25日 周三" in wed["text"]
    mp = wed["attachments"][1]["miniprogram"]
    assert mp["title"] == "生椰丝绒拿铁 立即点单" and mp["pic_path"].endswith("images/new-latte.png")
    res = cli("plan", "week", EXAMPLES / "coffee-week.yaml", "--week", "2026-W40", "--format", "json")
    assert json.loads(res.stdout)["skipped_week"] is True


def test_table_output_keeps_brackets_literal(cli, workspace, tmp_path):
    path = playbook(tmp_path, slot("mon", "09:00", "[bold]限时[/bold] {{ group.name }}"),
                    targets="  all: true\n  fallback:\n    - {id: g1, name: 群一}\n")
    res = cli("plan", "week", path, "--week", "2026-W48", "--format", "table")
    assert "[bold]限时[/bold]" in res.stdout


def test_week_preview_without_a_workspace(cli, tmp_path):
    res = cli("plan", "week", EXAMPLES / "fresh-daily.yaml", "--week", "2026-W48", "--format", "json")
    doc = json.loads(res.stdout)
    assert doc["groups"] == 4 and "fallback" in res.stderr
    # every day: morning, noon, evening (weekday 17:30 / weekend 16:30), presale = 4 per group per day
    assert len(doc["messages"]) == 4 * 7 * 4
    cy3 = [m["scheduled_at"] for m in doc["messages"] if m["group_id"] == "wrFreshCY03" and m["slot"] == "morning-mon"]
    assert cy3[0] == "2026-11-23T07:32:00+08:00"  # third group of 翠苑店, stagger 1 minute


def test_check_accepts_a_folder(cli):
    res = cli("plan", "check", EXAMPLES)
    assert "4 playbook(s): 0 error(s)" in res.stderr
