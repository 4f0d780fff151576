"""The merge's contacts, customers and groups phases commit in units of `[sync] merge_chunk` customers (hash buckets of
external_userid, one transaction each, so the memory of an open transaction stays bounded in customers): the units
give exactly what one pass gives — relations, customers, contact events, counts and load_log rows, through the
library and the CLI, on a second sync that adds, removes and changes relations and customers — and a kill between
units resumes at the first unit not committed, without writing an event twice."""

from __future__ import annotations

import json

import pytest

from siyu_cli.config import load_settings
from siyu_cli.errors import ConfigError, DataError
from siyu_cli.sandbox import SandboxServer
from siyu_cli.store import open_store
from siyu_cli.sync import merge as merge_mod
from siyu_cli.sync import units
from siyu_cli.sync.wecom import sync_wecom
from siyu_cli.workspace import init_workspace
from store_helpers import q
from test_sync_wecom import duplicates, sandbox_state, store_state
from wecom_helpers import make_client

CHUNK = 4  # 30 customers → 8 hash units
PHASE = merge_mod._phase


@pytest.fixture
def sb():
    with SandboxServer(seed="synthetic", synthetic={"staff": 3, "customers": 30, "groups": 3}) as server:
        yield server


def first_sync_then_change(sb, roots, chunk: int | None):
    """The first sync of each workspace in ``roots`` (one pass), then changes in WeCom and in the store that the
    second sync must record; returns the settings with ``[sync] merge_chunk = chunk`` for the last root."""
    out = []
    for root in roots:
        init_workspace(root)
        settings = load_settings(root)
        sync_wecom(settings, client=make_client(sb, settings), activity=False)
        with open_store(settings) as con:  # relations an export loaded: the sync removes them without an event
            con.execute("INSERT INTO wecom_contacts (external_userid, staff_userid) VALUES "
                        "('wmfromfile1', 'guide01'), ('wmfromfile2', 'guide02'), ('wmsandbox0020', 'guide09')")
            con.execute("INSERT INTO group_members (group_id, external_userid) VALUES ('wrsandbox01', 'wmfromfile1')")
        out.append(settings)
    st = sb.state
    st.remove_friend("wmsandbox0001", "guide01")  # the customer's only relation: the customer goes too
    st.remove_friend("wmsandbox0005", "guide03")  # one of two guides
    for ext in ("wmsandbox0017", "wmsandbox0023", "wmsandbox0029"):
        for userid in list(st.contacts[ext]["followers"]):
            st.remove_friend(ext, userid)
    st.add_contact("wmbrandnew", "guide02", added_at=1_750_000_000)
    st.add_contact("wmbrandnew2", "guide03", added_at=1_750_000_050)
    st.add_contact("wmsandbox0002", "guide01", added_at=1_750_000_100)  # a second guide
    st.set_relation_details("wmsandbox0007", next(iter(st.contacts["wmsandbox0007"]["followers"])), remark="新备注")
    st.set_contact_details("wmsandbox0011", unionid="oChangedUnion11")
    st.leave_group("wrsandbox02", "wmsandbox0002")
    st.join_group("wrsandbox03", "wmbrandnew")
    if chunk is not None:
        cfg = roots[-1] / "siyu.toml"
        cfg.write_text(cfg.read_text(encoding="utf-8") + f"\n[sync]\nmerge_chunk = {chunk}\n", encoding="utf-8")
        out[-1] = load_settings(roots[-1])
    return out


def merged_state(settings) -> dict:
    """Everything the contacts, customers and groups phases write, without batch ids and the sync's own times."""
    rel = ", ".join(["external_userid", "staff_userid", *merge_mod.REL_COLS, "member_id"])
    cust = ", ".join(["external_userid", *merge_mod.CUST_COLS, "member_id"])
    gm = ", ".join(["group_id", "external_userid", *merge_mod.GM_COLS, "member_id"])
    return {
        "relations": q(settings, f"SELECT {rel}, synced_batch IS NULL FROM wecom_contacts ORDER BY ALL"),
        "customers": q(settings, f"SELECT {cust} FROM wecom_customers ORDER BY ALL"),
        "group_members": q(settings, f"SELECT {gm}, synced_batch IS NULL FROM group_members ORDER BY ALL"),
        "groups": q(settings, f"SELECT group_id, {', '.join(merge_mod.GROUP_COLS)} FROM groups ORDER BY ALL"),
        # a removal is dated when the sync saw it (since = the previous sync): compared as present, not by value
        "events": q(settings, """SELECT kind, external_userid, staff_userid, group_id, member_id,
                                        CASE WHEN kind LIKE '%added' OR kind = 'group_joined' THEN event_at END,
                                        since IS NOT NULL
                                 FROM contact_events ORDER BY ALL"""),
        "load_log": q(settings, """SELECT kind, rows_read, inserted, updated, unchanged, removed FROM load_log
                                   WHERE batch_id LIKE 'wsync-%' ORDER BY ALL"""),
    }


