"""WeCom sync and tag-sync benchmarks (run by hand, not a test).

    PYTHONPATH=src python benchmarks/sync.py [--contacts 25000,100000] [--guides 500] [--tag-members 1000000]
                                             [--changed 0.05] [--skip-sync] [--skip-tags] [--tags-dry-only]
                                             [--baseline-src /work/main/src]

1. sync: `siyu sync wecom --no-activity` in a fresh process against the sandbox (in this process) seeded
   with N customers across G guides (every 5th customer has a second guide), client and sandbox rate
   limits off. Reports API calls (≈ relations ÷ 100 + guide batches + groups), wall time, peak RSS of
   the sync process (VmHWM: its own high-water mark, not the sandbox's), and the named baseline
   "raw_fetch": the same batch/get_by_user pages fetched with a bare WeComClient loop that stores
   nothing, in a process of its own (the network + sandbox cost, and the client's own memory). Peak RSS
   should be flat in N: pages and group member lists are checkpointed to the store, never held, and the
   merge runs under `[sync] memory_limit` (DuckDB spills beyond it). ``marks_mb``: [step, RSS, high-water mark]
   after each fetch step and after the merge, to say which one set the peak.
2. tags: a store with M members, one relation each, two segment snapshots where a fraction changed
   segment, and the applied state of the first snapshot (as a previous `siyu tags sync` leaves it).
   `siyu tags sync` must call mark_tag only for the changed relations; reports plan time (--dry-run,
   the named baseline), full time and calls. The sandbox knows only the changed relations, so any call
   for an unchanged member would come back 84061 and be counted as skipped. ``--tag-members`` takes a list
   (100000,250000,1000000). Peak RSS is the tag-sync process's own VmHWM, for the dry run and the full run;
   ``marks_mb`` says after which step of sync/tags.py (plan, ledger, sending) it was reached. With
   ``--baseline-src`` the same store (a copy) and a fresh sandbox are run by that tree too (e.g. main's), and the
   ratios of peaks and calls are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

WECOM = """
[wecom]
rate_limit_default = 0
max_retries = 3
"""

# Peak RSS is VmHWM (this program's high-water mark since exec). ru_maxrss is not: on Linux it keeps the
# parent's RSS at fork, i.e. this benchmark process holding the sandbox's whole world, which grows with N.
PEAK = r"""
def peak_mb():
    with open("/proc/self/status") as fh:
        return round(int(next(l for l in fh if l.startswith("VmHWM")).split()[1]) / 1024, 1)
