"""Customer and group mass sends: add_msg_template, tasks, results, reminders, cancels, quota, confirmation.

A mixin of :class:`~siyu_cli.sandbox.state.SandboxState`, which holds the corp's data and the lock
(split out of state.py by API area; behaviour unchanged).
"""

from __future__ import annotations

import calendar
import datetime as dt
import secrets as _secrets
from typing import Any

from siyu_cli.sandbox.wire import err, ok, paged_ok


class MassSendAPI:
    """Mixin: mass sends (add_msg_template and its follow-ups), the per-customer quota and confirmation."""

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
            if channel == "customer" and ((rid, userid) in self.removed or (rid, userid) in self.deleted_by_customer):
                res["status"] = 2
            elif self.over_quota(rid, now):
                res["status"] = 3
            else:
                res["status"] = 1
                res["send_time"] = int(now)
                self.usage.setdefault(rid, []).append(now)
                self._deliver(channel, msg["msgid"], userid, rid, msg["text"], msg["attachments"], now)

    def _check_content(self, text: str | None, attachments: Any) -> dict | None:
        """WeCom's checks on a mass send's text and attachments: the errcode of the first that fails, else None."""
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
        return None

    def _route_customers(self, body: dict, sender: str | None, fail: list[str], routed: dict[str, list[str]]):
        """chat_type single: each customer goes to their last-contacting guide; unknown ones into ``fail``."""
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
        return None

    def _route_groups(self, body: dict, sender: str | None, fail: list[str], routed: dict[str, list[str]]):
        """chat_type group: the sender's own groups only; any other chat id goes into ``fail``."""
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
        return None

    def add_msg_template(self, query: dict, body: dict) -> dict:
        chat_type = body.get("chat_type", "single")
        sender = body.get("sender")
        text = (body.get("text") or {}).get("content")
        attachments = body.get("attachments") or []
        if chat_type not in ("single", "group"):
            return err(40058, "chat_type")
        problem = self._check_content(text, attachments)
        if problem is not None:
            return problem
        if sender is not None and sender not in self.staff:
            return err(40003)
        now = self.clock()
        fail: list[str] = []
        routed: dict[str, list[str]] = {}
        route = self._route_customers if chat_type == "single" else self._route_groups
        problem = route(body, sender, fail, routed)
        if problem is not None:
            return problem
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
        return paged_ok(found, body, "group_msg_list", default=50, maximum=100, over_max_default=True)

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
        return paged_ok(rows, body, "task_list", default=500, maximum=1000)

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
        return paged_ok(rows, body, "send_list", default=500, maximum=1000)

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
