"""The demo generator: deterministic, real export layouts and encodings, overlapping identities, known bad rows.

Expected headers are copied from /work/shared/EXPORTS.md (not from the generator), and the checks
re-read the written bytes with a small independent reader instead of trusting the generator's objects.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest

from siyu_cli.demo.generator import MANIFEST, build, generate, generate_data

TODAY = date(2026, 11, 25)

# ---- headers as EXPORTS.md lists them -------------------------------------------------------------
YOUZAN_MEMBERS = (
    "客户姓名,客户昵称,客户手机号,客户生日,客户性别,标签,是否会员,成长值,免费等级,付费等级,权益卡,客户积分,客户储值余额,消费次数,消费金额,"
    "累计退款金额,累计退款订单数,笔单价,上次消费时间,分销员,导购员,企微好友,来源渠道,来源方式,成为客户时间,成为会员时间,成为会员店铺,"
    "公众号,公众号关注时间,最近浏览时间,微信地域,所属区域,指定时间消费次数,指定时间消费金额,"
).split(",")
YOUZAN_ORDERS = (
    "订单号,销售渠道,归属店铺,订单类型,订单状态,推广方式,订单来源,订单创建时间,买家付款时间,交易成功时间,付款方式,支付流水号,"
    "商品金额合计,运费,店铺优惠合计,应收订单金额,订单实付金额,支付优惠合计,订单实收金额,订单抵用积分数,店铺优惠方式,支付优惠方式,"
    "全部商品名称,商品种类数,订单配送方式,同城送达时间/提货时间,收货人省份,收货人城市,收货人地区,详细收货地址/提货地址,收货人/提货人,"
    "收货人手机号/提货人手机号,买家备注,订单星级,买家昵称,买家是否会员,买家手机号,下单网点,收银员,分销员,销售导购,专属导购,"
    "订单退款状态,订单已退款金额,商家订单备注,桌号,挂账主体,挂账手机号,团长订单,订单风险标签,分销员,分销员手机号,分销员所属店铺,"
    "分销员所属团队,分销员所属分组,分销员等级,订单佣金类型,订单佣金金额,订单下级卖货提成类型,订单下级卖货提成金额"
).split(",")
TMALL_ORDERS = [
    "订单编号", "买家会员名", "买家支付宝账号", "买家应付货款", "买家应付邮费", "买家支付积分", "总金额", "返点积分", "买家实际支付金额",
    "买家实际支付积分", "订单状态", "买家留言", "收货人姓名", "收货地址 ", "运送方式", "联系电话 ", "联系手机", "订单创建时间", "订单付款时间 ",
    "宝贝标题 ", "宝贝种类 ", "物流单号 ", "物流公司", "订单备注", "宝贝总数量", "店铺Id", "店铺名称", "订单关闭原因", "卖家服务费",
    "买家服务费", "发票抬头", "是否手机订单", "分阶段订单信息", "特权订金订单id", "是否上传合同照片", "是否上传小票", "是否代付", "定金排名",
    "修改后的sku", "修改后的收货地址", "异常信息", "天猫卡券抵扣", "集分宝抵扣", "是否是O2O交易", "新零售交易类型", "新零售导购门店名称",
    "新零售导购门店id", "新零售发货门店名称", "新零售发货门店id", "退款金额", "预约门店", "确认收货时间", "打款商家金额", "含应开票给个人的个人红包",
]
SHOPIFY_ORDERS = (
    "Name, Email, Financial Status, Paid at, Fulfillment Status, Fulfilled at, Accepts Marketing, Currency, Subtotal, Shipping, Taxes, "
    "Total, Discount Code, Discount Amount, Shipping Method, Created at, Lineitem quantity, Lineitem name, Lineitem price, "
    "Lineitem compare at price, Lineitem sku, Lineitem requires shipping, Lineitem taxable, Lineitem fulfillment status, Billing Name, "
    "Billing Street, Billing Address1, Billing Address2, Billing Company, Billing City, Billing Zip, Billing Province, Billing Country, "
    "Billing Phone, Shipping Name, Shipping Street, Shipping Address1, Shipping Address2, Shipping Company, Shipping City, Shipping Zip, "
    "Shipping Province, Shipping Country, Shipping Phone, Notes, Note Attributes, Cancelled at, Payment Method, Payment Reference, "
    "Refunded Amount, Vendor, Outstanding Balance, Employee, Location, Device ID, Id, Tags, Risk Level, Source, Lineitem discount, "
    "Tax 1 Name, Tax 1 Value, Tax 2 Name, Tax 2 Value, Tax 3 Name, Tax 3 Value, Tax 4 Name, Tax 4 Value, Tax 5 Name, Tax 5 Value, "
    "Phone, Receipt Number, Duties, Billing Province Name, Shipping Province Name, Payment ID, Payment Terms Name, "
    "Next Payment Due At, Payment References"
).split(", ")
# WeCom customer export (客户名称 … 电话 from EXPORTS.md §1.10) plus the API ids and two tag-group columns
WECOM_CUSTOMERS_REQUIRED = {"客户名称", "外部联系人ID", "UnionID", "描述", "添加人", "添加人账号", "添加人所属部门", "添加时间", "来源",
                            "手机", "企业", "邮箱", "地址", "职务", "电话"}

ENCODING = {
    "youzan_members.csv": "gbk",
    "wecom_customers.csv": "utf-8-sig",
    "youzan_orders.csv": "utf-8",
    "tmall_orders.csv": "gbk",
    "shopify_orders.csv": "utf-8",
    "wecom_groups.csv": "utf-8-sig",
    "wecom_group_members.csv": "utf-8-sig",
    "miniprogram_members.csv": "utf-8",
}


def read(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(ENCODING[path.name]), newline="")))


def rows_as_dicts(path: Path) -> list[tuple[int, dict]]:
    rows = read(path)
    header = [h.strip() for h in rows[0]]
    return [(n, dict(zip(header, r))) for n, r in enumerate(rows[1:], start=2)]


def amount(text: str) -> Decimal | None:
    """A reference amount cleaner (EXPORTS.md §2.4): ￥/¥/元/, stripped."""
    t = re.sub(r"[￥¥,元\s]", "", text)
    if t == "":
        return None
    try:
        return Decimal(t)
    except InvalidOperation:
        raise ValueError(text) from None


DATE_RE = re.compile(r"^(\d{4})[-/年](\d{1,2})[-/月](\d{1,2})日?(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?(?: [+-]\d{4})?$")


def valid_date(text: str) -> bool:
    m = DATE_RE.match(text)
    if not m:
        return False
    y, mo, d = int(m[1]), int(m[2]), int(m[3])
    try:
        date(y, mo, d)
    except ValueError:
        return False
    return m[4] is None or (int(m[4]) < 24 and int(m[5]) < 60)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    return generate_data(folder, members=2000, seed=7, today=TODAY)


# ---------------------------------------------------------------- determinism

def test_same_seed_gives_byte_identical_files(tmp_path):
    a = generate(tmp_path / "a", members=300, seed=11, today=TODAY)
    b = generate(tmp_path / "b", members=300, seed=11, today=TODAY)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert MANIFEST in names and len(a) == len(b) == 8
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    c = generate(tmp_path / "c", members=300, seed=12, today=TODAY)
    assert (tmp_path / "c" / "youzan_orders.csv").read_bytes() != (tmp_path / "a" / "youzan_orders.csv").read_bytes()
    assert [f.path.name for f in c] == [f.path.name for f in a]


def test_returns_demo_files_with_kind_and_preset(demo):
    got = {f.path.name: (f.kind, f.preset) for f in demo.files}
    assert got == {
        "youzan_members.csv": ("members", "youzan_members"),
        "miniprogram_members.csv": ("members", "siyu_members"),
        "wecom_customers.csv": ("members", "wecom_customers"),
        "youzan_orders.csv": ("orders", "youzan_orders"),
        "tmall_orders.csv": ("orders", "taobao_orders"),
        "shopify_orders.csv": ("orders", "shopify_orders"),
        "wecom_groups.csv": ("groups", "wecom_groups"),
        "wecom_group_members.csv": ("groups", "wecom_group_members"),
    }
    for f in demo.files:
        assert f.path.is_file()
        assert f.rows == len(read(f.path)) - 1


# ---------------------------------------------------------------- layouts and encodings

def test_headers_match_the_real_exports(demo):
    folder = demo.files[0].path.parent
    assert read(folder / "youzan_members.csv")[0] == YOUZAN_MEMBERS  # ends with an empty column (trailing comma)
    assert YOUZAN_MEMBERS[-1] == ""
    header = read(folder / "youzan_orders.csv")[0]
    assert header == YOUZAN_ORDERS and header.count("分销员") == 2
    assert read(folder / "tmall_orders.csv")[0] == TMALL_ORDERS  # six names keep their trailing space
    assert read(folder / "shopify_orders.csv")[0] == SHOPIFY_ORDERS and len(SHOPIFY_ORDERS) == 79
    assert WECOM_CUSTOMERS_REQUIRED <= set(read(folder / "wecom_customers.csv")[0])
    assert read(folder / "wecom_groups.csv")[0][:2] == ["群ID", "群名称"]
    assert {"群ID", "外部联系人ID", "UnionID", "入群时间"} <= set(read(folder / "wecom_group_members.csv")[0])


def test_encodings_are_the_back_offices(demo):
    folder = demo.files[0].path.parent
    for name in ("youzan_members.csv", "tmall_orders.csv"):
        raw = (folder / name).read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")
        assert raw.decode("gbk").startswith(("客户姓名", "订单编号"))
    for name in ("wecom_customers.csv", "wecom_groups.csv", "wecom_group_members.csv"):
        assert (folder / name).read_bytes().startswith(b"\xef\xbb\xbf")
    for name in ("youzan_orders.csv", "shopify_orders.csv"):
        raw = (folder / name).read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")
        raw.decode("utf-8")
    # the GBK files use the full-width ￥ (the ASCII-range ¥ cannot be written in GBK)
    assert "￥" in (folder / "youzan_members.csv").read_bytes().decode("gbk")


def test_messy_values_real_exports_have(demo):
    folder = demo.files[0].path.parent
    yz = [r for _, r in rows_as_dicts(folder / "youzan_orders.csv")]
    paid = [r["订单实付金额"] for r in yz]
    assert any(re.fullmatch(r"¥\d{1,3}(,\d{3})+\.\d\d", v) for v in paid)  # ¥1,234.50
    assert any(v.endswith("元") for v in paid)  # 38.5元
    assert any(re.fullmatch(r"\d{4}/\d{1,2}/\d{1,2} \d\d:\d\d", r["订单创建时间"]) for r in yz)
    assert any(r["买家手机号"].startswith("\t1") for r in yz)  # Youzan's tab-prefixed phone
    members = [r for _, r in rows_as_dicts(folder / "youzan_members.csv")]
    assert any("年" in r["成为客户时间"] for r in members)
    tm = [r for _, r in rows_as_dicts(folder / "tmall_orders.csv")]
    assert all(r["订单编号"].startswith('="') for r in tm if r["订单编号"] != "合计")
    assert any(re.fullmatch(r"1\d\d\*{4}\d{4}", r["联系手机"]) for r in tm)  # masked
    assert any(r["联系手机"].startswith("'1") for r in tm)  # apostrophe-prefixed
    assert any(r["订单状态"] == "交易关闭" and r["订单付款时间"] == "" for r in tm)  # closed before payment
    assert any(r["打款商家金额"].endswith("元") for r in tm)
    sh = [r for _, r in rows_as_dicts(folder / "shopify_orders.csv")]
    assert any(r["Paid at"].endswith("+0800") for r in sh)
    assert any(r["Financial Status"] == "refunded" for r in sh)
    assert any(r["Financial Status"] == "" and r["Name"] for r in sh)  # later line items leave order fields blank
    gm = [r for _, r in rows_as_dicts(folder / "wecom_group_members.csv")]
    epochs = [int(r["入群时间"]) for r in gm if r["入群时间"].isdigit()]
    assert epochs and all(1_500_000_000 < e < 1_900_000_000 for e in epochs)  # the API's join_time, epoch seconds
    # an epoch is the same instant as the Beijing wall time the generator meant
    from datetime import datetime, timedelta, timezone

    joined = {(g.chat_id, demo.people[i].external_userid): j for g in demo.groups for i, j, _s, _v in g.members}
    beijing = timezone(timedelta(hours=8))
    for r in gm:
        if r["入群时间"].isdigit():
            shown = datetime.fromtimestamp(int(r["入群时间"]), beijing).replace(tzinfo=None)
            assert shown == joined[(r["群ID"], r["外部联系人ID"])].replace(microsecond=0)


# ---------------------------------------------------------------- people and identities

def test_identities_overlap_across_files(demo):
    folder = demo.files[0].path.parent
    yz_phones = {r["客户手机号"].strip() for _, r in rows_as_dicts(folder / "youzan_members.csv") if r["客户手机号"]}
    wecom = [r for _, r in rows_as_dicts(folder / "wecom_customers.csv")]
    wecom_ids = {r["外部联系人ID"] for r in wecom if r["外部联系人ID"]}
    wecom_phones = {r["手机"] for r in wecom if r["手机"]}
    assert len(yz_phones & wecom_phones) > 100  # same person in Youzan and on a guide's WeCom, joined by phone
    assert any(r["UnionID"] for r in wecom)
    mp = [r for _, r in rows_as_dicts(folder / "miniprogram_members.csv")]
    assert all(r["unionid"] and r["phone"] and r["member_id"] for r in mp)  # a membership needs a bound phone
    assert len({r["unionid"] for r in mp} & {r["UnionID"] for r in wecom}) > 100  # the same person, by unionid
    assert len({r["phone"] for r in mp} - yz_phones) > 50  # and people only the mini-program knows
    ids = [r["外部联系人ID"] for r in wecom if r["外部联系人ID"]]
    assert len(ids) > len(set(ids))  # some customers were added by two guides
    gm = [r for _, r in rows_as_dicts(folder / "wecom_group_members.csv") if r["外部联系人ID"]]
    assert {r["外部联系人ID"] for r in gm} <= wecom_ids
    order_phones = {r["买家手机号"].strip() for _, r in rows_as_dicts(folder / "youzan_orders.csv") if r["买家手机号"]}
    tm_phones = {r["联系手机"].lstrip("'") for _, r in rows_as_dicts(folder / "tmall_orders.csv")}
    sh_phones = {re.sub(r"\D", "", r["Phone"])[2:] for _, r in rows_as_dicts(folder / "shopify_orders.csv") if r["Phone"]}
    known = yz_phones | wecom_phones
    assert len(order_phones & known) > 500
    assert tm_phones & known and sh_phones & known


def test_expected_members_match_an_independent_union_of_the_files(demo):
    """Union rows of the member files that share a phone / external_userid / unionid; compare with ground truth."""
    folder = demo.files[0].path.parent
    parent: dict[str, str] = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(keys):
        keys = [k for k in keys if k]
        for k in keys[:1]:
            find(k)
        for k in keys[1:]:
            parent[find(k)] = find(keys[0])
        return bool(keys)

    rows = 0
    bad = {(b.file, b.line) for b in demo.bad_rows}
    for n, r in rows_as_dicts(folder / "youzan_members.csv"):
        if ("youzan_members.csv", n) in bad:
            continue
        phone = r["客户手机号"].strip()
        rows += union(["p:" + phone] if phone else [])
    for n, r in rows_as_dicts(folder / "miniprogram_members.csv"):
        rows += union(["mp:" + r["member_id"], "u:" + r["unionid"], "p:" + r["phone"]])
    for n, r in rows_as_dicts(folder / "wecom_customers.csv"):
        if ("wecom_customers.csv", n) in bad:
            continue
        keys = []
        if r["外部联系人ID"]:
            keys.append("wx:" + r["外部联系人ID"])
        if r["UnionID"]:
            keys.append("u:" + r["UnionID"])
        if r["手机"]:
            keys.append("p:" + r["手机"])
        rows += union(keys)
    clusters = {find(k) for k in list(parent)}
    exp = demo.expected()
    assert len(clusters) == exp["members_from_member_files"]
    assert exp["members_from_member_files"] < exp["members_youzan"] + exp["members_wecom"]
    assert exp["members"] >= exp["members_from_member_files"]  # plus buyers known only from their orders  # identity resolution merges people


def test_skewed_realistic_purchases(demo):
    exp = demo.expected()
    spend: dict[int, float] = {}
    counts: dict[int, int] = {}
    for o in demo.orders:
        if o.person is None or o.status == "cancelled":
            continue
        spend[o.person] = spend.get(o.person, 0) + o.amount - o.refund
        counts[o.person] = counts.get(o.person, 0) + 1
    buyers = sorted(spend.values(), reverse=True)
    head = buyers[: len(buyers) // 5]
    assert sum(head) / sum(buyers) > 0.5  # a Pareto head
    once = sum(1 for c in counts.values() if c == 1)
    assert once / len(counts) > 0.35 and once == max(
        sum(1 for c in counts.values() if c == k) for k in set(counts.values()))  # buying once is the commonest
    assert exp["orders_cancelled"] > 0 and exp["orders_refunded"] > 0 and exp["orders_partially_refunded"] > 0
    by_month: dict[int, int] = {}
    for o in demo.orders:
        by_month[o.created_at.month] = by_month.get(o.created_at.month, 0) + 1
    assert by_month[7] > by_month[2]  # iced-coffee summer beats the Spring Festival month
    lapsed = sum(1 for p in demo.people if p.lapsed)
    assert lapsed > 0.1 * len(demo.people)
    sizes = [len(g.members) + 1 for g in demo.groups]
    assert sizes and all(80 <= s <= 301 for s in sizes)
    assert len({g.store for g in demo.groups}) == exp["stores"] == 6 and exp["guides"] == 15


# ---------------------------------------------------------------- bad rows

def _problems(name: str, n: int, row: list[str], header: list[str]) -> list[str]:
    """What an honest loader would reject in this row (a reference check, independent of the generator)."""
    h = [x.strip() for x in header]
    if len(row) != len(header):
        return ["TOO_MANY_COLUMNS" if len(row) > len(header) else "MISSING_COLUMNS"]
    r = dict(zip(h, row))
    out = []
    if name == "youzan_members.csv":
        if not r["客户手机号"].strip():
            out.append("MISSING_KEY")
        if any(r[c] and not valid_date(r[c]) for c in ("成为客户时间", "成为会员时间", "上次消费时间", "客户生日")):
            out.append("BAD_DATE")
    elif name == "wecom_customers.csv":
        if not (r["外部联系人ID"] or r["UnionID"] or r["手机"]):
            out.append("MISSING_KEY")
        if not valid_date(r["添加时间"]):
            out.append("BAD_DATE")
    elif name == "wecom_group_members.csv":
        if not r["外部联系人ID"]:
            out.append("MISSING_KEY")
    elif name == "youzan_orders.csv":
        if not r["订单号"]:
            out.append("MISSING_KEY")
        try:
            amount(r["订单实付金额"])
        except ValueError:
            out.append("BAD_AMOUNT")
        for col in ("订单创建时间", "买家付款时间"):
            if r[col] and not valid_date(r[col]):
                out.append("BAD_DATE")
                break
    elif name == "tmall_orders.csv":
        if r["订单编号"] in ("合计", "总计"):
            out.append("SUMMARY_ROW")
        elif not re.fullmatch(r'="\d{15,19}"', r["订单编号"]):
            out.append("MISSING_KEY")
    elif name == "shopify_orders.csv":
        if not r["Name"]:
            out.append("MISSING_KEY")
        if r["Paid at"] and not valid_date(r["Paid at"]):
            out.append("BAD_DATE")
    return out


def test_bad_rows_are_exactly_the_enumerated_ones(demo):
    folder = demo.files[0].path.parent
    found = []
    for f in demo.files:
        rows = read(f.path)
        for n, row in enumerate(rows[1:], start=2):
            for p in _problems(f.path.name, n, row, rows[0]):
                found.append((f.path.name, n, p))
    listed = [(b.file, b.line, b.reason) for b in demo.bad_rows]
    assert sorted(found) == sorted(listed)
    assert {b.reason for b in demo.bad_rows} == {"MISSING_KEY", "BAD_AMOUNT", "BAD_DATE", "SUMMARY_ROW", "TOO_MANY_COLUMNS"}
    assert len(demo.bad_rows) == 9
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert [(b["file"], b["line"], b["reason"]) for b in manifest["bad_rows"]] == listed
    assert manifest["expected"]["rejected"] == 9


def test_expected_counts_add_up(demo):
    exp = demo.expected()
    files = exp["files"]
    assert exp["orders"] == sum(exp["orders_by_source"].values()) == len(demo.orders)
    assert files["youzan_orders.csv"]["rows"] == files["youzan_orders.csv"]["orders"] + 3
    assert files["tmall_orders.csv"]["rows"] == files["tmall_orders.csv"]["orders"] + 2
    shopify_lines = sum(len(o.items) for o in demo.orders if o.source == "shopify")
    assert files["shopify_orders.csv"]["rows"] == shopify_lines + 1
    assert files["wecom_group_members.csv"]["rows"] == exp["group_members"] + 1
    assert files["wecom_customers.csv"]["rows"] == exp["wecom_contacts"] + 1
    assert files["youzan_members.csv"]["rows"] == exp["members_youzan"] + 1


def test_small_and_recent_worlds(tmp_path):
    data = build(members=1, seed=1, today=TODAY)
    assert len(data.people) == 1
    files = generate(tmp_path, members=5, seed=3, today=TODAY)
    assert len(files) == 8
    recent = build(members=2000, seed=7, today=TODAY)
    joined_this_week = [p for p in recent.people if (TODAY - p.join_at.date()).days < 7 and p.wecom_guides]
    assert joined_this_week  # new contacts for the onboarding SOP in the demo week
    assert all(o.created_at.date() < TODAY for o in recent.orders)


@pytest.mark.parametrize("members", [1, 4, 30])
def test_tiny_worlds_still_carry_exactly_the_nine_bad_rows(tmp_path, members):
    data = generate_data(tmp_path, members=members, seed=2, today=TODAY)
    found = []
    for f in data.files:
        rows = read(f.path)
        for n, row in enumerate(rows[1:], start=2):
            found += [(f.path.name, n, p) for p in _problems(f.path.name, n, row, rows[0])]
    assert sorted(found) == sorted((b.file, b.line, b.reason) for b in data.bad_rows)
    assert len(found) == 9


def test_identical_across_processes_with_different_hash_seeds(siyu_subprocess, tmp_path):
    """No set/dict-order or hash() dependence: two interpreters with different PYTHONHASHSEED agree byte for byte."""
    for h in ("1", "2"):
        proc = siyu_subprocess("demo", "data", tmp_path / h, "--members", "120", "--seed", "9", "--today", "2026-11-25",
                               "--format", "json", env={"PYTHONHASHSEED": h})
        assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in (tmp_path / "1").iterdir())
    assert len(names) == 9
    for name in names:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name
