"""The sandbox's WeCom model over real HTTP: mass-send lifecycle, quota, routing, remind, cancel, persistence."""

from __future__ import annotations

import time

import httpx
import pytest

from siyu_cli.sandbox import SandboxServer
from siyu_cli.wecom.errors import WeComError
from wecom_helpers import make_client

HTTP = httpx.Client(trust_env=False, timeout=10)  # one client: creating one per request is slow (SSL context)


@pytest.fixture
def sb():
    with SandboxServer(confirm="manual") as server:
        yield server


def send(client, ids, text="新品到店", sender="guide01"):
    return client.add_msg_template(chat_type="single", sender=sender, external_userid=ids, text=text)


def results(client, msgid):
    out = {}
    for task in client.get_groupmsg_task(msgid):
        for row in client.get_groupmsg_send_result(msgid, task["userid"]):
            out[row.get("external_userid") or row.get("chat_id")] = (task["userid"], row["status"])
    return out


def test_lifecycle_create_pending_confirm_results(sb):
    client = make_client(sb)
    r = send(client, ["wmsandbox0001", "wmsandbox0004"])
    assert r["fail_list"] == []
    # created, nothing delivered: the guide has not confirmed
    assert client.get_groupmsg_task(r["msgid"]) == [{"userid": "guide01", "status": 0}]
    assert results(client, r["msgid"]) == {"wmsandbox0001": ("guide01", 0), "wmsandbox0004": ("guide01", 0)}
    assert sb.deliveries() == []
    assert sb.confirm(r["msgid"]) == 1
    [task] = client.get_groupmsg_task(r["msgid"])
    assert task["status"] == 2 and task["send_time"] > 0
    sent = client.get_groupmsg_send_result(r["msgid"], "guide01")
    assert {row["external_userid"]: row["status"] for row in sent} == {"wmsandbox0001": 1, "wmsandbox0004": 1}
    assert all("send_time" in row for row in sent)
    assert sorted((d["channel"], d["recipient"], d["sender"], d["text"]) for d in sb.deliveries()) == [
        ("customer", "wmsandbox0001", "guide01", "新品到店"), ("customer", "wmsandbox0004", "guide01", "新品到店")]
    assert sb.confirm(r["msgid"]) == 0  # nothing left to confirm


def test_routing_to_the_last_interacting_guide(sb):
    # synthetic seed: wmsandbox0005 is followed by guide02 (added first) and guide03 (interacted last)
    client = make_client(sb)
    r = send(client, ["wmsandbox0005", "wmsandbox0002"], sender="guide02")
    assert sorted(t["userid"] for t in client.get_groupmsg_task(r["msgid"])) == ["guide02", "guide03"]
    assert results(client, r["msgid"]) == {"wmsandbox0005": ("guide03", 0), "wmsandbox0002": ("guide02", 0)}
    sb.state.set_last_interaction("wmsandbox0005", "guide02")
    r2 = send(client, ["wmsandbox0005"], sender="guide02", text="second")
    assert results(client, r2["msgid"]) == {"wmsandbox0005": ("guide02", 0)}


def test_unknown_recipients_go_to_fail_list(sb):
    client = make_client(sb)
    r = send(client, ["wmsandbox0001", "wm-nobody"])
    assert r["fail_list"] == ["wm-nobody"]
    assert set(results(client, r["msgid"])) == {"wmsandbox0001"}


def test_auto_confirm_after_delay():
    with SandboxServer(confirm="auto", confirm_delay=0.3) as sb:
        client = make_client(sb)
        r = send(client, ["wmsandbox0001"])
        assert client.get_groupmsg_task(r["msgid"])[0]["status"] == 0
        time.sleep(0.35)
        assert client.get_groupmsg_task(r["msgid"])[0]["status"] == 2
        assert [d["recipient"] for d in sb.deliveries()] == ["wmsandbox0001"]


def test_never_confirm():
    with SandboxServer(confirm="never") as sb:
        client = make_client(sb)
        r = send(client, ["wmsandbox0001"])
        assert sb.confirm() == 0
        assert client.get_groupmsg_task(r["msgid"])[0]["status"] == 0
        assert sb.deliveries() == []


