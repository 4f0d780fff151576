"""A later sync writes only the relations, customers, group members, groups and corp tags that are new, changed or
held but never synced (from a file): an unchanged row keeps the batch markers (``synced_batch``, ``updated_at``,
``batch_id``) of the sync that last added or changed it, so a nightly sync with nothing changed writes none of them —
and the store ends exactly as when every staged row was rewritten (the merge before issue 14's nightly round)."""

from __future__ import annotations

import pytest

from siyu_cli.config import load_settings
from siyu_cli.sandbox import SandboxServer
from siyu_cli.store import open_store
from siyu_cli.sync import merge as merge_mod
from siyu_cli.sync.wecom import sync_wecom
from siyu_cli.workspace import init_workspace
from store_helpers import q
from test_sync_merge_units import first_sync_then_change
from wecom_helpers import make_client

#: the synced tables, their keys and the batch markers a merge writes with a row
TABLES = {
    "wecom_contacts": (["external_userid", "staff_userid"], ["synced_batch"]),
    "wecom_customers": (["external_userid"], ["synced_batch", "updated_at"]),
    "group_members": (["group_id", "external_userid"], ["synced_batch", "batch_id"]),
    "groups": (["group_id"], ["synced_batch", "batch_id", "updated_at"]),
    "wecom_corp_tags": (["tag_id"], ["synced_batch"]),
}


@pytest.fixture
def sb():
    with SandboxServer(seed="synthetic", synthetic={"staff": 3, "customers": 30, "groups": 3}) as server:
        yield server


def markers(settings) -> dict[str, dict[tuple, tuple]]:
    """Per table: key → the row's batch markers."""
    return {t: {r[:len(k)]: r[len(k):] for r in q(settings, f"SELECT {', '.join(k + m)} FROM {t}")}
            for t, (k, m) in TABLES.items()}


def whole_tables(settings) -> dict[str, list]:
    """Every column of the synced tables but the batch markers (and whether a row was ever synced), and the events
    and load_log counts."""
    out = {t: q(settings, f"SELECT * EXCLUDE ({', '.join(m)}), synced_batch IS NULL FROM {t} ORDER BY ALL")
           for t, (_, m) in TABLES.items()}
    out["events"] = q(settings, "SELECT kind, external_userid, staff_userid, group_id, member_id, since IS NOT NULL "
                                "FROM contact_events ORDER BY ALL")
    out["load_log"] = q(settings, "SELECT kind, rows_read, inserted, updated, unchanged, removed FROM load_log "
                                  "WHERE batch_id LIKE 'wsync-%' ORDER BY ALL")
    out["members"] = q(settings, "SELECT count(*), count(DISTINCT member_id) FROM members")
    return out


def test_a_second_sync_with_nothing_changed_writes_no_row(settings, sb, cli, monkeypatch):
    for k, v in sb.env().items():
        monkeypatch.setenv(k, v)
    cli("sync", "wecom", "--no-activity")
    before = markers(settings)
    assert all(before.values()) and all(m[0] is not None for rows in before.values() for m in rows.values())
    r = cli("sync", "wecom", "--no-activity", "--format", "csv")
    assert "contacts,0,0,36,0" in r.stdout and "customers,0,0,30,0" in r.stdout
    assert markers(settings) == before  # not one row carries the second sync's batch or time
    assert q(settings, "SELECT count(DISTINCT batch_id) FROM wecom_sync_runs WHERE status = 'done'") == [(2,)]


