"""siyu load: presets, encodings, messy values, rejects, idempotency, identity (library level)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from siyu_cli.ingest import expand_paths, load_files
from siyu_cli.ingest.values import normalise_phone
from store_helpers import load_export, order, pid, q, write


SIYU_ORDERS = (
    "order_id,member_id,phone,status,paid_at,paid_amount,refund_amount\n"
    '"=""3521234567890123456""",M1,+86 138-0013-8000,paid,2024/3/5 14:03,"¥1,234.50",\n'
    '"\t6917926768823643751",M2,138****1234,refunded,2024年3月5日,99元,\n'
    "A3,,13900139000,paid,not a date,10,\n"
    "'A4,M1,,partially_refunded,1709618580,100,30\n"
    "A5,M3,,交易关闭,,50,\n"
    "合计,,,,,1493.5,\n"
)


def test_siyu_orders_messy_values_and_rejects(settings, tmp_path):
    rep = load_export(settings, tmp_path / "orders.csv", SIYU_ORDERS, "orders")
    fr = rep.files[0]
    assert (fr.preset, fr.encoding, fr.status) == ("siyu", "utf-8", "loaded")
    assert (rep.read, rep.inserted, rep.updated, rep.unchanged, rep.rejected) == (6, 4, 0, 0, 2)
    assert rep.exceeded  # default max_rejects is 0
    # ids survive: no scientific notation, Excel's ="…", tab and apostrophe prefixes removed
    assert order(settings, "3521234567890123456") == ("paid", Decimal("1234.50"), Decimal("0.00"), Decimal("1234.50"))
    assert order(settings, "6917926768823643751") == ("refunded", Decimal("99.00"), Decimal("99.00"), Decimal("0.00"))
    assert order(settings, "A4") == ("partially_refunded", Decimal("100.00"), Decimal("30.00"), Decimal("70.00"))
    # closed without payment = cancelled, contributes nothing
    assert order(settings, "A5", "status, paid_at, net_amount") == ("cancelled", None, Decimal("0.00"))
    paid = order(settings, "3521234567890123456", "paid_at, buyer_phone")
    assert paid[0].isoformat() == "2024-03-05T14:03:00+08:00" and paid[1] == "13800138000"
    assert order(settings, "A4", "paid_at")[0].isoformat() == "2024-03-05T14:03:00+08:00"  # epoch seconds
    assert order(settings, "6917926768823643751", "paid_at, buyer_phone")[0].isoformat() == "2024-03-05T00:00:00+08:00"
    # masked phone is never a key: M2 exists through its member id, with no phone identity
    assert q(settings, "SELECT id_type, id_value FROM member_identities WHERE member_id = 'M2'") == [("source_member_id", "M2")]
    rejects = q(settings, 'SELECT line, "column", reason, raw FROM rejects ORDER BY line')
    assert rejects == [
        (4, "paid_at", "BAD_DATE", "A3,,13900139000,paid,not a date,10,"),
        (7, None, "SUMMARY_ROW", "合计,,,,,1493.5,"),
    ]


def test_reader_rejects_shift_line_numbers(settings, tmp_path):
    text = "order_id,paid_amount\nB1,1\nB2,2,extra\nB3,abc\nB4,4\n"
    rep = load_export(settings, tmp_path / "o.csv", text, "orders", max_rejects=5)
    assert (rep.read, rep.inserted, rep.rejected) == (4, 2, 2)
    assert not rep.exceeded
    got = q(settings, 'SELECT line, reason FROM rejects ORDER BY line')
    assert got == [(3, "TOO_MANY_COLUMNS"), (4, "BAD_AMOUNT")]


TAOBAO_HEADER = ("订单编号,买家会员名,买家应付货款,总金额,买家实际支付金额,订单状态,收货人姓名,\"联系电话 \",联系手机,"
                 "订单创建时间,\"订单付款时间 \",\"宝贝标题 \",宝贝总数量,店铺名称,订单关闭原因,退款金额\n")


