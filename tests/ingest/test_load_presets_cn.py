"""Order presets for JD 京东, Douyin 抖店, Pinduoduo 拼多多 and Weimob 微盟 (EXPORTS.md §1.5, §1.7–1.9).

Each fixture is a small hand-written export in the platform's layout with the pitfalls EXPORTS.md §2.1
lists for it; every expected value below is worked out by hand from the fixture rows.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from siyu_cli.ingest import load_files
from siyu_cli.ingest.presets import PRESETS, fingerprint_matches
from siyu_cli.ingest.values import install_macros, normalise_phone
from store_helpers import load_export, order, pid, q, write

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "exports" / "orders"


D = Decimal

# ---------------------------------------------------------------- JD: GBK (Excel re-save), one row per SKU, 2016 header

JD_HEADER = (
    "订单号,商品ID,商品名称,订购数量,支付方式,下单时间,京东价,订单金额,结算金额,余额支付,应付金额,订单状态,订单类型,"
    "下单帐号,客户姓名,客户地址,联系电话,订单备注,发票类型,发票抬头,发票内容,商家备注,商家备注等级（等级1-5为由高到低）,"
    "运费金额,付款确认时间,增值税发票,货号,订单完成时间,订单来源,订单渠道\n"
)
JD = JD_HEADER + (
    # order 1: two SKUs (2 + 1 items), order-level amounts repeated on each row, tab-prefixed id on the 2nd row
    "230000000001,100001,拿铁咖啡豆,2,在线支付,2024-03-01 10:00:00,59.00,148.00,138.00,0,138.00,完成,一般订单,"
    "jd_user_a,张三,上海市静安区,13800138000,,,,,,,0,2024-03-01 10:01:00,,,2024-03-05 12:00:00,京东商城,PC\n"
    "\"\t230000000001\",100002,挂耳咖啡,1,在线支付,2024-03-01 10:00:00,30.00,148.00,138.00,0,138.00,完成,一般订单,"
    "jd_user_a,张三,上海市静安区,13800138000,,,,,,,0,2024-03-01 10:01:00,,,2024-03-05 12:00:00,京东商城,PC\n"
    # cancelled before payment, masked phone
    "230000000002,100003,冷萃咖啡,1,在线支付,2024-03-02 11:00:00,45.00,45.00,45.00,0,45.00,取消,一般订单,"
    "jd_user_b,李四,北京市,138****5678,,,,,,,0,,,,,京东商城,APP\n"
    # same buyer as order 1 (phone read from Excel as a float), waiting to ship
    "230000000003,100001,拿铁咖啡豆,1,在线支付,2024/3/3 9:00,59.00,59.00,59.00,0,59.00,等待出库,一般订单,"
    "jd_user_a,张三,上海市静安区,13800138000.0,,,,,,,0,2024/3/3 9:05,,,,京东商城,APP\n"
    # locked (after-sales hold): pending, counts nothing
    "230000000004,100002,挂耳咖啡,1,在线支付,2024-03-04 08:00:00,30.00,30.00,30.00,0,30.00,锁定,一般订单,"
    "jd_user_c,王五,广州市,13700137000,,,,,,,0,2024-03-04 08:01:00,,,,京东商城,APP\n"
    # deleted: cancelled
    "230000000005,100002,挂耳咖啡,1,在线支付,2024-03-05 08:00:00,30.00,30.00,30.00,0,30.00,(删除)等待出库,一般订单,"
    "jd_user_c,王五,广州市,13700137000,,,,,,,0,,,,,京东商城,APP\n"
    "合计,,,,,,,312.00,,,302.00,,,,,,,,,,,,,,,,,,,\n"
)


def test_jd_gbk_sku_rows_statuses_and_summary_row(settings, tmp_path):
    rep = load_export(settings, tmp_path / "jd_orders.csv", JD, "orders", "gbk", max_rejects=1)
    fr = rep.files[0]
    assert (fr.preset, fr.source, fr.encoding) == ("jd_orders", "jd", "gb18030")
    # 7 data rows: 6 order rows (5 orders) + the 合计 row, which is rejected
    assert (rep.read, rep.inserted, rep.merged, rep.rejected) == (7, 5, 1, 1)
    assert q(settings, "SELECT reason FROM rejects") == [("SUMMARY_ROW",)]
    assert q(settings, "SELECT count(*) FROM orders WHERE source = 'jd'") == [(5,)]
    # two SKU rows fold into one order: 订购数量 2 + 1 = 3 items, 应付金额 138 once (not 276)
    row = order(settings, "230000000001", "status, total_amount, paid_amount, net_amount, item_count, paid_at, buyer_ref, "
                                         "buyer_phone, channel")
    assert row[:5] == ("paid", D("148.00"), D("138.00"), D("138.00"), 3)
    assert row[5].isoformat() == "2024-03-01T10:01:00+08:00"
    assert row[6:] == ("jd_user_a", "13800138000", "PC")
    assert q(settings, "SELECT line_no, sku, product_name, quantity, unit_price, amount FROM order_lines "
                       "WHERE order_id = '230000000001' ORDER BY line_no") == [
        ("1", "100001", "拿铁咖啡豆", D("2.000"), D("59.00"), D("118.00")),
        ("2", "100002", "挂耳咖啡", D("1.000"), D("30.00"), D("30.00"))]
    assert order(settings, "230000000002", "status, paid_at, net_amount, member_id, buyer_phone") == (
        "cancelled", None, D("0.00"), None, None)
    assert order(settings, "230000000003", "status, net_amount, member_id")[:2] == ("paid", D("59.00"))
    assert order(settings, "230000000003", "paid_at")[0].isoformat() == "2024-03-03T09:05:00+08:00"
    assert order(settings, "230000000004", "status, net_amount") == ("unpaid", D("0.00"))
    assert order(settings, "230000000005", "status, net_amount") == ("cancelled", D("0.00"))
    # the buyer's phone (also as 13800138000.0) links orders 1 and 3 to one member; the masked one links nothing
    assert order(settings, "230000000001", "member_id") == order(settings, "230000000003", "member_id") == (
        pid(settings, "13800138000"),)
    assert q(settings, "SELECT count(*) FROM member_identities WHERE id_value LIKE '%*%'") == [(0,)]


# ---------------------------------------------------------------- Douyin: UTF-8 BOM, "\t" ids, one row per 子订单, ##密文

DOUYIN_HEADER = (
    "主订单编号,子订单编号,选购商品,商品规格,商品数量,商家编码,商品单价,订单应付金额,运费,收件人,收件人手机号,详细地址,"
    "订单提交时间,支付完成时间,商家备注,订单完成时间,订单状态,售后状态,取消原因,发货时间,平台实际承担优惠金额,"
    "商家实际承担优惠金额,达人实际承担优惠金额\n"
)
DOUYIN = DOUYIN_HEADER + (
    # D1: two sub-orders (拿铁 ×2 + 美式 ×1), encrypted receiver fields; 订单应付金额 is each 子订单's own
    # amount (59.80 + 19.90 = 79.70 for the order)
    '"\t6917000000000000001","\t6917000000000000002",拿铁,大杯,2,"\tLAT-1",29.90,59.80,0,##密文,$$密文,##密文,'
    "2024-03-10 20:00:00,2024-03-10 20:00:30,-,2024-03-12 10:00:00,已完成,-,-,2024-03-11 09:00:00,0,0,0\n"
    '"\t6917000000000000001","\t6917000000000000003",美式,中杯,1,"\tAME-1",19.90,19.90,0,##密文,##密文,##密文,'
    "2024-03-10 20:00:00,2024-03-10 20:00:30,-,2024-03-12 10:00:00,已完成,-,-,2024-03-11 09:00:00,0,0,0\n"
    # D2: closed and never paid → cancelled
    '"\t6917000000000000011","\t6917000000000000012",拿铁,大杯,1,"\tLAT-1",29.90,29.90,0,##密文,$$密文,##密文,'
    "2024-03-11 08:00:00,-,-,-,已关闭,-,超时未支付,-,0,0,0\n"
    # D3: paid, then closed after a full refund → refunded
    '"\t6917000000000000021","\t6917000000000000022",美式,中杯,2,"\tAME-1",19.95,39.90,0,##密文,$$密文,##密文,'
    "2024-03-12 08:00:00,2024-03-12 08:00:10,-,-,已关闭,退款成功,主品订单售后完成,-,0,0,0\n"
    # D4: paid, waiting to ship, an unencrypted phone
    '"\t6917000000000000031","\t6917000000000000032",拿铁,大杯,1,"\tLAT-1",29.90,29.90,0,赵六,13900139000,北京市,'
    "2024-03-13 08:00:00,2024-03-13 08:00:05,-,-,备货中,-,-,-,0,0,0\n"
    # D5: not paid yet
    '"\t6917000000000000041","\t6917000000000000042",拿铁,大杯,1,"\tLAT-1",29.90,29.90,0,##密文,$$密文,##密文,'
    "2024-03-14 08:00:00,-,-,-,待支付,-,-,-,0,0,0\n"
)


def test_douyin_bom_sub_orders_encrypted_receivers(settings, tmp_path):
    rep = load_export(settings, tmp_path / "douyin.csv", DOUYIN, "orders", "utf-8-sig")
    fr = rep.files[0]
    assert (fr.preset, fr.source, fr.encoding) == ("douyin_orders", "douyin", "utf-8-sig")
    assert (rep.read, rep.inserted, rep.merged, rep.rejected) == (6, 5, 1, 0)
    assert q(settings, "SELECT count(*) FROM orders") == [(5,)]
    # ids lose their tab; two sub-orders are one order with 3 items and two lines keyed by 子订单编号
    row = order(settings, "6917000000000000001", "status, paid_amount, net_amount, item_count, paid_at, created_at")
    assert row[:4] == ("paid", D("79.70"), D("79.70"), 3)
    assert (row[4].isoformat(), row[5].isoformat()) == ("2024-03-10T20:00:30+08:00", "2024-03-10T20:00:00+08:00")
    assert q(settings, "SELECT line_no, sku, product_name, quantity, amount FROM order_lines "
                       "WHERE order_id = '6917000000000000001' ORDER BY line_no") == [
        ("6917000000000000002", "LAT-1", "拿铁", D("2.000"), D("59.80")),
        ("6917000000000000003", "AME-1", "美式", D("1.000"), D("19.90"))]
    assert order(settings, "6917000000000000011", "status, paid_at, net_amount") == ("cancelled", None, D("0.00"))
    assert order(settings, "6917000000000000021") == ("refunded", D("39.90"), D("39.90"), D("0.00"))
    assert order(settings, "6917000000000000031", "status, net_amount, member_id, buyer_phone") == (
        "paid", D("29.90"), pid(settings, "13900139000"), "13900139000")
    assert order(settings, "6917000000000000041", "status, paid_at, net_amount") == ("unpaid", None, D("0.00"))
    # encrypted placeholders are neither phones nor identities, and make no members
    assert q(settings, "SELECT count(*) FROM orders WHERE member_id IS NOT NULL OR buyer_phone IS NOT NULL") == [(1,)]
    assert q(settings, "SELECT id_type, id_value FROM member_identities") == [("phone", "13900139000")]
    assert q(settings, "SELECT count(*) FROM members") == [(1,)]


def test_douyin_refund_amount_column_gives_partial_refund(settings, tmp_path):
    # some exports carry a refund amount (column name unconfirmed: 退款金额 is one alias)
    text = ("主订单编号,子订单编号,选购商品,商品数量,订单应付金额,订单提交时间,支付完成时间,订单状态,售后状态,退款金额\n"
            '"\t6917000000000000051","\t6917000000000000052",拿铁,2,100.00,2024-03-15 08:00:00,2024-03-15 08:00:05,'
            "已完成,退款成功,30.00\n")
    rep = load_export(settings, tmp_path / "douyin_refund.csv", text, "orders", "utf-8-sig")
    assert rep.files[0].preset == "douyin_orders"
    assert order(settings, "6917000000000000051") == ("partially_refunded", D("100.00"), D("30.00"), D("70.00"))


# ---------------------------------------------------------------- Pinduoduo: one row per order, `(元)` columns

PDD_HEADER = (
    "商品,订单号,订单状态,商品总价(元),邮费(元),店铺优惠折扣(元),平台优惠折扣(元),多多支付立减金额(元),用户实付金额(元),"
    "商家实收金额(元),商品数量(件),发货时间,确认收货时间,商品id,商品规格,样式ID,商家编码-规格维度,商家编码-商品维度,"
    "商家备注,售后状态,快递单号,快递公司,订单成交时间,订单付款时间,是否分期,分期期数,手续费承担方,分期方式\n"
)
PDD = PDD_HEADER + (
    "拿铁咖啡豆 500g,240301-012345678901234,已签收,99.00,0,5.00,5.00,0,89.00,94.00,1,2024-03-02 10:00:00,"
    "2024-03-05 10:00:00,3001,500g,\t900001,LAT-500,LAT,,无售后或售后取消,YT001,圆通,2024-03-01 12:00:00,"
    "2024-03-01 12:00:05,否,,,\n"
    "挂耳咖啡,240302-012345678901235,\"已发货，待签收\",60.00,0,0,0,0,60.00,60.00,2,2024-03-03 10:00:00,,3002,10包,"
    "\t900002,GE-10,GE,,无售后或售后取消,YT002,圆通,2024-03-02 12:00:00,2024-03-02 12:00:09,否,,,\n"
    "冷萃咖啡,240303-012345678901236,\"未发货，退款成功\",49.90,0,0,0,0,49.90,49.90,1,,,3003,单瓶,\t900003,CB-1,CB,,"
    "退款成功,,,2024-03-03 12:00:00,2024-03-03 12:00:03,否,,,\n"
    "冷萃咖啡,240304-012345678901237,已取消,49.90,0,0,0,0,49.90,49.90,1,,,3003,单瓶,\t900003,CB-1,CB,,"
    "无售后或售后取消,,,2024-03-04 12:00:00,,否,,,\n"
)


def test_pdd_orders_statuses_and_amounts(settings, tmp_path):
    rep = load_export(settings, tmp_path / "pdd.csv", PDD, "orders")
    fr = rep.files[0]
    assert (fr.preset, fr.source) == ("pdd_orders", "pdd")
    assert (rep.read, rep.inserted, rep.rejected) == (4, 4, 0)
    # paid = what the buyer paid (用户实付金额), total = 商品总价
    row = order(settings, "240301-012345678901234", "status, total_amount, paid_amount, net_amount, item_count, paid_at")
    assert row[:5] == ("paid", D("99.00"), D("89.00"), D("89.00"), 1)
    assert row[5].isoformat() == "2024-03-01T12:00:05+08:00"
    assert order(settings, "240302-012345678901235", "status, net_amount, item_count") == ("paid", D("60.00"), 2)
    assert order(settings, "240303-012345678901236") == ("refunded", D("49.90"), D("49.90"), D("0.00"))
    assert order(settings, "240304-012345678901237", "status, paid_at, net_amount") == ("cancelled", None, D("0.00"))
    assert q(settings, "SELECT sku, product_name, quantity FROM order_lines WHERE order_id = '240302-012345678901235'") == [
        ("GE-10", "挂耳咖啡", D("2.000"))]
    # no buyer id or phone in this layout: orders stay unlinked
    assert q(settings, "SELECT count(*) FROM members") == [(0,)]


# ---------------------------------------------------------------- Weimob: group-buy export, phones as Excel floats

WEIMOB_HEADER = (
    "订单编号,下单时间,订单总金额,余额抵扣金额,实收金额,商品名称,商品数量,成本价,商品留言,预约人/收货人姓名,"
    "预约人/收货人手机号,售后类型,售后状态,售后件数,退款金额,取消类型\n"
)
WEIMOB = WEIMOB_HEADER + (
    # W1: two items in one order, phone as a float
    "WM202403050001,2024-03-05 10:00:00,88.00,8.00,80.00,拼团咖啡,2,10,,张三,13800138000.0,,,,,\n"
    "WM202403050001,2024-03-05 10:00:00,88.00,8.00,80.00,拼团蛋糕,1,12,,张三,13800138000.0,,,,,\n"
    # W2: partial refund (same buyer)
    "WM202403050002,2024-03-06 11:00:00,50.00,0,50.00,拼团咖啡,1,10,,张三,13800138000,仅退款,退款成功,1,20.00,\n"
    # W3: full refund
    "WM202403050003,2024-03-07 12:00:00,30.00,0,30.00,拼团蛋糕,1,12,,李四,13900139000,退货退款,退款成功,1,30.00,\n"
    # W4: cancelled (取消类型 non-empty)
    "WM202403050004,2024-03-08 13:00:00,30.00,0,0,拼团蛋糕,1,12,,王五,13700137000,,,,,超时未支付\n"
    # W5: masked phone
    "WM202403050005,2024-03-09 14:00:00,25.00,0,25.00,拼团咖啡,1,10,,赵六,139****0000,,,,,\n"
)


def test_weimob_group_buy_export(settings, tmp_path):
    rep = load_export(settings, tmp_path / "weimob.csv", WEIMOB, "orders")
    fr = rep.files[0]
    assert (fr.preset, fr.source) == ("weimob_orders", "weimob")
    assert (rep.read, rep.inserted, rep.merged, rep.rejected) == (6, 5, 1, 0)
    assert q(settings, "SELECT count(*) FROM orders") == [(5,)]
    row = order(settings, "WM202403050001", "status, total_amount, paid_amount, net_amount, item_count, paid_at, buyer_phone")
    # no payment time column: paid_at is the order time
    assert row[:5] == ("paid", D("88.00"), D("80.00"), D("80.00"), 3)
    assert (row[5].isoformat(), row[6]) == ("2024-03-05T10:00:00+08:00", "13800138000")
    assert order(settings, "WM202403050002") == ("partially_refunded", D("50.00"), D("20.00"), D("30.00"))
    assert order(settings, "WM202403050003") == ("refunded", D("30.00"), D("30.00"), D("0.00"))
    assert order(settings, "WM202403050004", "status, paid_at, net_amount") == ("cancelled", None, D("0.00"))
    assert order(settings, "WM202403050005", "status, net_amount, member_id") == ("paid", D("25.00"), None)
    # W1 (13800138000.0) and W2 (13800138000) are one member
    owners = dict(q(settings, "SELECT order_id, member_id FROM orders"))
    assert owners["WM202403050001"] == owners["WM202403050002"] == pid(settings, "13800138000")
    assert owners["WM202403050003"] == pid(settings, "13900139000")
    assert q(settings, "SELECT count(*) FROM members") == [(3,)]  # 138…, 139…, 137… (the cancelled order's buyer)


# ---------------------------------------------------------------- phones: encrypted placeholders are not phones

ENCRYPTED = ["##密文", "$$密文", "#13800138000#", "$$13800138000$$", "##13800138000", "$13800138000", "138****1234"]


@pytest.mark.parametrize("raw", ENCRYPTED + ["13800138000-1234", "13800138000转1234"])
def test_encrypted_masked_or_virtual_phone_is_not_a_phone(raw):
    # (virtual numbers with an extension, as platforms' 号码保护 gives them, reach no one either)
    assert normalise_phone(raw) is None


def test_encrypted_phone_sql_macro_agrees():
    con = duckdb.connect()
    install_macros(con)
    got = [con.execute("SELECT siyu_phone(?), siyu_masked(?)", [r, r]).fetchone()
           for r in ENCRYPTED + ["13800138000-1234", "13800138000转1234"]]
    assert got == [(None, None)] * 6 + [(None, "138****1234")] + [(None, None)] * 2
    assert con.execute("SELECT siyu_phone('13800138000.0')").fetchone() == ("13800138000",)


# ---------------------------------------------------------------- auto-detection: every layout is its own preset

HEADERS = {
    "siyu": "order_id,member_id,phone,status,created_at,paid_at,paid_amount,refund_amount,store,channel,sku",
    "shopify_orders": "Name,Email,Financial Status,Paid at,Fulfillment Status,Currency,Subtotal,Shipping,Taxes,Total,"
                      "Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Cancelled at,"
                      "Refunded Amount,Phone,Id",
    "youzan_orders": "订单号,销售渠道,归属店铺,订单类型,订单状态,推广方式,订单来源,订单创建时间,买家付款时间,交易成功时间,"
                     "付款方式,支付流水号,商品金额合计,运费,店铺优惠合计,应收订单金额,订单实付金额,支付优惠合计,订单实收金额,"
                     "全部商品名称,商品种类数,收货人/提货人,收货人手机号/提货人手机号,买家备注,买家昵称,买家手机号,"
                     "订单退款状态,订单已退款金额,分销员,分销员",
    "taobao_orders": "订单编号,买家会员名,买家支付宝账号,买家应付货款,买家应付邮费,总金额,买家实际支付金额,订单状态,买家留言,"
                     "收货人姓名,收货地址 ,联系电话 ,联系手机,订单创建时间,订单付款时间 ,宝贝标题 ,宝贝种类 ,宝贝总数量,"
                     "店铺名称,订单关闭原因,退款金额",
    "jd_orders": JD_HEADER.strip(),
    "douyin_orders": DOUYIN_HEADER.strip(),
    "pdd_orders": PDD_HEADER.strip(),
    "weimob_orders": WEIMOB_HEADER.strip(),
}


@pytest.mark.parametrize("pid", sorted(HEADERS))
def test_fingerprints_are_unambiguous(pid):
    header = HEADERS[pid].split(",")
    matches = [p.id for p in PRESETS.values() if p.kind == "orders" and fingerprint_matches(p, header)]
    assert matches == [pid]


def test_douyin_with_pdd_like_columns_is_still_douyin():
    # Douyin has 售后状态 like PDD; extra `(元)`-less money columns must not make it PDD
    header = DOUYIN_HEADER.strip().split(",") + ["商品总价", "订单号", "商品ID", "支付方式", "优惠总金额"]
    matches = [p.id for p in PRESETS.values() if p.kind == "orders" and fingerprint_matches(p, header)]
    assert matches == ["douyin_orders"]


FILES = {
    "jd_orders": ("jd.csv", JD, "gbk", 5),  # (name, text, encoding, orders)
    "douyin_orders": ("douyin.csv", DOUYIN, "utf-8-sig", 5),
    "pdd_orders": ("pdd.csv", PDD, "utf-8", 4),
    "weimob_orders": ("weimob.csv", WEIMOB, "utf-8", 5),
}


@pytest.mark.parametrize("pid", sorted(FILES))
def test_cli_auto_detects_and_force_reload_is_unchanged(cli, settings, tmp_path, pid):
    name, text, encoding, n_orders = FILES[pid]
    f = write(tmp_path / name, text, encoding)
    rejects = 1 if pid == "jd_orders" else 0  # JD's 合计 row
    data = json.loads(cli("load", "orders", f, "--format", "json", "--max-rejects", rejects).stdout)
    assert data["files"][0]["preset"] == pid
    rows = data["read"] - rejects
    assert (data["inserted"] + data["merged"], data["updated"], data["unchanged"], data["rejected"]) == (rows, 0, 0, rejects)
    assert data["inserted"] == n_orders
    assert q(settings, "SELECT count(*) FROM orders")[0][0] == n_orders
    again = json.loads(cli("load", "orders", f, "--force", "--format", "json", "--max-rejects", rejects).stdout)
    assert (again["read"], again["inserted"], again["updated"], again["unchanged"]) == (data["read"], 0, 0, n_orders)
    assert q(settings, "SELECT count(*) FROM orders")[0][0] == n_orders


def test_example_files_are_recognised(cli, settings):
    """Every example export (old presets and new) is auto-detected as the preset its name says."""
    want = {"siyu_orders.csv": "siyu", "taobao_orders_gbk.csv": "taobao_orders", "youzan_orders.csv": "youzan_orders",
            "jd_orders_gbk.csv": "jd_orders", "douyin_orders.csv": "douyin_orders", "pdd_orders.csv": "pdd_orders",
            "weimob_orders.csv": "weimob_orders"}
    files = sorted(EXAMPLES.glob("*"))
    assert set(want) <= {f.name for f in files}  # (other example files may join; they are loaded too)
    data = json.loads(cli("load", "orders", *files, "--format", "json").stdout)
    got = {Path(f["path"]).name: f["preset"] for f in data["files"]}
    assert {name: got[name] for name in want} == want
    assert data["rejected"] == 0


def test_orders_from_all_four_link_to_an_existing_member_by_phone(settings, tmp_path):
    """A member known from WeCom (external_userid + phone) owns the JD, Weimob and Douyin orders with that phone."""
    members = write(tmp_path / "wecom.csv", "客户名称,添加人,添加人账号,添加时间,手机,外部联系人ID\n"
                                             "张三,小美,guide_mei,2024-01-06 09:00,13800138000,wmAAA\n")
    load_files(settings, "members", [members])
    (mid,) = q(settings, "SELECT member_id FROM members")[0]
    assert mid == "wx:wmAAA"
    douyin = DOUYIN.replace("赵六,13900139000", "赵六,13800138000")
    files = [write(tmp_path / "jd.csv", JD, "gbk"), write(tmp_path / "weimob.csv", WEIMOB),
             write(tmp_path / "douyin.csv", douyin, "utf-8-sig")]
    load_files(settings, "orders", files, max_rejects=1)
    owned = q(settings, "SELECT source, order_id FROM orders WHERE member_id = ? ORDER BY 1, 2", [mid])
    assert owned == [("douyin", "6917000000000000031"), ("jd", "230000000001"), ("jd", "230000000003"),
                     ("weimob", "WM202403050001"), ("weimob", "WM202403050002")]
    assert q(settings, "SELECT count(*) FROM members WHERE phone = '13800138000'") == [(1,)]


def test_douyin_per_sub_order_amounts_are_summed(settings, tmp_path):
    # Settlement scripts treat 订单应付金额 as each 子订单's own revenue (EXPORTS.md §1.8 sources), i.e.
    # 59.80 + 19.90 here; the order paid 79.70.
    text = ("主订单编号,子订单编号,选购商品,商品数量,商品单价,订单应付金额,订单提交时间,支付完成时间,订单状态\n"
            '"\t6917000000000000061","\t6917000000000000062",拿铁,2,29.90,59.80,2024-03-16 08:00:00,2024-03-16 08:00:05,已完成\n'
            '"\t6917000000000000061","\t6917000000000000063",美式,1,19.90,19.90,2024-03-16 08:00:00,2024-03-16 08:00:05,已完成\n')
    load_files(settings, "orders", [write(tmp_path / "douyin_split.csv", text, "utf-8-sig")])
    assert order(settings, "6917000000000000061", "paid_amount, net_amount, item_count") == (D("79.70"), D("79.70"), 3)
    # the same file again, plus one sub-order repeated: each 子订单 still counts once
    again = text + ('"\t6917000000000000061","\t6917000000000000063",美式,1,19.90,19.90,2024-03-16 08:00:00,'
                    '2024-03-16 08:00:05,已完成\n')
    rep = load_files(settings, "orders", [write(tmp_path / "douyin_again.csv", again, "utf-8-sig")])
    assert (rep.inserted, rep.updated) == (0, 0)
    assert order(settings, "6917000000000000061", "paid_amount, net_amount") == (D("79.70"), D("79.70"))


def test_weimob_xlsx_numeric_cells(settings, tmp_path):
    """Weimob exports are workbooks: phones, ids and amounts arrive as numeric cells (EXPORTS.md §1.5)."""
    import xlsxwriter

    path = tmp_path / "weimob.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    ws.write_row(0, 0, WEIMOB_HEADER.strip().split(","))
    ws.write_row(1, 0, [20240305000101, "2024-03-05 10:00:00", 88, 8, 80, "拼团咖啡", 2, 10, "", "张三", 13800138000,
                        "", "", "", "", ""])
    ws.write_row(2, 0, [20240305000102, "2024-03-06 11:00:00", 50, 0, 50, "拼团蛋糕", 1, 12, "", "李四", 13900139000,
                        "仅退款", "退款成功", 1, 12.5, ""])
    wb.close()
    rep = load_files(settings, "orders", [path])
    fr = rep.files[0]
    assert (fr.preset, fr.format) == ("weimob_orders", "xlsx")
    assert (rep.read, rep.inserted, rep.rejected) == (2, 2, 0)
    assert order(settings, "20240305000101", "status, paid_amount, net_amount, item_count, member_id") == (
        "paid", D("80.00"), D("80.00"), 2, pid(settings, "13800138000"))
    assert order(settings, "20240305000102") == ("partially_refunded", D("50.00"), D("12.50"), D("37.50"))
