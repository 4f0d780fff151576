"""member_identities.id_hash (migration 006): a load looks ids up by their hash, and never trusts the hash alone.

The lookup joins on ``id_hash`` (one integer column: DuckDB's join filters the scan of a table that grows with
the store) and compares the text of every match; the migration fills the column for a store's existing ids;
a store whose hashes no longer match DuckDB's ``hash()`` (a DuckDB upgrade) is rehashed before a load reads it.
"""

from __future__ import annotations

from siyu_cli.ingest import load_files
from siyu_cli.store import migrations, open_store
from store_helpers import q, write

HEADER = "order_id,member_id,phone,status,paid_at,paid_amount\n"


def identities(settings) -> list[tuple]:
    return q(settings, "SELECT id_type, id_value, member_id FROM member_identities ORDER BY ALL")


def test_migration_006_hashes_the_stored_ids_and_a_load_finds_them(settings, tmp_path):
    import duckdb

    con = duckdb.connect(str(settings.store))
    for mig in migrations():
        if mig.version < 6:
            mig.apply(con, settings)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [mig.version, mig.name])
    con.execute("INSERT INTO members (member_id, source) VALUES ('M1', 'siyu')")
    con.execute("INSERT INTO member_identities VALUES ('source_member_id', 'M1', 'M1'), ('phone', '13800000001', 'M1')")
    con.close()
    with open_store(settings) as con:
        rows = con.execute("SELECT id_value, id_hash = hash(id_type, id_value) FROM member_identities ORDER BY 1").fetchall()
        nullable = con.execute("SELECT is_nullable FROM information_schema.columns WHERE table_name = 'member_identities' "
                               "AND column_name = 'id_hash'").fetchone()[0]
    assert rows == [("13800000001", True), ("M1", True)]
    assert nullable == "NO"  # a writer that forgets the hash fails instead of storing an id no lookup finds
    # an unknown member id with M1's phone: found by the phone, so no second member
    load_files(settings, "orders", [write(tmp_path / "o.csv", HEADER + "O1,M9,13800000001,paid,2024-03-01,10\n")],
               max_rejects=0)
    assert q(settings, "SELECT member_id FROM orders") == [("M1",)]
    assert q(settings, "SELECT member_id FROM members") == [("M1",)]
    assert identities(settings) == [("phone", "13800000001", "M1"), ("source_member_id", "M1", "M1"),
                                    ("source_member_id", "M9", "M1")]


def test_hashes_a_newer_duckdb_computes_differently_are_recomputed_before_a_lookup(settings, tmp_path):
    load_files(settings, "orders", [write(tmp_path / "a.csv", HEADER + "O1,M1,13800000001,paid,2024-03-01,10\n")],
               max_rejects=0)
    before = identities(settings)
    with open_store(settings) as con:  # what the store holds after an upgrade to a DuckDB whose hash() differs
        con.execute("UPDATE member_identities SET id_hash = id_hash >> 1")
    load_files(settings, "orders", [write(tmp_path / "b.csv", HEADER + "O2,M1,13800000001,paid,2024-03-02,20\n")],
               max_rejects=0)
    # the same person: no identity recorded twice, no second member, and the hashes are DuckDB's again
    assert identities(settings) == before
    assert q(settings, "SELECT member_id, count(*) FROM orders GROUP BY 1") == [("M1", 2)]
    assert q(settings, "SELECT count(*) FROM member_identities WHERE id_hash <> hash(id_type, id_value)") == [(0,)]


def test_an_id_whose_hash_matches_a_stored_one_is_not_that_member(settings, tmp_path):
    # 70 members first (the hash check reads the table's first rows: those stay right), then one stored id
    # given the hash of another id, as a collision of two ids' 64-bit hashes would
    rows = "".join(f"O{i},M{i},138{i:08d},paid,2024-03-01,10\n" for i in range(70))
    load_files(settings, "orders", [write(tmp_path / "a.csv", HEADER + rows)], max_rejects=0)
    with open_store(settings) as con:
        con.execute("UPDATE member_identities SET id_hash = hash('source_member_id', 'NEW') "
                    "WHERE id_type = 'source_member_id' AND id_value = 'M69'")
    load_files(settings, "orders", [write(tmp_path / "b.csv", HEADER + "O99,NEW,,paid,2024-03-02,20\n")], max_rejects=0)
    # NEW is a person of its own, not M69 whose stored hash it shares
    assert q(settings, "SELECT member_id FROM orders WHERE order_id = 'O99'") == [("NEW",)]
    assert q(settings, "SELECT member_id FROM member_identities WHERE id_value = 'NEW'") == [("NEW",)]
