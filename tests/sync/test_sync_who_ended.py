"""Who ended a relation: the guide removing the customer (WeCom's del_external_contact) vs the customer deleting
the guide (del_follow_user) — in the sandbox, in what `siyu sync wecom` records, in the report and as SOP anchors."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import httpx
import pytest

from push_helpers import configure
from siyu_cli.config import load_settings
from siyu_cli.sandbox import SandboxServer
from siyu_cli.sync.wecom import sync_wecom
from store_helpers import q
from wecom_helpers import make_client

REMOVED = ("wmsandbox0003", "guide03")  # the guide removes the customer
DELETED = ("wmsandbox0004", "guide01")  # the customer deletes the guide


@pytest.fixture
def sb():
    with SandboxServer(seed="synthetic", synthetic={"staff": 3, "customers": 30, "groups": 3}) as server:
        yield server


def listed(sb, client, userid) -> set[str]:
    items, _ = client.batch_get_by_user_page([userid], "", 100)
    return {i["external_contact"]["external_userid"] for i in items}


def test_sandbox_models_both_sides_over_http_and_from_the_cli(sb, settings, cli, monkeypatch):
    client = make_client(sb, settings)
    for k, v in sb.env().items():
        monkeypatch.setenv(k, v)
    cli("sandbox", "contact", "remove", *REMOVED)  # --by guide is the default
    cli("sandbox", "contact", "remove", *DELETED, "--by", "customer")
    assert REMOVED[0] not in listed(sb, client, REMOVED[1])  # gone from the guide's list
    assert DELETED[0] in listed(sb, client, DELETED[1])      # still listed on the guide's side (one-way)
    calls = httpx.get(f"{sb.url}/sandbox/callbacks").json()["callbacks"]
    assert [(c["ChangeType"], c["ExternalUserID"], c["UserID"]) for c in calls] == [
        ("del_external_contact", *REMOVED), ("del_follow_user", *DELETED)]
    r = cli("sandbox", "contact", "remove", *DELETED, "--by", "nobody", expect=2)
    assert "--by must be guide or customer" in r.stderr
    # a mass send to the customer who deleted the guide is accepted, then fails as "not a friend" (status 2)
    msg = client.add_msg_template(chat_type="single", sender=DELETED[1], external_userid=[DELETED[0]], text="hi")
    sb.confirm()
    res = client.get_groupmsg_send_result(msg["msgid"], DELETED[1])
    assert [(x["external_userid"], x["status"]) for x in res] == [(DELETED[0], 2)]


def test_sync_records_who_ended_each_relation_report_and_sop_anchors(settings, sb, cli, monkeypatch, tmp_path):
    configure(settings.root)  # push settings without quiet hours
    settings = load_settings(settings.root)
    client = make_client(sb, settings)
    for k, v in sb.env().items():
        monkeypatch.setenv(k, v)
    sync_wecom(settings, client=client, activity=False)
    sb.state.remove_friend(*REMOVED, by="guide")
    sb.state.remove_friend(*DELETED, by="customer")
    # a pull sync alone sees only the guide's removal: the customer's deletion leaves the relation listed
    r = sync_wecom(settings, client=client, activity=False)
    assert r.events == {"contact_removed": 1}
    # the evidence a pull can see: a mass send from that guide comes back "not a friend"
    mid = q(settings, "SELECT member_id FROM members WHERE external_userid = ?", [DELETED[0]])[0][0]
    cid = json.loads(cli("push", "create", "--audience", f"list:{mid}", "--text", "新品到店",
                         "--format", "json").stdout)["campaign_id"]
    cli("push", "send", cid)
    sb.confirm()
    st = json.loads(cli("push", "status", cid, "--format", "json").stdout)
    assert st["delivery"] == {"not_friend": 1}
    r = sync_wecom(settings, client=client, activity=False)
    assert r.events == {"contact_deleted": 1}
    events = set(q(settings, "SELECT kind, external_userid, staff_userid FROM contact_events"))
    assert events == {("contact_removed", *REMOVED), ("contact_deleted", *DELETED)}
    assert sync_wecom(settings, client=client, activity=False).events == {}  # one event per relation, not per sync
    # the report counts them apart, per guide too
    from siyu_cli.report import build_report

    ev = build_report(settings).sections["contact_events"]
    assert (ev["totals"]["contact_removed"], ev["totals"]["contact_deleted"], ev["totals"]["contact_lost"]) == (1, 1, 2)
    by = {g["guide"]: (g["removed"], g["deleted"]) for g in ev["by_guide"]}
    assert by == {REMOVED[1]: (1, 0), DELETED[1]: (0, 1)}
    out = cli("report", "--format", "csv").stdout
    assert "contact_events,,contact_deleted,客户删除导购,1" in out and "contact_events,,contact_removed,导购删除客户,1" in out
    # SOP anchors: each kind, and contact_lost = either
    from siyu_cli.plan import load_playbook, sop_due

    who = dict(q(settings, "SELECT external_userid, member_id FROM members WHERE external_userid IN (?, ?)",
                 [REMOVED[0], DELETED[0]]))
    for anchor, expected in (("contact_removed", {who[REMOVED[0]]}), ("contact_deleted", {who[DELETED[0]]}),
                             ("contact_lost", {who[REMOVED[0]], who[DELETED[0]]})):
        f = tmp_path / f"{anchor}.yaml"
        f.write_text(f"""version: 1
name: {anchor.replace('_', '-')}
title: 挽回
sop:
  anchor: {anchor}
  audience: all
  channel: app
  time: "10:00"
  steps:
    - id: d0
      day: 0
      kind: 召回
      template: "{{{{ member.display_name }}}}"
""", encoding="utf-8")
        pb = load_playbook(f)
        days = {e.astimezone(ZoneInfo(pb.timezone)).date() for (e,) in q(settings, "SELECT event_at FROM contact_events")}
        got = {i.member_id for d in days for i in sop_due(settings, d, [pb]).items}
        assert got == expected, anchor
