"""Coupon / discount codes on orders: presets map them, the loader cleans them, re-loads update them."""

from __future__ import annotations

import pytest

from siyu_cli.ingest import load_files
from siyu_cli.ingest.values import normalise_codes
from siyu_cli.store import open_store
from store_helpers import order, write

SHOPIFY = (
    "Name,Email,Financial Status,Paid at,Currency,Subtotal,Total,Discount Code,Discount Amount,Created at,"
    "Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku\n"
    "#2001,ann@example.com,paid,2025-10-07 09:50:26 +0200,CNY,60.00,54.00,SPRING10,6.00,2025-10-07 09:50:00 +0200,"
    "2,Latte,20.00,LAT-1\n"
    # later line-item rows leave the order-level fields (the code too) blank
    "#2001,ann@example.com,,,,,,,,2025-10-07 09:50:00 +0200,1,Mocha,20.00,MOC-1\n"
    "#2002,bob@example.com,paid,2025-10-08 10:00:00 +0200,CNY,30.00,25.00,\" vip5 , SPRING10,vip5\",5.00,"
    "2025-10-08 10:00:00 +0200,1,Tea,30.00,TEA-1\n"
    "#2003,cy@example.com,paid,2025-10-09 10:00:00 +0200,CNY,50.00,50.00,,,2025-10-09 10:00:00 +0200,1,Cake,50.00,CAK-1\n"
)

YOUZAN = (
    "订单号,归属店铺,订单状态,订单创建时间,买家付款时间,商品金额合计,订单实付金额,买家手机号,优惠券码名称\n"
    "E1,静安店,交易完成,2024-03-05 14:00:00,2024-03-05 14:03:00,39.00,29.00,\"\t13800138000\",满39减10券\n"
    "E2,静安店,交易完成,2024-03-06 14:00:00,2024-03-06 14:03:00,39.00,29.00,\"\t13900139000\",\"新客券，满39减10券\"\n"
    "E3,静安店,交易完成,2024-03-07 14:00:00,2024-03-07 14:03:00,39.00,39.00,\"\t13900139000\",-\n"
    "E4,静安店,交易完成,2024-03-08 14:00:00,2024-03-08 14:03:00,39.00,39.00,\"\t13900139000\",\n"
)


def codes(settings):
    with open_store(settings, read_only=True) as con:
        return dict(con.execute("SELECT order_id, coupon_code FROM orders ORDER BY 1").fetchall())


def test_shopify_discount_code_is_stored_per_order(settings, tmp_path):
    rep = load_files(settings, "orders", [write(tmp_path / "orders_export.csv", SHOPIFY)])
    assert rep.files[0].preset == "shopify_orders" and (rep.read, rep.rejected) == (4, 0)
    # the first row's code survives the blank later rows; several codes: trimmed, deduplicated, sorted
    assert codes(settings) == {"#2001": "SPRING10", "#2002": "SPRING10,vip5", "#2003": None}


def test_youzan_coupon_column_is_stored(settings, tmp_path):
    rep = load_files(settings, "orders", [write(tmp_path / "youzan.csv", YOUZAN, "utf-8-sig")])
    assert rep.files[0].preset == "youzan_orders" and rep.rejected == 0
    assert codes(settings) == {"E1": "满39减10券", "E2": "新客券,满39减10券", "E3": None, "E4": None}


def test_reload_updates_the_code_and_files_without_the_column_load_as_before(settings, tmp_path):
    load_files(settings, "orders", [write(tmp_path / "a.csv", SHOPIFY)])
    changed = SHOPIFY.replace("SPRING10,6.00", "AUTUMN20,6.00")
    rep = load_files(settings, "orders", [write(tmp_path / "b.csv", changed)])
    # #2001 changed (how its second line-item row is counted is the loader's business); #2002, #2003 did not
    assert rep.updated >= 1 and rep.unchanged == 2 and rep.rejected == 0
    assert codes(settings)["#2001"] == "AUTUMN20"
    # siyu's own format: coupon_code (alias coupon) is optional
    plain = "order_id,paid_at,paid_amount\nS1,2024-03-05 10:00:00,10\n"
    with_code = "order_id,paid_at,paid_amount,coupon\nS2,2024-03-05 10:00:00,10,A1|B2\n"
    load_files(settings, "orders", [write(tmp_path / "s1.csv", plain), write(tmp_path / "s2.csv", with_code)])
    assert order(settings, "S1", "coupon_code") == (None,) and order(settings, "S2", "coupon_code") == ("A1,B2",)


@pytest.mark.parametrize("raw", ["SPRING10", " vip5 , SPRING10,vip5", "新客券，满39减10券、新客券", "a;b；c|", " , ", "", "x"])
def test_python_twin_matches_the_sql_macro(settings, raw):
    from siyu_cli.ingest.values import install_macros

    with open_store(settings, read_only=True) as con:
        install_macros(con)
        sql = con.execute("SELECT siyu_codes(?)", [raw]).fetchone()[0]
    assert sql == normalise_codes(raw)
    assert normalise_codes(["B", "A,B"]) == "A,B" and normalise_codes([]) is None
