"""Keys stay unique without an index (migration 003): the loader alone guarantees them.

orders (source, order_id), members member_id and member_identities (id_type, id_value) carry no
PRIMARY KEY since migration 003 (DuckDB's ART index cost more than the rest of a load). These tests
drive the loader through everything that could insert a key twice — reloads, forced reloads,
overlapping exports, repeated rows and line items, several files in one call, identity merges
across sources — and check every key is still there exactly once and nothing was lost.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from siyu_cli.ingest import load_files
from siyu_cli.store import migrations, open_store
from store_helpers import write

KEYS = {
    "orders": "source, order_id",
    "members": "member_id",
    "member_identities": "id_type, id_value",
}


def duplicates(settings) -> dict[str, int]:
    """Per table: how many key values occur more than once (0 everywhere when the keys hold)."""
    with open_store(settings, read_only=True) as con:
        return {
            table: con.execute(
                f"SELECT count(*) FROM (SELECT {cols} FROM {table} GROUP BY ALL HAVING count(*) > 1)"
            ).fetchone()[0]
            for table, cols in KEYS.items()
        }


def count(settings, sql: str) -> int:
    with open_store(settings, read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def test_orders_stay_unique_through_reloads_overlaps_and_repeats(settings, tmp_path):
    first = write(tmp_path / "a.csv", "order_id,member_id,phone,status,paid_at,paid_amount\n"
                  "O1,M1,13800000001,paid,2024-03-01,10\nO2,M2,13800000002,paid,2024-03-02,20\n"
                  "O2,M2,13800000002,refunded,2024-03-02,20\n")  # O2 twice in one file: last row wins
    second = write(tmp_path / "b.csv", "order_id,member_id,phone,status,paid_at,paid_amount\n"
                   "O2,M2,13800000002,paid,2024-03-02,25\nO3,M3,13800000001,paid,2024-03-03,30\n")
    # both files in one call share O2; then everything again, forced, in the other order
    load_files(settings, "orders", [first, second], max_rejects=0)
    load_files(settings, "orders", [second, first], force=True)
    load_files(settings, "orders", [first], force=True)
    assert duplicates(settings) == {"orders": 0, "members": 0, "member_identities": 0}
    assert count(settings, "SELECT count(*) FROM orders") == 3
    # the last load (first file alone) decides O2: its second row, refunded
    assert count(settings, "SELECT count(*) FROM orders WHERE order_id = 'O2' AND status = 'refunded'") == 1
    # O3 names an unknown member id M3 with M1's phone: matched to M1 by the phone, and the id M3 now
    # points at M1 too (one identity row each), so there are two members, not three
    assert count(settings, "SELECT count(*) FROM members") == 2
    assert count(settings, "SELECT count(*) FROM member_identities WHERE id_value IN ('13800000001', 'M3') "
                           "AND member_id = 'M1'") == 2


def test_same_order_id_in_two_sources_is_two_orders(settings, tmp_path):
    siyu = write(tmp_path / "siyu.csv", "order_id,status,paid_at,paid_amount\n1001,paid,2024-03-01,10\n")
    shopify = write(tmp_path / "shopify.csv",
                    "Name,Email,Financial Status,Paid at,Total,Lineitem quantity,Lineitem name\n"
                    "1001,a@example.com,paid,2024-03-01 10:00:00 +0800,10.00,1,Latte\n"
                    "1001,a@example.com,paid,2024-03-01 10:00:00 +0800,10.00,1,Mocha\n")
    for _ in range(2):
        load_files(settings, "orders", [siyu], force=True)
        load_files(settings, "orders", [shopify], preset="shopify_orders", force=True)
    assert duplicates(settings) == {"orders": 0, "members": 0, "member_identities": 0}
    assert count(settings, "SELECT count(*) FROM orders WHERE order_id IN ('1001', '#1001')") == 2


def test_demo_exports_loaded_twice_keep_every_key_once(settings, tmp_path, cli):
    data = tmp_path / "exports"
    cli("demo", "data", str(data), "--members", "300", "--seed", "3")
    members = sorted(str(p) for p in data.glob("*members*.csv") if "group" not in p.name) + [str(data / "wecom_customers.csv")]
    orders = sorted(str(p) for p in data.glob("*_orders.csv"))
    sizes = []
    for force in ([], ["--force"]):
        cli("load", "members", *members, "--max-rejects", "1000", *force, expect=None)
        cli("load", "orders", *orders, "--max-rejects", "1000", *force, expect=None)
        sizes.append(tuple(count(settings, f"SELECT count(*) FROM {t}") for t in KEYS))
    assert duplicates(settings) == {"orders": 0, "members": 0, "member_identities": 0}
    # the forced second round found every key already there: nothing new in any keyed table
    assert sizes[0] == sizes[1] and min(sizes[0]) > 0
    with open_store(settings, read_only=True) as con:
        assert con.execute("SELECT sum(inserted) FROM load_log WHERE kind = 'orders' AND batch_id IN "
                           "(SELECT batch_id FROM load_log ORDER BY started_at DESC LIMIT 3)").fetchone()[0] == 0
        # every order that names a member points at one that exists
        assert con.execute("SELECT count(*) FROM orders o ANTI JOIN members m USING (member_id) "
                           "WHERE o.member_id IS NOT NULL").fetchone()[0] == 0


#: columns migrations after 003 add to the keyed tables (appended, so 003's columns keep their order)
ADDED_AFTER_003 = {"orders": ("coupon_code",), "member_identities": ("id_hash",)}


def test_migration_003_rebuilds_keyed_tables_and_keeps_their_rows(settings):
    import duckdb

    before = [m for m in migrations() if m.version < 3]
    con = duckdb.connect(str(settings.store))
    for mig in before:
        con.execute(mig.sql)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [mig.version, mig.name])
    con.execute("INSERT INTO members (member_id, phone, name) VALUES ('M1', '13800000001', '张三')")
    con.execute("INSERT INTO member_identities VALUES ('phone', '13800000001', 'M1')")
    con.execute("INSERT INTO orders (source, order_id, member_id, status, paid_amount, net_amount) "
                "VALUES ('youzan', 'E1', 'M1', 'paid', 12.5, 12.5)")
    columns_before = {t: con.execute(f"SELECT column_name, data_type, is_nullable, column_default "
                                     f"FROM information_schema.columns WHERE table_name = '{t}' "
                                     "ORDER BY ordinal_position").fetchall() for t in KEYS}
    con.close()
    with open_store(settings) as con:
        assert con.execute("SELECT member_id, phone, name FROM members").fetchall() == [("M1", "13800000001", "张三")]
        assert con.execute("SELECT id_type, id_value, member_id FROM member_identities").fetchall() == [
            ("phone", "13800000001", "M1")]
        assert con.execute("SELECT order_id, member_id, refund_amount FROM orders").fetchall() == [("E1", "M1", 0)]
        keyed = con.execute("SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
                            "AND table_name IN ('orders', 'members', 'member_identities')").fetchall()
        assert keyed == []
        for table, cols in columns_before.items():
            after = con.execute(f"SELECT column_name, data_type, is_nullable, column_default "
                                f"FROM information_schema.columns WHERE table_name = '{table}' "
                                "ORDER BY ordinal_position").fetchall()
            # same columns, types and defaults; only the key column of members became NOT NULL explicitly
            # (columns later migrations add at the end are not 003's business: 372 adds orders.coupon_code,
            # 006 member_identities.id_hash)
            after = [c for c in after if c[0] not in ADDED_AFTER_003.get(table, ())]
            assert [c[:2] + c[3:] for c in after] == [c[:2] + c[3:] for c in cols], table
    # and the upgraded store loads on top of the old rows without duplicating them
    assert duplicates(settings) == {"orders": 0, "members": 0, "member_identities": 0}


@pytest.mark.parametrize("kind", ["members", "orders"])
def test_example_exports_reloaded_with_force_insert_nothing(settings, kind):
    root = Path(__file__).resolve().parents[2] / "examples" / "exports" / kind
    files = sorted(root.glob("*"))
    first = load_files(settings, kind, files)
    again = load_files(settings, kind, files, force=True)
    assert again.inserted == 0 and again.read == first.read
    assert duplicates(settings) == {"orders": 0, "members": 0, "member_identities": 0}


def test_ids_linked_through_a_chain_in_one_file_are_one_person(settings, tmp_path):
    # O1 and O2 share member id M2; O2 and O3 share a phone; O4–O6 chain M5–phone–M4–phone–M3 the same way
    # over two links: each chain is one person, named by its strongest (smallest) member id
    text = ("order_id,member_id,phone,paid_at,paid_amount\n"
            "O1,M2,,2024-03-01,10\nO2,M2,13800000001,2024-03-02,10\nO3,M1,13800000001,2024-03-03,10\n"
            "O4,M5,,2024-03-01,10\nO5,M5,13800000002,2024-03-02,10\nO6,M4,13800000002,2024-03-03,10\n"
            "O7,M4,13800000003,2024-03-04,10\nO8,M3,13800000003,2024-03-05,10\n")
    f = write(tmp_path / "chain.csv", text)
    load_files(settings, "orders", [f])
    with open_store(settings, read_only=True) as con:
        owners = dict(con.execute("SELECT order_id, member_id FROM orders").fetchall())
        assert owners == {"O1": "M1", "O2": "M1", "O3": "M1", "O4": "M3", "O5": "M3", "O6": "M3", "O7": "M3", "O8": "M3"}
        assert [r[0] for r in con.execute("SELECT member_id FROM members ORDER BY 1").fetchall()] == ["M1", "M3"]
        ids = dict(con.execute("SELECT id_value, member_id FROM member_identities WHERE id_type = 'source_member_id'").fetchall())
        assert ids == {"M1": "M1", "M2": "M1", "M3": "M3", "M4": "M3", "M5": "M3"}
    # the same file again, forced: every order already points at its person
    again = load_files(settings, "orders", [f], force=True)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 8)
    assert duplicates(settings) == {"orders": 0, "members": 0, "member_identities": 0}