def test_taobao_gbk_with_title_row(settings, tmp_path):
    rows = [
        "淘宝订单导出 2024-03-01至2024-03-31\n",
        TAOBAO_HEADER,
        '="3521234567890123456",tb_nick1,100,100,￥100.00,交易成功,张三,,\'13800138000,2024/3/1 10:00,2024/3/1 10:01,咖啡,2,旗舰店,,30\n',
        '="3521234567890123457",tb_nick2,50,50,￥50.00,交易关闭,李四,,13900139000,2024/3/2 10:00,,茶,1,旗舰店,买家取消,0\n',
        '="3521234567890123458",tb_nick3,80,80,￥80.00,交易关闭,王五,,13700137000,2024/3/3 10:00,2024/3/3 10:05,茶,1,旗舰店,退款,80\n',
        '="3521234567890123459",tb_nick4,20,20,￥20.00,"买家已付款，等待卖家发货",赵六,,13600136000,2024/3/4 10:00,2024/3/4 10:02,茶,1,旗舰店,,\n',
    ]
    rep = load_export(settings, tmp_path / "ExportOrderList.csv", "".join(rows), "orders", "gbk")
    fr = rep.files[0]
    assert (fr.preset, fr.encoding, fr.source) == ("taobao_orders", "gb18030", "taobao")
    assert (rep.read, rep.inserted, rep.rejected) == (4, 4, 0)
    assert order(settings, "3521234567890123456") == ("partially_refunded", Decimal("100.00"), Decimal("30.00"), Decimal("70.00"))
    assert order(settings, "3521234567890123457") == ("cancelled", Decimal("50.00"), Decimal("0.00"), Decimal("0.00"))
    assert order(settings, "3521234567890123458") == ("refunded", Decimal("80.00"), Decimal("80.00"), Decimal("0.00"))
    assert order(settings, "3521234567890123459") == ("paid", Decimal("20.00"), Decimal("0.00"), Decimal("20.00"))
    assert order(settings, "3521234567890123456", "buyer_ref, buyer_phone, store, item_count") == (
        "tb_nick1", "13800138000", "旗舰店", 2)


def test_forced_encoding(settings, tmp_path):
    rep = load_export(settings, tmp_path / "o.csv", "订单号,订单实付金额,订单状态,买家手机号\nY1,10,交易完成,13800138000\n", "orders", "gbk", encoding="gbk")
    assert rep.files[0].encoding == "gb18030" and rep.files[0].preset == "youzan_orders"
    assert order(settings, "Y1", "status, member_id") == ("paid", pid(settings, "13800138000"))


def test_youzan_orders_bom_tab_phone(settings, tmp_path):
    text = (
        "订单号,销售渠道,归属店铺,订单状态,订单创建时间,买家付款时间,商品金额合计,订单实付金额,买家昵称,买家手机号,"
        "专属导购,订单退款状态,订单已退款金额,分销员,分销员\n"
        "E20240305000001,小程序,静安店,交易完成,2024-03-05 14:00:00,2024-03-05 14:03:00,39.00,35.00,小王,\"\t13800138000\",guide_a,,0,x,y\n"
        "E20240305000002,小程序,静安店,待付款,2024-03-05 15:00:00,,20.00,20.00,小李,\"\t13900139000\",guide_a,,,x,y\n"
        "E20240305000003,门店,徐汇店,交易关闭,2024-03-05 16:00:00,2024-03-05 16:01:00,60.00,60.00,小王,\"\t13800138000\",guide_b,退款成功,60.00,x,y\n"
    )
    rep = load_export(settings, tmp_path / "youzan.csv", text, "orders", "utf-8-sig")
    fr = rep.files[0]
    assert (fr.preset, fr.encoding) == ("youzan_orders", "utf-8-sig")
    assert (rep.inserted, rep.rejected) == (3, 0)
    assert order(settings, "E20240305000001", "status, buyer_phone, member_id, store, guide_userid") == (
        "paid", "13800138000", pid(settings, "13800138000"), "静安店", "guide_a")
    assert order(settings, "E20240305000002", "status, paid_at, net_amount") == ("unpaid", None, Decimal("0.00"))
    assert order(settings, "E20240305000003") == ("refunded", Decimal("60.00"), Decimal("60.00"), Decimal("0.00"))
    # one buyer, one member
    assert q(settings, "SELECT count(DISTINCT member_id) FROM orders") == [(2,)]


