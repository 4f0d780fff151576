"""Benchmark: `siyu load orders` vs bare DuckDB read_csv and vs `sqlite-utils insert --csv`; incremental loads.

Targets (issue 16): fresh load ≤ 2.0× the typed baseline at 10M, ≥ 10× faster than sqlite-utils.
Incremental (``--incremental``): a daily file of 50k orders (and one of 50k members) of which 10k change
stored records costs ≤ 1.5× the same file with no changes, and the 10M-store time ≤ 1.5× the 100k-store time.
Run by hand (never in the tests):

    PYTHONPATH=src python benchmarks/load.py --rows 10000000
    PYTHONPATH=src python benchmarks/load.py --rows 1000000 --sqlite-rows 200000   # shared/small machines
    PYTHONPATH=src python benchmarks/load.py --rows 10000000 --compare /tmp/main/src --repeats 2 --keep /var/tmp/csv
    PYTHONPATH=src python benchmarks/load.py --incremental --stores 100000,1000000 --daily 50000 --changed 10000
    PYTHONPATH=src python benchmarks/load.py --incremental --cache /tmp/stores   # build stores once, reuse later
    PYTHONPATH=src python benchmarks/load.py --incremental --floor --compare /tmp/main/src   # + bare-DuckDB floor, main

The fresh load runs in a process of its own and reports its peak RSS (target ≤ 2 GB with the default
``[load] memory_limit``). Each repeat runs bare, typed, "cleaned" (typed plus siyu's cleaning macros in the
same one statement: the floor of a load that cleans) and siyu (and ``--compare``'s siyu) in turn; wall and
CPU time (all threads) are reported — on a shared box the CPU ratio is the steadier one. Every generated file and workspace lives in a temp folder removed at the end
(``--cache`` keeps the stores: remove that folder yourself).

The file is generated with DuckDB (deterministic), in siyu's own column names with messy
values a real export has (¥ amounts, slash dates, masked phones). sqlite-utils is timed on a
prefix of the same file when --sqlite-rows is smaller (it is linear in rows), and its time
is scaled to the full row count, which the output says.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generate(path: Path, rows: int, *, ids: str | None = None, buyers: int | None = None,
             refunded: str = "false") -> None:
    """Orders ``i`` of ``ids`` (SQL yielding column i; default range(rows)); buyer of order i: one of
    ``buyers`` (default rows // 4). ``refunded``: SQL over i, true for orders exported as refunded
    (the incremental mode's changes: a refund of an order the store holds as paid)."""
    import duckdb

    buyers = max(buyers or rows // 4, 1)
    con = duckdb.connect()
    con.execute(f"""
        COPY (
          SELECT 'SO' || lpad(CAST(i AS VARCHAR), 10, '0') AS order_id,
                 'M' || CAST(hash(i) % {buyers} AS VARCHAR) AS member_id,
                 CASE WHEN i % 10 = 0 THEN '138****' || lpad(CAST(i % 10000 AS VARCHAR), 4, '0')
                      ELSE '13' || lpad(CAST(hash(hash(i) % {buyers}) % 1000000000 AS VARCHAR), 9, '0')
                 END AS phone,
                 CASE WHEN i % 50 = 0 OR ({refunded}) THEN 'refunded' WHEN i % 37 = 0 THEN 'cancelled' ELSE 'paid' END AS status,
                 strftime(TIMESTAMP '2024-01-01' + to_seconds(CAST(i % 31536000 AS BIGINT)), '%Y/%-m/%-d %H:%M') AS paid_at,
                 CASE WHEN i % 3 = 0 THEN '¥' || CAST((i % 9000) / 10.0 + 1 AS VARCHAR)
                      ELSE CAST((i % 9000) / 10.0 + 1 AS VARCHAR) END AS paid_amount,
                 'store_' || CAST(i % 40 AS VARCHAR) AS store
          FROM {ids or f"range({rows})"} t(i)
        ) TO '{path}' (HEADER, DELIMITER ',')
    """)
    con.close()


def generate_members(path: Path, ids: str, level: str) -> None:
    """Members ``M<k>`` for k in ``ids`` (SQL yielding column k), with phone, name, level and points."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"""
        COPY (
          SELECT 'M' || CAST(k AS VARCHAR) AS member_id, '会员' || CAST(k AS VARCHAR) AS name,
                 {level} AS level, CAST(k % 5000 AS VARCHAR) AS points, 'store_' || CAST(k % 40 AS VARCHAR) AS store
          FROM {ids} t(k)
        ) TO '{path}' (HEADER, DELIMITER ',')
    """)
    con.close()


def bare_duckdb(csv: Path, db: Path) -> float:
    import duckdb

    t = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute(f"CREATE TABLE orders AS SELECT * FROM read_csv('{csv}')")
    con.close()
    return time.perf_counter() - t


def typed_duckdb(csv: Path, db: Path) -> float:
    """Bare DuckDB writing the same file into siyu's orders table (21 typed columns, migration 003: no
    index) with the plainest casts that read this file's values (one date format, ``¥`` stripped) and
    nothing else: no other formats, no rejects, no statuses, no buyers. The floor of siyu's own output."""
    import duckdb

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from siyu_cli.store import migrations

    ddl = next(m.sql for m in migrations() if m.name == "keys_by_construction")
    ddl = ddl[ddl.index("CREATE TABLE orders__new"):]
    ddl = ddl[:ddl.index(");") + 2].replace("orders__new", "orders")
    t = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    con.execute(ddl)
    con.execute(f"""
        INSERT INTO orders (source, order_id, member_id, buyer_phone, status, status_raw, paid_at, paid_amount,
                            refund_amount, net_amount, store, batch_id, updated_at)
        SELECT 'siyu', order_id, member_id, CASE WHEN phone NOT LIKE '%*%' THEN phone END, status, status,
               CAST(strptime(paid_at, '%Y/%-m/%-d %H:%M') AS TIMESTAMPTZ),
               CAST(replace(paid_amount, '¥', '') AS DECIMAL(18,2)), 0,
               CASE WHEN status = 'paid' THEN CAST(replace(paid_amount, '¥', '') AS DECIMAL(18,2)) ELSE 0 END,
               store, 'bench', now()
        FROM read_csv('{csv}', all_varchar=true)
    """)
    con.close()
    return time.perf_counter() - t


def cleaned_duckdb(csv: Path, db: Path) -> float:
    """The typed baseline plus the cleaning siyu must apply to every value, in the same one statement: siyu's
    own macros (any of the date/amount/id/phone formats, trimmed, empty tokens as NULL, masked phones kept
    apart) instead of one format's cast. No rejects, statuses, folding or buyers. The floor of a fresh load
    that cleans: what is left above it is siyu's bookkeeping (rejects, keys, members, identities)."""
    import duckdb

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from siyu_cli.ingest.values import install_macros
    from siyu_cli.store import migrations

    ddl = next(m.sql for m in migrations() if m.name == "keys_by_construction")
    ddl = ddl[ddl.index("CREATE TABLE orders__new"):]
    ddl = ddl[:ddl.index(");") + 2].replace("orders__new", "orders")
    ws = "' \t\r\n\u3000\u00a0'"
    clean = ", ".join(f"nullif(nullif(trim({c}, {ws}), ''), '-') AS {c}"
                      for c in ("order_id", "member_id", "phone", "status", "paid_at", "paid_amount", "store"))
    t = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    install_macros(con)
    con.execute(ddl)
    con.execute(f"""
        INSERT INTO orders (source, order_id, member_id, buyer_phone, status, status_raw, paid_at, paid_amount,
                            refund_amount, net_amount, store, batch_id, updated_at)
        SELECT 'siyu', siyu_id(order_id), siyu_id(member_id), siyu_phone(phone), status, status, siyu_ts(paid_at),
               siyu_amount(paid_amount), 0, CASE WHEN status = 'paid' THEN siyu_amount(paid_amount) ELSE 0 END,
               store, 'bench', now()
        FROM (SELECT {clean} FROM read_csv('{csv}', all_varchar=true))
    """)
    con.close()
    return time.perf_counter() - t


def floor_apply(db: Path, csv: Path) -> tuple[float, float, int]:
    """The floor of an incremental orders load: bare DuckDB applying ``csv`` (generate()'s columns) to the orders
    of a COPY of a store (``db`` is changed) with the same outcome — new orders inserted, changed ones deleted
    and inserted, unchanged ones left — and siyu's own shortcuts (the file's key range as constants so the
    zone maps skip other row groups; no row-group vacuum, as on 7 of 8 siyu loads): no cleaning, rejects,
    statuses, buyers or identities. Returns (seconds open → close, of which the key probe, changed rows)."""
    import duckdb

    t = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    con.execute("SET max_vacuum_tasks = 0")
    con.execute(f"""CREATE TEMP TABLE f AS
        SELECT order_id, member_id, CASE WHEN phone NOT LIKE '%*%' THEN phone END AS buyer_phone, status,
               CAST(strptime(paid_at, '%Y/%-m/%-d %H:%M') AS TIMESTAMPTZ) AS paid_at,
               CAST(replace(paid_amount, '¥', '') AS DECIMAL(18,2)) AS paid_amount, store
        FROM read_csv('{csv}', all_varchar=true)""")
    span = list(con.execute("SELECT min(order_id), max(order_id) FROM f").fetchone())
    on = "t.order_id = f.order_id AND t.source = 'siyu' AND t.order_id BETWEEN ? AND ?"
    p = time.perf_counter()
    con.execute(f"SELECT count(*) FROM f SEMI JOIN orders t ON {on}", span).fetchone()
    probe = time.perf_counter() - p
    con.execute("BEGIN")
    con.execute(f"""CREATE TEMP TABLE c AS SELECT f.*, t.rowid AS rid,
        CASE WHEN t.rowid IS NULL THEN 0 WHEN row(f.status, f.paid_at, f.paid_amount, f.member_id, f.store)
             IS DISTINCT FROM row(t.status, t.paid_at, t.paid_amount, t.member_id, t.store) THEN 1 ELSE 2 END AS c
        FROM f LEFT JOIN orders t ON {on}""", span)
    con.execute("DELETE FROM orders WHERE rowid IN (SELECT rid FROM c WHERE c = 1)")
    con.execute("""INSERT INTO orders (source, order_id, member_id, buyer_phone, status, status_raw, paid_at, paid_amount,
                                       refund_amount, net_amount, store, batch_id, updated_at)
        SELECT 'siyu', order_id, member_id, buyer_phone, status, status, paid_at, paid_amount,
               CASE WHEN status = 'refunded' THEN paid_amount ELSE 0 END,
               CASE WHEN status = 'paid' THEN paid_amount ELSE 0 END, store, 'floor', now()
        FROM c WHERE c IN (0, 1)""")
    changed = con.execute("SELECT count(*) FROM c WHERE c = 1").fetchone()[0]
    con.execute("COMMIT")
    con.close()
    return time.perf_counter() - t, probe, changed


def identity_probe(db: Path, csv: Path) -> float:
    """What siyu adds to that floor and cannot skip: looking the file's buyer ids (member id, phone) up in
    member_identities, which has no index (migration 003) and no order a range could use — a scan that
    grows with the store. Best of 3, read-only."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    con.execute(f"CREATE TEMP TABLE f AS SELECT member_id, phone FROM read_csv('{csv}', all_varchar=true)")
    took = []
    for _ in range(3):
        t = time.perf_counter()
        con.execute("""SELECT count(*) FROM (SELECT 'source_member_id' AS t, member_id AS v FROM f UNION ALL
                                             SELECT 'phone', phone FROM f WHERE phone NOT LIKE '%*%') p
                       JOIN member_identities i ON i.id_type = p.t AND i.id_value = p.v""").fetchone()
        took.append(time.perf_counter() - t)
    con.close()
    return min(took)


FRESH = """
import json, resource, sys, time
from siyu_cli.config import load_settings
from siyu_cli.ingest import load_files
from siyu_cli.store import open_store
from siyu_cli.workspace import init_workspace
init_workspace(sys.argv[1])
settings = load_settings(sys.argv[1])
with open_store(settings):
    pass  # create the store first: migrations are not part of a load
t, c = time.perf_counter(), time.process_time()
rep = load_files(settings, "orders", [sys.argv[2]], max_rejects=10**9)
took, cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({"s": took, "cpu": cpu, "rep": rep.to_dict(),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def siyu_load(csv: Path, ws: Path, src: Path | None = None) -> tuple[float, dict, float, float]:
    """``load_files`` of the whole file into a new workspace, in a process of its own (its peak RSS, MB,
    is the load's: the default ``[load] memory_limit``); ``src``: another tree's src/ (default this one's).
    Returns (seconds, report, peak RSS MB, CPU seconds of all its threads). The workspace is removed afterwards."""
    import json
    import os

    src = src or Path(__file__).resolve().parents[1] / "src"
    done = subprocess.run([sys.executable, "-c", FRESH, str(ws), str(csv)], check=True, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(src)})
    shutil.rmtree(ws, ignore_errors=True)
    out = json.loads(done.stdout)
    return out["s"], out["rep"], out["rss_mb"], out["cpu"]


def sqlite_utils(csv: Path, db: Path, rows: int, total: int, tmp: Path) -> tuple[float, float] | None:
    exe = shutil.which("sqlite-utils") or str(Path(sys.executable).with_name("sqlite-utils"))
    if not Path(exe).exists():
        return None
    src = csv
    if rows < total:
        src = tmp / "prefix.csv"
        with open(csv, "rb") as f, open(src, "wb") as out:
            for n, line in enumerate(f):
                if n > rows:
                    break
                out.write(line)
    t = time.perf_counter()
    subprocess.run([exe, "insert", str(db), "orders", str(src), "--csv", "--pk", "order_id", "--silent"], check=True)
    took = time.perf_counter() - t
    return took, took * total / rows


def _load(ws: Path, kind: str, csv: Path) -> tuple[float, dict]:
    from siyu_cli.config import load_settings
    from siyu_cli.ingest import load_files

    settings = load_settings(ws)
    t = time.perf_counter()
    rep = load_files(settings, kind, [csv], max_rejects=0)
    return time.perf_counter() - t, rep.to_dict()


CHILD = """
import json, sys, time
from siyu_cli.config import load_settings
from siyu_cli.ingest import load_files
settings = load_settings(sys.argv[1])
t = time.perf_counter()
rep = load_files(settings, sys.argv[2], [sys.argv[3]], max_rejects=0)
print(json.dumps({"s": time.perf_counter() - t, "rep": rep.to_dict()}))
"""


#: applies the migrations a store lacks (a tree newer than the one that built it), so they are not part of the
#: timed load; without DuckDB's row-group compaction at the closing checkpoint, as a daily load runs
#: (siyu_cli.ingest.compaction): a migration's checkpoint would otherwise compact the tables the earlier loads
#: left partly deleted, and the timed load's checkpoint on that store costs a third of what it does on the other
#: tree's (10M orders: 0.09 s against 0.3 s)
OPEN = """
import sys
import duckdb
from siyu_cli.config import load_settings
from siyu_cli.store import migrate
settings = load_settings(sys.argv[1])
con = duckdb.connect(str(settings.store))
con.execute("SET max_vacuum_tasks = 0")
migrate(con, settings.store, settings)
con.close()
"""


def _load_in(src: Path, ws: Path, kind: str, csv: Path) -> tuple[float, dict]:
    """``_load`` in a fresh process importing siyu from ``src`` (this tree's or another's), after a process of
    its own opened the store with that tree (its migrations: not part of a daily load's time)."""
    import json
    import os

    env = {**os.environ, "PYTHONPATH": str(src)}
    subprocess.run([sys.executable, "-c", OPEN, str(ws)], check=True, capture_output=True, env=env)
    done = subprocess.run([sys.executable, "-c", CHILD, str(ws), kind, str(csv)], check=True, capture_output=True,
                          text=True, env=env)
    out = json.loads(done.stdout)
    return out["s"], out["rep"]


def _store(n: int, buyers: int, daily: int, changed: int, tmp: Path, cache: Path | None) -> Path:
    """A workspace holding ``n`` orders, members for every other one of their ``buyers`` and one earlier
    daily load (built, or reused from ``cache`` when an earlier run built it there).

    The earlier daily load ("yesterday") is there because the first load that deletes rows after a bulk
    import pays a one-off cost: DuckDB's checkpoint compacts the row groups the import's member merge
    left nearly empty (125k of 250k members rewritten), which moves every later row group and grows with
    the store. Its time is printed; the timed daily files then measure what every later day costs."""
    ws0 = (cache or tmp) / f"ws_{n}"
    if not (ws0 / ".bench-built").exists():
        _build(ws0, n, buyers, tmp)
    if not (ws0 / ".bench-warm").exists():
        new = daily - changed
        warm = tmp / "warm_orders.csv"
        first = n - max(int(n * 0.05), 2 * changed)
        # cancelled orders among the newest (i % 37 = 0, never today's changes) now refunded, new orders
        # after today's
        generate(warm, daily, ids=f"(SELECT * FROM (SELECT i FROM range({first + 1}, {n}) r(i) WHERE i % 37 = 0 AND i % 50 <> 0 "
                                  f"LIMIT {changed}) UNION ALL SELECT * FROM range({n + new}, {n + 2 * new}))",
                 buyers=buyers, refunded=f"i < {n}")
        took_o, _ = _load(ws0, "orders", warm)
        generate_members(warm, f"(SELECT k FROM range(1, {2 * changed}, 2) r(k) UNION ALL "
                               f"SELECT k FROM range({buyers + new}, {buyers + 2 * new}) r(k))",
                         f"CASE WHEN k < {buyers} THEN 'L0' ELSE 'L1' END")
        took_m, _ = _load(ws0, "members", warm)
        warm.unlink()
        (ws0 / ".bench-warm").touch()
        print(f"store {n:>10,} orders: first daily load after the bulk import (one-off compaction): "
              f"orders {took_o:.2f}s, members {took_m:.2f}s")
    else:
        print(f"store {n:>10,} orders: reused from {ws0}")
    return ws0


def _build(ws0: Path, n: int, buyers: int, tmp: Path) -> None:
    """The bulk import: ``n`` orders, then members for every other buyer."""
    from siyu_cli.workspace import init_workspace

    shutil.rmtree(ws0, ignore_errors=True)
    init_workspace(ws0)
    t = time.perf_counter()
    base = tmp / "base.csv"
    generate(base, n)
    took, rep = _load(ws0, "orders", base)
    members0 = tmp / "members0.csv"
    generate_members(members0, f"range(0, {buyers}, 2)", "'L1'")
    took_m, rep_m = _load(ws0, "members", members0)
    base.unlink()
    members0.unlink()
    (ws0 / ".bench-built").touch()
    print(f"store {n:>10,} orders: built in {time.perf_counter() - t:.1f}s (orders load {took:.1f}s, "
          f"members {rep_m['read']:,} in {took_m:.1f}s)")


def _segments(db: Path) -> dict[str, dict[tuple[int, int], tuple[int, int]]]:
    """Per table, (block, offset) → (column, rows) of every data segment: one not there before was written."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: {(b, o): (c, n) for c, b, o, n in con.execute(
                    f"SELECT column_id, block_id, block_offset, count FROM pragma_storage_info('{t}') "
                    "WHERE segment_type <> 'VALIDITY' AND block_id >= 0").fetchall()}
                for t in ("orders", "members")}
    finally:
        con.close()


def _rewritten(db: Path, before: dict) -> dict[str, int]:
    """Per table, rows in the widest column's segments that the load's checkpoint wrote anew."""
    out = {}
    for t, segs in _segments(db).items():
        per_col: dict[int, int] = {}
        for key, (col, n) in segs.items():
            if key not in before[t]:
                per_col[col] = per_col.get(col, 0) + n
        out[t] = max(per_col.values(), default=0)
    return out


def _floor_runs(db: Path, csv: Path, tmp: Path, repeats: int) -> list[float]:
    """``floor_apply`` on fresh copies of the store file, and the identity probe; prints the parts."""
    took = []
    for _ in range(repeats):
        shutil.copy(db, tmp / "floor.duckdb")
        s, probe, changed = floor_apply(tmp / "floor.duckdb", csv)
        (tmp / "floor.duckdb").unlink()
        took.append(s)
    print(f"  floor: bare DuckDB, same file ({changed:,} changed), key probe {probe:.3f}s of it; "
          f"identity probe (siyu's must-have on top) {identity_probe(db, csv):.3f}s")
    return took


def _daily_files(n: int, buyers: int, daily: int, changed: int, window: float, tmp: Path) -> dict[str, Path]:
    """The four daily files for a store of ``n`` orders: orders and members, each with ``changed`` rows that
    change stored records and the same file whose ``changed`` rows repeat them unchanged."""
    new = daily - changed
    first = n - max(int(n * window), 2 * changed)
    step = max((n - first) // (2 * changed), 1)
    # stored orders i = first + 1 + j*step that were 'paid' (not i%50=0 / i%37=0): refunded in the changed file
    old_ids = (f"(SELECT i FROM range({max(first, 0) + 1}, {n}, {step}) r(i) WHERE i % 50 <> 0 AND i % 37 <> 0 "
               f"LIMIT {changed})")
    ids = f"(SELECT * FROM {old_ids} UNION ALL SELECT * FROM range({n}, {n + new}))"
    files = {}
    for name, refunded in (("orders_same", "false"), ("orders_changed", f"i < {n}")):
        files[name] = tmp / f"{name}_{n}.csv"
        generate(files[name], daily, ids=ids, buyers=buyers, refunded=refunded)
    mids = (f"(SELECT * FROM (SELECT k FROM range(0, {buyers}, 2) r(k) LIMIT {changed}) UNION ALL "
            f"SELECT k FROM range({buyers}, {buyers + new}) r(k))")
    for name, level in (("members_same", "'L1'"), ("members_changed", f"CASE WHEN k < {buyers} THEN 'L2' ELSE 'L1' END")):
        files[name] = tmp / f"{name}_{n}.csv"
        generate_members(files[name], mids, level)
    return files


def _timed_copy(src: Path, ws0: Path, kind: str, csv: Path, before: dict, tmp: Path) -> tuple[float, str]:
    """One daily load by the tree ``src`` into a fresh copy of the store ``ws0``: its time and what it did."""
    ws = tmp / "ws_run"
    shutil.copytree(ws0, ws)
    took, rep = _load_in(src, ws, kind, csv)
    wrote = _rewritten(ws / "siyu.duckdb", before)
    shutil.rmtree(ws)
    return took, (f"inserted {rep['inserted']:,}, updated {rep['updated']:,}, unchanged {rep['unchanged']:,}; "
                  "rows the checkpoint wrote: " + ", ".join(f"{t} {r:,}" for t, r in wrote.items()))


def incremental(stores: list[int], daily: int, changed: int, repeats: int, tmp: Path, window: float,
                compare: Path | None = None, cache: Path | None = None, floor: bool = False) -> None:
    """Per store size N: load N orders (and members for N//8 of their buyers) once, then time daily files
    on fresh copies of that store: ``daily`` orders of which ``changed`` are stored orders now refunded
    (the rest new orders of existing buyers), against the same file whose ``changed`` rows repeat the
    stored orders unchanged; and the same for members (``changed`` stored members with a new level).
    The changed orders are spread evenly over the newest ``window`` share of the store (refunds and
    status changes come days or weeks after the order; 1.0 = over the whole store, the worst case).
    Every timed load runs in its own process. Each repeat times every file into every store size (and with
    ``compare``, another tree's src/, loading the same file into its own copy of the same store) one after
    the other, so a ratio between store sizes or trees compares runs minutes apart, not a whole size's runs
    apart (on a shared box the load moves in between). With ``cache``, the stores are built there once and
    reused by later runs (a 10M store takes minutes to build); the caller removes that folder when done."""
    prepared = {}
    for n in stores:
        buyers = max(n // 4, 1)
        ws0 = _store(n, buyers, daily, changed, tmp, cache)
        prepared[n] = (ws0, _daily_files(n, buyers, daily, changed, window, tmp), _segments(ws0 / "siyu.duckdb"))
    trees = {"": Path(__file__).resolve().parents[1] / "src"}
    if compare:
        trees["compare:"] = compare
    results: dict[int, dict[str, list[float]]] = {n: {} for n in stores}
    what: dict[tuple[int, str], str] = {}
    for _ in range(repeats):
        for name in ("orders_same", "orders_changed", "members_same", "members_changed"):
            for n, (ws0, files, before) in prepared.items():
                for label, src in trees.items():
                    took, what[n, label + name] = _timed_copy(src, ws0, name.split("_")[0], files[name], before, tmp)
                    results[n].setdefault(label + name, []).append(took)
                if floor and name == "orders_changed":
                    results[n].setdefault("floor:orders_changed", []).extend(
                        _floor_runs(ws0 / "siyu.duckdb", files[name], tmp, 1))
    for n, (ws0, files, _) in prepared.items():
        print(f"store {n:,} orders:")
        for label, ts in results[n].items():
            print(f"  {label:24} {min(ts):6.2f}s best, {statistics.median(ts):6.2f}s median  "
                  f"({what.get((n, label), 'the same outcome, bare DuckDB')})")
        for csv in files.values():
            csv.unlink()
        if cache is None:
            shutil.rmtree(ws0)
    _incremental_ratios(results, changed, repeats, window, bool(compare))


def _incremental_ratios(results: dict[int, dict[str, list[float]]], changed: int, repeats: int, window: float,
                        compare: bool) -> None:
    print(f"\nratios (best of {repeats}; changed orders among the newest {window:.0%} of the store; targets ≤ 1.5×):")
    small = min(results)
    for label in ([""] + (["compare:"] if compare else [])):
        for n, r in results.items():
            for kind in ("orders", "members"):
                same, chg = min(r[f"{label}{kind}_same"]), min(r[f"{label}{kind}_changed"])
                if kind == "orders" and f"floor:{kind}_changed" in r:
                    print(f"  {label}{n:>10,} orders changed file ÷ floor (bare DuckDB): {chg / min(r['floor:orders_changed']):5.2f}×")
                line = f"  {label}{n:>10,} {kind:8} {changed:,} changed ÷ no change: {chg / same:5.2f}×"
                if n != small:
                    line += (f"   store {n:,} ÷ {small:,} (changed file): "
                             f"{chg / min(results[small][f'{label}{kind}_changed']):5.2f}×")
                print(line)
        if "floor:orders_changed" in results[small] and not label:
            for n, r in results.items():
                if n != small:
                    print(f"  floor {n:,} ÷ {small:,}: {min(r['floor:orders_changed']) / min(results[small]['floor:orders_changed']):5.2f}×"
                          "   (a target below this is below what bare DuckDB can do)")


def _once(fn, db: Path) -> tuple[float, float]:
    """One baseline run into a new database file, removed afterwards: (seconds, CPU seconds of all threads)."""
    c = time.process_time()
    try:
        return fn(db), time.process_time() - c
    finally:
        db.unlink(missing_ok=True)


def fresh(csv: Path, tmp: Path, repeats: int, compare: Path | None) -> float:
    """The fresh load against bare and typed DuckDB (and ``compare``, another tree's siyu), interleaved so
    that every ratio is of the same run; prints best and median of ``repeats``, and the CPU time (all
    threads; on a shared machine the steadier measure of work done); returns siyu's best time."""
    runs: dict[str, list[tuple[float, float]]] = {"bare": [], "typed": [], "cleaned": [], "siyu": [], "compare": []}
    rss: dict[str, float] = {}
    for _ in range(repeats):
        runs["bare"].append(_once(lambda db: bare_duckdb(csv, db), tmp / "bare.duckdb"))
        runs["typed"].append(_once(lambda db: typed_duckdb(csv, db), tmp / "typed.duckdb"))
        runs["cleaned"].append(_once(lambda db: cleaned_duckdb(csv, db), tmp / "cleaned.duckdb"))
        for label, src in (("siyu", None), ("compare", compare)):
            if label == "compare" and compare is None:
                continue
            took, rep, peak, cpu = siyu_load(csv, tmp / "ws", src)
            runs[label].append((took, cpu))
            rss[label] = max(rss.get(label, 0.0), peak)
    best = {k: min(w for w, _ in v) for k, v in runs.items() if v}
    cpu = {k: min(c for _, c in v) for k, v in runs.items() if v}
    names = {"bare": "bare DuckDB read_csv → table", "typed": "  same into siyu's orders (typed)",
             "cleaned": "  typed + siyu's cleaning (floor)", "siyu": "siyu load orders (this tree)", "compare": f"siyu load orders ({compare})"}
    for k, v in runs.items():
        if v:
            extra = f"; peak RSS {rss[k]:,.0f} MB (target ≤ 2 GB)" if k in rss else ""
            print(f"{names[k]:40} {best[k]:8.2f}s best, {statistics.median(w for w, _ in v):8.2f}s median, "
                  f"CPU {cpu[k]:8.2f}s{extra}")
    print(f"(read {rep['read']:,}, inserted {rep['inserted']:,}, rejected {rep['rejected']:,}; best of {repeats})")
    print(f"ratio cleaned  / typed: {best['cleaned'] / best['typed']:6.2f}×   (the cleaning siyu must do; "
          f"CPU {cpu['cleaned'] / cpu['typed']:.2f}×)")
    for k in ("siyu", "compare"):
        if k in best:
            print(f"ratio {k:8} / bare: {best[k] / best['bare']:6.2f}×   / typed: {best[k] / best['typed']:6.2f}×"
                  f"   (target ≤ 2.0× typed at 10M)   CPU / typed: {cpu[k] / cpu['typed']:6.2f}×")
    return best["siyu"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--sqlite-rows", type=int, default=None, help="rows given to sqlite-utils (default: all)")
    ap.add_argument("--keep", type=Path, default=None, help="folder to keep the generated CSV in")
    ap.add_argument("--incremental", action="store_true", help="time daily files into stores of --stores sizes")
    ap.add_argument("--stores", default="100000,1000000,10000000", help="store sizes (orders), comma-separated")
    ap.add_argument("--daily", type=int, default=50_000, help="rows in the daily file")
    ap.add_argument("--changed", type=int, default=10_000, help="rows of the daily file that change stored records")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each timing (best and median reported)")
    ap.add_argument("--compare", type=Path, default=None, help="also time another tree's src/ (e.g. main's)")
    ap.add_argument("--no-sqlite", action="store_true", help="fresh load: skip sqlite-utils")
    ap.add_argument("--window", type=float, default=0.05,
                    help="changed orders are among the newest WINDOW share of the store (1.0: anywhere)")
    ap.add_argument("--floor", action="store_true",
                    help="incremental: also time the floor (bare DuckDB applying the changed orders file, same run)")
    ap.add_argument("--tmp", type=Path, default=None, help="folder for generated data (default: a temp folder)")
    ap.add_argument("--cache", type=Path, default=None,
                    help="incremental: build the stores in this folder once and reuse them in later runs (remove it when done)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="siyu-bench-", dir=args.tmp))
    if args.incremental:
        try:
            incremental([int(x) for x in args.stores.split(",")], args.daily, args.changed, args.repeats, tmp,
                        args.window, args.compare, args.cache, args.floor)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    try:
        csv = (args.keep or tmp) / f"orders_{args.rows}.csv"
        if not csv.exists():
            t = time.perf_counter()
            generate(csv, args.rows)
            print(f"generated {args.rows:,} rows ({csv.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f}s")
        siyu = fresh(csv, tmp, args.repeats, args.compare)
        su = None if args.no_sqlite else sqlite_utils(csv, tmp / "su.db", args.sqlite_rows or args.rows, args.rows, tmp)
        if su:
            took, scaled = su
            note = "" if (args.sqlite_rows or args.rows) >= args.rows else f" (ran {args.sqlite_rows:,} rows in {took:.1f}s, scaled)"
            print(f"sqlite-utils insert --csv    : {scaled:8.2f}s{note}")
            print(f"ratio sqlite-utils / siyu    : {scaled / siyu:8.2f}×   (target ≥ 10×)")
        else:
            print("sqlite-utils not run (--no-sqlite) or not installed: pip install sqlite-utils to compare")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
