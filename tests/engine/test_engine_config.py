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
