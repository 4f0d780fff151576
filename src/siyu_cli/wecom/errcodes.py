"""Every WeCom errcode siyu knows, classified by what a client must do about it.

Categories (WECOM.md §1.3, §6.2, §6.4):

- ``retry``   transient: back off (exponential, with jitter) and try again, a bounded number of times;
- ``refresh`` the access token is expired/invalid: drop it, fetch a new one, retry the call **once**;
- ``skip``    this recipient (or this batch's recipients) cannot be sent to: record and move on;
- ``fatal``   configuration or programming error: stop, retrying cannot help.

Unknown errcodes are ``fatal``: never retry something we do not understand.
Branch on the errcode only; WeCom says errmsg text may change.
"""

from __future__ import annotations

from dataclasses import dataclass

RETRY = "retry"
REFRESH = "refresh"
SKIP = "skip"
FATAL = "fatal"
CATEGORIES = (RETRY, REFRESH, SKIP, FATAL)


@dataclass(frozen=True)
class Errcode:
    code: int
    category: str
    meaning: str
    config: bool = False  # a fatal error the user fixes in configuration (exit 78)


_TABLE = [
    # -- transient
    Errcode(-1, RETRY, "系统繁忙 system busy (official advice: retry with backoff, <=3 tries)"),
    Errcode(41063, RETRY, "群发消息正在被派发中 mass send still being dispatched; poll again later"),
    Errcode(45009, RETRY, "接口调用超过限制 API frequency limit exceeded (also robot 20/min)"),
    Errcode(45033, RETRY, "接口并发调用超过限制 concurrency limit exceeded; lower concurrency"),
    # -- token
    Errcode(40014, REFRESH, "不合法的access_token invalid (expired early / garbled) access token"),
    Errcode(41001, REFRESH, "缺少access_token参数 missing access token"),
    Errcode(42001, REFRESH, "access_token已过期 access token expired"),
    Errcode(40082, REFRESH, "不合法的suite_token invalid suite token"),
    Errcode(42009, REFRESH, "suite_access_token已过期 suite token expired"),
    # -- recipient-level: skip and record
    Errcode(40003, SKIP, "不合法的UserID invalid / departed member userid"),
    Errcode(40096, SKIP, "不合法的external_userid invalid external contact id"),
    Errcode(41048, SKIP, "无可发送的客户 no customer can receive this (all over quota / invalid)"),
    Errcode(60011, SKIP, "指定的成员/部门/标签参数无权限 member outside the app's visible range"),
    Errcode(81013, SKIP, "UserID、部门ID、标签ID全部非法或无权限 all recipients invalid"),
    Errcode(84061, SKIP, "不存在外部联系人的关系 no external-contact relationship"),
    # -- configuration
    Errcode(40001, FATAL, "不合法的secret参数 invalid corp secret (do not loop: the IP gets banned)", True),
    Errcode(40013, FATAL, "不合法的CorpID invalid corp id", True),
    Errcode(40091, FATAL, "secret is invalid", True),
    Errcode(41002, FATAL, "缺少corpid参数 missing corp id", True),
    Errcode(41004, FATAL, "缺少secret参数 missing secret", True),
    Errcode(48002, FATAL, "API接口无权限调用 API not permitted for this app/secret", True),
    Errcode(60020, FATAL, "不安全的访问IP calling IP not in the app's trusted IP list", True),
    Errcode(84074, FATAL, "没有外部联系人权限 no external-contact permission", True),
    Errcode(90206, FATAL, "小程序未关联到企业中 mini-program not linked to the corp", True),
    Errcode(93000, FATAL, "invalid webhook url / robot removed from the group", True),
    Errcode(93004, FATAL, "机器人被停用 robot disabled", True),
    Errcode(93006, FATAL, "invalid chatid for the robot", True),
    Errcode(93008, FATAL, "robot not in the group", True),
    # -- programming / request errors
    Errcode(40007, FATAL, "不合法的媒体文件id invalid media_id (expired after 3 days?)"),
    Errcode(40008, FATAL, "不合法的消息类型 invalid msgtype"),
    Errcode(40050, FATAL, "chatid不存在 unknown group chat id"),
    Errcode(40058, FATAL, "不合法的参数 invalid parameter (bad JSON, too long, array over its limit, missing field)"),
    Errcode(40068, FATAL, "不合法的标签ID invalid tag id"),
    Errcode(40071, FATAL, "标签名字已经存在 tag name already exists in the group"),
    Errcode(40072, FATAL, "不合法的标签名字 tag name too long (at most 30 characters)"),
    Errcode(41046, FATAL, "缺少msgid参数 mass-send msgid missing"),
    Errcode(41047, FATAL, "无效的msgid mass-send msgid invalid"),
    Errcode(41064, FATAL, "附件数量超过限制 too many attachments"),
    Errcode(41065, FATAL, "无效的附件类型 invalid attachment type"),
    Errcode(44004, FATAL, "文本内容为空 text content empty"),
    Errcode(45001, FATAL, "多媒体文件大小超过限制 media too large"),
    Errcode(45002, FATAL, "消息内容大小超过限制 message content too large"),
    Errcode(45029, FATAL, "回包大小超过上限 response too large; narrow the query"),
    Errcode(81017, FATAL, "请求个数超过限制 too many results (groupchat/list needs owner_filter)"),
]

