"""Two existing members a later row links become one (issue 15, Identity): every table follows, the
guardrails hold, a split restores the store, and `siyu members merge|split|why|conflicts` work as a user runs them."""

from __future__ import annotations

import json

import pytest

from siyu_cli import members as members_lib
from siyu_cli.ingest import load_files
from siyu_cli.store import open_store

PHONE = "13800138000"
SHOP = "13912345678"


def q(settings, sql: str, params=None):
    with open_store(settings, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def write(tmp_path, name: str, text: str):
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def member_id_columns(settings) -> list[str]:
    """Every base table of the store with a member_id column (a table added later is checked too)."""
    return [t for (t,) in q(settings, """
        SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t
          ON t.table_name = c.table_name AND t.table_schema = c.table_schema
        WHERE c.column_name = 'member_id' AND c.table_schema = 'main' AND t.table_type = 'BASE TABLE'
          AND c.table_name NOT IN ('member_merges', 'member_merge_rows')""")]


def dump(settings) -> dict[str, list]:
    """Every row of every table holding a member id (members without its load stamps)."""
    out = {}
    for t in member_id_columns(settings):
        cols = "* EXCLUDE (updated_batch, updated_at)" if t == "members" else "*"
        out[t] = q(settings, f"SELECT {cols} FROM {t} ORDER BY ALL")
    return out


def two_people(settings, tmp_path) -> None:
    """M1: a back-office member with a phone and an order; wx:woABC: the same person as a WeCom contact with an
    order, tags, an opt-out, segment/CLV rows, a push, group membership and contact events — not linked yet."""
    load_files(settings, "members", [write(tmp_path, "m1.csv", f"member_id,phone,name,tags\nM1,{PHONE},甲,VIP\n")])
    load_files(settings, "members", [write(tmp_path, "m2.csv",
                                           "external_userid,name,guide_userid,tags\nwoABC,甲微信,yuhui,VIP;new\n")])
    load_files(settings, "orders", [write(tmp_path, "o1.csv", "order_id,external_userid,paid_amount,paid_at\n"
                                                                "O1,woABC,10,2026-01-01\n")])
    load_files(settings, "orders", [write(tmp_path, "o2.csv", f"order_id,phone,paid_amount,paid_at\n"
                                                                f"O2,{PHONE},20,2026-01-02\nO3,{PHONE},5,2026-01-03\n")])
    with open_store(settings) as con:
        w = "wx:woABC"
        con.execute("INSERT INTO optouts (member_id, channel, created_at) VALUES (?, 'customer', now()), "
                    "('M1', 'all', now()), (?, 'all', now())", [w, w])
        con.execute("INSERT INTO segment_snapshots (snapshot_id, as_of, scheme, members) VALUES (1, '2026-01-31', 'rfm8', 2), "
                    "(2, '2026-02-28', 'rfm8', 1)")
        con.execute("INSERT INTO segment_member_rows (snapshot_id, member_id, segment_id) VALUES (1, 'M1', 'A'), (1, ?, 'B'), "
                    "(2, ?, 'C')", [w, w])
        con.execute("INSERT INTO clv_fits (fit_id, created_at, as_of, params, buyers, repeat_buyers) "
                    "VALUES (1, now(), '2026-01-31', '{}', 1, 0)")
        con.execute("INSERT INTO clv_members (fit_id, member_id, frequency, recency_days, t_days) VALUES (1, ?, 0, 0, 5)", [w])
        con.execute("INSERT INTO push_campaigns (campaign_id, channel, status, created_at) VALUES ('c1', 'customer', 'sent', now())")
        con.execute("INSERT INTO push_recipients (campaign_id, recipient_id, member_id, state, arm) "
                    "VALUES ('c1', 'woABC', ?, 'sent', 'holdout')", [w])
        con.execute("INSERT INTO group_members (group_id, external_userid, member_id) VALUES ('g1', 'woABC', ?)", [w])
        con.execute("INSERT INTO contact_events (batch_id, kind, external_userid, staff_userid, member_id, event_at) "
                    "VALUES ('wsync-1', 'contact_added', 'woABC', 'yuhui', ?, now())", [w])
        con.execute("INSERT INTO wecom_customers (external_userid, name, member_id) VALUES ('woABC', '甲', ?)", [w])
        con.execute("INSERT INTO wecom_tag_ledger (run_id, external_userid, staff_userid, member_id, status) "
                    "VALUES ('t1', 'woABC', 'yuhui', ?, 'done')", [w])


def test_a_later_row_linking_two_members_merges_them_and_every_table_follows(settings, tmp_path):
    two_people(settings, tmp_path)
    assert q(settings, "SELECT member_id FROM members ORDER BY 1") == [("M1",), ("wx:woABC",)]
    loser_rows = {t: q(settings, f"SELECT count(*) FROM {t} WHERE member_id = 'wx:woABC'")[0][0]
                  for t in member_id_columns(settings)}
    assert all(loser_rows[t] for t in ("orders", "member_tags", "optouts", "segment_member_rows", "clv_members",
                                       "push_recipients", "group_members", "contact_events", "wecom_customers",
                                       "wecom_tag_ledger", "wecom_contacts", "member_identities"))
    # the later row: the WeCom contact's external_userid with the back-office member's phone
    rep = load_files(settings, "members", [write(tmp_path, "link.csv", f"external_userid,phone\nwoABC,{PHONE}\n")])
    d = rep.to_dict()
    assert d["members_merged"] == 1 and d["identity_conflicts"] == 0
    assert d["read"] == d["inserted"] + d["updated"] + d["unchanged"] + d["merged"] + d["rejected"] + d["erased"]
    # one person, kept under the back-office id (the rule), with what only the contact knew
    assert q(settings, "SELECT member_id, external_userid, phone, guide_userid FROM members") == [
        ("M1", "woABC", PHONE, "yuhui")]
    for t in member_id_columns(settings):
        assert q(settings, f"SELECT count(*) FROM {t} WHERE member_id = 'wx:woABC'") == [(0,)], t
    assert q(settings, "SELECT order_id FROM orders WHERE member_id = 'M1' ORDER BY 1") == [("O1",), ("O2",), ("O3",)]
    assert q(settings, "SELECT tag FROM member_tags WHERE member_id = 'M1' ORDER BY 1") == [("VIP",), ("new",)]
    assert q(settings, "SELECT channel FROM optouts WHERE member_id = 'M1' ORDER BY 1") == [("all",), ("customer",)]
    # a snapshot both were in keeps the survivor's row; one only the merged member was in moves
    assert q(settings, "SELECT snapshot_id, segment_id FROM segment_members ORDER BY 1") == [(1, "A"), (2, "C")]
    assert q(settings, "SELECT member_id, arm FROM push_recipients") == [("M1", "holdout")]
    assert q(settings, "SELECT DISTINCT member_id FROM member_identities") == [("M1",)]
    # the audit row says who, when, why and through which id; load history adds up
    assert q(settings, "SELECT survivor_id, merged_id, reason, via_type, via_value, actor, batch_id = ? "
                       "FROM member_merges", [rep.files[0].batch_id]) == [
        ("M1", "wx:woABC", "load", "phone", PHONE, "siyu load", True)]
    assert q(settings, "SELECT rows_read, unchanged + updated + inserted + merged, members_merged FROM load_log "
                       "WHERE batch_id = ?", [rep.files[0].batch_id]) == [(1, 1, 1)]


def test_split_restores_every_row_as_it_was(settings, tmp_path):
    two_people(settings, tmp_path)
    before = dump(settings)
    load_files(settings, "members", [write(tmp_path, "link.csv", f"external_userid,phone\nwoABC,{PHONE}\n")])
    assert dump(settings) != before
    out = members_lib.split(settings, "wx:woABC")
    assert out["restored_id"] == "wx:woABC" and out["rows"]["orders"] == 1
    assert dump(settings) == before
    assert q(settings, "SELECT undone_at IS NOT NULL FROM member_merges") == [(True,)]
    # the pair stays apart: the same linking row loaded again is a conflict, not a merge
    rep = load_files(settings, "members", [tmp_path / "link.csv"], force=True)
    assert (rep.members_merged, rep.identity_conflicts) == (0, 1)
    assert q(settings, "SELECT reason FROM identity_conflicts") == [("SPLIT_KEPT_APART",)]
    assert q(settings, "SELECT count(*) FROM members") == [(2,)]


def test_a_shop_phone_on_many_members_orders_is_a_conflict_not_a_merge(settings, tmp_path):
    load_files(settings, "members", [write(tmp_path, "m.csv", "member_id,name\nA,a\nB,b\nC,c\nD,d\n")])
    orders = "order_id,member_id,phone,paid_amount,paid_at\n" + "".join(
        f"{i},{m},{SHOP},1,2026-01-0{i}\n" for i, m in enumerate("ABCD", start=1))
    rep = load_files(settings, "orders", [write(tmp_path, "o.csv", orders)])
    assert (rep.members_merged, rep.identity_conflicts) == (0, 1)
    assert "not merged" in rep.files[0].warnings[-1]
    assert q(settings, "SELECT order_id, member_id FROM orders ORDER BY 1") == [
        ("1", "A"), ("2", "B"), ("3", "C"), ("4", "D")]
    assert q(settings, "SELECT count(*) FROM members") == [(4,)]
    assert q(settings, "SELECT reason, id_type, id_value, members, member_ids FROM identity_conflicts") == [
        ("SHARED_ID", "phone", SHOP, 4, ["A", "B", "C", "D"])]
    assert q(settings, "SELECT count(*) FROM member_merges") == [(0,)]
    # the shop phone becomes nobody's identity, and stays shared: a later member's order carrying it neither
    # claims it nor links to anyone, one load at a time
    assert q(settings, "SELECT count(*) FROM member_identities WHERE id_value = ?", [SHOP]) == [(0,)]
    for i, m in enumerate("EFGH", start=5):
        more = load_files(settings, "orders", [write(tmp_path, f"o{i}.csv", "order_id,member_id,phone,paid_amount,paid_at\n"
                                                     f"{i},{m},{SHOP},1,2026-01-0{i}\n")])
        assert more.members_merged == 0
    assert q(settings, "SELECT count(*) FROM member_identities WHERE id_value = ?", [SHOP]) == [(0,)]
    assert q(settings, "SELECT count(*) FROM members") == [(8,)]


def test_merges_through_one_id_across_loads_stop_at_max_members_per_id(settings, tmp_path):
    """A phone that joined three members over several loads does not join a fourth (default max 3)."""
    load_files(settings, "orders", [write(tmp_path, "o0.csv", f"order_id,phone,paid_amount,paid_at\nP0,{SHOP},1,2026-01-01\n")])
    for i, ext in enumerate(("woB", "woC", "woD"), start=1):
        load_files(settings, "members", [write(tmp_path, f"m{i}.csv", f"external_userid,name\n{ext},x\n")])
        rep = load_files(settings, "members", [write(tmp_path, f"l{i}.csv", f"external_userid,phone\n{ext},{SHOP}\n")])
        assert (rep.members_merged, rep.identity_conflicts) == ((1, 0) if i < 3 else (0, 1)), ext
    assert q(settings, "SELECT count(*) FROM member_merges WHERE via_value = ?", [SHOP]) == [(2,)]
    assert q(settings, "SELECT count(*) FROM members") == [(2,)]


def test_two_back_office_member_ids_sharing_a_phone_are_not_merged(settings, tmp_path):
    load_files(settings, "members", [write(tmp_path, "m.csv", f"member_id,phone\nA,{PHONE}\nB,\n")])
    rep = load_files(settings, "orders", [write(tmp_path, "o.csv",
                                                f"order_id,member_id,phone,paid_amount,paid_at\n1,B,{PHONE},1,2026-01-01\n")])
    assert (rep.members_merged, rep.identity_conflicts) == (0, 1)
    assert q(settings, "SELECT reason, member_ids FROM identity_conflicts") == [("DISTINCT_MEMBER_IDS", ["A", "B"])]
    assert q(settings, "SELECT member_id FROM orders") == [("B",)]


def test_max_members_per_id_is_validated(settings, tmp_path, workspace):
    cfg = workspace / "siyu.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + "\n[identity]\nmax_members_per_id = 1\n", encoding="utf-8")
    from siyu_cli.config import load_settings
    from siyu_cli.errors import ConfigError

    with pytest.raises(ConfigError, match="max_members_per_id"):
        load_files(load_settings(workspace), "members", [write(tmp_path, "m.csv", "member_id\nA\n")])


def test_survivor_rule_prefers_the_strongest_id_then_more_orders(settings, tmp_path):
    load_files(settings, "orders", [write(tmp_path, "o.csv", "order_id,external_userid,email,paid_amount,paid_at\n"
                                                               "1,woX,,1,2026-01-01\n2,woY,,1,2026-01-01\n3,woY,,1,2026-01-02\n"
                                                               "4,,a@b.cn,1,2026-01-03\n")])
    with open_store(settings) as con:
        em = con.execute("SELECT member_id FROM orders WHERE order_id = '4'").fetchone()[0]
        assert members_lib.survivor_order(con, [em, "wx:woX", "wx:woY"]) == ["wx:woY", "wx:woX", em]


# ---------------------------------------------------------------- the CLI


def test_cli_merge_why_split(cli, workspace, settings, tmp_path):
    two_people(settings, tmp_path)
    res = cli("members", "merge", "+86 138 0013 8000", "woABC", "--format", "json")  # a phone in any style
    out = json.loads(res.stdout)
    assert (out["survivor_id"], out["merged_id"]) == ("M1", "wx:woABC") and out["rows"]["orders"] == 1
    assert f"siyu members split {out['merge_id']}" in res.stderr
    assert q(settings, "SELECT actor LIKE 'cli%', reason FROM member_merges") == [(True, "cli")]

    why = json.loads(cli("members", "why", "wx:woABC", "--format", "json").stdout)  # a merged-away id names the survivor
    assert why["member_id"] == "M1" and why["rows"]["orders"] == 3
    # the snapshots M1 is in (its own A in 1, the merged member's C in 2), as segment_members shows them, not the
    # stored rows of a chain (migration 101)
    assert why["rows"].get("segment_members") == 2 and "segment_member_rows" not in why["rows"]
    assert {"id_type": "phone", "id_value": "138****8000"} in why["identities"]
    assert [m["merge_id"] for m in why["merges"]] == [out["merge_id"]]
    assert {b["file"].rsplit("/", 1)[-1] for b in why["batches"]} >= {"m1.csv", "o1.csv", "o2.csv"}
    table = cli("members", "why", "M1").stdout
    assert PHONE not in table and "138****8000" in table and "wx:woABC → M1" in table
    assert PHONE in cli("members", "why", "M1", "--unmask", "--format", "csv").stdout

    res = cli("members", "split", out["merge_id"], "--format", "csv")
    assert res.stdout.splitlines()[0] == "merge_id,survivor_id,other_id,table,rows"
    assert q(settings, "SELECT count(*) FROM members") == [(2,)]
    assert "already undone" in cli("members", "split", out["merge_id"], expect=2).stderr


def test_cli_errors_are_one_line(cli, workspace, settings, tmp_path):
    two_people(settings, tmp_path)
    assert "No member has the id" in cli("members", "merge", "M1", "nobody", expect=65).stderr
    assert "already the same member" in cli("members", "merge", "M1", PHONE, expect=2).stderr
    assert "No merge to undo" in cli("members", "split", "M1", expect=65).stderr
    assert "No member has the id woZZZ" in cli("members", "merge", "M1", "woABC", "--keep", "woZZZ", expect=65).stderr
    load_files(settings, "members", [write(tmp_path, "m7.csv", "member_id\nM7\n")])
    assert "--keep must name one of the two" in cli("members", "merge", "M1", "woABC", "--keep", "M7", expect=2).stderr
    assert q(settings, "SELECT count(*) FROM member_merges") == [(0,)]


def test_cli_merge_keep_and_conflicts_and_load_summary(cli, workspace, settings, tmp_path):
    two_people(settings, tmp_path)
    out = json.loads(cli("members", "merge", "M1", "woABC", "--keep", "woABC", "--format", "json").stdout)
    assert out["survivor_id"] == "wx:woABC"
    cli("members", "split", "M1")
    load_files(settings, "members", [write(tmp_path, "m.csv", "member_id,name\nA,a\nB,b\nC,c\nD,d\n")])
    orders = "order_id,member_id,phone,paid_amount,paid_at\n" + "".join(
        f"{i},{m},{SHOP},1,2026-01-0{i}\n" for i, m in enumerate("ABCD", start=1))
    res = cli("load", "orders", str(write(tmp_path, "o.csv", orders)))
    assert "identity_conflicts" in res.stdout and "members conflicts" in res.stderr
    conflicts = json.loads(cli("members", "conflicts", "--format", "json").stdout)
    assert [(c["reason"], c["id_value"], c["members"]) for c in conflicts] == [("SHARED_ID", "139****5678", 4)]
    link = write(tmp_path, "link.csv", "external_userid,phone\nwoABC,13700137000\n")
    cli("load", "members", str(write(tmp_path, "p.csv", "member_id,phone\nM9,13700137000\n")))
    res = cli("load", "members", str(link), "--format", "csv")
    header, row = res.stdout.splitlines()[:2]
    assert "members_merged" in header.split(",")
    assert dict(zip(header.split(","), row.split(",")))["members_merged"] == "1"


def test_forget_erases_the_merge_audit_of_the_person(cli, workspace, settings, tmp_path):
    two_people(settings, tmp_path)
    load_files(settings, "members", [write(tmp_path, "link.csv", f"external_userid,phone\nwoABC,{PHONE}\n")])
    load_files(settings, "members", [write(tmp_path, "m.csv", "member_id,name\nA,a\nB,b\nC,c\nD,d\n")])
    load_files(settings, "orders", [write(tmp_path, "o.csv", "order_id,member_id,phone,paid_amount,paid_at\n" + "".join(
        f"S{i},{m},{SHOP},1,2026-01-0{i}\n" for i, m in enumerate("ABCD", start=1)))])
    assert q(settings, "SELECT count(*) FROM member_merge_rows") != [(0,)]
    out = json.loads(cli("forget", PHONE, "A", "--format", "json").stdout)
    assert out["rows"]["member_merges"] == 1 and out["rows"]["member_merge_rows"] > 0
    assert q(settings, "SELECT count(*) FROM member_merges") == [(0,)]
    assert q(settings, "SELECT count(*) FROM member_merge_rows") == [(0,)]
    # the shop phone's conflict stays, without the erased member
    assert q(settings, "SELECT member_ids FROM identity_conflicts") == [(["B", "C", "D"],)]
