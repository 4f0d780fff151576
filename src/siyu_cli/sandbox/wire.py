"""WeCom's wire conventions shared by every sandbox API module: errcode envelopes and cursor paging."""

from __future__ import annotations

import base64
import secrets as _secrets

HELP = "more info at https://open.work.weixin.qq.com/devtool/query?e="

ERRMSG = {
    -1: "system busy",
    40001: "invalid credential, access_token is invalid or not latest",
    40003: "invalid userid",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40050: "chatid not found",
    40058: "invalid parameter",
    40068: "invalid tagid",
    40071: "tag name already exists",
    40072: "tag name too long",
    40096: "invalid external userid",
    41001: "access_token missing",
    41002: "corpid missing",
    41004: "corpsecret missing",
    41046: "msgid missing",
    41047: "invalid msgid",
    41048: "no customer to send",
    41063: "msg is being sent, please try later",
    41064: "attachments count exceed limit",
    41065: "invalid attachments msgtype",
    42001: "access_token expired",
    44004: "empty content",
    45002: "content size out of limit",
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    81013: "user & party & tag all invalid",
    81017: "request count exceeds limit",
    84061: "not external contact",
    93000: "invalid webhook url",
}

def err(code: int, extra: str = "", **payload) -> dict:
    hint = _secrets.token_hex(8)
    msg = ERRMSG.get(code, "error") + (f": {extra}" if extra else "")
    return {"errcode": code, "errmsg": f"{msg}, hint: [{hint}], from ip: 127.0.0.1, {HELP}{code}", **payload}


def ok(**payload) -> dict:
    return {"errcode": 0, "errmsg": "ok", **payload}


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int | None:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(raw[1:]) if raw.startswith("o") else None
    except Exception:
        return None


def _page(items: list, body: dict, *, default: int, maximum: int, over_max_default: bool = False):
    limit = body.get("limit") or default
    try:
        limit = int(limit)
    except (TypeError, ValueError):
        limit = default
    if limit > maximum:
        limit = default if over_max_default else maximum
    start = _offset(body.get("cursor"))
    if start is None:
        return None, ""
    chunk = items[start:start + limit]
    nxt = _cursor(start + limit) if start + limit < len(items) else ""
    return chunk, nxt


def paged_ok(items: list, body: dict, key: str, *, default: int, maximum: int, over_max_default: bool = False) -> dict:
    """One page of ``items`` as WeCom answers a list call (``{key: [...], next_cursor}``); a bad cursor is 40058."""
    chunk, nxt = _page(items, body, default=default, maximum=maximum, over_max_default=over_max_default)
    if chunk is None:
        return err(40058, "invalid cursor")
    return ok(**{key: chunk}, next_cursor=nxt)


page = _page  # public name for the API mixins (contacts.py, tags.py, activity.py)
