"""SOP anchor ``clv_alive_below``: lifecycle steps when a member's P(alive) falls below a threshold.

Fits are written into clv_fits / clv_members as `siyu clv` stores them (the fit itself is tested in
test_clv_cdnow.py). F1 as_of 2026-06-30, F2 as_of 2026-09-30 (and a re-run F3 on the same as_of that
supersedes F2); threshold 0.3.

member   F1 p_alive   F3 (counted for 09-30)   enters on 09-30?
mDrop    0.50         0.20                     yes (fell below)
mLow     0.20         0.10                     no (already below)
mNew     —            0.10                     yes (no prediction before)
mOk      0.60         0.40                     no (still above)
mNoWx    0.90         0.05                     fell, but has no WeCom id → unreachable
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

from segment_fixtures import add_members
from siyu_cli.plan import load_playbook, sop_due
from siyu_cli.plan.schema import check_playbook
from siyu_cli.store import open_store

D0 = date(2026, 9, 30)

SOP = """\
version: 1
name: alive
title: 流失预警
sop:
  anchor: clv_alive_below
  p_alive_below: 0.3
  channel: customer
  steps:
    - id: d0
      day: 0
      template: "{{ member.display_name }}，好久不见"
    - id: d3
      day: 3
      template: "第{{ day }}天 专属券"
"""


def fits(settings, rows: dict[int, tuple[str, dict[str, float]]]) -> None:
    with open_store(settings) as con:
        for fit_id, (as_of, members) in rows.items():
            con.execute("INSERT INTO clv_fits (fit_id, created_at, as_of, params, buyers, repeat_buyers) "
                        "VALUES (?, ?, ?, ?, ?, 0)",
                        [fit_id, datetime(2026, 10, 1, tzinfo=timezone.utc), as_of, json.dumps({}), len(members)])
            con.executemany("INSERT INTO clv_members (fit_id, member_id, frequency, recency_days, t_days, p_alive) "
                            "VALUES (?, ?, 1, 10, 100, ?)", [[fit_id, m, p] for m, p in members.items()])


def world(settings) -> None:
    with open_store(settings) as con:
        add_members(con, "mDrop", "mLow", "mNew", "mOk", store="静安店")
        add_members(con, "mNoWx", store="静安店", external_userid=None)
        con.execute("UPDATE members SET external_userid = 'wm_' || member_id, guide_userid = 'g1' WHERE member_id <> 'mNoWx'")
    fits(settings, {
        1: ("2026-06-30", {"mDrop": 0.5, "mLow": 0.2, "mOk": 0.6, "mNoWx": 0.9}),
        2: ("2026-09-30", {"mDrop": 0.5, "mLow": 0.1, "mNew": 0.9, "mOk": 0.4, "mNoWx": 0.9}),  # superseded by 3
        3: ("2026-09-30", {"mDrop": 0.2, "mLow": 0.1, "mNew": 0.1, "mOk": 0.4, "mNoWx": 0.05}),
    })


def test_members_whose_p_alive_fell_below_are_due_on_day_0_and_3(settings, tmp_path):
    world(settings)
    path = tmp_path / "alive.yaml"
    path.write_text(SOP, encoding="utf-8")
    assert check_playbook(path) == []
    pb = load_playbook(path)
    assert pb.sop.p_alive_below == 0.3
    day0 = sop_due(settings, D0, [pb])
    assert [(i.member_id, i.step_id) for i in day0.items] == [("mDrop", "d0"), ("mNew", "d0")]
    assert day0.excluded["unreachable"] == 1
    assert {i.key for i in day0.items} == {"sop:alive:d0:mDrop:2026-09-30", "sop:alive:d0:mNew:2026-09-30"}
    day3 = sop_due(settings, date(2026, 10, 3), [pb])
    assert [(i.member_id, i.step_id) for i in day3.items] == [("mDrop", "d3"), ("mNew", "d3")]
    # the first fit has no previous one: nobody enters on it; other days: nobody
    for d in (date(2026, 6, 30), date(2026, 10, 1)):
        assert sop_due(settings, d, [pb]).items == []


def _errors(tmp_path, text):
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    return [p.message for p in check_playbook(path) if p.severity == "error"]


def test_threshold_is_required_and_checked(tmp_path):
    assert any("needs `p_alive_below`" in m for m in _errors(tmp_path, SOP.replace("  p_alive_below: 0.3\n", "")))
    for bad in ("1.5", "0", "abc", "true"):
        assert any("bad p_alive_below" in m for m in _errors(tmp_path, SOP.replace("0.3", bad))), bad
    other = SOP.replace("anchor: clv_alive_below", "anchor: member_join")
    assert any("only applies with `anchor: clv_alive_below`" in m for m in _errors(tmp_path, other))