ERRCODES: dict[int, Errcode] = {e.code: e for e in _TABLE}

#: Pseudo errcodes for transport failures, so they go through the same table.
HTTP_5XX = -500
HTTP_429 = -429
HTTP_4XX = -400
TIMEOUT_CONNECT = -901  # never reached the server: safe to retry any call
TIMEOUT_READ = -902  # sent, no answer: ambiguous for non-idempotent calls
CONNECTION_DROPPED = -903  # sent, connection closed before a response: ambiguous
BAD_RESPONSE = -904  # not JSON / empty body (observed under load)

TRANSPORT: dict[int, Errcode] = {
    e.code: e
    for e in [
        Errcode(HTTP_5XX, RETRY, "HTTP 5xx from WeCom or a proxy"),
        Errcode(HTTP_429, RETRY, "HTTP 429 too many requests (proxy)"),
        Errcode(HTTP_4XX, FATAL, "HTTP 4xx (wrong base_url or proxy refused the request)", True),
        Errcode(TIMEOUT_CONNECT, RETRY, "could not connect (request not sent)"),
        Errcode(TIMEOUT_READ, RETRY, "timed out waiting for the response"),
        Errcode(CONNECTION_DROPPED, RETRY, "connection dropped before the response"),
        Errcode(BAD_RESPONSE, RETRY, "empty or non-JSON response body"),
    ]
}

#: Transport failures after which a non-idempotent request may or may not have been applied.
AMBIGUOUS = {HTTP_5XX, TIMEOUT_READ, CONNECTION_DROPPED, BAD_RESPONSE, -1}
#: Errors that mean "rejected before processing": safe to retry even for add_msg_template.
REJECTED_BEFORE_PROCESSING = {45009, 45033, HTTP_429, TIMEOUT_CONNECT}


def lookup(code: int) -> Errcode:
    """The table entry for ``code`` (unknown codes are fatal)."""
    if code in ERRCODES:
        return ERRCODES[code]
    if code in TRANSPORT:
        return TRANSPORT[code]
    return Errcode(code, FATAL, "unknown errcode (not retried)")


def classify(code: int) -> str:
    """``retry`` | ``refresh`` | ``skip`` | ``fatal`` for an errcode (or a transport pseudo-code)."""
    return lookup(code).category


def table() -> list[Errcode]:
    """The whole table, for docs and tests."""
    return sorted(list(ERRCODES.values()) + list(TRANSPORT.values()), key=lambda e: e.code)
