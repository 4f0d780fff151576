"""WeComClient: the server API calls siyu makes, with token caching, retries and rate limits.

Every call goes through :meth:`WeComClient._call`, which:

1. waits for the endpoint's client-side rate limit (``[wecom.rate_limits]``);
2. adds a cached access token (shared through the store, see token.py);
3. classifies the outcome with errcodes.py — ``retry`` (backoff + jitter, at most
   ``max_retries``), ``refresh`` (new token, retried once), ``skip``/``fatal`` (raised);
4. for non-idempotent calls (``add_msg_template``) turns an ambiguous failure —
   a timeout, dropped connection, 5xx or ``-1`` after the request was sent — into
   :class:`AmbiguousSend` instead of retrying, because WeCom has no idempotency key
   and a second task would message customers twice.

Secrets (corp id, secret, tokens) are registered with siyu_cli.secrets and never
appear in messages: errors name the endpoint, never the URL.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import threading
import time
from pathlib import Path
from typing import Any, Callable

from siyu_cli.errors import ConfigError, DataError, UsageError
from siyu_cli.secrets import read_secret, register
from siyu_cli.wecom import errcodes
from siyu_cli.wecom.config import WeComConfig
from siyu_cli.wecom.errors import AmbiguousSend, WeComError
from siyu_cli.wecom.media import read_media
from siyu_cli.wecom.ratelimit import RateLimiter
from siyu_cli.wecom.token import Token, TokenCache, derive_key
from siyu_cli.wecom.transport import backoff, exchange, quiet_httpx_logs, ssl_context, trust_env_for
from siyu_cli.i18n import _

log = logging.getLogger("siyu.wecom")

MEDIA_TTL = 3 * 86400  # media_id validity (WECOM.md §2.2)
MEDIA_MARGIN = 3600  # re-upload when less than this is left

# add_msg_template limits (WECOM.md §2.2)
MAX_EXTERNAL_USERIDS = 10_000
MAX_CHAT_IDS = 2_000
MAX_ATTACHMENTS = 9
MAX_TEXT_BYTES = 4000
ATTACHMENT_TYPES = ("image", "link", "miniprogram", "video", "file")
APP_TEXT_BYTES = 2048
APP_MAX_USERS = 1000


def _bytes(text: str | None) -> int:
    return len((text or "").encode("utf-8"))


class WeComClient:
    """A WeCom server-API client for one corp/app (see module docstring)."""

    def __init__(self, settings, *, base_url: str | None = None, corp_id: str | None = None,
                 secret: str | None = None, timeout: float | None = None, max_retries: int | None = None,
                 config: WeComConfig | None = None, sleep: Callable[[float], None] = time.sleep):
        import httpx

        self.settings = settings
        cfg = config or WeComConfig.from_settings(settings)
        if base_url:
            cfg.base_url = base_url.rstrip("/")
        if timeout is not None:
            cfg.timeout = float(timeout)
        if max_retries is not None:
            cfg.max_retries = int(max_retries)
        self.config = cfg
        self.base_url = cfg.base_url
        self.corp_id = corp_id or read_secret(cfg.corp_id_env)
        self.secret = secret or read_secret(cfg.secret_env)
        if not self.corp_id:
            raise ConfigError(_('WeCom corp id is not set (set {corp_id_env} or {corp_id_env}_FILE)').format(corp_id_env=cfg.corp_id_env))
        if not self.secret:
            raise ConfigError(_('WeCom secret is not set (set {secret_env} or {secret_env}_FILE naming a 0600 file)').format(secret_env=cfg.secret_env))
        register(self.corp_id)
        register(self.secret)
        quiet_httpx_logs()
        self._sleep = sleep
        self.limiter = RateLimiter(cfg.limit_for)
        key = derive_key(self.secret, self.corp_id, self.base_url)
        self.tokens = TokenCache(settings, key, use_store=cfg.token_cache == "store")
        self._token_lock = threading.RLock()
        timeout_cfg = httpx.Timeout(cfg.timeout, connect=min(cfg.timeout, 5.0))
        self._http = httpx.Client(timeout=timeout_cfg, trust_env=trust_env_for(self.base_url), verify=ssl_context())
        # Non-idempotent calls never reuse a pooled connection: a stale keep-alive connection
        # would otherwise look like "dropped after send" and force a needless reconciliation.
        self._http_fresh = httpx.Client(timeout=timeout_cfg, trust_env=trust_env_for(self.base_url), verify=ssl_context(),
                                        limits=httpx.Limits(max_keepalive_connections=0))
        self._media: dict[tuple[str, str], tuple[str, float]] = {}
        self.stats = {"calls": 0, "retries": 0, "refreshes": 0, "token_fetches": 0}

    @classmethod
    def from_settings(cls, settings) -> "WeComClient":
        return cls(settings)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self._http.close()
        self._http_fresh.close()

    def __enter__(self) -> "WeComClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:  # never show secrets
        return f"WeComClient(base_url={self.base_url!r})"

    # ------------------------------------------------------------------ token
    def _valid(self, token: Token | None) -> bool:
        return token is not None and token.expires_at > time.time()

    def access_token(self) -> str:
        """A valid token: memory, then the store, then ``gettoken`` (one process at a time)."""
        with self._token_lock:
            token = self.tokens.memory()
            if self._valid(token):
                return token.value
            token = self.tokens.load()
            if self._valid(token):
                self.tokens.set_memory(token)
                return token.value
            with self.tokens.refresh_lock():
                token = self.tokens.load()  # another process may have refreshed meanwhile
                if self._valid(token):
                    self.tokens.set_memory(token)
                    return token.value
                token = self._fetch_token()
                self.tokens.save(token)
                return token.value

    def _invalidate(self, bad: str) -> None:
        """``bad`` was rejected: take a newer cached token if another process has one, else fetch."""
        with self._token_lock:
            self.stats["refreshes"] += 1
            with self.tokens.refresh_lock():
                stored = self.tokens.load()
                if stored is not None and stored.value != bad and self._valid(stored):
                    self.tokens.set_memory(stored)
                    return
                self.tokens.set_memory(None)
                token = self._fetch_token()
                self.tokens.save(token)

    def _fetch_token(self) -> Token:
        payload = self._call("GET", "gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret},
                             with_token=False)
        value = payload.get("access_token")
        if not value:
            raise WeComError(errcodes.BAD_RESPONSE, "gettoken returned no access_token", endpoint="gettoken")
        register(value)
        self.stats["token_fetches"] += 1
        expires_in = float(payload.get("expires_in") or 7200)
        margin = min(self.config.token_margin, expires_in * 0.1)
        log.debug("wecom gettoken: new token, valid %ss (refresh %ss early)", int(expires_in), int(margin))
        return Token(value, time.time() + expires_in - margin)

    # ------------------------------------------------------------------ the one call path
    def _call(self, method: str, endpoint: str, *, params: dict | None = None, body: Any = None,
              files: dict | None = None, with_token: bool = True, idempotent: bool = True,
              no_retry: frozenset[int] | set[int] = frozenset()) -> dict:
        url = f"{self.base_url}/cgi-bin/{endpoint}"
        attempts = 0
        refreshed = False
        while True:
            self.limiter.acquire(endpoint)
            query = dict(params or {})
            token = None
            if with_token:
                token = self.access_token()
                query["access_token"] = token
            http = self._http if idempotent else self._http_fresh
            self.stats["calls"] += 1
            code, payload, errmsg = exchange(http, method, url, params=query, body=body, files=files)
            if code == 0:
                return payload
            entry = errcodes.lookup(code)
            log.debug("wecom %s: errcode %s (%s)", endpoint, code, entry.category)
            if not idempotent and code in errcodes.AMBIGUOUS:
                raise AmbiguousSend(code, errmsg, endpoint=endpoint, payload=payload) from None
            if entry.category == errcodes.REFRESH and with_token:
                if refreshed:
                    raise WeComError(code, errmsg, category=errcodes.FATAL, endpoint=endpoint, payload=payload,
                                     hint=_('a freshly fetched token was rejected too; check the app secret')) from None
                refreshed = True
                self._invalidate(token)
                continue
            if entry.category == errcodes.RETRY and code not in no_retry:
                attempts += 1
                if attempts <= self.config.max_retries:
                    self.stats["retries"] += 1
                    delay = backoff(attempts, self.config.backoff_base, self.config.backoff_max)
                    log.debug("wecom %s: retry %d/%d in %.2fs", endpoint, attempts, self.config.max_retries, delay)
                    self._sleep(delay)
                    continue
            raise WeComError(code, errmsg, endpoint=endpoint, payload=payload) from None

    def _paged(self, endpoint: str, body: dict, list_key: str) -> list[dict]:
        out: list[dict] = []
        seen: set[str] = set()
        cursor = ""
        while True:
            page = dict(body)
            if cursor:
                page["cursor"] = cursor
            payload = self._call("POST", endpoint, body=page)
            out.extend(payload.get(list_key) or [])
            cursor = payload.get("next_cursor") or ""
            if not cursor or cursor in seen:
                return out
            seen.add(cursor)

    # ------------------------------------------------------------------ customer mass send
    def add_msg_template(self, *, chat_type: str, sender: str, external_userid: list[str] | None = None,
                         chat_id_list: list[str] | None = None, text: str | None = None,
                         attachments: list[dict] | None = None, allow_select: bool | None = None) -> dict:
        """Create a mass-send task (nothing is delivered until the sender confirms in the app).

        Returns ``{"msgid", "fail_list"}``. Never retried after an ambiguous failure:
        raises :class:`AmbiguousSend` and the caller must reconcile.
        """
        if chat_type not in ("single", "group"):
            raise UsageError(_("chat_type must be 'single' or 'group', not {chat_type!r}").format(chat_type=chat_type))
        body: dict[str, Any] = {"chat_type": chat_type}
        if chat_type == "single":
            if chat_id_list:
                raise UsageError(_("chat_id_list is only for chat_type='group'"))
            if external_userid is not None:
                if len(external_userid) > MAX_EXTERNAL_USERIDS:
                    raise DataError(_('add_msg_template: {len} external_userid, at most {MAX_EXTERNAL_USERIDS} per call').format(len=len(external_userid), MAX_EXTERNAL_USERIDS=MAX_EXTERNAL_USERIDS))
                body["external_userid"] = list(external_userid)
            if not sender and not external_userid:
                raise UsageError(_('add_msg_template: sender and external_userid cannot both be empty'))
            if allow_select is not None:
                body["allow_select"] = bool(allow_select)
        else:
            if external_userid:
                raise UsageError(_("external_userid is only for chat_type='single'"))
            if not sender:
                raise UsageError(_("add_msg_template: sender is required for chat_type='group'"))
            if chat_id_list is not None:
                if len(chat_id_list) > MAX_CHAT_IDS:
                    raise DataError(_('add_msg_template: {len} chats, at most {MAX_CHAT_IDS} per call').format(len=len(chat_id_list), MAX_CHAT_IDS=MAX_CHAT_IDS))
                body["chat_id_list"] = list(chat_id_list)
        if sender:
            body["sender"] = sender
        if text:
            if _bytes(text) > MAX_TEXT_BYTES:
                raise DataError(_('add_msg_template: text is {bytes} bytes, at most {MAX_TEXT_BYTES}').format(bytes=_bytes(text), MAX_TEXT_BYTES=MAX_TEXT_BYTES))
            body["text"] = {"content": text}
        if attachments:
            body["attachments"] = self._prepare_attachments(attachments)
        if not text and not attachments:
            raise UsageError(_('add_msg_template: text and attachments cannot both be empty'))
        payload = self._call("POST", "externalcontact/add_msg_template", body=body, idempotent=False)
        return {"msgid": payload.get("msgid"), "fail_list": list(payload.get("fail_list") or [])}

    def _prepare_attachments(self, attachments: list[dict]) -> list[dict]:
        if len(attachments) > MAX_ATTACHMENTS:
            raise DataError(_('add_msg_template: {len} attachments, at most {MAX_ATTACHMENTS}').format(len=len(attachments), MAX_ATTACHMENTS=MAX_ATTACHMENTS))
        out = []
        for i, att in enumerate(attachments, 1):
            kind = att.get("msgtype")
            if kind not in ATTACHMENT_TYPES or not isinstance(att.get(kind), dict):
                raise DataError(_('attachment {i}: msgtype must be one of {join} with a matching {{"{kind}": {{…}}}} object').format(i=i, join=', '.join(ATTACHMENT_TYPES), kind=kind))
            inner = dict(att[kind])
            if kind == "image" and "path" in inner:
                inner = {"media_id": self.upload_media(Path(inner["path"]), "image")}
            elif kind == "image" and not (inner.get("media_id") or inner.get("pic_url")):
                raise DataError(_('attachment {i}: image needs media_id, pic_url or path').format(i=i))
            elif kind == "miniprogram":
                if "pic_path" in inner:
                    inner["pic_media_id"] = self.upload_media(Path(inner.pop("pic_path")), "image")
                missing = [k for k in ("title", "pic_media_id", "appid", "page") if not inner.get(k)]
                if missing:
                    raise DataError(_('attachment {i}: miniprogram needs {join}').format(i=i, join=', '.join(missing)))
                if _bytes(inner["title"]) > 64:
                    raise DataError(_('attachment {i}: miniprogram title over 64 bytes').format(i=i))
            elif kind == "link":
                if not inner.get("title") or not inner.get("url"):
                    raise DataError(_('attachment {i}: link needs title and url').format(i=i))
                for key, limit in (("title", 128), ("desc", 512), ("url", 2048), ("picurl", 2048)):
                    if _bytes(inner.get(key)) > limit:
                        raise DataError(_('attachment {i}: link {key} over {limit} bytes').format(i=i, key=key, limit=limit))
            elif kind in ("video", "file"):
                if "path" in inner:
                    inner = {"media_id": self.upload_media(Path(inner["path"]), kind)}
                if not inner.get("media_id"):
                    raise DataError(_('attachment {i}: {kind} needs media_id or path').format(i=i, kind=kind))
            out.append({"msgtype": kind, kind: inner})
        return out

    def get_groupmsg_list_v2(self, *, chat_type: str, start_time: int, end_time: int, creator: str | None = None,
                             filter_type: int = 2) -> list[dict]:
        """All mass-send records in [start_time, end_time] (unix seconds; at most one month)."""
        body: dict[str, Any] = {"chat_type": chat_type, "start_time": int(start_time), "end_time": int(end_time),
                                "filter_type": filter_type, "limit": 100}
        if creator:
            body["creator"] = creator
        return self._paged("externalcontact/get_groupmsg_list_v2", body, "group_msg_list")

    def get_groupmsg_task(self, msgid: str) -> list[dict]:
        """Per-sender task status: ``[{"userid", "status" (0 unsent, 2 sent), "send_time"}]``."""
        return self._paged("externalcontact/get_groupmsg_task", {"msgid": msgid, "limit": 1000}, "task_list")

    def get_groupmsg_send_result(self, msgid: str, userid: str) -> list[dict]:
        """Per-recipient result of one sender's task (status 0 unsent, 1 sent, 2 not a friend, 3 over quota)."""
        return self._paged("externalcontact/get_groupmsg_send_result",
                           {"msgid": msgid, "userid": userid, "limit": 1000}, "send_list")

    def remind_groupmsg_send(self, msgid: str) -> None:
        """Re-notify senders who have not sent yet (WeCom allows 3 per mass send per 24 h)."""
        self._call("POST", "externalcontact/remind_groupmsg_send", body={"msgid": msgid}, no_retry={45009})

    def cancel_groupmsg_send(self, msgid: str) -> None:
        """Stop a mass send; messages already sent are not recalled."""
        self._call("POST", "externalcontact/cancel_groupmsg_send", body={"msgid": msgid})

    # ------------------------------------------------------------------ app messages
    def send_app_message(self, *, touser: list[str], text: str, agentid: int | None = None,
                         enable_duplicate_check: bool = True, duplicate_check_interval: int = 1800) -> dict:
        """Text app message to staff. With the duplicate check on, a retry cannot deliver twice.

        Returns the response payload with ``invaliduser`` as a list.
        """
        agentid = agentid if agentid is not None else self.config.agent_id
        if agentid is None:
            raise ConfigError(_('WeCom app messages need an agent id: set wecom.agent_id in siyu.toml'))
        if not touser:
            raise UsageError(_('send_app_message: touser is empty'))
        if len(touser) > APP_MAX_USERS:
            raise DataError(_('send_app_message: {len} users, at most {APP_MAX_USERS} per call').format(len=len(touser), APP_MAX_USERS=APP_MAX_USERS))
        if not text:
            raise UsageError(_('send_app_message: text is empty'))
        if _bytes(text) > APP_TEXT_BYTES:
            raise DataError(_('send_app_message: text is {bytes} bytes, at most {APP_TEXT_BYTES} (WeCom truncates)').format(bytes=_bytes(text), APP_TEXT_BYTES=APP_TEXT_BYTES))
        body = {"touser": "|".join(touser), "msgtype": "text", "agentid": int(agentid), "text": {"content": text},
                "enable_duplicate_check": 1 if enable_duplicate_check else 0,
                "duplicate_check_interval": int(duplicate_check_interval)}
        payload = self._call("POST", "message/send", body=body, idempotent=enable_duplicate_check)
        payload = dict(payload)
        payload["invaliduser"] = [u for u in str(payload.get("invaliduser") or "").split("|") if u]
        return payload

    # ------------------------------------------------------------------ media
    def upload_media(self, path: Path, media_type: str = "image") -> str:
        """Upload a temporary media file; returns a media_id, reused (by file hash) while valid (3 days)."""
        path = Path(path)
        if media_type not in ("image", "voice", "video", "file"):
            raise UsageError(_('media type must be image, voice, video or file, not {media_type!r}').format(media_type=media_type))
        data = read_media(path, media_type)  # content and size checked on the bytes that are sent
        digest = hashlib.sha256(data).hexdigest()
        cached = self._media_cached(digest, media_type)
        if cached:
            return cached
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        payload = self._call("POST", "media/upload", params={"type": media_type},
                             files={"media": (path.name, data, mime)})
        media_id = payload.get("media_id")
        if not media_id:
            raise WeComError(errcodes.BAD_RESPONSE, "media/upload returned no media_id", endpoint="media/upload")
        created = float(payload.get("created_at") or time.time())
        self._media_store(digest, media_type, media_id, created)
        return media_id

    def _media_cached(self, digest: str, media_type: str) -> str | None:
        now = time.time()
        hit = self._media.get((digest, media_type))
        if hit and hit[1] + MEDIA_TTL - MEDIA_MARGIN > now:
            return hit[0]
        if self.tokens.use_store:
            try:
                from siyu_cli.store import open_store

                with open_store(self.settings, wait=3) as con:  # rw: may share an open rw connection in-process
                    row = con.execute(
                        "SELECT media_id, created_at FROM wecom_media WHERE cache_key = ? AND file_sha256 = ? "
                        "AND media_type = ?", [self.tokens.cache_key, digest, media_type]).fetchone()
            except Exception:
                row = None
            if row and float(row[1]) + MEDIA_TTL - MEDIA_MARGIN > now:
                self._media[(digest, media_type)] = (row[0], float(row[1]))
                return row[0]
        return None

    def _media_store(self, digest: str, media_type: str, media_id: str, created: float) -> None:
        self._media[(digest, media_type)] = (media_id, created)
        if self.tokens.use_store:
            try:
                from siyu_cli.store import open_store

                with open_store(self.settings, wait=3) as con:
                    con.execute("INSERT OR REPLACE INTO wecom_media VALUES (?, ?, ?, ?, ?)",
                                [self.tokens.cache_key, digest, media_type, media_id, created])
            except Exception:
                pass

    # ------------------------------------------------------------------ contacts and groups (reads)
    def get_follow_user_list(self) -> list[str]:
        return list(self._call("GET", "externalcontact/get_follow_user_list").get("follow_user") or [])

    def get_user(self, userid: str) -> dict:
        """通讯录 ``user/get``: a staff member (name, …) — 60011/48002 when the app may not read the directory."""
        return self._call("GET", "user/get", params={"userid": userid})

    def list_external_contacts(self, userid: str) -> list[str]:
        return list(self._call("GET", "externalcontact/list", params={"userid": userid}).get("external_userid") or [])

    def get_external_contact(self, external_userid: str) -> dict:
        return self._call("GET", "externalcontact/get", params={"external_userid": external_userid})

    def groupchat_list(self, *, owners: list[str] | None = None, status_filter: int = 0) -> list[dict]:
        body: dict[str, Any] = {"status_filter": status_filter, "limit": 1000}
        if owners:
            body["owner_filter"] = {"userid_list": list(owners)}
        return self._paged("externalcontact/groupchat/list", body, "group_chat_list")

    def groupchat_get(self, chat_id: str, *, need_name: bool = False) -> dict:
        return self._call("POST", "externalcontact/groupchat/get",
                          body={"chat_id": chat_id, "need_name": 1 if need_name else 0}).get("group_chat") or {}

    # ------------------------------------------------------------------ sync and tags (siyu sync wecom, siyu tags sync)
    def batch_get_by_user_page(self, userids: list[str], cursor: str = "", limit: int = 100) -> tuple[list[dict], str]:
        """One page of ``batch/get_by_user``: items (one per customer × requested guide) and the next cursor."""
        if not 1 <= len(userids) <= 100:
            raise UsageError(_('batch/get_by_user takes 1..100 userids, not {len}').format(len=len(userids)))
        body: dict[str, Any] = {"userid_list": list(userids), "limit": min(int(limit), 100)}
        if cursor:
            body["cursor"] = cursor
        payload = self._call("POST", "externalcontact/batch/get_by_user", body=body)
        return list(payload.get("external_contact_list") or []), payload.get("next_cursor") or ""

    def get_corp_tag_list(self, *, group_ids: list[str] | None = None, tag_ids: list[str] | None = None) -> list[dict]:
        body: dict[str, Any] = {}
        if group_ids:
            body["group_id"] = list(group_ids)
        if tag_ids:
            body["tag_id"] = list(tag_ids)
        return list(self._call("POST", "externalcontact/get_corp_tag_list", body=body).get("tag_group") or [])

    def add_corp_tag(self, *, tags: list[str], group_name: str | None = None, group_id: str | None = None) -> dict:
        """Create tags (in an existing group by id, else by name); returns the ``tag_group`` with the new tags."""
        body: dict[str, Any] = {"tag": [{"name": t} for t in tags]}
        if group_id:
            body["group_id"] = group_id
        else:
            body["group_name"] = group_name
        if self.config.agent_id is not None:
            body["agentid"] = int(self.config.agent_id)
        return self._call("POST", "externalcontact/add_corp_tag", body=body).get("tag_group") or {}

    def mark_tag(self, *, userid: str, external_userid: str, add: list[str] | None = None,
                 remove: list[str] | None = None) -> None:
        """Add/remove corp tags on one (guide, customer) relation; idempotent, so retries are safe."""
        if not add and not remove:
            raise UsageError(_('mark_tag: add and remove cannot both be empty'))
        self._call("POST", "externalcontact/mark_tag", body={"userid": userid, "external_userid": external_userid,
                                                              "add_tag": list(add or []), "remove_tag": list(remove or [])})

    def get_user_behavior_data(self, userid: str, start_time: int, end_time: int) -> list[dict]:
        """One guide's daily series (one userid per call: several would come back as one combined series)."""
        return list(self._call("POST", "externalcontact/get_user_behavior_data",
                               body={"userid": [userid], "start_time": int(start_time), "end_time": int(end_time)}
                               ).get("behavior_data") or [])

    def groupchat_statistic(self, owners: list[str], day: int) -> list[dict]:
        """Per-owner group statistics for one day (``owner_filter`` ≤ 100 userids)."""
        out: list[dict] = []
        offset = 0
        while True:
            payload = self._call("POST", "externalcontact/groupchat/statistic",
                                 body={"day_begin_time": int(day), "day_end_time": int(day), "offset": offset,
                                       "limit": 1000, "owner_filter": {"userid_list": list(owners)}})
            out.extend(payload.get("items") or [])
            offset = int(payload.get("next_offset") or 0)
            if not offset:
                return out
