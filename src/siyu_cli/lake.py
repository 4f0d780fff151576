"""``siyu export lake DIR``: the store's orders, order lines and members as partitioned Parquet, for Spark (docs/scale.md).

Layout (Hive-style, what ``spark.read.parquet(DIR/orders)`` and ``[engine] orders = "DIR/orders"`` read)::

    DIR/orders/paid_month=2026-05/data_0.parquet   one folder per local month of paid_at ("unpaid": none)
    DIR/members/data_0.parquet
    DIR/order_lines/data_0.parquet                   the order lines (``bought:`` audiences on a product read them)

The store is opened read-only. Personal columns (phones, emails, names, birthdays, what an order named
its buyer by) are left out unless ``unmask``: the engine needs ids, times, statuses and amounts only.
"""

from __future__ import annotations

from siyu_cli.i18n import _

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from siyu_cli.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings

PERSONAL = {
    "orders": ("buyer_phone", "buyer_ref"),
    "members": ("phone", "phone_masked", "email", "name", "nickname", "birthday", "unionid"),
}


@dataclass
class LakeExport:
    folder: Path
    orders: int
    members: int
    partitions: int
    order_lines: int = 0

    def to_dict(self) -> dict:
        return {"folder": str(self.folder), "orders": self.orders, "members": self.members,
                "order_lines": self.order_lines, "order_partitions": self.partitions}


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def export_lake(settings: "Settings", folder: str | Path, *, unmask: bool = False, overwrite: bool = False) -> LakeExport:
    """Write DIR/orders (partitioned by paid month, workspace timezone) and DIR/members as Parquet."""
    from siyu_cli.store import open_store

    out = Path(folder).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise UsageError(_('{out} is a file, not a folder').format(out=out))
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UsageError(_('{out} is not empty: choose an empty folder or pass --overwrite').format(out=out))
    out.mkdir(parents=True, exist_ok=True)
    with open_store(settings, read_only=True) as con:
        drop = {t: [c for c in cols if c in {r[0] for r in con.execute(f"DESCRIBE {t}").fetchall()}]
                for t, cols in PERSONAL.items()}
        select = {t: "*" if unmask or not drop[t] else f"* EXCLUDE ({', '.join(drop[t])})" for t in PERSONAL}
        orders = con.execute("SELECT count(*) FROM orders").fetchone()[0]
        members = con.execute("SELECT count(*) FROM members").fetchone()[0]
        lines = con.execute("SELECT count(*) FROM order_lines").fetchone()[0]
        con.execute(
            f"""COPY (SELECT {select['orders']},
                             coalesce(strftime(paid_at, '%Y-%m'), 'unpaid') AS paid_month
                      FROM orders)
                TO {_literal(out / 'orders')} (FORMAT parquet, PARTITION_BY (paid_month), OVERWRITE_OR_IGNORE true)"""
        )
        (out / "members").mkdir(exist_ok=True)
        con.execute(f"COPY (SELECT {select['members']} FROM members) TO {_literal(out / 'members' / 'data_0.parquet')} "
                    "(FORMAT parquet)")
        (out / "order_lines").mkdir(exist_ok=True)
        con.execute(f"COPY (SELECT * FROM order_lines) TO {_literal(out / 'order_lines' / 'data_0.parquet')} "
                    "(FORMAT parquet)")
    partitions = sum(1 for p in (out / "orders").iterdir() if p.is_dir()) if (out / "orders").is_dir() else 0
    return LakeExport(out, int(orders), int(members), partitions, int(lines))