def test_per_customer_quota_status_3_and_41048():
    with SandboxServer(confirm="manual", quota={"period": "day", "limit": 1}) as sb:
        client = make_client(sb)
        first = send(client, ["wmsandbox0001", "wmsandbox0004"], text="one")
        sb.confirm()
        second = send(client, ["wmsandbox0001", "wmsandbox0007"], text="two")  # 0007 still has quota
        sb.confirm()
        assert results(client, second["msgid"]) == {"wmsandbox0001": ("guide01", 3), "wmsandbox0007": ("guide01", 1)}
        with pytest.raises(WeComError) as info:  # everyone over quota: nothing to send
            send(client, ["wmsandbox0001", "wmsandbox0004"], text="three")
        assert info.value.errcode == 41048
        assert sorted((d["text"], d["recipient"]) for d in sb.deliveries()) == [
            ("one", "wmsandbox0001"), ("one", "wmsandbox0004"), ("two", "wmsandbox0007")]
        assert first["msgid"] != second["msgid"]


def test_default_quota_is_days_in_month():
    with SandboxServer(confirm="manual") as sb:
        import calendar
        import datetime as dt

        today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8)))
        assert sb.state._quota_limit(time.time()) == calendar.monthrange(today.year, today.month)[1]


def test_not_a_friend_status_2(sb):
    client = make_client(sb)
    r = send(client, ["wmsandbox0001", "wmsandbox0004"])
    sb.state.remove_friend("wmsandbox0004", "guide01")  # the customer deleted the guide before confirmation
    sb.confirm()
    assert results(client, r["msgid"]) == {"wmsandbox0001": ("guide01", 1), "wmsandbox0004": ("guide01", 2)}
    assert [d["recipient"] for d in sb.deliveries()] == ["wmsandbox0001"]


def test_remind_limit_three_per_day(sb):
    client = make_client(sb)
    r = send(client, ["wmsandbox0001"])
    for _ in range(3):
        client.remind_groupmsg_send(r["msgid"])
    with pytest.raises(WeComError) as info:
        client.remind_groupmsg_send(r["msgid"])
    assert info.value.errcode == 45009
    assert sb.remind_count(r["msgid"]) == 3
    assert client.stats["retries"] == 0  # not retried: waiting seconds will not help


def test_cancel_stops_unconfirmed_tasks(sb):
    client = make_client(sb)
    r = send(client, ["wmsandbox0001", "wmsandbox0005"])  # two guides
    sb.confirm(sender="guide03")  # guide03 already sent
    client.cancel_groupmsg_send(r["msgid"])
    assert sb.confirm() == 0
    assert results(client, r["msgid"]) == {"wmsandbox0001": ("guide01", 0), "wmsandbox0005": ("guide03", 1)}
    assert [d["recipient"] for d in sb.deliveries()] == ["wmsandbox0005"]  # already sent: not recalled


def test_unknown_msgid(sb):
    client = make_client(sb)
    with pytest.raises(WeComError) as info:
        client.get_groupmsg_task("msgNOPE")
    assert info.value.errcode == 41047


def test_group_mass_send(sb):
    client = make_client(sb)
    r = client.add_msg_template(chat_type="group", sender="guide01", chat_id_list=["wrsandbox01", "wrsandbox02"],
                                text="今晚8点直播")
    assert r["fail_list"] == ["wrsandbox02"]  # owned by guide02
    sb.confirm()
    assert client.get_groupmsg_send_result(r["msgid"], "guide01") == [
        {"chat_id": "wrsandbox01", "userid": "guide01", "status": 1,
         "send_time": client.get_groupmsg_task(r["msgid"])[0]["send_time"]}]
    assert [(d["channel"], d["recipient"]) for d in sb.deliveries()] == [("group", "wrsandbox01")]


def test_list_v2_window_filter_and_paging(sb):
    client = make_client(sb)
    ids = [send(client, ["wmsandbox0001"], text=f"m{i}")["msgid"] for i in range(3)]
    now = int(time.time())
    assert [m["msgid"] for m in client.get_groupmsg_list_v2(chat_type="single", start_time=now - 60, end_time=now + 60)] == ids
    assert client.get_groupmsg_list_v2(chat_type="group", start_time=now - 60, end_time=now + 60) == []
    assert client.get_groupmsg_list_v2(chat_type="single", start_time=now - 60, end_time=now + 60, creator="guide02") == []
    rec = client.get_groupmsg_list_v2(chat_type="single", start_time=now - 60, end_time=now + 60)[0]
    assert isinstance(rec["create_time"], str) and rec["text"] == {"content": "m0"}
    with pytest.raises(WeComError) as info:
        client.get_groupmsg_list_v2(chat_type="single", start_time=now - 40 * 86400, end_time=now)
    assert info.value.errcode == 40058
    # raw paging: limit 2 → two pages with an opaque cursor
    token = client.access_token()
    url = f"{sb.url}/cgi-bin/externalcontact/get_groupmsg_list_v2"
    body = {"chat_type": "single", "start_time": now - 60, "end_time": now + 60, "limit": 2}
    p1 = HTTP.post(url, params={"access_token": token}, json=body).json()
    assert len(p1["group_msg_list"]) == 2 and p1["next_cursor"]
    p2 = HTTP.post(url, params={"access_token": token}, json={**body, "cursor": p1["next_cursor"]}).json()
    assert [m["msgid"] for m in p2["group_msg_list"]] == ids[2:] and p2["next_cursor"] == ""


