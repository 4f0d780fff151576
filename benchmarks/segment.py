"""Benchmark `siyu segment` against (a) the bare DuckDB query and (b) lifetimes and the `rfm` package.

Run by hand (never in tests):

    PYTHONPATH=src /work/venv/bin/python benchmarks/segment.py --orders 10000000 --members 2000000
    PYTHONPATH=src /work/venv/bin/python benchmarks/segment.py --orders 1000000 --members 200000   # shared box

Data is generated inside DuckDB (skewed: most members buy once; 92% paid, 5% refunded, 3% cancelled) into
a fresh workspace store. Each measurement runs in its own subprocess so peak RSS (ru_maxrss) is clean:

* siyu       — ``run_segment(scheme="rfm11")``: measures, quintile scores, 11 segments, snapshot stored
               (rfm8 is also timed; it uses thresholds and no window sorts).
* bare       — one hand-written DuckDB query for the same measures and quintile scores (CREATE TEMP TABLE),
               nothing stored: the floor siyu is compared with (target: siyu ≤ 1.5× bare).
* lifetimes  — ``summary_data_from_transaction_data`` on the paid orders already in a pandas frame
               (the time to pull them out of DuckDB is *not* counted: generous to lifetimes; target: siyu
               ≥ 20× faster). Needs ``pip install lifetimes`` (not a siyu dependency). If the full size does
               not finish within --lifetimes-timeout, halves of it are tried and the largest size that finishes
               is reported, together with siyu's time on the same size. Like every engine, best of --repeat.
* siyu CLI   — ``siyu segment --scheme rfm11`` as a user runs it (a fresh process: start-up, store open,
               measures, snapshot write), wall time; compared with ``bare`` in a fresh process too
               (``python -c`` that imports duckdb, opens the store and runs the query): target ≤ 1.5× at 1M.
* snapshot size — bytes per member one more nightly run adds in the stored layout (chained snapshots: only
               members whose row changed since the previous day, plus tombstones; migration 101) and in the old
               full layout (every member's row), each copied into a fresh file; and the time to read the
               newest snapshot (count by segment, one segment's ids) through the ``segment_members`` view
               against the same queries on the full rows in a table of their own (the old table scan).
* rfm package — ``RFM(df, customer, date, amount)`` of the pandas-based ``rfm`` package, the other baseline
               the issue names: measures, 1–5 scores and named segments, like siyu rfm11. Version 1.0.9 fails on
               pandas 3.1.1 (its ``drop(columns=…, axis=1)`` raises) and works on 1.5.3, so it runs in its own
               interpreter given with ``--rfm-python`` (e.g. ``python -m venv rfmvenv && rfmvenv/bin/pip install
               rfm==1.0.9 "pandas==1.5.3" "numpy<2" "pyarrow<15"``); the same purchases go to it as a Parquet
               file (writing and reading it is not counted). Skipped without ``--rfm-python``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
AS_OF = "2026-06-30"


def generate(store: Path, orders: int, members: int) -> None:
    import duckdb

    con = duckdb.connect(str(store))
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    con.execute(
        f"""INSERT INTO members (member_id, phone, store, guide_userid)
            SELECT 'm' || i, '138' || lpad(CAST(i AS VARCHAR), 8, '0'), 'S' || (i % 50), 'g' || (i % 400)
            FROM range({members}) t(i)"""
    )
    # member index skewed towards low ids (power law): most members buy once, a few buy very often
    con.execute(
        f"""INSERT INTO orders (source, order_id, member_id, status, paid_at, paid_amount, refund_amount, net_amount)
            SELECT 'bench', CAST(i AS VARCHAR),
                   'm' || CAST(floor({members} * pow(random(), 2.2)) AS BIGINT),
                   status,
                   TIMESTAMPTZ '2024-07-01 00:00:00+08' + to_seconds(CAST(floor(random() * 730 * 86400) AS BIGINT)),
                   amount,
                   CASE status WHEN 'refunded' THEN amount ELSE 0 END,
                   CASE status WHEN 'paid' THEN amount ELSE 0 END
            FROM (
                SELECT i, CAST(round(5 + random() * 495, 2) AS DECIMAL(18,2)) AS amount,
                       CASE WHEN random() < 0.92 THEN 'paid' WHEN random() < 0.6 THEN 'refunded' ELSE 'cancelled' END AS status
                FROM range({orders}) t(i)
            )"""
    )
    con.close()


BARE_SQL = """
CREATE TEMP TABLE bare AS
WITH a AS (
    SELECT member_id,
           DATE '{as_of}' - CAST(timezone('Asia/Shanghai', max(paid_at)) AS DATE) AS recency_days,
           count(*) AS frequency, sum(paid_amount - refund_amount) AS monetary
    FROM orders
    WHERE member_id IS NOT NULL AND status NOT IN ('cancelled', 'unpaid')
      AND paid_at < TIMESTAMPTZ '{as_of} 00:00:00+08' + INTERVAL 1 DAY AND paid_amount - refund_amount > 0
    GROUP BY member_id
), n AS (SELECT count(*) AS n FROM a)
SELECT member_id, recency_days, frequency, monetary,
       least(5, 1 + (5 * (rank() OVER (ORDER BY recency_days DESC) - 1)) // (n.n - 1)) AS r_score,
       least(5, 1 + (5 * (rank() OVER (ORDER BY frequency) - 1)) // (n.n - 1)) AS f_score,
       least(5, 1 + (5 * (rank() OVER (ORDER BY monetary) - 1)) // (n.n - 1)) AS m_score
FROM a, n
"""


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; ru_maxrss would include the parent's peak, as Linux keeps it over exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(kind: str, workspace: Path, limit: int | None) -> dict:
    """One measurement in this process; returns seconds and peak RSS."""
    sys.path.insert(0, str(SRC))
    from siyu_cli.config import load_settings

    settings = load_settings(workspace)
    extra: dict = {}
    if kind in ("siyu", "siyu_rfm8"):
        import duckdb  # noqa: F401 - imported before the clock starts, as in the other workers

        from siyu_cli.segment import run_segment

        if limit:  # the same subset lifetimes got: only the first `limit` orders
            raise SystemExit("siyu with --limit runs through its own store (see main)")
        steps: dict[str, float] = {}
        execute = duckdb.DuckDBPyConnection.execute

        def timed(self, query, *a, **k):  # where the time goes, by statement kind
            t0 = time.perf_counter()
            try:
                return execute(self, query, *a, **k)
            finally:
                q = " ".join(str(query).split())
                key = ("buyer measures" if "TEMP TABLE seg_buyers" in q
                       else "quintile cuts" if ("quantile_disc" in q or "sum(CAST((monetary)" in q
                                           or "sum(CAST((-recency_days)" in q or " AS d, v, count(*)" in q)
                       else "score + store snapshot rows" if (q.startswith("INSERT INTO segment_member_rows")
                                                              or "TEMP TABLE seg_new" in q)
                       else "compare with previous snapshot" if "TEMP TABLE seg_changed" in q
                       else "excluded-orders count" if "'before_window'" in q or "'after_as_of'" in q
                       else "pareto" if ("ROWS UNBOUNDED PRECEDING" in q or q.startswith("SELECT count(*), sum(revenue)")
                                    or "CAST(revenue * 100 AS BIGINT)" in q)
                       else "summary" if "GROUP BY segment_id" in q
                       else "commit" if q == "COMMIT" else "other")
                steps[key] = steps.get(key, 0) + time.perf_counter() - t0

        duckdb.DuckDBPyConnection.execute = timed
        start = time.perf_counter()
        run = run_segment(settings, scheme="rfm11" if kind == "siyu" else "rfm8", as_of=AS_OF)
        seconds = time.perf_counter() - start
        duckdb.DuckDBPyConnection.execute = execute
        extra = {"members": run.members, "buyers": run.buyers,
                 "steps": {k: round(v, 3) for k, v in sorted(steps.items(), key=lambda kv: -kv[1])}}
    elif kind == "bare":
        import duckdb

        con = duckdb.connect(str(settings.store), read_only=True)
        start = time.perf_counter()
        con.execute(BARE_SQL.format(as_of=AS_OF))
        seconds = time.perf_counter() - start
        extra = {"buyers": con.execute("SELECT count(*) FROM bare").fetchone()[0]}
    elif kind == "lifetimes":
        import duckdb
        from lifetimes.utils import summary_data_from_transaction_data

        con = duckdb.connect(str(settings.store), read_only=True)
        con.execute("SET TimeZone = 'Asia/Shanghai'")
        where = "WHERE status NOT IN ('cancelled', 'unpaid') AND paid_at IS NOT NULL AND member_id IS NOT NULL"
        if limit:
            where += f" AND CAST(order_id AS BIGINT) < {limit}"
        df = con.execute(
            f"""SELECT member_id, CAST(timezone('Asia/Shanghai', paid_at) AS TIMESTAMP) AS ts,
                       CAST(paid_amount - refund_amount AS DOUBLE) AS net
                FROM orders {where}"""
        ).df()
        df = df[(df["net"] > 0)]
        start = time.perf_counter()
        summary = summary_data_from_transaction_data(
            df, "member_id", "ts", monetary_value_col="net", observation_period_end=AS_OF,
            include_first_transaction=True,
        )
        seconds = time.perf_counter() - start
        extra = {"rows": int(len(df)), "buyers": int(len(summary))}
    else:  # pragma: no cover
        raise SystemExit(f"unknown worker {kind}")
    peak_mb = peak_rss_mb()
    return {"kind": kind, "seconds": round(seconds, 3), "peak_rss_mb": round(peak_mb, 1), **extra}


def measure(kind: str, workspace: Path, limit: int | None = None, timeout: float | None = None) -> dict | None:
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, __file__, "--worker", kind, "--workspace", str(workspace)]
    if limit:
        cmd += ["--limit", str(limit)]
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as exc:
        print(exc.stderr, file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


RFM_SCRIPT = """
import json, resource, sys, time
import pandas as pd
from rfm import RFM
df = pd.read_parquet(sys.argv[1])
start = time.perf_counter()
result = RFM(df, "member_id", "order_date", "amount")
seconds = time.perf_counter() - start
peak = [int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(json.dumps({"kind": "rfm_package", "seconds": round(seconds, 3), "peak_rss_mb": round(peak, 1),
                  "rows": int(len(df)), "buyers": int(len(result.rfm_table))}))
"""


def measure_rfm_package(python: str, workspace: Path, limit: int | None = None, timeout: float | None = None) -> dict | None:
    """The ``rfm`` package in its own interpreter, on the purchases exported to Parquet (export not timed)."""
    import duckdb

    sys.path.insert(0, str(SRC))
    from siyu_cli.config import load_settings

    settings = load_settings(workspace)
    where = ("WHERE status NOT IN ('cancelled', 'unpaid') AND paid_at IS NOT NULL AND member_id IS NOT NULL "
             "AND paid_amount - refund_amount > 0")
    if limit:
        where += f" AND CAST(order_id AS BIGINT) < {limit}"
    data = workspace / f"rfm_purchases_{limit or 'all'}.parquet"
    con = duckdb.connect(str(settings.store), read_only=True)
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    con.execute(f"""COPY (SELECT member_id, CAST(timezone('Asia/Shanghai', paid_at) AS TIMESTAMP) AS order_date,
                                 CAST(paid_amount - refund_amount AS DOUBLE) AS amount
                          FROM orders {where}) TO '{data}' (FORMAT parquet)""")
    con.close()
    try:
        out = subprocess.run([python, "-c", RFM_SCRIPT, str(data)], capture_output=True, text=True,
                             timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as exc:
        print(exc.stderr, file=sys.stderr)
        return None
    finally:
        data.unlink(missing_ok=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


BARE_PROCESS = """
import sys, time
t0 = time.perf_counter()
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute(sys.argv[2])
print(time.perf_counter() - t0)
"""


def cli_vs_bare(ws: Path, repeat: int) -> dict:
    """Wall time of `siyu segment` in a fresh process vs the bare query in a fresh process (best of repeat)."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cli, bare = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "siyu_cli", "-w", str(ws), "segment", "--scheme", "rfm11", "--as-of", AS_OF,
                        "--format", "json", "--summary"], check=True, capture_output=True, env=env)
        cli.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", BARE_PROCESS, str(ws / "siyu.duckdb"), BARE_SQL.format(as_of=AS_OF)],
                       check=True, capture_output=True, env=env)
        bare.append(time.perf_counter() - t0)
    return {"siyu_cli_s": round(min(cli), 3), "bare_process_s": round(min(bare), 3),
            "ratio_cli_vs_bare_process": round(min(cli) / min(bare), 2)}


def snapshot_bytes(ws: Path, repeat: int = 3) -> dict:
    """Bytes per member one nightly run adds to the store, in the stored (chained) layout and in the old
    full layout, and the time to read the newest snapshot in each.

    Two runs a day apart: the second continues the first's chain (siyu_cli.segment.chains), so its rows in
    segment_member_rows are the members that changed plus tombstones. Each layout's rows are copied into a
    fresh DuckDB file (same types, same compression) whose size, less an empty file's, is the cost: the store
    file itself reuses freed blocks, so its growth is noisy. "full" = what the old layout stored: every member's
    row of the snapshot (segment_members, the view, rebuilds it). Reads: the same two queries on the newest
    snapshot through the view (stored layout) and on the full rows in their own file (the old table scan).
    """
    import datetime as _dt

    import duckdb

    sys.path.insert(0, str(SRC))
    from siyu_cli.config import load_settings
    from siyu_cli.segment import run_segment
    from siyu_cli.store.segment_rows import ROW

    settings = load_settings(ws)
    day0 = _dt.date.fromisoformat(AS_OF)
    run_segment(settings, scheme="rfm11", as_of=str(day0 - _dt.timedelta(days=1)))
    run = run_segment(settings, scheme="rfm11", as_of=AS_OF)
    sid = run.snapshot_id
    sizes = {}
    with duckdb.connect(str(ws / "siyu.duckdb"), read_only=True) as con:
        chain = con.execute("SELECT chain_id FROM segment_snapshots WHERE snapshot_id = ?", [sid]).fetchone()[0]
        cols = f"snapshot_id, {ROW}"
        for name, sql in (("empty", "SELECT * FROM segment_member_rows WHERE false"),
                          ("full", f"SELECT {cols} FROM segment_members WHERE snapshot_id = {sid}"),
                          ("stored", f"SELECT * FROM segment_member_rows WHERE snapshot_id = {sid}")):
            path = ws / f"layout_{name}.duckdb"
            path.unlink(missing_ok=True)
            con.execute(f"ATTACH '{path}' AS lay (READ_WRITE)")
            con.execute(f"CREATE TABLE lay.t AS {sql}")
            rows = con.execute("SELECT count(*) FROM lay.t").fetchone()[0]
            con.execute("DETACH lay")
            sizes[name] = (path.stat().st_size, rows)
            if name != "full":
                path.unlink()
        seg = con.execute(f"SELECT segment_id FROM segment_members WHERE snapshot_id = {sid} "
                          "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
        queries = {"count_by_segment": "SELECT segment_id, count(*) FROM {t} WHERE snapshot_id = {s} GROUP BY 1",
                   "one_segment_ids": "SELECT member_id FROM {t} WHERE snapshot_id = {s} AND segment_id = '" + seg + "'"}

        def best(sql: str) -> float:
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                con.execute(sql).fetchall()
                times.append(time.perf_counter() - t0)
            return min(times)

        reads = {}
        for name, q in queries.items():
            reads[f"read_{name}_chained_s"] = round(best(q.format(t="segment_members", s=sid)), 4)
        con.execute(f"ATTACH '{ws / 'layout_full.duckdb'}' AS old (READ_ONLY)")
        for name, q in queries.items():
            reads[f"read_{name}_full_table_s"] = round(best(q.format(t="old.t", s=sid)), 4)
        con.execute("DETACH old")
        (ws / "layout_full.duckdb").unlink()
    full = sizes["full"][0] - sizes["empty"][0]
    stored = sizes["stored"][0] - sizes["empty"][0]
    members = max(run.members, 1)
    return {"snapshot_members": run.members, "snapshot_chained": chain is not None,
            "full_layout_bytes_per_member": round(full / members, 2),
            "stored_rows_share": round(sizes["stored"][1] / members, 4),
            "stored_bytes_per_member": round(stored / members, 2),
            "stored_vs_full": round(stored / full, 3) if full else None, **reads}


def make_workspace(base: Path, name: str, orders: int, members: int) -> Path:
    sys.path.insert(0, str(SRC))
    from siyu_cli.config import load_settings
    from siyu_cli.store import open_store
    from siyu_cli.workspace import init_workspace

    root = base / name
    init_workspace(root)
    settings = load_settings(root)
    with open_store(settings):
        pass
    start = time.perf_counter()
    generate(settings.store, orders, members)
    print(f"generated {orders:,} orders / {members:,} members in {time.perf_counter() - start:.1f}s", flush=True)
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=10_000_000)
    ap.add_argument("--members", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=2, help="runs per engine; the best is reported")
    ap.add_argument("--lifetimes-timeout", type=float, default=600,
                    help="seconds per run of a Python baseline (lifetimes, rfm package) before its size is halved")
    ap.add_argument("--no-lifetimes", action="store_true")
    ap.add_argument("--rfm-python", help="an interpreter with the `rfm` package (pandas 1.5.3): times it too")
    ap.add_argument("--dir", type=Path, default=None, help="where to build the workspace (default: a temp dir)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--workspace", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.workspace, args.limit)))
        return

    base = Path(tempfile.mkdtemp(prefix="siyu-bench-segment-", dir=args.dir))
    try:
        _run(args, base)
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def _run(args, base: Path) -> None:
    ws = make_workspace(base, "full", args.orders, args.members)

    def best(kind: str, workspace: Path, **kw) -> dict | None:
        runs = [r for r in (measure(kind, workspace, **kw) for _ in range(args.repeat)) if r]
        return min(runs, key=lambda r: r["seconds"]) if runs else None

    results = {k: best(k, ws) for k in ("bare", "siyu", "siyu_rfm8")}
    for r in results.values():
        print(json.dumps(r), flush=True)
    report = {
        "orders": args.orders,
        "members": args.members,
        "siyu_rfm11_s": results["siyu"]["seconds"],
        "siyu_rfm8_s": results["siyu_rfm8"]["seconds"],
        "bare_duckdb_s": results["bare"]["seconds"],
        "ratio_siyu_vs_bare": round(results["siyu"]["seconds"] / results["bare"]["seconds"], 2),

        "siyu_steps_s": results["siyu"]["steps"],
        "siyu_peak_rss_mb": results["siyu"]["peak_rss_mb"],
        "bare_peak_rss_mb": results["bare"]["peak_rss_mb"],
    }
    report.update(cli_vs_bare(ws, args.repeat))
    report.update(snapshot_bytes(ws))
    print(json.dumps(report), flush=True)
    baselines = []
    if not args.no_lifetimes:
        baselines.append(("lifetimes", lambda limit=None: best("lifetimes", ws, limit=limit, timeout=args.lifetimes_timeout)))
    if args.rfm_python:  # slow: one run per size
        baselines.append(("rfm_package", lambda limit=None: measure_rfm_package(
            args.rfm_python, ws, limit=limit, timeout=args.lifetimes_timeout)))
    for name, run in baselines:
        size = args.orders
        ext = None
        while size >= 10_000:
            ext = run(limit=size if size < args.orders else None)
            if ext:
                break
            print(f"{name} did not finish on {size:,} orders within {args.lifetimes_timeout:g}s; halving", flush=True)
            size //= 2
        if not ext:
            continue
        print(json.dumps(ext), flush=True)
        if size == args.orders:
            siyu_same = results["siyu"]
        else:  # siyu on the same number of orders, in its own store
            sub = make_workspace(base, f"sub{size}", size, max(1, args.members * size // args.orders))
            siyu_same = best("siyu", sub)
        report.update(
            {
                f"{name}_orders": size,
                f"{name}_s": ext["seconds"],
                f"{name}_peak_rss_mb": ext["peak_rss_mb"],
                f"siyu_same_size_as_{name}_s": siyu_same["seconds"],
                f"speedup_vs_{name}": round(ext["seconds"] / siyu_same["seconds"], 1),
            }
        )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
