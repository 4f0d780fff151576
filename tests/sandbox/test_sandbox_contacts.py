"""The sandbox's sync and tag endpoints over real HTTP: shapes, limits, errcodes, relation changes."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from siyu_cli.sandbox import SandboxServer
from siyu_cli.wecom.errors import WeComError
from wecom_helpers import make_client

HTTP = httpx.Client(trust_env=False, timeout=10)


@pytest.fixture
def sb():
    with SandboxServer(seed="synthetic", synthetic={"staff": 3, "customers": 30, "groups": 3}) as server:
        yield server


def raw(sb, client, path, body):
    return HTTP.post(f"{sb.url}/cgi-bin/{path}", params={"access_token": client.access_token()}, json=body).json()


def all_pairs(client, userids, limit=7):
    pairs, cursor, pages = [], "", 0
    while True:
        items, cursor = client.batch_get_by_user_page(userids, cursor, limit)
        pages += 1
        pairs += [(i["external_contact"]["external_userid"], i["follow_info"]["userid"]) for i in items]
        if not cursor:
            return pairs, pages


def test_batch_get_by_user_pages_one_item_per_customer_and_guide(sb):
    client = make_client(sb)
    pairs, pages = all_pairs(client, ["guide01", "guide02", "guide03"])
    assert set(pairs) == sb.state.live_relations() and len(pairs) == len(set(pairs)) == 36  # 30 + 6 second followers
    assert pages == 6  # 36 items, 7 per page
    # a customer followed by two requested guides comes once per guide, each with that guide's follow_info
    both = [p for p in pairs if p[0] == "wmsandbox0005"]
    assert sorted(u for _, u in both) == ["guide02", "guide03"]
    items, _ = client.batch_get_by_user_page(["guide03"], "", 100)
    item = next(i for i in items if i["external_contact"]["external_userid"] == "wmsandbox0012")
    assert item["external_contact"]["unionid"] == "oSandboxUnion0012"
    assert item["follow_info"]["remark_mobiles"] == ["13800000012"]
    assert set(item["follow_info"]) >= {"remark", "description", "createtime", "tag_id", "add_way", "oper_userid"}


def test_batch_get_by_user_limits_and_errcodes(sb):
    client = make_client(sb)
    r = raw(sb, client, "externalcontact/batch/get_by_user", {"userid": "guide01"})
    assert r["errcode"] == 40058  # the old single-userid parameter is refused
    r = raw(sb, client, "externalcontact/batch/get_by_user", {"userid_list": [f"u{i}" for i in range(101)]})
    assert r["errcode"] == 40058
    r = raw(sb, client, "externalcontact/batch/get_by_user", {"userid_list": ["guide01"], "limit": 500})
    assert r["errcode"] == 0 and len(r["external_contact_list"]) == 12  # clamps to 100; guide01 has 12
    r = raw(sb, client, "externalcontact/batch/get_by_user", {"userid_list": ["nobody"]})
    assert r["errcode"] == 40003
    with pytest.raises(Exception):
        client.batch_get_by_user_page([f"u{i}" for i in range(101)])


def test_relation_changes_between_pages_of_syncs(sb):
    client = make_client(sb)
    before, _ = all_pairs(client, ["guide01"])
    HTTP.post(f"{sb.url}/sandbox/contacts", json={"action": "remove_friend", "external_userid": "wmsandbox0001",
                                                  "userid": "guide01"}).raise_for_status()
    HTTP.post(f"{sb.url}/sandbox/contacts", json={"action": "add", "external_userid": "wmnew", "userid": "guide01",
                                                  "unionid": "oNew", "remark_mobiles": ["13912345678"]}).raise_for_status()
    after, _ = all_pairs(client, ["guide01"])
    assert set(before) - set(after) == {("wmsandbox0001", "guide01")}
    assert set(after) - set(before) == {("wmnew", "guide01")}
    HTTP.post(f"{sb.url}/sandbox/contacts", json={"action": "leave_group", "external_userid": "wmsandbox0001",
                                                  "chat_id": "wrsandbox01"}).raise_for_status()
    members = [m["userid"] for m in client.groupchat_get("wrsandbox01")["member_list"]]
    assert "wmsandbox0001" not in members and "wmsandbox0004" in members


def test_corp_tags_add_and_mark(sb):
    client = make_client(sb)
    groups = client.get_corp_tag_list()
    assert [g["group_name"] for g in groups] == ["客户等级"]
    created = client.add_corp_tag(group_name="RFM分层", tags=["重要价值", "重要保持"])
    assert [t["name"] for t in created["tag"]] == ["重要价值", "重要保持"]
    more = client.add_corp_tag(group_id=created["group_id"], tags=["一般发展"])  # same group by id
    assert more["group_id"] == created["group_id"]
    with pytest.raises(WeComError) as e:
        client.add_corp_tag(group_name="RFM分层", tags=["重要价值"])
    assert e.value.errcode == 40071
    with pytest.raises(WeComError) as e:
        client.add_corp_tag(group_name="RFM分层", tags=["长" * 31])
    assert e.value.errcode == 40072
    tid = created["tag"][0]["id"]
    client.mark_tag(userid="guide01", external_userid="wmsandbox0001", add=[tid])
    assert sb.state.tag_names_of("wmsandbox0001", "guide01", "RFM分层") == ["重要价值"]
    with pytest.raises(WeComError) as e:
        client.mark_tag(userid="guide02", external_userid="wmsandbox0001", add=[tid])
    assert e.value.errcode == 84061
    with pytest.raises(WeComError) as e:
        client.mark_tag(userid="guide01", external_userid="wmsandbox0001", add=["etnope"])
    assert e.value.errcode == 40068
    assert sb.state.counters["mark_tag"] == 1
    filtered = client.get_corp_tag_list(group_ids=[created["group_id"]])
    assert len(filtered[0]["tag"]) == 3 and filtered[0]["deleted"] is False


def test_tag_library_limit(sb):
    sb.state.tag_limit = 5  # 3 seeded
    client = make_client(sb)
    client.add_corp_tag(group_name="A", tags=["x", "y"])
    with pytest.raises(WeComError) as e:
        client.add_corp_tag(group_name="A", tags=["z"])
    assert e.value.errcode == 40058


def _midnight(days_ago: int) -> int:
    d = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(hour=0, minute=0, second=0, microsecond=0)
    return int((d - dt.timedelta(days=days_ago)).timestamp())


def test_behavior_data_one_series_per_call_and_range_limits(sb):
    client = make_client(sb)
    one = client.get_user_behavior_data("guide01", _midnight(3), _midnight(1))
    assert [r["stat_time"] for r in one] == [_midnight(3), _midnight(2), _midnight(1)]
    two = client.get_user_behavior_data("guide02", _midnight(3), _midnight(1))
    combined = raw(sb, client, "externalcontact/get_user_behavior_data",
                   {"userid": ["guide01", "guide02"], "start_time": _midnight(3), "end_time": _midnight(1)})
    assert [r["chat_cnt"] for r in combined["behavior_data"]] == [a["chat_cnt"] + b["chat_cnt"] for a, b in zip(one, two)]
    for r in one:
        assert ("reply_percentage" in r) == (r["chat_cnt"] > 0)
    too_long = raw(sb, client, "externalcontact/get_user_behavior_data",
                   {"userid": ["guide01"], "start_time": _midnight(40), "end_time": _midnight(1)})
    assert too_long["errcode"] == 40058
    too_old = raw(sb, client, "externalcontact/get_user_behavior_data",
                  {"userid": ["guide01"], "start_time": _midnight(200), "end_time": _midnight(190)})
    assert too_old["errcode"] == 40058


def test_groupchat_statistic_by_owner(sb):
    client = make_client(sb)
    items = client.groupchat_statistic(["guide01", "guide02", "guide03"], _midnight(1))
    assert [i["owner"] for i in items] == ["guide01", "guide02", "guide03"]
    assert items[0]["data"]["chat_total"] == 1 and items[0]["data"]["member_total"] == 10
    r = raw(sb, client, "externalcontact/groupchat/statistic",
            {"day_begin_time": _midnight(1), "owner_filter": {"userid_list": [f"u{i}" for i in range(101)]}})
    assert r["errcode"] == 81017


def test_sandbox_contact_cli(sb, cli):
    cli("sandbox", "contact", "add", "wmcli", "guide02", "--unionid", "oCli", "--phone", "13700000000", "--url", sb.url)
    assert ("wmcli", "guide02") in sb.state.live_relations()
    assert sb.state.contact_details["wmcli"]["unionid"] == "oCli"
    cli("sandbox", "contact", "remove", "wmcli", "guide02", "--url", sb.url)
    assert ("wmcli", "guide02") not in sb.state.live_relations()
    cli("sandbox", "contact", "join", "wmcli", "wrsandbox02", "--url", sb.url)
    assert "wmcli" in sb.state.groups["wrsandbox02"]["members"]
    r = cli("sandbox", "contact", "bogus", "a", "b", "--url", sb.url, expect=2)
    assert "action must be" in r.stderr
