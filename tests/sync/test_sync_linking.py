"""The sync links customers to members in units of `[sync] link_chunk` customers, one transaction each (its
memory stays bounded in customers): the units give exactly what linking every customer at once gives — through
the library and the CLI, with customers that share a phone or unionid inside the sync and customers whose keys
name one existing member — and a kill between units resumes without redoing the committed ones."""

from __future__ import annotations

import json

import pytest

from siyu_cli.config import load_settings
from siyu_cli.errors import ConfigError
from siyu_cli.ingest import load_files
from siyu_cli.sandbox import SandboxServer
from siyu_cli.sync import linking
from siyu_cli.sync.wecom import sync_wecom
from siyu_cli.workspace import init_workspace
from store_helpers import q
from test_sync_wecom import duplicates
from wecom_helpers import make_client

MEMBERS = ("member_id,phone,unionid,name\nM900,,oSandboxUnion0003,老客三\nM901,13800000004,,老客四\n"
           "M902,13800000008,oSandboxUnion0009,两位客户\nM903,13800000016,,老客十六\n")


LINK = linking.link_customers


@pytest.fixture
def sb():
    with SandboxServer(seed="synthetic", synthetic={"staff": 3, "customers": 30, "groups": 3}) as server:
        st = server.state
        # inside the sync: customers 11 and 12 share a remark phone, 13 and 15 a unionid (resolve makes each pair one)
        for userid in st.contacts["wmsandbox0011"]["followers"]:
            st.set_relation_details("wmsandbox0011", userid, remark_mobiles=["13800000012"])
        st.set_contact_details("wmsandbox0013", unionid="oSandboxUnion0015")
        yield server


def workspace(root, chunk: int | None = None):
    """A workspace holding the members export above; ``chunk`` sets `[sync] link_chunk`."""
    if not root.exists():
        init_workspace(root)
    if chunk is not None:
        cfg = root / "siyu.toml"
        cfg.write_text(cfg.read_text(encoding="utf-8") + f"\n[sync]\nlink_chunk = {chunk}\n", encoding="utf-8")
    settings = load_settings(root)
    csv = root / "members.csv"
    csv.write_text(MEMBERS, encoding="utf-8")
    load_files(settings, "members", [csv], preset="siyu")
    return settings


def linked_state(settings) -> dict:
    """Everything linking writes, without batch ids and times."""
    return {
        "members": q(settings, """SELECT member_id, source, source_member_id, external_userid, unionid, phone, name,
                                         gender, join_at, join_channel, guide_userid FROM members ORDER BY ALL"""),
        "identities": q(settings, "SELECT id_type, id_value, member_id FROM member_identities ORDER BY ALL"),
        "customers": q(settings, "SELECT external_userid, member_id FROM wecom_customers ORDER BY ALL"),
        "relations": q(settings, "SELECT external_userid, staff_userid, member_id FROM wecom_contacts ORDER BY ALL"),
        "group_members": q(settings, "SELECT group_id, external_userid, member_id FROM group_members ORDER BY ALL"),
        "member_tags": q(settings, "SELECT member_id, tag_group, tag FROM member_tags ORDER BY ALL"),
    }


def spy_units(monkeypatch, fail_at: str | None = None) -> list[tuple[str, int]]:
    """Record (unit, customers) of each committed-to-be link unit; raise KeyboardInterrupt at ``fail_at``."""
    seen = []
    real = LINK

    def spy(con, batch_id, unit="all", buckets=1, last=True):
        if unit == fail_at:
            raise KeyboardInterrupt
        out = real(con, batch_id, unit, buckets, last)
        seen.append((unit, out["customers"]))
        return out

    monkeypatch.setattr(linking, "link_customers", spy)
    return seen


@pytest.fixture
def at_once(sb, tmp_path):
    """The state and link counts of the same sync linking every customer in one unit (the default size)."""
    settings = workspace(tmp_path / "whole")
    r = sync_wecom(settings, client=make_client(sb, settings), activity=False)
    return linked_state(settings), r.linked


