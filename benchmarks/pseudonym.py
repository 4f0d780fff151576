"""Benchmark: what pseudonymous member ids cost a load (issue 12).

Run by hand (never in the tests):

    PYTHONPATH=src python benchmarks/pseudonym.py --rows 1000000

The orders file names buyers only by phone (a quarter of the rows' phones distinct), so every new
member id is derived from a phone — the worst case for the keyed hash. The same file is loaded into
fresh workspaces, in the same run:

* ``plain``  — the old ids, ``'p:' || phone`` (the baseline: what siyu did before);
* ``hmac``   — HMAC-SHA256 in SQL (what siyu does: two vectorised sha256 per new member);
* ``prefix`` — a single ``sha256(key || value)`` (the cheaper keyed hash we did not choose).

It also times ``skip_erased`` (a load after someone was forgotten hashes every row's keys).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def generate(path: Path, rows: int) -> None:
    import duckdb

    con = duckdb.connect()
    people = max(rows // 4, 1)
    con.execute(f"""
        COPY (
          SELECT 'SO' || lpad(CAST(i AS VARCHAR), 10, '0') AS order_id,
                 '13' || lpad(CAST(hash(i % {people}) % 1000000000 AS VARCHAR), 9, '0') AS phone,
                 'paid' AS status,
                 strftime(TIMESTAMP '2024-01-01' + to_seconds(CAST(i % 31536000 AS BIGINT)), '%Y-%m-%d %H:%M') AS paid_at,
                 CAST((i % 9000) / 10.0 + 1 AS VARCHAR) AS paid_amount
          FROM range({rows}) t(i)
        ) TO '{path}' (HEADER, DELIMITER ',')
    """)


def load(csv: Path, ws: Path, variant: str) -> tuple[float, dict]:
    from siyu_cli import privacy
    from siyu_cli.config import load_settings
    from siyu_cli.ingest import identity, load_files
    from siyu_cli.store import open_store
    from siyu_cli.workspace import init_workspace

    own, install = identity.own_id_sql, privacy.install_sql
    if variant == "plain":
        identity.own_id_sql = lambda alias="": (
            f"coalesce({alias + '.' if alias else ''}member_ref, 'wx:' || {alias + '.' if alias else ''}external_userid, "
            f"'u:' || {alias + '.' if alias else ''}unionid, 'p:' || {alias + '.' if alias else ''}phone, "
            f"'e:' || {alias + '.' if alias else ''}email)")
    elif variant == "prefix":
        def prefix_install(con, key):
            install(con, key)
            con.execute(f"CREATE OR REPLACE TEMP MACRO siyu_keyed(t, v) AS sha256('{key.hex()}' || t || chr(31) || v)")
        privacy.install_sql = prefix_install
    try:
        init_workspace(ws)
        settings = load_settings(ws)
        with open_store(settings):
            pass
        t = time.perf_counter()
        rep = load_files(settings, "orders", [csv], max_rejects=10**9)
        return time.perf_counter() - t, rep.to_dict()
    finally:
        identity.own_id_sql, privacy.install_sql = own, install


def reload_after_forget(csv: Path, ws: Path) -> tuple[float, float]:
    """Reload the same file with --force before and after one person was forgotten."""
    from siyu_cli.config import load_settings
    from siyu_cli.forget import forget
    from siyu_cli.ingest import load_files

    settings = load_settings(ws)
    t = time.perf_counter()
    load_files(settings, "orders", [csv], max_rejects=10**9, force=True)
    plain = time.perf_counter() - t
    with open(csv, encoding="utf-8") as f:
        next(f)
        phone = next(f).split(",")[1]
    forget(settings, [phone])
    t = time.perf_counter()
    rep = load_files(settings, "orders", [csv], max_rejects=10**9, force=True)
    assert rep.erased > 0
    return plain, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="siyu-bench-pseudonym-"))
    try:
        csv = tmp / "orders.csv"
        generate(csv, args.rows)
        times = {}
        for variant in ("plain", "hmac", "prefix"):
            took, rep = load(csv, tmp / variant, variant)
            times[variant] = took
            print(f"{variant:7s} {took:6.2f} s  ({rep['inserted']:,} orders inserted)")
        print(f"hmac / plain   = {times['hmac'] / times['plain']:.2f}x")
        print(f"prefix / plain = {times['prefix'] / times['plain']:.2f}x")
        before, after = reload_after_forget(csv, tmp / "hmac")
        print(f"forced reload {before:.2f} s; after a forget (hashes every row's keys) {after:.2f} s "
              f"= {after / before:.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