def test_api_errors_are_http_200_with_errcode(sb):
    r = HTTP.get(f"{sb.url}/cgi-bin/externalcontact/get_follow_user_list")
    assert r.status_code == 200 and r.json()["errcode"] == 41001
    r = HTTP.get(f"{sb.url}/cgi-bin/externalcontact/get_follow_user_list", params={"access_token": "bogus"})
    assert r.json()["errcode"] == 40014
    r = HTTP.get(f"{sb.url}/cgi-bin/gettoken", params={"corpid": sb.corp_id})
    assert r.json()["errcode"] == 41004
    tok = HTTP.get(f"{sb.url}/cgi-bin/gettoken", params={"corpid": sb.corp_id, "corpsecret": sb.secret}).json()
    assert tok["expires_in"] == 7200
    again = HTTP.get(f"{sb.url}/cgi-bin/gettoken", params={"corpid": sb.corp_id, "corpsecret": sb.secret}).json()
    assert again["access_token"] == tok["access_token"]  # same token within its validity
    sb.expire_tokens()
    r = HTTP.get(f"{sb.url}/cgi-bin/externalcontact/get_follow_user_list", params={"access_token": tok["access_token"]})
    assert r.json()["errcode"] == 42001


def test_mass_send_validation_errcodes(sb):
    token = make_client(sb).access_token()
    url = f"{sb.url}/cgi-bin/externalcontact/add_msg_template"

    def post(body):
        return HTTP.post(url, params={"access_token": token}, json=body).json()["errcode"]

    link = {"msgtype": "link", "link": {"title": "t", "url": "https://e.cn"}}
    assert post({"sender": "guide01", "text": {"content": "x"}, "attachments": [link] * 10}) == 41064
    assert post({"sender": "guide01", "attachments": [{"msgtype": "sticker", "sticker": {}}]}) == 41065
    assert post({"sender": "guide01"}) == 44004
    assert post({"chat_type": "group", "text": {"content": "x"}}) == 40058
    assert post({"sender": "guide01", "external_userid": ["x"] * 10001, "text": {"content": "x"}}) == 40058
    assert post({"sender": "nobody", "text": {"content": "x"}}) == 40003
    assert post({"sender": "guide01", "text": {"content": "x"},
                 "attachments": [{"msgtype": "image", "image": {"media_id": "unknown"}}]}) == 40007
    assert sb.messages() == []


def test_contacts_and_groups_endpoints(sb):
    client = make_client(sb)
    assert client.list_external_contacts("guide01")[:2] == ["wmsandbox0001", "wmsandbox0004"]
    contact = client.get_external_contact("wmsandbox0005")
    assert sorted(f["userid"] for f in contact["follow_user"]) == ["guide02", "guide03"]
    group = client.groupchat_get("wrsandbox01", need_name=True)
    assert group["owner"] == "guide01" and group["member_list"][1]["name"] == "客户1"
    assert [g["chat_id"] for g in client.groupchat_list(owners=["guide02"])] == ["wrsandbox02"]


def test_app_message_duplicate_check_and_per_member_limit(sb):
    client = make_client(sb)
    client.send_app_message(touser=["guide01"], text="same")
    client.send_app_message(touser=["guide01"], text="same")
    assert len(sb.deliveries("app")) == 1
    client.send_app_message(touser=["guide01"], text="same", enable_duplicate_check=False)
    assert len(sb.deliveries("app")) == 2
    for i in range(30):
        client.send_app_message(touser=["guide02"], text=f"n{i}")
    assert len([d for d in sb.deliveries("app") if d["recipient"] == "guide02"]) == 30  # 31st… silently dropped
    assert sb.state.counters["app_dropped"] == 0
    client.send_app_message(touser=["guide02"], text="n31")
    assert sb.state.counters["app_dropped"] == 1


