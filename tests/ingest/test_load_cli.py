"""siyu load / siyu rejects as a user runs them (CliRunner and one real subprocess)."""

from __future__ import annotations

import json
from pathlib import Path

ORDERS = "order_id,phone,status,paid_at,paid_amount\nC1,13800138000,paid,2024-03-01 10:00,10\nC2,,paid,soon,5\n"


def test_load_exit_65_over_max_rejects_and_rejects_listing(cli, workspace, tmp_path):
    f = tmp_path / "o.csv"
    f.write_text(ORDERS, encoding="utf-8")
    res = cli("load", "orders", str(f), "--format", "json", expect=65)
    data = json.loads(res.stdout)
    assert (data["read"], data["inserted"], data["rejected"], data["exceeded"]) == (2, 1, 1, True)
    assert "more than --max-rejects 0" in res.stderr and "Traceback" not in res.stderr
    out = json.loads(cli("rejects", "--format", "json").stdout)
    assert [(r["line"], r["column"], r["reason"]) for r in out] == [(3, "paid_at", "BAD_DATE")]
    assert out[0]["raw"] == "C2,,paid,soon,5"


def test_load_within_max_rejects_exits_0_and_reload_is_skipped(cli, workspace, tmp_path):
    f = tmp_path / "o.csv"
    f.write_text(ORDERS, encoding="utf-8")
    cli("load", "orders", str(f), "--max-rejects", "1")
    res = cli("load", "orders", str(f), "--max-rejects", "1", "--format", "json")
    data = json.loads(res.stdout)
    assert data["files"][0]["status"] == "skipped" and data["read"] == 0


def test_load_config_max_rejects(cli, workspace, tmp_path):
    cfg = workspace / "siyu.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("# max_rejects = 0", "max_rejects = 3"), encoding="utf-8")
    f = tmp_path / "o.csv"
    f.write_text(ORDERS, encoding="utf-8")
    cli("load", "orders", str(f))


def test_load_usage_errors(cli, workspace, tmp_path):
    res = cli("load", "orders", str(tmp_path / "missing.csv"), expect=2)
    assert "no such file" in res.stderr or "no file matches" in res.stderr
    f = tmp_path / "o.csv"
    f.write_text(ORDERS, encoding="utf-8")
    res = cli("load", "orders", str(f), "--preset", "nope", expect=2)
    assert "unknown preset 'nope'" in res.stderr
    res = cli("load", "members", str(f), "--preset", "taobao_orders", expect=2)
    assert "loads orders, not members" in res.stderr
    weird = tmp_path / "w.csv"
    weird.write_text("foo,bar\n1,2\n", encoding="utf-8")
    res = cli("load", "orders", str(weird), expect=2)
    assert "no preset recognises" in res.stderr
    fake = tmp_path / "report.xls"
    fake.write_text("<html><table><tr><td>1</td></tr></table></html>", encoding="utf-8")
    res = cli("load", "orders", str(fake), expect=65)
    assert "HTML" in res.stderr


def test_show_mapping(cli, workspace, tmp_path):
    f = tmp_path / "t.csv"
    f.write_bytes("订单编号,买家会员名,买家实付金额,订单状态,\"订单付款时间 \",备注\n=\"1\",n,1,交易成功,2024-01-01,x\n".encode("gbk"))
    res = cli("load", "orders", str(f), "--show-mapping", "--format", "json")
    data = json.loads(res.stdout)[0]
    assert data["preset"] == "taobao_orders" and data["encoding"] == "gb18030"
    assert data["columns"]["paid_amount"] == "买家实付金额"
    assert data["columns"]["paid_at"] == "订单付款时间"
    assert data["unused"] == ["备注"]
    # nothing was loaded
    assert json.loads(cli("sql", "SELECT count(*) AS n FROM orders", "--format", "json").stdout) == [{"n": 0}]
    # without a file: the preset's alias lists
    res = cli("load", "orders", "--show-mapping", "--preset", "youzan_orders", "--format", "json")
    assert "买家付款时间" in json.loads(res.stdout)[0]["columns"]["paid_at"]


