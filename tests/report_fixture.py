"""A small hand-checked store for the report tests (imported by tests/test_report*.py).

Period under test: 2026-01-01 … 2026-03-31 (90 days), workspace time zone Asia/Shanghai.

Members (join day, home store, guide, WeCom):
  m1 2025-10-15 静安店 g1 ext wm1          m5 2026-03-01 浦东店 g3 —
  m2 2026-01-10 静安店 g1 ext wm2          m6 2026-04-10 (after the period: not a member yet) ext wm6
  m3 2026-01-20 徐汇店 g2 — (in wecom_contacts)   m7 2025-06-01 静安店 g1 ext wm7
  m4 2026-02-05 徐汇店 g2 —                m8 2025-01-01 徐汇店 g2 —
Orders (local paid time, status, net, store/guide/channel, units):
  o1  m1 2026-01-05 paid 100 静安/g1/store  item_count 2
  o2  m1 2026-02-10 paid 200 静安/g1/mini   lines 1+1+2 = 4 units (item_count NULL)
  o3  m2 2026-01-15 paid  50 静安/g1/store  1
  o4  m3 2026-01-25 partially_refunded 120−20 = 100 徐汇/g2/mini 3
  o5  m3 2026-03-20 12:00 paid 80 徐汇/g2/store 1
  o6  m3 2026-03-31 23:30 (15:30 UTC) paid 40 徐汇/g2/mini 2
  o7  —  2026-02-14 paid  60 静安/—/store 2        (non-member order)
  o8  m4 2026-02-20 refunded 70−70 = 0 徐汇/g2/mini  (not a valid order)
  o9  m4 2026-01-01 00:10 (2025-12-31 16:10 UTC) paid 30 徐汇/g2/store, units unknown
  o10 m4 2026-04-01 00:30 (2026-03-31 16:30 UTC) paid 999 — after the period
  o11 m5 unpaid (no paid_at)
  o12 m7 2025-11-01 paid 300; o13 m8 2025-08-01 paid 500; o14 m1 2025-12-20 paid 90 (before the period)
  o15 m2 2026-02-01 paid 0 静安/g1/store — a zero-value order: not a purchase, so it changes no count
"""

from __future__ import annotations

from siyu_cli.store import open_store

PERIOD = ("2026-01-01", "2026-03-31")

# The contract tables of the segment and push areas, created here when those areas' migrations are absent.
CONTRACT_DDL = """
CREATE TABLE IF NOT EXISTS segment_snapshots(snapshot_id INTEGER PRIMARY KEY, created_at TIMESTAMPTZ, as_of DATE,
    scheme VARCHAR, params JSON, members BIGINT, label VARCHAR);
CREATE TABLE IF NOT EXISTS segment_member_rows(snapshot_id INTEGER, member_id VARCHAR, recency_days INTEGER,
    frequency INTEGER, monetary DECIMAL(18,2), r_score INTEGER, f_score INTEGER, m_score INTEGER,
    segment_id VARCHAR, segment_name VARCHAR);
CREATE TABLE IF NOT EXISTS push_campaigns(campaign_id VARCHAR PRIMARY KEY, name VARCHAR, channel VARCHAR,
    audience VARCHAR, snapshot_id INTEGER, segment_id VARCHAR, status VARCHAR, created_at TIMESTAMPTZ,
    sent_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS push_recipients(campaign_id VARCHAR, recipient_id VARCHAR, member_id VARCHAR,
    batch_id VARCHAR, state VARCHAR, delivery VARCHAR, reason VARCHAR, msgid VARCHAR, sent_at TIMESTAMPTZ);
"""


def create_contract_tables(con) -> None:
    for stmt in CONTRACT_DDL.split(";"):
        if stmt.strip():
            con.execute(stmt)