def test_deliveries_persist_in_state_dir_and_keep_quota(tmp_path):
    state = tmp_path / "state"
    with SandboxServer(confirm="manual", state_dir=state, quota={"period": "day", "limit": 1}) as sb:
        client = make_client(sb)
        send(client, ["wmsandbox0001"], text="persist me")
        sb.confirm()
        before = sb.deliveries()
    with SandboxServer(confirm="manual", state_dir=state, quota={"period": "day", "limit": 1}) as sb2:
        assert sb2.deliveries() == before
        client = make_client(sb2)
        with pytest.raises(WeComError) as info:  # quota used by the earlier run still counts
            send(client, ["wmsandbox0001"], text="again")
        assert info.value.errcode == 41048


def test_control_endpoints(sb):
    client = make_client(sb)
    r = send(client, ["wmsandbox0001"])
    assert HTTP.post(f"{sb.url}/sandbox/confirm", json={"msgid": r["msgid"]}).json() == {"confirmed": 1}
    assert len(HTTP.get(f"{sb.url}/sandbox/deliveries").json()["deliveries"]) == 1
    HTTP.post(f"{sb.url}/sandbox/faults", json={"next": [{"kind": "errcode", "errcode": 45033}]})
    assert HTTP.get(f"{sb.url}/cgi-bin/externalcontact/get_follow_user_list").json()["errcode"] == 45033
    assert HTTP.post(f"{sb.url}/sandbox/faults", json={"next": [{"kind": "bogus"}]}).status_code == 400
    HTTP.post(f"{sb.url}/sandbox/reset", json={})
    assert HTTP.get(f"{sb.url}/sandbox/deliveries").json()["deliveries"] == []


def test_random_faults_are_reproducible_and_survivable():
    faults = {"errcodes": {"-1": 0.3, "45033": 0.2}, "seed": 3, "paths": ["get_follow_user_list"]}
    with SandboxServer(faults=faults) as sb:
        client = make_client(sb, max_retries=10)
        for _ in range(10):
            assert len(client.get_follow_user_list()) == 3
        assert client.stats["retries"] >= 1


def test_seed_from_workspace_store(settings):
    from siyu_cli.store import open_store

    with open_store(settings) as con:
        con.execute("INSERT INTO staff VALUES ('zhang', '张导购', 'SH01', now()), ('li', '李导购', 'SH01', now())")
        con.execute("""INSERT INTO members (member_id, external_userid, guide_userid, name) VALUES
                       ('m1', 'wmA', 'zhang', '王女士'), ('m2', 'wmB', 'li', '赵先生'), ('m3', 'wmC', 'li', '钱女士')""")
        con.execute("""INSERT INTO wecom_contacts (external_userid, staff_userid, member_id, added_at, add_way, remark) VALUES
                       ('wmA', 'zhang', 'm1', '2026-01-01', NULL, NULL), ('wmA', 'li', 'm1', '2026-02-01', NULL, NULL),
                       ('wmB', 'li', 'm2', '2026-01-05', NULL, NULL), ('wmB', 'zhang', 'm2', '2026-03-01', NULL, NULL)""")
        con.execute("INSERT INTO groups (group_id, name, owner_userid) VALUES ('wrG1', '徐汇1群', 'zhang')")
        con.execute("INSERT INTO group_members (group_id, external_userid) VALUES ('wrG1', 'wmA'), ('wrG1', 'wmB')")
    with SandboxServer(settings=settings, confirm="manual") as sb:
        assert sb.seeded == {"staff": 2, "contacts": 3, "groups": 1}
        client = make_client(sb)
        r = send(client, ["wmA", "wmB", "wmC"], sender="zhang")
        # each goes to the member's own guide (wmC has no wecom_contacts row: its guide from members)
        assert results(client, r["msgid"]) == {"wmA": ("zhang", 0), "wmB": ("li", 0), "wmC": ("li", 0)}
        assert [m["userid"] for m in client.groupchat_get("wrG1")["member_list"]] == ["zhang", "wmA", "wmB"]


def test_dispatch_delay_answers_41063_and_client_retries():
    with SandboxServer(confirm="manual", dispatch_delay=0.05) as sb:
        client = make_client(sb, backoff_base=0.05, backoff_max=0.1, max_retries=5)
        r = send(client, ["wmsandbox0001"])
        assert client.get_groupmsg_task(r["msgid"]) == [{"userid": "guide01", "status": 0}]
        assert client.stats["retries"] >= 1


