"""What a WeCom sync feeds: activity days, the report's sections, the contact-event SOP anchor, the nightly pipeline."""

from __future__ import annotations

import datetime as dt
import json
import os
from zoneinfo import ZoneInfo

import pytest

from siyu_cli.config import load_settings
from siyu_cli.sandbox import SandboxServer
from siyu_cli.sync.wecom import sync_wecom
from store_helpers import q
from wecom_helpers import make_client


@pytest.fixture
def sb():
    with SandboxServer(seed="synthetic", synthetic={"staff": 3, "customers": 30, "groups": 3}) as server:
        yield server


def test_activity_fetches_only_days_not_yet_stored(settings, sb):
    client = make_client(sb, settings)
    r = sync_wecom(settings, client=client, activity_days=5)
    assert r.activity == {"behavior_days": 15, "group_stat_days": 15}  # 3 guides × 5 days
    today = dt.datetime.now(ZoneInfo(settings.timezone)).date()
    days = [d for (d,) in q(settings, "SELECT DISTINCT day FROM wecom_behavior ORDER BY 1")]
    assert days == [today - dt.timedelta(days=k) for k in range(5, 0, -1)]  # up to yesterday
    # the stored figures are the sandbox's, one series per guide (not a combined one)
    y = today - dt.timedelta(days=1)
    midnight = int(dt.datetime.combine(y, dt.time(), ZoneInfo(settings.timezone)).timestamp())
    want = sb.state.behavior_for("guide02", midnight)
    got = q(settings, "SELECT chat_cnt, message_cnt, negative_feedback_cnt FROM wecom_behavior "
                      "WHERE userid = 'guide02' AND day = ?", [y])
    assert got == [(want["chat_cnt"], want["message_cnt"], want["negative_feedback_cnt"])]
    calls = sb.state.endpoint_calls.get("externalcontact/get_user_behavior_data", 0)
    again = sync_wecom(settings, client=client, activity_days=5)
    assert again.activity == {"behavior_days": 0, "group_stat_days": 0}
    assert sb.state.endpoint_calls.get("externalcontact/get_user_behavior_data", 0) == calls


@pytest.mark.zh  # the dashboard is asserted in Chinese, the default
def test_report_shows_contact_events_guide_activity_and_group_health(settings, sb, cli):
    from siyu_cli.report import build_report
    from siyu_cli.report.terminal import render_text

    client = make_client(sb, settings)
    sync_wecom(settings, client=client, activity_days=3)
    sb.state.remove_friend("wmsandbox0001", "guide01")
    sb.state.leave_group("wrsandbox02", "wmsandbox0002")
    sync_wecom(settings, client=client, activity_days=3)
    rep = build_report(settings)
    # 在线率: wmsandbox0001 lost its only guide; its member keeps the external_userid but is not reachable
    assert rep.kpis["reachable_members"] == 29 and rep.kpis["online_rate"] == pytest.approx(29 / 30)
    ev = rep.sections["contact_events"]
    assert ev["totals"] == {"contact_added": 0, "contact_removed": 1, "contact_deleted": 0, "contact_lost": 1,
                            "group_joined": 0, "group_left": 1}
    assert ev["by_guide"] == [{"guide": "guide01", "name": "导购1", "added": 0, "removed": 1, "deleted": 0,
                               "lost": 1}]  # the name from user/get
    assert {r["guide"] for r in rep.sections["guide_activity"]} == {"guide01", "guide02", "guide03"}
    gh = {r["owner"]: r for r in rep.sections["group_health"]}
    assert gh["guide02"]["left"] == 1 and gh["guide01"]["groups"] == 1
    text = render_text(rep)
    assert "好友流失 1" in text and "导购活跃榜" in text and "社群健康度" in text
    out = cli("report", "--format", "csv").stdout
    assert "contact_events,,contact_lost" in out
    cli("report", "--html", str(settings.root / "r.html"))
    page = (settings.root / "r.html").read_text(encoding="utf-8")
    assert "好友与群变动" in page and "导购活跃榜（企微联系客户统计）" in page and "社群健康度" in page


def test_sop_anchor_contact_lost(settings, sb, tmp_path):
    from siyu_cli.plan import load_playbook, sop_due

    client = make_client(sb, settings)
    sync_wecom(settings, client=client, activity=False)
    sb.state.remove_friend("wmsandbox0007", "guide01")
    sync_wecom(settings, client=client, activity=False)
    pb_file = tmp_path / "lost.yaml"
    pb_file.write_text("""\
version: 1
name: lost
title: 好友流失挽回
sop:
  anchor: contact_lost
  audience: all
  channel: app
  time: "10:00"
  steps:
    - id: d0-tell-guide
      day: 0
      kind: 召回
      template: "{{ member.display_name }} 删除了你，请换一位导购联系"
""", encoding="utf-8")
    pb = load_playbook(pb_file)
    today = dt.datetime.now(ZoneInfo(pb.timezone)).date()
    due = sop_due(settings, today, [pb])
    mid = q(settings, "SELECT member_id FROM members WHERE external_userid = 'wmsandbox0007'")[0][0]
    assert [i.member_id for i in due.items] == [mid]
    assert sop_due(settings, today + dt.timedelta(days=1), [pb]).items == []


def test_nightly_gains_sync_and_tags_steps_when_wecom_is_configured(workspace, sb, tmp_path, siyu_subprocess):
    from siyu_cli.runner.pipeline import load_pipelines

    assert [s.type for s in load_pipelines(load_settings(workspace))["nightly"].steps] == ["load", "segment", "report"]
    cfg = workspace / "siyu.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + '\n[wecom]\ntoken_cache = "store"\n', encoding="utf-8")
    assert [s.type for s in load_pipelines(load_settings(workspace))["nightly"].steps] == ["load", "sync", "segment",
                                                                                          "report"]
    cfg.write_text(cfg.read_text(encoding="utf-8") + '\n[wecom.tags]\ngroup = "RFM分层"\n', encoding="utf-8")
    assert [s.type for s in load_pipelines(load_settings(workspace))["nightly"].steps] == ["load", "sync", "segment",
                                                                                          "tags", "report"]
    secret = tmp_path / "secret"
    secret.write_text(sb.secret)
    os.chmod(secret, 0o600)
    proc = siyu_subprocess("run", "nightly", "--format", "json", env=sb.env(secret_file=secret))
    assert proc.returncode == 0, proc.stderr
    steps = {s["step"]: s for s in json.loads(proc.stdout)["steps"]}
    assert steps["sync"]["counts"]["relations"]["added"] == 36
    assert steps["tags"]["counts"]["done"] == 36  # every member has a segment (no purchase) tag now
    assert sb.secret not in proc.stdout + proc.stderr
