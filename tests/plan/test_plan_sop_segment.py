"""SOP anchor ``segment_entered``: lifecycle steps triggered by a member moving into RFM segments.

Snapshots come from the real ``run_segment`` (rfm8, fixed splits R ≤ 90 days, F ≥ 2 orders,
M ≥ 500) on hand-built orders. Shanghai local dates; S1 as_of 2026-06-30, S2 as_of 2026-09-30.

member  orders (local date, net)             S1: R  F  M   seg    S2: R  F  M   seg   enters E/G on 09-30?
mA      06-20 300, 06-25 400                     5  2 700  A         97  2 700  E     yes (A→E)
mA2     as mA, plus 10-03 200 (after S2)         5  2 700  A         97  2 700  E     yes; bought since → no d7
mE      01-10 500, 02-01 600                   149  2 1100 E        241  2 1100 E     no (already in E)
mC      06-01 900                               29  1 900  C        121  1 900  G     yes (C→G)
mB      06-20 100, 06-25 100                     5  2 200  B         97  2 200  F     no (F is not listed)
mNew    03-01 300, 04-01 300 (member created    —  (absent)         182  2 600  E     yes (not in S1 at all)
        after S1 was computed)
mGone   01-10 500, 02-01 600 (deleted from       149 2 1100 E        —  (absent)       no (only in S1)
        members and orders before S2)

2026-09-30 is a Wednesday (周三); day 7 is 2026-10-07.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from segment_fixtures import add_members, add_order, local
from siyu_cli.plan import due_messages, load_playbook, sop_due
from siyu_cli.plan.schema import check_playbook
from siyu_cli.segment import run_segment
from siyu_cli.store import open_store

SH = ZoneInfo("Asia/Shanghai")
FIXED = {"r_split": "90", "f_split": "2", "m_split": "500"}
S1, S2 = "2026-06-30", "2026-09-30"
D0, D7 = date(2026, 9, 30), date(2026, 10, 7)

SOP = """\
version: 1
name: churn
title: 流失挽回
sop:
  anchor: segment_entered
  segments: [E, 重要挽留客户]
  channel: customer
  time: "10:00"
  steps:
    - id: d0-guide-call
      day: 0
      kind: 召回
      template: "{{ member.display_name }}，好久不见（{{ member.join_date | cn_date }}）"
    - id: d7-offer
      day: 7
      kind: 召回
      condition: not_purchased_since_join
      template: "第{{ day }}天 专属券"
