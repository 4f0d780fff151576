"""The CDNOW data sets shipped inside the `lifetimes` wheel, fetched with ``pip download`` (never imported).

The wheel goes into pytest's cache dir; a test skips cleanly when it cannot be downloaded (offline).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest


def lifetimes_dataset(request, name: str) -> str:
    """The text of ``lifetimes/datasets/<name>`` from the lifetimes 0.11.3 wheel."""
    folder = Path(request.config.cache.mkdir("siyu-lifetimes-wheel"))
    wheels = sorted(folder.glob("[Ll]ifetimes-*.whl"))
    if not wheels:
        try:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "lifetimes==0.11.3", "--no-deps", "--quiet", "-d", str(folder)],
                check=True, capture_output=True, timeout=180,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            pytest.skip(f"cannot download the lifetimes wheel (CDNOW data): {exc}")
        wheels = sorted(folder.glob("[Ll]ifetimes-*.whl"))
        if not wheels:
            pytest.skip("pip download produced no lifetimes wheel")
    path = f"lifetimes/datasets/{name}"
    try:
        with zipfile.ZipFile(wheels[-1]) as z:
            return z.read(path).decode("ascii")
    except (zipfile.BadZipFile, KeyError) as exc:
        pytest.skip(f"lifetimes wheel has no {path}: {exc}")


def load_orders(settings, rows, folder: Path) -> None:
    """Insert (customer id, date, value) rows as paid orders (noon Shanghai time) plus one member per customer."""
    from siyu_cli.store import open_store

    csv_path = folder / "cdnow.csv"
    with csv_path.open("w", encoding="utf-8") as fh:
        fh.write("order_id,member_id,paid_at,amount\n")
        for i, (cid, day, value) in enumerate(rows):
            fh.write(f"{i},{cid},{day.isoformat()} 12:00:00+08,{value}\n")
    with open_store(settings) as con:
        con.execute(
            f"""INSERT INTO orders (source, order_id, member_id, status, paid_at, paid_amount, refund_amount, net_amount)
                SELECT 'cdnow', order_id, member_id, 'paid', paid_at, amount, 0, amount
                FROM read_csv('{csv_path}', header = true,
                              columns = {{'order_id': 'VARCHAR', 'member_id': 'VARCHAR', 'paid_at': 'TIMESTAMPTZ',
                                          'amount': 'DECIMAL(18,2)'}})"""
        )
        con.execute("INSERT INTO members (member_id) SELECT DISTINCT member_id FROM orders")

def parse(text: str) -> list[tuple[str, date, Decimal]]:
    """CDNOW's text (customer id, yyyymmdd, CDs, value per line) as rows."""
    rows = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) != 4:
            continue
        cid, day, _cds, value = parts
        rows.append((cid, date(int(day[:4]), int(day[4:6]), int(day[6:])), Decimal(value)))
    return rows
