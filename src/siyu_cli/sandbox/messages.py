"""App messages (message/send), group robots (webhook/send) and media uploads.

A mixin of :class:`~siyu_cli.sandbox.state.SandboxState`, which holds the corp's data and the lock
(split out of state.py by API area; behaviour unchanged).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets as _secrets
from typing import Any

from siyu_cli.sandbox.wire import err, ok


def robot_id(key: str) -> str:
    return "robot-" + hashlib.sha256(key.encode()).hexdigest()[:10]


class MessagesAPI:
    """Mixin: app messages (message/send), group robots (webhook/send) and media uploads."""

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