def spy_phases(monkeypatch, fail_at: tuple[str, str] | None = None) -> list[tuple[str, str]]:
    """Record (phase, unit) of each merge step; raise KeyboardInterrupt at ``fail_at`` before it runs."""
    seen = []

    def spy(con, phase, *a):
        unit = a[5][0] if len(a) > 5 else "all"
        if (phase, unit) == fail_at:
            raise KeyboardInterrupt
        seen.append((phase, unit))
        return PHASE(con, phase, *a)

    monkeypatch.setattr(merge_mod, "_phase", spy)
    return seen


@pytest.fixture
def one_pass(sb, tmp_path):
    """A second sync merged in one pass (the default merge_chunk), and the workspace the same test gives units."""
    whole, in_units = first_sync_then_change(sb, [tmp_path / "whole", tmp_path / "units"], CHUNK)
    r = sync_wecom(whole, client=make_client(sb, whole), activity=False)
    assert last_progress(whole)["merge_units"] == ["all"]
    return merged_state(whole), r, in_units


def test_the_fixture_changes_every_kind_of_row(sb, one_pass):
    state, r, _ = one_pass
    # 36 relations: 5 removed in WeCom and 3 an export loaded go, 3 come, 1 has a new remark
    assert r.counts["contacts"] == {"added": 3, "updated": 1, "unchanged": 30, "removed": 8}
    # 30 customers: 4 lost their only relation, 2 are new, 1 has a new unionid
    assert r.counts["customers"] == {"added": 2, "updated": 1, "unchanged": 25, "removed": 4}
    # 30 group members: 1 left, 1 an export loaded goes, 1 joined, 1 has the new unionid; 2 groups' member counts changed
    assert r.counts["group_members"] == {"added": 1, "updated": 1, "unchanged": 28, "removed": 2}
    assert r.counts["groups"] == {"added": 0, "updated": 2, "unchanged": 1, "removed": 0}
    # the 3 relations and the group member an export loaded had no sync: no event
    assert r.events == {"contact_added": 3, "contact_removed": 5, "group_left": 1, "group_joined": 1}
    assert {row[0] for row in state["relations"]} == {e for e, _ in sb.state.live_relations()}


def test_merging_in_units_equals_merging_in_one_pass(sb, monkeypatch, one_pass):
    state, whole, settings = one_pass
    seen = spy_phases(monkeypatch)
    r = sync_wecom(settings, client=make_client(sb, settings), activity=False)
    unit_names = list(map(str, range(8)))  # ⌈30 customers (the store's) / 4⌉
    for phase in merge_mod.PER_CUSTOMER:
        assert [u for p, u in seen if p == phase] == unit_names
    progress = last_progress(settings)
    assert progress["merge_units"] == unit_names
    per_unit = [c["contacts"]["read"] for c in progress["merged_units"]["contacts"].values()]
    assert sum(per_unit) == whole.counts["contacts"]["added"] + whole.counts["contacts"]["updated"] + \
        whole.counts["contacts"]["unchanged"] and max(per_unit) < sum(per_unit) / 2  # the units split the relations
    assert merged_state(settings) == state
    assert r.counts == whole.counts and r.events == whole.events and r.linked == whole.linked
    assert store_state(settings) == sandbox_state(sb)
    assert duplicates(settings) == [("rel", 0), ("cust", 0), ("gm", 0), ("mem", 0), ("ident", 0)]


def test_cli_sync_with_a_small_merge_chunk_equals_one_pass(sb, cli, monkeypatch, one_pass):
    state, whole, settings = one_pass
    data, progress = cli_sync(sb, cli, monkeypatch, settings)
    assert data["counts"] == whole.counts and data["events"] == whole.events
    assert progress["merge_units"] == list(map(str, range(8)))
    assert merged_state(settings) == state


