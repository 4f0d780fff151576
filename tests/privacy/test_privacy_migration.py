"""Migration 005 rewrites the old p:/e:/u: member ids everywhere, keeping every link.

A demo store is turned back into what siyu before 004/005 wrote (member ids ``p:<phone>`` /
``e:<email>`` / ``u:<unionid>``, SOP keys and due-campaign ids built from them, schema at 500 without
004/005), then opened: the migration must give back exactly the pseudonymous store — every table's
rows equal, campaign recipients resolving to members, due campaigns still found by their key.
"""

from __future__ import annotations

from datetime import date

import pytest

from siyu_cli.config import load_settings
from siyu_cli.demo.runner import run_demo
from siyu_cli.privacy import pseudonym, workspace_key
from siyu_cli.push.due import due_campaign_id
from siyu_cli.store import open_store

OLD_PREFIX = {"phone": "p:", "email": "e:", "unionid": "u:"}
ID_COLUMNS = (("members", "member_id"), ("member_identities", "member_id"), ("orders", "member_id"),
              ("group_members", "member_id"), ("wecom_contacts", "member_id"), ("member_tags", "member_id"),
              ("optouts", "member_id"), ("segment_member_rows", "member_id"), ("push_recipients", "member_id"),
              ("push_recipients", "recipient_id"))


def dump(con) -> dict[str, list]:
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' AND table_type = 'BASE TABLE' "
        "AND table_name NOT IN ('schema_migrations', 'wecom_tokens')").fetchall()]
    return {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall())) for t in tables}


def to_old_ids(con, key: bytes) -> dict[str, str]:
    """Rewrite the store as siyu before migration 005 wrote it; return new id → old id."""
    idents = con.execute("SELECT id_type, id_value, member_id FROM member_identities "
                         "WHERE id_type IN ('phone', 'email', 'unionid')").fetchall()
    back = {}
    for t, v, mid in idents:
        if mid == pseudonym(key, t, v):
            back[mid] = OLD_PREFIX[t] + v
    con.execute("CREATE TEMP TABLE back AS SELECT unnest(?::VARCHAR[]) AS new, unnest(?::VARCHAR[]) AS old",
                [list(back), list(back.values())])
    for t, c in ID_COLUMNS:
        con.execute(f"UPDATE {t} SET {c} = b.old FROM back b WHERE {t}.{c} = b.new")
    for cid, name, aud, key_ in con.execute("SELECT campaign_id, name, audience, due_key FROM push_campaigns").fetchall():
        def old(text):
            for n, o in back.items():
                text = text.replace(n, o) if text else text
            return text
        new_cid = due_campaign_id(old(key_)) if key_ and cid == due_campaign_id(key_) else cid
        con.execute("UPDATE push_campaigns SET campaign_id = ?, name = ?, audience = ?, due_key = ? WHERE campaign_id = ?",
                    [new_cid, old(name), old(aud), old(key_), cid])
        for t in ("push_batches", "push_recipients"):
            con.execute(f"UPDATE {t} SET campaign_id = ? WHERE campaign_id = ?", [new_cid, cid])
    con.execute("DROP TABLE id_key; DROP TABLE erased_identities; DROP TABLE erasures")
    con.execute("ALTER TABLE load_log DROP COLUMN erased")
    con.execute("DELETE FROM schema_migrations WHERE version IN (4, 5)")
    return back


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("migration") / "demo"
    assert run_demo(root, members=80, seed=7, today=date(2026, 11, 25)).ok
    return root


def test_migration_rewrites_old_ids_and_keeps_every_link(demo):
    settings = load_settings(demo)
    key = workspace_key(settings)
    with open_store(settings) as con:
        sop_keys = [r[0] for r in con.execute("SELECT due_key FROM push_campaigns WHERE due_key LIKE 'sop:%:ph:%'").fetchall()]
        assert sop_keys, "the demo must hold SOP campaigns keyed by a pseudonymous member"
        before = dump(con)
        back = to_old_ids(con, key)
        assert len(back) > 50
        old = dump(con)
        # the old store really holds phones in ids (what the migration must remove)
        assert con.execute("SELECT count(*) FROM members WHERE member_id LIKE 'p:1%'").fetchone()[0] > 50
        assert con.execute("SELECT count(*) FROM push_campaigns WHERE due_key LIKE 'sop:%:p:1%'").fetchone()[0]
        assert con.execute("SELECT count(*) FROM orders WHERE member_id LIKE 'p:1%'").fetchone()[0] > 50
    counts_old = {t: len(rows) for t, rows in old.items()}
    with open_store(settings) as con:  # opening applies 004 and 005
        after = dump(con)
        assert {t: len(after[t]) for t in counts_old} == counts_old
        assert not con.execute("SELECT count(*) FROM members WHERE member_id SIMILAR TO '[peu]:.*'").fetchone()[0]
        # every recipient with a member resolves to one; every due campaign is found under its key's id
        assert con.execute("SELECT count(*) FROM push_recipients r ANTI JOIN members m USING (member_id) "
                           "WHERE r.member_id IS NOT NULL").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM push_recipients WHERE member_id IS NOT NULL").fetchone()[0]
        for cid, k in con.execute("SELECT campaign_id, due_key FROM push_campaigns WHERE due_key IS NOT NULL").fetchall():
            assert cid == due_campaign_id(k)
        assert con.execute("SELECT count(*) FROM orders o ANTI JOIN members m USING (member_id) "
                           "WHERE o.member_id IS NOT NULL").fetchone()[0] == 0
    # the round trip gives back exactly the store the loader made
    assert {t: rows for t, rows in after.items() if t in before and t not in ("load_log", "id_key")} == \
        {t: rows for t, rows in before.items() if t not in ("load_log", "id_key")}


def test_a_store_opened_with_another_key_is_refused(demo, tmp_path, monkeypatch, cli):
    key_file = tmp_path / "other.key"
    key_file.write_text("ab" * 32)
    key_file.chmod(0o600)
    monkeypatch.setenv("SIYU_WORKSPACE", str(demo))
    monkeypatch.setenv("SIYU_ID_KEY_FILE", str(key_file))
    r = cli("load", "orders", demo / "exports" / "nonexistent.csv", expect=None)
    assert r.exit_code == 78 and "id key" in r.stderr and "ab" * 8 not in r.stderr + r.stdout
