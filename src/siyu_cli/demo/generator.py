"""Deterministic synthetic data for 山茶咖啡, a fictional coffee-and-tea chain.

The demo must exercise ``siyu load`` the way real back-office exports do, so
the files use the real layouts from EXPORTS.md (exact Chinese headers, GBK
where the back office writes GBK, UTF-8 with BOM for WeCom) and carry the
messy values real exports have: ``￥1,234.50``, ``38.5元``, mixed date
formats, tab- and apostrophe-prefixed phones, masked phones, ``="…"`` order
ids, trailing header commas and spaces. A handful of deliberately bad rows
(enumerated in :attr:`DemoData.bad_rows`) give the rejects report something
to show. The same person appears in several files (by phone, WeCom
external_userid and unionid) so identity resolution matters. The brand's
ordering mini-program's member export (``miniprogram_members.csv``, siyu's own
member columns) carries the WeChat unionid, so WeCom customers link to members
by unionid as they do on a corp whose mini-program and WeCom share an Open
Platform account (EXPORTS.md §4.2).

Everything derives from ``random.Random(seed)`` plus ``today``: the same
(members, seed, today) gives byte-identical files.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

BRAND = "山茶咖啡"
TZ_OFFSET = "+0800"
MANIFEST = "demo-manifest.json"

#: (store id, store name, city)
STORES = (
    ("SH01", "山茶咖啡上海静安店", "上海"),
    ("SH02", "山茶咖啡上海徐汇店", "上海"),
    ("SH03", "山茶咖啡上海浦东店", "上海"),
    ("HZ01", "山茶咖啡杭州西湖店", "杭州"),
    ("HZ02", "山茶咖啡杭州滨江店", "杭州"),
    ("SZ01", "山茶咖啡苏州园区店", "苏州"),
)

#: (WeCom userid, name, store id): 15 guides, 2–3 per store
GUIDES = (
    ("lina", "李娜", "SH01"), ("wangfang", "王芳", "SH01"), ("zhouqiang", "周强", "SH01"),
    ("chenjing", "陈静", "SH02"), ("liuyang", "刘洋", "SH02"),
    ("zhaolei", "赵磊", "SH03"), ("sunli", "孙丽", "SH03"), ("huangmin", "黄敏", "SH03"),
    ("xutao", "徐涛", "HZ01"), ("hejie", "何洁", "HZ01"), ("maxin", "马欣", "HZ01"),
    ("guoyan", "郭燕", "HZ02"), ("linfeng", "林峰", "HZ02"),
    ("yuhui", "于慧", "SZ01"), ("tangwei", "唐伟", "SZ01"),
)

#: Online shops of the brand (not stores): Youzan's 归属店铺 is the brand's 微商城, Tmall's 店铺名称 the flagship.
ONLINE_SHOPS = (("YZ", BRAND, "有赞微商城"), ("TM", f"{BRAND}旗舰店", "天猫旗舰店"))


def dimensions_toml() -> str:
    """The [stores.*] and [staff.*] tables an operator of this brand would write once into siyu.toml
    (docs/dimensions.md): the six stores with the short names people also use, the online shops kept
    apart, and the fifteen guides' names."""
    lines = ["", "# Stores (docs/dimensions.md): canonical ids, names and the other names exports use."]
    for sid, name, city in STORES:
        short = name.removeprefix(BRAND)  # 上海静安店
        lines += [f"[stores.{sid}]", f'name = "{name}"',
                  f'aliases = ["{short}", "{short.removeprefix(city)}"]', 'kind = "physical"']
    for sid, name, note in ONLINE_SHOPS:
        lines += [f"[stores.{sid}]  # {note}", f'name = "{name}"', 'kind = "online"']
    # WeCom's API gives guides' userids, order exports their Chinese names: the operator names each guide once
    lines += ["", "# Guides (docs/dimensions.md): the WeCom userid, the name order exports use, the store."]
    for userid, name, sid in GUIDES:
        lines += [f"[staff.{userid}]", f'name = "{name}"', f'store = "{sid}"']
    return "\n".join(lines) + "\n"