"""


def write(tmp_path: Path, text: str = SOP, name: str = "churn.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def build_s1(settings) -> None:
    with open_store(settings) as con:
        add_members(con, "mA", "mA2", store="徐汇店", external_userid=None)
        add_members(con, "mE", "mC", "mB", "mGone", store="静安店")
        con.execute("UPDATE members SET external_userid = 'wm_' || member_id, guide_userid = 'g1', "
                    "name = '会员' || member_id")
        con.execute("UPDATE members SET nickname = '阿A' WHERE member_id = 'mA'")
        for m in ("mA", "mA2"):
            add_order(con, m, local("2026-06-20"), 300)
            add_order(con, m, local("2026-06-25"), 400)
        for m in ("mE", "mGone"):
            add_order(con, m, local("2026-01-10"), 500)
            add_order(con, m, local("2026-02-01"), 600)
        add_order(con, "mC", local("2026-06-01"), 900)
        add_order(con, "mB", local("2026-06-20"), 100)
        add_order(con, "mB", local("2026-06-25"), 100)
    run_segment(settings, scheme="rfm8", as_of=S1, **FIXED)


def build_s2(settings) -> None:
    with open_store(settings) as con:
        con.execute("DELETE FROM orders WHERE member_id = 'mGone'")
        con.execute("DELETE FROM members WHERE member_id = 'mGone'")
        add_members(con, "mNew", store="徐汇店", external_userid="wm_mNew", guide_userid="g1", name="新会员")
        add_order(con, "mNew", local("2026-03-01"), 300)
        add_order(con, "mNew", local("2026-04-01"), 300)
    run_segment(settings, scheme="rfm8", as_of=S2, **FIXED)
    with open_store(settings) as con:
        add_order(con, "mA2", local("2026-10-03"), 200)  # bought after slipping: no day-7 offer


@pytest.fixture
def two(settings):
    build_s1(settings)
    build_s2(settings)
    return settings


def segments_of(settings, as_of: str) -> dict[str, str]:
    with open_store(settings, read_only=True) as con:
        return dict(con.execute(
            "SELECT member_id, segment_id FROM segment_members JOIN segment_snapshots USING (snapshot_id) "
            "WHERE as_of = ?", [as_of]).fetchall())


def test_fixture_segments_are_as_computed_by_hand(two):
    assert segments_of(two, S1) == {"mA": "A", "mA2": "A", "mE": "E", "mC": "C", "mB": "B", "mGone": "E"}
    assert segments_of(two, S2) == {"mA": "E", "mA2": "E", "mE": "E", "mC": "G", "mB": "F", "mNew": "E"}


def test_entering_members_are_due_on_day_0_and_day_7(two, tmp_path):
    pb = load_playbook(write(tmp_path))
    assert pb.sop.segments == ("E", "G") and pb.sop.scheme == "rfm8"
    day0 = sop_due(two, D0, [pb])
    assert [(i.step_id, i.member_id, i.text) for i in day0.items] == [
        ("d0-guide-call", "mA", "阿A，好久不见（9月30日 周三）"),
        ("d0-guide-call", "mA2", "会员mA2，好久不见（9月30日 周三）"),
        ("d0-guide-call", "mC", "会员mC，好久不见（9月30日 周三）"),
        ("d0-guide-call", "mNew", "新会员，好久不见（9月30日 周三）"),
    ]
    first = day0.items[0]
    assert first.scheduled_at == datetime(2026, 9, 30, 10, 0, tzinfo=SH)
    assert first.joined_at == datetime(2026, 9, 30, 0, 0, tzinfo=SH)
    assert first.key == "sop:churn:d0-guide-call:mA:2026-09-30"
    assert day0.excluded == {"opted_out": 0, "missing": 0, "unreachable": 0, "condition": 0}
    assert day0.notes == []

    day7 = sop_due(two, D7, [pb])
    # mA2 paid on 10-03, after the start of 09-30: the not_purchased_since_join offer is skipped
    assert [(i.step_id, i.member_id, i.text) for i in day7.items] == [
        ("d7-offer", "mA", "第7天 专属券"), ("d7-offer", "mC", "第7天 专属券"), ("d7-offer", "mNew", "第7天 专属券")]
    assert day7.excluded["condition"] == 1
    # nothing on the days in between, nor on the day of the first snapshot or a week after it
    for d in (date(2026, 10, 1), date(2026, 10, 6), date(2026, 10, 8), date(2026, 6, 30), date(2026, 7, 7)):
        assert sop_due(two, d, [pb]).items == [], d


def test_purchase_on_the_entry_day_counts_as_since(two, tmp_path):
    with open_store(two) as con:
        add_order(con, "mA", local("2026-09-30", "00:30:00"), 50)  # just after the start of day 0 (Shanghai)
        add_order(con, "mC", local("2026-09-29", "23:30:00"), 50)  # just before it
    pb = load_playbook(write(tmp_path))
    assert [i.member_id for i in sop_due(two, D7, [pb]).items] == ["mC", "mNew"]


def test_first_snapshot_has_no_entries_and_says_why(settings, tmp_path, cli):
    build_s1(settings)
    pb = load_playbook(write(tmp_path))
    report = sop_due(settings, date(2026, 6, 30), [pb])
    assert report.items == [] and report.excluded == {"opted_out": 0, "missing": 0, "unreachable": 0, "condition": 0}
    assert len(report.notes) == 1 and "first snapshot" in report.notes[0] and "2026-06-30" in report.notes[0]
    res = cli("plan", "sop", "--date", "2026-06-30", "--playbook", write(tmp_path))
    assert "note: churn: only one rfm8 snapshot" in res.stderr
    md = cli("plan", "sop", "--date", "2026-06-30", "--playbook", write(tmp_path), "--format", "md").stdout
    assert "> churn: only one rfm8 snapshot (as_of 2026-06-30)" in md
    doc = json.loads(cli("plan", "sop", "--date", "2026-06-30", "--playbook", write(tmp_path), "--format", "json").stdout)
    assert doc["due"] == 0 and doc["notes"] == report.notes


def test_no_snapshot_at_all(settings, tmp_path):
    pb = load_playbook(write(tmp_path))
    report = sop_due(settings, D0, [pb])
    assert report.items == [] and "no rfm8 segment snapshot yet" in report.notes[0]


def test_highest_snapshot_id_counts_when_as_of_repeats(settings, tmp_path):
    """mX: S1 A; S2a E; then an order on 09-29 → S2b A.  mY: S1 A; S2a A (09-20 order); order deleted → S2b E.

    On 09-30 S2b (higher id) counts: mY enters E, mX does not. At S3 (10-31) the previous snapshot is
    S2b, where mY already was in E: nobody enters (mX: R = 32 → A; mY: R = 128 → E)."""
    with open_store(settings) as con:
        add_members(con, "mX", "mY", external_userid="wm", guide_userid="g1")
        for m in ("mX", "mY"):
            add_order(con, m, local("2026-06-20"), 300)
            add_order(con, m, local("2026-06-25"), 400)
        add_order(con, "mY", local("2026-09-20"), 100, order_id="y920")
    run_segment(settings, scheme="rfm8", as_of=S1, **FIXED)
    assert run_segment(settings, scheme="rfm8", as_of=S2, **FIXED).snapshot_id == 2
    with open_store(settings) as con:
        add_order(con, "mX", local("2026-09-29"), 100)
        con.execute("DELETE FROM orders WHERE order_id = 'y920'")
    assert run_segment(settings, scheme="rfm8", as_of=S2, **FIXED).snapshot_id == 3
    run_segment(settings, scheme="rfm8", as_of="2026-10-31", **FIXED)
    with open_store(settings, read_only=True) as con:
        seg = dict(((s, m), g) for s, m, g in con.execute(
            "SELECT snapshot_id, member_id, segment_id FROM segment_members").fetchall())
    assert [seg[(s, "mX")] for s in (1, 2, 3, 4)] == ["A", "E", "A", "A"]
    assert [seg[(s, "mY")] for s in (1, 2, 3, 4)] == ["A", "A", "E", "E"]
    pb = load_playbook(write(tmp_path))
    assert [i.member_id for i in sop_due(settings, D0, [pb]).items] == ["mY"]
    assert sop_due(settings, date(2026, 10, 31), [pb]).items == []


def test_other_scheme_snapshots_are_ignored(two, tmp_path):
    # an rfm11 snapshot later than S2 does not become "the previous snapshot" of rfm8, and vice versa
    run_segment(two, scheme="rfm11", as_of="2026-08-31")
    pb = load_playbook(write(tmp_path))
    assert [i.member_id for i in sop_due(two, D0, [pb]).items] == ["mA", "mA2", "mC", "mNew"]
    rfm11 = load_playbook(write(tmp_path, SOP.replace("segments: [E, 重要挽留客户]", "scheme: rfm11\n  segments: [at_risk, 不能失去的客户]"),
                                "rfm11.yaml"))
    assert rfm11.sop.segments == ("at_risk", "cant_lose")
    report = sop_due(two, date(2026, 8, 31), [rfm11])
    assert report.items == [] and "only one rfm11 snapshot" in report.notes[0]


def test_store_and_tag_filters(two, tmp_path):
    with open_store(two) as con:
        con.execute("INSERT INTO member_tags (member_id, tag) VALUES ('mC', '高净值'), ('mE', '高净值')")
    by_store = load_playbook(write(tmp_path, SOP.replace("  channel: customer\n",
                                                         "  channel: customer\n  audience: {stores: [徐汇店]}\n")))
    assert [i.member_id for i in sop_due(two, D0, [by_store]).items] == ["mA", "mA2", "mNew"]
    by_tag = load_playbook(write(tmp_path, SOP.replace("  channel: customer\n",
                                                       "  channel: customer\n  audience: {tags: [高净值]}\n")))
    assert [i.member_id for i in sop_due(two, D0, [by_tag]).items] == ["mC"]  # mE is tagged but did not enter


def test_optouts_and_unreachable_are_excluded_and_counted(two, tmp_path):
    with open_store(two) as con:
        con.execute("INSERT INTO optouts (member_id, channel, reason, source, created_at) VALUES "
                    "('mC', 'all', 'asked', 'cli', now()), ('wm_mNew', 'customer', 'asked', 'cli', now()), "
                    "('mA', 'app', 'asked', 'cli', now())")
        con.execute("UPDATE members SET external_userid = NULL WHERE member_id = 'mA2'")
    pb = load_playbook(write(tmp_path))
    report = sop_due(two, D0, [pb])
    assert [i.member_id for i in report.items] == ["mA"]  # mA opted out of the app channel only
    assert report.excluded == {"opted_out": 2, "missing": 0, "unreachable": 1, "condition": 0}


def test_entered_member_without_member_record_is_missing(two, tmp_path):
    with open_store(two) as con:
        con.execute("DELETE FROM members WHERE member_id = 'mC'")
    report = sop_due(two, D0, [load_playbook(write(tmp_path))])
    assert [i.member_id for i in report.items] == ["mA", "mA2", "mNew"] and report.excluded["missing"] == 1


def test_cli_sop_json(two, tmp_path, cli):
    path = write(tmp_path)
    doc = json.loads(cli("plan", "sop", "--date", "2026-10-07", "--playbook", path, "--format", "json").stdout)
    assert doc["date"] == "2026-10-07" and doc["due"] == 3 and doc["notes"] == []
    assert doc["excluded"] == {"opted_out": 0, "missing": 0, "unreachable": 0, "condition": 1}
    assert [(i["step"], i["member_id"], i["key"], i["scheduled_at"]) for i in doc["items"]] == [
        ("d7-offer", "mA", "sop:churn:d7-offer:mA:2026-09-30", "2026-10-07T10:00:00+08:00"),
        ("d7-offer", "mC", "sop:churn:d7-offer:mC:2026-09-30", "2026-10-07T10:00:00+08:00"),
        ("d7-offer", "mNew", "sop:churn:d7-offer:mNew:2026-09-30", "2026-10-07T10:00:00+08:00"),
    ]


def test_due_messages_hand_off(two, tmp_path):
    path = write(tmp_path)
    start = datetime(2026, 9, 30, 0, 0, tzinfo=SH)
    due = due_messages(two, start, datetime(2026, 10, 8, 0, 0, tzinfo=SH), playbooks=[path])
    # sorted by (scheduled_at, key): "mA2:" sorts before "mA:" ('2' < ':')
    assert [(d.key, d.target_id, d.sender) for d in due] == [
        ("sop:churn:d0-guide-call:mA2:2026-09-30", "mA2", "g1"),
        ("sop:churn:d0-guide-call:mA:2026-09-30", "mA", "g1"),
        ("sop:churn:d0-guide-call:mC:2026-09-30", "mC", "g1"),
        ("sop:churn:d0-guide-call:mNew:2026-09-30", "mNew", "g1"),
        ("sop:churn:d7-offer:mA:2026-09-30", "mA", "g1"),
        ("sop:churn:d7-offer:mC:2026-09-30", "mC", "g1"),
        ("sop:churn:d7-offer:mNew:2026-09-30", "mNew", "g1"),
    ]
    assert all(d.kind == "sop_step" and d.channel == "customer" for d in due)


def test_custom_scheme_matches_stored_ids_or_names(settings, tmp_path):
    """A custom scheme's segments are not checked against a catalogue; ids or names match in the store."""
    with open_store(settings) as con:
        con.execute("INSERT INTO members (member_id, external_userid) VALUES ('k1', 'wk1'), ('k2', 'wk2'), ('k3', 'wk3')")
        con.execute("INSERT INTO segment_snapshots (snapshot_id, as_of, scheme) VALUES "
                    "(1, DATE '2026-09-01', 'custom:vip'), (2, DATE '2026-09-30', 'custom:vip'), "
                    "(3, DATE '2026-09-15', 'rfm8')")
        con.execute("INSERT INTO segment_member_rows (snapshot_id, member_id, segment_id, segment_name) VALUES "
                    "(1, 'k1', 'vip', '贵宾'), (1, 'k2', 'vip', '贵宾'), "
                    "(2, 'k1', 'sleepy', '沉睡'), (2, 'k2', 'vip', '贵宾'), (2, 'k3', 'sleepy', '沉睡'), "
                    "(3, 'k2', 'E', '重要保持客户')")
    text = SOP.replace("segments: [E, 重要挽留客户]", "scheme: custom:vip\n  segments: [沉睡]")
    path = write(tmp_path, text)
    assert check_playbook(path) == []
    assert [i.member_id for i in sop_due(settings, D0, [load_playbook(path)]).items] == ["k1", "k3"]


