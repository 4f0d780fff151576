"""Benchmark: `siyu load orders` vs bare DuckDB read_csv and vs `sqlite-utils insert --csv`.

Targets (issue 2): siyu ≤ 1.3× bare DuckDB, ≥ 10× faster than sqlite-utils.
Run by hand (never in the tests):

    PYTHONPATH=src python benchmarks/load.py --rows 10000000
    PYTHONPATH=src python benchmarks/load.py --rows 1000000 --sqlite-rows 200000   # shared/small machines

The file is generated with DuckDB (deterministic), in siyu's own column names with messy
values a real export has (¥ amounts, slash dates, masked phones). sqlite-utils is timed on a
prefix of the same file when --sqlite-rows is smaller (it is linear in rows), and its time
is scaled to the full row count, which the output says.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generate(path: Path, rows: int) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute(f"""
        COPY (
          SELECT 'SO' || lpad(CAST(i AS VARCHAR), 10, '0') AS order_id,
                 'M' || CAST(hash(i) % {max(rows // 4, 1)} AS VARCHAR) AS member_id,
                 CASE WHEN i % 10 = 0 THEN '138****' || lpad(CAST(i % 10000 AS VARCHAR), 4, '0')
                      ELSE '13' || lpad(CAST(hash(hash(i) % {max(rows // 4, 1)}) % 1000000000 AS VARCHAR), 9, '0')
                 END AS phone,
                 CASE WHEN i % 50 = 0 THEN 'refunded' WHEN i % 37 = 0 THEN 'cancelled' ELSE 'paid' END AS status,
                 strftime(TIMESTAMP '2024-01-01' + to_seconds(CAST(i % 31536000 AS BIGINT)), '%Y/%-m/%-d %H:%M') AS paid_at,
                 CASE WHEN i % 3 = 0 THEN '¥' || CAST((i % 9000) / 10.0 + 1 AS VARCHAR)
                      ELSE CAST((i % 9000) / 10.0 + 1 AS VARCHAR) END AS paid_amount,
                 'store_' || CAST(i % 40 AS VARCHAR) AS store
          FROM range({rows}) t(i)
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


def siyu_load(csv: Path, ws: Path) -> tuple[float, dict]:
    from siyu_cli.config import load_settings
    from siyu_cli.ingest import load_files
    from siyu_cli.workspace import init_workspace

    init_workspace(ws)
    settings = load_settings(ws)
    with __import__("siyu_cli.store", fromlist=["open_store"]).open_store(settings):
        pass  # create the store first: migrations are not part of a load
    t = time.perf_counter()
    rep = load_files(settings, "orders", [csv], max_rejects=10**9)
    return time.perf_counter() - t, rep.to_dict()


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--sqlite-rows", type=int, default=None, help="rows given to sqlite-utils (default: all)")
    ap.add_argument("--keep", type=Path, default=None, help="folder to keep the generated CSV in")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="siyu-bench-"))
    try:
        csv = (args.keep or tmp) / f"orders_{args.rows}.csv"
        if not csv.exists():
            t = time.perf_counter()
            generate(csv, args.rows)
            print(f"generated {args.rows:,} rows ({csv.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f}s")
        bare = bare_duckdb(csv, tmp / "bare.duckdb")
        print(f"bare DuckDB read_csv → table : {bare:8.2f}s")
        typed = typed_duckdb(csv, tmp / "typed.duckdb")
        print(f"  same into siyu's orders    : {typed:8.2f}s  (typed columns, plainest casts)")
        siyu, rep = siyu_load(csv, tmp / "ws")
        print(f"siyu load orders             : {siyu:8.2f}s  (read {rep['read']:,}, inserted {rep['inserted']:,}, "
              f"rejected {rep['rejected']:,})")
        su = sqlite_utils(csv, tmp / "su.db", args.sqlite_rows or args.rows, args.rows, tmp)
        print(f"ratio siyu / bare DuckDB     : {siyu / bare:8.2f}×   (target ≤ 1.3×)")
        print(f"ratio siyu / typed DuckDB    : {siyu / typed:8.2f}×")
        if su:
            took, scaled = su
            note = "" if (args.sqlite_rows or args.rows) >= args.rows else f" (ran {args.sqlite_rows:,} rows in {took:.1f}s, scaled)"
            print(f"sqlite-utils insert --csv    : {scaled:8.2f}s{note}")
            print(f"ratio sqlite-utils / siyu    : {scaled / siyu:8.2f}×   (target ≥ 10×)")
        else:
            print("sqlite-utils not installed: pip install sqlite-utils to compare")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
