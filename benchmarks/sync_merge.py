"""The sync's merge alone (run by hand, not a test): staging of N customers as `siyu sync wecom` leaves it
(1.2 N relations across 500 guides, N // 500 groups holding every customer, one corp tag), then `merge()` in a
fresh process; prints its wall time, peak RSS (VmHWM) and [step, RSS, VmHWM, seconds] after each phase, and the merge phases that needed
a step up the memory ladder. Seconds instead of the full benchmarks/sync.py run, without the sandbox.

    PYTHONPATH=src python benchmarks/sync_merge.py 25000,100000,250000 [--second 0.01] [--src A,B]

``--second F``: then a second sync's staging where a fraction F of the customers changed a linking input (a new
remark phone), merged in a fresh process too: its wall time against the first's (``second_ratio``) and how many
customers it resolved again. ``--src A,B``: run each size under each source tree in turn (e.g. main's ``src`` as the
named baseline and this one), interleaved, so their ratios come from the same run on a shared box.
"""
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time, os
def rss(k="VmHWM"):
    with open("/proc/self/status") as fh:
        return round(int(next(l for l in fh if l.startswith(k)).split()[1]) / 1024, 1)
from siyu_cli.config import load_settings
from siyu_cli.sync import merge as M
from siyu_cli.sync.wecom import SyncReport
settings = load_settings(sys.argv[1])
marks = []
for name in ("_merge_relations", "_merge_customers", "_merge_tags", "_merge_groups"):
    f = getattr(M, name)
    def w(*a, __f=f, __n=name, **k):
        r = __f(*a, **k); marks.append((__n, rss("VmRSS"), rss(), round(time.perf_counter() - t, 1))); return r
    setattr(M, name, w)
import siyu_cli.sync.linking as L
f0, f1 = L.link_customers, L.finish
def lk(*a, **k):
    r = f0(*a, **k); marks.append(("link", rss("VmRSS"), rss(), round(time.perf_counter() - t, 1))); return r
def fin(*a, **k):
    r = f1(*a, **k); marks.append(("finish", rss("VmRSS"), rss(), round(time.perf_counter() - t, 1))); return r
L.link_customers, L.finish = lk, fin
t = time.perf_counter()
rep = SyncReport(batch_id=sys.argv[3])
M.merge(settings, rep, json.loads(sys.argv[2])); marks.append(("limits", rep.merge_limits))
print(json.dumps({"wall": round(time.perf_counter()-t,2), "peak": rss(), "marks": marks, "contacts": rep.counts.get("contacts"),
                  "resolved": getattr(rep, "resolved", rep.linked.get("customers"))}))
"""

def stage(con, b: str, n: int, guides: int, changed: int = 0) -> None:
    """The staging of sync ``b``; every ``changed``-th customer (0: none) has a remark phone the first lacked."""
    g = max(1, n // 500)
    new_phone = f"WHEN {changed} > 0 AND i % {changed} = 1 THEN [printf('1390%07d', i)]"
    con.execute("INSERT INTO wecom_sync_runs (batch_id, status, progress, started_at) VALUES (?, 'running', '{}', now())", [b])
    con.execute(f"""INSERT INTO wecom_sync_contacts (batch_id, external_userid, staff_userid, name, type, gender, unionid,
             remark, remark_mobiles, createtime, add_way, state, oper_userid, tag_ids)
        SELECT '{b}', printf('wmsandbox%04d', i), printf('guide%02d', (i-1) % {guides} + 1), '客户'||i, 1, 1+i%2,
               CASE WHEN i%3=0 THEN 'oSandboxUnion'||i END, '客户'||i,
               CASE {new_phone} WHEN i%4=0 THEN [printf('1380%07d', i)] ELSE [] END, 1700000000+i, 1, 'store-qr',
               printf('guide%02d', (i-1) % {guides} + 1), ['tagA']
        FROM range(1, {n}+1) t(i)""")
    con.execute(f"""INSERT INTO wecom_sync_contacts (batch_id, external_userid, staff_userid, name, type, gender, createtime, add_way, tag_ids)
        SELECT '{b}', printf('wmsandbox%04d', i), printf('guide%02d', i % {guides} + 1), '客户'||i, 1, 1, 1700100000+i, 1, []
        FROM range(1, {n}+1) t(i) WHERE i % 5 = 0""")
    con.execute(f"INSERT INTO wecom_sync_tags VALUES ('{b}','tagA','高','grp','客户等级',1700000000,1)")
    con.execute(f"""INSERT INTO wecom_sync_groups (batch_id, chat_id, fetched, name, owner, create_time, member_count)
        SELECT '{b}', printf('wrsandbox%02d', j), true, '社群'||j, printf('guide%02d', (j-1) % {guides} + 1), 1700000000, 0
        FROM range(1, {g}+1) s(j)""")
    con.execute(f"""INSERT INTO wecom_sync_group_members SELECT '{b}', printf('wrsandbox%02d', (i-1) % {g} + 1),
        printf('wmsandbox%04d', i), 2, 1700000000+i, 1, 'x', NULL FROM range(1, {n}+1) t(i)""")


def main(n: int, guides: int = 500, second: float = 0.0) -> None:
    from siyu_cli.config import load_settings
    from siyu_cli.store import open_store
    from siyu_cli.workspace import init_workspace
    d = tempfile.mkdtemp()
    root = Path(d) / "ws"
    init_workspace(root)
    settings = load_settings(root)
    users = json.dumps([f"guide{i:02d}" for i in range(1, guides + 1)])
    try:
        out = {"customers": n}
        for b, changed in [("wsync-b", 0)] + ([("wsync-c", max(1, round(1 / second)))] if second else []):
            with open_store(settings) as con:
                stage(con, b, n, guides, changed)
            run = subprocess.run([sys.executable, "-c", CHILD, str(root), users, b], capture_output=True, text=True)
            if run.returncode:
                print(run.stderr[-2000:])
                return
            out["first" if b == "wsync-b" else "second"] = json.loads(run.stdout)
        if second:
            out["second_ratio"] = round(out["second"]["wall"] / out["first"]["wall"], 3)
        print(json.dumps(out), flush=True)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    import argparse
    import os

    ap = argparse.ArgumentParser()
    ap.add_argument("sizes")
    ap.add_argument("--second", type=float, default=0.0)
    ap.add_argument("--src", default="", help="source trees to compare, comma-separated (each size runs under each)")
    a = ap.parse_args()
    for n in map(int, a.sizes.split(",")):
        if not a.src:
            main(n, second=a.second)
            continue
        for src in a.src.split(","):
            env = {**os.environ, "PYTHONPATH": src}
            run = subprocess.run([sys.executable, __file__, str(n), "--second", str(a.second)], env=env,
                                 capture_output=True, text=True)
            print(json.dumps({"src": src, **json.loads(run.stdout.strip().splitlines()[-1])}) if run.returncode == 0
                  else run.stderr[-2000:], flush=True)
