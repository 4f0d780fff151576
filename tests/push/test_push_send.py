"""Sending against the WeCom sandbox over real HTTP on 127.0.0.1: channels, errcodes, tokens, opt-outs, status."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from push_helpers import WECOM_TOML, configure, per_recipient, sb, seed, start_sandbox, ws  # noqa: F401 (ws, sb: fixtures)
from siyu_cli.config import load_settings
from siyu_cli.push import CampaignSpec, create_campaign, push_due, send_campaign
from siyu_cli.store import open_store

EXPECTED = {"wm01", "wm02", "wm03", "wm04", "wm05", "wm06", "wm07", "wm08", "wm12"}  # see test_push_campaigns


def _create(cli, *args):
    return json.loads(cli("push", "create", *args, "--format", "json").stdout)


def _ledger(settings, cid):
    with open_store(settings, read_only=True) as con:
        return {r[0]: r[1:] for r in con.execute(
            "SELECT recipient_id, state, reason, delivery FROM push_recipients WHERE campaign_id = ?", [cid]).fetchall()}


def test_customer_campaign_delivered_once_and_status_synced(ws, sb, cli):
    cli("optout", "add", "13800000011")
    p = _create(cli, "--audience", "all", "--text", "周末活动", "--link", "活动详情|https://example.com/a")
    cid = p["campaign_id"]
    r = cli("push", "send", cid, "--format", "json")
    assert json.loads(r.stdout)["states"] == {"sent": 9, "skipped": 3}
    sb.confirm()
    assert per_recipient(sb.deliveries()) == {rid: 1 for rid in EXPECTED}
    d = sb.deliveries("customer")[0]
    assert d["text"] == "周末活动" and d["attachments"][0]["link"]["url"] == "https://example.com/a"
    # every batch went to the recipient's own guide
    assert {x["recipient"]: x["sender"] for x in sb.deliveries()}["wm02"] == "g2"
    r = cli("push", "status", cid, "--format", "json")
    st = json.loads(r.stdout)
    assert st["delivery"] == {"delivered": 9} and st["status"] == "sent"
    assert sb.secret not in r.stdout + r.stderr and not any(t in r.stdout + r.stderr for t in sb.state.tokens)
    # sending again is a no-op: nobody gets a second message
    cli("push", "send", cid)
    sb.confirm()
    assert per_recipient(sb.deliveries()) == {rid: 1 for rid in EXPECTED}


def test_fail_list_and_not_friend_recorded_per_recipient(ws, sb, cli):
    sb.state.contacts.pop("wm03")          # WeCom no longer knows wm03 → add_msg_template fail_list
    sb.state.remove_friend("wm05", "g1", by="customer")  # the customer deleted the guide → not a friend at delivery
    cid = _create(cli, "--audience", "list:m01,m03,m05", "--text", "新品")["campaign_id"]
    r = cli("push", "send", cid, expect=3)  # partial: some recipients failed
    led = _ledger(ws, cid)
    assert led["wm03"][0] == "failed" and led["wm03"][1].startswith("fail_list")
    assert led["wm01"][0] == led["wm05"][0] == "sent"
    sb.confirm()
    st = json.loads(cli("push", "status", cid, "--format", "json").stdout)
    assert st["delivery"] == {"delivered": 1, "not_friend": 1}
    rows = json.loads(cli("push", "status", cid, "--no-sync", "--recipients", "--format", "json").stdout)
    assert [(r["recipient_id"], r["state"], r["delivery"]) for r in rows] == [
        ("wm01", "sent", "delivered"), ("wm03", "failed", None), ("wm05", "sent", "not_friend")]
    led = _ledger(ws, cid)
    assert (led["wm01"][2], led["wm05"][2]) == ("delivered", "not_friend")
    assert per_recipient(sb.deliveries()) == {"wm01": 1}
    assert "wm03" in r.stdout or "failed" in r.stdout


def test_skip_errcode_fails_that_batch_only(ws, sb, cli):
    cid = _create(cli, "--audience", "list:m01,m03,m05,m07,m02", "--text", "x")["campaign_id"]
    # batches: b1 g1 [wm01 wm03 wm05], b2 g1 [wm07], b3 g2 [wm02]; the first call answers 41048
    sb.inject("errcode", "add_msg_template", errcode=41048)
    cli("push", "send", cid, expect=3)
    led = _ledger(ws, cid)
    assert {k for k, v in led.items() if v[0] == "failed"} == {"wm01", "wm03", "wm05"}
    assert all(led[k][1].startswith("41048") for k in ("wm01", "wm03", "wm05"))
    assert led["wm07"][0] == led["wm02"][0] == "sent"
    sb.confirm()
    assert per_recipient(sb.deliveries()) == {"wm07": 1, "wm02": 1}


def test_persistent_rate_limit_stops_with_75_and_resume_finishes(ws, sb, cli):
    cid = _create(cli, "--audience", "list:m01,m03,m05,m07", "--text", "x")["campaign_id"]
    cli("push", "send", cid)
    # the next call meets 45009 twice (max_retries = 1): stop with 75, keep the batch planned
    cid2 = _create(cli, "--audience", "list:m02,m04", "--text", "y")["campaign_id"]
    sb.inject("errcode", "add_msg_template", errcode=45009)
    sb.inject("errcode", "add_msg_template", errcode=45009)
    r = cli("push", "send", cid2, expect=75)
    assert "45009" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert {v[0] for v in _ledger(ws, cid2).values()} == {"planned"}
    cli("push", "resume", cid2)
    sb.confirm()
    assert per_recipient(sb.deliveries()) == {"wm01": 1, "wm03": 1, "wm05": 1, "wm07": 1, "wm02": 1, "wm04": 1}


def test_token_expiry_mid_campaign(ws, sb, cli):
    cid = _create(cli, "--audience", "all", "--text", "x")["campaign_id"]
    calls = {"n": 0}

    def expire_after_first(batch):
        calls["n"] += 1
        if calls["n"] == 1:
            assert sb.expire_tokens() >= 1

    rep = send_campaign(ws, cid, on_batch=expire_after_first)
    assert rep.states.get("sent") == 10 and not rep.stopped  # no opt-out here: wm11 too
    assert sb.state.counters["gettoken"] == 2  # one refresh after the 42001
    sb.confirm()
    assert per_recipient(sb.deliveries()) == {rid: 1 for rid in EXPECTED | {"wm11"}}


def test_dropped_connection_after_send_is_reconciled_not_resent(ws, sb, cli):
    cid = _create(cli, "--audience", "list:m01,m03,m05,m07", "--text", "断线测试")["campaign_id"]
    sb.inject("drop_after", "add_msg_template")  # WeCom creates the task, the client never hears back
    rep = send_campaign(ws, cid)
    assert rep.reconciled == 1 and rep.states == {"sent": 4}
    assert len(sb.messages()) == 2  # two batches, two tasks: the dropped one was NOT created again
    sb.confirm()
    assert per_recipient(sb.deliveries()) == {"wm01": 1, "wm03": 1, "wm05": 1, "wm07": 1}


def test_optout_after_creation_is_honoured_at_send(ws, sb, cli):
    cid = _create(cli, "--audience", "list:m01,m03", "--text", "x")["campaign_id"]
    cli("optout", "add", "wm03", "--channel", "customer")
    cli("push", "send", cid)
    assert _ledger(ws, cid)["wm03"][:2] == ("skipped", "opted_out")
    sb.confirm()
    assert per_recipient(sb.deliveries()) == {"wm01": 1}


def test_group_app_robot_channels(ws, sb, cli):
    g = _create(cli, "--channel", "group", "--audience", "all", "--text", "{{ name }}：今晚8点直播")["campaign_id"]
    cli("push", "send", g)
    sb.confirm()
    groups = {d["recipient"]: d["text"] for d in sb.deliveries("group")}
    assert groups == {"wr01": "咖啡群1：今晚8点直播", "wr02": "咖啡群2：今晚8点直播"}
    a = _create(cli, "--channel", "app", "--audience", "staff:g1,g2,nobody", "--text", "今日SOP：回访3位客户")["campaign_id"]
    cli("push", "send", a, expect=3)  # 'nobody' is not a member: invaliduser → failed
    assert sorted(d["recipient"] for d in sb.deliveries("app")) == ["g1", "g2"]
    assert _ledger(ws, a)["nobody"][0] == "failed"
    rb = _create(cli, "--channel", "robot", "--text", "本周计划已生成")["campaign_id"]
    cli("push", "send", rb)
    assert [m["text"] for m in sb.robot_messages()] == ["本周计划已生成"]


def test_image_attachment_uploaded(ws, sb, cli, tmp_path):
    img = tmp_path / "poster.png"
    img.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
    cid = _create(cli, "--audience", "list:m01", "--text", "海报", "--image", str(img),
                  "--miniprogram", f"会员中心|wx1234567890abcdef|pages/member/index|{img}")["campaign_id"]
    cli("push", "send", cid)
    sb.confirm()
    (d,) = sb.deliveries("customer")
    assert [a["msgtype"] for a in d["attachments"]] == ["image", "miniprogram"]
    assert d["attachments"][0]["image"]["media_id"] and d["attachments"][1]["miniprogram"]["pic_media_id"]
    assert d["attachments"][1]["miniprogram"]["appid"] == "wx1234567890abcdef"


def test_remind_and_cancel(ws, tmp_path, monkeypatch, cli):
    sb = start_sandbox(ws, tmp_path, monkeypatch, confirm="manual")
    try:
        cid = _create(cli, "--audience", "list:m01,m02", "--text", "x")["campaign_id"]
        cli("push", "send", cid)
        st = json.loads(cli("push", "status", cid, "--format", "json").stdout)
        assert st["delivery"] == {"unconfirmed": 2}
        d = json.loads(cli("push", "remind", cid, "--app", "--format", "json").stdout)
        assert len(d["reminded_batches"]) == 2 and d["guides_messaged"] == ["g1", "g2"]
        assert all(sb.remind_count(m["msgid"]) == 1 for m in sb.messages())
        assert sorted(x["recipient"] for x in sb.deliveries("app")) == ["g1", "g2"]
        for _ in range(2):
            cli("push", "remind", cid)
        d = json.loads(cli("push", "remind", cid, "--format", "json").stdout)  # 4th: WeCom allows 3 a day
        assert d["reminded_batches"] == [] and len(d["limit_reached"]) == 2
        d = json.loads(cli("push", "cancel", cid, "--format", "json").stdout)
        assert d["cancelled_tasks"] == 2
        sb.confirm()
        assert sb.deliveries("customer") == []
    finally:
        sb.stop()


class _Due:
    def __init__(self, key, at, target, channel="customer", target_type="member", sender=None, text="SOP"):
        self.key, self.kind, self.scheduled_at, self.playbook = key, "sop_step", at, "pb"
        self.target_type, self.target_id, self.channel, self.sender = target_type, target, channel, sender
        self.text, self.attachments = text, ()


def test_push_due_overlapping_windows_never_send_twice(ws, sb):
    t = lambda h: datetime(2026, 11, 25, h, 0, tzinfo=timezone.utc)
    msgs = [_Due("sop:pb:day1:m01", t(1), "m01", text="欢迎 {{ name }}"), _Due("sop:pb:day1:m02", t(2), "m02"),
            _Due("plan:pb:w48:mon:wr01", t(3), "wr01", channel="group", target_type="group", sender="g1"),
            _Due("sop:pb:day3:m03", t(5), "m03"),
            _Due("sop:pb:call:m04", t(3), "m04", channel="app", sender="g2", text="今天回访小刘")]
    r1 = push_due(ws, t(0), t(4), messages=msgs, now=t(4))
    assert r1.to_dict()["outcomes"] == {"sent": 4} and r1.created == 4
    r2 = push_due(ws, t(2), t(6), messages=msgs, now=t(6))
    assert r2.to_dict()["outcomes"] == {"already_sent": 3, "sent": 1} and r2.created == 1
    sb.confirm()
    assert per_recipient(sb.deliveries()) == {"wm01": 1, "wm02": 1, "wm03": 1}
    assert per_recipient(sb.deliveries(), "group") == {"wr01": 1}
    assert [(d["recipient"], d["text"]) for d in sb.deliveries("app")] == [("g2", "今天回访小刘")]  # the member's guide
    # plan's text is final: braces are not a template
    assert {d["recipient"]: d["text"] for d in sb.deliveries("customer")}["wm01"] == "欢迎 {{ name }}"


def test_push_due_with_real_playbooks_overlapping_windows(ws, tmp_path, monkeypatch):
    """plan.due_messages over the example coffee-week playbook: overlapping windows send each slot once."""
    from siyu_cli.plan import due_messages

    with open_store(ws) as con:
        con.execute("UPDATE groups SET tags = ['咖啡群'] WHERE group_id IN ('wr01', 'wr02')")
    sb = start_sandbox(ws, tmp_path, monkeypatch)
    try:
        tz = __import__("zoneinfo").ZoneInfo("Asia/Shanghai")
        mon = datetime(2026, 11, 23, tzinfo=tz)  # 2026-W48
        book = [ws.root / "playbooks" / "coffee-week.yaml"]
        d = lambda n: mon + __import__("datetime").timedelta(days=n)
        keys = {m.key for m in due_messages(ws, d(0), d(3), playbooks=book)}
        assert keys and all(k.startswith("plan:coffee-week:") for k in keys)
        # named but not enabled: held back as inactive, nothing created or sent
        r0 = push_due(ws, d(0), d(2), playbooks=book, now=d(3))
        assert r0.items == [] and [i["playbook"] for i in r0.inactive] == ["coffee-week"]
        from siyu_cli.plan.enabled import set_enabled

        set_enabled(ws, ["coffee-week"], enable=True)
        r1 = push_due(ws, d(0), d(2), playbooks=book, now=d(3))
        r2 = push_due(ws, d(1), d(3), playbooks=book, now=d(3))
        assert r1.failed == r2.failed == 0
        assert r1.created + r2.created == len(keys)
        sb.confirm()
        sent = [(x["recipient"], x["msgid"]) for x in sb.deliveries("group")]
        assert len(sent) == len(keys) == len(set(sent))
        with open_store(ws, read_only=True) as con:
            assert con.execute("SELECT count(*) FROM push_campaigns WHERE due_key IS NOT NULL").fetchone()[0] == len(keys)
    finally:
        sb.stop()


def test_quiet_hours_hold_the_send(workspace, tmp_path, monkeypatch):
    from siyu_cli.errors import TemporaryFailure

    configure(workspace, WECOM_TOML)
    cfg = workspace / "siyu.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('quiet_hours = ""', 'quiet_hours = "22:00-08:00"'), encoding="utf-8")
    s = load_settings(workspace)
    seed(s)
    sb = start_sandbox(s, tmp_path, monkeypatch)
    try:
        late = datetime(2026, 11, 25, 15, 30, tzinfo=timezone.utc)  # 23:30 Shanghai
        cid = create_campaign(s, CampaignSpec(channel="customer", audience="list:m01", text="x"), now=late)["campaign_id"]
        with pytest.raises(TemporaryFailure, match="quiet hours: no mass-send starts before 08:00"):
            send_campaign(s, cid, now=late)
        assert sb.messages() == []
        rep = send_campaign(s, cid, now=datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc))  # 09:00
        assert rep.states == {"sent": 1}
    finally:
        sb.stop()


def test_fatal_errcode_stops_and_keeps_batch_planned(ws, sb, cli):
    cid = _create(cli, "--audience", "list:m01,m02", "--text", "x")["campaign_id"]
    sb.inject("errcode", "add_msg_template", errcode=48002)  # API not permitted for this app: a config problem
    r = cli("push", "send", cid, expect=None)
    assert r.exit_code not in (0, 3) and "48002" in r.stderr and "Traceback" not in r.stderr
    assert {v[0] for v in _ledger(ws, cid).values()} == {"planned"}
    cli("push", "resume", cid)
    sb.confirm()
    assert per_recipient(sb.deliveries()) == {"wm01": 1, "wm02": 1}


def test_push_due_robot_message_with_a_wecom_client_given(ws, sb):
    from siyu_cli.wecom import WeComClient

    t = datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)
    msgs = [_Due("plan:pb:w48:digest", t, "ops", channel="robot", target_type="group", text="本周计划：8 条群发"),
            _Due("sop:pb:day1:m01", t, "m01")]
    with WeComClient.from_settings(ws) as client:
        rep = push_due(ws, t, t.replace(hour=2), messages=msgs, client=client, now=t.replace(hour=2))
    assert rep.to_dict()["outcomes"] == {"sent": 2}
    assert [m["text"] for m in sb.robot_messages()] == ["本周计划：8 条群发"]
