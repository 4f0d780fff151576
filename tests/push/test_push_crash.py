"""Crash safety with real processes: SIGKILL of `siyu push send` at several points, then resume; two senders at once.

The sandbox runs in this test process (real HTTP on 127.0.0.1); `siyu` runs as a
subprocess exactly as cron would. Exactly-once is asserted from the sandbox's own
record of what each customer received, and from the number of mass-send tasks created.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from push_helpers import WECOM_TOML, configure, per_recipient, seed, start_sandbox
from siyu_cli.config import load_settings
from siyu_cli.push import CampaignSpec, create_campaign
from siyu_cli.push.ledger import lock_path
from siyu_cli.store import open_store

SRC = str(Path(__file__).resolve().parents[2] / "src")
GUIDES = ("g1", "g2", "g3")
MEMBERS = [(f"k{i:03d}", f"客户{i}", f"wmk{i:03d}", GUIDES[i % 3], None, "静安店") for i in range(36)]


@pytest.fixture
def ws(workspace):
    configure(workspace, WECOM_TOML)
    s = load_settings(workspace)
    seed(s, members=MEMBERS, groups=[])
    return s


def _popen(*args):
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen([sys.executable, "-m", "siyu_cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_lock(path: Path, proc, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip() == str(proc.pid):
            return
        if proc.poll() is not None:
            raise AssertionError(f"sender exited early: {proc.returncode} {proc.stderr.read()}")
        time.sleep(0.005)
    raise AssertionError("sender never took the campaign lock")


def _wait_tasks(sb, n, proc, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(sb.state.msgs) >= n:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.001)
    raise AssertionError("no new mass-send task")


def _kill(proc, outputs):
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=10)
    outputs.append(out + err)


def _resume_and_kill_at_random(cid, lock, delay, outputs):
    """Resume the campaign in a subprocess and SIGKILL it ``delay`` seconds after it takes the campaign lock."""
    p = _popen("push", "resume", cid)
    _wait_lock(lock, p)
    time.sleep(delay)
    _kill(p, outputs)


def test_sigkill_at_several_points_then_resume_sends_each_exactly_once(ws, tmp_path, monkeypatch):
    sb = start_sandbox(ws, tmp_path, monkeypatch)
    outputs: list[str] = []
    try:
        sb.set_faults({"latency": 0.03, "paths": ["add_msg_template"]})
        cid = create_campaign(ws, CampaignSpec(channel="customer", audience="all", text="双十二：全场8折"))["campaign_id"]
        with open_store(ws, read_only=True) as con:
            nbatches = con.execute("SELECT count(*) FROM push_batches WHERE campaign_id = ?", [cid]).fetchone()[0]
        assert nbatches == 12  # 36 customers, 12 per guide, batch_size 3
        lock = lock_path(ws, cid)
        rng = random.Random(20261129)

        # 1: killed right after WeCom accepted the 2nd task (before the ledger could record it)
        p = _popen("push", "send", cid)
        _wait_tasks(sb, 2, p)
        _kill(p, outputs)
        # 2: killed at a random moment
        _resume_and_kill_at_random(cid, lock, rng.uniform(0.05, 0.3), outputs)
        # 3: killed right after another task was accepted
        p = _popen("push", "resume", cid)
        _wait_tasks(sb, len(sb.state.msgs) + 1, p)
        _kill(p, outputs)
        # 4: killed at another random moment
        _resume_and_kill_at_random(cid, lock, rng.uniform(0.0, 0.2), outputs)
        # finally, resume to the end
        p = _popen("push", "resume", cid)
        out, err = p.communicate(timeout=60)
        outputs.append(out + err)
        assert p.returncode == 0, err

        sb.confirm()
        with open_store(ws, read_only=True) as con:
            states = dict(con.execute("SELECT state, count(*) FROM push_recipients WHERE campaign_id = ? GROUP BY 1", [cid]).fetchall())
            reconciled = con.execute("SELECT count(*) FROM push_batches WHERE campaign_id = ? AND reconciled", [cid]).fetchone()[0]
            msgids = con.execute("SELECT count(DISTINCT msgid) FROM push_batches WHERE campaign_id = ?", [cid]).fetchone()[0]
        assert states == {"sent": 36}
        assert reconciled >= 1  # kill 1 hit between WeCom accepting and the ledger recording
        assert len(sb.state.msgs) == nbatches == msgids  # never a second task for a batch
        assert per_recipient(sb.deliveries()) == {ext: 1 for _, _, ext, *_ in MEMBERS}
        secrets = [sb.secret, *sb.state.tokens]
        assert not [s for s in secrets for o in outputs if s in o]
    finally:
        sb.stop()


def test_two_senders_on_one_campaign_one_refuses(ws, tmp_path, monkeypatch):
    sb = start_sandbox(ws, tmp_path, monkeypatch)
    try:
        sb.set_faults({"latency": 0.15, "paths": ["add_msg_template"]})
        cid = create_campaign(ws, CampaignSpec(channel="customer", audience="all", text="x"))["campaign_id"]
        a = _popen("push", "send", cid)
        _wait_lock(lock_path(ws, cid), a)
        b = _popen("push", "send", cid)
        out_b, err_b = b.communicate(timeout=30)
        assert b.returncode == 4
        assert err_b.strip().splitlines() == [f"error: campaign {cid} is already being sent by process {a.pid}; not starting a second sender"]
        out_a, err_a = a.communicate(timeout=60)
        assert a.returncode == 0, err_a
        sb.confirm()
        assert per_recipient(sb.deliveries()) == {ext: 1 for _, _, ext, *_ in MEMBERS}
        for text in (out_a, err_a, out_b, err_b):
            assert sb.secret not in text and not any(t in text for t in sb.state.tokens)
    finally:
        sb.stop()
