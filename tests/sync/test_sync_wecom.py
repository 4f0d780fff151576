"""`siyu sync wecom` against the sandbox over real HTTP: exact first sync, events, linking, faults, kill + rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from siyu_cli.sandbox import SandboxServer
from siyu_cli.store import open_store
from siyu_cli.sync.wecom import sync_wecom
from store_helpers import q
from wecom_helpers import make_client


@pytest.fixture
def sb():
    with SandboxServer(seed="synthetic", synthetic={"staff": 3, "customers": 30, "groups": 3}) as server:
        yield server


def store_state(settings) -> dict:
    return {
        "relations": set(q(settings, "SELECT external_userid, staff_userid FROM wecom_contacts")),
        "customers": {r[0] for r in q(settings, "SELECT external_userid FROM wecom_customers")},
        "groups": {r[0]: (r[1], r[2]) for r in q(settings, "SELECT group_id, name, owner_userid FROM groups")},
        "group_members": set(q(settings, "SELECT group_id, external_userid FROM group_members")),
        "tags": {r[0]: (r[1], r[2]) for r in q(settings, "SELECT tag_id, group_name, name FROM wecom_corp_tags")},
        "relation_tags": {(r[0], r[1]): set(r[2]) for r in
                          q(settings, "SELECT external_userid, staff_userid, tag_ids FROM wecom_contacts")},
    }


def sandbox_state(sb) -> dict:
    st = sb.state
    live = st.live_relations()
    return {
        "relations": live,
        "customers": {e for e, _ in live},
        "groups": {cid: (g["name"], g["owner"]) for cid, g in st.groups.items()},
        "group_members": {(cid, ext) for cid, g in st.groups.items() for ext in g["members"]},
        "tags": {tid: (st.tag_groups[t["group_id"]]["group_name"], t["name"]) for tid, t in st.corp_tags.items()},
        "relation_tags": {rel: st.tags_of(*rel) for rel in live},
    }


def duplicates(settings) -> list:
    return q(settings, """SELECT 'rel', count(*) - count(DISTINCT (external_userid, staff_userid)) FROM wecom_contacts
                          UNION ALL SELECT 'cust', count(*) - count(DISTINCT external_userid) FROM wecom_customers
                          UNION ALL SELECT 'gm', count(*) - count(DISTINCT (group_id, external_userid)) FROM group_members
                          UNION ALL SELECT 'mem', count(*) - count(DISTINCT member_id) FROM members
                          UNION ALL SELECT 'ident', count(*) - count(DISTINCT (id_type, id_value)) FROM member_identities""")


def test_first_sync_equals_the_sandbox_and_a_rerun_changes_nothing(settings, sb):
    client = make_client(sb, settings)
    r = sync_wecom(settings, client=client, activity=False)
    assert store_state(settings) == sandbox_state(sb)
    assert r.baseline and r.events == {}
    assert r.counts["contacts"] == {"added": 36, "updated": 0, "unchanged": 0, "removed": 0}
    # relation fields as WeCom gave them
    row = q(settings, "SELECT remark, remark_mobiles, state FROM wecom_contacts WHERE external_userid = 'wmsandbox0012'")
    assert row == [("客户12", ["13800000012"], None)]
    # a load like any other: one load_log row per entity with the counts
    log = dict(q(settings, "SELECT kind, inserted FROM load_log WHERE batch_id LIKE ?", [r.batch_id + ":%"]))
    assert log == {"wecom_contacts": 36, "wecom_customers": 30, "wecom_tags": 3, "wecom_groups": 3,
                   "wecom_group_members": 30}
    again = sync_wecom(settings, client=client, activity=False)
    assert again.events == {} and not again.baseline
    assert all(c["added"] == c["updated"] == c["removed"] == 0 for c in again.counts.values())
    assert store_state(settings) == sandbox_state(sb)
    assert q(settings, "SELECT count(*) FROM wecom_sync_contacts") == [(0,)]  # staging emptied


def test_second_sync_records_exactly_the_changes(settings, sb):
    client = make_client(sb, settings)
    sync_wecom(settings, client=client, activity=False)
    sb.state.remove_friend("wmsandbox0001", "guide01")          # the guide removed the customer: gone entirely
    sb.state.remove_friend("wmsandbox0005", "guide03")          # one of two guides removed them
    sb.state.add_contact("wmbrandnew", "guide02", added_at=1_750_000_000)
    sb.state.add_contact("wmsandbox0002", "guide01", added_at=1_750_000_100)  # a second guide
    sb.state.leave_group("wrsandbox02", "wmsandbox0002")
    sb.state.join_group("wrsandbox03", "wmbrandnew")
    r = sync_wecom(settings, client=client, activity=False)
    assert store_state(settings) == sandbox_state(sb)
    events = set(q(settings, "SELECT kind, external_userid, staff_userid, group_id FROM contact_events"))
    assert events == {("contact_removed", "wmsandbox0001", "guide01", None),
                      ("contact_removed", "wmsandbox0005", "guide03", None),
                      ("contact_added", "wmbrandnew", "guide02", None), ("contact_added", "wmsandbox0002", "guide01", None),
                      ("group_left", "wmsandbox0002", None, "wrsandbox02"), ("group_joined", "wmbrandnew", None, "wrsandbox03")}
    assert r.events == {"contact_removed": 2, "contact_added": 2, "group_left": 1, "group_joined": 1}
    added_at = q(settings, "SELECT epoch(event_at)::BIGINT FROM contact_events WHERE external_userid = 'wmbrandnew' "
                           "AND kind = 'contact_added'")
    assert added_at == [(1_750_000_000,)]  # dated by WeCom's createtime
    lost = q(settings, "SELECT since IS NOT NULL, member_id IS NOT NULL FROM contact_events WHERE kind = 'contact_removed'")
    assert lost == [(True, True), (True, True)]
    assert q(settings, "SELECT count(*) FROM contact_events WHERE member_id IS NULL") == [(0,)]  # new ones too
    assert r.counts["contacts"] == {"added": 2, "updated": 0, "unchanged": 34, "removed": 2}


def test_customers_link_to_members_by_unionid_then_remark_phone(settings, sb):
    from siyu_cli.ingest.identity import resolve  # noqa: F401 - the module the sync must go through

    csv = settings.root / "members.csv"
    csv.write_text("member_id,phone,unionid,name\nM900,,oSandboxUnion0003,老客三\nM901,13800000004,,老客四\n"
                   "M902,13800000008,oSandboxUnion0009,冲突\n", encoding="utf-8")
    from siyu_cli.ingest import load_files

    load_files(settings, "members", [csv], preset="siyu")
    r = sync_wecom(settings, client=make_client(sb, settings), activity=False)
    linked = dict(q(settings, "SELECT external_userid, member_id FROM wecom_customers WHERE external_userid IN "
                              "('wmsandbox0003', 'wmsandbox0004', 'wmsandbox0008', 'wmsandbox0009')"))
    mids = dict(q(settings, "SELECT source_member_id, member_id FROM members WHERE source_member_id LIKE 'M9%'"))
    assert linked["wmsandbox0003"] == mids["M900"]  # unionid
    assert linked["wmsandbox0004"] == mids["M901"]  # phone the guide typed in the remark
    assert linked["wmsandbox0009"] == mids["M902"]  # unionid wins over ...
    assert linked["wmsandbox0008"] == mids["M902"]  # ... and the phone of another customer links too
    assert r.linked["linked_by_unionid"] == 2 and r.linked["linked_by_phone"] == 2
    assert r.linked["new_members"] == 26 and r.linked["customers"] == 30
    # the members gained the WeCom ids, so push can reach them
    assert q(settings, "SELECT external_userid FROM members WHERE source_member_id = 'M900'") == [("wmsandbox0003",)]
    assert duplicates(settings) == [("rel", 0), ("cust", 0), ("gm", 0), ("mem", 0), ("ident", 0)]


def test_limits_and_token_expiry_mid_sync_are_survived(settings, sb):
    sb.inject("errcode", "batch/get_by_user", errcode=45033)
    sb.inject("errcode", "groupchat/get", errcode=45009)
    sb.inject("token_expiry", "batch/get_by_user")
    sb.inject("errcode", "get_corp_tag_list", errcode=45033)
    client = make_client(sb, settings)
    sync_wecom(settings, client=client, activity=False)
    assert sb.faults.describe()["next"] == []  # every fault was hit
    assert client.stats["retries"] >= 3 and client.stats["refreshes"] >= 1
    assert store_state(settings) == sandbox_state(sb)


def test_concurrency_limited_sandbox(settings):
    with SandboxServer(seed="synthetic", concurrency=1) as sb:
        sync_wecom(settings, client=make_client(sb, settings), activity=False)
        assert store_state(settings) == sandbox_state(sb)


def _spawn_sync(settings, sb, tmp_path: Path) -> subprocess.Popen:
    secret = tmp_path / "secret"
    secret.write_text(sb.secret)
    os.chmod(secret, 0o600)
    env = dict(os.environ, **sb.env(secret_file=secret), SIYU_WORKSPACE=str(settings.root),
               PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    return subprocess.Popen([sys.executable, "-m", "siyu_cli", "sync", "wecom", "--no-activity", "--format", "json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def progress_pages(progress: dict, idx: dict, guides: list[str]) -> int:
    """Pages of batch/get_by_user a checkpoint covers (finished guide batches + pages of the current one)."""
    done = int(progress.get("contacts_batch", 0))
    pages = sum(-(-sum(len(idx.get(u, [])) for u in guides[i * 100:(i + 1) * 100]) // 100) for i in range(done))
    cursor = progress.get("cursor") or ""
    if cursor:
        from siyu_cli.sandbox.wire import _offset

        pages += _offset(cursor) // 100
    return pages


def _settle(sb, endpoint: str, quiet: float = 1.0, limit: float = 10.0) -> None:
    """Wait until the killed process's in-flight request (held by the latency fault) has been counted."""
    end = time.monotonic() + limit
    last = sb.state.endpoint_calls.get(endpoint, 0)
    while time.monotonic() < end:
        time.sleep(quiet)
        now = sb.state.endpoint_calls.get(endpoint, 0)
        if now == last:
            return
        last = now


