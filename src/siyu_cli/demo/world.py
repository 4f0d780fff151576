"""The demo world: the brand (stores, guides, menu), its people, orders and groups, and the ground truth.

Everything derives from ``random.Random(seed)`` plus ``today``; ``demo/generator.py`` writes it out as
back-office exports (the writers in ``demo/writers*.py``) and :meth:`DemoData.expected` says what a
correct load of those files gives.
"""

from __future__ import annotations

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


class _Clusters:
    """Union-find over identity keys ("p:<phone>", "u:<unionid>", …): how many people they make."""

    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, keys: list[str]) -> None:
        for k in keys:
            self.find(k)
        for k in keys[1:]:
            self.parent[self.find(k)] = self.find(keys[0])

    def count(self) -> int:
        return len({self.find(k) for k in list(self.parent)})


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
        orders_by_source: dict[str, int] = {}
        for o in self.orders:
            orders_by_source[o.source] = orders_by_source.get(o.source, 0) + 1
        per_file = self._expected_files(orders_by_source)
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
        clusters = _Clusters()
        union = clusters.union
        for p in people:
            if p.youzan_member:
                union([f"p:{p.phone}"])
            if p.miniprogram_id:  # a mini-program member has bound a phone (membership needs one)
                union([f"mp:{p.miniprogram_id}", f"u:{p.miniprogram_unionid}", f"p:{p.phone}"])
            if p.wecom_guides:
                union([f"wx:{p.external_userid}"] + ([f"u:{p.unionid}"] if p.unionid else [])
                      + ([f"p:{p.phone}"] if p.remark_phone else []))
        member_count = clusters.count()
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
        members_with_buyers = clusters.count()
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

    def _expected_files(self, orders_by_source: dict[str, int]) -> dict[str, dict]:
        """Per file: kind, preset, encoding, rows, the bad rows planted in it, and orders for order files."""
        bad_by_file: dict[str, int] = {}
        for b in self.bad_rows:
            bad_by_file[b.file] = bad_by_file.get(b.file, 0) + 1
        per_file = {}
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
        return per_file

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