def test_token_expiry_fault_and_random_mass_send_faults():
    with SandboxServer(confirm="manual") as sb:
        client = make_client(sb)
        client.get_follow_user_list()
        sb.inject("token_expiry", "get_follow_user_list")
        client.get_follow_user_list()  # token expired early before the call → 42001 → refresh → ok
        assert client.stats["refreshes"] == 1 and sb.state.counters["gettoken"] == 2
    from siyu_cli.wecom.errors import AmbiguousSend

    faults = {"http5xx": 0.5, "drop_after": 0.3, "paths": ["add_msg_template"], "seed": 11}
    with SandboxServer(confirm="manual", faults=faults) as sb:
        client = make_client(sb)
        outcomes = {"ok": 0, "ambiguous": 0}
        for i in range(20):
            try:
                send(client, ["wmsandbox0001"], text=f"t{i}")
                outcomes["ok"] += 1
            except AmbiguousSend:
                outcomes["ambiguous"] += 1
        assert outcomes["ok"] and outcomes["ambiguous"]
        # never more tasks than attempts: no blind re-creation
        assert len(sb.messages()) <= 20
        assert len(sb.messages()) == outcomes["ok"] + sb.faults.injected.get("drop_after", 0)


def test_env_for_subprocesses(sb):
    env = sb.env()
    assert env == {"SIYU_WECOM_BASE_URL": sb.url, "WECOM_CORP_ID": "wwsandbox", "WECOM_SECRET": sb.secret,
                   "WECOM_ROBOT_KEY": sb.robot_keys[0]}


def test_concurrency_limit_answers_45033():
    import threading

    with SandboxServer(confirm="manual", concurrency=1, faults={"latency": 0.2, "paths": ["get_follow_user_list"]}) as sb:
        token = make_client(sb).access_token()
        codes = []

        def call():
            r = HTTP.get(f"{sb.url}/cgi-bin/externalcontact/get_follow_user_list", params={"access_token": token})
            codes.append(r.json()["errcode"])

        threads = [threading.Thread(target=call) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(codes) == [0, 45033, 45033]


def test_stopped_sandbox_does_not_answer_on_kept_alive_connections():
    sb = SandboxServer().start()
    client = make_client(sb, max_retries=1)
    client.get_follow_user_list()  # leaves a keep-alive connection in the pool
    sb.stop()
    with pytest.raises(WeComError) as info:
        client.get_follow_user_list()
    assert info.value.category == "retry"  # transport failure, not an answer from a stopped server


def test_malformed_bodies_get_40058(sb):
    token = make_client(sb).access_token()
    url = f"{sb.url}/cgi-bin/externalcontact/get_groupmsg_list_v2"
    assert HTTP.post(url, params={"access_token": token}, content=b"{not json").json()["errcode"] == 40058
    assert HTTP.post(url, params={"access_token": token}, json=[1, 2]).json()["errcode"] == 40058
    body = {"start_time": 1, "end_time": 2, "filter_type": "abc"}
    assert HTTP.post(url, params={"access_token": token}, json=body).json()["errcode"] == 40058


def test_remind_window_and_daily_quota_follow_the_clock():
    now = [1_780_000_000.0]  # a fake clock for the sandbox: tokens, reminders and quotas follow it
    with SandboxServer(confirm="manual", quota={"period": "day"}, clock=lambda: now[0], token_ttl=10**9) as sb:
        client = make_client(sb)
        r = send(client, ["wmsandbox0001"])
        for _ in range(3):
            client.remind_groupmsg_send(r["msgid"])
        now[0] += 86_401  # a day later the 24 h window has moved on
        client.remind_groupmsg_send(r["msgid"])
        sb.confirm()
        with pytest.raises(WeComError):  # 1/day (the admin's stricter rule): today's message is used up
            send(client, ["wmsandbox0001"], text="same day")
        now[0] += 86_400
        assert send(client, ["wmsandbox0001"], text="next day")["msgid"]


def test_restarted_sandbox_keeps_mass_sends(tmp_path):
    state = tmp_path / "state"
    with SandboxServer(confirm="manual", state_dir=state) as sb:
        client = make_client(sb)
        first = send(client, ["wmsandbox0001"], text="before restart")
        second = send(client, ["wmsandbox0004", "wmsandbox0005"], text="pending over restart")
        sb.confirm(first["msgid"])
        sb.state.remove_friend("wmsandbox0004", "guide01")
    with SandboxServer(confirm="manual", state_dir=state) as sb2:
        client = make_client(sb2)  # tokens did not survive: the client refreshes on 40014/42001
        assert results(client, first["msgid"]) == {"wmsandbox0001": ("guide01", 1)}
        assert sb2.confirm() == 2  # the second send's two tasks were still pending
        assert results(client, second["msgid"]) == {"wmsandbox0004": ("guide01", 2), "wmsandbox0005": ("guide03", 1)}
        assert [d["text"] for d in sb2.deliveries()] == ["before restart", "pending over restart"]
        sb2.reset()
    assert not (state / "messages.json").exists()
