"""The workspace-wide send budget: per customer per week (push.cap) and per group per day (push.group_cap),
across playbooks and campaigns, enforced again at send time in the ledger."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from push_helpers import per_recipient, sb, ws  # noqa: F401 (ws, sb: fixtures)
from siyu_cli.push import CampaignSpec, create_campaign, send_campaign
from siyu_cli.store import open_store

TZ = ZoneInfo("Asia/Shanghai")

SOP = """\
version: 1
name: {name}
sop:
  channel: customer
  time: "00:00"
  audience: {{tags: [VIP]}}
  steps:
    - {{id: d0, day: 0, template: "{text}"}}
"""


def set_push(settings, line: str):
    """Replace the push_helpers `cap = "2/week"` line of [push]; return the settings reloaded."""
    from siyu_cli.config import load_settings

    cfg = settings.config_file
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('\ncap = "2/week"\n', f"\n{line}\n"), encoding="utf-8")
    return load_settings(settings.root)


def rows(settings, sql, params=()):
    with open_store(settings, read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_budget_caps_a_customer_targeted_by_two_playbooks_and_a_campaign(ws, sb, cli):
    """cap = 2/week: a VIP who joined today is due the day-0 step of two SOPs, and a campaign targets them too."""
    for name, text in (("sop-a", "欢迎A"), ("sop-b", "欢迎B")):
        (ws.root / "playbooks" / f"{name}.yaml").write_text(SOP.format(name=name, text=text), encoding="utf-8")
    with open(ws.config_file, "a", encoding="utf-8") as fh:
        fh.write('\n[pipelines.hourly]\nsteps = [{type = "push_due", first_window = "24h"}]\n')
    with open_store(ws) as con:  # m01 joined today (any date): both SOPs' day-0 step (00:00) is due now
        con.execute("UPDATE members SET join_at = now() WHERE member_id = 'm01'")
    # the campaign is prepared first, while m01 has had nothing this week
    made = json.loads(cli("push", "create", "--channel", "customer", "--audience", "list:m01", "--text", "周末活动",
                          "--id", "camp1", "--format", "json").stdout)
    assert made["to_send"] == 1
    cli("plan", "enable", "sop-a", "sop-b")
    res = cli("run", "hourly", "--format", "json", expect=None)
    assert res.exit_code == 0, res.stderr
    cli("push", "send", "camp1")
    sb.confirm()
    assert per_recipient(sb.deliveries())["wm01"] == 2  # two messages this week, not three
    got = rows(ws, "SELECT c.campaign_id, coalesce(c.due_key, ''), r.state, r.reason FROM push_recipients r "
                   "JOIN push_campaigns c USING (campaign_id) WHERE r.recipient_id = 'wm01' ORDER BY c.created_at")
    assert [(state, reason) for _c, _k, state, reason in got].count(("skipped", "frequency_cap")) == 1
    assert [state for *_x, state, _r in got].count("sent") == 2
    # m02 (also VIP, joined long ago) is due nothing: the budget never sends more, only less
    assert "wm02" not in per_recipient(sb.deliveries())


def test_budget_is_enforced_at_send_time_when_two_campaigns_were_both_prepared(ws, sb):
    """Two campaigns built while the customer was within budget (one scheduled for next week, then sent early):
    the send that comes second finds the budget used and records the customer as skipped, never sent."""
    ws = set_push(ws, 'cap = "1/week"')
    now = datetime.now(TZ)
    later = create_campaign(ws, CampaignSpec(channel="customer", audience="list:m01,m02", text="下周活动",
                                             campaign_id="later", scheduled_at=now + timedelta(days=7)), now=now)
    today = create_campaign(ws, CampaignSpec(channel="customer", audience="list:m01", text="今天活动",
                                             campaign_id="today"), now=now)
    assert later["to_send"] == 2 and today["to_send"] == 1  # at creation both fit the budget
    assert send_campaign(ws, "today", now=now).status == "sent"
    rep = send_campaign(ws, "later", now=now)  # sent early, by hand or by another process
    assert rep.states == {"sent": 1, "skipped": 1}
    assert rows(ws, "SELECT recipient_id, state, reason FROM push_recipients WHERE campaign_id = 'later' ORDER BY 1") == [
        ("wm01", "skipped", "frequency_cap"), ("wm02", "sent", None)]
    sb.confirm()
    assert per_recipient(sb.deliveries()) == {"wm01": 1, "wm02": 1}


def test_group_budget_per_day_across_playbooks_and_campaigns(ws, sb, cli):
    """group_cap = 2/day: a third post to the same group that day is held back (preview and ledger say why)."""
    set_push(ws, 'cap = "2/week"\ngroup_cap = "2/day"')
    for n in (1, 2, 3):
        p = json.loads(cli("push", "create", "--channel", "group", "--audience", "group:wr01,wr02", "--text", f"第{n}条",
                           "--id", f"g{n}", "--format", "json").stdout)
        cli("push", "send", f"g{n}")
    assert p["excluded_by_reason"]["group_cap"]["count"] == 2 and p["to_send"] == 0  # shown in the preview
    sb.confirm()
    assert per_recipient(sb.deliveries(), "group") == {"wr01": 2, "wr02": 2}
    assert rows(ws, "SELECT recipient_id, reason FROM push_recipients WHERE campaign_id = 'g3' ORDER BY 1") == [
        ("wr01", "group_cap"), ("wr02", "group_cap")]