"""

# (step, RSS, high-water mark so far) in MB after the steps a child wraps with marked(module, name)
MARKS = r"""
marks = []
def mark(name):
    with open("/proc/self/status") as fh:
        kb = {l.split(":")[0]: int(l.split()[1]) for l in fh if l.startswith(("VmRSS", "VmHWM"))}
    marks.append((name, kb["VmRSS"] // 1024, kb["VmHWM"] // 1024))
def marked(mod, name):
    f = getattr(mod, name)
    def g(*a, **k):
        r = f(*a, **k)
        mark(name.lstrip("_"))
        return r
    setattr(mod, name, g)
"""

#: the end of a child: run the CLI, then its wall time, peak and marks as the last line of stderr
RUN = r"""
t = time.perf_counter()
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    sys.stderr.write(json.dumps({"wall_s": round(time.perf_counter() - t, 2), "peak_rss_mb": peak_mb(), "marks": marks})
                     + "\n")
"""

CHILD = PEAK + MARKS + r"""
import json, sys, time
from siyu_cli.cli.main import app
import siyu_cli.sync.merge as M, siyu_cli.sync.wecom as W
# where the peak is: after each fetch step and after the merge
for name in ("_fetch_contacts", "_fetch_tags", "_fetch_groups", "_staff_names"):
    marked(W, name)
marked(M, "merge")  # sync/wecom.py imports merge at call time, so the wrapper is the one it runs
"""  + RUN

# the named baseline: the same batch/get_by_user pages fetched with a bare client that stores nothing
RAW_CHILD = PEAK + r"""
import json, os, sys, time
from siyu_cli.wecom.client import WeComClient
from siyu_cli.wecom.config import WeComConfig
cfg = WeComConfig(base_url=os.environ["SIYU_WECOM_BASE_URL"], token_cache="memory", rate_limit_default=0)
with open(os.environ["WECOM_SECRET_FILE"]) as fh:
    client = WeComClient(None, corp_id=os.environ["WECOM_CORP_ID"], secret=fh.read().strip(), config=cfg)
users = client.get_follow_user_list()
t = time.perf_counter()
pages = 0
for i in range(0, len(users), 100):
    cursor = ""
    while True:
        _items, cursor = client.batch_get_by_user_page(users[i:i + 100], cursor, 100)
        pages += 1
        if not cursor:
            break
client.close()
print(json.dumps({"pages": pages}))
sys.stderr.write(json.dumps({"wall_s": round(time.perf_counter() - t, 2), "peak_rss_mb": peak_mb()}) + "\n")
"""


def workspace(tmp: Path):
    from siyu_cli.config import load_settings
    from siyu_cli.workspace import init_workspace

    root = tmp / "ws"
    init_workspace(root)
    cfg = root / "siyu.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + WECOM, encoding="utf-8")
    return load_settings(root)


TAG_CHILD = PEAK + MARKS + r"""
import json, sys, time
from siyu_cli.cli.main import app
import siyu_cli.sync.tags as T
for name in ("_plan", "_new_run", "_execute"):
    if hasattr(T, name):
        marked(T, name)
# inside the sending, only the steps after which the high-water mark grew (there are hundreds of them)
import contextlib, siyu_cli.store as S
def grew(name):
    with open("/proc/self/status") as fh:
        hwm = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) // 1024
    if not marks or hwm > marks[-1][2]:
        mark(name)
for name in ("_checkpoint", "_owned", "_finish", "_per_tag"):
    if hasattr(T, name):
        f = getattr(T, name)
        setattr(T, name, lambda *a, _f=f, _n=name, **k: (_f(*a, **k), grew(_n.lstrip("_")))[0])
real_open = S.open_store
@contextlib.contextmanager
def open_store(*a, **k):
    with real_open(*a, **k) as con:
        yield con
    grew("open_store(%s)" % ("ro" if k.get("read_only") else "rw"))
S.open_store = open_store
"""  + RUN


def run_child(settings, sb, args: list[str], tmp: Path, code: str = CHILD, src: Path | None = None) -> tuple[dict, dict]:
    secret = tmp / "secret"
    secret.write_text(sb.secret)
    os.chmod(secret, 0o600)
    env = dict(os.environ, **sb.env(secret_file=secret), SIYU_WORKSPACE=str(settings.root),
               PYTHONPATH=str(src or ROOT / "src"), SIYU_LOCK_WAIT="60")
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not proc.stdout.strip():  # the CLI's own errors exit 0 under standalone_mode=False
        raise SystemExit(proc.stderr)
    stats = json.loads(proc.stderr.strip().splitlines()[-1])
    return json.loads(proc.stdout), stats


def bench_sync(n: int, guides: int) -> dict:
    from siyu_cli.sandbox import SandboxServer

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        settings = workspace(tmp)
        t = time.perf_counter()
        sb = SandboxServer(seed="synthetic", synthetic={"staff": guides, "customers": n, "groups": max(1, n // 500)})
        sb.state.rate_limit_default = 0
        seed_s = time.perf_counter() - t
        with sb:
            report, stats = run_child(settings, sb, ["sync", "wecom", "--no-activity", "--format", "json"], tmp)
            relations = len(sb.state.live_relations())
            # baseline: the same pages, fetched and dropped, in a process of its own too
            raw, raw_stats = run_child(settings, sb, [], tmp, code=RAW_CHILD)
    return {"contacts": n, "guides": guides, "relations": relations, "api_calls": report["api_calls"],
            "contact_pages": raw["pages"], "wall_s": stats["wall_s"], "peak_rss_mb": stats["peak_rss_mb"],
            "baseline_raw_fetch_s": raw_stats["wall_s"], "ratio_vs_raw_fetch": round(stats["wall_s"] / raw_stats["wall_s"], 2),
            "baseline_raw_fetch_peak_rss_mb": raw_stats["peak_rss_mb"],
            "sandbox_seed_s": round(seed_s, 1), "marks_mb": stats["marks"], "counts": report["counts"]["contacts"]}


SEGS = ["重要价值", "重要保持", "一般发展", "一般挽留"]


def tag_store(tmp: Path, m: int, changed: float):
    """The store of the tag benchmark (see the module doc); returns its settings and the changed relations."""
    from siyu_cli.store import open_store

    settings = workspace(tmp)
    step = max(1, round(1 / changed))
    with open_store(settings) as con:
        con.execute(f"""INSERT INTO members (member_id, external_userid, guide_userid)
                        SELECT 'm' || i, 'wm' || i, 'g' || (i % 500) FROM range({m}) t(i)""")
        con.execute(f"""INSERT INTO wecom_contacts (external_userid, staff_userid, member_id, synced_batch)
                        SELECT 'wm' || i, 'g' || (i % 500), 'm' || i, 'bench' FROM range({m}) t(i)""")
        con.execute("INSERT INTO segment_snapshots (snapshot_id, created_at, as_of, scheme) VALUES "
                    "(1, now(), current_date - 1, 'rfm8'), (2, now(), current_date, 'rfm8')")
        arr = "['" + "','".join(SEGS) + "']"
        con.execute(f"""INSERT INTO segment_member_rows (snapshot_id, member_id, segment_id, segment_name)
                        SELECT 1, 'm' || i, {arr}[i % 4 + 1], {arr}[i % 4 + 1] FROM range({m}) t(i)""")
        con.execute(f"""INSERT INTO segment_member_rows (snapshot_id, member_id, segment_id, segment_name)
                        SELECT 2, 'm' || i, {arr}[(i + (i % {step} = 0)::INT) % 4 + 1],
                               {arr}[(i + (i % {step} = 0)::INT) % 4 + 1] FROM range({m}) t(i)""")
        con.execute("""INSERT INTO wecom_tag_state SELECT c.external_userid, c.staff_userid, 'RFM分层',
                       s.segment_name, 'bench', now() FROM wecom_contacts c
                       JOIN segment_members s ON s.member_id = c.member_id AND s.snapshot_id = 1""")
        moved = con.execute(f"SELECT 'wm' || i, 'g' || (i % 500) FROM range({m}) t(i) WHERE i % {step} = 0").fetchall()
    return settings, moved


def bench_tags_once(settings, moved, tmp: Path, dry_only: bool, src: Path | None, observed: bool = False) -> dict:
    """Dry run then full run of `siyu tags sync` by the tree ``src`` against a fresh sandbox.

    ``observed``: a `siyu sync wecom` finished after the last tag run and read every relation's tags as siyu
    applied them (the nightly's order: sync, then tags), so the plan compares with what WeCom reported and the run
    adopts it as the applied state."""
    from siyu_cli.sandbox import SandboxServer
    from siyu_cli.store import open_store

    sb = SandboxServer(seed="none")
    sb.state.rate_limit_default = 0
    ids = {name: sb.state.seed_tag("RFM分层", name, app_created=True) for name in SEGS}
    for ext, g in moved:
        sb.state.add_contact(ext, g)
    with open_store(settings) as con:
        gid = next(iter(sb.state.tag_groups))
        for name, tid in ids.items():
            con.execute("INSERT INTO wecom_tag_owned VALUES (?, ?, 'RFM分层', ?, now())", [tid, gid, name])
        if observed:
            con.execute("""UPDATE wecom_contacts c SET tag_ids = [o.tag_id] FROM wecom_tag_state t, wecom_tag_owned o
                           WHERE t.external_userid = c.external_userid AND t.staff_userid = c.staff_userid
                             AND o.name = t.tag_name AND o.group_name = t.group_name""")
            con.execute("INSERT INTO wecom_sync_runs (batch_id, status, progress, started_at, finished_at) "
                        "VALUES ('bench', 'done', '{}', now(), now())")
    with sb:
        dry, dry_stats = run_child(settings, sb, ["tags", "sync", "--dry-run", "--format", "json"], tmp,
                                   code=TAG_CHILD, src=src)
        out = {"dry_run_planned": dry["planned"], "dry_run_api_calls": dry["api_calls"], "dry_run_s": dry_stats["wall_s"],
               "dry_run_peak_rss_mb": dry_stats["peak_rss_mb"], "dry_run_marks_mb": dry_stats["marks"]}
        if dry_only:
            return out
        full, stats = run_child(settings, sb, ["tags", "sync", "--format", "json"], tmp, code=TAG_CHILD, src=src)
        calls = sb.state.counters.get("mark_tag", 0)
    return {**out, "planned": full["planned"], "mark_tag_calls": calls, "done": full["done"],
            "skipped": full["skipped"], "wall_s": stats["wall_s"], "peak_rss_mb": stats["peak_rss_mb"],
            "calls_per_s": round(calls / stats["wall_s"], 1), "marks_mb": stats["marks"],
            "memory_limits": full.get("memory_limits")}


def bench_tags(m: int, changed: float, dry_only: bool = False, baseline_src: Path | None = None,
               observed: bool = False) -> dict:
    import shutil

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t = time.perf_counter()
        settings, moved = tag_store(tmp, m, changed)
        out = {"members": m, "changed": len(moved), "observed": observed, "setup_s": round(time.perf_counter() - t, 1)}
        if baseline_src is not None:  # a copy of the store, before this tree's run changes it
            base_tmp = tmp / "baseline"
            base_tmp.mkdir()
            shutil.copytree(settings.root, base_tmp / "ws")
            from siyu_cli.config import load_settings

            base = bench_tags_once(load_settings(base_tmp / "ws"), moved, base_tmp, dry_only, baseline_src, observed)
            out["baseline"] = {"src": str(baseline_src), **base}
        out["this_tree"] = bench_tags_once(settings, moved, tmp, dry_only, None, observed)
        if baseline_src is not None:
            for key in ("dry_run_peak_rss_mb", "peak_rss_mb", "mark_tag_calls", "dry_run_s", "wall_s"):
                if key in out["this_tree"] and out["baseline"].get(key):
                    out[f"ratio_{key}"] = round(out["this_tree"][key] / out["baseline"][key], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", default="25000,100000")
    ap.add_argument("--guides", type=int, default=500)
    ap.add_argument("--tag-members", default="1000000", help="comma-separated member counts")
    ap.add_argument("--changed", type=float, default=0.05)
    ap.add_argument("--skip-sync", action="store_true")
    ap.add_argument("--skip-tags", action="store_true")
    ap.add_argument("--tags-dry-only", action="store_true", help="plan only (the full run is ~calls × HTTP latency)")
    ap.add_argument("--tags-observed", action="store_true",
                    help="a sync read the relations' tags after the last tag run (the nightly's order)")
    ap.add_argument("--baseline-src", type=Path, help="another tree's src (e.g. main's) run on a copy of each tag store")
    a = ap.parse_args()
    if not a.skip_sync:
        for n in [int(x) for x in a.contacts.split(",")]:
            print(json.dumps({"sync": bench_sync(n, a.guides)}, ensure_ascii=False), flush=True)
    if not a.skip_tags:
        for m in [int(x) for x in a.tag_members.split(",")]:
            print(json.dumps({"tags": bench_tags(m, a.changed, a.tags_dry_only, a.baseline_src,
                                                         a.tags_observed)}, ensure_ascii=False),
                  flush=True)


if __name__ == "__main__":
    main()