SHOPIFY = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Currency,Subtotal,Shipping,Taxes,Total,Created at,"
    "Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Cancelled at,Refunded Amount,Phone,Id\n"
    "#1001,ann@example.com,paid,2025-10-07 09:50:26 +0200,fulfilled,CNY,60.00,0,0,60.00,2025-10-07 09:50:00 +0200,"
    "2,Latte,20.00,LAT-1,,0,'+8613800138000,5550001\n"
    "#1001,ann@example.com,,,,,,,,,2025-10-07 09:50:00 +0200,1,Mocha,20.00,MOC-1,,,,5550001\n"
    "#1002,bob@example.com,voided,,,CNY,30.00,0,0,30.00,2025-10-08 10:00:00 +0200,1,Tea,30.00,TEA-1,"
    "2025-10-08 11:00:00 +0200,0,,5550002\n"
    "#1003,ann@example.com,partially_refunded,2025-10-09 10:00:00 +0200,fulfilled,CNY,50.00,0,0,50.00,"
    "2025-10-09 10:00:00 +0200,1,Cake,50.00,CAK-1,,12.50,,5550003\n"
)


def test_shopify_orders_line_items(settings, tmp_path):
    rep = load_export(settings, tmp_path / "orders_export.csv", SHOPIFY, "orders")
    assert rep.files[0].preset == "shopify_orders"
    # 4 rows → 3 orders: 3 inserted, the 2nd line of one order merged into it
    assert (rep.read, rep.inserted, rep.merged, rep.rejected) == (4, 3, 1, 0)
    assert q(settings, "SELECT count(*) FROM orders") == [(3,)]
    row = order(settings, "#1001", "status, paid_amount, item_count, paid_at, buyer_phone")
    assert row[:3] == ("paid", Decimal("60.00"), 3)
    assert row[3].isoformat() == "2025-10-07T15:50:26+08:00" and row[4] == "13800138000"
    assert order(settings, "#1002", "status, net_amount") == ("cancelled", Decimal("0.00"))
    assert order(settings, "#1003") == ("partially_refunded", Decimal("50.00"), Decimal("12.50"), Decimal("37.50"))
    lines = q(settings, "SELECT order_id, line_no, sku, quantity, amount FROM order_lines ORDER BY order_id, line_no")
    assert lines[:2] == [("#1001", "1", "LAT-1", Decimal("2.000"), Decimal("40.00")),
                         ("#1001", "2", "MOC-1", Decimal("1.000"), Decimal("20.00"))]
    assert len(lines) == 4
    # the same buyer (email) on two orders is one member
    assert q(settings, "SELECT count(DISTINCT member_id) FROM orders WHERE buyer_ref = 'ann@example.com'") == [(1,)]


def test_shopify_customers_xlsx(settings, tmp_path):
    import xlsxwriter

    path = tmp_path / "customers_export.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    header = ["Customer ID", "First Name", "Last Name", "Email", "Accepts Email Marketing", "Phone",
              "Total Spent", "Total Orders", "Tags"]
    ws.write_row(0, 0, header)
    ws.write_row(1, 0, ["'8779761975521", "Ann", "Lee", "ann@example.com", "yes", "'+8613800138000", 120, 3, "vip, coffee"])
    ws.write_row(2, 0, ["'8779761975522", "Bob", "", "bob@example.com", "no", "", 0, 0, ""])
    wb.close()
    rep = load_files(settings, "members", [path])
    fr = rep.files[0]
    assert (fr.preset, fr.format) == ("shopify_customers", "xlsx")
    assert (rep.read, rep.inserted, rep.rejected) == (2, 2, 0)
    got = q(settings, "SELECT member_id, name, phone, email FROM members ORDER BY member_id")
    assert got == [("8779761975521", "Ann Lee", "13800138000", "ann@example.com"),
                   ("8779761975522", "Bob", None, "bob@example.com")]
    assert q(settings, "SELECT tag FROM member_tags WHERE member_id = '8779761975521' ORDER BY tag") == [("coffee",), ("vip",)]


