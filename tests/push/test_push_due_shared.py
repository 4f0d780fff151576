"""push_due shares one store session and one WeCom client across its campaigns, without losing a guarantee."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from push_helpers import per_recipient, sb, start_sandbox, ws  # noqa: F401 (ws, sb: fixtures)
from siyu_cli.push import push_due
from siyu_cli.push.due import due_campaign_id
from siyu_cli.push.ledger import campaign_lock
from siyu_cli.store import open_store

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)  # Wednesday 09:00 Shanghai


class _Due:
    def __init__(self, key, at, target, channel="customer", target_type="member", sender=None, text="SOP"):
        self.key, self.kind, self.scheduled_at, self.playbook = key, "sop_step", at, "pb"
        self.target_type, self.target_id, self.channel, self.sender = target_type, target, channel, sender
        self.text, self.attachments = text, ()


def _messages():
    """Eight customer messages to eight members, one group message, one app message, one robot message."""
    msgs = [_Due(f"sop:pb:day1:m0{i}", T0 + timedelta(minutes=i), f"m0{i}", text=f"第{i}条") for i in range(1, 9)]
    msgs.append(_Due("plan:pb:w48:wed:wr01", T0, "wr01", channel="group", target_type="group", sender="g1"))
    msgs.append(_Due("sop:pb:call:m04", T0, "m04", channel="app", sender="g2", text="今天回访小刘"))
    msgs.append(_Due("plan:pb:w48:digest", T0, "ops", channel="robot", target_type="group", text="本周计划"))
    return msgs


def test_one_client_per_kind_one_token_and_few_store_opens(ws, sb, monkeypatch):
    import siyu_cli.push.sender as sender
    import siyu_cli.store as store

    made, opens = [], []
    real_make, real_connect = sender.make_client, store._connect_with_wait
    monkeypatch.setattr(sender, "make_client", lambda s, ch: made.append(ch) or real_make(s, ch))
    monkeypatch.setattr(store, "_connect_with_wait", lambda *a: opens.append(a) or real_connect(*a))
    msgs = _messages()
    rep = push_due(ws, T0, T0 + timedelta(hours=1), messages=msgs, now=T0 + timedelta(hours=1))
    assert rep.to_dict()["outcomes"] == {"sent": 11} and rep.created == 11
    # one WeComClient for the customer, group and app campaigns, one webhook client for the robot
    assert sorted("robot" if ch == "robot" else "wecom" for ch in made) == ["robot", "wecom"]
    assert sb.state.counters["gettoken"] == 1
    # the store: one held session (+ the token cache's load and save), not several opens per message
    assert len(opens) < len(msgs)
    sb.confirm()
    assert per_recipient(sb.deliveries()) == {f"wm0{i}": 1 for i in range(1, 9)}
    assert per_recipient(sb.deliveries(), "group") == {"wr01": 1}
    assert [d["recipient"] for d in sb.deliveries("app")] == ["g2"]
    assert [m["text"] for m in sb.robot_messages()] == ["本周计划"]


def test_a_busy_campaign_fails_alone_and_is_sent_once_on_the_next_run(ws, sb):
    msgs = _messages()[:3]
    busy = msgs[1]
    end, now = T0 + timedelta(hours=1), T0 + timedelta(hours=1)
    with campaign_lock(ws, due_campaign_id(busy.key)):  # another sender holds this campaign
        r1 = push_due(ws, T0, end, messages=msgs, now=now)
    by_key = {i["key"]: i for i in r1.items}
    assert by_key[busy.key]["outcome"] == "failed" and "already being sent" in by_key[busy.key]["error"]
    assert [by_key[m.key]["outcome"] for m in msgs if m is not busy] == ["sent", "sent"]
    r2 = push_due(ws, T0, end, messages=msgs, now=now)
    assert {i["key"]: i["outcome"] for i in r2.items} == {
        msgs[0].key: "already_sent", busy.key: "sent", msgs[2].key: "already_sent"}
    assert r2.created == 0
    sb.confirm()
    assert per_recipient(sb.deliveries()) == {"wm01": 1, "wm02": 1, "wm03": 1}


def test_duplicate_due_keys_in_one_call_send_once(ws, sb):
    m = _messages()[0]
    rep = push_due(ws, T0, T0 + timedelta(hours=1), messages=[m, m], now=T0 + timedelta(hours=1))
    assert [i["outcome"] for i in rep.items] == ["sent", "already_sent"] and rep.created == 1
    sb.confirm()
    assert per_recipient(sb.deliveries()) == {"wm01": 1}


def test_demo_push_line_explains_what_was_not_sent(ws, sb, moved_clock):
    """cap = 2/week (push_helpers): a third message to m01 this week is skipped; a later one is not yet due.

    Whatever the calendar says (moved_clock): the cap counts what was sent at push_due's ``now``, not today."""
    from siyu_cli.demo.runner import _push_unsent

    msgs = [_Due(f"sop:pb:day{i}:m01", T0 + timedelta(minutes=i), "m01", text=f"第{i}条") for i in (1, 2, 3)]
    later = datetime(2026, 11, 25, 13, 0, tzinfo=timezone.utc)  # 21:00 Shanghai
    msgs.append(_Due("sop:pb:night:m02", later, "m02"))
    rep = push_due(ws, T0, T0 + timedelta(days=1), messages=msgs, now=T0 + timedelta(hours=1))
    # the capped message's campaign is "empty": its one recipient was skipped
    assert [i["outcome"] for i in rep.items] == ["sent", "sent", "empty", "not_yet_due"]

    class Ctx:
        settings = ws

    assert _push_unsent(Ctx(), rep.to_dict()) == {
        "empty": 1, "not yet due": "1 (scheduled from 11-25 21:00)", "skipped recipients": "1 (frequency cap)"}
    with open_store(ws, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM push_recipients WHERE state = 'skipped' AND reason = 'frequency_cap'"
                           ).fetchone()[0] == 1