#: (sku, name, category, price) — the menu
MENU = (
    ("C001", "山茶花拿铁", "咖啡", 32.0),
    ("C002", "生椰拿铁", "咖啡", 29.0),
    ("C003", "美式咖啡", "咖啡", 22.0),
    ("C004", "燕麦拿铁", "咖啡", 31.0),
    ("C005", "桂花冷萃", "咖啡", 30.0),
    ("T001", "桂花乌龙", "茶饮", 26.0),
    ("T002", "茉莉雪芽", "茶饮", 24.0),
    ("T003", "山茶柠檬茶", "茶饮", 21.0),
    ("F001", "黄油可颂", "烘焙", 16.0),
    ("F002", "巴斯克蛋糕", "烘焙", 28.0),
    ("B001", "山茶拼配咖啡豆250g", "咖啡豆", 98.0),
    ("B002", "挂耳咖啡礼盒", "礼盒", 128.0),
    ("B003", "年度会员咖啡豆订阅", "礼盒", 688.0),
)
_MENU_WEIGHTS = (14, 14, 12, 8, 6, 9, 6, 6, 8, 5, 3, 2, 0.3)

#: relative order volume by month (iced drinks in summer, gifts in December, Spring Festival dip)
MONTH_WEIGHT = {1: 0.85, 2: 0.7, 3: 0.9, 4: 1.0, 5: 1.1, 6: 1.25, 7: 1.35, 8: 1.3, 9: 1.05, 10: 1.0, 11: 1.05, 12: 1.3}

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛瑞凡佳嘉琼勤珍贞莉桂娣叶璧璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝思丽"
_NICK = ("咖啡续命", "小山茶", "一杯美式", "拿铁不加糖", "阿喵", "Lemon", "Cici", "晴天", "momo", "Kevin", "小鹿", "橙子", "Yuki", "大白", "木木")
_PHONE_PREFIX = ("130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156", "158", "159",
                 "166", "173", "176", "177", "180", "181", "182", "183", "185", "186", "187", "188", "189", "199")
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_TASTES = ("拿铁控", "美式党", "茶饮爱好者", "甜品党", "咖啡豆玩家")
_CHANNELS = (("门店扫码", 45), ("小程序", 25), ("公众号", 10), ("朋友推荐", 8), ("外卖平台", 7), ("快闪活动", 5))
_ADD_WAYS = ("扫描二维码", "扫描二维码", "扫描二维码", "搜索手机号", "名片分享", "群聊")


class _Weighted:
    """``rng.choices(population, weights)[0]`` with the cumulative weights computed once (same draws)."""

    def __init__(self, population, weights):
        from itertools import accumulate

        self.population = tuple(population)
        self.cum = list(accumulate(weights))
        self.total = self.cum[-1] + 0.0
        self.hi = len(self.cum) - 1

    def pick(self, rng: random.Random):
        from bisect import bisect

        return self.population[bisect(self.cum, rng.random() * self.total, 0, self.hi)]


_HOURS = _Weighted((7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21), (3, 10, 12, 6, 5, 7, 8, 9, 8, 6, 5, 4, 3, 2, 1))
_BASKET_SIZE = _Weighted((1, 2, 3), (62, 28, 10))
_MENU_PICK = _Weighted(MENU, _MENU_WEIGHTS)
_QTY = _Weighted((1, 2, 3), (80, 16, 4))


# ------------------------------------------------------------------ public types

@dataclass(frozen=True)
class DemoFile:
    """One generated export: where it is, which ``siyu load`` kind and preset read it."""

    path: Path
    kind: str  # members | orders | groups
    preset: str
    encoding: str = "utf-8"
    rows: int = 0  # data rows (lines after the header)


@dataclass(frozen=True)
class BadRow:
    """A deliberately broken row: the loader must reject exactly this line."""

    file: str  # file name
    line: int  # 1-based line in the file (header = 1)
    reason: str  # the kind of problem (MISSING_KEY, BAD_AMOUNT, BAD_DATE, SUMMARY_ROW, TOO_MANY_COLUMNS)
    # note: a member row with no key at all is not a bad row (loaders may keep it under a content hash)
    column: str | None
    note: str


@dataclass
class Person:
    idx: int
    name: str
    nickname: str
    gender: str  # 男 | 女
    birthday: date | None
    phone: str
    email: str | None
    join_at: datetime
    store: str  # store id
    guide: str  # guide userid
    channel: str
    persona: str  # never | once | regular | super
    lapsed: bool
    pref: str  # youzan | tmall | shopify
    youzan_member: bool
    wecom_guides: list[str] = field(default_factory=list)
    external_userid: str | None = None
    unionid: str | None = None
    remark_phone: bool = False  # the WeCom row carries the phone in 手机
    miniprogram_id: str | None = None  # member number in the brand's mini-program (None: not a mini-program member)
    miniprogram_unionid: str | None = None  # the unionid the mini-program export shows (WeCom's, when WeCom returns one)
    tags: list[str] = field(default_factory=list)


