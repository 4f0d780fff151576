"""Benchmark: `build_report` over large synthetic stores vs the bare SQL of the same base KPIs.

    PYTHONPATH=src python benchmarks/report.py                       # 1M and 10M orders in one run
    PYTHONPATH=src python benchmarks/report.py --orders 1000000 --repeat 3 --profile
    PYTHONPATH=src python benchmarks/report.py --keep /var/tmp/siyu-report-stores   # build once, reuse later
    PYTHONPATH=src python benchmarks/report.py --compare /tmp/main/src

Targets (issue 16): ≤ 2.5× the baseline and ≤ 1 GB peak RSS at 10M orders. Each timing runs in its own
Python process (so its peak RSS is its own: ``ru_maxrss`` of the child), best and median of --repeat,
baseline and report interleaved round by round (the box is shared: ratios of the same run count).
``--orders`` takes several sizes (default 1M and 10M orders, with 200k and 2.45M members); each size gets
its own store. ``--keep DIR`` keeps the stores in DIR and reuses a complete one on the next run (building
10M orders takes minutes); without it every store lives in a temporary folder removed at the end.
``--compare SRC``: also time build_report from another source tree (e.g. main's) on the same store, and
check both give the same report. ``--floor``: also time the plain SQL of every costly section
(benchmarks/report_floor.py: what an analyst would type into bare DuckDB for the same numbers, checked equal
to the report's) — the floor of the whole report, as the baseline is the floor of its base KPIs.
``--profile``: one more run with the time of each step of build_report.

Baseline: one hand-written DuckDB query computing members, new members, buyers, orders, GMV, AOV,
repurchase rate and member share of GMV straight from `orders`/`members` (what an analyst would type
into `siyu sql`). The report computes those plus lifecycle, Pareto, cohorts, leaderboards, segments,
campaigns and the monthly trend, so the ratio shows what all the rest costs on top of the bare query.
Rendering (terminal dashboard, HTML page) is timed separately.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from siyu_cli.config import load_settings  # noqa: E402
from siyu_cli.report import build_report, write_html  # noqa: E402
from siyu_cli.report.terminal import render_text  # noqa: E402
from siyu_cli.store import open_store  # noqa: E402
from siyu_cli.workspace import init_workspace  # noqa: E402

D_FROM, D_TO = date(2025, 1, 1), date(2025, 12, 31)
MONTH_FROM = date(2025, 12, 1)  # --month: the last month of the same period

BARE_SQL = """
WITH p AS (SELECT * FROM orders WHERE paid_at IS NOT NULL AND status IN ('paid', 'partially_refunded', 'refunded')
           AND CAST(paid_at AS DATE) BETWEEN DATE '2025-01-01' AND DATE '2025-12-31'),
v AS (SELECT * FROM p WHERE status IN ('paid', 'partially_refunded') AND net_amount > 0),
b AS (SELECT member_id, count(*) AS n FROM v WHERE member_id IS NOT NULL GROUP BY 1)
SELECT (SELECT count(*) FROM members WHERE CAST(join_at AS DATE) <= DATE '2025-12-31') AS members,
       (SELECT count(*) FROM members WHERE CAST(join_at AS DATE) BETWEEN DATE '2025-01-01' AND DATE '2025-12-31') AS new_members,
       (SELECT count(*) FROM b) AS buyers,
       (SELECT count(*) FILTER (WHERE n >= 2) / count(*) FROM b) AS repurchase_rate,
       (SELECT count(*) FROM v) AS orders,
       sum(net_amount) AS gmv,
       sum(net_amount) / (SELECT count(*) FROM v) AS aov,
       sum(net_amount) FILTER (WHERE member_id IS NOT NULL) / sum(net_amount) AS member_gmv_share