MEMBERS = [
    # member_id, join_at, store, guide, external_userid
    ("m1", "2025-10-15 10:00:00+08", "静安店", "g1", "wm1"),
    ("m2", "2026-01-10 10:00:00+08", "静安店", "g1", "wm2"),
    ("m3", "2026-01-20 10:00:00+08", "徐汇店", "g2", None),
    ("m4", "2026-02-05 10:00:00+08", "徐汇店", "g2", None),
    ("m5", "2026-03-01 10:00:00+08", "浦东店", "g3", None),
    ("m6", "2026-04-10 10:00:00+08", "浦东店", "g3", "wm6"),
    ("m7", "2025-06-01 10:00:00+08", "静安店", "g1", "wm7"),
    ("m8", "2025-01-01 10:00:00+08", "徐汇店", "g2", None),
]
STAFF = [("g1", "小王", "静安店"), ("g2", "小李", "徐汇店"), ("g3", "小张", "浦东店")]
ORDERS = [
    # order_id, member_id, status, paid_at, paid, refund, store, guide, channel, item_count
    ("o1", "m1", "paid", "2026-01-05 10:00:00+08", 100, 0, "静安店", "g1", "store", 2),
    ("o2", "m1", "paid", "2026-02-10 10:00:00+08", 200, 0, "静安店", "g1", "mini", None),
    ("o3", "m2", "paid", "2026-01-15 10:00:00+08", 50, 0, "静安店", "g1", "store", 1),
    ("o4", "m3", "partially_refunded", "2026-01-25 10:00:00+08", 120, 20, "徐汇店", "g2", "mini", 3),
    ("o5", "m3", "paid", "2026-03-20 12:00:00+08", 80, 0, "徐汇店", "g2", "store", 1),
    ("o6", "m3", "paid", "2026-03-31 15:30:00+00", 40, 0, "徐汇店", "g2", "mini", 2),
    ("o7", None, "paid", "2026-02-14 10:00:00+08", 60, 0, "静安店", None, "store", 2),
    ("o8", "m4", "refunded", "2026-02-20 10:00:00+08", 70, 70, "徐汇店", "g2", "mini", 1),
    ("o9", "m4", "paid", "2025-12-31 16:10:00+00", 30, 0, "徐汇店", "g2", "store", None),
    ("o10", "m4", "paid", "2026-03-31 16:30:00+00", 999, 0, "徐汇店", "g2", "store", 1),
    ("o11", "m5", "unpaid", None, 0, 0, "浦东店", "g3", "store", 1),
    ("o12", "m7", "paid", "2025-11-01 10:00:00+08", 300, 0, "静安店", "g1", "store", 1),
    ("o13", "m8", "paid", "2025-08-01 10:00:00+08", 500, 0, "徐汇店", "g2", "store", 1),
    ("o14", "m1", "paid", "2025-12-20 10:00:00+08", 90, 0, "静安店", "g1", "store", 1),
    # a zero-value order (a gift): paid, but not a purchase — must change no count anywhere
    ("o15", "m2", "paid", "2026-02-01 10:00:00+08", 0, 0, "静安店", "g1", "store", 1),
]
LINES = [("o2", "1", 1), ("o2", "2", 1), ("o2", "3", 2)]
CONTACTS = [
    # external_userid, staff, member, added_at
    ("wm1", "g1", "m1", "2025-10-20 10:00:00+08"),
    ("wm2", "g1", "m2", "2026-01-10 10:00:00+08"),
    ("wm3x", "g2", "m3", "2026-01-21 10:00:00+08"),
    ("wmz", "g2", None, "2026-02-02 10:00:00+08"),
    ("wm2", "g2", "m2", "2026-02-03 10:00:00+08"),
    ("wm7", "g1", "m7", "2025-06-01 10:00:00+08"),
]
TRAFFIC = [("静安店", "2026-01-01", "month", 4), ("静安店", "2026-02-15", "day", 6),
           ("静安店", "2026-04-01", "day", 999), ("浦东店", "2026-03-01", "month", 40)]


