"""The sync's merge alone (run by hand, not a test): staging of N customers as `siyu sync wecom` leaves it
(1.2 N relations across 500 guides, N // 500 groups holding every customer, one corp tag), then `merge()` in a
fresh process; prints its wall time, peak RSS (VmHWM) and RSS after each phase, and the merge phases that needed
a step up the memory ladder. Seconds instead of the full benchmarks/sync.py run, without the sandbox.

    PYTHONPATH=src python benchmarks/sync_merge.py 25000,100000,250000
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
        r = __f(*a, **k); marks.append((__n, rss("VmRSS"), rss())); return r
    setattr(M, name, w)
import siyu_cli.sync.linking as L
f0 = L.link_customers
def lk(*a, **k):
    r = f0(*a, **k); marks.append(("link", rss("VmRSS"), rss())); return r
L.link_customers = lk
t = time.perf_counter()
rep = SyncReport(batch_id="wsync-b")
M.merge(settings, rep, json.loads(sys.argv[2])); marks.append(("limits", rep.merge_limits))
print(json.dumps({"wall": round(time.perf_counter()-t,2), "peak": rss(), "marks": marks, "contacts": rep.counts.get("contacts")}))
"""

def main(n: int, guides: int = 500) -> None:
    from siyu_cli.config import load_settings
    from siyu_cli.workspace import init_workspace
    from siyu_cli.store import open_store
    d = tempfile.mkdtemp()
    root = Path(d) / "ws"
    init_workspace(root)
    settings = load_settings(root)
    g = max(1, n // 500)
    with open_store(settings) as con:
        con.execute("INSERT INTO wecom_sync_runs (batch_id, status, progress, started_at) VALUES ('wsync-b','running','{}',now())")
        con.execute(f"""INSERT INTO wecom_sync_contacts (batch_id, external_userid, staff_userid, name, type, gender, unionid,
                 remark, remark_mobiles, createtime, add_way, state, oper_userid, tag_ids)
            SELECT 'wsync-b', printf('wmsandbox%04d', i), printf('guide%02d', (i-1) % {guides} + 1), '客户'||i, 1, 1+i%2,
                   CASE WHEN i%3=0 THEN 'oSandboxUnion'||i END, '客户'||i,
                   CASE WHEN i%4=0 THEN [printf('1380%07d', i)] ELSE [] END, 1700000000+i, 1, 'store-qr', printf('guide%02d', (i-1) % {guides} + 1), ['tagA']
            FROM range(1, {n}+1) t(i)""")
        con.execute(f"""INSERT INTO wecom_sync_contacts (batch_id, external_userid, staff_userid, name, type, gender, createtime, add_way, tag_ids)
            SELECT 'wsync-b', printf('wmsandbox%04d', i), printf('guide%02d', i % {guides} + 1), '客户'||i, 1, 1, 1700100000+i, 1, []
            FROM range(1, {n}+1) t(i) WHERE i % 5 = 0""")
        con.execute("INSERT INTO wecom_sync_tags VALUES ('wsync-b','tagA','高','grp','客户等级',1700000000,1)")
        con.execute(f"""INSERT INTO wecom_sync_groups (batch_id, chat_id, fetched, name, owner, create_time, member_count)
            SELECT 'wsync-b', printf('wrsandbox%02d', j), true, '社群'||j, printf('guide%02d', (j-1) % {guides} + 1), 1700000000, 0
            FROM range(1, {g}+1) s(j)""")
        con.execute(f"""INSERT INTO wecom_sync_group_members SELECT 'wsync-b', printf('wrsandbox%02d', (i-1) % {g} + 1),
            printf('wmsandbox%04d', i), 2, 1700000000+i, 1, 'x', NULL FROM range(1, {n}+1) t(i)""")
    users = json.dumps([f"guide{i:02d}" for i in range(1, guides + 1)])
    try:
        out = subprocess.run([sys.executable, "-c", CHILD, str(root), users], capture_output=True, text=True)
        print(json.dumps({"customers": n, **json.loads(out.stdout)}) if out.returncode == 0 else out.stderr[-2000:])
    finally:
        shutil.rmtree(d, ignore_errors=True)

if __name__ == "__main__":
    for n in map(int, sys.argv[1].split(",")):
        main(n)