def test_a_second_sync_writes_exactly_the_changed_rows(settings, sb):
    sync_wecom(settings, client=make_client(sb, settings), activity=False)
    b1 = q(settings, "SELECT batch_id FROM wecom_sync_runs")[0][0]
    st = sb.state
    guide7 = next(iter(st.contacts["wmsandbox0007"]["followers"]))
    st.set_relation_details("wmsandbox0007", guide7, remark="新备注")
    st.set_contact_details("wmsandbox0011", unionid="oChangedUnion11")
    st.add_contact("wmbrandnew", "guide02", added_at=1_750_000_000)
    st.join_group("wrsandbox03", "wmbrandnew")
    with open_store(settings) as con:  # held with the values WeCom returns, but never seen by a sync (a file's)
        con.execute("UPDATE wecom_contacts SET synced_batch = NULL WHERE external_userid = 'wmsandbox0003'")
        held_from_file = set(con.execute("SELECT external_userid, staff_userid FROM wecom_contacts "
                                         "WHERE synced_batch IS NULL").fetchall())
    r = sync_wecom(settings, client=make_client(sb, settings), activity=False)
    after = markers(settings)
    written = {t: {k for k, m in rows.items() if m[0] == r.batch_id} for t, rows in after.items()}
    assert {k for rows in after.values() for k, m in rows.items() if m[0] not in (b1, r.batch_id)} == set()
    assert written["wecom_contacts"] == {("wmsandbox0007", guide7), ("wmbrandnew", "guide02")} | held_from_file
    assert written["wecom_customers"] == {("wmsandbox0011",), ("wmbrandnew",)}
    gm11 = {(g, e) for g, e in after["group_members"] if e == "wmsandbox0011"}  # its unionid changed there too
    assert gm11 and written["group_members"] == {("wrsandbox03", "wmbrandnew")} | gm11
    assert written["groups"] == {("wrsandbox03",)}  # its member count changed
    assert written["wecom_corp_tags"] == set()
    # the counts are as before: the relation held from a file with the same values is unchanged (and now synced)
    assert r.counts["contacts"] == {"added": 1, "updated": 1, "unchanged": 35, "removed": 0}
    assert r.counts["customers"] == {"added": 1, "updated": 1, "unchanged": 29, "removed": 0}
    assert r.events["contact_added"] == 1 + len(held_from_file)
    assert q(settings, "SELECT count(*) FROM wecom_contacts WHERE synced_batch IS NULL") == [(0,)]


def full_rewrite(con, new, table, keys, cols, extra, where="TRUE"):
    """The reference: the merge before this round upserted every staged row, changed or not."""
    on = " AND ".join(f"n.{k} = o.{k}" for k in keys)
    con.execute(f"DELETE FROM {table} o WHERE {where} AND NOT EXISTS (SELECT 1 FROM {new} n WHERE {on})")
    sets = ", ".join(f"{c} = excluded.{c}" for c in [*cols, *extra])
    con.execute(f"""INSERT INTO {table} ({', '.join([*keys, *cols, *extra])})
                    SELECT {', '.join([*keys, *cols])}, {', '.join('?' for _ in extra)} FROM {new}
                    ON CONFLICT DO UPDATE SET {sets}""", list(extra.values()))


@pytest.mark.parametrize("chunk", [None, 4])
def test_the_store_ends_as_when_every_row_was_rewritten(sb, tmp_path, monkeypatch, chunk):
    rewrite, changed = first_sync_then_change(sb, [tmp_path / "rewrite", tmp_path / "changed"], None)
    for s in (rewrite, changed):
        with open_store(s) as con:  # a relation and a group member held from a file under keys WeCom returns
            con.execute("UPDATE wecom_contacts SET synced_batch = NULL, remark = 'from a file' "
                        "WHERE external_userid = 'wmsandbox0003'")
            con.execute("UPDATE group_members SET synced_batch = NULL WHERE external_userid = 'wmsandbox0004'")
        if chunk:
            cfg = s.root / "siyu.toml"
            cfg.write_text(cfg.read_text(encoding="utf-8") + f"\n[sync]\nmerge_chunk = {chunk}\n", encoding="utf-8")
    rewrite, changed = load_settings(rewrite.root), load_settings(changed.root)
    with monkeypatch.context() as m:
        m.setattr(merge_mod, "_replace", full_rewrite)
        expected = sync_wecom(rewrite, client=make_client(sb, rewrite), activity=False)
    r = sync_wecom(changed, client=make_client(sb, changed), activity=False)
    assert r.counts == expected.counts and r.events == expected.events and r.linked == expected.linked
    assert whole_tables(changed) == whole_tables(rewrite)
    # the reference stamped every row with the second sync; the incremental merge only what it added or changed
    assert q(rewrite, "SELECT count(DISTINCT synced_batch) FROM wecom_contacts") == [(1,)]
    assert q(changed, "SELECT count(DISTINCT synced_batch) FROM wecom_contacts") == [(2,)]


def test_an_empty_answer_is_still_refused_after_unchanged_syncs(tmp_path):
    root = tmp_path / "ws"
    init_workspace(root)
    settings = load_settings(root)
    with SandboxServer(seed="synthetic", synthetic={"staff": 3, "customers": 30, "groups": 3}) as server:
        sync_wecom(settings, client=make_client(server, settings), activity=False)
        sync_wecom(settings, client=make_client(server, settings), activity=False)  # writes no relation
        for ext in list(server.state.contacts):
            for userid in list(server.state.contacts[ext]["followers"]):
                server.state.remove_friend(ext, userid)
        from siyu_cli.sync.merge import EmptySync

        with pytest.raises(EmptySync):
            sync_wecom(settings, client=make_client(server, settings), activity=False)
    assert q(settings, "SELECT count(*) FROM wecom_contacts WHERE synced_batch IS NOT NULL") == [(36,)]
