"""Writing the demo world as back-office exports: formats, headers (EXPORTS.md) and the writer's base.

The per-source files are written by the mixins in ``writers_members.py`` (customers, members, groups)
and ``writers_orders.py`` (Youzan, Tmall, Shopify orders); :class:`ExportWriter` joins them.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta
from pathlib import Path

from siyu_cli.demo.world import GUIDES, STORES, TZ_OFFSET, BadRow, DemoData, DemoFile


# ------------------------------------------------------------------ formatting helpers

def _dt(value: datetime | None, style: str = "iso") -> str:
    if value is None:
        return ""
    if style == "slash":  # Excel re-saved: 2025/3/5 14:03
        return f"{value.year}/{value.month}/{value.day} {value.hour:02d}:{value.minute:02d}"
    if style == "cn":
        return f"{value.year}年{value.month}月{value.day}日"
    if style == "date":
        return value.strftime("%Y-%m-%d")
    if style == "slashdate":
        return f"{value.year}/{value.month}/{value.day}"
    if style == "shopify":
        return value.strftime("%Y-%m-%d %H:%M:%S ") + TZ_OFFSET
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _money(value: float) -> str:
    return f"{value:.2f}"


def _csv_line(values: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow(values)
    return buf.getvalue()


def _write(path: Path, lines: list[str], encoding: str) -> None:
    text = "".join(lines)
    if encoding == "utf-8-sig":
        data = b"\xef\xbb\xbf" + text.encode("utf-8")
    else:
        data = text.encode(encoding)  # strict: a character GBK cannot hold is a generator bug
    path.write_bytes(data)


# ------------------------------------------------------------------ headers (EXPORTS.md)

YOUZAN_MEMBERS_HEADER = (
    "客户姓名,客户昵称,客户手机号,客户生日,客户性别,标签,是否会员,成长值,免费等级,付费等级,权益卡,客户积分,客户储值余额,消费次数,消费金额,"
    "累计退款金额,累计退款订单数,笔单价,上次消费时间,分销员,导购员,企微好友,来源渠道,来源方式,成为客户时间,成为会员时间,成为会员店铺,"
    "公众号,公众号关注时间,最近浏览时间,微信地域,所属区域,指定时间消费次数,指定时间消费金额,"
)  # the real export ends the header with a comma (a phantom empty column)

YOUZAN_ORDERS_HEADER = (
    "订单号,销售渠道,归属店铺,订单类型,订单状态,推广方式,订单来源,订单创建时间,买家付款时间,交易成功时间,付款方式,支付流水号,"
    "商品金额合计,运费,店铺优惠合计,应收订单金额,订单实付金额,支付优惠合计,订单实收金额,订单抵用积分数,店铺优惠方式,支付优惠方式,"
    "全部商品名称,商品种类数,订单配送方式,同城送达时间/提货时间,收货人省份,收货人城市,收货人地区,详细收货地址/提货地址,收货人/提货人,"
    "收货人手机号/提货人手机号,买家备注,订单星级,买家昵称,买家是否会员,买家手机号,下单网点,收银员,分销员,销售导购,专属导购,"
    "订单退款状态,订单已退款金额,商家订单备注,桌号,挂账主体,挂账手机号,团长订单,订单风险标签,分销员,分销员手机号,分销员所属店铺,"
    "分销员所属团队,分销员所属分组,分销员等级,订单佣金类型,订单佣金金额,订单下级卖货提成类型,订单下级卖货提成金额"
)  # note 分销员 appears twice, as in the real export

TMALL_ORDERS_HEADER = (
    '订单编号,买家会员名,买家支付宝账号,买家应付货款,买家应付邮费,买家支付积分,总金额,返点积分,买家实际支付金额,买家实际支付积分,订单状态,'
    '买家留言,收货人姓名,"收货地址 ",运送方式,"联系电话 ",联系手机,订单创建时间,"订单付款时间 ","宝贝标题 ","宝贝种类 ","物流单号 ",物流公司,'
    '订单备注,宝贝总数量,店铺Id,店铺名称,订单关闭原因,卖家服务费,买家服务费,发票抬头,是否手机订单,分阶段订单信息,特权订金订单id,'
    '是否上传合同照片,是否上传小票,是否代付,定金排名,修改后的sku,修改后的收货地址,异常信息,天猫卡券抵扣,集分宝抵扣,是否是O2O交易,'
    '新零售交易类型,新零售导购门店名称,新零售导购门店id,新零售发货门店名称,新零售发货门店id,退款金额,预约门店,确认收货时间,打款商家金额,'
    '含应开票给个人的个人红包'
)  # six names end with a space, quoted as the back office writes them

SHOPIFY_ORDERS_HEADER = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,Currency,Subtotal,Shipping,Taxes,Total,"
    "Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,"
    "Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem fulfillment status,Billing Name,Billing Street,Billing Address1,"
    "Billing Address2,Billing Company,Billing City,Billing Zip,Billing Province,Billing Country,Billing Phone,Shipping Name,Shipping Street,"
    "Shipping Address1,Shipping Address2,Shipping Company,Shipping City,Shipping Zip,Shipping Province,Shipping Country,Shipping Phone,"
    "Notes,Note Attributes,Cancelled at,Payment Method,Payment Reference,Refunded Amount,Vendor,Outstanding Balance,Employee,Location,"
    "Device ID,Id,Tags,Risk Level,Source,Lineitem discount,Tax 1 Name,Tax 1 Value,Tax 2 Name,Tax 2 Value,Tax 3 Name,Tax 3 Value,"
    "Tax 4 Name,Tax 4 Value,Tax 5 Name,Tax 5 Value,Phone,Receipt Number,Duties,Billing Province Name,Shipping Province Name,"
    "Payment ID,Payment Terms Name,Next Payment Due At,Payment References"
)

#: WeCom admin-console customer export (客户联系 → 客户 → 导出), with the API's external_userid and unionid
#: columns, then one column per tag group (named after the group, so they differ between companies).
WECOM_CUSTOMERS_HEADER = (
    "客户名称,外部联系人ID,UnionID,描述,添加人,添加人账号,添加人所属部门,添加时间,来源,手机,企业,邮箱,地址,职务,电话,标签组1(口味偏好),标签组2(客户阶段)"
)

#: WeCom customer-group list (客户群 → 导出) and group members (the groupchat API's member_list fields).
WECOM_GROUPS_HEADER = "群ID,群名称,群主,群主账号,群人数,创建时间,群公告,群标签,所属门店"
WECOM_GROUP_MEMBERS_HEADER = "群ID,群名称,成员名称,成员类型,外部联系人ID,UnionID,入群时间,入群方式,邀请人账号"

#: The brand's ordering mini-program's member export, written by its developer in siyu's own member columns
#: (docs/schema.md): the one export that carries the WeChat unionid (EXPORTS.md §4.2).
MINIPROGRAM_MEMBERS_HEADER = "member_id,unionid,phone,nickname,gender,join_at,join_channel,level,points"

HEADERS = {
    "youzan_members.csv": YOUZAN_MEMBERS_HEADER,
    "wecom_customers.csv": WECOM_CUSTOMERS_HEADER,
    "youzan_orders.csv": YOUZAN_ORDERS_HEADER,
    "tmall_orders.csv": TMALL_ORDERS_HEADER,
    "shopify_orders.csv": SHOPIFY_ORDERS_HEADER,
    "wecom_groups.csv": WECOM_GROUPS_HEADER,
    "wecom_group_members.csv": WECOM_GROUP_MEMBERS_HEADER,
    "miniprogram_members.csv": MINIPROGRAM_MEMBERS_HEADER,
}

#: file → (kind, preset, encoding as written)
FILE_SPECS = {
    "youzan_members.csv": ("members", "youzan_members", "gbk"),
    # before the WeCom export: loaded in this order, the mini-program's phone joins its unionid to the 有赞 member
    # first (identity resolution never merges two existing members, so the other order would split some people)
    "miniprogram_members.csv": ("members", "siyu_members", "utf-8"),
    "wecom_customers.csv": ("members", "wecom_customers", "utf-8-sig"),
    "youzan_orders.csv": ("orders", "youzan_orders", "utf-8"),
    "tmall_orders.csv": ("orders", "taobao_orders", "gbk"),
    "shopify_orders.csv": ("orders", "shopify_orders", "utf-8"),
    "wecom_groups.csv": ("groups", "wecom_groups", "utf-8-sig"),
    "wecom_group_members.csv": ("groups", "wecom_group_members", "utf-8-sig"),
}


# ------------------------------------------------------------------ writers

class WriterBase:
    """State and helpers every export writer shares (the world, the folder, the bad rows it plants)."""

    def __init__(self, data: DemoData, folder: Path, rng: random.Random):
        self.today = data.today
        self.rng = rng
        self.data = data
        self.folder = folder
        self.store_name = {s[0]: s[1] for s in STORES}
        self.store_city = {s[0]: s[2] for s in STORES}
        self.guide_name = {g[0]: g[1] for g in GUIDES}
        self.guide_store = {g[0]: g[2] for g in GUIDES}

    def _finish(self, name: str, lines: list[str]) -> DemoFile:
        kind, preset, encoding = FILE_SPECS[name]
        path = self.folder / name
        _write(path, lines, encoding)
        f = DemoFile(path=path, kind=kind, preset=preset, encoding=encoding, rows=len(lines) - 1)
        self.data.files.append(f)
        return f

    def _bad(self, name: str, lines: list[str], line: str, reason: str, column: str | None, note: str, at: int | None = None):
        """Insert a deliberately bad line (at a data position, or at the end) and record it."""
        if at is not None:
            at = max(1, at)  # never above the header
        if at is None or at >= len(lines):
            lines.append(line)
            number = len(lines)
        else:
            lines.insert(at, line)
            number = at + 1
            # later bad rows of this file shift down by one
            shifted = []
            for b in self.data.bad_rows:
                if b.file == name and b.line >= number:
                    b = BadRow(b.file, b.line + 1, b.reason, b.column, b.note)
                shifted.append(b)
            self.data.bad_rows[:] = shifted
        self.data.bad_rows.append(BadRow(name, number, reason, column, note))

    def _orders_from(self, source: str):
        """(order, buyer) for the orders one platform's export lists (each order is sold on one platform);
        the buyer is None for a guest order."""
        people = self.data.people
        return ((o, people[o.person] if o.person is not None else None) for o in self.data.orders if o.source == source)

    def _stats(self):
        """Per-person order statistics for the Youzan customer export (its 消费次数/消费金额 columns)."""
        stats: dict[int, list] = {}
        for o in self.data.orders:
            if o.person is None or o.status == "cancelled":
                continue
            s = stats.setdefault(o.person, [0, 0.0, 0.0, 0, None])
            s[0] += 1
            s[1] += o.amount
            if o.refund:
                s[2] += o.refund
                s[3] += 1
            s[4] = o.paid_at if s[4] is None or (o.paid_at and o.paid_at > s[4]) else s[4]
        return stats


def _joined_text(joined: datetime, r: float) -> str:
    """入群时间 as exported: mostly ISO, some Excel-style, some the API's epoch seconds (join_time)."""
    if r < 0.1:
        return _dt(joined, "slash")
    if r < 0.2:
        return str(int((joined - timedelta(hours=8) - datetime(1970, 1, 1)).total_seconds()))  # +08:00 wall time
    return _dt(joined)


def _thousands_unquoted(value: float) -> str:
    return f"{value:,.2f}"
