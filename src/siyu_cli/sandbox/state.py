"""The sandbox's model of one WeCom corp: staff, customers, groups, tokens, mass sends, deliveries.

Every endpoint handler takes ``(query, body)`` and returns a JSON-able dict in
WeCom's shape (errcode/errmsg + payload), following /work/shared/WECOM.md:

- ``add_msg_template`` creates one task per guide; recipients are routed to the
  follower who last interacted with them; unknown ids go to ``fail_list``; when
  nobody is eligible (all unknown / over quota) the call fails with 41048;
- nothing is delivered until the guide confirms (auto after a delay, by a control
  call, or never); at confirmation each recipient becomes status 1 (sent), 2 (not a
  friend any more) or 3 (over the per-customer quota);
- tokens expire (``token_ttl``), per-minute limits answer 45009, reminders are
  limited to 3 per mass send per 24 h, cancel stops unconfirmed tasks.

All state is guarded by one lock; the HTTP layer is in server.py.
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import hashlib
import json
import secrets as _secrets
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from siyu_cli.sandbox.activity import ActivityAPI
from siyu_cli.sandbox.contacts import ContactsAPI
from siyu_cli.sandbox.tags import TagsAPI
from siyu_cli.sandbox.wire import ERRMSG, HELP, _cursor, _offset, _page, err, ok  # noqa: F401 (re-exported)

#: Per-customer mass-send quota: current rule is days-in-month per calendar month (WECOM.md §2.4).
DEFAULT_QUOTA = {"period": "month", "limit": None}
DEFAULT_RATE_LIMIT = 10_000  # per corp per API per minute (WECOM.md §6.1)


def robot_id(key: str) -> str:
    return "robot-" + hashlib.sha256(key.encode()).hexdigest()[:10]


class SandboxState(ContactsAPI, TagsAPI, ActivityAPI):
    """One corp (see module docstring); contacts, tags and activity endpoints come from the mixins."""

    def __init__(self, *, corp_id: str, secret: str, robot_keys: list[str], confirm: str = "auto",
                 confirm_delay: float = 0.0, token_ttl: int = 7200, quota: dict | None = None,
                 rate_limits: dict | None = None, rate_limit_default: int = DEFAULT_RATE_LIMIT,
                 robot_per_minute: int = 20, app_per_member_minute: int = 30, remind_limit: int = 3,
                 dispatch_delay: float = 0.0, state_dir: Path | None = None, clock: Callable[[], float] = time.time,
                 timezone: str = "Asia/Shanghai"):
        if confirm not in ("auto", "manual", "never"):
            raise ValueError("confirm must be auto, manual or never")
        self.lock = threading.RLock()
        self.corp_id = corp_id
        self.secret = secret
        self.robot_keys = {robot_id(k): k for k in robot_keys}
        self.confirm_mode = confirm
        self.confirm_delay = confirm_delay
        self.token_ttl = token_ttl
        self.quota = dict(DEFAULT_QUOTA, **(quota or {}))
        self.rate_limits = {k.strip("/").removeprefix("cgi-bin/"): v for k, v in (rate_limits or {}).items()}
        self.rate_limit_default = rate_limit_default
        self.robot_per_minute = robot_per_minute
        self.app_per_member_minute = app_per_member_minute
        self.remind_limit = remind_limit
        self.dispatch_delay = dispatch_delay  # task/result polls answer 41063 this long after creation
        self.state_dir = Path(state_dir) if state_dir else None
        self.clock = clock
        self.tz = ZoneInfo(timezone)  # quota periods (day/week/month) are local calendar periods
        self.rotate_tokens = False
        # corp data
        self.staff: dict[str, str] = {}
        self.user_read_errcode: int | None = None  # user/get answers this (60011 / 48002: the app may not read staff)
        self.contacts: dict[str, dict] = {}  # external_userid -> {"name", "followers": {userid: added}, "last"}
        self.removed: set[tuple[str, str]] = set()  # (external_userid, userid) no longer friends
        self.groups: dict[str, dict] = {}  # chat_id -> {"name", "owner", "members": [...], "create_time"}
        self.media: dict[str, float] = {}
        self._init_contacts()
        self._init_tags()
        self._log = None
        self._reset_runtime()
        self._load_deliveries()
        self._load_messages()

    # ------------------------------------------------------------------ runtime state
    def _reset_runtime(self) -> None:
        self.tokens: dict[str, float] = {}
        self.current_token: str | None = None
        self.msgs: dict[str, dict] = {}
        self.order: list[str] = []
        self.pending: dict[tuple[str, str], float | None] = {}  # (msgid, userid) -> auto-confirm time
        self.usage: dict[str, list[float]] = {}
        self.app_dedupe: dict[tuple, tuple[float, str]] = {}
        self.app_minute: dict[str, deque] = {}
        self.robot_minute: dict[str, deque] = {}
        self.api_minute: dict[str, deque] = {}
        self._deliveries: list[dict] = []
        self.counters = {"requests": 0, "gettoken": 0, "app_dropped": 0}
        self.endpoint_calls: dict[str, int] = {}  # per API path, errors included (benchmarks, tests)

    def reset(self) -> None:
        with self.lock:
            self._reset_runtime()
            self.close()
            if self.state_dir:
                (self.state_dir / "deliveries.jsonl").write_text("", encoding="utf-8")
                (self.state_dir / "messages.json").unlink(missing_ok=True)

    def close(self) -> None:
        """Flush the record: the deliveries log and a snapshot of the mass sends (for a restart)."""
        if self._log is not None:
            self._log.close()
            self._log = None
        self.save_messages()

    def save_messages(self) -> None:
        if not self.state_dir or not self.order:
            return
        path = self.state_dir / "messages.json"
        tmp = path.with_suffix(".json.tmp")
        data = {"order": self.order, "msgs": self.msgs, "removed": sorted(map(list, self.removed))}
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)

    def _load_messages(self) -> None:
        """Mass sends of an earlier run of this sandbox: msgids stay valid, pending tasks stay pending."""
        path = self.state_dir / "messages.json" if self.state_dir else None
        if path is None or not path.exists():
            return
        data = json.loads(path.read_text(encoding="utf-8"))
        self.order = list(data["order"])
        self.msgs = data["msgs"]
        self.removed |= {tuple(x) for x in data.get("removed", [])}
        for msgid in self.order:
            msg = self.msgs[msgid]
            if msg["cancelled"]:
                continue
            for userid, task in msg["tasks"].items():
                if task["status"] == 0:
                    self.pending[(msgid, userid)] = task["due"]

    def _load_deliveries(self) -> None:
        if not self.state_dir:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.state_dir / "deliveries.jsonl"
        if not path.exists():
            return
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rec = json.loads(line)
                self._deliveries.append(rec)
                if rec["channel"] in ("customer", "group"):
                    self.usage.setdefault(rec["recipient"], []).append(rec.get("ts", 0.0))

    def _deliver(self, channel: str, msgid: str | None, sender: str | None, recipient: str, text: str | None,
                 attachments: list | None, now: float) -> None:
        rec = {"channel": channel, "msgid": msgid, "sender": sender, "recipient": recipient, "text": text,
               "attachments": attachments or [],
               "at": dt.datetime.fromtimestamp(now, self.tz).isoformat(timespec="seconds"), "ts": now}
        self._deliveries.append(rec)
        if self.state_dir:
            if self._log is None:
                self._log = open(self.state_dir / "deliveries.jsonl", "a", encoding="utf-8")
            self._log.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self._log.flush()  # another process (`siyu sandbox deliveries --state-dir`) may read it now

    def deliveries(self, channel: str | None = None) -> list[dict]:
        with self.lock:
            self.tick()
            return [dict(d) for d in self._deliveries if channel is None or d["channel"] == channel]

    # ------------------------------------------------------------------ seeding
    def add_staff(self, userid: str, name: str | None = None) -> None:
        with self.lock:
            self.staff.setdefault(userid, name or userid)

    def add_contact(self, external_userid: str, userid: str, *, name: str | None = None,
                    added_at: float | None = None, last: bool = False, refriend: bool = False) -> None:
        with self.lock:
            self.add_staff(userid)
            c = self.contacts.setdefault(external_userid, {"name": name or external_userid, "followers": {}, "last": None})
            c["followers"][userid] = added_at if added_at is not None else self.clock()
            if refriend:  # added again after being deleted (a restored sandbox keeps deletions otherwise)
                self.removed.discard((external_userid, userid))
            if last or c["last"] is None:
                c["last"] = userid
            self.contacts_changed()

    def set_last_interaction(self, external_userid: str, userid: str) -> None:
        with self.lock:
            self.contacts[external_userid]["last"] = userid

    def remove_friend(self, external_userid: str, userid: str) -> None:
        """The customer deleted the guide (or vice versa): later sends to them fail with status 2."""
        with self.lock:
            self.removed.add((external_userid, userid))
            self.contacts_changed()

    def add_group(self, chat_id: str, owner: str, *, name: str | None = None, members: list[str] | None = None) -> None:
        with self.lock:
            self.add_staff(owner)
            self.groups[chat_id] = {"name": name or chat_id, "owner": owner, "members": list(members or []),
                                    "create_time": int(self.clock())}

    def seed_synthetic(self, *, staff: int = 3, customers: int = 30, groups: int = 3) -> None:
        """A small deterministic corp: guide01.., wmsandbox0001.., every 5th customer with two followers."""
        guides = [f"guide{i:02d}" for i in range(1, staff + 1)]
        for i, g in enumerate(guides, 1):
            self.add_staff(g, f"导购{i}")
        for i in range(1, customers + 1):
            ext = f"wmsandbox{i:04d}"
            self.add_contact(ext, guides[(i - 1) % staff], name=f"客户{i}", added_at=1_700_000_000 + i)
            if i % 5 == 0 and staff > 1:
                self.add_contact(ext, guides[i % staff], added_at=1_700_100_000 + i, last=True)
        level = [self.seed_tag("客户等级", n) for n in ("高", "中", "低")]  # the corp's own tags (not siyu's)
        for i in range(1, customers + 1):
            ext = f"wmsandbox{i:04d}"
            # every 3rd customer has a unionid, every 4th a phone in the guide's remark
            self.set_contact_details(ext, unionid=f"oSandboxUnion{i:04d}" if i % 3 == 0 else None,
                                     gender=1 + i % 2)
            for userid in self.contacts[ext]["followers"]:
                self.set_relation_details(ext, userid, remark=f"客户{i}", state="store-qr" if i % 2 else None,
                                          remark_mobiles=[f"1380000{i:04d}"] if i % 4 == 0 else [])
                self.tag_relation(ext, userid, level[i % 3])
        for j in range(1, groups + 1):
            owner = guides[(j - 1) % staff]
            members = [f"wmsandbox{i:04d}" for i in range(j, customers + 1, groups)]
            self.add_group(f"wrsandbox{j:02d}", owner, name=f"社群{j}", members=members)

    def seed_from_store(self, settings) -> dict:
        """Staff, contacts and groups from the workspace store (read-only)."""
        from siyu_cli.store import open_store

        with open_store(settings, read_only=True) as con:
            staff = con.execute("SELECT userid, name FROM staff").fetchall()
            contacts = con.execute(
                """SELECT c.external_userid, c.staff_userid, epoch(c.added_at), m.guide_userid, m.name
                   FROM wecom_contacts c LEFT JOIN members m ON m.member_id = c.member_id
                   ORDER BY c.external_userid, c.added_at NULLS FIRST"""
            ).fetchall()
            orphans = con.execute(
                """SELECT m.external_userid, m.guide_userid, epoch(m.join_at), m.name FROM members m
                   WHERE m.external_userid IS NOT NULL AND m.guide_userid IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM wecom_contacts c WHERE c.external_userid = m.external_userid)"""
            ).fetchall()
            groups = con.execute("SELECT group_id, name, owner_userid FROM groups WHERE owner_userid IS NOT NULL").fetchall()
            gm = con.execute("SELECT group_id, external_userid FROM group_members ORDER BY group_id, joined_at").fetchall()
        with self.lock:
            for userid, name in staff:
                self.add_staff(userid, name)
            for ext, userid, added, _guide, name in contacts:
                # ordered by added_at: the newest follower ends up "last interacting" by default
                self.add_contact(ext, userid, name=name, added_at=float(added) if added is not None else 0.0,
                                 last=True)
            for ext, userid, _added, guide, _name in contacts:
                # the member's own guide, when a follower, is the one who last interacted
                if guide and guide in self.contacts[ext]["followers"]:
                    self.contacts[ext]["last"] = guide
            for ext, userid, joined, name in orphans:
                self.add_contact(ext, userid, name=name, added_at=float(joined) if joined is not None else 0.0)
            members: dict[str, list[str]] = {}
            for gid, ext in gm:
                members.setdefault(gid, []).append(ext)
            for gid, name, owner in groups:
                self.add_group(gid, owner, name=name, members=members.get(gid, []))
        return {"staff": len(self.staff), "contacts": len(self.contacts), "groups": len(self.groups)}

    # ------------------------------------------------------------------ tokens and limits
    def expire_tokens(self) -> int:
        with self.lock:
            now = self.clock()
            n = 0
            for tok, exp in self.tokens.items():
                if exp > now:
                    self.tokens[tok] = now - 1
                    n += 1
            self.current_token = None
            return n

    def check_token(self, query: dict) -> dict | None:
        tok = query.get("access_token")
        if not tok:
            return err(41001)
        exp = self.tokens.get(tok)
        if exp is None:
            return err(40014)
        if exp <= self.clock():
            return err(42001)
        return None

    def _window(self, table: dict, key: str, limit: int, now: float) -> bool:
        """Record a call in a 60 s sliding window; False when the limit is already reached."""
        q = table.setdefault(key, deque())
        while q and q[0] <= now - 60:
            q.popleft()
        if limit and len(q) >= limit:
            return False
        q.append(now)
        return True

    def rate_ok(self, endpoint: str) -> bool:
        limit = self.rate_limits.get(endpoint, self.rate_limit_default)
        return self._window(self.api_minute, endpoint, limit, self.clock())

    # ------------------------------------------------------------------ quota
    def _period_key(self, ts: float):
        d = dt.datetime.fromtimestamp(ts, self.tz)
        period = self.quota["period"]
        if period == "day":
            return d.date()
        if period == "week":
            return d.isocalendar()[:2]
        return (d.year, d.month)

    def _quota_limit(self, now: float) -> int:
        limit = self.quota.get("limit")
        if limit:
            return int(limit)
        if self.quota["period"] == "month":
            d = dt.datetime.fromtimestamp(now, self.tz)
            return calendar.monthrange(d.year, d.month)[1]
        return 1 if self.quota["period"] == "day" else 7

    def over_quota(self, recipient: str, now: float) -> bool:
        key = self._period_key(now)
        used = sum(1 for ts in self.usage.get(recipient, []) if self._period_key(ts) == key)
        return used >= self._quota_limit(now)

    # ------------------------------------------------------------------ confirmation
    def tick(self) -> None:
        """Auto-confirm tasks whose delay has passed (called on every request)."""
        if self.confirm_mode != "auto" or not self.pending:
            return
        now = self.clock()
        for (msgid, userid), due in list(self.pending.items()):
            if due is not None and due <= now:
                self._confirm_task(self.msgs[msgid], userid, now)

    def confirm(self, msgid: str | None = None, sender: str | None = None) -> int:
        """Guides confirm their pending tasks (all, one mass send, or one guide's); returns tasks confirmed."""
        with self.lock:
            self.tick()
            if self.confirm_mode == "never":
                return 0
            now = self.clock()
            n = 0
            for mid, userid in list(self.pending):  # creation order
                if (msgid is None or mid == msgid) and (sender is None or userid == sender):
                    self._confirm_task(self.msgs[mid], userid, now)
                    n += 1
            return n

    def _confirm_task(self, msg: dict, userid: str, now: float) -> None:
        self.pending.pop((msg["msgid"], userid), None)
        task = msg["tasks"][userid]
        task["status"] = 2
        task["send_time"] = int(now)
        channel = "customer" if msg["chat_type"] == "single" else "group"
        for rid, res in msg["results"][userid].items():
            if res["status"] != 0:
                continue
            if channel == "customer" and (rid, userid) in self.removed:
                res["status"] = 2
            elif self.over_quota(rid, now):
                res["status"] = 3
            else:
                res["status"] = 1
                res["send_time"] = int(now)
                self.usage.setdefault(rid, []).append(now)
                self._deliver(channel, msg["msgid"], userid, rid, msg["text"], msg["attachments"], now)

    # ------------------------------------------------------------------ endpoints
    def gettoken(self, query: dict, body: Any) -> dict:
        self.counters["gettoken"] += 1
        corpid, secret = query.get("corpid"), query.get("corpsecret")
        if not corpid:
            return err(41002)
        if not secret:
            return err(41004)
        if corpid != self.corp_id:
            return err(40013)
        if secret != self.secret:
            return err(40001)
        now = self.clock()
        tok = self.current_token
        if self.rotate_tokens or tok is None or self.tokens.get(tok, 0) <= now:
            tok = _secrets.token_urlsafe(48)
            self.tokens[tok] = now + self.token_ttl
            self.current_token = tok
        return ok(access_token=tok, expires_in=int(round(self.tokens[tok] - now)))

    def add_msg_template(self, query: dict, body: dict) -> dict:
        chat_type = body.get("chat_type", "single")
        sender = body.get("sender")
        text = (body.get("text") or {}).get("content")
        attachments = body.get("attachments") or []
        if chat_type not in ("single", "group"):
            return err(40058, "chat_type")
        if text is not None and len(text.encode("utf-8")) > 4000:
            return err(45002, "text over 4000 bytes")
        if not isinstance(attachments, list):
            return err(40058, "attachments")
        if len(attachments) > 9:
            return err(41064)
        for att in attachments:
            kind = att.get("msgtype") if isinstance(att, dict) else None
            if kind not in ("image", "link", "miniprogram", "video", "file") or not isinstance(att.get(kind), dict):
                return err(41065)
            inner = att[kind]
            if kind == "image" and not inner.get("pic_url"):
                if inner.get("media_id") not in self.media:
                    return err(40007)
            if kind == "link" and (not inner.get("title") or not inner.get("url")):
                return err(40058, "link.title and link.url are required")
            if kind == "miniprogram" and not all(inner.get(k) for k in ("title", "pic_media_id", "appid", "page")):
                return err(40058, "miniprogram fields are required")
        if not text and not attachments:
            return err(44004)
        if sender is not None and sender not in self.staff:
            return err(40003)
        now = self.clock()
        fail: list[str] = []
        routed: dict[str, list[str]] = {}
        if chat_type == "single":
            ids = body.get("external_userid")
            if body.get("chat_id_list"):
                return err(40058, "chat_id_list is for chat_type group")
            if ids is not None and (not isinstance(ids, list) or len(ids) > 10_000):
                return err(40058, "external_userid over 10000")
            if not ids and not sender:
                return err(40058, "sender and external_userid cannot both be empty")
            if not ids:
                ids = [e for e, c in self.contacts.items() if sender in c["followers"]]
            for ext in dict.fromkeys(ids):
                c = self.contacts.get(ext)
                if c is None or not c["followers"]:
                    fail.append(ext)
                    continue
                guide = c["last"] if c["last"] in c["followers"] else next(iter(c["followers"]))
                routed.setdefault(guide, []).append(ext)
        else:
            if not sender:
                return err(40058, "sender is required for chat_type group")
            if body.get("external_userid"):
                return err(40058, "external_userid is for chat_type single")
            chats = body.get("chat_id_list")
            if chats is not None and (not isinstance(chats, list) or len(chats) > 2000):
                return err(40058, "chat_id_list over 2000")
            if not chats:
                chats = [cid for cid, g in self.groups.items() if g["owner"] == sender]
            for cid in dict.fromkeys(chats):
                g = self.groups.get(cid)
                if g is None or g["owner"] != sender:
                    fail.append(cid)
                else:
                    routed.setdefault(sender, []).append(cid)
        eligible = sum(1 for rs in routed.values() for r in rs if not self.over_quota(r, now))
        if not eligible:
            return err(41048, fail_list=fail)
        msgid = "msg" + _secrets.token_urlsafe(18).replace("-", "A").replace("_", "B")
        due = now + self.confirm_delay if self.confirm_mode == "auto" else None
        self.msgs[msgid] = {
            "msgid": msgid, "chat_type": chat_type, "sender": sender, "create_time": int(now), "created_at": now,
            "text": text,
            "attachments": attachments, "cancelled": False, "reminds": [],
            "tasks": {u: {"status": 0, "send_time": None, "due": due} for u in routed},
            "results": {u: {r: {"status": 0, "send_time": None} for r in rs} for u, rs in routed.items()},
        }
        self.order.append(msgid)
        for u in routed:
            self.pending[(msgid, u)] = due
        return ok(fail_list=fail, msgid=msgid)

    def _msg(self, body: dict, *, poll: bool = False) -> tuple[dict | None, dict | None]:
        msgid = body.get("msgid")
        if not msgid:
            return None, err(41046)
        msg = self.msgs.get(msgid)
        if msg is None:
            return None, err(41047)
        if poll and self.dispatch_delay and self.clock() < msg["created_at"] + self.dispatch_delay:
            return None, err(41063)
        return msg, None

    def get_groupmsg_list_v2(self, query: dict, body: dict) -> dict:
        try:
            start, end = int(body["start_time"]), int(body["end_time"])
        except (KeyError, TypeError, ValueError):
            return err(40058, "start_time and end_time are required")
        if end < start or end - start > 31 * 86400:
            return err(40058, "time range must be within one month")
        chat_type = body.get("chat_type", "single")
        creator = body.get("creator")
        filter_type = int(body.get("filter_type", 2))
        found = []
        for msgid in self.order:
            m = self.msgs[msgid]
            if m["chat_type"] != chat_type or not (start <= m["create_time"] <= end):
                continue
            if filter_type == 1:  # only personal (member-created) sends: the API creates enterprise ones
                continue
            if creator and creator != m["sender"] and creator not in m["tasks"]:
                continue
            rec = {"msgid": msgid, "create_type": 0, "create_time": str(m["create_time"])}
            if m["text"]:
                rec["text"] = {"content": m["text"]}
            rec["attachments"] = m["attachments"]
            found.append(rec)
        chunk, nxt = _page(found, body, default=50, maximum=100, over_max_default=True)
        if chunk is None:
            return err(40058, "invalid cursor")
        return ok(group_msg_list=chunk, next_cursor=nxt)

    def get_groupmsg_task(self, query: dict, body: dict) -> dict:
        msg, e = self._msg(body, poll=True)
        if e:
            return e
        rows = []
        for userid, t in msg["tasks"].items():
            row = {"userid": userid, "status": t["status"]}
            if t["send_time"]:
                row["send_time"] = t["send_time"]
            rows.append(row)
        chunk, nxt = _page(rows, body, default=500, maximum=1000)
        if chunk is None:
            return err(40058, "invalid cursor")
        return ok(task_list=chunk, next_cursor=nxt)

    def get_groupmsg_send_result(self, query: dict, body: dict) -> dict:
        msg, e = self._msg(body, poll=True)
        if e:
            return e
        userid = body.get("userid")
        if not userid:
            return err(40058, "userid is required")
        key = "external_userid" if msg["chat_type"] == "single" else "chat_id"
        rows = []
        for rid, res in msg["results"].get(userid, {}).items():
            row = {key: rid, "userid": userid, "status": res["status"]}
            if res["status"] == 1:
                row["send_time"] = res["send_time"]
            rows.append(row)
        chunk, nxt = _page(rows, body, default=500, maximum=1000)
        if chunk is None:
            return err(40058, "invalid cursor")
        return ok(send_list=chunk, next_cursor=nxt)

    def remind_groupmsg_send(self, query: dict, body: dict) -> dict:
        msg, e = self._msg(body)
        if e:
            return e
        now = self.clock()
        msg["reminds"] = [t for t in msg["reminds"] if t > now - 86400]
        if len(msg["reminds"]) >= self.remind_limit:
            return err(45009, f"remind limit: at most {self.remind_limit} per mass send per 24h")
        msg["reminds"].append(now)
        return ok()

    def cancel_groupmsg_send(self, query: dict, body: dict) -> dict:
        msg, e = self._msg(body)
        if e:
            return e
        msg["cancelled"] = True
        for u in msg["tasks"]:
            self.pending.pop((msg["msgid"], u), None)
        return ok()

    def message_send(self, query: dict, body: dict) -> dict:
        if body.get("agentid") in (None, ""):
            return err(40058, "agentid is required")
        msgtype = body.get("msgtype")
        if msgtype not in ("text", "markdown", "textcard", "news"):
            return err(40008)
        content = (body.get(msgtype) or {}).get("content") if msgtype in ("text", "markdown") else json.dumps(body.get(msgtype), ensure_ascii=False)
        if not content:
            return err(44004)
        raw = content.encode("utf-8")
        if len(raw) > 2048:  # WeCom truncates over-long text
            content = raw[:2048].decode("utf-8", errors="ignore")
        users = [u for u in str(body.get("touser") or "").split("|") if u]
        if users == ["@all"]:
            users = sorted(self.staff)
        valid = [u for u in dict.fromkeys(users) if u in self.staff]
        invalid = [u for u in dict.fromkeys(users) if u not in self.staff]
        if not valid:
            return err(81013, invaliduser="|".join(invalid))
        now = self.clock()
        msgid = None
        if body.get("enable_duplicate_check"):
            interval = min(int(body.get("duplicate_check_interval") or 1800), 4 * 3600)
            key = (str(body.get("agentid")), msgtype, content, tuple(sorted(valid)))
            prev = self.app_dedupe.get(key)
            if prev and prev[0] > now - interval:
                return ok(invaliduser="|".join(invalid), msgid=prev[1])
            msgid = "app" + _secrets.token_hex(8)
            self.app_dedupe[key] = (now, msgid)
        msgid = msgid or "app" + _secrets.token_hex(8)
        for u in valid:
            if self._window(self.app_minute, u, self.app_per_member_minute, now):
                self._deliver("app", msgid, f"app:{body.get('agentid')}", u, content, [], now)
            else:
                self.counters["app_dropped"] += 1  # over 30/min to one member: silently dropped
        return ok(invaliduser="|".join(invalid), invalidparty="", invalidtag="", msgid=msgid)

    def webhook_send(self, query: dict, body: dict) -> dict:
        key = query.get("key") or ""
        rid = robot_id(key)
        if not key or rid not in self.robot_keys:
            return err(93000)
        now = self.clock()
        msgtype = body.get("msgtype")
        if msgtype not in ("text", "markdown", "markdown_v2", "image", "news", "file", "voice", "template_card"):
            return err(40008)
        inner = body.get(msgtype)
        if not isinstance(inner, dict):
            return err(40058, f"{msgtype} is required")
        content = inner.get("content") if msgtype in ("text", "markdown", "markdown_v2") else json.dumps(inner, ensure_ascii=False)
        if msgtype in ("text", "markdown", "markdown_v2"):
            if not content:
                return err(44004)
            limit = 2048 if msgtype == "text" else 4096
            if len(content.encode("utf-8")) > limit:
                return err(45002, f"{msgtype}.content over {limit} bytes")
        if msgtype == "image":
            try:
                raw = base64.b64decode(inner.get("base64") or "", validate=True)
            except ValueError:
                return err(40058, "image.base64 is not base64")
            if not raw or hashlib.md5(raw).hexdigest() != inner.get("md5"):
                return err(40058, "image.md5 does not match")
            if len(raw) > 2 * 1024 * 1024:
                return err(45001, "image over 2 MB")
            content = f"image md5={inner['md5']} bytes={len(raw)}"
        if msgtype == "news":
            arts = inner.get("articles")
            if not isinstance(arts, list) or not 1 <= len(arts) <= 8:
                return err(40058, "news.articles must hold 1..8 articles")
        if not self._window(self.robot_minute, rid, self.robot_per_minute, now):
            return err(45009, f"robot limit {self.robot_per_minute}/min")
        extra = {"msgtype": msgtype}
        if msgtype == "text" and inner.get("mentioned_list"):
            extra["mentioned_list"] = inner["mentioned_list"]
        self._deliver("robot", None, None, rid, content, [extra], now)
        return ok()

    def media_upload(self, query: dict, body: Any) -> dict:
        media_type = query.get("type")
        if media_type not in ("image", "voice", "video", "file"):
            return err(40058, "type")
        if not isinstance(body, (bytes, bytearray)) or len(body) < 5:
            return err(40058, "media is required")
        media_id = "3" + _secrets.token_urlsafe(30)
        now = self.clock()
        self.media[media_id] = now
        return ok(type=media_type, media_id=media_id, created_at=str(int(now)))

    def get_follow_user_list(self, query: dict, body: Any) -> dict:
        users = sorted({u for c in self.contacts.values() for u in c["followers"]})
        return ok(follow_user=users)

    def user_get(self, query: dict, body: Any) -> dict:
        """通讯录 user/get: a staff member's name (when the app may read the directory)."""
        if self.user_read_errcode:
            return err(self.user_read_errcode)
        userid = query.get("userid")
        if not userid or userid not in self.staff:
            return err(60111, f"userid not found: {userid}")
        return ok(userid=userid, name=self.staff[userid], status=1)

    def externalcontact_list(self, query: dict, body: Any) -> dict:
        userid = query.get("userid")
        if not userid or userid not in self.staff:
            return err(40003)
        ids = [e for e, c in self.contacts.items() if userid in c["followers"] and (e, userid) not in self.removed]
        return ok(external_userid=ids)

    def externalcontact_get(self, query: dict, body: Any) -> dict:
        ext = query.get("external_userid")
        c = self.contacts.get(ext or "")
        if c is None:
            return err(40096)
        follow = [{"userid": u, "remark": "", "description": "", "createtime": int(t), "tags": [], "add_way": 1}
                  for u, t in c["followers"].items() if (ext, u) not in self.removed]
        return ok(external_contact={"external_userid": ext, "name": c["name"], "type": 1, "gender": 0},
                  follow_user=follow, next_cursor="")

    def groupchat_list(self, query: dict, body: dict) -> dict:
        try:
            limit = int(body.get("limit"))
        except (TypeError, ValueError):
            return err(40058, "limit is required (1..1000)")
        if not 1 <= limit <= 1000:
            return err(40058, "limit must be 1..1000")
        owners = (body.get("owner_filter") or {}).get("userid_list")
        if owners is not None and len(owners) > 100:
            return err(40058, "owner_filter.userid_list over 100")
        status_filter = int(body.get("status_filter") or 0)
        rows = [{"chat_id": cid, "status": 0} for cid, g in self.groups.items()
                if (not owners or g["owner"] in owners) and status_filter == 0]
        chunk, nxt = _page(rows, body, default=limit, maximum=1000)
        if chunk is None:
            return err(40058, "invalid cursor")
        return ok(group_chat_list=chunk, next_cursor=nxt)

    def groupchat_get(self, query: dict, body: dict) -> dict:
        cid = body.get("chat_id")
        g = self.groups.get(cid or "")
        if g is None:
            return err(40050)
        members = [{"userid": g["owner"], "type": 1, "join_time": g["create_time"], "join_scene": 1}]
        joined = g.get("joined", {})
        for ext in g["members"]:
            row = {"userid": ext, "type": 2, "join_time": joined.get(ext, g["create_time"]),
                   "join_scene": 2 if ext in joined else 1, "invitor": {"userid": g["owner"]}}
            unionid = self.contact_details.get(ext, {}).get("unionid")
            if unionid:
                row["unionid"] = unionid
            if body.get("need_name"):
                row["name"] = self.contacts.get(ext, {}).get("name", ext)
            members.append(row)
        return ok(group_chat={"chat_id": cid, "name": g["name"], "owner": g["owner"], "create_time": g["create_time"],
                              "notice": "", "member_list": members, "admin_list": [], "member_version": "1"})

    ENDPOINTS = {
        # path: (method, handler name, needs token)
        "gettoken": ("GET", "gettoken", False),
        "externalcontact/add_msg_template": ("POST", "add_msg_template", True),
        "externalcontact/get_groupmsg_list_v2": ("POST", "get_groupmsg_list_v2", True),
        "externalcontact/get_groupmsg_task": ("POST", "get_groupmsg_task", True),
        "externalcontact/get_groupmsg_send_result": ("POST", "get_groupmsg_send_result", True),
        "externalcontact/remind_groupmsg_send": ("POST", "remind_groupmsg_send", True),
        "externalcontact/cancel_groupmsg_send": ("POST", "cancel_groupmsg_send", True),
        "message/send": ("POST", "message_send", True),
        "webhook/send": ("POST", "webhook_send", False),
        "media/upload": ("POST", "media_upload", True),
        "externalcontact/get_follow_user_list": ("GET", "get_follow_user_list", True),
        "user/get": ("GET", "user_get", True),
        "externalcontact/list": ("GET", "externalcontact_list", True),
        "externalcontact/get": ("GET", "externalcontact_get", True),
        "externalcontact/groupchat/list": ("POST", "groupchat_list", True),
        "externalcontact/groupchat/get": ("POST", "groupchat_get", True),
        "externalcontact/batch/get_by_user": ("POST", "batch_get_by_user", True),
        "externalcontact/get_corp_tag_list": ("POST", "get_corp_tag_list", True),
        "externalcontact/add_corp_tag": ("POST", "add_corp_tag", True),
        "externalcontact/mark_tag": ("POST", "mark_tag", True),
        "externalcontact/get_user_behavior_data": ("POST", "get_user_behavior_data", True),
        "externalcontact/groupchat/statistic": ("POST", "groupchat_statistic", True),
    }

    def handle(self, endpoint: str, query: dict, body: Any) -> dict:
        """Dispatch one API call (the caller holds no lock; this takes it)."""
        spec = self.ENDPOINTS.get(endpoint)
        if spec is None:
            return err(40058, f"unknown api {endpoint}")
        with self.lock:
            self.counters["requests"] += 1
            self.endpoint_calls[endpoint] = self.endpoint_calls.get(endpoint, 0) + 1
            self.tick()
            if spec[2]:
                problem = self.check_token(query)
                if problem:
                    return problem
            if endpoint != "webhook/send" and not self.rate_ok(endpoint):
                return err(45009)
            if body is None and spec[0] == "POST" and endpoint != "media/upload":
                return err(40058, "Warning: wrong json format.")
            if spec[0] == "POST" and endpoint != "media/upload" and not isinstance(body, dict):
                return err(40058, "Warning: wrong json format.")
            try:
                return getattr(self, spec[1])(query, body if body is not None else {})
            except (TypeError, ValueError, KeyError, AttributeError):
                return err(40058, "invalid parameter type")