# ----------------------------------------------------------------------------- schema


def test_valid_segment_sop_checks_clean_and_accepts_chinese_names(tmp_path):
    assert check_playbook(write(tmp_path)) == []


def _errors(tmp_path, text):
    return [(p.line, p.col, p.message, p.hint) for p in check_playbook(write(tmp_path, text)) if p.severity == "error"]


def test_missing_segments_is_an_error_at_the_anchor(tmp_path):
    errs = _errors(tmp_path, SOP.replace("  segments: [E, 重要挽留客户]\n", ""))
    assert [(line, col) for line, col, *_ in errs] == [(5, 11)]
    assert "needs `segments`" in errs[0][2] and "segments: [E, G]" in errs[0][3]
    errs = _errors(tmp_path, SOP.replace("[E, 重要挽留客户]", "[]"))
    assert [(line, col) for line, col, *_ in errs] == [(6, 13)] and "empty" in errs[0][2]


def test_segments_with_another_anchor_is_an_error(tmp_path):
    errs = _errors(tmp_path, SOP.replace("anchor: segment_entered", "anchor: member_join")
                   .replace("  segments: [E, 重要挽留客户]\n", "  segments: [E, 重要挽留客户]\n  scheme: rfm8\n"))
    # (4, 1): a member_join SOP must also say who it is for (segment_entered's `segments` did)
    assert [(line, col) for line, col, *_ in errs] == [(4, 1), (6, 3), (7, 3)]
    assert "no `audience:`" in errs[0][2]
    assert "`segments` only applies with `anchor: segment_entered`" in errs[1][2]
    assert "`scheme` only applies" in errs[2][2]
    # no anchor at all means member_join: still an error
    errs = _errors(tmp_path, SOP.replace("  anchor: segment_entered\n", ""))
    assert [(line, col) for line, col, *_ in errs] == [(4, 1), (5, 3)]


