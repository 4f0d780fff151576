"""Store traffic (门店客流), the denominator of 加粉率: loaded from a small CSV into ``store_traffic``.

Back-offices rarely export traffic, so operators keep it in a spreadsheet: one row
per store and day (``2026-03-01``) or per store and month (``2026-03``). Headers
may be English or Chinese (store/门店, date/日期/月份, customers/客流/进店人数/到店人数).
Loading the same store and day/month again replaces the number.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from siyu_cli.errors import DataError
from siyu_cli.i18n import _

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings

HEADERS = {
    "store": ("store", "门店", "门店名称", "店铺"),
    "date": ("date", "day", "month", "日期", "月份"),
    "customers": ("customers", "traffic", "visitors", "客流", "进店人数", "到店人数", "客流量", "顾客数"),
}
_DAY = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_MONTH = re.compile(r"^(\d{4})[-/.年](\d{1,2})月?$")


@dataclass
class TrafficLoad:
    path: Path
    rows: int
    stores: int
    first: date | None
    last: date | None

    def to_dict(self) -> dict:
        return {"path": str(self.path), "rows": self.rows, "stores": self.stores,
                "first": self.first.isoformat() if self.first else None,
                "last": self.last.isoformat() if self.last else None}


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(_('{path}: no such file').format(path=path)) from None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DataError(_('{path}: neither UTF-8 nor GB18030 text').format(path=path))


def parse_traffic(path: Path) -> list[tuple[str, date, str, int]]:
    """Rows of (store, day, period, customers); errors name the file, line and value."""
    reader = csv.reader(io.StringIO(_read_text(path)))
    header = next(reader, None)
    if not header:
        raise DataError(_('{path}: empty file (expected columns store,date,customers)').format(path=path))
    names = [h.strip().lower() for h in header]
    idx = {}
    for key, options in HEADERS.items():
        found = [i for i, n in enumerate(names) if n in options]
        if not found:
            raise DataError(_('{path}: no {key} column (accepted headers: {join})').format(path=path, key=key, join=', '.join(options)))
        idx[key] = found[0]
    rows = []
    for line, rec in enumerate(reader, start=2):
        if not any(c.strip() for c in rec):
            continue
        if len(rec) < len(names):
            raise DataError(_('{path}:{line}: expected {len} columns, found {len2}').format(path=path, line=line, len=len(names), len2=len(rec)))
        store, when, count = (rec[idx[k]].strip() for k in ("store", "date", "customers"))
        if not store:
            raise DataError(_('{path}:{line}: empty store').format(path=path, line=line))
        m = _DAY.match(when)
        try:
            if m:
                day, period = date(int(m[1]), int(m[2]), int(m[3])), "day"
            elif (m := _MONTH.match(when)):
                day, period = date(int(m[1]), int(m[2]), 1), "month"
            else:
                raise ValueError
        except ValueError:
            raise DataError(_('{path}:{line}: bad date {when!r} (use 2026-03-01 for a day or 2026-03 for a month)').format(path=path, line=line, when=when)) from None
        try:
            customers = int(count.replace(",", ""))
            if customers < 0:
                raise ValueError
        except ValueError:
            raise DataError(_('{path}:{line}: bad customers count {count!r} (a whole number ≥ 0)').format(path=path, line=line, count=count)) from None
        rows.append((store, day, period, customers))
    return rows


def load_traffic(settings: "Settings", path: Path) -> TrafficLoad:
    """Upsert the file's rows into ``store_traffic``."""
    from siyu_cli.store import open_store

    rows = parse_traffic(path)
    with open_store(settings) as con:
        con.execute("BEGIN TRANSACTION")
        con.executemany(
            "INSERT OR REPLACE INTO store_traffic (store, day, period, customers, source_file, loaded_at) "
            "VALUES (?, ?, ?, ?, ?, now())",
            [(s, d, p, c, str(path)) for s, d, p, c in rows],
        )
        con.execute("COMMIT")
    days = [r[1] for r in rows]
    return TrafficLoad(path=path, rows=len(rows), stores=len({r[0] for r in rows}),
                       first=min(days) if days else None, last=max(days) if days else None)
