"""Benchmark the engines: `siyu segment` (rfm11) and the CLV summary on DuckDB vs Spark local, same data.

Run by hand (never in tests; the box is small and shared, so keep sizes modest):

    PYTHONPATH=src /work/main/.venv/bin/python benchmarks/spark.py --orders 1000000 --members 200000
    PYTHONPATH=src /work/main/.venv/bin/python benchmarks/spark.py --orders 10000000 --members 2000000
    PYTHONPATH=src /work/main/.venv/bin/python benchmarks/spark.py --only-report    # build_report alone, both engines
    PYTHONPATH=src /work/main/.venv/bin/python benchmarks/spark.py --only-audiences # bought: and sql: audiences alone

Data: benchmarks/segment.py's generator (skewed buyers; 92% paid) into a fresh workspace, then
``siyu export lake`` (timed). Measured, best of --repeat after one warm-up run:

* duckdb      — ``run_segment(scheme="rfm11", save=False)``, ``build_summary`` and ``build_report`` (the half
                year ending AS_OF) on the store.
* spark       — the same calls with ``[engine] kind = "spark"``, ``master = local[N]``, orders/members from the
                lake: the order scans run on Spark, the buyers come back through Arrow. The session is
                started once (its start-up is reported on its own) as a long-running driver would be.
* spark metrics — from Spark's own REST API (the local UI on 127.0.0.1): stages, tasks, input bytes,
                shuffle write/read bytes, executor run time of the buyers scan alone.

Ends with an on-paper projection of the buyers scan for 1B orders on a 10-node cluster from those numbers
(assumptions printed with it). Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
AS_OF = date(2026, 6, 30)
REPORT_FROM = date(2026, 1, 1)  # `siyu report --from 2026-01-01 --to AS_OF`


def best(fn, repeat: int) -> float:
    fn()  # warm-up (JIT, file cache)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(min(times), 3)


def rest(ui: str, path: str):
    with urllib.request.urlopen(f"{ui}/api/v1{path}", timeout=30) as r:  # 127.0.0.1 only
        return json.load(r)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--members", type=int, default=200_000)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--driver-memory", default="2g")
    ap.add_argument("--only-report", action="store_true",
                    help="time build_report alone on both engines (no segment, CLV, Spark metrics or projection)")
    ap.add_argument("--only-audiences", action="store_true",
                    help="time a bought: and a sql: audience alone on both engines (ids as push gets them)")
    args = ap.parse_args()

    import segment as seg_bench  # benchmarks/segment.py: the shared data generator

    from siyu_cli.clv.measures import build_summary
    from siyu_cli.config import load_settings
    from siyu_cli.engine import spark_runner, spark_session
    from siyu_cli.lake import export_lake
    from siyu_cli.report import build_report
    from siyu_cli.segment import run_segment
    from siyu_cli.segment import measures as M
    from siyu_cli import sql
    from siyu_cli.store import open_store
    from siyu_cli.workspace import init_workspace

    out: dict = {"orders": args.orders, "members": args.members, "cores": args.cores}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        init_workspace(root)
        settings = load_settings(root, env={})
        with open_store(settings):
            pass
        t = time.perf_counter()
        seg_bench.generate(settings.store, args.orders, args.members)
        out["generate_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        lake = export_lake(settings, root / "lake")
        out["export_lake_s"] = round(time.perf_counter() - t, 2)
        out["lake_bytes"] = sum(p.stat().st_size for p in (root / "lake").rglob("*.parquet"))
        out["lake_partitions"] = lake.partitions

        def duck_segment():
            run_segment(settings, scheme="rfm11", as_of=AS_OF, save=False)

        def duck_clv():
            with open_store(settings, read_only=True) as con:
                build_summary(con, AS_OF, settings.timezone)

        def duck_report():
            build_report(settings, date_from=REPORT_FROM, date_to=AS_OF)

        if args.only_audiences:
            return print(json.dumps(_audiences(out, settings, root, args), indent=2))
        out["duckdb"] = ({} if args.only_report else {"segment_rfm11_s": best(duck_segment, args.repeat),
                                                      "clv_summary_s": best(duck_clv, args.repeat)})
        out["duckdb"]["report_s"] = best(duck_report, args.repeat)

        t = time.perf_counter()
        spark = spark_session(f"local[{args.cores}]", settings.timezone,
                              {"spark.driver.memory": args.driver_memory, "spark.ui.port": "4057"}, ui=True)
        out["spark_session_start_s"] = round(time.perf_counter() - t, 1)
        spark.sparkContext.setLogLevel("ERROR")
        ui = spark.sparkContext.uiWebUrl.replace(spark.sparkContext.uiWebUrl.split("//")[1].split(":")[0], "127.0.0.1")
        cfg = settings.config_file
        cfg.write_text(cfg.read_text(encoding="utf-8") + f'\n[engine]\nkind = "spark"\nmaster = "local[{args.cores}]"\n'
                       'orders = "lake/orders"\nmembers = "lake/members"\n', encoding="utf-8")
        spark_settings = load_settings(root, env={})

        def spark_segment():
            run_segment(spark_settings, scheme="rfm11", as_of=AS_OF, save=False)

        def spark_clv():
            runner = spark_runner(spark_settings)
            with open_store(settings, read_only=True) as con:
                build_summary(con, AS_OF, settings.timezone, runner=runner)

        def spark_report():  # report/history (all orders before the period) on Spark, the rest in DuckDB
            build_report(spark_settings, date_from=REPORT_FROM, date_to=AS_OF)

        out["spark"] = ({} if args.only_report else {"segment_rfm11_s": best(spark_segment, args.repeat),
                                                     "clv_summary_s": best(spark_clv, args.repeat)})
        out["spark"]["report_s"] = best(spark_report, args.repeat)
        if args.only_report:
            spark.stop()
            out["ratio_spark_over_duckdb"] = {"report_s": round(out["spark"]["report_s"] / out["duckdb"]["report_s"], 2)}
            print(json.dumps(out, indent=2))
            return

        # the buyers scan alone, as one Spark job group, with Spark's own metrics
        runner = spark_runner(spark_settings)
        p = M.MeasureParams(as_of=AS_OF, timezone=settings.timezone)
        spark.sparkContext.setJobGroup("buyers", "segment/buyers")
        t = time.perf_counter()
        n = sql.run_spark(spark, "segment/buyers", M.query_params(p), **M.query_choices(p)).toArrow().num_rows
        out["spark"]["buyers_scan_to_arrow_s"] = round(time.perf_counter() - t, 3)
        out["spark"]["buyers"] = n
        app = rest(ui, "/applications")[0]["id"]
        jobs = [j for j in rest(ui, f"/applications/{app}/jobs") if j.get("jobGroup") == "buyers"]
        stage_ids = {s for j in jobs for s in j["stageIds"]}
        stages = [s for s in rest(ui, f"/applications/{app}/stages") if s["stageId"] in stage_ids
                  and s["status"] == "COMPLETE"]
        out["spark_metrics_buyers"] = {
            "jobs": len(jobs),
            "stages": len(stages),
            "tasks": sum(s["numCompleteTasks"] for s in stages),
            "input_bytes": sum(s["inputBytes"] for s in stages),
            "input_records": sum(s["inputRecords"] for s in stages),
            "shuffle_write_bytes": sum(s["shuffleWriteBytes"] for s in stages),
            "shuffle_read_bytes": sum(s["shuffleReadBytes"] for s in stages),
            "executor_run_time_ms": sum(s["executorRunTime"] for s in stages),
        }
        spark.stop()

    d, s, m = out["duckdb"], out["spark"], out["spark_metrics_buyers"]
    out["ratio_spark_over_duckdb"] = {k: round(s[k] / d[k], 2) for k in d}
    # On paper: 1B orders, 10 nodes x 16 cores. Scan work scales with orders; shuffle with the per-partition
    # partial aggregates (at most one row per buyer per task), so shuffle bytes per order is an upper bound.
    scale = 1_000_000_000 / args.orders
    cores = 10 * 16
    cpu_s = m["executor_run_time_ms"] / 1000 * scale
    shuffle = m["shuffle_write_bytes"] * scale
    out["projection_1b_orders_10_nodes"] = {
        "assumptions": "10 nodes x 16 cores, per-core speed as measured here, 10 Gbit/s per node, "
                       "shuffle bytes linear in orders (upper bound: buyers grow slower than orders)",
        "executor_cpu_s": round(cpu_s),
        "scan_wall_s": round(cpu_s / cores, 1),
        "shuffle_bytes": round(shuffle),
        "shuffle_wall_s": round(shuffle / (10 * 1.25e9), 1),
        "input_bytes": round(m["input_bytes"] * scale),
    }
    print(json.dumps(out, indent=2))


#: what --only-audiences times: a purchase-history audience (orders only: the generator writes no order lines)
#: and an analyst's sql: audience over the orders, each resolved as push resolves it (the ids come back)
AUDIENCES = ("bought:since=2026-01-01,times>=3,spend>=300",
             "sql:SELECT member_id FROM orders WHERE status = 'paid' GROUP BY member_id HAVING count(*) >= 5")


def _audiences(out: dict, settings, root: Path, args) -> dict:
    from siyu_cli.config import load_settings
    from siyu_cli.engine import spark_session
    from siyu_cli.push.audiences import resolve
    from siyu_cli.store import open_store

    def timed(s, spec):
        def run():
            with open_store(s, read_only=True) as con:
                out.setdefault("ids", {})[spec] = len(resolve(con, s, spec, "customer").params[0])
        return best(run, args.repeat)

    out["duckdb"] = {spec: timed(settings, spec) for spec in AUDIENCES}
    t = time.perf_counter()
    spark_session(f"local[{args.cores}]", settings.timezone, {"spark.driver.memory": args.driver_memory})
    out["spark_session_start_s"] = round(time.perf_counter() - t, 1)
    cfg = settings.config_file
    cfg.write_text(cfg.read_text(encoding="utf-8") + f'\n[engine]\nkind = "spark"\nmaster = "local[{args.cores}]"\n'
                   'orders = "lake/orders"\nmembers = "lake/members"\n', encoding="utf-8")
    spark_settings = load_settings(root, env={})
    counts = dict(out["ids"])
    out["spark"] = {spec: timed(spark_settings, spec) for spec in AUDIENCES}
    assert out["ids"] == counts, "the engines selected different numbers of members"
    out["ratio_spark_over_duckdb"] = {k: round(out["spark"][k] / out["duckdb"][k], 1) for k in AUDIENCES}
    return out


if __name__ == "__main__":
    main()
