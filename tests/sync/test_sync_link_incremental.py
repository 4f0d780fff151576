"""A sync after the first resolves through identity.resolve only the customers that are new or whose linking inputs
changed (unionid, remark phone, the first relation's time, channel or guide), and the customers linked to each other
— leaving the others' links untouched — with exactly the final state of resolving every customer again, members
loaded from an export since the last sync included (they link to the synced customer when they are loaded)."""

from __future__ import annotations

import json

import pytest

from siyu_cli.config import load_settings
from siyu_cli.ingest import identity, load_files
from siyu_cli.sandbox import SandboxServer
from siyu_cli.store import open_store
from siyu_cli.sync.wecom import sync_wecom
from store_helpers import q
from test_sync_link_finish import state
from test_sync_merge_units import first_sync_then_change
from test_sync_wecom import duplicates
from wecom_helpers import make_client

RESOLVE = identity.resolve
#: an export loaded between the syncs: B777's phone is customer 8's remark phone, B778's unionid customer 9's
EXPORT = "member_id,phone,unionid,name\nB777,13800000008,,老客八\nB778,13911112222,oSandboxUnion0009,老客九\n"


@pytest.fixture
def sb():
    with SandboxServer(seed="synthetic", synthetic={"staff": 3, "customers": 30, "groups": 3}) as server:
        yield server


def spy_resolve(monkeypatch) -> list[str]:
    """The external_userids every identity.resolve of the sync's link is given."""
    seen = []

    def spy(con, keys_table, out_table):
        seen.extend(r[0] for r in con.execute(f"SELECT external_userid FROM {keys_table}").fetchall())
        return RESOLVE(con, keys_table, out_table)

    monkeypatch.setattr(identity, "resolve", spy)
    return seen


#: the customers whose linking inputs the fixture changes (besides wmsandbox0011's unionid and the two new customers
#: first_sync_then_change makes); it also changes inputs linking does not read (a remark, a name, a later guide)
CHANGED = {"wmsandbox0006", "wmsandbox0010", "wmsandbox0011", "wmbrandnew", "wmbrandnew2"}


@pytest.fixture
def two(sb, tmp_path):
    """Two workspaces after the same first sync, the same changes in WeCom and the same export loaded since; the
    first forgets what its customers were linked by (every customer is resolved again, as before link_keys)."""
    full, incr = first_sync_then_change(sb, [tmp_path / "full", tmp_path / "incr"], None)
    st = sb.state
    st.set_relation_details("wmsandbox0006", next(iter(st.contacts["wmsandbox0006"]["followers"])),
                            remark_mobiles=["13900000006"])  # a new remark phone
    st.add_contact("wmsandbox0010", "guide03", added_at=1_600_000_000)  # a guide before the first: a new join guide
    st.set_contact_details("wmsandbox0014", name="改名")  # not read for a linked customer
    for s in (full, incr):
        csv = s.root / "export.csv"
        csv.write_text(EXPORT, encoding="utf-8")
        load_files(s, "members", [csv], preset="siyu")
    with open_store(full) as con:
        con.execute("UPDATE wecom_customers SET link_keys = NULL")
    return full, incr


def test_a_second_sync_resolves_only_the_changed_customers_and_equals_resolving_all(sb, monkeypatch, two):
    full, incr = two
    everyone = spy_resolve(monkeypatch)
    r_full = sync_wecom(full, client=make_client(sb, full), activity=False)
    customers = q(full, "SELECT count(*) FROM wecom_customers")[0][0]
    assert len(everyone) == r_full.resolved == customers  # the baseline: every customer resolved again
    seen = spy_resolve(monkeypatch)
    r = sync_wecom(incr, client=make_client(sb, incr), activity=False)
    assert set(seen) == CHANGED and len(seen) == r.resolved == len(CHANGED)
    assert state(incr) == state(full)
    assert (r.counts, r.events, r.linked) == (r_full.counts, r_full.events, r_full.linked)
    assert duplicates(incr) == [("rel", 0), ("cust", 0), ("gm", 0), ("mem", 0), ("ident", 0)]
    run = json.loads(q(incr, "SELECT counts FROM wecom_sync_runs ORDER BY finished_at DESC LIMIT 1")[0][0])
    assert run["resolved"] == len(CHANGED)
    # a third sync with no change resolves nobody and changes nothing (but its own load_log rows)
    before = state(incr)
    r3 = sync_wecom(incr, client=make_client(sb, incr), activity=False)
    assert r3.resolved == 0 and r3.linked["already_linked"] == r3.linked["customers"] == customers
    assert {k: v for k, v in state(incr).items() if k != "load_log"} == {k: v for k, v in before.items() if k != "load_log"}


def test_members_an_export_loaded_since_the_last_sync_are_the_synced_customers(sb, monkeypatch, two):
    """The export's rows hit the identities the first sync recorded for customers 8 (phone) and 9 (unionid), so its
    load linked them to those customers' members; the sync need not resolve 8 and 9 again to keep them linked."""
    full, incr = two
    seen = spy_resolve(monkeypatch)
    sync_wecom(incr, client=make_client(sb, incr), activity=False)
    assert not {"wmsandbox0008", "wmsandbox0009"} & set(seen)
    linked = q(incr, """SELECT c.external_userid, i.id_value FROM wecom_customers c JOIN member_identities i
                        ON i.member_id = c.member_id AND i.id_type = 'source_member_id' ORDER BY 1""")
    assert linked == [("wmsandbox0008", "B777"), ("wmsandbox0009", "B778")]
    sync_wecom(full, client=make_client(sb, full), activity=False)
    assert state(incr) == state(full)


def test_cli_second_sync_reports_how_many_customers_it_resolved(sb, cli, monkeypatch, two):
    full, incr = two
    sync_wecom(full, client=make_client(sb, full), activity=False)
    for k, v in sb.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("SIYU_WORKSPACE", str(incr.root))
    out = json.loads(cli("sync", "wecom", "--no-activity", "--format", "json").stdout)
    assert out["resolved"] == len(CHANGED)
    assert state(incr) == state(full)


def test_a_customer_whose_member_was_merged_since_is_resolved_again(sb, monkeypatch, two):
    """A member merge since the last sync repoints both customers to one member: linked to each other now, they are
    resolved again (as a full re-resolve would, filling the survivor's empty values from them)."""
    from siyu_cli import members

    full, incr = two
    for s in (full, incr):
        with open_store(s) as con:
            members.apply_merges(con, [members.MergePair("wx:wmsandbox0002", "wx:wmsandbox0004", "phone", "x")],
                                 reason="test", batch_id="t")
    sync_wecom(full, client=make_client(sb, full), activity=False)
    seen = spy_resolve(monkeypatch)
    sync_wecom(incr, client=make_client(sb, incr), activity=False)
    assert "wmsandbox0002" in seen and "wmsandbox0004" in seen  # both name the surviving member now
    assert state(incr) == state(full)