YOUZAN_MEMBERS = (
    "客户姓名,客户昵称,客户手机号,客户生日,客户性别,标签,是否会员,客户积分,消费次数,成为客户时间,成为会员店铺,导购员,\n"
    "张三,zs,13800138000,1990年5月1日,男,咖啡控,是,120,3,2024/1/5 10:00,静安店,小美,\n"
    "李四,ls,186******05,,女,,否,0,0,2024/2/5 10:00,徐汇店,,\n"
    "王五,ww,,,,,否,0,0,2024/2/6 10:00,徐汇店,,\n"
)


def test_youzan_members_masked_phone(settings, tmp_path):
    f = write(tmp_path / "customers.csv", YOUZAN_MEMBERS)
    rep = load_files(settings, "members", [f])
    assert rep.files[0].preset == "youzan_members"
    assert (rep.read, rep.inserted, rep.rejected) == (3, 3, 0)
    zs = q(settings, "SELECT member_id, gender, birthday::VARCHAR, points, store, guide_name FROM members WHERE name = '张三'")
    assert zs == [(pid(settings, "13800138000"), "male", "1990-05-01", 120, "静安店", "小美")]
    ls = q(settings, "SELECT member_id, phone, phone_masked FROM members WHERE name = '李四'")
    assert ls[0][0].startswith("h:") and ls[0][1:] == (None, "186******05")
    # the masked phone is never an identity
    assert q(settings, "SELECT count(*) FROM member_identities WHERE id_value LIKE '%*%'") == [(0,)]
    assert q(settings, "SELECT tag_group, tag FROM member_tags") == [("", "咖啡控")]
    # idempotent for anonymous members too
    rep2 = load_files(settings, "members", [f], force=True)
    assert (rep2.inserted, rep2.updated, rep2.unchanged) == (0, 0, 3)


WECOM = (
    "客户名称,描述,添加人,添加人账号,添加人所属部门,添加时间,来源,手机,外部联系人ID,标签组(会员等级),标签组(兴趣)\n"
    "张三,常客,小美,guide_mei,静安店,2024-01-06 09:00,扫描二维码,13800138000,wmAAA,金卡,咖啡;甜品\n"
    "张三,,小刚,guide_gang,徐汇店,2024-01-03 09:00,搜索手机号,,wmAAA,,\n"
    "Tom,,小美,guide_mei,静安店,2024-02-01 09:00,扫描二维码,,wmBBB,,茶\n"
)