def populate(settings, *, segments: bool = True, push: bool = True, traffic: bool = True) -> None:
    with open_store(settings) as con:
        for mid, join_at, store, guide, ext in MEMBERS:
            con.execute(
                "INSERT INTO members (member_id, source, join_at, store, guide_userid, external_userid, join_channel) "
                "VALUES (?, 'siyu', ?, ?, ?, ?, 'store')",
                [mid, join_at, store, guide, ext],
            )
        for userid, name, store in STAFF:
            con.execute("INSERT INTO staff (userid, name, store) VALUES (?, ?, ?)", [userid, name, store])
        for oid, mid, status, paid_at, paid, refund, store, guide, channel, items in ORDERS:
            net = 0 if paid_at is None else paid - refund
            con.execute(
                "INSERT INTO orders (source, order_id, member_id, status, created_at, paid_at, paid_amount, "
                "refund_amount, net_amount, item_count, store, channel, guide_userid) "
                "VALUES ('siyu', ?, ?, ?, coalesce(CAST(? AS TIMESTAMPTZ), TIMESTAMPTZ '2026-03-05 10:00:00+08'), "
                "?, ?, ?, ?, ?, ?, ?, ?)",
                [oid, mid, status, paid_at, paid_at, paid, refund, net, items, store, channel, guide],
            )
        for oid, line_no, qty in LINES:
            con.execute(
                "INSERT INTO order_lines (source, order_id, line_no, quantity, amount) VALUES ('siyu', ?, ?, ?, 50)",
                [oid, line_no, qty],
            )
        con.execute("INSERT INTO groups (group_id, name, owner_userid) VALUES ('chat1', '静安咖啡群', 'g1')")
        con.execute("INSERT INTO group_members (group_id, external_userid, member_id) VALUES "
                    "('chat1', 'wm1', 'm1'), ('chat1', 'wm3x', 'm3'), ('chat1', 'wo_stranger', NULL)")
        for ext, staff, mid, added in CONTACTS:
            con.execute(
                "INSERT INTO wecom_contacts (external_userid, staff_userid, member_id, added_at) VALUES (?, ?, ?, ?)",
                [ext, staff, mid, added],
            )
        if traffic:
            for store, day, period, n in TRAFFIC:
                con.execute("INSERT INTO store_traffic (store, day, period, customers) VALUES (?, ?, ?, ?)",
                            [store, day, period, n])
        if segments or push:
            create_contract_tables(con)
        if segments:
            con.execute("INSERT INTO segment_snapshots (snapshot_id, created_at, as_of, scheme, params, members, label) "
                        "VALUES (1, '2026-03-01 09:00:00+08', '2026-03-01', 'rfm8', "
                        "'{}', 4, 'march'), (2, '2026-03-31 09:00:00+08', '2026-03-31', 'rfm8', '{}', 5, 'end')")
            snap1 = [("m1", "A", "重要价值客户"), ("m2", "D", "一般发展客户"), ("m3", "D", "一般发展客户"),
                     ("m4", "D", "一般发展客户")]
            snap2 = [("m1", "A", "重要价值客户"), ("m2", "H", "一般挽留客户"), ("m3", "A", "重要价值客户"),
                     ("m4", "H", "一般挽留客户"), ("m5", "no_purchase", "未购会员")]
            for snap, rows in ((1, snap1), (2, snap2)):
                for mid, seg, name in rows:
                    con.execute("INSERT INTO segment_member_rows (snapshot_id, member_id, segment_id, segment_name) "
                                "VALUES (?, ?, ?, ?)", [snap, mid, seg, name])
        if push:
            con.execute(
                "INSERT INTO push_campaigns (campaign_id, name, channel, audience, snapshot_id, segment_id, status, "
                "created_at, sent_at) VALUES "
                "('c1', '三月复购券', 'customer', 'segment:D', 1, 'D', 'sent', '2026-03-15 09:00:00+08', "
                "'2026-03-15 10:00:00+08'), "
                "('c0', '去年活动', 'customer', 'all', NULL, NULL, 'sent', '2025-12-01 09:00:00+08', "
                "'2025-12-01 10:00:00+08'), "
                "('c2', '社群新品', 'group', 'group:all', NULL, NULL, 'sent', '2026-01-20 09:00:00+08', "
                "'2026-01-20 10:00:00+08'), "
                "('c3', '导购提醒', 'app', 'staff', NULL, NULL, 'sent', '2026-02-01 09:00:00+08', "
                "'2026-02-01 10:00:00+08')"
            )
            con.execute(
                "INSERT INTO push_recipients (campaign_id, recipient_id, member_id, state, delivery, sent_at) VALUES "
                "('c1', 'r1', 'm3', 'sent', 'delivered', '2026-03-15 10:00:00+08'), "
                "('c1', 'r2', 'm2', 'sent', 'not_friend', '2026-03-15 10:00:00+08'), "
                "('c1', 'r3', 'm4', 'failed', NULL, NULL), "
                "('c0', 'r9', 'm1', 'sent', 'delivered', '2025-12-01 10:00:00+08'), "
                "('c2', 'chat1', NULL, 'sent', 'delivered', '2026-01-20 10:00:00+08'), "
                "('c3', 'g1', NULL, 'sent', 'delivered', '2026-02-01 10:00:00+08')"
            )