@pytest.mark.parametrize("phase", merge_mod.PER_CUSTOMER)
def test_a_merge_killed_between_units_resumes_at_the_first_unit_not_committed(sb, monkeypatch, one_pass, phase):
    state, whole, settings = one_pass
    seen = spy_phases(monkeypatch, fail_at=(phase, "5"))
    with pytest.raises(KeyboardInterrupt):
        sync_wecom(settings, client=make_client(sb, settings), activity=False)
    assert [u for p, u in seen if p == phase] == ["0", "1", "2", "3", "4"]
    events = q(settings, "SELECT count(*) FROM contact_events")[0][0]
    if phase == "contacts":  # the committed units' events are in, the others' not yet
        assert 0 < events < sum(whole.events.values()) - 2
    seen2 = spy_phases(monkeypatch)
    r = sync_wecom(settings, client=make_client(sb, settings), activity=False)
    assert r.resumed and [u for p, u in seen2 if p == phase] == ["5", "6", "7"]  # committed units not merged again
    assert {p for p, _ in seen2} == {*merge_mod.PHASES[merge_mod.PHASES.index(phase):]}  # nor committed phases
    assert merged_state(settings) == state  # every event exactly once
    assert r.counts == whole.counts and r.events == whole.events  # the committed units' counts are kept


def test_an_empty_answer_is_refused_in_units_too(sb, tmp_path):
    (settings,) = first_sync_then_change(sb, [tmp_path / "ws"], CHUNK)
    for rel in list(sb.state.live_relations()):
        sb.state.remove_friend(*rel)
    with pytest.raises(DataError, match="refusing to record"):
        sync_wecom(settings, client=make_client(sb, settings), activity=False)
    assert q(settings, "SELECT count(*) FROM contact_events") == [(0,)]
    assert q(settings, "SELECT count(*) FROM wecom_contacts") == [(39,)]


@pytest.mark.parametrize(("value", "shown"), [("0", "0"), ("-3", "-3"), ('"big"', "'big'"), ("true", "True")])
def test_a_bad_merge_chunk_is_one_clear_error_before_anything_is_fetched(sb, workspace, cli, monkeypatch, value, shown):
    cfg = workspace / "siyu.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + f"\n[sync]\nmerge_chunk = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="sync.merge_chunk must be a whole number"):
        units.chunk_size(load_settings(workspace), "merge_chunk", units.DEFAULT_MERGE_CHUNK)
    for k, v in sb.env().items():
        monkeypatch.setenv(k, v)
    r = cli("sync", "wecom", "--no-activity", expect=78)
    assert f"sync.merge_chunk must be a whole number of customers ≥ 1, not {shown}\n" in r.stderr
    assert "Traceback" not in r.stderr and sb.state.endpoint_calls.get("externalcontact/batch/get_by_user", 0) == 0


def test_a_merge_killed_before_linking_finishes_resumes_at_the_finish(sb, monkeypatch, one_pass):
    """Relinking group members and orders, naming events and member tags after the last link unit is a transaction
    of its own: a kill before it commits redoes only it."""
    from siyu_cli.sync import linking

    state, whole, settings = one_pass
    real = linking.finish

    def dies(con, batch_id):
        raise KeyboardInterrupt

    monkeypatch.setattr(linking, "finish", dies)
    with pytest.raises(KeyboardInterrupt):
        sync_wecom(settings, client=make_client(sb, settings), activity=False)
    progress = json.loads(q(settings, "SELECT progress FROM wecom_sync_runs WHERE status = 'running'")[0][0])
    assert set(progress["linked_units"]) == set(progress["link_units"]) and "link_finished" not in progress
    finished = []
    monkeypatch.setattr(linking, "finish", lambda con, batch_id: (finished.append(batch_id), real(con, batch_id))[1])
    seen = spy_phases(monkeypatch)
    r = sync_wecom(settings, client=make_client(sb, settings), activity=False)
    assert r.resumed and seen == [] and finished == [r.batch_id]  # no unit merged or linked again
    assert merged_state(settings) == state
    assert r.counts == whole.counts and r.events == whole.events and r.linked == whole.linked


def last_progress(settings) -> dict:
    """The newest sync run's recorded progress (its units, and those committed)."""
    return json.loads(q(settings, "SELECT progress FROM wecom_sync_runs ORDER BY started_at DESC LIMIT 1")[0][0])


def cli_sync(sb, cli, monkeypatch, settings) -> tuple[dict, dict]:
    """`siyu sync wecom --format json` against the sandbox, as a user runs it: its output and the run's progress."""
    for k, v in sb.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("SIYU_WORKSPACE", str(settings.root))
    return json.loads(cli("sync", "wecom", "--no-activity", "--format", "json").stdout), last_progress(settings)
