"""Push benchmarks (run by hand, not a test).

    PYTHONPATH=src python benchmarks/push.py [--ledger 1000000] [--send 2000] [--due 200] [--mem 2000,20000]

1. ledger: build a campaign ledger for N recipients (audience → ids, senders, opt-outs, caps,
   batches) vs a named baseline: a bare CREATE TABLE AS SELECT of the same N rows from members
   (the cost of just copying the rows). Target: ≤ 30 s for 1M.
2. send loop: siyu's per-recipient overhead against the sandbox with rate limits off, batch size 1
   (the worst case: one API call per recipient), vs the baseline of the same number of raw
   WeComClient.add_msg_template calls. Also the normal case (batches of up to 10,000).
4. push_due: N due messages (one campaign each, as plan makes them) vs the named baseline
   "per_message": the same N through create_campaign + send_campaign one at a time, each with its
   own store connections and WeCom client.
3. memory: peak Python allocations and RSS of a `send` in a fresh process (the sandbox runs in
   the parent) for two audience sizes at batch size 1000 (flat = the send loop holds one batch,
   never the audience).
5. status: `push status` syncing N one-recipient batches vs the named baseline "http": the same
   get_groupmsg_task / get_groupmsg_send_result calls made with a bare WeComClient. Target ≤ 1.5×.

Every workspace is made under one temporary folder, removed at the end (also on error).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
#: every workspace of this run lives here; main() removes it
TMP = Path(tempfile.mkdtemp(prefix="siyu-pushbench-"))

WECOM = """
[push]
cap = ""
quiet_hours = ""
batch_size = {batch}

