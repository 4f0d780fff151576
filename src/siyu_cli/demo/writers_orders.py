"""Writers of the order exports: 有赞 (GBK), 天猫 and Shopify, each with its own formats and bad rows."""

from __future__ import annotations

import csv
from datetime import datetime, time, timedelta

from siyu_cli.demo.world import BRAND, DemoFile, GUIDES
from siyu_cli.demo.writers import (
    SHOPIFY_ORDERS_HEADER, TMALL_ORDERS_HEADER, WriterBase, YOUZAN_ORDERS_HEADER, _csv_line, _dt,
    _money, _thousands_unquoted,
)


class OrderWriters(WriterBase):
    # -- 有赞 订单 (UTF-8) ---------------------------------------------------------------------------------
    def youzan_orders(self) -> DemoFile:
        name = "youzan_orders.csv"
        rng = self.rng
        lines = [YOUZAN_ORDERS_HEADER + "\r\n"]
        for o, p in self._orders_from("youzan"):
            style = "slash" if rng.random() < 0.1 else "iso"
            r = rng.random()
            if r < 0.04 or (o.amount >= 1000 and r < 0.6):
                paid_text = f"¥{o.amount:,.2f}"
            elif r < 0.07:
                paid_text = f"{o.amount:g}元"
            else:
                paid_text = _money(o.amount)
            if o.status == "cancelled":
                status, refund_state = "交易关闭", ""
            elif o.status == "refunded":
                status, refund_state = "交易关闭", "退款成功"
            elif o.status == "partially_refunded":
                status, refund_state = "交易完成", "部分退款成功"
            else:
                status, refund_state = ("交易完成", "") if o.created_at.date() < self.today - timedelta(days=1) else ("已发货", "")
            completed = o.paid_at + timedelta(hours=2) if status == "交易完成" and o.paid_at else None
            store = self.store_name[o.store] if o.store else ""
            channel = rng.choice(("门店收银", "小程序", "小程序"))
            names = ";".join(i[1] for i in o.items)
            row = [""] * 60  # the header lists 60 names (EXPORTS.md says "62 columns" but lists 60)
            row[0] = o.order_id
            row[1] = "门店" if channel == "门店收银" else "微商城"
            row[2] = BRAND
            row[3] = "普通订单"
            row[4] = status
            row[6] = channel
            row[7] = _dt(o.created_at, style)
            row[8] = _dt(o.paid_at, style)
            row[9] = _dt(completed, style)
            row[10] = "" if o.paid_at is None else rng.choice(("微信支付", "微信支付", "储值卡"))
            row[11] = "" if o.paid_at is None else f"4200{rng.randrange(10**24):024d}"
            row[12] = _money(o.amount)
            row[13] = "0.00"
            row[14] = "0.00"
            row[15] = _money(o.amount)
            row[16] = paid_text
            row[17] = "0.00"
            row[18] = _money(o.amount) if o.paid_at else "0.00"
            row[19] = "0"
            row[22] = names
            row[23] = str(len(o.items))
            row[24] = "堂食" if channel == "门店收银" else rng.choice(("到店自提", "同城配送"))
            if p is not None:
                row[30] = p.name
                row[31] = o.phone_shown or ""
                row[34] = p.nickname
                row[35] = "是" if p.youzan_member else "否"
                row[36] = "\t" + o.phone_shown if o.phone_shown else ""  # Youzan writes the phone tab-prefixed
            else:
                row[34] = "微信用户"
                row[35] = "否"
            row[37] = store
            row[38] = self.guide_name[GUIDES[rng.randrange(len(GUIDES))][0]] if channel == "门店收银" else ""
            row[40] = self.guide_name[o.guide] if o.guide else ""
            row[41] = self.guide_name[p.guide] if p is not None and p.youzan_member else ""
            row[42] = refund_state
            row[43] = _money(o.refund)
            lines.append(_csv_line(row))
        self._youzan_order_bad_rows(name, lines)
        return self._finish(name, lines)

    def _youzan_order_bad_rows(self, name: str, lines: list[str]) -> None:
        """Plant the Youzan order file's bad rows (a cut-off order number, a note as amount, an impossible date)."""
        n = len(lines)
        template = lines[1].rstrip("\r\n") if n > 1 else None
        if template:
            base = list(csv.reader([template]))[0]
        else:
            base = [""] * 60
            when = _dt(datetime.combine(self.today - timedelta(days=2), time(8, 30, 0)))
            base[1:5], base[6:9] = ["门店", BRAND, "普通订单", "交易完成"], ["门店收银", when, when]
            base[12], base[15], base[16], base[22], base[23] = "22.00", "22.00", "22.00", "美式咖啡", "1"
        missing = list(base)
        missing[0] = ""
        self._bad(name, lines, _csv_line(missing), "MISSING_KEY", "订单号", "order number cut off in the export", at=n // 4)
        bad_amount = list(base)
        bad_amount[0] = "E20991231235959000000001"[:24]
        bad_amount[16] = "待核对"
        self._bad(name, lines, _csv_line(bad_amount), "BAD_AMOUNT", "订单实付金额", "a note typed into the amount cell", at=n // 2)
        bad_date = list(base)
        bad_date[0] = "E20991231235959000000002"[:24]
        bad_date[8] = "2025-02-30 25:61:00"
        bad_date[7] = "2025-02-30 25:61:00"
        self._bad(name, lines, _csv_line(bad_date), "BAD_DATE", "买家付款时间", "an impossible date", at=(3 * n) // 4)

    # -- 天猫 订单报表 (GBK) ----------------------------------------------------------------------------------
    def tmall_orders(self) -> DemoFile:
        name = "tmall_orders.csv"
        rng = self.rng
        lines = [TMALL_ORDERS_HEADER + "\r\n"]
        total_paid = 0.0
        for o, p in self._orders_from("tmall"):
            if o.status == "cancelled":
                status, reason = "交易关闭", "买家不想买了"
            elif o.status == "refunded":
                status, reason = "交易关闭", "退款"
            elif o.created_at.date() >= self.today - timedelta(days=3):
                status, reason = rng.choice(("买家已付款，等待卖家发货", "卖家已发货，等待买家确认")), ""
            else:
                status, reason = "交易成功", ""
            phone = "" if not o.phone_shown else ("'" + o.phone_shown if o.phone_matchable else o.phone_shown)
            paid = o.amount if o.paid_at else 0.0
            total_paid += paid
            row = [""] * 54
            row[0] = f'="{o.order_id}"'
            row[1] = f"tb{p.phone[-4:]}_{p.nickname}" if rng.random() < 0.5 else f"{p.nickname}{p.idx % 97}"
            row[2] = "**"
            row[3] = _money(o.amount)
            row[4] = "0.00"
            row[5] = "0"
            row[6] = _money(o.amount)
            row[7] = "0"
            row[8] = _money(paid)
            row[9] = "0"
            row[10] = status
            row[12] = p.name
            row[13] = f"{self.store_city[p.store]}市 ****"
            row[14] = "快递"
            row[16] = phone
            row[17] = _dt(o.created_at)
            row[18] = _dt(o.paid_at)
            row[19] = ";".join(i[1] for i in o.items)
            row[20] = str(len(o.items))
            row[24] = str(sum(i[4] for i in o.items))
            row[25] = "2207845512"
            row[26] = "山茶咖啡旗舰店"
            row[27] = reason
            row[31] = "手机订单"
            row[49] = _money(o.refund)
            row[52] = f"{paid - o.refund:.2f}元" if o.paid_at else "0.00元"
            lines.append(_csv_line(row))
        n = len(lines)
        ragged = [""] * 54
        ragged[0] = '="3999999999999999999"'
        ragged[1], ragged[10], ragged[26] = "山茶老友", "交易成功", "山茶咖啡旗舰店"
        ragged[17] = ragged[18] = _dt(datetime.combine(self.today - timedelta(days=20), time(10, 4, 5)))
        ragged[3] = ragged[6] = ragged[8] = "@AMOUNT@"
        # an unquoted thousands separator (1,234.50) splits each amount cell into two columns
        line = _csv_line(ragged).replace("@AMOUNT@", _thousands_unquoted(1234.5))
        self._bad(name, lines, line, "TOO_MANY_COLUMNS", None, "unquoted 1,234.50 shifts every later column", at=max(1, n // 2))
        summary = [""] * 54
        summary[0] = "合计"
        summary[8] = _money(total_paid)
        self._bad(name, lines, _csv_line(summary), "SUMMARY_ROW", "订单编号", "the report's trailing 合计 row")
        return self._finish(name, lines)

    # -- Shopify orders (UTF-8, one row per line item) ---------------------------------------------------------
    def shopify_orders(self) -> DemoFile:
        name = "shopify_orders.csv"
        rng = self.rng
        lines = [SHOPIFY_ORDERS_HEADER + "\r\n"]
        for o, p in self._orders_from("shopify"):
            fin = {"paid": "paid", "cancelled": "voided", "refunded": "refunded",
                   "partially_refunded": "partially_refunded"}[o.status]
            if o.phone_shown:
                phone = rng.choice((f"+86 {o.phone_shown}", f"'+86{o.phone_shown}", f"+86-{o.phone_shown[:3]}-{o.phone_shown[3:7]}-{o.phone_shown[7:]}"))
            else:
                phone = ""
            email = p.email or ""
            for k, (sku, item, _cat, price, qty) in enumerate(o.items):
                row = [""] * 79
                row[0] = o.order_id
                row[1] = email
                row[16] = str(qty)
                row[17] = item
                row[18] = _money(price)
                row[20] = sku
                row[21] = "true"
                row[22] = "false"
                row[23] = "fulfilled" if o.status in ("paid", "partially_refunded") else "pending"
                row[50] = "山茶咖啡"
                if k == 0:  # order-level fields only on the first line, as Shopify writes them
                    row[2] = fin
                    row[3] = _dt(o.paid_at, "shopify")
                    row[4] = "fulfilled" if o.status in ("paid", "partially_refunded") else "unfulfilled"
                    row[5] = _dt(o.paid_at + timedelta(days=1), "shopify") if o.status in ("paid", "partially_refunded") and o.paid_at else ""
                    row[6] = "yes" if rng.random() < 0.4 else "no"
                    row[7] = "CNY"
                    row[8] = _money(o.amount)
                    row[9] = "0.00"
                    row[10] = "0.00"
                    row[11] = _money(o.amount)
                    row[13] = "0.00"
                    row[14] = "顺丰速运"
                    row[15] = _dt(o.created_at, "shopify")
                    row[24] = p.name
                    row[29] = self.store_city[p.store]
                    row[32] = "CN"
                    row[33] = phone
                    row[34] = p.name
                    row[39] = self.store_city[p.store]
                    row[42] = "CN"
                    row[43] = phone
                    row[46] = _dt(o.created_at + timedelta(hours=1), "shopify") if o.status == "cancelled" else ""
                    row[47] = "" if o.status == "cancelled" else "WeChat Pay"
                    row[49] = _money(o.refund)
                    row[51] = "0.00"
                    row[55] = str(5_000_000_000_000 + int(o.order_id[1:]) * 7919)
                    row[58] = "web"
                    row[70] = phone
            # (the Phone column mirrors the billing phone)
                lines.append(_csv_line(row))
        n = len(lines)
        missing = [""] * 79
        missing[1], missing[2], missing[7], missing[11] = "guest@example.com", "paid", "CNY", "58.00"
        missing[16], missing[17], missing[18], missing[20] = "2", "美式咖啡", "29.00", "C003"
        missing[15] = _dt(datetime.combine(self.today - timedelta(days=9), time(9, 15, 0)), "shopify")
        self._bad(name, lines, _csv_line(missing), "MISSING_KEY", "Name", "a row with no order name")
        return self._finish(name, lines)
