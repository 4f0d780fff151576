"""`siyu forget`: a person leaves no trace in any table or inbox file, stays erased on reload, and is never messaged."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date

import pytest

from siyu_cli.config import load_settings
from siyu_cli.demo.runner import run_demo
from siyu_cli.forget import forget, normalise
from siyu_cli.ingest import load_files
from siyu_cli.store import open_store

KINDS = {"youzan_orders": "orders", "tmall_orders": "orders", "shopify_orders": "orders", "youzan_members": "members",
         "wecom_customers": "members", "wecom_groups": "groups", "wecom_group_members": "groups"}
LOAD_ORDER = ("members", "orders", "groups")


@pytest.fixture
def demo(tmp_path_factory, tmp_path):
    """A fresh demo workspace per test (forget changes it), copied from one built once."""
    built = tmp_path_factory.getbasetemp() / "forget-demo"
    if not built.exists():
        assert run_demo(built, members=80, seed=7, today=date(2026, 11, 25)).ok
    root = tmp_path / "demo"
    shutil.copytree(built, root)
    return root


def the_person(settings) -> dict:
    """A member with a phone and an SOP campaign keyed by their id (and a WeCom id when there is one)."""
    with open_store(settings, read_only=True) as con:
        row = con.execute("""
            SELECT m.member_id, m.phone, m.external_userid, m.unionid, m.email, m.source_member_id
            FROM members m
            WHERE m.phone IS NOT NULL
              AND EXISTS (SELECT 1 FROM push_campaigns c WHERE contains(c.due_key, m.member_id))
            ORDER BY m.external_userid IS NULL, m.member_id
            LIMIT 1
        """).fetchone()
        assert row, "the demo has no member with a phone and an SOP campaign"
        person = dict(zip(("member_id", "phone", "external_userid", "unionid", "email", "source_member_id"), row))
        person["identities"] = [v for (v,) in con.execute(
            "SELECT id_value FROM member_identities WHERE member_id = ?", [person["member_id"]]).fetchall()]
        person["contacts"] = [v for (v,) in con.execute(
            "SELECT external_userid FROM wecom_contacts WHERE member_id = ? UNION "
            "SELECT external_userid FROM group_members WHERE member_id = ?", [person["member_id"]] * 2).fetchall()]
    return person


def needles(person) -> set[str]:
    vals = {person["member_id"], *person["identities"], *person["contacts"]}
    vals |= {person[k] for k in ("phone", "external_userid", "unionid", "email", "source_member_id") if person[k]}
    return {v for v in vals if v and len(v) >= 6}


def traces(settings, person) -> list[str]:
    """Every (table, row) whose text — any column, nested values included — holds one of the person's identifiers."""
    found = []
    wanted = needles(person)
    with open_store(settings, read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'").fetchall()]
        assert len(tables) > 15
        for t in tables:
            for row in con.execute(f"SELECT * FROM {t}").fetchall():
                text = repr(row)
                digits = re.sub(r"(?<=[0-9])[ .-](?=[0-9])", "", text)
                hit = [v for v in wanted if v in text or v in digits]
                if hit:
                    found.append(f"{t}: {hit}")
    return found


def reload_exports(settings, root, **kw):
    files = {k: [p for p in sorted((root / "exports").glob("*.csv")) if KINDS.get(p.stem) == k] for k in LOAD_ORDER}
    return {k: load_files(settings, k, files[k], preset="auto", force=True, max_rejects=None, **kw) for k in LOAD_ORDER}


def test_forget_leaves_no_trace_and_a_reload_counts_their_rows_as_erased(demo, cli, monkeypatch):
    monkeypatch.setenv("SIYU_WORKSPACE", str(demo))
    settings = load_settings(demo)
    person = the_person(settings)
    p = person["phone"]
    # their data in more places: a rejected line (phone with separators), an opt-out, an inbox file
    bad = demo / "bad.csv"
    bad.write_text(f"order_id,paid_at,paid_amount,phone\nZ1,2026-01-02,oops,+86 {p[:3]} {p[3:7]} {p[7:]}\n"
                   f"Z2,2026-01-02,oops,13000000001\nZ3,2026-01-03,12.50,{p}\n", encoding="utf-8")
    cli("load", "orders", bad, expect=65)
    cli("optout", "add", p)
    done = demo / "inbox" / "done" / "2026-11-24"
    done.mkdir(parents=True)
    for f in (demo / "exports").glob("*.csv"):
        shutil.copy(f, done / f.name)
    before = traces(settings, person)
    assert {t.split(":")[0] for t in before} >= {"members", "member_identities", "orders", "rejects", "optouts",
                                                 "segment_member_rows", "push_campaigns"}
    with open_store(settings, read_only=True) as con:
        counts = dict(con.execute("SELECT 'orders', count(*) FROM orders UNION ALL "
                                  "SELECT 'revenue', sum(net_amount)::VARCHAR FROM orders").fetchall())

    r = json.loads(cli("forget", f"+86 {p[:3]}-{p[3:7]}-{p[7:]}", "--format", "json").stdout)
    assert r["people"] == 1 and r["identifiers"] >= 3 and r["rows"]["members"] == 1 and r["files"]
    assert traces(settings, person) == []
    for f in done.glob("*.csv"):  # the inbox copies lost the person's lines, the others stayed
        text = f.read_bytes()
        assert p.encode() not in text and person["member_id"].encode() not in text
    assert sum(1 for _ in (done / "youzan_orders.csv").open(encoding="utf-8")) > 10
    with open_store(settings, read_only=True) as con:
        # orders stay (revenue is right), without a buyer
        assert dict(con.execute("SELECT 'orders', count(*) FROM orders UNION ALL "
                                "SELECT 'revenue', sum(net_amount)::VARCHAR FROM orders").fetchall()) == counts
        erasure = con.execute("SELECT people, identifiers, rows FROM erasures").fetchall()
    assert len(erasure) == 1 and erasure[0][0] == 1
    assert not [v for v in needles(person) if v in repr(erasure)]  # when and how much, never who

    # reloading the exports they came from: their rows are counted as erased, nothing comes back
    reports = reload_exports(settings, demo)
    assert reports["members"].erased > 0
    for rep in reports.values():
        for f in rep.files:
            assert f.read == f.inserted + f.updated + f.unchanged + f.merged + f.rejected + f.erased
    assert traces(settings, person) == []
    # ... also through the CLI, which shows the erased count
    out = json.loads(cli("load", "orders", bad, "--force", "--format", "json", "--max-rejects", "10").stdout)
    assert (out["read"], out["inserted"], out["unchanged"], out["rejected"], out["erased"]) == (3, 0, 0, 2, 1)
    assert traces(settings, person) == []  # the reject of their line is kept, its text is not
    rejects = cli("rejects", "--format", "json", "--unmask").stdout
    assert "[erased]" in rejects and "13000000001" in rejects

    # idempotent: again changes nothing and records nothing
    again = json.loads(cli("forget", p, person["member_id"], "--format", "json").stdout)
    assert again["people"] == 0 and again["identifiers"] == 0 and again["already_erased"] == 2
    assert again["erasure_id"] is None
    with open_store(settings, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM erasures").fetchone()[0] == 1


def test_forget_by_file_and_by_external_userid_and_never_messaged(demo, cli, monkeypatch, tmp_path):
    """An erased external_userid named in an explicit audience is excluded as opted out."""
    monkeypatch.setenv("SIYU_WORKSPACE", str(demo))
    settings = load_settings(demo)
    person = the_person(settings)
    ids = tmp_path / "ids.txt"
    ids.write_text(f"# people who asked\n{person['external_userid']}\nwmNobodyKnowsThisOne\n", encoding="utf-8")
    r = json.loads(cli("forget", "--file", ids, "--format", "json").stdout)
    assert r["people"] == 1 and r["not_found"] == 1
    assert traces(settings, person) == []
    again = forget(settings, [person["external_userid"], person["member_id"]])  # the library: nothing left to do
    assert (again.people, again.identifiers, again.already, again.erasure_id) == (0, 0, 2, None)
    ext = person["external_userid"]
    p = json.loads(cli("push", "create", "--audience", f"list:{ext}", "--text", "hi", "--dry-run", "--format", "json").stdout)
    assert p["to_send"] == 0
    # a WeCom contact sync brings the contact back as a member: the tombstone still keeps them from being messaged
    with open_store(settings) as con:
        staff = con.execute("SELECT userid FROM staff LIMIT 1").fetchone()[0]
        con.execute("INSERT INTO members (member_id, external_userid, guide_userid) VALUES (?, ?, ?)",
                    [f"wx:{ext}", ext, staff])
        con.execute("INSERT INTO wecom_contacts (external_userid, staff_userid, member_id) VALUES (?, ?, ?)",
                    [ext, staff, f"wx:{ext}"])
    p = json.loads(cli("push", "create", "--audience", f"list:wx:{ext}", "--text", "hi", "--dry-run", "--format", "json").stdout)
    assert p["to_send"] == 0 and "opted_out" in p["excluded_by_reason"], p["excluded_by_reason"]


def test_forget_needs_an_identifier(workspace, cli):
    r = cli("forget", expect=2)
    assert "at least one" in r.stderr


@pytest.mark.parametrize("raw,expected", [
    ("+86 138-0013-8000", ("13800138000", "phone")), ("138 0013 8000", ("13800138000", "phone")),
    ("008613800138000", ("13800138000", "phone")), ("Li.Si@Mail.com", ("li.si@mail.com", "email")),
    ("wmABCDEF", ("wmABCDEF", None)), ("ph:0123456789abcdef0123", ("ph:0123456789abcdef0123", None)),
])
def test_normalise_identifiers(raw, expected):
    assert normalise(raw) == expected