def test_unknown_segment_id_has_a_hint(tmp_path):
    errs = _errors(tmp_path, SOP.replace("[E, 重要挽留客户]", "[E, X, 重要挽流客户]"))
    assert [(line, col) for line, col, *_ in errs] == [(6, 17), (6, 20)]
    assert errs[0][2] == "unknown rfm8 segment 'X'"
    assert "A 重要价值客户" in errs[0][3] and "H 一般挽留客户" in errs[0][3] and "no_purchase 未购" in errs[0][3]
    assert "did you mean `重要挽留客户`?" in errs[1][2]
    # an rfm8 id is not an rfm11 segment
    errs = _errors(tmp_path, SOP.replace("[E, 重要挽留客户]", "[at_risk, E]").replace(
        "  segments:", "  scheme: rfm11\n  segments:"))
    assert [(line, col, msg) for line, col, msg, _ in errs] == [(7, 23, "unknown rfm11 segment 'E'")]


def test_unknown_scheme(tmp_path):
    errs = _errors(tmp_path, SOP.replace("  segments:", "  scheme: rfm9\n  segments:"))
    assert [(line, col) for line, col, *_ in errs] == [(6, 11)]
    assert "unknown segment scheme 'rfm9'" in errs[0][2] and "custom:<name>" in errs[0][3]
    assert _errors(tmp_path, SOP.replace("  segments: [E, 重要挽留客户]", "  scheme: custom:vip\n  segments: [whatever]")) == []