FROM p
"""


def populate(settings, orders: int, members: int, layout: str = "random") -> None:
    """A synthetic store. ``layout``: "random" — orders stored in no time order (the layout of the earlier
    runs; every period filter reads all row groups); "time" — stored in payment order, as daily loads
    append them (zone maps let period filters skip the other row groups)."""
    stores, guides = 50, 400
    with open_store(settings) as con:
        con.execute(f"""
            INSERT INTO members (member_id, source, join_at, store, guide_userid, external_userid, join_channel)
            SELECT 'm' || i, 'bench', TIMESTAMPTZ '2023-01-01 00:00:00+08' + to_days(CAST(hash(i) % 1090 AS INTEGER)),
                   'S' || (i % {stores}), 'g' || (i % {guides}),
                   CASE WHEN hash(i * 7) % 10 < 6 THEN 'wm' || i END, 'ch' || (i % 5)
            FROM range({members}) t(i)""")
        con.execute(f"""
            INSERT INTO staff (userid, name, store) SELECT 'g' || i, '导购' || i, 'S' || (i % {stores}) FROM range({guides}) t(i)""")
        # buyers follow a skewed distribution: member index = floor(members * u^3)
        con.execute(f"""
            INSERT INTO orders (source, order_id, member_id, status, created_at, paid_at, paid_amount, refund_amount,
                                net_amount, item_count, store, channel, guide_userid)
            SELECT 'bench', 'o' || i,
                   CASE WHEN hash(i * 3) % 10 = 0 THEN NULL ELSE 'm' || CAST(floor({members} * pow(random(), 3)) AS BIGINT) END,
                   CASE WHEN hash(i) % 50 = 0 THEN 'refunded' WHEN hash(i) % 50 = 1 THEN 'partially_refunded' ELSE 'paid' END,
                   ts, ts, amt, CASE WHEN hash(i) % 50 = 0 THEN amt WHEN hash(i) % 50 = 1 THEN 5 ELSE 0 END,
                   CASE WHEN hash(i) % 50 = 0 THEN 0 WHEN hash(i) % 50 = 1 THEN amt - 5 ELSE amt END,
                   1 + CAST(hash(i * 5) % 4 AS INTEGER), 'S' || (i % {stores}), 'ch' || (i % 5), 'g' || (i % {guides})
            FROM (SELECT i, TIMESTAMPTZ '2024-01-01 00:00:00+08' + to_seconds(CAST(hash(i * 11) % (730 * 86400) AS BIGINT)) AS ts,
                         CAST(20 + hash(i * 13) % 500 AS DECIMAL(18, 2)) AS amt
                  FROM range({orders}) t(i)){' ORDER BY ts' if layout == 'time' else ''}""")
        con.execute(f"""
            INSERT INTO wecom_contacts (external_userid, staff_userid, member_id, added_at)
            SELECT external_userid, guide_userid, member_id, join_at FROM members WHERE external_userid IS NOT NULL""")
        con.execute(f"""
            INSERT INTO store_traffic (store, day, period, customers)
            SELECT 'S' || s, DATE '2025-01-01' + INTERVAL (m) MONTH, 'month', 3000 + s * 10
            FROM range({stores}) a(s), range(12) b(m)""")
        con.execute("""
            CREATE TABLE IF NOT EXISTS segment_snapshots(snapshot_id INTEGER PRIMARY KEY, created_at TIMESTAMPTZ,
                as_of DATE, scheme VARCHAR, params JSON, members BIGINT, label VARCHAR)""")
        con.execute("""
            CREATE TABLE IF NOT EXISTS segment_member_rows(snapshot_id INTEGER, member_id VARCHAR, recency_days INTEGER,
                frequency INTEGER, monetary DECIMAL(18,2), r_score INTEGER, f_score INTEGER, m_score INTEGER,
                segment_id VARCHAR, segment_name VARCHAR)""")
        con.execute("""
            CREATE TABLE IF NOT EXISTS push_campaigns(campaign_id VARCHAR PRIMARY KEY, name VARCHAR, channel VARCHAR,
                audience VARCHAR, snapshot_id INTEGER, segment_id VARCHAR, status VARCHAR, created_at TIMESTAMPTZ,
                sent_at TIMESTAMPTZ)""")
        con.execute("""
            CREATE TABLE IF NOT EXISTS push_recipients(campaign_id VARCHAR, recipient_id VARCHAR, member_id VARCHAR,
                batch_id VARCHAR, state VARCHAR, delivery VARCHAR, reason VARCHAR, msgid VARCHAR, sent_at TIMESTAMPTZ)""")
        for snap, created in ((1, "2025-11-01"), (2, "2025-12-01")):
            con.execute(f"INSERT INTO segment_snapshots (snapshot_id, created_at, as_of, scheme, params, members, label) VALUES ({snap}, TIMESTAMPTZ '{created} 02:00:00+08', "
                        f"DATE '{created}', 'rfm8', '{{}}', {members}, 'bench')")
            con.execute(f"""
                INSERT INTO segment_member_rows (snapshot_id, member_id, segment_id, segment_name)
                SELECT {snap}, member_id, chr(65 + CAST(hash(member_id || '{snap}') % 8 AS INTEGER)), 'seg'
                FROM members""")
        for c in range(10):
            con.execute(f"""INSERT INTO push_campaigns (campaign_id, name, channel, audience, snapshot_id, segment_id, status,
                created_at, sent_at) VALUES ('c{c}', '活动{c}', 'customer', 'segment', 2, 'A', 'sent',
                TIMESTAMPTZ '2025-12-0{1 + c % 9} 09:00:00+08', TIMESTAMPTZ '2025-12-0{1 + c % 9} 10:00:00+08')""")
            con.execute(f"""
                INSERT INTO push_recipients (campaign_id, recipient_id, member_id, state, delivery, sent_at)
                SELECT 'c{c}', member_id, member_id, 'sent', 'delivered', TIMESTAMPTZ '2025-12-0{1 + c % 9} 10:00:00+08'
                FROM segment_members WHERE snapshot_id = 2 AND segment_id = 'A' AND hash(member_id || '{c}') % 2 = 0""")


CHILD = """
import json, resource, sys, time
from datetime import date
from siyu_cli.config import load_settings
settings = load_settings(sys.argv[1])
steps = {}
if sys.argv[2] == "profile":  # time every step build_report calls (the functions are looked up at call time)
    import functools
    from siyu_cli import dimensions
    from siyu_cli.report import kpis, measured, wecom

    def wrap(mod, name):
        fn = getattr(mod, name)

        @functools.wraps(fn)
        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                steps[name] = steps.get(name, 0.0) + time.perf_counter() - t
        setattr(mod, name, timed)
    wrap(dimensions, "prepare")
    for name in ("prepare", "period_orders", "period_contacts", "base", "members_at_end", "new_contacts", "add_rates", "pareto",
                 "segments", "cohorts", "trend", "release", "leaderboards", "campaigns", "breakdown"):
        wrap(kpis, name)
    for name in ("experiments", "redemptions", "clv_by_segment"):
        wrap(measured, name)
    for name in ("synced_online", "wecom_sections"):
        wrap(wecom, name)
