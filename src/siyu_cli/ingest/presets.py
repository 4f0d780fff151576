"""Presets: how each back-office's export maps onto siyu's columns.

Back-offices rename columns over time (Youzan 买家姓名→买家昵称, Taobao
买家实际支付金额→买家实付金额, trailing spaces in Taobao headers), so every
siyu field has an alias list and a preset is recognised by a *fingerprint*:
groups of header names that must all be present (any alias of a group).
Custom presets come from ``[mappings.<name>]`` in siyu.toml (docs/load.md).
Everything here is data; the loader turns it into SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from siyu_cli.errors import ConfigError, UsageError
from siyu_cli.i18n import _

KINDS = ("members", "orders", "groups")

#: siyu's own field names per kind (a file with exactly these headers needs no mapping).
FIELDS: dict[str, tuple[str, ...]] = {
    "orders": (
        "order_id", "member_id", "external_userid", "unionid", "phone", "email", "buyer_ref",
        "status", "created_at", "paid_at", "cancelled_at", "total_amount", "paid_amount", "refund_amount",
        "item_count", "store", "channel", "guide_userid", "coupon_code",
        "line_no", "sku", "product_name", "category", "quantity", "unit_price", "line_amount",
    ),
    "members": (
        "member_id", "external_userid", "unionid", "phone", "email", "name", "first_name", "last_name",
        "nickname", "gender", "birthday", "level", "points", "join_at", "join_channel", "store",
        "guide_userid", "guide_name", "remark", "add_way", "tags",
    ),
    "groups": (
        "group_id", "name", "owner_userid", "owner_name", "store", "city", "tags", "created_at",
        "member_count", "notice",
        "member_ref", "member_type", "joined_at", "unionid", "group_nickname",
    ),
}

#: Field → value type (drives cleaning and reject reasons). Unlisted fields are text.
FIELD_TYPES: dict[str, str] = {
    "order_id": "id", "member_id": "id", "external_userid": "id", "unionid": "id", "group_id": "id",
    "member_ref": "id", "sku": "id", "line_no": "id", "guide_userid": "id", "owner_userid": "id",
    "phone": "phone", "gender": "gender",
    "created_at": "timestamp", "paid_at": "timestamp", "cancelled_at": "timestamp", "join_at": "timestamp",
    "joined_at": "timestamp",
    "birthday": "date",
    "total_amount": "amount", "paid_amount": "amount", "refund_amount": "amount", "unit_price": "amount",
    "line_amount": "amount",
    "item_count": "integer", "points": "integer", "member_count": "integer",
    "quantity": "number",
    "coupon_code": "codes",
}

#: Raw status text (lower-cased, spaces and commas removed) → canonical status.
#: "closed" is ambiguous (Taobao/Youzan 交易关闭): cancelled if never paid, refunded if paid.
STATUS_ALIASES: dict[str, list[str]] = {
    "paid": [
        "paid", "partially_paid", "processing", "completed", "complete", "fulfilled", "success", "trade_success",
        "已付款", "已支付", "付款成功", "支付成功", "待发货", "已发货", "待收货", "已收货", "已签收", "交易成功", "交易完成",
        "已完成", "完成", "买家已付款等待卖家发货", "卖家已发货等待买家确认", "买家已签收", "等待出库", "等待确认收货",
        "备货中", "待成团", "已成团", "wait_seller_send_goods", "wait_buyer_confirm_goods", "finished_l",
    ],
    "unpaid": [
        "unpaid", "pending", "authorized", "on-hold", "checkout-draft", "wait_buyer_pay",
        "待付款", "待支付", "未付款", "等待买家付款", "待买家付款",
    ],
    "cancelled": [
        "cancelled", "canceled", "voided", "void", "expired", "failed", "trade_closed_by_taobao", "trade_canceled",
        "已取消", "取消", "交易取消", "订单取消", "已作废", "作废", "超时取消",
    ],
    "closed": ["closed", "trade_closed", "交易关闭", "已关闭", "关闭", "交易被淘宝关闭"],
    "refunded": ["refunded", "已退款", "全额退款", "退款成功", "已全额退款", "退款完成"],
    "partially_refunded": ["partially_refunded", "部分退款", "已部分退款", "部分退款成功"],
}
CANONICAL_STATUSES = ("unpaid", "paid", "cancelled", "refunded", "partially_refunded")


def status_key(raw: str) -> str:
    """How a raw status is compared: lower case, no spaces or (full-width) commas."""
    return re.sub(r"[\s,，、]", "", raw).lower()


@dataclass
class Preset:
    id: str
    kind: str
    source: str  # value of orders.source / members.source
    title: str
    #: each inner tuple is a set of alternatives; every group must be present in the header
    fingerprint: tuple[tuple[str, ...], ...]
    columns: dict[str, list[str]]  # field -> aliases (first found wins)
    statuses: dict[str, str] = field(default_factory=dict)  # extra raw status -> canonical
    line_grain: bool = False  # one row per line item: order-level fields may be blank on later rows
    tag_prefixes: tuple[str, ...] = ()  # extra columns whose header starts with these hold tags (WeCom 标签组)
    fallbacks: dict[str, str] = field(default_factory=dict)  # field -> field used when the first is absent
    #: order amounts the export gives per line (sub-order), summed when an order's rows fold into one
    sum_fields: tuple[str, ...] = ()
    custom: bool = False


def _own(kind: str) -> dict[str, list[str]]:
    return {f: [f] for f in FIELDS[kind]}


_SIYU_ORDER = _own("orders") | {
    "order_id": ["order_id", "order_no", "订单号", "订单编号"],
    "paid_amount": ["paid_amount", "amount", "实付金额"],
    "phone": ["phone", "mobile", "手机号"],
    "coupon_code": ["coupon_code", "coupon", "discount_code", "优惠券码"],
}
_SIYU_MEMBER = _own("members") | {"phone": ["phone", "mobile", "手机号"]}

PRESETS: dict[str, Preset] = {}


def _add(p: Preset) -> None:
    PRESETS[p.id] = p


_add(Preset(
    "siyu", "orders", "siyu", "siyu's own order columns (docs/schema.md)",
    (("order_id", "order_no"), ("paid_amount", "amount", "paid_at", "status")),
    _SIYU_ORDER, line_grain=True,
))
_add(Preset(
    "siyu_members", "members", "siyu", "siyu's own member columns (docs/schema.md)",
    (("member_id", "phone", "external_userid", "unionid"), ("name", "nickname", "join_at", "phone", "member_id")),
    _SIYU_MEMBER, tag_prefixes=("tag:",),
))
_add(Preset(
    "siyu_groups", "groups", "siyu", "siyu's own group columns",
    (("group_id",), ("name", "owner_userid")),
    {f: [f] for f in ("group_id", "name", "owner_userid", "owner_name", "store", "city", "tags",
                      "created_at", "member_count", "notice")},
))
_add(Preset(
    "shopify_orders", "orders", "shopify", "Shopify orders export (one row per line item)",
    (("Name",), ("Financial Status",), ("Lineitem quantity",)),
    {
        "order_id": ["Name"], "email": ["Email"], "phone": ["Phone", "Billing Phone", "Shipping Phone"],
        "status": ["Financial Status"], "paid_at": ["Paid at"], "created_at": ["Created at"],
        "cancelled_at": ["Cancelled at"], "total_amount": ["Subtotal"], "paid_amount": ["Total"],
        "refund_amount": ["Refunded Amount"], "store": ["Location"], "channel": ["Source"],
        "guide_userid": ["Employee"], "sku": ["Lineitem sku"], "product_name": ["Lineitem name"],
        "quantity": ["Lineitem quantity"], "unit_price": ["Lineitem price"], "category": ["Vendor"],
        "coupon_code": ["Discount Code"],
    },
    line_grain=True,
))
_add(Preset(
    "shopify_customers", "members", "shopify", "Shopify customers export (current and legacy layouts)",
    (("Total Spent", "Accepts Email Marketing"), ("Total Orders", "Accepts Email Marketing"), ("First Name",)),
    {
        "member_id": ["Customer ID"], "first_name": ["First Name"], "last_name": ["Last Name"],
        "email": ["Email"], "phone": ["Phone", "Default Address Phone"], "tags": ["Tags"],
        "store": ["Default Address City", "City"], "remark": ["Note"],
    },
))
_add(Preset(
    "youzan_orders", "orders", "youzan", "Youzan 有赞 order list export (one row per order)",
    (("订单号",), ("订单实付金额",), ("归属店铺", "收货人/提货人", "订单状态")),
    {
        "order_id": ["订单号"], "status": ["订单状态"], "created_at": ["订单创建时间"], "paid_at": ["买家付款时间"],
        "total_amount": ["商品金额合计", "应收订单金额"], "paid_amount": ["订单实付金额", "订单实收金额"],
        "refund_amount": ["订单已退款金额"], "phone": ["买家手机号", "收货人手机号/提货人手机号"],
        "buyer_ref": ["买家昵称", "买家姓名"], "member_id": ["会员ID", "客户ID", "买家ID"],
        "store": ["归属店铺", "下单网点"], "channel": ["销售渠道", "订单来源"], "guide_userid": ["专属导购", "销售导购"],
        "unionid": ["unionid", "UnionID"], "coupon_code": ["优惠券码名称", "优惠券码"],
    },
))
_add(Preset(
    "youzan_members", "members", "youzan", "Youzan 有赞 customer list export",
    (("客户手机号",), ("成为客户时间", "成为会员时间")),
    {
        "member_id": ["会员ID", "客户ID", "用户ID"], "name": ["客户姓名"], "nickname": ["客户昵称"],
        "phone": ["客户手机号"], "birthday": ["客户生日"], "gender": ["客户性别"], "tags": ["标签"],
        "level": ["付费等级", "免费等级", "会员等级"], "points": ["客户积分"], "join_at": ["成为客户时间", "成为会员时间"],
        "join_channel": ["来源渠道", "来源方式"], "store": ["成为会员店铺", "所属门店", "所属区域"],
        "guide_name": ["导购员", "专属导购"], "unionid": ["unionid", "UnionID"],
        "external_userid": ["企微外部联系人ID", "external_userid"],
    },
))
_add(Preset(
    "taobao_orders", "orders", "taobao", "Taobao/Tmall 淘宝天猫 order report (ExportOrderList)",
    (("订单编号",), ("买家会员名",), ("买家实际支付金额", "买家实付金额")),
    {
        "order_id": ["订单编号"], "buyer_ref": ["买家会员名"], "paid_amount": ["买家实际支付金额", "买家实付金额"],
        "total_amount": ["总金额", "总金额(旧版)"], "status": ["订单状态"], "created_at": ["订单创建时间"],
        "paid_at": ["订单付款时间"], "phone": ["联系手机"], "refund_amount": ["退款金额"],
        "store": ["新零售导购门店名称", "店铺名称"], "item_count": ["宝贝总数量"],
    },
))
# JD, Douyin, Pinduoduo and Weimob (EXPORTS.md §1.5, §1.7–1.9). Their published headers are partial or old
# (JD's is a 2016 list, Weimob's a group-buy export), so the alias lists are generous; docs/load.md says
# which parts are unconfirmed. Fingerprints are disjoint: Douyin needs 主订单编号 + 子订单编号 and PDD a
# `(元)` amount column Douyin lacks (both have 售后状态, which is therefore in neither fingerprint).
_add(Preset(
    "jd_orders", "orders", "jd", "JD 京东 POP order export (one row per SKU)",
    (("订单号", "订单编号"), ("京东价", "京东价(元)"), ("下单帐号", "下单账号", "下单用户", "客户账号")),
    {
        "order_id": ["订单号", "订单编号"], "buyer_ref": ["下单帐号", "下单账号", "下单用户", "客户账号"],
        "status": ["订单状态"], "created_at": ["下单时间"],
        "paid_at": ["付款确认时间", "付款时间", "支付时间", "支付确认时间"],
        "total_amount": ["订单金额", "订单总金额", "订单金额(元)"],
        "paid_amount": ["应付金额", "实付金额", "用户实付金额", "应付金额(元)", "结算金额"],
        "refund_amount": ["退款金额", "已退款金额", "退款金额(元)"],
        "phone": ["联系电话", "收货人手机", "收货人电话", "手机号"],
        "store": ["店铺名称", "门店名称"], "channel": ["订单渠道", "订单来源"],
        "sku": ["商品ID", "商品编号", "SKU", "sku编号"], "product_name": ["商品名称"],
        "quantity": ["订购数量", "商品数量", "数量"], "unit_price": ["京东价", "京东价(元)"],
    },
    statuses={
        "等待发货": "paid", "等待出库": "paid", "等待确认收货": "paid", "等待收货": "paid", "完成": "paid",
        "已完成": "paid", "wait_seller_stock_out": "paid", "wait_goods_receive_confirm": "paid",
        "wait_seller_delivery": "paid", "finished_l": "paid",
        "等待付款": "unpaid", "待付款": "unpaid", "锁定": "unpaid", "已锁定": "unpaid", "暂停": "unpaid",
        "locked": "unpaid", "pause": "unpaid", "pop_order_pause": "unpaid",
        "取消": "cancelled", "已取消": "cancelled", "取消订单": "cancelled", "删除": "cancelled",
        "trade_canceled": "cancelled",
        **{f"{b}删除{e}{s}": "cancelled" for b, e in (("(", ")"), ("（", "）"))
           for s in ("", "等待出库", "等待确认收货", "等待发货", "完成", "取消", "锁定", "暂停")},
        "已退款": "refunded", "退款成功": "refunded",
    },
    line_grain=True,
))
_add(Preset(
    "douyin_orders", "orders", "douyin", "Douyin shop 抖店 order export (one row per sub-order 子订单)",
    (("主订单编号",), ("子订单编号",), ("选购商品", "商品名称")),
    {
        "order_id": ["主订单编号"], "line_no": ["子订单编号"], "status": ["订单状态"],
        "created_at": ["订单提交时间", "下单时间"], "paid_at": ["支付完成时间", "支付时间", "付款时间"],
        "paid_amount": ["订单应付金额", "订单实付金额", "实付金额"],
        "refund_amount": ["退款金额", "售后退款金额", "退款成功金额"],
        "phone": ["收件人手机号", "收件人电话", "买家手机号"],
        "buyer_ref": ["买家昵称", "用户昵称", "买家ID", "用户ID"],
        "store": ["店铺名称"], "channel": ["流量来源", "流量渠道", "订单类型"],
        "sku": ["商家编码", "商品ID", "SKU编码"], "product_name": ["选购商品", "商品名称"], "category": ["商品类目"],
        "quantity": ["商品数量"], "unit_price": ["商品单价", "商品金额"],
    },
    statuses={
        "待支付": "unpaid", "待付款": "unpaid", "备货中": "paid", "待发货": "paid", "部分发货": "paid",
        "已发货": "paid", "已完成": "paid", "已支付": "paid", "已关闭": "closed", "已取消": "cancelled",
    },
    line_grain=True,
    sum_fields=("paid_amount", "refund_amount"),  # 订单应付金额 / 退款金额 are per 子订单
))
_add(Preset(
    "pdd_orders", "orders", "pdd", "Pinduoduo 拼多多 order export (one row per order)",
    (("订单号", "订单编号"), ("商家实收金额(元)", "用户实付金额(元)")),
    {
        "order_id": ["订单号", "订单编号"], "status": ["订单状态"],
        "created_at": ["订单成交时间", "下单时间", "订单创建时间"], "paid_at": ["订单付款时间", "支付时间", "付款时间"],
        "total_amount": ["商品总价(元)", "商品总价"], "paid_amount": ["用户实付金额(元)", "商家实收金额(元)"],
        "refund_amount": ["退款金额(元)", "退款金额", "售后退款金额(元)"],
        "phone": ["手机", "收货人手机号", "收货人电话", "手机号"],
        "buyer_ref": ["用户昵称", "买家昵称", "用户ID"], "store": ["店铺名称"],
        "sku": ["商家编码-规格维度", "样式ID", "商家编码-商品维度", "商品id", "商品ID"],
        "product_name": ["商品", "商品名称"], "quantity": ["商品数量(件)", "商品数量"],
    },
    statuses={
        "待支付": "unpaid", "待付款": "unpaid", "待发货": "paid", "已发货，待签收": "paid", "已发货，待收货": "paid",
        "已发货": "paid", "已签收": "paid", "已收货": "paid", "交易成功": "paid", "待成团": "paid", "已成团": "paid",
        "已取消": "cancelled", "交易取消": "cancelled", "未付款，已取消": "cancelled",
        "未发货，退款成功": "refunded", "已发货，退款成功": "refunded", "已签收，退款成功": "refunded",
        "已收货，退款成功": "refunded", "退款成功": "refunded",
    },
    line_grain=True,
))
_add(Preset(
    "weimob_orders", "orders", "weimob", "Weimob 微盟 order export (group-buy layout; one row per item)",
    (("订单编号", "订单号"), ("预约人/收货人手机号", "取消类型")),
    {
        "order_id": ["订单编号", "订单号"], "status": ["订单状态", "取消类型"],
        "created_at": ["下单时间", "创建时间"], "paid_at": ["支付时间", "付款时间"],
        "total_amount": ["订单总金额", "订单金额"], "paid_amount": ["实收金额", "实付金额", "订单实付金额"],
        "refund_amount": ["退款金额", "已退款金额"],
        "phone": ["预约人/收货人手机号", "收货人手机号", "买家手机号", "客户手机号", "会员手机号"],
        "member_id": ["客户ID", "会员ID", "用户ID", "会员卡号"], "buyer_ref": ["买家昵称", "客户昵称", "会员昵称"],
        "store": ["门店名称", "下单门店", "所属门店"], "channel": ["订单来源", "渠道"], "guide_userid": ["导购", "导购员"],
        "sku": ["商品编码", "SKU编码", "规格编码"], "product_name": ["商品名称"], "quantity": ["商品数量"],
        "unit_price": ["商品单价", "商品价格"],
    },
    statuses={
        # 取消类型 (non-empty = cancelled; the values themselves are unconfirmed) and 订单状态 guesses
        "买家取消": "cancelled", "卖家取消": "cancelled", "商家取消": "cancelled", "系统取消": "cancelled",
        "用户取消": "cancelled", "主动取消": "cancelled", "自动取消": "cancelled", "超时取消": "cancelled",
        "超时未支付": "cancelled", "超时未支付取消": "cancelled", "支付超时": "cancelled", "已取消": "cancelled",
        "待付款": "unpaid", "待支付": "unpaid", "待发货": "paid", "已发货": "paid", "待收货": "paid",
        "待自提": "paid", "待核销": "paid", "已核销": "paid", "已完成": "paid", "待成团": "paid", "已成团": "paid",
    },
    line_grain=True,
))
_add(Preset(
    "wecom_customers", "members", "wecom", "WeCom 企业微信 customer list export (one row per customer × staff)",
    (("客户名称", "客户昵称"), ("添加人",), ("添加时间",)),
    {
        "external_userid": ["external_userid", "外部联系人ID", "外部联系人userid", "客户ID", "客户UserID"],
        "unionid": ["unionid", "UnionID"], "name": ["客户名称", "客户昵称"], "guide_name": ["添加人"],
        "guide_userid": ["添加人账号", "添加人userid", "添加人ID"], "join_at": ["添加时间"],
        "join_channel": ["来源", "渠道", "添加渠道"], "add_way": ["添加方式", "来源"], "phone": ["手机", "手机号", "电话"],
        "email": ["邮箱"], "remark": ["描述", "备注"], "store": ["添加人所属部门", "门店"], "tags": ["标签"],
        "gender": ["性别"],
    },
    tag_prefixes=("标签组", "企业标签"),
))
_add(Preset(
    "wecom_groups", "groups", "wecom", "WeCom customer-group list (客户群列表)",
    (("群名称", "群名", "客户群名称"), ("群主", "群主账号")),
    {
        "group_id": ["群ID", "群聊ID", "chat_id", "客户群ID"], "name": ["群名称", "群名", "客户群名称"],
        "owner_userid": ["群主账号", "群主ID", "群主userid", "owner"], "owner_name": ["群主"],
        "created_at": ["创建时间", "群创建时间"], "member_count": ["群人数", "群成员数", "人数", "成员数"],
        "notice": ["群公告"], "store": ["门店", "所属门店"], "city": ["城市"], "tags": ["群标签", "标签"],
    },
    fallbacks={"group_id": "name"},
))
_add(Preset(
    "wecom_group_members", "groups", "wecom", "WeCom customer-group member list (群成员列表)",
    (("群ID", "群聊ID", "chat_id", "group_id", "群名称"),
     ("成员ID", "成员userid", "external_userid", "外部联系人ID", "member_ref", "userid")),
    {
        "group_id": ["群ID", "群聊ID", "chat_id", "group_id"], "name": ["群名称", "群名"],
        "member_ref": ["成员ID", "external_userid", "外部联系人ID", "成员userid", "member_ref", "userid"],
        "member_type": ["成员类型", "type"], "joined_at": ["入群时间", "join_time", "joined_at"],
        "unionid": ["unionid", "UnionID"], "group_nickname": ["群昵称", "group_nickname"],
    },
    fallbacks={"group_id": "name"},
))

#: Contract ids: `siyu` covers siyu's own columns for every kind.
PRESET_FOR_KIND = {("siyu", "members"): "siyu_members", ("siyu", "groups"): "siyu_groups"}


def header_key(name: str) -> str:
    """Header comparison: trimmed, case-insensitive, full-width brackets as ASCII."""
    return name.strip(" \t\u3000\ufeff").lower().replace("（", "(").replace("）", ")")


def custom_presets(settings) -> dict[str, Preset]:
    """``[mappings.<name>]`` sections of siyu.toml as presets (validated, errors name the key)."""
    out: dict[str, Preset] = {}
    section = settings.section("mappings") if settings is not None else {}
    where = f"{settings.config_file}" if settings is not None else "siyu.toml"
    for name, spec in section.items():
        if not isinstance(spec, dict):
            raise ConfigError(_('{where}: mappings.{name} must be a table ([mappings.{name}])').format(where=where, name=name))
        kind = spec.get("kind")
        if kind not in KINDS:
            raise ConfigError(_('{where}: mappings.{name}.kind must be one of {join}').format(where=where, name=name, join=', '.join(KINDS)))
        cols = spec.get("columns", {})
        if not isinstance(cols, dict) or not cols:
            raise ConfigError(_('{where}: mappings.{name}.columns must map siyu fields to header names').format(where=where, name=name))
        columns: dict[str, list[str]] = {}
        for fld, aliases in cols.items():
            if fld not in FIELDS[kind]:
                raise ConfigError(
                    _('{where}: mappings.{name}.columns.{fld} is not a siyu {kind} field (one of {join})').format(where=where, name=name, fld=fld, kind=kind, join=', '.join(FIELDS[kind]))
                )
            aliases = [aliases] if isinstance(aliases, str) else aliases
            if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
                raise ConfigError(_('{where}: mappings.{name}.columns.{fld} must be a header name or a list of them').format(where=where, name=name, fld=fld))
            columns[fld] = aliases
        statuses = spec.get("statuses", {})
        if not isinstance(statuses, dict):
            raise ConfigError(_('{where}: mappings.{name}.statuses must be a table of raw text = canonical status').format(where=where, name=name))
        for raw, canon in statuses.items():
            if canon not in CANONICAL_STATUSES + ("closed",):
                raise ConfigError(
                    _('{where}: mappings.{name}.statuses.{raw} must be one of {join}, closed').format(where=where, name=name, raw=raw, join=', '.join(CANONICAL_STATUSES))
                )
        key = {"orders": "order_id", "members": None, "groups": "group_id"}[kind]
        required = [key] if key else [f for f in ("member_id", "phone", "external_userid", "unionid") if f in columns][:1]
        if key and key not in columns:
            raise ConfigError(_('{where}: mappings.{name}.columns must name the {key} column').format(where=where, name=name, key=key))
        fp = tuple(tuple(columns[f]) for f in required)
        out[name] = Preset(
            id=name, kind=kind, source=str(spec.get("source", name)), title=str(spec.get("title", f"custom mapping {name}")),
            fingerprint=fp or (tuple(next(iter(columns.values()))),), columns=columns,
            statuses={str(k): str(v) for k, v in statuses.items()},
            line_grain=bool(spec.get("line_grain", False)), custom=True,
        )
    return out


def all_presets(settings=None) -> dict[str, Preset]:
    return {**PRESETS, **custom_presets(settings)}


def resolve_columns(preset: Preset, header: list[str]) -> dict[str, str]:
    """field -> the file's column name, by alias (first alias present wins)."""
    by_key: dict[str, str] = {}
    for h in header:
        by_key.setdefault(header_key(h), h)
    found: dict[str, str] = {}
    for fld, aliases in preset.columns.items():
        for alias in aliases:
            col = by_key.get(header_key(alias))
            if col is not None and col not in found.values():
                found[fld] = col
                break
    return found