def test_the_fixture_exercises_every_kind_of_link(at_once):
    state, counts = at_once
    cust = dict(state["customers"])
    assert cust["wmsandbox0003"] == "M900" and cust["wmsandbox0004"] == "M901" and cust["wmsandbox0016"] == "M903"
    assert cust["wmsandbox0008"] == cust["wmsandbox0009"] == "M902"  # two customers name one existing member
    assert cust["wmsandbox0011"] == cust["wmsandbox0012"] == "wx:wmsandbox0011"  # a phone shared inside the sync
    assert cust["wmsandbox0013"] == cust["wmsandbox0015"] == "wx:wmsandbox0013"  # a unionid shared inside the sync
    assert counts == {"customers": 30, "already_linked": 0, "linked_by_unionid": 2, "linked_by_phone": 3,
                      "linked": 5, "new_members": 23}


def test_linking_in_units_equals_linking_all_at_once(sb, tmp_path, monkeypatch, at_once):
    settings = workspace(tmp_path / "units", chunk=4)
    seen = spy_units(monkeypatch)
    r = sync_wecom(settings, client=make_client(sb, settings), activity=False)
    units = [u for u, _ in seen]
    assert units == ["shared", *map(str, range(8))]  # 30 customers / 4 → 8 hash units after the shared one
    shared = dict(seen)["shared"]
    # 8+9 (M902), 11+12 (phone), 13+15 (unionid); each hash unit holds about a chunk of the others
    assert shared == 6 and sum(n for _, n in seen) == 30 and max(n for u, n in seen if u != "shared") < 12
    assert linked_state(settings) == at_once[0]
    assert r.linked == at_once[1]
    assert duplicates(settings) == [("rel", 0), ("cust", 0), ("gm", 0), ("mem", 0), ("ident", 0)]
    # a second sync with no change links every customer as already known, and changes nothing
    r2 = sync_wecom(settings, client=make_client(sb, settings), activity=False)
    assert r2.linked["already_linked"] == r2.linked["customers"] == 30 and r2.linked["new_members"] == 0
    assert linked_state(settings) == at_once[0]


def test_cli_sync_with_a_small_link_chunk_equals_linking_all_at_once(sb, tmp_path, cli, monkeypatch, at_once):
    settings = workspace(tmp_path / "cli", chunk=7)
    for k, v in sb.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("SIYU_WORKSPACE", str(settings.root))
    r = cli("sync", "wecom", "--no-activity", "--format", "json")
    assert json.loads(r.stdout)["linked"] == at_once[1]
    progress = json.loads(q(settings, "SELECT progress FROM wecom_sync_runs")[0][0])
    assert progress["link_units"] == ["shared", "0", "1", "2", "3", "4"]  # ⌈30 / 7⌉ hash units
    assert linked_state(settings) == at_once[0]


def test_a_sync_killed_between_link_units_resumes_at_the_first_unit_not_committed(sb, tmp_path, monkeypatch, at_once):
    settings = workspace(tmp_path / "killed", chunk=10)
    seen = spy_units(monkeypatch, fail_at="1")
    with pytest.raises(KeyboardInterrupt):
        sync_wecom(settings, client=make_client(sb, settings), activity=False)
    assert [u for u, _ in seen] == ["shared", "0"]
    assert q(settings, "SELECT count(*) FROM wecom_customers WHERE member_id IS NOT NULL")[0][0] == sum(
        n for _, n in seen)  # the committed units are linked, the rest not yet
    seen2 = spy_units(monkeypatch)
    r = sync_wecom(settings, client=make_client(sb, settings), activity=False)
    assert r.resumed and [u for u, _ in seen2] == ["1", "2"]  # the committed units are not linked again
    assert r.linked == at_once[1]  # the counts of the committed units are kept
    assert linked_state(settings) == at_once[0]


@pytest.mark.parametrize("value", ["0", "-3", '"big"', "true"])
def test_link_chunk_must_be_a_positive_whole_number(tmp_path, value):
    root = tmp_path / "bad"
    init_workspace(root)
    (root / "siyu.toml").write_text((root / "siyu.toml").read_text(encoding="utf-8") + f"\n[sync]\nlink_chunk = {value}\n",
                                    encoding="utf-8")
    with pytest.raises(ConfigError, match="sync.link_chunk must be a whole number"):
        linking.chunk_size(load_settings(root))
