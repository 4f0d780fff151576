"""Hostile exports and hostile moments for `siyu load`: giant fields and lines, glob-looking names,
temp copies of personal data, Ctrl-C, a damaged store, a full disk. Each is one line and a documented
exit code, never a traceback; nothing leaks into the shared /tmp."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_siyu

HEADER = "order_id,phone,status,paid_at,paid_amount\n"
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _orders(path: Path, rows: int, encoding: str = "utf-8") -> Path:
    """A big orders export (names with Chinese text, so a GBK copy is transcoded)."""
    with open(path, "w", encoding=encoding, newline="") as fh:
        fh.write("订单号,订单实付金额,订单状态,买家手机号,买家付款时间\n")
        for i in range(rows):
            fh.write(f"Y{i},{i % 500}.5,交易完成,138{i % 9999999:08d},2024-03-01 10:00:00\n")
    return path


@pytest.fixture(scope="module")
def big_gbk(tmp_path_factory) -> Path:
    return _orders(tmp_path_factory.mktemp("big") / "orders_gbk.csv", 1_200_000, "gbk")


def _env(workspace: Path, tmp: Path) -> dict:
    """A private TMPDIR: anything siyu leaves in "the" temp folder shows up there."""
    tmpdir = tmp / "shared-tmp"
    tmpdir.mkdir(exist_ok=True)
    return {**os.environ, "SIYU_WORKSPACE": str(workspace), "TMPDIR": str(tmpdir),
            "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _one_line_no_traceback(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("hint:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_field_over_128_kib_in_the_first_lines_loads(cli, workspace, tmp_path):
    f = tmp_path / "wide.csv"
    f.write_text(HEADER + "W1,13800138000,paid,2024-03-01 10:00," + "9" * 200_000 + "\n"
                 "W2,13800138001,paid,2024-03-01 10:00,5\n", encoding="utf-8")
    res = cli("load", "orders", str(f), "--max-rejects", "5", "--format", "json")
    data = json.loads(res.stdout)
    assert data["read"] == 2 and data["inserted"] + data["rejected"] == 2 and data["inserted"] >= 1


def test_a_giant_line_is_refused_in_bounded_memory_naming_the_line(workspace, tmp_path):
    """A 150 MB line: refused with its line number; the process never holds the line (DuckDB would
    have copied it into its error message three times over)."""
    size = 150_000_000
    f = tmp_path / "giant.csv"
    with open(f, "w", encoding="utf-8") as fh:
        fh.write(HEADER + "G1,13800138000,paid,2024-03-01 10:00,1\nG2,13800138001,paid,2024-03-01 10:00,")
        for _ in range(size // 10_000_000):
            fh.write("7" * 10_000_000)
        fh.write("\n")
    probe = ("import resource, subprocess, sys; "
             "r = subprocess.run([sys.executable, '-m', 'siyu_cli', 'load', 'orders', sys.argv[1]], "
             "capture_output=True, text=True); "
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
             "sys.stderr.write(r.stderr)")
    r = subprocess.run([sys.executable, "-c", probe, str(f)], env=_env(workspace, tmp_path),
                       capture_output=True, text=True, timeout=300)
    code, peak_kib = map(int, r.stdout.split())
    assert code == 65
    line = _one_line_no_traceback(r.stderr)
    assert "line 3 is longer than 10 MB" in line
    assert peak_kib * 1024 < size, f"peak RSS {peak_kib} KiB: the line was held in memory"


def test_a_file_named_like_a_glob_is_read_literally(cli, workspace, tmp_path):
    (tmp_path / "m[1].csv").write_text(HEADER + "BRACKET1,13800138000,paid,2024-03-01 10:00,1\n", encoding="utf-8")
    (tmp_path / "m1.csv").write_text(HEADER + "PLAIN1,13800138001,paid,2024-03-01 10:00,1\n", encoding="utf-8")
    gbk = tmp_path / "g*?.csv"  # transcoded to a temp copy whose name keeps the glob characters
    gbk.write_bytes((HEADER + "GBK1,13800138002,交易成功,2024-03-01 10:00,1\n").encode("gbk"))
    cli("load", "orders", str(tmp_path / "m[1].csv"))
    cli("load", "orders", str(gbk))
    ids = json.loads(cli("sql", "SELECT order_id FROM orders ORDER BY 1", "--format", "json").stdout)
    assert [r["order_id"] for r in ids] == ["BRACKET1", "GBK1"]
    # a pattern that names no file is still a pattern
    res = cli("load", "orders", str(tmp_path / "m?.csv"), "--format", "json")
    assert [Path(f["path"]).name for f in json.loads(res.stdout)["files"]] == ["m1.csv"]


def _wait_for_scratch(workspace: Path, proc, *, transcoded: bool, deadline: float = 60) -> Path:
    end = time.monotonic() + deadline
    while time.monotonic() < end and proc.poll() is None:
        for d in (workspace / ".siyu" / "tmp").glob("load-*"):
            if not transcoded or any(d.glob("*.utf8.csv")):
                return d
        time.sleep(0.02)
    raise AssertionError("the load never reached its temporary copy")


def test_killed_gbk_load_leaves_nothing_in_tmp_and_the_next_start_sweeps_it(workspace, tmp_path, big_gbk):
    env = _env(workspace, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "siyu_cli", "load", "orders", str(big_gbk)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        scratch = _wait_for_scratch(workspace, proc, transcoded=True)
        time.sleep(0.3)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert list(Path(env["TMPDIR"]).iterdir()) == []  # the shared temp folder never saw the copy
    assert scratch.exists()  # a SIGKILL cannot clean up: the copy is in the workspace's private scratch
    assert (scratch.parent.stat().st_mode & 0o777) == 0o700 and (scratch.stat().st_mode & 0o777) == 0o700
    small = tmp_path / "small.csv"
    small.write_text(HEADER + "S1,13800138000,paid,2024-03-01 10:00,1\n", encoding="utf-8")
    r = run_siyu("load", "orders", small, env=env)
    assert r.returncode == 0, r.stderr
    assert not scratch.exists() and list(scratch.parent.iterdir()) == []


def test_ctrl_c_during_a_load_is_one_line_and_exit_130(workspace, tmp_path, big_gbk):
    env = _env(workspace, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "siyu_cli", "load", "orders", str(big_gbk)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    scratch = _wait_for_scratch(workspace, proc, transcoded=False)
    time.sleep(1.5)  # into DuckDB's reading of the file
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in _one_line_no_traceback(err)
    assert not scratch.exists()  # cleaned on the way out


def test_ctrl_c_during_a_pipeline_marks_the_run_interrupted(workspace, tmp_path, big_gbk):
    import shutil

    with open(workspace / "siyu.toml", "a", encoding="utf-8") as fh:
        fh.write('\n[pipelines.intake]\nsteps = [{type = "load"}]\n')
    shutil.copy(big_gbk, workspace / "inbox" / "orders_big.csv")
    env = _env(workspace, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "siyu_cli", "run", "intake"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_scratch(workspace, proc, transcoded=False)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "this is a bug" not in err
    runs = json.loads(run_siyu("runs", "--format", "json", env=env).stdout)
    assert runs[0]["status"] == "interrupted"
    assert (workspace / "inbox" / "orders_big.csv").exists()  # left for the next run


@pytest.fixture
def loaded(cli, workspace, tmp_path):
    f = _orders(tmp_path / "o.csv", 200_000)
    cli("load", "orders", str(f))
    return workspace / "siyu.duckdb"


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_store_is_one_line_exit_78(loaded, tmp_path, workspace, damage):
    size = loaded.stat().st_size
    with open(loaded, "r+b") as fh:
        if damage == "truncated":
            fh.truncate(size // 2)
        else:  # every block overwritten inside (a bad disk, a copy taken mid-write); the file headers intact
            header, block = 3 * 4096, 256 * 1024  # DuckDB's three header pages, then 256 KiB blocks
            for offset in range(header, size, block):
                fh.seek(offset + 1024)
                fh.write(b"\xff" * 4096)
    f = _orders(tmp_path / "again.csv", 10)
    env = _env(workspace, tmp_path)
    for args in (("sql", "SELECT count(*), sum(paid_amount) FROM orders"), ("load", "orders", str(f), "--force")):
        r = run_siyu(*args, env=env)
        assert r.returncode == 78, (args, r.stderr)
        line = _one_line_no_traceback(r.stderr)
        assert "store is damaged" in line and "backup" in line and "siyu doctor" in line


def _mount_tiny(where: Path, size: str) -> None:
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root or CAP_SYS_ADMIN): {r.stderr.strip()}")


def test_disk_full_is_one_line_exit_75(tmp_path):
    mnt = tmp_path / "tiny"
    _mount_tiny(mnt, "6m")
    try:
        ws = mnt / "ws"
        env = _env(ws, tmp_path)
        assert run_siyu("init", ws, env=env).returncode == 0
        f = _orders(tmp_path / "o.csv", 300_000)
        r = run_siyu("load", "orders", f, env=env)
        assert r.returncode == 75, r.stderr
        line = _one_line_no_traceback(r.stderr)
        assert "disk full" in line
        assert list((ws / ".siyu" / "tmp").iterdir()) == []
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_hidden_behind_a_failed_rollback_is_still_named():
    """DuckDB's ENOSPC, then "cannot rollback - no transaction is active" raised while handling it."""
    import duckdb

    from siyu_cli.errors import DiskFull, explain_failure

    try:
        try:
            raise duckdb.IOException('IO Error: Could not write file "s.duckdb": No space left on device')
        except duckdb.Error:
            raise duckdb.TransactionException("TransactionContext Error: cannot rollback - no transaction is active")
    except duckdb.Error as exc:
        known = explain_failure(exc, "s.duckdb")
    assert isinstance(known, DiskFull) and known.exit_code == 75 and "disk full" in known.message
