"""The nightly inbox is a door: links are refused unread, and no file's text reaches logs, alerts or error files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from siyu_cli.sandbox import SandboxServer

EXPORTS = Path(__file__).resolve().parents[2] / "examples" / "exports"
MARKER = "SECRET-MARKER-4d2f"  # text only the files siyu must not echo hold


def _config(root: Path, sb_url: str) -> None:
    with open(root / "siyu.toml", "a", encoding="utf-8") as fh:
        fh.write(f'\n[alerts]\nrobot_key_env = "OPS_ROBOT"\nbase_url = "{sb_url}"\n'
                 '[pipelines.intake]\nsteps = [{type = "load"}]\n')


def test_links_are_refused_and_no_file_text_is_echoed(workspace, tmp_path, siyu_subprocess):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "shadow"
    secret.write_text(f"root:{MARKER}:19000:0:99999:7:::\n", encoding="utf-8")
    (outside / "members.csv").write_text(f"{MARKER},x\n1,2\n", encoding="utf-8")
    inbox = workspace / "inbox"
    os.symlink(secret, inbox / "orders_link.csv")  # a link to a file outside
    os.symlink(outside, inbox / "members")  # a link to a folder outside
    os.link(secret, inbox / "orders_hard.csv")  # a hard link to a file outside
    os.mkfifo(inbox / "orders_fifo.csv")  # would block a reader forever
    # a poisoned export: its header (and a bad value) carry text that must never be quoted back
    (inbox / "orders_poison.csv").write_text(f"{MARKER} [bold]\x1b]8;;x\x07,b\n1,2\n", encoding="utf-8")
    shutil.copy(EXPORTS / "orders" / "siyu_orders.csv", inbox / "good_orders.csv")
    key = "robot-key-inbox-1"
    sb = SandboxServer(robot_keys=[key], state_dir=tmp_path / "sb").start()
    try:
        _config(workspace, sb.url)
        proc = siyu_subprocess("run", "intake", "--log-format", "json", env={"OPS_ROBOT": key})
        alerts = sb.robot_messages(key)
    finally:
        sb.stop()
    assert proc.returncode == 3, proc.stderr  # files left unloaded or parked make the run partial (test_runner_e2e)
    assert "Traceback" not in proc.stderr
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    refused = {Path(e["message"].split(":")[0]).as_posix(): e["reason"] for e in events if e["event"] == "inbox_refused"}
    assert refused == {"orders_link.csv": "symlink", "members": "symlink", "orders_hard.csv": "hard_link",
                       "orders_fifo.csv": "not_regular_file"}
    # links and refused entries stay where they are, untouched; the good file loaded; the poisoned one parked
    assert (inbox / "orders_link.csv").is_symlink() and (inbox / "members").is_symlink() and secret.exists()
    assert [p.name for p in (inbox / "done").rglob("*.csv")] == ["good_orders.csv"]
    error_file = inbox / "failed" / "orders_poison.csv.error.txt"
    assert "no preset recognises" in error_file.read_text(encoding="utf-8")
    # the marker is nowhere siyu wrote for people or programs
    written = [proc.stdout, proc.stderr, *(m["text"] for m in alerts)]
    written += [p.read_text(encoding="utf-8") for p in (inbox / "failed").glob("*.error.txt")]
    runs = siyu_subprocess("runs", "--format", "json")
    assert runs.returncode == 0, runs.stderr
    written.append(runs.stdout)
    assert alerts and "orders_poison.csv" in alerts[0]["text"]
    for text in written:
        assert MARKER not in text and "root:" not in text
