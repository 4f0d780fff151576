"""[engine] settings and `siyu export lake`, as a user meets them (no Spark needed: these run everywhere)."""

from __future__ import annotations

import sys

import duckdb
import pytest

from segment_fixtures import add_members, add_order, local
from siyu_cli.errors import ExitCode
from siyu_cli.store import open_store


def _engine(workspace, body: str) -> None:
    path = workspace / "siyu.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n[engine]\n" + body, encoding="utf-8")


@pytest.mark.parametrize("body, fragment", [
    ('kind = "presto"\n', "engine.kind must be duckdb or spark"),
    ('kind = "spark"\n', "engine.orders must say where the orders live"),
    ('kind = "spark"\norders = "lake/orders"\nmaster = "http://x"\n', "engine.master must be"),
    ('kind = "spark"\norders = "lake/orders"\nformat = "csv"\n', "engine.format must be parquet or delta"),
    ('kidn = "spark"\n', "engine.kidn is not a known key"),
])
def test_bad_engine_setting_is_one_line_exit_78(workspace, cli, body, fragment):
    _engine(workspace, body)
    result = cli("segment", "--as-of", "2026-06-30", expect=ExitCode.CONFIG)
    assert fragment in result.stderr and result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr


def test_spark_without_java_is_one_line_exit_78(workspace, siyu_subprocess, tmp_path):
    _engine(workspace, 'kind = "spark"\norders = "lake/orders"\n')
    empty = tmp_path / "empty-path"
    empty.mkdir()
    result = siyu_subprocess("segment", "--as-of", "2026-06-30", env={"PATH": str(empty), "JAVA_HOME": ""})
    if "needs pyspark" in result.stderr:
        pytest.skip("pyspark is not installed here: the missing-pyspark message was shown instead")
    assert result.returncode == ExitCode.CONFIG, result.stderr
    assert "needs a Java runtime" in result.stderr and "openjdk-17-jre-headless" in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr


def test_spark_without_pyspark_is_one_line_exit_78(workspace, cli, monkeypatch):
    _engine(workspace, 'kind = "spark"\norders = "lake/orders"\n')
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark → ImportError, as when not installed
    result = cli("clv", "--as-of", "2026-06-30", expect=ExitCode.CONFIG)
    assert "needs pyspark" in result.stderr and "siyu-cli[spark]" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_duckdb_is_the_default_and_explicit_duckdb_changes_nothing(workspace, cli):
    from siyu_cli.config import load_settings
    from siyu_cli.engine import engine_config

    assert engine_config(load_settings(workspace, env={})).kind == "duckdb"
    _engine(workspace, 'kind = "duckdb"\n')
    assert engine_config(load_settings(workspace, env={})).spark is False
    cli("segment", "--as-of", "2026-06-30")


def _store_with_orders(settings):
    with open_store(settings) as con:
        add_members(con, "m1", phone="13800138000", email="a@example.com")
        add_members(con, "m2")
        add_order(con, "m1", local("2026-05-31", "23:30:00"), 100)  # May locally, though 15:30 UTC
        add_order(con, "m1", local("2026-06-01", "00:10:00"), 30)  # June locally, 31 May UTC
        add_order(con, "m2", local("2026-06-15"), 50, refund=50, status="refunded")
        add_order(con, "m2", None, 20, status="unpaid")
        con.execute("UPDATE orders SET buyer_phone = '13800138000' WHERE member_id = 'm1'")