@dataclass
class Order:
    source: str  # youzan | tmall | shopify
    order_id: str
    person: int | None  # Person.idx, None for a guest (non-member) order
    created_at: datetime
    paid_at: datetime | None
    status: str  # paid | cancelled | refunded | partially_refunded
    items: list[tuple[str, str, str, float, int]]  # sku, name, category, price, qty
    amount: float  # goods total = paid amount (no shipping/discounts in the demo)
    refund: float
    store: str | None
    guide: str | None
    phone_shown: str | None  # what the export shows as the buyer phone ("" = none)
    phone_matchable: bool  # a real (unmasked) phone


@dataclass
class Group:
    chat_id: str
    name: str
    owner: str  # guide userid
    store: str
    created_at: datetime
    members: list[tuple[int, datetime, str, str | None]]  # person idx, joined, join scene, invitor


@dataclass
class DemoData:
    """The generated world plus its ground truth (what a correct load must produce)."""

    members: int
    seed: int
    today: date
    people: list[Person]
    orders: list[Order]
    groups: list[Group]
    bad_rows: list[BadRow] = field(default_factory=list)
    files: list[DemoFile] = field(default_factory=list)

    # -- ground truth -------------------------------------------------------------------------
    def expected(self) -> dict:
        """Counts a correct ``siyu load`` of every file must give, derived from the world, not from output."""
        bad_by_file: dict[str, int] = {}
        for b in self.bad_rows:
            bad_by_file[b.file] = bad_by_file.get(b.file, 0) + 1
        per_file = {}
        orders_by_source: dict[str, int] = {}
        for o in self.orders:
            orders_by_source[o.source] = orders_by_source.get(o.source, 0) + 1
        for f in self.files:
            per_file[f.path.name] = {
                "kind": f.kind,
                "preset": f.preset,
                "encoding": f.encoding,
                "rows": f.rows,
                "rejected": bad_by_file.get(f.path.name, 0),
            }
        for name, source in (("youzan_orders.csv", "youzan"), ("tmall_orders.csv", "tmall"), ("shopify_orders.csv", "shopify")):
            if name in per_file:
                per_file[name]["orders"] = orders_by_source.get(source, 0)
        # identity resolution: union of member-file rows sharing a phone / external_userid / unionid
        people = self.people
        in_youzan = [p for p in people if p.youzan_member]
        on_wecom = [p for p in people if p.wecom_guides]
        linked = [p for p in people if p.youzan_member and p.wecom_guides and p.remark_phone]
        known_phones = {p.phone for p in people if p.youzan_member or p.miniprogram_id
                        or (p.wecom_guides and p.remark_phone)}
        matched = sum(1 for o in self.orders if o.phone_matchable and o.person is not None and people[o.person].phone in known_phones)
        # siyu's loader also makes a member of every order buyer it can identify (a real phone, a Shopify
        # email), joined to the member files' people by those keys: count the resulting clusters
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent.setdefault(x, x) != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        def union(keys: list[str]) -> None:
            for k in keys:
                find(k)
            for k in keys[1:]:
                parent[find(k)] = find(keys[0])

        for p in people:
            if p.youzan_member:
                union([f"p:{p.phone}"])
            if p.miniprogram_id:  # a mini-program member has bound a phone (membership needs one)
                union([f"mp:{p.miniprogram_id}", f"u:{p.miniprogram_unionid}", f"p:{p.phone}"])
            if p.wecom_guides:
                union([f"wx:{p.external_userid}"] + ([f"u:{p.unionid}"] if p.unionid else [])
                      + ([f"p:{p.phone}"] if p.remark_phone else []))
        member_count = len({find(k) for k in list(parent)})
        # what `siyu sync wecom` must report: a customer links through the first known key in the identity
        # order (unionid, then remark phone); no export carries the external_userid, and every key a member
        # export or an order gives is known before the sync
        phones_before_sync = {p.phone for p in people if p.youzan_member or p.miniprogram_id} | {
            people[o.person].phone for o in self.orders if o.person is not None and o.phone_matchable}
        by_unionid = [p for p in on_wecom if p.unionid and p.miniprogram_unionid == p.unionid]
        by_phone = [p for p in on_wecom if p.remark_phone and not (p.unionid and p.miniprogram_unionid == p.unionid)
                    and p.phone in phones_before_sync]
        with_key = 0
        for o in self.orders:
            if o.person is None:
                continue
            p = people[o.person]
            keys = ([f"p:{p.phone}"] if o.phone_matchable else []) + \
                   ([f"e:{p.email}"] if o.source == "shopify" and p.email else [])
            if keys:
                with_key += 1
                union(keys)
        members_with_buyers = len({find(k) for k in list(parent)})
        paid = [o for o in self.orders if o.status != "cancelled"]
        return {
            "files": per_file,
            "rejected": len(self.bad_rows),
            "members": members_with_buyers,
            "members_from_member_files": member_count,
            "members_youzan": len(in_youzan),
            "members_wecom": len(on_wecom),
            "members_linked_youzan_wecom": len(linked),
            "members_miniprogram": sum(1 for p in people if p.miniprogram_id),
            "wecom_linked_by_unionid": len(by_unionid),
            "wecom_linked_by_phone": len(by_phone),
            "wecom_contacts": sum(len(p.wecom_guides) for p in on_wecom),
            "orders": len(self.orders),
            "orders_by_source": orders_by_source,
            "orders_matched_to_members": with_key,
            "orders_matched_to_member_files": matched,
            "orders_cancelled": sum(1 for o in self.orders if o.status == "cancelled"),
            "orders_refunded": sum(1 for o in self.orders if o.status == "refunded"),
            "orders_partially_refunded": sum(1 for o in self.orders if o.status == "partially_refunded"),
            "net_amount": round(sum(o.amount - o.refund for o in paid), 2),
            "groups": len(self.groups),
            "group_members": sum(len(g.members) for g in self.groups),
            "stores": len(STORES),
            "guides": len(GUIDES),
        }

    def manifest(self) -> dict:
        return {
            "generator": "siyu demo",
            "brand": BRAND,
            "members": self.members,
            "seed": self.seed,
            "today": self.today.isoformat(),
            "files": [
                {"file": f.path.name, "kind": f.kind, "preset": f.preset, "encoding": f.encoding, "rows": f.rows}
                for f in self.files
            ],
            "bad_rows": [asdict(b) for b in self.bad_rows],
            "expected": self.expected(),
        }


