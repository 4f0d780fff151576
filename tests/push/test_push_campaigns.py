"""Campaign creation, preview, exclusions, caps, personalisation and the opt-out CLI (no network)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from push_helpers import configure, seed
from siyu_cli.config import load_settings
from siyu_cli.errors import UsageError
from siyu_cli.plan.enabled import set_enabled
from siyu_cli.push import CampaignSpec, create_campaign, list_campaigns
from siyu_cli.store import open_store


@pytest.fixture
def ws(workspace):
    configure(workspace)
    s = load_settings(workspace)
    seed(s)
    return s


def _json(result):
    return json.loads(result.stdout)


def test_dry_run_shows_batches_and_every_exclusion_but_stores_nothing(ws, cli):
    cli("optout", "add", "138-0000-0011", "--reason", "asked")  # m11 by phone
    p = _json(cli("push", "create", "--audience", "all", "--text", "双十二预告", "--dry-run", "--format", "json"))
    # 12 members: m09 has no WeCom id, m10 is nobody's contact, m11 opted out → 9 to send
    assert p["recipients"] == 12 and p["to_send"] == 9 and p["dry_run"] is True
    assert {e["member_id"]: e["reason"] for e in p["excluded"]} == {"m09": "no_wecom_id", "m10": "not_contact", "m11": "opted_out"}
    # batch_size = 3: g1 has m01 m03 m05 m07 m12 (5 → 2 batches), g2 m02 m04 m06 (1), g3 m08 (1)
    assert [(s["sender"], s["batches"], s["recipients"]) for s in p["senders"]] == [("g1", 2, 5), ("g2", 1, 3), ("g3", 1, 1)]
    assert p["sample"]["text"] == "双十二预告"
    assert list_campaigns(ws) == []
    table = cli("push", "create", "--audience", "all", "--text", "双十二预告", "--dry-run").stdout
    assert "no_wecom_id" in table and "not a contact of any guide" in table and "dry run" in table


def test_personalised_template_splits_batches_per_text(ws, cli):
    p = _json(cli("push", "create", "--audience", "store:徐汇店", "--text", "{{ name }}，徐汇店新品到了", "--format", "json"))
    # 徐汇店: m03 (g1), m04 (g2), m08 (g3): three different names → three batches, one per text
    assert p["personalised"] is True and p["batches"] == 3 and p["distinct_texts"] == 3
    p2 = _json(cli("push", "create", "--audience", "store:静安店", "--text", "{{ name }}好", "--dry-run", "--format", "json"))
    # 静安店 to send: g1 m01 m05 m07 m12 (m09 no id, m11 ok here), g2 m02 m06 → with one shared text
    # batch_size 3 would give g1: 2 batches (m01 m05 m07 m11 m12 = 5), g2: 1 → 3 calls; personalised: 7 calls
    assert (p2["batches"], p2["batches_without_personalisation"]) == (7, 3)
    with open_store(ws, read_only=True) as con:
        texts = dict(con.execute("SELECT r.member_id, b.text FROM push_recipients r JOIN push_batches b USING (campaign_id, batch_id)").fetchall())
    assert texts == {"m03": "小张，徐汇店新品到了", "m04": "小刘，徐汇店新品到了", "m08": "小黄，徐汇店新品到了"}


def test_unknown_template_variable_is_one_line_usage_error(ws, cli):
    r = cli("push", "create", "--audience", "all", "--text", "{{ nmae }} hi", expect=2)
    assert r.stderr.strip().startswith("error: template uses unknown variable(s) nmae")
    assert "Traceback" not in r.stderr


def test_frequency_cap_two_per_week_then_platform_cap(ws):
    now = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)  # a Wednesday
    for i in range(2):
        p = create_campaign(ws, CampaignSpec(channel="customer", audience="list:m01,m02", text=f"第{i}条"), now=now)
        assert p["to_send"] == 2
    third = create_campaign(ws, CampaignSpec(channel="customer", audience="list:m01,m03", text="第三条"), now=now)
    assert {e["member_id"]: e["reason"] for e in third["excluded"]} == {"m01": "frequency_cap"}
    # next Monday starts a new week: m01 is allowed again
    later = create_campaign(ws, CampaignSpec(channel="customer", audience="list:m01", text="下周"),
                            now=datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc))
    assert later["to_send"] == 1


def test_platform_cap_is_configurable(workspace):
    configure(workspace, extra="")
    text = (workspace / "siyu.toml").read_text(encoding="utf-8").replace('platform_cap = "days/month"', 'platform_cap = "1/day"')
    (workspace / "siyu.toml").write_text(text, encoding="utf-8")
    s = load_settings(workspace)
    seed(s)
    now = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)
    create_campaign(s, CampaignSpec(channel="customer", audience="list:m01", text="a"), now=now)
    p = create_campaign(s, CampaignSpec(channel="customer", audience="list:m01,m02", text="b"), now=now)
    assert [(e["member_id"], e["reason"]) for e in p["excluded"]] == [("m01", "platform_cap")]


def test_cancelled_campaign_frees_its_cap_slots(ws, cli):
    now = datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc)
    a = create_campaign(ws, CampaignSpec(channel="customer", audience="list:m01", text="a"), now=now)
    create_campaign(ws, CampaignSpec(channel="customer", audience="list:m01", text="b"), now=now)
    cli("push", "cancel", a["campaign_id"])
    p = create_campaign(ws, CampaignSpec(channel="customer", audience="list:m01", text="c"), now=now)
    assert p["to_send"] == 1


def test_quiet_hours_shown_in_preview(workspace):
    configure(workspace, extra="")
    cfg = workspace / "siyu.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('quiet_hours = ""', 'quiet_hours = "22:00-08:00"'), encoding="utf-8")
    s = load_settings(workspace)
    seed(s)
    late = datetime(2026, 11, 25, 15, 30, tzinfo=timezone.utc)  # 23:30 in Shanghai
    p = create_campaign(s, CampaignSpec(channel="customer", audience="list:m01", text="晚安"), now=late, dry_run=True)
    assert p["quiet_hours"]["held_until"].startswith("2026-11-26T08:00")
    noon = datetime(2026, 11, 25, 4, 0, tzinfo=timezone.utc)
    assert create_campaign(s, CampaignSpec(channel="customer", audience="list:m01", text="午安"), now=noon, dry_run=True)["quiet_hours"] is None


def test_audiences_tag_sql_group_staff(ws):
    p = create_campaign(ws, CampaignSpec(channel="customer", audience="tag:等级/VIP", text="x"), dry_run=True)
    assert p["to_send"] == 2
    p = create_campaign(ws, CampaignSpec(channel="customer", audience="tag:VIP", text="x"), dry_run=True)
    assert p["to_send"] == 2 and [e["member_id"] for e in p["excluded"]] == ["m10"]
    p = create_campaign(ws, CampaignSpec(channel="customer", audience="sql:SELECT member_id FROM members WHERE store = '徐汇店'", text="x"), dry_run=True)
    assert p["to_send"] == 3
    p = create_campaign(ws, CampaignSpec(channel="group", audience="all", text="{{ name }}早安"), dry_run=True)
    assert p["to_send"] == 2 and [e["reason"] for e in p["excluded"]] == ["no_owner"] and p["distinct_texts"] == 2
    p = create_campaign(ws, CampaignSpec(channel="app", audience="staff:g1,g2", text="今日SOP"), dry_run=True)
    assert p["to_send"] == 2 and p["batches"] == 1
    p = create_campaign(ws, CampaignSpec(channel="app", audience="guides:store:徐汇店", text="今日SOP"), dry_run=True)
    assert p["to_send"] == 3  # m03→g1, m04→g2, m08→g3


def test_segment_audience_uses_latest_snapshot(ws, cli):
    with open_store(ws) as con:
        con.execute("CREATE TABLE IF NOT EXISTS segment_snapshots (snapshot_id INTEGER PRIMARY KEY, created_at TIMESTAMPTZ, as_of DATE, scheme VARCHAR, params JSON, members BIGINT, label VARCHAR)")
        con.execute("CREATE TABLE IF NOT EXISTS segment_member_rows (snapshot_id INTEGER, member_id VARCHAR, recency_days INTEGER, frequency INTEGER, monetary DECIMAL(18,2), r_score INTEGER, f_score INTEGER, m_score INTEGER, segment_id VARCHAR, segment_name VARCHAR)")
        con.execute("INSERT INTO segment_snapshots (snapshot_id, scheme, members) VALUES (1, 'rfm8', 2), (2, 'rfm8', 3)")
        con.execute("INSERT INTO segment_member_rows (snapshot_id, member_id, segment_id, segment_name) VALUES "
                    "(1, 'm01', 'A', '重要价值客户'), (1, 'm02', 'A', '重要价值客户'), "
                    "(2, 'm03', 'A', '重要价值客户'), (2, 'm04', 'A', '重要价值客户'), (2, 'm05', 'B', '重要发展客户')")
    p = _json(cli("push", "create", "--audience", "segment:重要价值客户", "--text", "x", "--dry-run", "--format", "json"))
    assert (p["snapshot_id"], p["segment_id"], p["to_send"]) == (2, "A", 2)
    p = _json(cli("push", "create", "--audience", "segment:A@1", "--text", "x", "--dry-run", "--format", "json"))
    assert (p["snapshot_id"], p["to_send"]) == (1, 2)
    r = cli("push", "create", "--audience", "segment:Z", "--text", "x", expect=2)
    assert "no segment 'Z' in snapshot 2" in r.stderr


def test_optout_cli_add_list_remove_import(ws, cli, tmp_path):
    cli("optout", "add", "m01", "wm02", "--channel", "customer")
    f = tmp_path / "optouts.csv"
    f.write_text("手机号,备注\n13800000003,退订\n13800000004,\n", encoding="utf-8")
    d = _json(cli("optout", "import", str(f), "--format", "json"))
    assert d == {"read": 2, "added": 2, "already": 0}
    listed = _json(cli("optout", "list", "--format", "json"))
    assert sorted(r["member_id"] for r in listed) == ["138****0003", "138****0004", "m01", "wm02"]
    p = create_campaign(ws, CampaignSpec(channel="customer", audience="list:m01,m02,m03,m04,m05", text="x"), dry_run=True)
    assert sorted(e["member_id"] for e in p["excluded"]) == ["m01", "m02", "m03", "m04"]
    # a customer-channel opt-out does not stop group posts; 'all' does
    cli("optout", "remove", "m01")
    p = create_campaign(ws, CampaignSpec(channel="customer", audience="list:m01", text="x"), dry_run=True)
    assert p["to_send"] == 1
    cli("optout", "add", "x", "--channel", "sms", expect=2)


def test_sop_audience_from_plan_due_messages(ws):
    """sop:PLAYBOOK:STEP — members whose SOP step is due today (plan.due_messages), as a customer campaign."""

    from zoneinfo import ZoneInfo

    pb_dir = ws.root / "playbooks"
    for p in list(pb_dir.glob("*.yaml")):
        if p.name != "beauty-sop.yaml":
            p.unlink()
    noon = datetime(2026, 11, 25, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with open_store(ws) as con:
        con.execute("UPDATE members SET join_at = ? WHERE member_id IN ('m01', 'm02')", [noon.replace(hour=9)])
        con.execute("UPDATE members SET join_at = ? WHERE member_id = 'm03'", [noon.replace(day=22, hour=9)])
    spec = CampaignSpec(channel="customer", audience="sop:beauty-sop:d0-welcome", text="x")
    with pytest.raises(UsageError, match="not enabled"):  # an inactive playbook is nobody's audience
        create_campaign(ws, spec, now=noon, dry_run=True)
    set_enabled(ws, ["beauty-sop"], enable=True)
    p = create_campaign(ws, spec, now=noon, dry_run=True)
    assert p["to_send"] == 2 and {s["sender"] for s in p["senders"]} == {"g1", "g2"}
    p = create_campaign(ws, CampaignSpec(channel="customer", audience="sop:beauty-sop", text="x"), now=noon, dry_run=True)
    assert p["to_send"] == 3  # day 0 for m01, m02 and day 3 for m03


@pytest.mark.zh
def test_preview_reads_in_the_operators_language(ws, cli, monkeypatch):
    """The preview panel, its tables' headers and the exclusion reasons come from the catalogue: Chinese by
    default, English with --lang en; the reason ids (and JSON keys) stay English (issue 15)."""
    monkeypatch.setenv("COLUMNS", "200")
    cli("optout", "add", "138-0000-0011", "--reason", "asked")
    zh = cli("push", "create", "--audience", "all", "--text", "双十二预告", "--dry-run").stdout
    for text in ("群发预览", "试运行：未保存任何内容", "对象：12", "发送人", "批次", "含义", "非任何导购的好友", "已退订",
                 "not_contact", "opted_out"):
        assert text in zh, text
    assert "push preview" not in zh and "recipients:" not in zh and "sender" not in zh
    en = cli("--lang", "en", "push", "create", "--audience", "all", "--text", "双十二预告", "--dry-run").stdout
    for text in ("push preview", "(dry run: nothing stored)", "recipients: 12", "sender", "meaning",
                 "not a contact of any guide", "opted out", "not_contact"):
        assert text in en, text
    data = json.loads(cli("push", "create", "--audience", "all", "--text", "x", "--dry-run", "--format", "json").stdout)
    assert {e["reason"] for e in data["excluded"]} == {"no_wecom_id", "not_contact", "opted_out"}
    assert {e["reason_name"] for e in data["excluded"]} == {"无企业微信ID", "非任何导购的好友", "已退订"}