def test_sigkill_during_a_sync_then_rerun_converges_without_duplicates(settings, tmp_path):
    with SandboxServer(seed="synthetic", synthetic={"staff": 250, "customers": 3000, "groups": 20}) as sb:
        sb.set_faults({"latency": 0.15, "paths": ["batch/get_by_user"]})
        proc = _spawn_sync(settings, sb, tmp_path)
        deadline = time.monotonic() + 60
        staged = 0
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.3)
            try:
                with open_store(settings, read_only=True) as con:
                    staged = con.execute("SELECT count(*) FROM wecom_sync_contacts").fetchone()[0]
            except Exception:
                continue
            if staged:
                break
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _settle(sb, "externalcontact/batch/get_by_user")
        assert 0 < staged < 3600
        # nothing outside staging changed
        assert q(settings, "SELECT count(*) FROM wecom_contacts") == [(0,)]
        progress = json.loads(q(settings, "SELECT progress FROM wecom_sync_runs WHERE status = 'running'")[0][0])
        assert "cursor" in progress  # a checkpoint: guide batch and cursor of the next page
        sb.faults.clear()
        idx = sb.state._guide_index()
        guides = sorted(sb.state.staff)
        full_pages = sum(-(-sum(len(idx.get(u, [])) for u in guides[i:i + 100]) // 100) for i in range(0, 250, 100))
        pages_before = sb.state.endpoint_calls["externalcontact/batch/get_by_user"]
        rerun = _spawn_sync(settings, sb, tmp_path)
        out, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, err
        report = json.loads(out)
        assert report["resumed"] is True
        # the rerun did not start over: it fetched only the pages after the checkpoint
        rerun_pages = sb.state.endpoint_calls["externalcontact/batch/get_by_user"] - pages_before
        assert rerun_pages == full_pages - progress_pages(progress, idx, guides)
        assert store_state(settings) == sandbox_state(sb)
        assert duplicates(settings) == [("rel", 0), ("cust", 0), ("gm", 0), ("mem", 0), ("ident", 0)]
        assert q(settings, "SELECT count(*) FROM wecom_sync_runs WHERE status = 'running'") == [(0,)]


def test_cli_sync_wecom_table_and_json(settings, sb, cli, monkeypatch, tmp_path):
    for k, v in sb.env().items():
        monkeypatch.setenv(k, v)
    r = cli("sync", "wecom", "--no-activity")
    assert "contacts" in r.stdout and "36" in r.stdout
    assert "linked 0 of 30 customers" in r.stderr
    assert sb.secret not in r.stdout + r.stderr
    r = cli("sync", "wecom", "--no-activity", "--format", "json")
    data = json.loads(r.stdout)
    assert data["counts"]["contacts"]["unchanged"] == 36 and data["events"] == {}
    r = cli("sync", "wecom", "--no-activity", "--format", "csv")
    assert r.stdout.splitlines()[0] == "entity,added,updated,unchanged,removed"
    assert "contacts,0,0,36,0" in r.stdout


def test_an_empty_answer_is_refused_not_recorded_as_churn(settings, sb):
    from siyu_cli.errors import DataError

    client = make_client(sb, settings)
    sync_wecom(settings, client=client, activity=False)
    for rel in list(sb.state.live_relations()):  # e.g. the app lost its visible range
        sb.state.remove_friend(*rel)
    with pytest.raises(DataError, match="refusing to record"):
        sync_wecom(settings, client=client, activity=False)
    assert q(settings, "SELECT count(*) FROM contact_events") == [(0,)]
    assert q(settings, "SELECT count(*) FROM wecom_contacts") == [(36,)]
    assert q(settings, "SELECT status FROM wecom_sync_runs ORDER BY started_at") == [("done",), ("failed",)]


def test_a_second_sync_at_the_same_time_is_refused(settings, sb):
    from siyu_cli.errors import StoreBusy
    from siyu_cli.sync.wecom import _sync_lock

    with _sync_lock(settings):
        with pytest.raises(StoreBusy, match="another `siyu sync wecom`"):
            sync_wecom(settings, client=make_client(sb, settings), activity=False)
