"""`siyu doctor` on healthy, busy, badly permissioned and damaged workspaces."""

from __future__ import annotations

import json

from siyu_cli.doctor import diagnose

ORDERS = "order_id,phone,status,paid_at,paid_amount\n" + "".join(
    f"D{i},1380013{i:04d},paid,2024-03-01 10:00,{i}\n" for i in range(3000))


def _statuses(result) -> dict:
    return {c["id"]: c["status"] for c in json.loads(result.stdout)["checks"]}


def _load(cli, tmp_path):
    f = tmp_path / "o.csv"
    f.write_text(ORDERS, encoding="utf-8")
    cli("load", "orders", str(f))


def test_a_healthy_workspace_passes_every_check(cli, workspace, tmp_path):
    _load(cli, tmp_path)
    res = cli("doctor", "--format", "json")
    data = json.loads(res.stdout)
    assert data["ok"] and data["exit_code"] == 0
    st = _statuses(res)
    assert set(st) == {"config", "permissions", "free_space", "run_lock", "store_lock", "migrations", "integrity",
                       "scratch"}
    assert all(st[k] == "ok" for k in ("config", "store_lock", "migrations", "integrity", "run_lock"))
    integrity = next(c for c in data["checks"] if c["id"] == "integrity")
    assert integrity["detail"].startswith("read every column of ") and "checksums match" in integrity["detail"]
    table = cli("doctor")
    assert "integrity" in table.stdout and "ok" in table.stdout


def test_a_damaged_store_fails_with_78_and_says_restore(cli, workspace, tmp_path):
    _load(cli, tmp_path)
    store = workspace / "siyu.duckdb"
    size = store.stat().st_size
    with open(store, "r+b") as fh:
        for offset in range(size // 8, size - size // 8, 256 << 10):
            fh.seek(offset)
            fh.write(b"\xff" * 100_000)
    res = cli("doctor", "--format", "json", expect=78)
    bad = [c for c in json.loads(res.stdout)["checks"] if c["status"] == "fail"]
    assert bad and bad[0]["id"] in ("store", "integrity")
    assert "backup" in bad[0]["fix"]


def test_config_anyone_can_write_is_a_failure(cli, workspace):
    (workspace / "siyu.toml").chmod(0o666)
    res = cli("doctor", "--format", "json", expect=78)
    perm = next(c for c in json.loads(res.stdout)["checks"] if c["id"] == "permissions")
    assert perm["status"] == "fail" and "siyu.toml is writable by every user" in perm["detail"]


def test_a_broken_config_is_reported_not_raised(cli, workspace):
    (workspace / "siyu.toml").write_text("[workspace\n", encoding="utf-8")
    res = cli("doctor", "--format", "json", expect=78)
    assert _statuses(res)["config"] == "fail"


def test_a_running_pipeline_is_named_as_the_lock_holder(workspace, settings):
    from siyu_cli.runner.lock import RunLock

    with RunLock(workspace, "nightly"):
        diag = diagnose(workspace)
    lock = next(c for c in diag.checks if c.id == "run_lock")
    assert lock.status == "warn" and "pipeline 'nightly' is running" in lock.detail
    assert diag.ok  # busy is not broken


def test_leftover_scratch_of_a_dead_process_is_reported(workspace, settings):
    from siyu_cli.scratch import scratch_root

    (scratch_root(workspace) / "load-999999999-x").mkdir()
    scratch = next(c for c in diagnose(workspace).checks if c.id == "scratch")
    assert scratch.status == "warn" and "1 temporary folder" in scratch.detail
