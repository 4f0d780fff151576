"""Lifecycle SOP lists and the due_messages hand-off to push."""

from __future__ import annotations

import pytest

import json
import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from siyu_cli.plan import DueMessage, due_messages, load_playbook, sop_due
from siyu_cli.store import open_store

SH = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc
EXAMPLES = Path(__file__).resolve().parents[2] / "playbooks"

SOP = """\
version: 1
name: t-sop
title: 测试SOP
variables:
  coupon: 满99减20
sop:
  channel: customer
  time: "10:30"
  audience: all
  steps:
    - id: d0-welcome
      day: 0
      kind: 欢迎
      template: "{{ member.display_name }}你好，我是{{ guide }}（{{ store }}）"
    - id: d3-care
      day: 3
      template: "第{{ day }}天 {{ member.join_date | cn_date }}"
    - id: d15-coupon
      day: 15
      time: "19:00"
      condition: not_purchased_since_join
      template: "送你{{ coupon }}"
"""


def sh(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def write_sop(tmp_path: Path, text: str = SOP) -> Path:
    p = tmp_path / "t-sop.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def seed(settings):
    """Members around 2026-11-24 (Shanghai): who is due what, and who is excluded, by hand."""
    members = [
        # member_id, name, nickname, external_userid, guide, store, join_at, phone
        ("M1", "王一", "一一", "wmA1", "g_li", "国贸店", sh(2026, 11, 24, 9, 0), None),  # d0 due
        ("M2", "王二", None, "wmA2", "g_li", "国贸店", datetime(2026, 11, 20, 17, 0, tzinfo=UTC), None),  # 11-21 local: d3
        ("M3", "王三", None, "wmA3", "g_wu", "望京店", sh(2026, 11, 9, 12, 0), None),  # d15, never bought: due
        ("M4", "王四", None, "wmA4", "g_wu", "望京店", sh(2026, 11, 9, 12, 0), None),  # d15, bought after join
        ("M5", "王五", None, "wmA5", "g_li", "国贸店", sh(2026, 11, 24, 8, 0), None),  # d0, opted out (member id)
        ("M6", "王六", None, None, "g_li", "国贸店", sh(2026, 11, 24, 8, 0), None),  # d0, no WeCom contact
        ("M7", "王七", None, "wmA7", "g_li", "国贸店", sh(2026, 11, 24, 8, 0), None),  # d0, opted out (external id)
        ("M8", "王八", None, "wmA8", "g_li", "国贸店", sh(2026, 11, 24, 8, 0), "13800001111"),  # opted out of groups only
        ("M9", "王九", None, "wmA9", "g_li", "国贸店", sh(2026, 11, 23, 23, 59), None),  # 11-23 local: nothing due
        ("M10", "王十", None, "wmB0", "g_wu", "望京店", sh(2026, 11, 9, 12, 0), None),  # d15, bought before join only
    ]
    with open_store(settings) as con:
        con.executemany(
            "INSERT INTO members (member_id, name, nickname, external_userid, guide_userid, guide_name, store, join_at, phone) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(m[0], m[1], m[2], m[3], m[4], {"g_li": "李导购", "g_wu": "吴导购"}[m[4]], m[5], m[6], m[7]) for m in members],
        )
        con.executemany(
            "INSERT INTO orders (source, order_id, member_id, status, paid_at, paid_amount, net_amount) VALUES (?,?,?,?,?,?,?)",
            [("t", "o1", "M4", "paid", sh(2026, 11, 12, 10, 0), 100, 100),
             ("t", "o2", "M10", "paid", sh(2026, 10, 1, 10, 0), 50, 50),
             ("t", "o3", "M3", "refunded", sh(2026, 11, 12, 10, 0), 80, 0)],
        )
        con.executemany(
            "INSERT INTO optouts (member_id, channel, reason, source, created_at) VALUES (?, ?, 'asked', 'cli', now())",
            [("M5", "all"), ("wmA7", "customer"), ("13800001111", "group")],
        )


def test_sop_due_on_a_day_with_exclusions(tmp_path, settings):
    seed(settings)
    pb = load_playbook(write_sop(tmp_path))
    report = sop_due(settings, date(2026, 11, 24), [pb])
    got = [(i.step_id, i.member_id, i.scheduled_at.isoformat(), i.text) for i in report.items]
    assert got == [
        ("d0-welcome", "M1", "2026-11-24T10:30:00+08:00", "一一你好，我是李导购（国贸店）"),
        ("d0-welcome", "M8", "2026-11-24T10:30:00+08:00", "王八你好，我是李导购（国贸店）"),
        ("d3-care", "M2", "2026-11-24T10:30:00+08:00", "第3天 11月21日 周六"),
        ("d15-coupon", "M10", "2026-11-24T19:00:00+08:00", "送你满99减20"),
        ("d15-coupon", "M3", "2026-11-24T19:00:00+08:00", "送你满99减20"),
    ]
    assert report.excluded == {"opted_out": 2, "missing": 0, "unreachable": 1, "condition": 1}
    by_step = {s["step"]: s for s in report.steps}
    assert by_step["d0-welcome"]["due"] == 2 and by_step["d0-welcome"]["opted_out"] == 2
    assert by_step["d15-coupon"]["condition"] == 1
    assert report.items[0].key == "sop:t-sop:d0-welcome:M1" and report.items[0].guide_userid == "g_li"


def test_sop_audience_filter_and_app_channel(tmp_path, settings):
    seed(settings)
    text = SOP.replace("  channel: customer\n", "  channel: app\n").replace("  audience: all\n", "  audience: {stores: [望京店]}\n")
    pb = load_playbook(write_sop(tmp_path, text))
    report = sop_due(settings, date(2026, 11, 24), [pb])
    assert [(i.member_id, i.channel) for i in report.items] == [("M10", "app"), ("M3", "app")]


def test_group_join_anchor_counts_missing_members(tmp_path, settings):
    seed(settings)
    with open_store(settings) as con:
        con.executemany(
            "INSERT INTO group_members (group_id, external_userid, member_id, joined_at) VALUES (?, ?, ?, ?)",
            [("wrG1", "wmA1", "M1", sh(2026, 11, 21, 20, 0)),   # d3 from group join
             ("wrG2", "wmA1", "M1", sh(2026, 11, 22, 20, 0)),   # a later join of the same person: not an anchor
             ("wrG1", "wmZZ", None, sh(2026, 11, 21, 21, 0)),   # no member record: missing
             ("wrG1", "wmYY", "M404", sh(2026, 11, 21, 21, 0))],  # member deleted: missing
        )
    text = SOP.replace("sop:\n", "sop:\n  anchor: group_join\n")
    pb = load_playbook(write_sop(tmp_path, text))
    report = sop_due(settings, date(2026, 11, 24), [pb])
    assert [(i.step_id, i.member_id, i.text) for i in report.items] == [("d3-care", "M1", "第3天 11月21日 周六")]
    assert report.excluded["missing"] == 2


def test_cli_sop_formats_and_exclusion_counts(cli, settings, tmp_path):
    seed(settings)
    path = write_sop(tmp_path)
    res = cli("plan", "sop", "--date", "2026-11-24", "--playbook", path, "--format", "json")
    doc = json.loads(res.stdout)
    assert doc["due"] == 5 and doc["excluded"]["opted_out"] == 2
    assert [i["member_id"] for i in doc["items"]] == ["M1", "M8", "M2", "M10", "M3"]
    res = cli("plan", "sop", "--date", "2026-11-24", "--playbook", path)
    assert "一一你好" in res.stdout and "opted out 2" in res.stderr
    res = cli("plan", "sop", "--date", "2026-11-24", "--playbook", path, "--format", "csv")
    assert res.stdout.splitlines()[0].startswith("scheduled_at,playbook,step,day,kind,channel,member_id")
    cli("plan", "sop", "--date", "24/11/2026", "--playbook", path, expect=2)


def test_beauty_example_offsets(settings):
    seed(settings)
    pb = load_playbook(EXAMPLES / "beauty-sop.yaml")
    assert [s.day for s in pb.sop.steps] == [0, 3, 7, 15, 30, 60, 90, 150]
    report = sop_due(settings, date(2026, 11, 24), [pb])
    assert sorted((i.step_id, i.member_id) for i in report.items) == [
        ("d0-welcome", "M1"), ("d0-welcome", "M8"), ("d15-first-order", "M10"), ("d15-first-order", "M3"),
        ("d3-trial", "M2")]
    welcome = [i for i in report.items if i.member_id == "M1"][0]
    assert welcome.attachments[0] == {"msgtype": "image", "image": {"path": str(EXAMPLES / "images" / "beauty-welcome.png")}}
    assert welcome.attachments[1]["link"]["url"] == "https://example.com/hjj/skin-test"


# ----------------------------------------------------------------------------- due_messages


def _workspace_with(workspace: Path, tmp_path: Path) -> None:
    folder = workspace / "playbooks"
    for p in folder.glob("*.yaml"):
        p.unlink()
    shutil.copy(EXAMPLES / "coffee-week.yaml", folder / "coffee-week.yaml")
    shutil.copy(write_sop(tmp_path), folder / "t-sop.yaml")
    from siyu_cli.config import load_settings
    from siyu_cli.plan.enabled import set_enabled

    set_enabled(load_settings(workspace), ["coffee-week", "t-sop"], enable=True)


def test_due_messages_for_a_window(workspace, settings, tmp_path):
    seed(settings)
    _workspace_with(workspace, tmp_path)
    start, end = sh(2026, 11, 24, 0, 0), sh(2026, 11, 25, 0, 0)
    due = due_messages(settings, start, end)
    assert all(isinstance(d, DueMessage) for d in due)
    assert all(start <= d.scheduled_at < end and d.scheduled_at.tzinfo is not None for d in due)
    groups = [d for d in due if d.kind == "group_slot"]
    sops = [d for d in due if d.kind == "sop_step"]
    # coffee-week on Tuesday: one slot (12:00 干货) for its 3 fallback groups, staggered per store
    assert [(d.key, d.scheduled_at.strftime("%H:%M"), d.sender) for d in groups] == [
        ("plan:coffee-week:2026-W48:tue-1200:wrCoffeeGM01", "12:00", "zhangwei"),
        ("plan:coffee-week:2026-W48:tue-1200:wrCoffeeWJ01", "12:00", "liuyang"),
        ("plan:coffee-week:2026-W48:tue-1200:wrCoffeeGM02", "12:02", "zhangwei"),
    ]
    assert all(d.target_type == "group" and d.channel == "group" for d in groups)
    assert sorted(d.key for d in sops) == sorted([
        "sop:t-sop:d0-welcome:M1", "sop:t-sop:d0-welcome:M8", "sop:t-sop:d3-care:M2",
        "sop:t-sop:d15-coupon:M3", "sop:t-sop:d15-coupon:M10"])
    assert {d.target_id for d in sops}.isdisjoint({"M5", "M7"})  # opted out
    m1 = [d for d in sops if d.target_id == "M1"][0]
    assert (m1.target_type, m1.channel, m1.sender, m1.playbook) == ("member", "customer", "g_li", "t-sop")


def test_due_messages_windows_are_consistent(workspace, settings, tmp_path):
    seed(settings)
    _workspace_with(workspace, tmp_path)
    whole = due_messages(settings, sh(2026, 11, 24, 0, 0), sh(2026, 11, 25, 0, 0))
    morning = due_messages(settings, sh(2026, 11, 24, 0, 0), sh(2026, 11, 24, 12, 1))
    rest = due_messages(settings, sh(2026, 11, 24, 12, 1), sh(2026, 11, 25, 0, 0))
    assert [d.key for d in morning] + [d.key for d in rest] == [d.key for d in whole]
    assert [d.key for d in morning if d.kind == "group_slot"] == [
        "plan:coffee-week:2026-W48:tue-1200:wrCoffeeGM01", "plan:coffee-week:2026-W48:tue-1200:wrCoffeeWJ01"]
    # a window given in UTC means the same instants
    utc = due_messages(settings, sh(2026, 11, 24, 0, 0).astimezone(UTC), sh(2026, 11, 25, 0, 0).astimezone(UTC))
    assert [d.key for d in utc] == [d.key for d in whole]
    # Sunday night into Monday morning crosses the ISO week boundary
    cross = due_messages(settings, sh(2026, 11, 29, 21, 0), sh(2026, 11, 30, 9, 0),
                         playbooks=[workspace / "playbooks" / "coffee-week.yaml"])
    assert [d.key.split(":")[2:4] for d in cross] == [["2026-W48", "sun-night"]] * 3 + [["2026-W49", "mon-morning"]] * 3


def test_due_messages_rejects_naive_datetimes(settings):
    import pytest

    from siyu_cli.errors import UsageError

    with pytest.raises(UsageError):
        due_messages(settings, datetime(2026, 11, 24), datetime(2026, 11, 25))


def test_sop_in_a_dst_zone_uses_the_local_join_day(tmp_path, settings):
    with open_store(settings) as con:
        # 2026-03-28 23:30 UTC is already 2026-03-29 00:30 in Berlin (the night clocks spring forward)
        con.execute("INSERT INTO members (member_id, name, external_userid, guide_userid, join_at) "
                    "VALUES ('B1', 'Anna', 'wmB1', 'g1', ?)", [datetime(2026, 3, 28, 23, 30, tzinfo=UTC)])
    pb = load_playbook(write_sop(tmp_path, SOP.replace("title: 测试SOP\n", "title: 测试SOP\ntimezone: Europe/Berlin\n")))
    assert sop_due(settings, date(2026, 3, 28), [pb]).items == []
    (item,) = sop_due(settings, date(2026, 3, 29), [pb]).items
    assert item.step_id == "d0-welcome"
    assert item.scheduled_at.astimezone(UTC) == datetime(2026, 3, 29, 8, 30, tzinfo=UTC)  # 10:30 CEST
    (later,) = sop_due(settings, date(2026, 4, 1), [pb]).items
    assert later.step_id == "d3-care" and later.text == "第3天 3月29日 周日"


def test_cli_sop_defaults_to_enabled_workspace_playbooks(cli, settings):
    seed(settings)
    # a fresh workspace: the example playbooks are there but inactive, so there is no default SOP
    res = cli("plan", "sop", "--date", "2026-11-24", "--format", "json", expect=2)
    assert "no enabled playbook" in res.stderr and "siyu plan enable" in res.stderr
    cli("plan", "enable", "beauty-sop")
    res = cli("plan", "sop", "--date", "2026-11-24", "--format", "json")
    doc = json.loads(res.stdout)
    assert sorted({i["playbook"] for i in doc["items"]}) == ["beauty-sop"]
    assert doc["due"] == 5 and doc["excluded"] == {"opted_out": 2, "missing": 0, "unreachable": 1, "condition": 1}


@pytest.mark.zh
def test_exclusions_read_as_words_in_the_operators_language(cli, settings, tmp_path):
    seed(settings)
    res = cli("plan", "sop", "--date", "2026-11-24", "--playbook", write_sop(tmp_path))
    assert "已退订 2" in res.stderr and "opted_out" not in res.stderr
