"""Writers of the people exports: 有赞 customers, the mini-program's members, WeCom customers and groups."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta

from siyu_cli.demo.world import DemoFile, _ADD_WAYS
from siyu_cli.demo.writers import (
    MINIPROGRAM_MEMBERS_HEADER, WECOM_CUSTOMERS_HEADER, WECOM_GROUPS_HEADER, WECOM_GROUP_MEMBERS_HEADER,
    WriterBase, YOUZAN_MEMBERS_HEADER, _csv_line, _dt, _joined_text, _money,
)


class MemberWriters(WriterBase):
    # -- 有赞 客户列表 (GBK) ----------------------------------------------------------------------------
    def youzan_members(self) -> DemoFile:
        name = "youzan_members.csv"
        rng = self.rng
        lines = [YOUZAN_MEMBERS_HEADER + "\r\n"]
        stats = self._stats()
        for p in self.data.people:
            if not p.youzan_member:
                continue
            count, spent, refunded, refund_orders, last = stats.get(p.idx, [0, 0.0, 0.0, 0, None])
            level = "V4" if spent > 3000 else "V3" if spent > 1000 else "V2" if spent > 200 else "V1"
            style = rng.choices(("iso", "cn", "slashdate"), (80, 12, 8))[0]
            phone = p.phone if rng.random() < 0.9 else "\t" + p.phone
            balance = rng.choice((0, 0, 0, 0, 50, 100, 200, 500)) if p.persona in ("regular", "super") else 0
            balance_text = "0.00" if not balance else (f"￥{balance:,.2f}" if rng.random() < 0.5 else f"{balance}元")
            row = [
                p.name, p.nickname, phone, p.birthday.isoformat() if p.birthday else "", p.gender,
                ",".join(p.tags), "是", str(int(spent)), level, "", "", str(int(spent) // 10),
                balance_text, str(count), _money(spent), _money(refunded), str(refund_orders),
                _money(spent / count) if count else "0.00", _dt(last), "", self.guide_name[p.guide],
                "是" if p.wecom_guides else "否", p.channel, "扫码" if p.channel == "门店扫码" else "自主注册",
                _dt(p.join_at, style), _dt(p.join_at, style), self.store_name[p.store],
                "已关注" if rng.random() < 0.4 else "未关注", "", "", self.store_city[p.store],
                self.store_city[p.store], "", "", "",
            ]
            lines.append(_csv_line(row))
        n = len(lines)
        # 147… is a valid mobile range the people never get, so the rejected row is nobody in the ground truth
        self._bad(name, lines, _csv_line(["钱多多", "多多", "14700001234", "", "女", "", "是", "0", "V1", "", "", "0", "0.00",
                                          "0", "0.00", "0.00", "0", "0.00", "", "", "李娜", "否", "门店扫码", "扫码",
                                          "2024-13-45 10:00:00", "2024-13-45 10:00:00", self.store_name["SH01"],
                                          "未关注", "", "", "上海", "上海", "", "", ""]),
                  "BAD_DATE", "成为客户时间", "month 13 (a hand-edited cell)", at=n // 2)
        return self._finish(name, lines)

    # -- 小程序会员 (UTF-8, siyu's member columns) ----------------------------------------------------------------
    def miniprogram_members(self) -> DemoFile:
        rng = random.Random(f"{self.data.seed}:miniprogram-file")  # the other files' formatting stays as it was
        lines = [MINIPROGRAM_MEMBERS_HEADER + "\r\n"]
        for p in self.data.people:
            if not p.miniprogram_id:
                continue
            span = max(0, (self.today - p.join_at.date()).days)
            joined = p.join_at + timedelta(days=rng.randrange(span + 1), minutes=rng.randrange(600))
            joined = joined if joined.date() < self.today else p.join_at
            points = rng.randrange(0, 3000)
            level = "金卡" if points > 2000 else "银卡" if points > 800 else "普通会员"
            lines.append(_csv_line([p.miniprogram_id, p.miniprogram_unionid, p.phone, p.nickname, p.gender,
                                    _dt(joined), "点单小程序", level, str(points)]))
        return self._finish("miniprogram_members.csv", lines)

    # -- 企业微信 客户列表 (UTF-8 BOM) ------------------------------------------------------------------------
    def wecom_customers(self) -> DemoFile:
        name = "wecom_customers.csv"
        rng = self.rng
        lines = [WECOM_CUSTOMERS_HEADER + "\r\n"]
        for p in self.data.people:
            for k, guide in enumerate(p.wecom_guides):
                added = p.join_at + timedelta(minutes=rng.randrange(0, 60 * 24 * 3)) if k == 0 else \
                    p.join_at + timedelta(days=rng.randrange(3, 90))
                if added.date() > self.today:
                    added = datetime.combine(self.today, time(8, 0))
                stage = "新客" if p.persona in ("never", "once") else "老客" if p.persona == "regular" else "VIP"
                row = [
                    p.nickname if rng.random() < 0.5 else p.name, p.external_userid, p.unionid or "",
                    "", self.guide_name[guide], guide, self.store_name[self.guide_store[guide]], _dt(added),
                    rng.choice(_ADD_WAYS), p.phone if p.remark_phone else "", "", "", "", "", "",
                    p.tags[0] if p.tags else "", stage,
                ]
                lines.append(_csv_line(row))
        self._bad(name, lines, _csv_line(["张**", "wmBadDateRowNotAPerson00000000000"[:32], "", "", "王芳", "wangfang",
                                          self.store_name["SH01"], "2025/2/30 15:02", "扫描二维码", "", "", "", "",
                                          "", "", "", ""]),
                  "BAD_DATE", "添加时间", "30 February", at=len(lines) // 3)
        return self._finish(name, lines)

    # -- 企业微信 客户群 (UTF-8 BOM) -------------------------------------------------------------------------------
    def wecom_groups(self) -> list[DemoFile]:
        rng = self.rng
        people = self.data.people
        glines = [WECOM_GROUPS_HEADER + "\r\n"]
        mlines = [WECOM_GROUP_MEMBERS_HEADER + "\r\n"]
        for g in self.data.groups:
            glines.append(_csv_line([g.chat_id, g.name, self.guide_name[g.owner], g.owner, str(len(g.members) + 1),
                                     _dt(g.created_at), "每周三会员日，群内专享券；周五下午茶秒杀。",
                                     f"咖啡群,{self.store_city[g.store]}", self.store_name[g.store]]))
            for idx, joined, scene, invitor in g.members:
                p = people[idx]
                mlines.append(_csv_line([g.chat_id, g.name, p.nickname, "外部联系人", p.external_userid, p.unionid or "",
                                         _joined_text(joined, rng.random()), scene, invitor or ""]))
        gfile = self._finish("wecom_groups.csv", glines)
        if self.data.groups:
            chat_id, gname, owner, created = (self.data.groups[0].chat_id, self.data.groups[0].name,
                                              self.data.groups[0].owner, self.data.groups[0].created_at)
        else:
            chat_id, gname, owner, created = "wrDemoGroupWithoutMembers0000000", "山茶咖啡·福利群", "lina", \
                datetime.combine(self.today - timedelta(days=30), time(10, 0))
        self._bad("wecom_group_members.csv", mlines,
                  _csv_line([chat_id, gname, "已退出成员", "外部联系人", "", "", _dt(created + timedelta(days=1)),
                             "由群成员邀请入群", owner]),
                  "MISSING_KEY", "外部联系人ID", "a member row with no id", at=max(1, len(mlines) // 2))
        mfile = self._finish("wecom_group_members.csv", mlines)
        return [gfile, mfile]
