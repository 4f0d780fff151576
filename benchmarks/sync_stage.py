"""The sync's staging writes alone (run by hand, not a test): in a fresh process per case, ``--writes`` checkpoint
writes of 5,000 relations (`_Stage.write`, as the fetch makes them) into a staging table that already holds
``--staged`` relations of the same sync; prints the process's high-water mark (VmHWM, reset after the prefill) before and after
the writes, each write's own high-water mark (``hwm_per_write_mb``), and their seconds. External_userids are md5
hex strings (random, as WeCom's and the sandbox's are): sequential ones only ever touch the end of an index. The named baseline is ``INSERT_ROWS = 5000`` (one statement per checkpoint, as before issue 14's fourth round).

    PYTHONPATH=src python benchmarks/sync_stage.py [--staged 0,250000] [--insert-rows 5000,1000] [--writes 3]
        [--variant today,nockpt,nopk,openonly,memlimit,ckpteach,othertable]

``--variant`` probes where the peak comes from: ``nockpt`` sets a checkpoint threshold of 100 GB and
``disable_checkpoint_on_shutdown`` on every write's connection (no checkpoint at all), ``nopk`` rebuilds the staging
table without its primary key (plain INSERT; since migration 314 the table has none, so it only drops the delete of
the write's keys), ``openonly`` makes each write a progress update only (the store's open
and close), ``memlimit`` sets ``memory_limit = '64MB'`` on each write's connection, ``ckpteach`` runs a CHECKPOINT at the
end of every write, ``othertable`` puts the ``--staged`` rows in another table of the same shape (a big store, an empty
staging table). ``today`` is the code as it is, the baseline of the probes.
"""
import argparse
import json
import subprocess
import sys

CHILD = r"""
import hashlib, json, sys, tempfile, time
from pathlib import Path
def hwm(k="VmHWM"):
    with open("/proc/self/status") as fh:
        return int(next(l for l in fh if l.startswith(k)).split()[1]) // 1024
from siyu_cli.config import load_settings
from siyu_cli.store import open_store
from siyu_cli.workspace import init_workspace
import siyu_cli.sync.wecom as W
W.INSERT_ROWS, staged, writes = map(int, sys.argv[1:4])
variant = sys.argv[4]
root = Path(tempfile.mkdtemp()) / "ws"
init_workspace(root)
settings = load_settings(root)
with open_store(settings) as con:
    con.execute("INSERT INTO wecom_sync_runs (batch_id, status, progress, started_at) VALUES ('b','running','{}',now())")
    target = "wecom_sync_contacts"
    if variant == "othertable":  # the staged rows go to another table of the same shape: store size, not staging size
        con.execute("CREATE TABLE other_contacts AS SELECT * FROM wecom_sync_contacts LIMIT 0")
        target = "other_contacts"
    con.execute(f'''INSERT INTO {target} (batch_id, external_userid, staff_userid, name, type, gender, remark,
                    remark_mobiles, createtime, add_way, oper_userid, tag_ids)
                    SELECT 'b', 'wm' || md5('staged' || i), printf('guide%03d', i % 500), '客户' || i, 1, 1, '客户' || i,
                           [], 1700000000 + i, 1, 'guide001', ['t1'] FROM range({staged}) t(i)''')
if variant == "nopk":  # the staging table without its primary key, plain INSERT
    with open_store(settings) as con:
        con.execute("CREATE TABLE nopk AS SELECT * FROM wecom_sync_contacts")
        con.execute("DROP TABLE wecom_sync_contacts")
        con.execute("ALTER TABLE nopk RENAME TO wecom_sync_contacts")
    _insert = W._insert
    W._insert = lambda con, table, batch_id, rows, fields, verb="INSERT": _insert(con, table, batch_id, rows, fields, "INSERT")
SQL = {"nockpt": ["SET checkpoint_threshold = '100GB'", "PRAGMA disable_checkpoint_on_shutdown"],
       "memlimit": ["SET memory_limit = '64MB'"], "threads1": ["SET threads = 1"],
       "lim128t1": ["SET memory_limit = '128MB'", "SET threads = 1"]}
if variant in SQL or variant == "ckpteach":
    import contextlib, siyu_cli.store as S
    _open = S.open_store
    @contextlib.contextmanager
    def open_variant(*a, **k):
        with _open(*a, **k) as con:
            for sql in SQL.get(variant, []):
                con.execute(sql)
            yield con
            if variant == "ckpteach":
                con.execute("CHECKPOINT")
    S.open_store = open_variant
nrows = 0 if variant == "openonly" else 5000
stage = W._Stage(settings, "b", {})
with open("/proc/self/clear_refs", "w") as fh:  # reset VmHWM to the current RSS: only the writes count
    fh.write("5")
before = hwm()
t = time.perf_counter()
peak, per_write = before, []
for k in range(writes):
    rows = [{"external_userid": "wm" + hashlib.md5(f"new{k}x{i}".encode()).hexdigest(), "staff_userid": f"guide{i % 500:03d}", "name": f"客户{i}", "type": 1,
             "gender": 1, "unionid": None, "corp_name": None, "remark": f"客户{i}", "description": None,
             "remark_mobiles": ["13800000000"] if i % 4 == 0 else [], "createtime": 1700000000 + i, "add_way": 1,
             "state": None, "oper_userid": "guide001", "tag_ids": ["t1"]} for i in range(nrows)]
    peak = max(peak, hwm())
    with open("/proc/self/clear_refs", "w") as fh:  # each write's own high-water mark, then reset for the next
        fh.write("5")
    stage.write("wecom_sync_contacts" if rows else None, rows, W.CONTACT_FIELDS, contacts_batch=k)
    per_write.append(hwm())
print(json.dumps({"hwm_before_mb": before, "hwm_after_mb": max(peak, hwm()), "rss_after_mb": hwm("VmRSS"),
                  "hwm_per_write_mb": per_write,
                  "s": round(time.perf_counter() - t, 2)}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--staged", default="0,250000")
    ap.add_argument("--insert-rows", default="5000,1000")
    ap.add_argument("--writes", type=int, default=3)
    ap.add_argument("--variant", default="today",
                    help="comma-separated: today | nockpt (no automatic checkpoint, none on close) | "
                         "nopk (staging table without its primary key, plain INSERT) | openonly (writes of progress only) | "
                         "memlimit (memory_limit 64MB on each write's connection) | ckpteach (CHECKPOINT after each write) | "
                         "othertable (the --staged rows in another table, staging empty)")
    a = ap.parse_args()
    for variant in a.variant.split(","):
        for staged in map(int, a.staged.split(",")):
            for rows in map(int, a.insert_rows.split(",")):
                out = subprocess.run([sys.executable, "-c", CHILD, str(rows), str(staged), str(a.writes), variant],
                                     capture_output=True, text=True)
                res = json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr[-500:]}
                print(json.dumps({"variant": variant, "staged": staged, "insert_rows": rows, "writes": a.writes, **res}),
                      flush=True)


if __name__ == "__main__":
    main()
