"""`bought:` audiences: members by purchase history (query audience/bought), as a user types them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from push_helpers import ws  # noqa: F401 (fixture: a seeded workspace)
from siyu_cli import clock
from siyu_cli.errors import ExitCode
from siyu_cli.store import open_store

#: (order id, member, days before now, status, net amount, [(sku, category, product, amount, line refund)])
ORDERS = [
    ("o1", "m01", 5, "paid", 100, [("T1", "茶叶", "铁观音 250g", 100, 0)]),
    ("o2", "m01", 40, "paid", 150, [("T1", "茶叶", "铁观音 250g", 150, 0)]),
    ("o3", "m02", 5, "paid", 80, [("T2", "茶叶", "乌龙茶 Oolong", 80, 0)]),
    ("o4", "m02", 10, "paid", 300, [("C1", "咖啡", "Coffee Beans", 300, 0)]),
    ("o5", "m03", 5, "paid", 60, [("C1", "咖啡", "Coffee Beans", 60, 0)]),
    ("o6", "m03", 6, "refunded", 0, [("T1", "茶叶", "铁观音 250g", 100, 100)]),  # refunded: not a purchase
    ("o7", "m04", 20, "partially_refunded", 150, [("T2", "茶叶", "乌龙茶 Oolong", 120, 20),
                                                  ("T3", "茶叶", "龙井", 80, 30)]),
    ("o8", "m05", 3, "paid", 500, []),  # no lines: counts only without a product condition
    ("o9", None, 2, "paid", 90, [("T1", "茶叶", "铁观音 250g", 90, 0)]),  # not a member
    ("o10", "m06", 4, "unpaid", 0, [("T1", "茶叶", "铁观音 250g", 50, 0)]),
]


@pytest.fixture
def shop(ws):
    now = clock.now()
    with open_store(ws) as con:
        for oid, member, days, status, net, lines in ORDERS:
            paid = None if status == "unpaid" else now - timedelta(days=days)
            con.execute("INSERT INTO orders (source, order_id, member_id, status, paid_at, paid_amount, refund_amount, "
                        "net_amount) VALUES ('t', ?, ?, ?, ?, ?, 0, ?)", [oid, member, status, paid, net, net])
            for n, (sku, cat, name, amount, refund) in enumerate(lines):
                con.execute("INSERT INTO order_lines (source, order_id, line_no, sku, category, product_name, quantity, "
                            "amount, refund_amount) VALUES ('t', ?, ?, ?, ?, ?, 1, ?, ?)",
                            [oid, str(n), sku, cat, name, amount, refund])
    return ws


@pytest.mark.parametrize("spec, members", [
    ("any", {"m01", "m02", "m03", "m04", "m05"}),
    ("category=茶叶", {"m01", "m02", "m04"}),
    ("category=茶叶,within=30d", {"m01", "m02", "m04"}),
    ("category=茶叶,within=7d", {"m01", "m02"}),
    ("category=茶叶,times>=2", {"m01"}),
    ("category=茶叶,spend>=150", {"m01", "m04"}),  # m04: tea lines 120-20 + 80-30 = 150; m02: 80
    ("product~oolong", {"m02", "m04"}),
    ("product=龙井", {"m04"}),
    ("sku=C1,spend>=100", {"m02"}),
    ("within=7d", {"m01", "m02", "m03", "m05"}),
    ("spend>=500", {"m05"}),
    ("times>=2", {"m01", "m02"}),
])
def test_bought_selects_members_by_purchase_history(shop, spec, members):
    from siyu_cli.push.purchases import bought_ids

    with open_store(shop, read_only=True) as con:
        assert set(bought_ids(con, shop, spec)) == members


def test_since_is_a_local_day(shop):
    from siyu_cli.push.purchases import bought_ids

    day = (clock.now() - timedelta(days=6)).date().isoformat()
    with open_store(shop, read_only=True) as con:
        assert set(bought_ids(con, shop, f"category=茶叶,since={day}")) == {"m01", "m02"}


def test_push_dry_run_with_a_bought_audience(shop, cli):
    p = json.loads(cli("push", "create", "--audience", "bought:category=茶叶,times>=2", "--text", "新茶到了",
                       "--dry-run", "--format", "json").stdout)
    assert p["recipients"] == 1 and p["to_send"] == 1
    wide = json.loads(cli("push", "create", "--audience", "bought:category=茶叶", "--text", "新茶到了",
                          "--dry-run", "--format", "json").stdout)
    assert wide["recipients"] == 3
    assert json.loads(cli("push", "list", "--format", "json").stdout) == []  # a dry run stores nothing


def test_tags_sync_plans_the_tag_for_a_bought_audience(shop, cli):
    r = json.loads(cli("tags", "sync", "--tag", "爱喝茶", "--audience", "bought:category=茶叶", "--dry-run",
                       "--format", "json").stdout)
    assert r["planned"] == 3 and r["per_tag"] == {"爱喝茶": {"add": 3, "remove": 0}}, r  # m01 m02 m04: one relation each


@pytest.mark.parametrize("spec, fragment", [
    ("bought:colour=red", "bought: conditions look like"),
    ("bought:", "bought: conditions look like"),
    ("bought:times>=0", "not 'times>=0'"),
    ("bought:within=30", "not 'within=30'"),
    ("bought:spend>=lots", "not 'spend>=lots'"),
    ("bought:since=2026-13-01", "not 'since=2026-13-01'"),
    ("bought:category=茶叶,category=咖啡", "bought: category is given twice"),
    ("bought:within=7d,since=2026-01-01", "bought: since is given twice"),
])
def test_a_malformed_bought_spec_is_one_line_exit_2(shop, cli, spec, fragment):
    r = cli("push", "create", "--audience", spec, "--text", "hi", "--dry-run", expect=ExitCode.USAGE)
    assert fragment in r.stderr and r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr


def test_bought_selects_members_only(shop, cli):
    r = cli("push", "create", "--channel", "group", "--audience", "bought:any", "--text", "hi", "--dry-run",
            expect=ExitCode.USAGE)
    assert "bought: audiences select members" in r.stderr


def test_a_hostile_value_is_data(shop):
    from siyu_cli.push.purchases import bought_ids

    with open_store(shop, read_only=True) as con:
        assert bought_ids(con, shop, "category=x' OR 1=1 --") == []
    with open_store(shop, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM orders").fetchone()[0] == len(ORDERS)