def test_sigkill_of_push_due_then_rerun_sends_each_due_message_once(ws, tmp_path, monkeypatch):
    """`siyu push due` (one session, one client for all campaigns) killed after WeCom accepted a task."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path
    from zoneinfo import ZoneInfo

    from siyu_cli.plan import due_messages

    with open_store(ws) as con:
        con.execute("UPDATE groups SET tags = ['咖啡群'] WHERE group_id IN ('wr01', 'wr02')")
    from siyu_cli.plan.enabled import set_enabled

    set_enabled(ws, ["coffee-week"], enable=True)  # the example playbooks are inactive until enabled
    mon = datetime(2026, 11, 23, tzinfo=ZoneInfo("Asia/Shanghai"))  # 2026-W48, in the past
    start, end = mon, mon + timedelta(days=3)
    keys = {m.key for m in due_messages(ws, start, end)}
    assert len(keys) >= 4
    sb = start_sandbox(ws, tmp_path, monkeypatch)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src") + os.pathsep + env.get("PYTHONPATH", "")
    args = [sys.executable, "-m", "siyu_cli", "push", "due", "--from", start.isoformat(), "--to", end.isoformat()]
    try:
        sb.set_faults({"latency": 0.05, "paths": ["add_msg_template"]})
        p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while len(sb.state.msgs) < 2 and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        assert p.poll() is None, "push due finished before it could be killed"
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=10)
        assert len(sb.state.msgs) < len(keys)  # killed part-way
        for _ in range(2):  # the rerun finishes the rest; a third run finds everything sent
            r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
        sb.confirm()
        with open_store(ws, read_only=True) as con:
            statuses = dict(con.execute("SELECT status, count(*) FROM push_campaigns GROUP BY 1").fetchall())
        assert statuses == {"sent": len(keys)}
        assert len(sb.state.msgs) == len(keys)  # one WeCom task per due message, never a second
        sent = [(d["recipient"], d["msgid"]) for d in sb.deliveries("group")]
        assert len(sent) == len(set(sent)) == len(keys)
    finally:
        sb.stop()
