"""`siyu tags sync` against the sandbox: owned tag group, diff-only mark_tag calls, ledger resume, errcodes, dry run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from siyu_cli.errors import DataError
from siyu_cli.sandbox import SandboxServer
from siyu_cli.store import open_store
from siyu_cli.sync.tags import tags_sync
from siyu_cli.sync.wecom import sync_wecom
from store_helpers import q
from wecom_helpers import make_client

SEGMENTS = ["重要价值", "重要保持", "一般发展", "一般挽留"]


@pytest.fixture
def sb():
    with SandboxServer(seed="synthetic", synthetic={"staff": 3, "customers": 30, "groups": 1}) as server:
        yield server


def snapshot(settings, assign) -> int:
    """Store a segment snapshot: assign(i, member_id) → segment name (None = not in the snapshot)."""
    with open_store(settings) as con:
        sid = con.execute("SELECT coalesce(max(snapshot_id), 0) + 1 FROM segment_snapshots").fetchone()[0]
        con.execute("INSERT INTO segment_snapshots (snapshot_id, created_at, as_of, scheme, members) "
                    "VALUES (?, now(), current_date, 'rfm8', 0)", [sid])
        mids = [r[0] for r in con.execute("SELECT member_id FROM members ORDER BY member_id").fetchall()]
        for i, mid in enumerate(mids):
            seg = assign(i, mid)
            if seg:
                con.execute("INSERT INTO segment_member_rows (snapshot_id, member_id, segment_id, segment_name) "
                            "VALUES (?, ?, ?, ?)", [sid, mid, seg, seg])
    return sid


def synced(settings, sb):
    client = make_client(sb, settings)
    sync_wecom(settings, client=client, activity=False)
    return client


def siyu_tags(sb, group="RFM分层") -> dict:
    """(external_userid, userid) → sorted tag names of ``group`` on every live relation."""
    return {rel: sb.state.tag_names_of(*rel, group) for rel in sb.state.live_relations()}


def expected(settings, sid) -> dict:
    rows = q(settings, """SELECT c.external_userid, c.staff_userid, s.segment_name FROM wecom_contacts c
                          LEFT JOIN segment_members s ON s.member_id = c.member_id AND s.snapshot_id = ?""", [sid])
    return {(e, u): [seg] if seg else [] for e, u, seg in rows}


def test_group_created_once_and_only_changed_segments_cost_calls(settings, sb):
    client = synced(settings, sb)
    foreign = {rel: sb.state.tag_names_of(*rel, "客户等级") for rel in sb.state.live_relations()}
    s1 = snapshot(settings, lambda i, m: SEGMENTS[i % 4])
    r1 = tags_sync(settings, client=client)
    assert sb.state.counters["add_corp_tag"] == 1 and sorted(r1.created_tags) == sorted(SEGMENTS)
    assert [g["group_name"] for g in sb.state.tag_groups.values()].count("RFM分层") == 1
    assert siyu_tags(sb) == expected(settings, s1)
    assert r1.done == r1.planned == 36 and sb.state.counters["mark_tag"] == 36
    # second snapshot: every 3rd member moves one segment on; members not in it lose their tag
    s2 = snapshot(settings, lambda i, m: None if i == 7 else SEGMENTS[(i + (i % 3 == 0)) % 4])
    changed = q(settings, """SELECT count(*) FROM wecom_contacts c
                             LEFT JOIN segment_members a ON a.member_id = c.member_id AND a.snapshot_id = ?
                             LEFT JOIN segment_members b ON b.member_id = c.member_id AND b.snapshot_id = ?
                             WHERE a.segment_name IS DISTINCT FROM b.segment_name""", [s1, s2])[0][0]
    assert changed > 5
    before = sb.state.counters["mark_tag"]
    r2 = tags_sync(settings, client=client)
    assert sb.state.counters["mark_tag"] - before == changed == r2.done
    assert sb.state.counters["add_corp_tag"] == 1  # no new names: the group and its tags are reused
    assert siyu_tags(sb) == expected(settings, s2)
    assert all(len(tags) <= 1 for tags in siyu_tags(sb).values())  # a move removes the old segment tag
    # nothing else was touched
    assert {rel: sb.state.tag_names_of(*rel, "客户等级") for rel in sb.state.live_relations()} == foreign
    r3 = tags_sync(settings, client=client)
    assert r3.planned == 0 and sb.state.counters["mark_tag"] - before == changed


def test_dry_run_makes_no_call_and_counts(settings, sb, cli, monkeypatch):
    synced(settings, sb)
    snapshot(settings, lambda i, m: SEGMENTS[i % 2])
    requests = sb.state.counters["requests"]
    for k, v in sb.env().items():
        monkeypatch.setenv(k, v)
    r = cli("tags", "sync", "--dry-run", "--format", "json")
    data = json.loads(r.stdout)
    assert sb.state.counters["requests"] == requests  # no API call, no store write
    assert data["planned"] == 36 and data["api_calls"] == 37  # 36 mark_tag + 1 add_corp_tag
    assert sum(t["add"] for t in data["per_tag"].values()) == 36 and set(data["per_tag"]) == set(SEGMENTS[:2])
    assert q(settings, "SELECT count(*) FROM wecom_tag_runs") == [(0,)]
    r = cli("tags", "sync", "--dry-run")
    assert "重要价值" in r.stdout and "37 API call(s)" in r.stderr


def test_errcodes_84061_45033_and_a_deleted_tag(settings, sb):
    client = synced(settings, sb)
    snapshot(settings, lambda i, m: SEGMENTS[i % 4])
    sb.state.remove_friend("wmsandbox0002", "guide02")  # the store still believes in this relation
    sb.inject("errcode", "mark_tag", errcode=45033)
    sb.inject("errcode", "mark_tag", errcode=45009)
    r = tags_sync(settings, client=client)
    assert r.skipped == 1 and r.done == 35 and r.failed == 0
    assert q(settings, "SELECT errcode FROM wecom_tag_ledger WHERE status = 'skipped'") == [(84061,)]
    # an admin deletes one of siyu's tags in the console: the next run recreates it (40068 handled)
    victim = next(tid for tid, t in sb.state.corp_tags.items() if t["name"] == "重要价值")
    del sb.state.corp_tags[victim]
    for tags in sb.state.relation_tags.values():
        tags.discard(victim)
    s2 = snapshot(settings, lambda i, m: SEGMENTS[(i + 1) % 4])
    r2 = tags_sync(settings, client=client)
    assert r2.failed == 0 and r2.created_tags == ["重要价值"]
    rels = {k: v for k, v in siyu_tags(sb).items() if k != ("wmsandbox0002", "guide02")}
    exp = expected(settings, s2)
    assert rels == {k: v for k, v in exp.items() if k in rels}


def test_audience_as_a_tag_and_name_limits(settings, sb, cli, monkeypatch):
    client = synced(settings, sb)
    mids = [r[0] for r in q(settings, "SELECT member_id FROM wecom_customers WHERE external_userid IN "
                                      "('wmsandbox0003', 'wmsandbox0005') ORDER BY external_userid")]
    r = tags_sync(settings, client=client, tag="买过牛奶", audience="list:" + ",".join(mids))
    assert r.done == 3  # wmsandbox0005 has two guides
    tagged = {rel for rel, names in siyu_tags(sb, "siyu人群").items() if names == ["买过牛奶"]}
    assert tagged == {("wmsandbox0003", "guide03"), ("wmsandbox0005", "guide02"), ("wmsandbox0005", "guide03")}
    # the audience shrinks: only the difference is sent
    r = tags_sync(settings, client=client, tag="买过牛奶", audience="list:" + mids[0])
    assert r.planned == 2 and r.done == 2  # wmsandbox0005's two relations lose the tag
    assert {rel for rel, names in siyu_tags(sb, "siyu人群").items() if names} == {("wmsandbox0003", "guide03")}
    for k, v in sb.env().items():
        monkeypatch.setenv(k, v)
    res = cli("tags", "sync", "--tag", "长" * 31, "--audience", "all", expect=65)
    assert "1..30 characters" in res.stderr
    res = cli("tags", "sync", "--tag", "x", expect=2)
    assert "--tag and --audience go together" in res.stderr


def test_library_limit_is_respected(settings, sb, monkeypatch):
    import siyu_cli.sync.tags as tags_mod

    client = synced(settings, sb)
    snapshot(settings, lambda i, m: SEGMENTS[i % 4])
    monkeypatch.setattr(tags_mod, "LIBRARY_LIMIT", 5)  # 3 tags already; 4 more would pass it
    with pytest.raises(DataError, match="5-tag limit"):
        tags_sync(settings, client=client)
    assert sb.state.counters.get("add_corp_tag", 0) == 0 and sb.state.counters.get("mark_tag", 0) == 0


def test_kill_mid_way_then_rerun_leaves_exactly_one_segment_tag(settings, tmp_path):
    with SandboxServer(seed="synthetic", synthetic={"staff": 5, "customers": 200, "groups": 1}) as sb:
        synced(settings, sb)
        sid = snapshot(settings, lambda i, m: SEGMENTS[i % 4])
        sb.set_faults({"latency": 0.05, "paths": ["mark_tag"]})
        secret = tmp_path / "secret"
        secret.write_text(sb.secret)
        os.chmod(secret, 0o600)
        env = dict(os.environ, **sb.env(secret_file=secret), SIYU_WORKSPACE=str(settings.root),
                   PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
        cmd = [sys.executable, "-m", "siyu_cli", "tags", "sync", "--format", "json"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            try:
                done = q(settings, "SELECT count(*) FROM wecom_tag_ledger WHERE status = 'done'")[0][0]
            except Exception:
                continue
            if done >= 20:
                break
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # a call the killed process had in flight may still be in the sandbox's (slowed) handler: let it land
        # before counting, and count what the ledger committed as done at the kill, not at the last poll
        time.sleep(1.0)
        pending = q(settings, "SELECT count(*) FROM wecom_tag_ledger WHERE status = 'pending'")[0][0]
        done = q(settings, "SELECT count(*) FROM wecom_tag_ledger WHERE status = 'done'")[0][0]
        assert done >= 20 and pending > 0
        calls_at_kill = sb.state.counters["mark_tag"]
        sb.faults.clear()
        rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        report = json.loads(rerun.stdout)
        assert report["resumed"] == pending and report["planned"] == 0  # finished the ledger, nothing new
        total = sb.state.counters["mark_tag"]
        planned = q(settings, "SELECT count(*) FROM wecom_tag_ledger")[0][0]
        # neither lost nor redone, beyond the calls of the last uncommitted second (idempotent)
        assert planned <= total <= planned + (calls_at_kill - done)
        tags = siyu_tags(sb)
        assert all(len(v) == 1 for v in tags.values())
        assert tags == expected(settings, sid)
        assert sb.state.counters["add_corp_tag"] == 1


def test_a_kill_between_add_corp_tag_and_recording_it_adopts_siyus_own_tags(settings, sb):
    client = synced(settings, sb)
    snapshot(settings, lambda i, m: SEGMENTS[i % 4])
    sb.inject("drop_after", "add_corp_tag")  # WeCom created the tags; siyu never heard back
    with pytest.raises(Exception):
        tags_sync(settings, client=make_client(sb, settings, max_retries=0))
    assert sb.state.counters["add_corp_tag"] == 1
    assert q(settings, "SELECT count(*) FROM wecom_tag_owned WHERE tag_id LIKE 'pending:%'") == [(4,)]
    r = tags_sync(settings, client=client)  # adopts them instead of refusing them as foreign
    assert sb.state.counters["add_corp_tag"] == 1 and r.done == 36
    assert q(settings, "SELECT count(*) FROM wecom_tag_owned WHERE tag_id LIKE 'pending:%'") == [(0,)]


def test_removing_a_tag_deleted_in_the_console_needs_no_call(settings, sb):
    client = synced(settings, sb)
    snapshot(settings, lambda i, m: SEGMENTS[i % 2])
    tags_sync(settings, client=client)
    victim = next(tid for tid, t in sb.state.corp_tags.items() if t["name"] == SEGMENTS[1])
    del sb.state.corp_tags[victim]  # an admin deleted 重要保持 (WeCom drops it from every customer)
    for tags in sb.state.relation_tags.values():
        tags.discard(victim)
    s2 = snapshot(settings, lambda i, m: SEGMENTS[0] if i % 2 == 0 else None)  # its members leave every segment
    before = sb.state.counters["mark_tag"]
    r = tags_sync(settings, client=client)
    assert r.failed == 0 and r.done == r.planned > 0
    assert sb.state.counters["mark_tag"] == before  # nothing to send: the tag is gone already
    assert siyu_tags(sb) == expected(settings, s2)


def test_a_tag_removed_by_hand_is_added_again_after_the_next_sync_and_operator_tags_are_never_touched(settings, sb):
    client = synced(settings, sb)
    s1 = snapshot(settings, lambda i, m: SEGMENTS[i % 4])
    tags_sync(settings, client=client)
    assert siyu_tags(sb) == expected(settings, s1)
    rels = sorted(sb.state.live_relations())
    gone, wrong, theirs = rels[0], rels[1], rels[2]
    owned = dict(q(settings, "SELECT name, tag_id FROM wecom_tag_owned WHERE group_name = 'RFM分层'"))
    with sb.state.lock:  # a guide edits tags in the app: removes siyu's tag, adds a wrong one of siyu's group,
        sb.state.relation_tags[gone] -= {owned[n] for n in siyu_tags(sb)[gone]}
        extra = next(n for n in SEGMENTS if n not in siyu_tags(sb)[wrong])
        sb.state.relation_tags[wrong].add(owned[extra])
        level = {t for t in sb.state.relation_tags[theirs] if t not in owned.values()}  # and one of the corp's own
        sb.state.relation_tags[theirs] -= level
    assert level
    before = sb.state.counters["mark_tag"]
    # without a newer sync siyu knows only what it applied: nothing to do (the segment did not change)
    assert tags_sync(settings, client=client).planned == 0
    sync_wecom(settings, client=client, activity=False)
    r = tags_sync(settings, client=client)
    assert r.planned == r.done == 2 and sb.state.counters["mark_tag"] - before == 2  # exactly the two relations
    assert siyu_tags(sb) == expected(settings, s1)  # siyu's group is back to the segments
    assert not any(t in sb.state.relation_tags[theirs] for t in level)  # the operator's own tag stays removed
    assert tags_sync(settings, client=client).planned == 0
    sync_wecom(settings, client=client, activity=False)  # WeCom now agrees with siyu: still nothing
    assert tags_sync(settings, client=client).planned == 0


def test_cli_dry_run_after_a_sync_plans_the_re_add_of_a_hand_removed_tag(settings, sb, cli, monkeypatch):
    client = synced(settings, sb)
    snapshot(settings, lambda i, m: SEGMENTS[i % 4])
    tags_sync(settings, client=client)
    rel = sorted(sb.state.live_relations())[0]
    name = siyu_tags(sb)[rel][0]
    with sb.state.lock:
        sb.state.relation_tags[rel].clear()
    sync_wecom(settings, client=client, activity=False)
    for k, v in sb.env().items():
        monkeypatch.setenv(k, v)
    data = json.loads(cli("tags", "sync", "--dry-run", "--format", "json").stdout)
    assert data["planned"] == 1 and data["per_tag"] == {name: {"add": 1, "remove": 0}}


# ---------------------------------------------------------------- memory: the plan under [sync] memory_limit

def unbounded_plan(settings) -> list[tuple]:
    """The plan of the default scope as DuckDB computes it without any memory limit (the baseline of the ladder)."""
    from siyu_cli.sync.tags import _plan

    with open_store(settings, read_only=True) as con:
        _plan(con, settings, "segment", "RFM分层", scheme=None, tag=None, audience=None)
        return con.execute("SELECT external_userid, staff_userid, member_id, add_names, remove_names FROM tag_plan "
                           "ORDER BY ALL").fetchall()


def test_a_plan_out_of_the_default_limit_climbs_the_ladder_and_sends_the_same_calls(settings, sb, monkeypatch):
    from siyu_cli.sync import merge as merge_mod

    client = synced(settings, sb)
    snapshot(settings, lambda i, m: SEGMENTS[i % 4])
    tags_sync(settings, client=client)
    s2 = snapshot(settings, lambda i, m: None if i == 7 else SEGMENTS[(i + (i % 3 == 0)) % 4])
    want = unbounded_plan(settings)
    assert len(want) > 5 and any(r[3] and r[4] for r in want) and any(not r[3] for r in want)  # moves and a removal
    assert tags_sync(settings, dry_run=True).memory_limits == {}  # the default limit is enough for 36 relations
    monkeypatch.setattr(merge_mod, "DEFAULT_MEMORY_LIMIT", "1MB")  # far too small for any DuckDB join
    dry = tags_sync(settings, dry_run=True)
    assert dry.memory_limits == {"plan": merge_mod.LADDER[0]} and dry.planned == len(want)
    before = sb.state.counters["mark_tag"]
    r = tags_sync(settings, client=client)
    assert r.memory_limits["plan"] == r.memory_limits["ledger"] == merge_mod.LADDER[0]
    ledger = q(settings, "SELECT external_userid, staff_userid, member_id, add_names, remove_names FROM wecom_tag_ledger "
                         "WHERE run_id = ? ORDER BY ALL", [r.run_id])
    assert ledger == want  # the rolled-back attempt left nothing twice, and the plan is the unbounded one
    assert r.done == len(want) and sb.state.counters["mark_tag"] - before == len(want)
    assert siyu_tags(sb) == expected(settings, s2)


def test_a_plan_out_of_memory_is_one_clear_error_and_nothing_is_sent(settings, sb, cli, monkeypatch):
    from siyu_cli.sync import merge as merge_mod

    synced(settings, sb)
    sid = snapshot(settings, lambda i, m: SEGMENTS[i % 4])
    for k, v in sb.env().items():
        monkeypatch.setenv(k, v)
    cfg = settings.config_file
    original = cfg.read_text(encoding="utf-8")
    cfg.write_text(original + '\n[sync]\nmemory_limit = "1MB"\n', encoding="utf-8")  # a limit the operator set
    for args in (("--dry-run",), ()):
        res = cli("tags", "sync", *args, expect=78)
        assert "sync.memory_limit = '1MB'; raise it" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    cfg.write_text(original, encoding="utf-8")
    monkeypatch.setattr(merge_mod, "DEFAULT_MEMORY_LIMIT", "1MB")
    monkeypatch.setattr(merge_mod, "LADDER", ("1MB",))  # the top of the ladder is too small as well
    res = cli("tags", "sync", expect=78)
    assert "even under 1MB (the top of the sync's memory ladder)" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert sb.state.counters.get("mark_tag", 0) == 0 and sb.state.counters.get("add_corp_tag", 0) == 0
    assert q(settings, "SELECT count(*) FROM wecom_tag_runs") == [(0,)]
    monkeypatch.undo()
    for k, v in sb.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("SIYU_WORKSPACE", str(settings.root))
    data = json.loads(cli("tags", "sync", "--format", "json").stdout)
    assert data["done"] == data["planned"] == 36 and siyu_tags(sb) == expected(settings, sid)


def test_the_sender_reads_the_ledger_a_page_at_a_time_and_sends_each_call_once(settings, sb, monkeypatch):
    import siyu_cli.sync.tags as tags_mod

    client = synced(settings, sb)
    sid = snapshot(settings, lambda i, m: SEGMENTS[i % 4])
    read = []
    real = tags_mod._pending

    def spy(settings, run_id):
        for row in real(settings, run_id):
            read.append((row[1], row[0]))
            yield row

    monkeypatch.setattr(tags_mod, "PAGE_ROWS", 7)
    monkeypatch.setattr(tags_mod, "CHECKPOINT_CALLS", 3)  # checkpoints inside pages: rows sent, still pending
    monkeypatch.setattr(tags_mod, "_pending", spy)
    r = tags_sync(settings, client=client)
    assert r.planned == r.done == 36 and sb.state.counters["mark_tag"] == 36  # none twice, none left
    assert len(read) == len(set(read)) == 36 and read == sorted(read)  # six pages, in key order, none read twice
    assert siyu_tags(sb) == expected(settings, sid)
