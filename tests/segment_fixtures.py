"""Hand-built store contents for the segment tests (rows inserted directly; the loader is not needed).

The main fixture: as of 2026-06-30 (Asia/Shanghai), eight buyers a–h, one of each rfm8 class
under the fixed splits R ≤ 90, F ≥ 2, M ≥ 500, plus three members without a purchase:

member  purchases (local dates, net)                    R    F  M
a       06-20 300, 06-25 400 (+ 06-29 fully refunded)     5    2  700
b       06-10 50, 06-28 60                                2    2  110
c       06-01 1000 paid, 100 refunded                    29    1  900
d       06-15 80 (+ 06-29 zero-value order)              15    1  80
e       01-10 500, 02-01 600                            149    2  1100
f       03-01 30, 03-05 40                              117    2  70
g       2025-12-01 2000                                 211    1  2000
h       2025-11-01 20                                   241    1  20
n       no orders                                                    → no_purchase
z       one cancelled order                                          → no_purchase
r       100 paid, 150 refunded (refund larger than the order)        → no_purchase
"""

from __future__ import annotations

import itertools

_ids = itertools.count(1)

AS_OF = "2026-06-30"


def add_members(con, *ids: str, **cols) -> None:
    for mid in ids:
        names = ["member_id", *cols]
        con.execute(
            f"INSERT INTO members ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
            [mid, *cols.values()],
        )


def add_order(con, member: str | None, paid_at: str | None, paid: float, *, refund: float = 0,
              status: str = "paid", order_id: str | None = None) -> None:
    oid = order_id or f"o{next(_ids)}"
    net = 0 if status in ("cancelled", "unpaid") else paid - refund
    con.execute(
        """INSERT INTO orders (source, order_id, member_id, status, created_at, paid_at, paid_amount,
                               refund_amount, net_amount)
           VALUES ('test', ?, ?, ?, ?, ?, ?, ?, ?)""",
        [oid, member, status, paid_at, paid_at, paid, refund, net],
    )


def local(day: str, time: str = "12:00:00") -> str:
    """A Shanghai wall-clock time as a TIMESTAMPTZ literal."""
    return f"{day} {time}+08"


def build_main(con) -> None:
    add_members(con, "a", "b", "c", "d", "e", "f", "g", "h", "n", "z", "r")
    con.execute("UPDATE members SET phone = '13812345678', store = '徐汇店', guide_userid = 'zhangsan', "
                "guide_name = '张三' WHERE member_id = 'e'")
    add_order(con, "a", local("2026-06-20"), 300)
    add_order(con, "a", local("2026-06-25"), 400)
    add_order(con, "a", local("2026-06-29"), 1000, refund=1000, status="refunded")
    add_order(con, "b", local("2026-06-10"), 50)
    add_order(con, "b", local("2026-06-28"), 60)
    add_order(con, "c", local("2026-06-01"), 1000, refund=100, status="partially_refunded")
    add_order(con, "d", local("2026-06-15"), 80)
    add_order(con, "d", local("2026-06-29"), 0)
    add_order(con, "e", local("2026-01-10"), 500)
    add_order(con, "e", local("2026-02-01"), 600)
    add_order(con, "f", local("2026-03-01"), 30)
    add_order(con, "f", local("2026-03-05"), 40)
    add_order(con, "g", local("2025-12-01"), 2000)
    add_order(con, "h", local("2025-11-01"), 20)
    add_order(con, "z", local("2026-06-01"), 300, status="cancelled")
    add_order(con, "r", local("2026-06-02"), 100, refund=150, status="refunded")


MAIN_MEASURES = {  # member: (recency_days, frequency, monetary)
    "a": (5, 2, 700), "b": (2, 2, 110), "c": (29, 1, 900), "d": (15, 1, 80),
    "e": (149, 2, 1100), "f": (117, 2, 70), "g": (211, 1, 2000), "h": (241, 1, 20),
    "n": (None, 0, 0), "z": (None, 0, 0), "r": (None, 0, 0),
}
RFM8_FIXED = {"a": "A", "b": "B", "c": "C", "d": "D", "e": "E", "f": "F", "g": "G", "h": "H",
              "n": "no_purchase", "z": "no_purchase", "r": "no_purchase"}


def main_workspace(settings):
    """``settings`` with the main fixture (:func:`build_main`) in its store."""
    from siyu_cli.store import open_store

    with open_store(settings) as con:
        build_main(con)
    return settings