def test_load_table_output_glob(cli, workspace, tmp_path):
    for i in (1, 2):
        (tmp_path / f"o{i}.csv").write_text(f"order_id,paid_amount,paid_at\nG{i},1,2024-01-0{i}\n", encoding="utf-8")
    res = cli("load", "orders", str(tmp_path / "o*.csv"))
    assert "total" in res.stdout and "inserted" in res.stdout
    assert json.loads(cli("sql", "SELECT count(*) AS n FROM orders", "--format", "json").stdout) == [{"n": 2}]


def test_subprocess_load_piped_has_no_progress(siyu_subprocess, workspace, tmp_path):
    f = tmp_path / "o.csv"
    f.write_bytes("订单号,订单实付金额,订单状态,买家手机号,买家付款时间\nY1,10,交易完成,13800138000,2024-03-01\n".encode("gbk"))
    proc = siyu_subprocess("load", "orders", str(f), "--format", "json", env={"SIYU_WORKSPACE": str(workspace)})
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["files"][0]["preset"] == "youzan_orders" and data["inserted"] == 1
    assert proc.stderr == ""


def test_wrong_forced_encoding_and_broken_csv_are_one_line_errors(cli, workspace, tmp_path):
    g = tmp_path / "g.csv"
    g.write_bytes("订单号,订单实付金额,订单状态\nY1,10,交易完成\n".encode("gbk"))
    res = cli("load", "orders", str(g), "--encoding", "utf-8", expect=65)
    assert "not valid utf-8" in res.stderr and "gb18030" in res.stderr and "Traceback" not in res.stderr
    u = tmp_path / "u.csv"
    u.write_text('order_id,paid_amount\n"unterminated,1\nX,2\n', encoding="utf-8")
    res = cli("load", "orders", str(u), expect=65)
    assert "cannot read the file" in res.stderr and "Traceback" not in res.stderr


def test_rejects_history_and_batch_filter(cli, workspace, tmp_path):
    f = tmp_path / "o.csv"
    f.write_text(ORDERS, encoding="utf-8")
    cli("load", "orders", str(f), "--max-rejects", "5")
    fixed = tmp_path / "o.csv"
    fixed.write_text(ORDERS.replace("soon", "2024-03-02"), encoding="utf-8")
    cli("load", "orders", str(fixed), "--max-rejects", "5")
    # the latest load of the file has no rejects; history keeps the old one
    assert json.loads(cli("rejects", "--format", "json").stdout) == []
    old = json.loads(cli("rejects", "--all", "--format", "json").stdout)
    assert len(old) == 1
    assert len(json.loads(cli("rejects", "--batch", old[0]["batch_id"], "--format", "json").stdout)) == 1


def test_progress_enabled_path_runs(settings, tmp_path):
    from siyu_cli.ingest import load_files

    f = tmp_path / "o.csv"
    f.write_text("order_id,paid_amount\nP1,1\n", encoding="utf-8")
    rep = load_files(settings, "orders", [f], progress=True)
    assert rep.inserted == 1


def test_memory_limit_bounds_duckdb_and_is_validated(workspace, cli, tmp_path):
    """[load] memory_limit: DuckDB spills beyond it (bounded memory for huge files); nonsense is a config error."""
    f = tmp_path / "o.csv"
    f.write_text("order_id,paid_at,paid_amount\nA1,2026-01-02,12.5\n", encoding="utf-8")
    cfg = workspace / "siyu.toml"
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(text.replace("[load]\n", '[load]\nmemory_limit = "lots"\n', 1), encoding="utf-8")
    bad = cli("load", "orders", f, expect=78)
    assert "load.memory_limit" in bad.stderr and "lots" in bad.stderr
    cfg.write_text(text.replace("[load]\n", '[load]\nmemory_limit = "256MB"\n', 1), encoding="utf-8")
    cli("load", "orders", f)
    from siyu_cli.config import load_settings
    from siyu_cli.ingest.loader import configured_memory_limit

    assert configured_memory_limit(load_settings(workspace)) == "256MB"