def test_wecom_customers_merge_identity(settings, tmp_path):
    load_files(settings, "members", [write(tmp_path / "customers.csv", YOUZAN_MEMBERS)])
    rep = load_files(settings, "members", [write(tmp_path / "wecom.csv", WECOM)])
    fr = rep.files[0]
    assert fr.preset == "wecom_customers"
    # 张三 (2 rows) matches the Youzan member by phone → updated; Tom is new
    assert (rep.read, rep.inserted, rep.updated, rep.unchanged, rep.merged) == (3, 1, 1, 0, 1)
    zs = q(settings, "SELECT member_id, external_userid, join_at::DATE::VARCHAR, guide_userid FROM members WHERE name = '张三'")
    assert zs == [(pid(settings, "13800138000"), "wmAAA", "2024-01-03", "guide_gang")]
    assert q(settings, "SELECT member_id FROM member_identities WHERE id_type='external_userid' AND id_value='wmAAA'") == [
        (pid(settings, "13800138000"),)]
    assert q(settings, "SELECT member_id FROM members WHERE name = 'Tom'") == [("wx:wmBBB",)]
    contacts = q(settings, "SELECT external_userid, staff_userid, member_id FROM wecom_contacts ORDER BY 1, 2")
    assert contacts == [("wmAAA", "guide_gang", pid(settings, "13800138000")), ("wmAAA", "guide_mei", pid(settings, "13800138000")),
                        ("wmBBB", "guide_mei", "wx:wmBBB")]
    tags = q(settings, "SELECT tag_group, tag FROM member_tags WHERE member_id = ? ORDER BY 1, 2", [pid(settings, "13800138000")])
    assert tags == [("", "咖啡控"), ("会员等级", "金卡"), ("兴趣", "咖啡"), ("兴趣", "甜品")]
    assert q(settings, "SELECT userid, name FROM staff ORDER BY 1") == [("guide_gang", "小刚"), ("guide_mei", "小美")]


def test_orders_link_to_members_in_priority_order(settings, tmp_path):
    load_files(settings, "members", [write(tmp_path / "wecom.csv", WECOM)])
    # the order names the buyer by unionid U1 (unknown) and phone of 张三 → matched by phone
    text = "order_id,unionid,phone,paid_amount,paid_at\nO1,U1,13800138000,10,2024-03-01\nO2,,13999999999,5,2024-03-01\n"
    load_files(settings, "orders", [write(tmp_path / "o.csv", text)])
    assert order(settings, "O1", "member_id") == ("wx:wmAAA",)
    # the new id (unionid) now points at the same person
    assert q(settings, "SELECT member_id FROM member_identities WHERE id_type='unionid' AND id_value='U1'") == [("wx:wmAAA",)]
    # an unknown buyer becomes a bare member keyed by phone
    assert order(settings, "O2", "member_id") == (pid(settings, "13999999999"),)


def test_idempotent_and_update_by_natural_key(settings, tmp_path):
    first = write(tmp_path / "d1.csv", "order_id,status,paid_at,paid_amount\nX1,paid,2024-03-01,10\nX2,paid,2024-03-02,20\n")
    rep = load_files(settings, "orders", [first])
    assert (rep.inserted, rep.files[0].status) == (2, "loaded")
    before = q(settings, "SELECT * FROM orders ORDER BY order_id")
    again = load_files(settings, "orders", [first])
    assert again.files[0].status == "skipped" and again.read == 0
    assert q(settings, "SELECT * FROM orders ORDER BY order_id") == before
    forced = load_files(settings, "orders", [first], force=True)
    assert (forced.read, forced.inserted, forced.updated, forced.unchanged) == (2, 0, 0, 2)
    assert q(settings, "SELECT * FROM orders ORDER BY order_id") == before
    # a newer, overlapping export: X2 got refunded, X3 is new
    newer = write(tmp_path / "d2.csv",
                  "order_id,status,paid_at,paid_amount,refund_amount\nX2,refunded,2024-03-02,20,20\nX3,paid,2024-03-03,30,\n"
                  "X1,paid,2024-03-01,10,\n")
    rep3 = load_files(settings, "orders", [newer])
    assert (rep3.read, rep3.inserted, rep3.updated, rep3.unchanged) == (3, 1, 1, 1)
    assert order(settings, "X2") == ("refunded", Decimal("20.00"), Decimal("20.00"), Decimal("0.00"))
    assert q(settings, "SELECT count(*) FROM orders") == [(3,)]
    log = q(settings, "SELECT status, file_sha256, inserted, updated, unchanged FROM load_log ORDER BY started_at")
    assert [r[0] for r in log] == ["loaded", "skipped", "loaded", "loaded"]
    assert log[0][1] == log[1][1] and len(log[0][1]) == 64