[wecom]
rate_limit_default = 0
max_retries = 0
[wecom.rate_limits]
"externalcontact/add_msg_template" = 0
"externalcontact/get_groupmsg_list_v2" = 0
"""


def workspace(n: int, batch: int = 10000, guides: int = 50):
    from siyu_cli.config import load_settings
    from siyu_cli.store import open_store
    from siyu_cli.workspace import init_workspace

    root = Path(tempfile.mkdtemp(dir=TMP)) / "ws"
    init_workspace(root)
    cfg = root / "siyu.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + WECOM.format(batch=batch), encoding="utf-8")
    s = load_settings(root)
    with open_store(s) as con:
        con.execute(
            f"""INSERT INTO members (member_id, name, external_userid, guide_userid, store, source)
                SELECT 'm' || lpad(i::VARCHAR, 8, '0'), '客户' || i, 'wm' || lpad(i::VARCHAR, 8, '0'),
                       'g' || (i % {guides}), '店' || (i % 7), 'bench'
                FROM range({n}) t(i)"""
        )
        con.execute("INSERT INTO wecom_contacts (external_userid, staff_userid, member_id, added_at) "
                    "SELECT external_userid, guide_userid, member_id, now() FROM members")
        con.execute(f"INSERT INTO staff (userid, name) SELECT 'g' || i, '导购' || i FROM range({guides}) t(i)")
        con.execute(f"INSERT INTO optouts (member_id, channel, created_at) SELECT member_id, 'all', now() FROM members WHERE hash(member_id) % 100 = 0")
    return s


def bench_ledger(n: int) -> dict:
    from siyu_cli.push import CampaignSpec, create_campaign
    from siyu_cli.store import open_store

    s = workspace(n)
    with open_store(s) as con:
        t = time.perf_counter()
        con.execute("CREATE TABLE baseline_copy AS SELECT member_id, external_userid, guide_userid FROM members")
        base = time.perf_counter() - t
    t = time.perf_counter()
    p = create_campaign(s, CampaignSpec(channel="customer", audience="all", text="双十二：全场8折"))
    took = time.perf_counter() - t
    t = time.perf_counter()
    create_campaign(s, CampaignSpec(channel="customer", audience="all", text="第二条"), dry_run=True)
    dry = time.perf_counter() - t
    return {"recipients": n, "ledger_s": round(took, 2), "dry_run_s": round(dry, 2), "baseline_ctas_s": round(base, 2),
            "ratio_vs_baseline": round(took / base, 1) if base else None, "to_send": p["to_send"],
            "batches": p["batches"], "excluded": p["states"]["skipped"]}


def bench_send(n: int) -> dict:
    from siyu_cli.push import CampaignSpec, create_campaign, send_campaign
    from siyu_cli.sandbox import SandboxServer
    from siyu_cli.wecom import WeComClient

    out = {"recipients": n}
    s = workspace(n, batch=1, guides=5)
    with SandboxServer(settings=s, confirm="never", rate_limits={"externalcontact/add_msg_template": 0,
                                                                 "externalcontact/get_groupmsg_list_v2": 0}) as sb:
        env = sb.env()
        os.environ.update(env)
        # baseline: raw client calls, one per recipient
        from siyu_cli.store import open_store

        with open_store(s, read_only=True) as con:
            pairs = con.execute("SELECT external_userid, guide_userid FROM members ORDER BY 1").fetchall()
        client = WeComClient.from_settings(s)
        client.add_msg_template(chat_type="single", sender=pairs[0][1], external_userid=[pairs[0][0]], text="warm-up")
        t = time.perf_counter()
        for ext, guide in pairs:
            client.add_msg_template(chat_type="single", sender=guide, external_userid=[ext], text="基线")
        raw = time.perf_counter() - t
        client.close()
        cid = create_campaign(s, CampaignSpec(channel="customer", audience="all", text="逐个发送"))["campaign_id"]
        t = time.perf_counter()
        rep = send_campaign(s, cid)
        took = time.perf_counter() - t
        sent = rep.states.get("sent", 0)
        out.update({
            "batch_size": 1, "sent": sent, "raw_calls_s": round(raw, 2), "siyu_send_s": round(took, 2),
            "raw_ms_per_call": round(raw / len(pairs) * 1000, 2),
            "siyu_ms_per_recipient": round(took / max(sent, 1) * 1000, 2),
            "overhead_ms_per_recipient": round((took - raw) / max(sent, 1) * 1000, 2),
            "ratio_vs_raw": round(took / raw, 1),
        })
    return out


def bench_send_batched(n: int) -> dict:
    from siyu_cli.push import CampaignSpec, create_campaign, send_campaign
    from siyu_cli.sandbox import SandboxServer

    s = workspace(n, batch=10000, guides=5)
    # confirm="never": the sandbox's simulated guide confirmations (10,000 deliveries each) stay out of the timing
    with SandboxServer(settings=s, confirm="never", rate_limits={"externalcontact/add_msg_template": 0}) as sb:
        os.environ.update(sb.env())
        cid = create_campaign(s, CampaignSpec(channel="customer", audience="all", text="批量"))["campaign_id"]
        t = time.perf_counter()
        rep = send_campaign(s, cid)
        took = time.perf_counter() - t
    sent = rep.states.get("sent", 0)
    return {"recipients": n, "batch_size": 10000, "sent": sent, "send_s": round(took, 2),
            "us_per_recipient": round(took / max(sent, 1) * 1e6, 1)}


class _Due:
    """A DueMessage as plan makes them: one customer message to one member."""

    def __init__(self, key, at, target, text):
        self.key, self.kind, self.scheduled_at, self.playbook = key, "sop_step", at, "bench"
        self.target_type, self.target_id, self.channel, self.sender = "member", target, "customer", None
        self.text, self.attachments = text, ()


def bench_due(n: int) -> dict:
    """push_due over n due messages (one campaign each) vs the named baseline "per_message": the same
    n messages through create_campaign + send_campaign one by one, each opening its own store
    connections and WeCom client (what push_due did before it shared them)."""
    from datetime import datetime, timedelta, timezone

    from siyu_cli.push import CampaignSpec, create_campaign, push_due, send_campaign
    from siyu_cli.push.due import due_campaign_id
    from siyu_cli.sandbox import SandboxServer

    s = workspace(2 * n, batch=1000, guides=5)
    t0 = datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc)
    msgs = [_Due(f"sop:bench:{i}", t0 + timedelta(seconds=i), f"m{i:08d}", f"第{i}条") for i in range(2 * n)]
    base, due = msgs[:n], msgs[n:]
    now = t0 + timedelta(days=1)
    with SandboxServer(settings=s, confirm="never", rate_limits={"externalcontact/add_msg_template": 0}) as sb:
        os.environ.update(sb.env())
        t = time.perf_counter()
        for m in base:
            create_campaign(s, CampaignSpec(channel="customer", audience=f"list:{m.target_id}", text=m.text, name=m.key,
                                            campaign_id=due_campaign_id(m.key), scheduled_at=m.scheduled_at,
                                            due_key=m.key, raw_text=True), now=now)
            send_campaign(s, due_campaign_id(m.key), now=now)
        per_message = time.perf_counter() - t
        t = time.perf_counter()
        rep = push_due(s, t0, now, messages=due, now=now)
        took = time.perf_counter() - t
    return {"messages": n, "sent": rep.sent, "per_message_s": round(per_message, 2), "push_due_s": round(took, 2),
            "per_message_ms_each": round(per_message / n * 1000, 1), "push_due_ms_each": round(took / n * 1000, 1),
            "ratio_vs_per_message": round(took / per_message, 2)}


def bench_status(n: int) -> dict:
    """`push status` over n one-recipient batches (all confirmed) vs the bare HTTP calls it makes."""
    from siyu_cli.push import CampaignSpec, create_campaign, send_campaign, sync_status
    from siyu_cli.sandbox import SandboxServer
    from siyu_cli.store import open_store
    from siyu_cli.wecom import WeComClient

    s = workspace(n, batch=1, guides=5)
    paths = ("add_msg_template", "get_groupmsg_task", "get_groupmsg_send_result", "get_groupmsg_list_v2")
    with SandboxServer(settings=s, rate_limits={f"externalcontact/{p}": 0 for p in paths}) as sb:
        os.environ.update(sb.env())
        cid = create_campaign(s, CampaignSpec(channel="customer", audience="all", text="状态"))["campaign_id"]
        t = time.perf_counter()
        send_campaign(s, cid)
        send = time.perf_counter() - t
        sb.confirm()
        with open_store(s, read_only=True) as con:
            msgids = [r[0] for r in con.execute("SELECT msgid FROM push_batches WHERE campaign_id = ? AND msgid IS NOT NULL",
                                                [cid]).fetchall()]
        client = WeComClient.from_settings(s)
        client.get_groupmsg_task(msgids[0])  # warm-up: token

        def http() -> int:
            calls = 0
            for msgid in msgids:
                calls += 1
                for task in client.get_groupmsg_task(msgid):
                    if task.get("status") == 2:
                        calls += 1
                        client.get_groupmsg_send_result(msgid, task["userid"])
            return calls

        raws, syncs = [], []
        for _ in range(3):  # alternate the two (best of 3 each): the sandbox shares this process and the box is shared
            t = time.perf_counter()
            calls = http()
            raws.append(time.perf_counter() - t)
            t = time.perf_counter()
            if os.environ.get("SIYU_BENCH_PROFILE"):
                import cProfile
                import pstats

                prof = cProfile.Profile()
                d = prof.runcall(sync_status, s, cid)
                pstats.Stats(prof).sort_stats("cumtime").print_stats(25)
            else:
                d = sync_status(s, cid)
            syncs.append(time.perf_counter() - t)
        client.close()
        raw, took = min(raws), min(syncs)
    return {"batches": len(msgids), "http_calls": calls, "send_s": round(send, 2), "http_s": round(raw, 2),
            "status_sync_s": round(took, 2), "ms_per_batch": round(took / max(len(msgids), 1) * 1000, 1),
            "ratio_vs_http": round(took / raw, 2), "delivered": d["delivery"].get("delivered", 0)}


def _mem_child(root: str, cid: str) -> None:
    """Only the send, in a fresh process: the sandbox (whose state grows with messages) runs in the parent."""
    import tracemalloc

    from siyu_cli.config import load_settings
    from siyu_cli.push import send_campaign

    s = load_settings(root)
    base = _hwm_mib()
    tracemalloc.start()
    rep = send_campaign(s, cid)
    peak = tracemalloc.get_traced_memory()[1]
    print(json.dumps({"sent": rep.states.get("sent", 0), "python_peak_kib": peak // 1024,
                      "peak_rss_before_send_mib": base, "peak_rss_after_send_mib": _hwm_mib()}))


def _hwm_mib() -> int:
    """Peak RSS of this process (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def bench_mem(sizes: list[int]) -> list[dict]:
    from siyu_cli.push import CampaignSpec, create_campaign
    from siyu_cli.sandbox import SandboxServer

    out = []
    for n in sizes:
        s = workspace(n, batch=1000, guides=5)
        cid = create_campaign(s, CampaignSpec(channel="customer", audience="all", text="内存"))["campaign_id"]
        with SandboxServer(settings=s, rate_limits={"externalcontact/add_msg_template": 0}) as sb:
            r = subprocess.run([sys.executable, __file__, "--mem-child", str(s.root), cid], capture_output=True, text=True,
                               env={**os.environ, **sb.env(), "PYTHONPATH": str(ROOT / "src")})
        if r.returncode:
            raise SystemExit(r.stderr)
        out.append({"recipients": n, "batch_size": 1000, **json.loads(r.stdout.strip().splitlines()[-1])})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ledger", type=int, default=1_000_000)
    ap.add_argument("--send", type=int, default=1000)
    ap.add_argument("--batched", type=int, default=50_000)
    ap.add_argument("--mem", default="2000,20000")
    ap.add_argument("--due", type=int, default=200)
    ap.add_argument("--status", type=int, default=300, help="one-recipient batches whose delivery status is synced")
    ap.add_argument("--mem-child", nargs=2, metavar=("ROOT", "CAMPAIGN"))
    a = ap.parse_args()
    if a.mem_child:
        TMP.rmdir()  # this child makes no workspace
        _mem_child(*a.mem_child)
        return
    import logging

    logging.disable(logging.WARNING)
    try:
        _run(a)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


def _run(a) -> None:
    results = {}
    if a.ledger:
        results["ledger"] = bench_ledger(a.ledger)
        print("ledger", json.dumps(results["ledger"], ensure_ascii=False), flush=True)
    if a.send:
        results["send_per_recipient"] = bench_send(a.send)
        print("send", json.dumps(results["send_per_recipient"]), flush=True)
    if a.batched:
        results["send_batched"] = bench_send_batched(a.batched)
        print("batched", json.dumps(results["send_batched"]), flush=True)
    if a.due:
        results["push_due"] = bench_due(a.due)
        print("due", json.dumps(results["push_due"]), flush=True)
    if a.mem:
        results["memory"] = bench_mem([int(x) for x in a.mem.split(",")])
        print("memory", json.dumps(results["memory"]), flush=True)
    if a.status:
        results["status"] = bench_status(a.status)
        print("status", json.dumps(results["status"]), flush=True)


if __name__ == "__main__":
    main()