def test_cli_check_reports_segment_errors(tmp_path, cli):
    path = write(tmp_path, SOP.replace("[E, 重要挽留客户]", "[Q]"))
    res = cli("plan", "check", path, expect=65)
    assert f"{path}:6:14: error: unknown rfm8 segment 'Q'" in res.stdout


def test_re_entry_gets_the_steps_again_under_a_new_key(two, tmp_path):
    """mA buys on 10-10: S3 (10-31) R = 21 → A; S4 (2027-02-15) R = 128, F 3, M 900 → E again.
    mA2 (bought 10-03): S3 R = 28 → A; S4 R = 135 → E again. mC stays G, mNew and mE stay E."""
    with open_store(two) as con:
        add_order(con, "mA", local("2026-10-10"), 200)
    run_segment(two, scheme="rfm8", as_of="2026-10-31", **FIXED)
    run_segment(two, scheme="rfm8", as_of="2027-02-15", **FIXED)
    assert segments_of(two, "2026-10-31") == {"mA": "A", "mA2": "A", "mE": "E", "mC": "G", "mB": "F", "mNew": "E"}
    assert segments_of(two, "2027-02-15") == {"mA": "E", "mA2": "E", "mE": "E", "mC": "G", "mB": "F", "mNew": "E"}
    pb = load_playbook(write(tmp_path))
    assert sop_due(two, date(2026, 10, 31), [pb]).items == []
    again = sop_due(two, date(2027, 2, 15), [pb]).items
    assert [(i.member_id, i.key, i.text) for i in again] == [
        ("mA", "sop:churn:d0-guide-call:mA:2027-02-15", "阿A，好久不见（2月15日 周一）"),
        ("mA2", "sop:churn:d0-guide-call:mA2:2027-02-15", "会员mA2，好久不见（2月15日 周一）"),
    ]
    # the day-7 step of the second entry: neither has bought since 2027-02-15
    assert [i.member_id for i in sop_due(two, date(2027, 2, 22), [pb]).items] == ["mA", "mA2"]


def test_member_segment_in_templates(two, tmp_path):
    text = SOP.replace('"{{ member.display_name }}，好久不见（{{ member.join_date | cn_date }}）"',
                       '"{{ member.id }} 进入 {{ member.segment_id }} {{ member.segment }}"')
    path = write(tmp_path, text)
    assert check_playbook(path) == []
    assert [i.text for i in sop_due(two, D0, [load_playbook(path)]).items] == [
        "mA 进入 E 重要保持客户", "mA2 进入 E 重要保持客户", "mC 进入 G 重要挽留客户", "mNew 进入 E 重要保持客户"]