def test_duplicate_rows_in_one_file_last_wins(settings, tmp_path):
    rep = load_export(settings, tmp_path / "d.csv", "order_id,status,paid_amount\nD1,paid,10\nD1,refunded,10\n", "orders")
    assert (rep.read, rep.inserted, rep.merged) == (2, 1, 1)
    assert order(settings, "D1", "status") == ("refunded",)


def test_groups_and_group_members_parquet(settings, tmp_path):
    import polars as pl

    load_files(settings, "members", [write(tmp_path / "wecom.csv", WECOM)])
    groups = write(tmp_path / "groups.csv",
                   "群ID,群名称,群主,群主账号,创建时间,群人数,群公告\n"
                   "wrg1,静安咖啡1群,小美,guide_mei,2024-01-01 10:00,200,每周三会员日\n"
                   "wrg2,徐汇茶饮群,小刚,guide_gang,2024-01-02 10:00,1,人\n")
    rep = load_files(settings, "groups", [groups])
    assert (rep.files[0].preset, rep.inserted, rep.rejected) == ("wecom_groups", 2, 0)
    assert q(settings, "SELECT name, owner_userid, member_count FROM groups WHERE group_id='wrg1'") == [
        ("静安咖啡1群", "guide_mei", 200)]
    members = tmp_path / "members.parquet"
    pl.DataFrame({"群ID": ["wrg1", "wrg1", "wrg3"], "成员ID": ["wmAAA", "wmZZZ", "wmBBB"],
                  "成员类型": ["外部联系人"] * 3, "入群时间": ["2024-01-05 10:00", "2024-01-06 10:00", "2024-02-01"]}
                 ).write_parquet(members)
    rep2 = load_files(settings, "groups", [members])
    assert (rep2.files[0].preset, rep2.files[0].format, rep2.inserted) == ("wecom_group_members", "parquet", 3)
    gm = q(settings, "SELECT group_id, external_userid, member_id FROM group_members ORDER BY 1, 2")
    assert gm == [("wrg1", "wmAAA", "wx:wmAAA"), ("wrg1", "wmZZZ", None),
                  ("wrg3", "wmBBB", "wx:wmBBB")]
    # a group only named by a member list is created
    assert q(settings, "SELECT count(*) FROM groups WHERE group_id = 'wrg3'") == [(1,)]
    # a later customer export that brings wmZZZ links the membership
    load_files(settings, "members", [write(tmp_path / "w2.csv", WECOM.replace("wmBBB", "wmZZZ").replace("Tom", "Zed"))])
    assert q(settings, "SELECT member_id FROM group_members WHERE external_userid = 'wmZZZ'") == [("wx:wmZZZ",)]


def test_custom_mapping_from_siyu_toml(settings, workspace, tmp_path):
    from siyu_cli.config import load_settings

    cfg = workspace / "siyu.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + """
[mappings.my_pos]
kind = "orders"
source = "pos"
[mappings.my_pos.columns]
order_id = ["单据号", "小票号"]
paid_at = "销售时间"
paid_amount = "实收金额"
phone = "会员手机"
status = "单据状态"
[mappings.my_pos.statuses]
"已结账" = "paid"
"作废单" = "cancelled"
""", encoding="utf-8")
    s = load_settings(workspace)
    rep = load_export(s, tmp_path / "pos.csv", "小票号,销售时间,实收金额,会员手机,单据状态\nP1,2024-03-01 12:00,18.5,13800138000,已结账\nP2,2024-03-01 13:00,9,,作废单\n", "orders")
    assert (rep.files[0].preset, rep.files[0].source, rep.inserted) == ("my_pos", "pos", 2)
    assert q(s, "SELECT order_id, status, source FROM orders ORDER BY 1") == [("P1", "paid", "pos"), ("P2", "cancelled", "pos")]


def test_expand_paths_glob(tmp_path):
    for n in ("a.csv", "b.csv", "c.txt"):
        (tmp_path / n).write_text("x\n")
    got = expand_paths([str(tmp_path / "*.csv"), str(tmp_path / "a.csv")])
    assert [p.name for p in got] == ["a.csv", "b.csv"]


@pytest.mark.parametrize("raw, want", [
    ("+86 138-0013-8000", "13800138000"), ("'13800138000", "13800138000"), ("13800138000.0", "13800138000"),
    ("138****1234", None), ("12345", None), ("0086 13800138000", "13800138000"),
])
def test_phone_normalisation(raw, want):
    assert normalise_phone(raw) == want


def test_examples_load(settings):
    root = Path(__file__).resolve().parents[2] / "examples" / "exports"
    for kind in ("members", "orders", "groups"):
        files = sorted((root / kind).glob("*"))
        assert files, kind
        rep = load_files(settings, kind, files)
        assert rep.rejected == 0, [f.to_dict() for f in rep.files]
        assert rep.read == rep.inserted + rep.updated + rep.unchanged + rep.merged > 0
    assert q(settings, "SELECT count(*) FROM orders WHERE member_id IS NOT NULL")[0][0] > 0


def test_identity_chain_within_one_file(settings, tmp_path):
    # row 1 and 2 share a phone, row 2 and 3 share a unionid: one person, named by the strongest id
    text = ("member_id,phone,unionid,external_userid,name\n"
            "M9,13800000009,,,a\n,13800000009,U9,,b\n,,U9,wx9,c\n,13800000008,,,d\n")
    rep = load_files(settings, "members", [write(tmp_path / "m.csv", text)])
    assert (rep.read, rep.inserted, rep.merged) == (4, 2, 2)
    assert q(settings, "SELECT member_id, name FROM members ORDER BY 1") == [("M9", "c"), (pid(settings, "13800000008"), "d")]
    ids = q(settings, "SELECT id_type, id_value FROM member_identities WHERE member_id = 'M9' ORDER BY 1, 2")
    assert ids == [("external_userid", "wx9"), ("phone", "13800000009"), ("source_member_id", "M9"), ("unionid", "U9")]


def test_siyu_groups_utf16_tags(settings, tmp_path):
    text = ("group_id\tname\towner_userid\tstore\tcity\ttags\tcreated_at\tmember_count\n"
            "g1\t静安咖啡群\tguide_mei\t静安店\t上海\t咖啡,会员日\t2024-01-01\t180\n"
            "g2\t徐汇茶饮群\tguide_gang\t徐汇店\t上海\t\t2024年1月2日\t95\n")
    rep = load_export(settings, tmp_path / "groups.tsv", text, "groups", "utf-16")
    fr = rep.files[0]
    assert (fr.preset, fr.encoding, rep.inserted, rep.rejected) == ("siyu_groups", "utf-16", 2, 0)
    got = q(settings, "SELECT group_id, owner_userid, tags, created_at::DATE::VARCHAR, member_count FROM groups ORDER BY 1")
    assert got == [("g1", "guide_mei", ["会员日", "咖啡"], "2024-01-01", 180),
                   ("g2", "guide_gang", None, "2024-01-02", 95)]
    # a newer list changes one group's owner: updated by group_id, the other unchanged
    rep2 = load_export(settings, tmp_path / "groups2.tsv", text.replace("guide_gang", "guide_li"), "groups", "utf-16")
    assert (rep2.inserted, rep2.updated, rep2.unchanged) == (0, 1, 1)


def test_line_numbers_below_a_title_row(settings, tmp_path):
    text = ("订单导出 2024-03\n"
            "order_id,paid_amount,paid_at\n"
            "T1,1,2024-03-01\n"
            "T2,2,2024-03-01,extra\n"
            "T3,abc,2024-03-01\n")
    rep = load_files(settings, "orders", [write(tmp_path / "t.csv", text)], max_rejects=9)
    assert (rep.read, rep.inserted, rep.rejected) == (3, 1, 2)
    assert q(settings, "SELECT line, reason FROM rejects ORDER BY line") == [(4, "TOO_MANY_COLUMNS"), (5, "BAD_AMOUNT")]