# ------------------------------------------------------------------ the world

class _World:
    def __init__(self, members: int, seed: int, today: date):
        self.rng = random.Random(seed)
        self.seed = seed
        self.n = members
        self.today = today
        self.start = today - timedelta(days=540)  # orders cover the last ~18 months
        self._phones: set[str] = set()
        self._ids: set[str] = set()

    # -- small helpers ------------------------------------------------------------------------
    def rid(self, prefix: str, length: int, rng: random.Random | None = None) -> str:
        rng = rng or self.rng
        while True:
            value = prefix + "".join(rng.choice(_ID_CHARS) for _ in range(length - len(prefix)))
            if value not in self._ids:
                self._ids.add(value)
                return value

    def phone(self) -> str:
        rng = self.rng
        while True:
            value = rng.choice(_PHONE_PREFIX) + f"{rng.randrange(10**8):08d}"
            if value not in self._phones:
                self._phones.add(value)
                return value

    def name(self) -> tuple[str, str]:
        rng = self.rng
        given = rng.choice(_GIVEN) + (rng.choice(_GIVEN) if rng.random() < 0.7 else "")
        return rng.choice(_SURNAMES) + given, ("女" if rng.random() < 0.62 else "男")

    def moment(self, day: date, *, busy: bool = True) -> datetime:
        """A time of day with the coffee-shop rush hours."""
        rng = self.rng
        hour = _HOURS.pick(rng) if busy else rng.randrange(9, 22)
        return datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)))

    def seasonal_day(self, lo: date, hi: date) -> date:
        """A day in [lo, hi] weighted by month seasonality and weekends (rejection sampling)."""
        rng = self.rng
        span = (hi - lo).days
        if span <= 0:
            return lo
        while True:
            d = lo + timedelta(days=rng.randrange(span + 1))
            w = MONTH_WEIGHT[d.month] * (1.2 if d.weekday() >= 5 else 1.0)
            if rng.random() * 1.65 < w:
                return d

    # -- people ----------------------------------------------------------------------------------
    def people(self) -> list[Person]:
        rng = self.rng
        out = []
        store_weights = (22, 16, 14, 18, 12, 18)
        for i in range(self.n):
            name, gender = self.name()
            store = rng.choices([s[0] for s in STORES], store_weights)[0]
            guides = [g[0] for g in GUIDES if g[2] == store]
            guide = rng.choice(guides)
            # join dates: spread over two years, with a steady trickle in the last two weeks (for the SOP demo)
            if rng.random() < 0.03:
                join_day = self.today - timedelta(days=rng.randrange(0, 14))
            else:
                join_day = self.seasonal_day(self.today - timedelta(days=720), self.today - timedelta(days=1))
            join_at = self.moment(join_day)
            persona = rng.choices(("never", "once", "regular", "super"), (12, 52, 32, 4))[0]
            lapsed = persona != "never" and rng.random() < 0.25
            pref = rng.choices(("youzan", "tmall", "shopify"), (84, 11, 5))[0]
            youzan_member = rng.random() < (0.9 if pref == "youzan" else 0.35)
            on_wecom = rng.random() < (0.78 if youzan_member else 0.5)
            if not youzan_member and not on_wecom and persona == "never":
                persona = "once"  # someone who never bought and is in no member file does not exist for us
            p = Person(
                idx=i, name=name, nickname=rng.choice(_NICK) if rng.random() < 0.4 else name[0] + "先生" if gender == "男" else name[0] + "小姐",
                gender=gender,
                birthday=date(rng.randrange(1968, 2006), rng.randrange(1, 13), rng.randrange(1, 29)) if rng.random() < 0.6 else None,
                phone=self.phone(),
                email=None, join_at=join_at, store=store, guide=guide,
                channel=rng.choices([c[0] for c in _CHANNELS], [c[1] for c in _CHANNELS])[0],
                persona=persona, lapsed=lapsed, pref=pref, youzan_member=youzan_member,
            )
            if pref == "shopify" or rng.random() < 0.05:
                p.email = f"u{p.phone[-6:]}{i % 10}@{rng.choice(('qq.com', '163.com', 'gmail.com', 'icloud.com'))}"
            if on_wecom:
                p.wecom_guides = [guide]
                if rng.random() < 0.1:  # also added by a colleague in the same city
                    others = [g[0] for g in GUIDES if g[0] != guide and g[2][:2] == store[:2]]
                    p.wecom_guides.append(rng.choice(others))
                p.external_userid = self.rid("wm", 32)
                p.unionid = self.rid("oAmL", 28) if rng.random() < 0.7 else None
                p.remark_phone = rng.random() < (0.85 if youzan_member else 0.3)  # guides note the phone of members
            p.tags = [rng.choice(_TASTES)] if rng.random() < 0.6 else []
            out.append(p)
        return out

    def miniprogram(self, people: list[Person]) -> None:
        """Who joined the brand's ordering mini-program, with their member number and unionid.

        Its own random stream, so the rest of the world is what it was before the mini-program existed.
        A mini-program member has bound a phone (the membership card needs one); their unionid is the one
        WeCom returns when it returns one (same Open Platform account), else their own.
        """
        rng = random.Random(f"{self.seed}:miniprogram")
        numbers: set[str] = set()
        for p in people:
            if rng.random() >= (0.4 if p.youzan_member else 0.25):
                continue
            while (number := f"88{rng.randrange(10**10):010d}") in numbers:
                pass
            numbers.add(number)
            p.miniprogram_id = number
            p.miniprogram_unionid = p.unionid or self.rid("oAmL", 28, rng)

    # -- orders ------------------------------------------------------------------------------------
    def basket(self, persona: str) -> list[tuple[str, str, str, float, int]]:
        rng = self.rng
        if rng.random() < 0.004:  # an office team order (办公室团购): one drink, many cups
            sku, name, cat, price = rng.choice(MENU[:8])
            return [(sku, name, cat, price, rng.randrange(30, 61))]
        n = _BASKET_SIZE.pick(rng)
        items = []
        seen = set()
        for _ in range(n):
            sku, name, cat, price = _MENU_PICK.pick(rng)
            if sku in seen:
                continue
            seen.add(sku)
            qty = _QTY.pick(rng) if cat not in ("礼盒", "咖啡豆") else 1
            items.append((sku, name, cat, price, qty))
        if persona == "super" and rng.random() < 0.15:
            items.append(("B001", "山茶拼配咖啡豆250g", "咖啡豆", 98.0, rng.choice((1, 2, 4))))
        return items

    def orders(self, people: list[Person]) -> list[Order]:
        rng = self.rng
        out: list[Order] = []
        counts = {"youzan": 0, "tmall": 0, "shopify": 0}
        for p in people:
            if p.persona == "never":
                continue
            if p.persona == "once":
                n = 1
            elif p.persona == "regular":
                n = min(2 + int(rng.expovariate(1 / 3.0)), 15)
            else:
                n = 20 + int(rng.expovariate(1 / 20.0))  # the Pareto head: ~4% of people, 20–100 orders
                n = min(n, 100)
            lo = max(p.join_at.date(), self.start)
            hi = self.today - timedelta(days=1)
            if p.lapsed:  # stopped buying 4–12 months ago
                hi = min(hi, self.today - timedelta(days=rng.randrange(120, 360)))
            if hi < lo:
                continue  # joined today: no purchase in the exports yet (they end yesterday)
            for _ in range(n):
                day = self.seasonal_day(lo, hi)
                source = p.pref if rng.random() < 0.8 else "youzan"
                out.append(self._order(source, p, day, counts))
        # guests: walk-ins who never registered (no phone on the order)
        for _ in range(max(1, len(out) // 10)):
            day = self.seasonal_day(self.start, self.today - timedelta(days=1))
            out.append(self._order("youzan", None, day, counts))
        out.sort(key=lambda o: (o.created_at, o.order_id))
        return out

    def _order(self, source: str, p: Person | None, day: date, counts: dict) -> Order:
        rng = self.rng
        counts[source] += 1
        k = counts[source]
        created = self.moment(day)
        if source == "youzan":
            order_id = f"E{created:%Y%m%d%H%M%S}{k % 100000:05d}{rng.randrange(10**4):04d}"  # 24 characters
            store = p.store if p else rng.choice(STORES)[0]
        elif source == "tmall":
            order_id = f"{rng.randrange(1, 4)}{rng.randrange(10**17, 10**18)}"
            store = None
        else:
            order_id = f"#{1000 + k}"
            store = None
        items = self.basket(p.persona if p else "once")
        amount = round(sum(price * qty for _, _, _, price, qty in items), 2)
        r = rng.random()
        status, refund = "paid", 0.0
        if r < 0.03:
            status = "cancelled"
        elif r < 0.05:
            status, refund = "refunded", amount
        elif r < 0.065 and len(items) > 1:
            status, refund = "partially_refunded", round(items[0][3] * items[0][4], 2)
        paid_at = None if status == "cancelled" else created + timedelta(seconds=rng.randrange(5, 300))
        guide = None
        if p is not None and source == "youzan" and p.wecom_guides and rng.random() < 0.6:
            guide = p.wecom_guides[0]
        phone_shown, matchable = None, False
        if p is not None:
            if source == "tmall" and rng.random() < 0.3:
                phone_shown = p.phone[:3] + "****" + p.phone[-4:]  # 号码保护 / masked
            elif source == "shopify" and rng.random() < 0.3:
                phone_shown = ""
            else:
                phone_shown, matchable = p.phone, True
        return Order(source, order_id, p.idx if p else None, created, paid_at, status, items, amount, refund,
                     store, guide, phone_shown, matchable)

    # -- groups ------------------------------------------------------------------------------------
    def groups(self, people: list[Person]) -> list[Group]:
        rng = self.rng
        out = []
        for sid, sname, city in STORES:
            contacts = [p for p in people if p.wecom_guides and p.store == sid]
            if not contacts:
                continue
            joiners = [p for p in contacts if rng.random() < 0.65]
            n_groups = max(1, round(len(joiners) / 200))
            size = len(joiners) // n_groups
            owners = [g[0] for g in GUIDES if g[2] == sid]
            for gi in range(n_groups):
                chunk = joiners[gi * size:(gi + 1) * size] if gi < n_groups - 1 else joiners[gi * size:]
                if len(chunk) > 300:
                    chunk = chunk[:300]
                owner = owners[gi % len(owners)]
                created = self.moment(self.today - timedelta(days=rng.randrange(200, 700)), busy=False)
                members = []
                for p in chunk:
                    joined = max(p.join_at, created) + timedelta(minutes=rng.randrange(10, 60 * 24 * 20))
                    if joined.date() >= self.today:
                        joined = datetime.combine(self.today - timedelta(days=1), time(12, 0))
                    scene = rng.choices(("通过扫描群二维码入群", "由群成员邀请入群", "通过群链接入群"), (60, 30, 10))[0]
                    invitor = owner if scene == "由群成员邀请入群" else None
                    members.append((p.idx, joined, scene, invitor))
                short = sname.replace("山茶咖啡", "")
                out.append(Group(self.rid("wr", 32), f"山茶咖啡·{short}福利{gi + 1}群", owner, sid, created, members))
        return out


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

class _Writer:
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

    # -- 有赞 订单 (UTF-8) ---------------------------------------------------------------------------------
    def youzan_orders(self) -> DemoFile:
        name = "youzan_orders.csv"
        rng = self.rng
        people = self.data.people
        lines = [YOUZAN_ORDERS_HEADER + "\r\n"]
        for o in self.data.orders:
            if o.source != "youzan":
                continue
            p = people[o.person] if o.person is not None else None
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
        return self._finish(name, lines)

    # -- 天猫 订单报表 (GBK) ----------------------------------------------------------------------------------
    def tmall_orders(self) -> DemoFile:
        name = "tmall_orders.csv"
        rng = self.rng
        people = self.data.people
        lines = [TMALL_ORDERS_HEADER + "\r\n"]
        total_paid = 0.0
        for o in self.data.orders:
            if o.source != "tmall":
                continue
            p = people[o.person]
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
        people = self.data.people
        lines = [SHOPIFY_ORDERS_HEADER + "\r\n"]
        for o in self.data.orders:
            if o.source != "shopify":
                continue
            p = people[o.person]
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


def _joined_text(joined: datetime, r: float) -> str:
    """入群时间 as exported: mostly ISO, some Excel-style, some the API's epoch seconds (join_time)."""
    if r < 0.1:
        return _dt(joined, "slash")
    if r < 0.2:
        return str(int((joined - timedelta(hours=8) - datetime(1970, 1, 1)).total_seconds()))  # +08:00 wall time
    return _dt(joined)


def _thousands_unquoted(value: float) -> str:
    return f"{value:,.2f}"


# ------------------------------------------------------------------ entry points

def default_today() -> date:
    """Today in China (the demo brand's time zone)."""
    from siyu_cli import clock

    return clock.today("Asia/Shanghai")


def build(members: int = 2000, seed: int = 7, today: date | None = None) -> DemoData:
    """The demo world in memory (no files written)."""
    import gc

    if members < 1:
        raise ValueError("members must be at least 1")
    today = today or default_today()
    world = _World(members, seed, today)
    enabled = gc.isenabled()
    gc.disable()  # millions of small objects and no cycles: the collector only costs time here
    try:
        people = world.people()
        orders = world.orders(people)
        groups = world.groups(people)
        world.miniprogram(people)
    finally:
        if enabled:
            gc.enable()
    return DemoData(members=members, seed=seed, today=today, people=people, orders=orders, groups=groups)


def generate_data(folder: Path, *, members: int = 2000, seed: int = 7, today: date | None = None) -> DemoData:
    """Write every export into ``folder`` and return the world with its ground truth."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = build(members, seed, today)
    world_rng = random.Random(f"{seed}:files")  # formatting randomness, independent of the world's
    writer = _Writer(data, folder, world_rng)
    writer.youzan_members()
    writer.miniprogram_members()
    writer.wecom_customers()
    writer.youzan_orders()
    writer.tmall_orders()
    writer.shopify_orders()
    writer.wecom_groups()
    order = {n: i for i, n in enumerate(FILE_SPECS)}
    data.files.sort(key=lambda f: order[f.path.name])
    data.bad_rows.sort(key=lambda b: (order[b.file], b.line))
    (folder / MANIFEST).write_text(json.dumps(data.manifest(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return data


def generate(folder: Path, *, members: int = 2000, seed: int = 7, today: date | None = None) -> list[DemoFile]:
    """Write the demo exports into ``folder`` (the signature `siyu demo` and the tests call); see :func:`generate_data` for the ground truth."""
    return generate_data(folder, members=members, seed=seed, today=today).files