def test_export_lake_writes_partitioned_parquet_without_personal_columns(settings, cli, tmp_path):
    _store_with_orders(settings)
    out = tmp_path / "lake"
    result = cli("export", "lake", str(out), "--format", "json")
    assert '"orders": 4' in result.stdout and '"members": 2' in result.stdout
    months = sorted(p.name for p in (out / "orders").iterdir())
    assert months == ["paid_month=2026-05", "paid_month=2026-06", "paid_month=unpaid"]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    rows = con.execute(
        f"SELECT order_id, member_id, status, paid_month, net_amount FROM read_parquet('{out}/orders/*/*.parquet', "
        "hive_partitioning = true) ORDER BY paid_at NULLS LAST").fetchall()
    assert [(r[1], r[2], r[3], float(r[4])) for r in rows] == [
        ("m1", "paid", "2026-05", 100.0), ("m1", "paid", "2026-06", 30.0), ("m2", "refunded", "2026-06", 0.0),
        ("m2", "unpaid", "unpaid", 0.0)]
    order_cols = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{out}/orders/*/*.parquet')").fetchall()}
    member_cols = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{out}/members/*.parquet')").fetchall()}
    assert "buyer_phone" not in order_cols and {"paid_at", "net_amount", "status"} <= order_cols
    assert not {"phone", "email", "name"} & member_cols and "member_id" in member_cols
    blob = b"".join(p.read_bytes() for p in out.rglob("*.parquet"))
    assert b"13800138000" not in blob and b"a@example.com" not in blob
    # a second export refuses the non-empty folder (exit 2) unless --overwrite; --unmask keeps the phones
    cli("export", "lake", str(out), expect=ExitCode.USAGE)
    cli("export", "lake", str(tmp_path / "full"), "--unmask")
    assert b"13800138000" in b"".join(p.read_bytes() for p in (tmp_path / "full").rglob("*.parquet"))


def test_export_lake_reads_the_store_read_only(settings, cli, tmp_path):
    """Another process may hold the store read-only while the lake is written (no read-write open)."""
    _store_with_orders(settings)
    with open_store(settings, read_only=True):
        cli("export", "lake", str(tmp_path / "lake"))
    assert (tmp_path / "lake" / "members").is_dir()


# ---------------------------------------------------------------- audiences with engine.kind = "spark"

LAKE = 'kind = "spark"\norders = "lake/orders"\n'


@pytest.mark.parametrize("query, fragment", [
    ("SELECT o.member_id FROM orders o JOIN member_tags t USING (member_id)",
     "reads orders from the lake (engine.kind = \"spark\") and member_tags from the store"),
    ("SELECT reflect('java.lang.System', 'exit', 1) AS member_id FROM orders", "reflect() cannot run on Spark"),
    ("SELECT member_id FROM orders UNION SELECT member_id FROM parquet.\"/etc/passwd\"",
     "reads the lake's tables by name (orders), not parquet"),
    ("SELECT member_id FROM read_parquet('x.parquet') JOIN orders USING (member_id)", "not READ_PARQUET"),
    ("SELECT member_id FROM orders UNION SELECT member_id FROM dw.salaries", "not dw.salaries"),
    ("SELECT member_id FROM main.orders", "not main.orders"),  # not the store's orders by another name
    ("DELETE FROM orders RETURNING member_id", "is read-only: one SELECT"),
    ("SELECT member_id FROM orders; DELETE FROM optouts", "runs exactly one statement; this text has 2"),
    ("SELECT member_id FROM orders) AS q); DELETE FROM optouts; SELECT (1", "cannot read the query to run it on Spark"),
])
def test_sql_audience_that_cannot_run_on_spark_is_one_line_exit_2(workspace, cli, query, fragment):
    """Refused before any Spark session starts (none is needed to say why)."""
    _engine(workspace, LAKE)
    r = cli("push", "create", "--audience", "sql:" + query, "--text", "hi", "--dry-run", expect=ExitCode.USAGE)
    assert fragment in r.stderr, r.stderr
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr


def test_lake_query_routes_by_the_tables_it_names():
    from siyu_cli.engine import EngineConfig, lake_query

    cfg = EngineConfig("spark", "local[2]", "lake/orders", None, "lake/order_lines")
    assert lake_query("SELECT member_id FROM members WHERE store = 'x'", cfg, what="a") is None  # store only
    assert lake_query("SELECT member_id FROM member_tags) x; DELETE FROM optouts", cfg, what="a") is None  # DuckDB refuses
    assert lake_query("SELECT member_id FROM orders WHERE paid_at::DATE >= DATE '2026-01-01'", cfg, what="a") == \
        "SELECT member_id FROM orders WHERE CAST(paid_at AS DATE) >= CAST('2026-01-01' AS DATE)"
    text = lake_query("WITH x AS (SELECT o.member_id FROM orders o JOIN order_lines l USING (source, order_id) "
                      "WHERE l.category = '茶叶') SELECT member_id FROM x", cfg, what="a")
    assert text.startswith("WITH x AS") and "order_lines" in text
    members_in_lake = EngineConfig("spark", "local[2]", "lake/orders", "lake/members")
    assert lake_query("SELECT member_id FROM members", members_in_lake, what="a") == "SELECT member_id FROM members"


def test_bought_on_a_product_with_spark_needs_engine_order_lines(workspace, cli):
    _engine(workspace, LAKE)
    r = cli("push", "create", "--audience", "bought:category=茶叶", "--text", "hi", "--dry-run", expect=ExitCode.CONFIG)
    assert "engine.order_lines must say where the order lines live" in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr


def test_export_lake_writes_the_order_lines(settings, cli, tmp_path):
    _store_with_orders(settings)
    with open_store(settings) as con:
        con.execute("INSERT INTO order_lines (source, order_id, line_no, sku, category, amount) "
                    "SELECT source, order_id, '1', 'T1', '茶叶', net_amount FROM orders")
    out = tmp_path / "lake"
    result = cli("export", "lake", str(out), "--format", "json")
    assert '"order_lines": 4' in result.stdout
    rows = duckdb.connect().execute(f"SELECT sku, category, count(*) FROM read_parquet('{out}/order_lines/*.parquet') "
                                    "GROUP BY ALL").fetchall()
    assert rows == [("T1", "茶叶", 4)]