t0 = time.perf_counter()
if sys.argv[2] == "bare":
    from siyu_cli.store import open_store
    with open_store(settings, read_only=True) as con:
        con.execute("SET memory_limit = '1GB'")
        out = list(con.execute(sys.argv[3]).fetchone())
elif sys.argv[2] == "floor":  # the plain SQL of every section (benchmarks/report_floor.py), one query after another
    from siyu_cli.store import open_store
    sys.path.insert(0, sys.argv[3])
    from report_floor import FLOOR_SQL
    with open_store(settings, read_only=True) as con:
        con.execute("SET memory_limit = '1GB'")
        out = {name: con.execute(q).fetchall() for name, q in FLOOR_SQL.items()}
else:
    from siyu_cli.report import build_report
    r = build_report(settings, date_from=date.fromisoformat(sys.argv[3]), date_to=date.fromisoformat(sys.argv[4]),
                     by=sys.argv[5] or None)
    out = r.to_dict()
    out.pop("generated_at", None)
took = time.perf_counter() - t0
print(json.dumps({"s": took, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "out": out,
                  "steps": steps}, default=str))
"""


def child(root: Path, src: Path, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(root), *args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{args[0]} run from {src} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def summary(rs: list[dict]) -> tuple[float, float, float, object]:
    """(best s, median s, max peak RSS MB, last output) of child runs."""
    times = [r["s"] for r in rs]
    return min(times), statistics.median(times), max(r["rss_mb"] for r in rs), rs[-1]["out"]


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def same_report(a: dict, b: dict) -> bool:
    return json.dumps(a.get("kpis"), sort_keys=True) == json.dumps(b.get("kpis"), sort_keys=True) and all(
        json.dumps(a["sections"].get(x), sort_keys=True) == json.dumps(b["sections"].get(x), sort_keys=True)
        for x in set(a["sections"]) | set(b["sections"]))


def workspace(base: Path, orders: int, members: int, layout: str) -> Path:
    """The store for one size under ``base``: reused when a previous run completed it, else (re)built."""
    import shutil

    root = base / f"report-{orders}-{members}{'-time' if layout == 'time' else ''}" / "ws"
    done = root.parent / "complete"
    if done.exists():
        print(f"store: {orders:,} orders, {members:,} members, reused from {root}")
        return root
    shutil.rmtree(root.parent, ignore_errors=True)
    root.parent.mkdir(parents=True)
    init_workspace(root)
    t0 = time.perf_counter()
    populate(load_settings(root), orders, members, layout)
    done.write_text("populated\n")
    print(f"store: {orders:,} orders, {members:,} members, generated in {time.perf_counter() - t0:.1f}s")
    return root


def bench_size(root: Path, args, orders: int) -> dict:
    """Interleaved rounds (baseline, report, [other tree]) on one store; prints and returns the figures."""
    settings = load_settings(root)
    src = Path(__file__).resolve().parents[1] / "src"
    period = (D_FROM.isoformat(), D_TO.isoformat())
    runs: dict[str, list[dict]] = {"bare": [], "report": [], "compare": [], "guide": [], "month": [], "floor": []}
    for _ in range(args.repeat):
        runs["bare"].append(child(root, src, "bare", BARE_SQL))
        runs["report"].append(child(root, src, "report", *period, ""))
        if args.floor:
            runs["floor"].append(child(root, src, "floor", str(Path(__file__).resolve().parent)))
        if args.compare:
            runs["compare"].append(child(root, args.compare, "report", *period, ""))
        if args.by_guide:
            runs["guide"].append(child(root, src, "report", *period, "guide"))
        if args.month:
            runs["month"].append(child(root, src, "report", MONTH_FROM.isoformat(), D_TO.isoformat(), ""))
    b_best, b_med, b_rss, row = summary(runs["bare"])
    r_best, r_med, r_rss, rep = summary(runs["report"])
    k = rep["kpis"]
    assert row[2] == k["buyers"] and row[4] == k["orders"], (row, k)
    assert abs(float(row[5]) - k["gmv"]) < 0.01
    print(f"\n{orders:,} orders          {'best':>8} {'median':>8} {'peak RSS':>9}")
    print(f"bare SQL of the base KPIs (baseline)     {b_best:7.2f}s {b_med:7.2f}s {b_rss:7.0f}MB")
    print(f"build_report (every section)             {r_best:7.2f}s {r_med:7.2f}s {r_rss:7.0f}MB   "
          f"ratio {r_best / b_best:4.1f}× best, {r_med / b_med:4.1f}× median  (target ≤ 2.5×, ≤ 1 GB)")
    if args.by_guide:
        g_best, g_med, g_rss, _ = summary(runs["guide"])
        print(f"build_report --by guide                  {g_best:7.2f}s {g_med:7.2f}s {g_rss:7.0f}MB   "
              f"ratio {g_best / b_best:4.1f}× best, {g_med / b_med:4.1f}× median")
    if args.floor:
        from report_floor import check

        f_best, f_med, f_rss, plain = summary(runs["floor"])
        check(plain, rep)  # the same numbers as the report's
        print(f"plain SQL of every section (floor)       {f_best:7.2f}s {f_med:7.2f}s {f_rss:7.0f}MB   "
              f"{f_best / b_best:4.1f}× the baseline (best); the report is {r_best / f_best:4.2f}× it (best), "
              f"{r_med / f_med:4.2f}× (median); same numbers: yes")
    if args.month:
        m_best, m_med, m_rss, _ = summary(runs["month"])
        print(f"build_report of December only            {m_best:7.2f}s {m_med:7.2f}s {m_rss:7.0f}MB   "
              f"{m_best / r_best:4.2f}× the year's report (best), {m_med / r_med:4.2f}× (median)")
    if args.compare:
        c_best, c_med, c_rss, other = summary(runs["compare"])
        print(f"build_report, --compare tree             {c_best:7.2f}s {c_med:7.2f}s {c_rss:7.0f}MB   "
              f"ratio {c_best / b_best:4.1f}× best, {c_med / b_med:4.1f}× median; "
              f"same report: {'yes' if same_report(other, rep) else 'NO'}")
    if args.profile:
        prof = child(root, src, "profile", *period, "")
        total = prof["s"]
        print(f"profile (one run, {total:.2f}s): " + ", ".join(
            f"{name} {t:.2f}s ({t / total:.0%})" for name, t in sorted(prof["steps"].items(), key=lambda x: -x[1])))
    print(f"check: buyers {k['buyers']:,}, orders {k['orders']:,}, GMV {k['gmv']:,.2f} equal in both; "
          f"store file {settings.store.stat().st_size / 1e6:.0f} MB")
    return {"orders": orders, "bare": (b_best, b_med, b_rss), "report": (r_best, r_med, r_rss)}


def render_times(root: Path, repeat: int, tmp: Path) -> None:
    settings = load_settings(root)
    report = build_report(settings, date_from=D_FROM, date_to=D_TO)
    t_term, _ = timed(lambda: render_text(report), repeat)
    html = tmp / "r.html"
    t_html, _ = timed(lambda: write_html(report, html), repeat)
    print(f"terminal dashboard render              {t_term * 1000:8.0f} ms")
    print(f"HTML page write ({html.stat().st_size / 1e6:.2f} MB)            {t_html * 1000:8.0f} ms")


#: members per order count when --members is not given (the sizes issue 16 measured)
DEFAULT_MEMBERS = {1_000_000: 200_000, 10_000_000: 2_450_000}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--orders", default="1000000,10000000", help="order counts, comma-separated")
    ap.add_argument("--members", default=None, help="member counts, one per --orders (default 200k per 1M, 2.45M at 10M)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compare", type=Path, default=None, help="another source tree's src/ to time on the same store")
    ap.add_argument("--keep", type=Path, default=None, help="keep the stores in this folder and reuse them next time")
    ap.add_argument("--tmp", type=Path, default=None, help="folder for temporary stores (default: the system's)")
    ap.add_argument("--profile", action="store_true", help="also time each step of build_report once per size")
    ap.add_argument("--layout", choices=("random", "time"), default="random",
                    help="orders stored in no time order (default, as in earlier runs) or in payment order")
    ap.add_argument("--by-guide", action="store_true", help="also time build_report --by guide in each round")
    ap.add_argument("--month", action="store_true",
                    help="also time a report of the period's last month in each round (cost ∝ period?)")
    ap.add_argument("--floor", action="store_true",
                    help="also time the plain SQL of every section (benchmarks/report_floor.py; 2025 on the synthetic store)")
    ap.add_argument("--render", action="store_true", help="also time the terminal and HTML renderers (smallest size)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.orders.split(",")]
    members = ([int(x) for x in args.members.split(",")] if args.members else
               [DEFAULT_MEMBERS.get(n, max(n // 5, 1)) for n in sizes])
    if len(members) != len(sizes):
        ap.error("--members needs one count per --orders")
    with tempfile.TemporaryDirectory(prefix="siyu-bench-report-", dir=args.tmp) as tmp:
        base = args.keep or Path(tmp)
        results = [bench_size(workspace(base, n, m, args.layout), args, n) for n, m in zip(sizes, members)]
        if args.render:
            render_times(workspace(base, sizes[0], members[0], args.layout), args.repeat, Path(tmp))
    print("\nsummary (best / median; ratio to the plain SQL of the same size and run):")
    for r in results:
        (bb, bm, brss), (rb, rm, rrss) = r["bare"], r["report"]
        print(f"  {r['orders']:>11,} orders: plain SQL {bb:.2f} / {bm:.2f} s ({brss:.0f} MB), report {rb:.2f} / "
              f"{rm:.2f} s ({rrss:.0f} MB) = {rb / bb:.1f}× / {rm / bm:.1f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