def fingerprint_matches(preset: Preset, header: list[str]) -> bool:
    keys = {header_key(h) for h in header}
    return all(any(header_key(a) in keys for a in group) for group in preset.fingerprint)


def header_score(kind: str, settings=None):
    """A function scoring a candidate header row by how many known names it holds (for title-row skipping)."""
    known = set()
    for p in all_presets(settings).values():
        if p.kind == kind or kind is None:
            for aliases in p.columns.values():
                known.update(header_key(a) for a in aliases)

    def score(row: list[str]) -> int:
        return sum(1 for c in row if header_key(c) in known)

    return score


def choose_preset(kind: str, header: list[str], preset: str = "auto", settings=None) -> Preset:
    """The preset named, or for ``auto`` the best fingerprint match for this kind (custom mappings first)."""
    presets = all_presets(settings)
    if preset != "auto":
        pid = PRESET_FOR_KIND.get((preset, kind), preset)
        if pid not in presets:
            names = sorted(set(presets) | {"siyu"})
            raise UsageError(_('unknown preset {preset!r} (known: auto, {join})').format(preset=preset, join=', '.join(names)))
        p = presets[pid]
        if p.kind != kind:
            raise UsageError(_('preset {preset!r} loads {kind}, not {kind2}').format(preset=preset, kind=p.kind, kind2=kind))
        return p
    candidates = [p for p in presets.values() if p.kind == kind and fingerprint_matches(p, header)]
    if not candidates:
        shown = ", ".join(header[:8]) + (" …" if len(header) > 8 else "")
        raise UsageError(
            _('no preset recognises this {kind} file (header: {shown}); pass --preset or define [mappings.<name>] in siyu.toml (see `siyu load --show-mapping` and docs/load.md)').format(kind=kind, shown=shown),
            reason=f"no preset recognises this {kind} file (a header of {len(header)} columns that matches no "
                   "known export); pass a preset or define [mappings.<name>] in siyu.toml",
        )
    # custom mappings win over built-ins; then the preset mapping the most columns
    candidates.sort(key=lambda p: (not p.custom, -len(resolve_columns(p, header)), p.id))
    return candidates[0]


def preset_summary(p: Preset) -> dict[str, Any]:
    return {
        "id": p.id, "kind": p.kind, "source": p.source, "title": p.title,
        "fingerprint": [list(g) for g in p.fingerprint], "columns": p.columns,
        "statuses": p.statuses, "line_grain": p.line_grain, "custom": p.custom,
    }
