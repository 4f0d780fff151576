"""WebhookClient: group-robot (消息推送) messages for ops alerts and digests.

The robot key in the URL is the only credential: it is read via secrets.read_secret,
registered for redaction, and never shown. WeCom allows 20 messages per minute per
robot (WECOM.md §5.2); the client waits for a free slot (up to ``max_wait`` seconds)
instead of being refused. Size limits are checked before sending: text 2048 bytes,
markdown 4096 bytes (UTF-8).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any, Callable

from siyu_cli.errors import ConfigError, DataError
from siyu_cli.secrets import read_secret, register
from siyu_cli.wecom import errcodes
from siyu_cli.wecom.config import DEFAULT_BASE_URL, WeComConfig
from siyu_cli.wecom.errors import AmbiguousSend, WeComError
from siyu_cli.wecom.ratelimit import RateLimiter
from siyu_cli.wecom.transport import backoff, exchange, quiet_httpx_logs, ssl_context, trust_env_for
from siyu_cli.i18n import _

log = logging.getLogger("siyu.wecom")

TEXT_BYTES = 2048
MARKDOWN_BYTES = 4096
PER_MINUTE = 20
IMAGE_BYTES = 2 * 1024 * 1024  # = media.ROBOT_IMAGE_BYTES

# one limiter per robot key (hashed) in this process, shared by every WebhookClient
_LIMITERS: dict[str, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def key_id(key: str) -> str:
    """A stable, non-secret id for a robot key (for logs and the sandbox's records)."""
    return "robot-" + hashlib.sha256(key.encode()).hexdigest()[:10]


class WebhookClient:
    def __init__(self, key: str, *, base_url: str = DEFAULT_BASE_URL, timeout: float = 10,
                 per_minute: int = PER_MINUTE, max_wait: float = 60.0, max_retries: int = 2,
                 backoff_base: float = 1.0, sleep: Callable[[float], None] = time.sleep):
        import httpx

        if not key:
            raise ConfigError(_('robot webhook key is empty'))
        register(key)
        quiet_httpx_logs()
        self._key = key
        self.key_id = key_id(key)
        self.base_url = base_url.rstrip("/")
        self.max_wait = max_wait
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self._sleep = sleep
        with _LIMITERS_LOCK:
            limiter = _LIMITERS.get(self.key_id)
            if limiter is None or limiter._limit_for("send") != per_minute:
                limiter = RateLimiter(lambda _k, n=per_minute: n, sleep=sleep)
                _LIMITERS[self.key_id] = limiter
        self.limiter = limiter
        self._http = httpx.Client(timeout=timeout, trust_env=trust_env_for(self.base_url), verify=ssl_context())

    @classmethod
    def from_settings(cls, settings, *, key_env: str | None = None) -> "WebhookClient":
        cfg = WeComConfig.from_settings(settings)
        env_name = key_env or cfg.robot_key_env
        key = read_secret(env_name)
        if not key:
            raise ConfigError(_('robot webhook key is not set (set {env_name} or {env_name}_FILE)').format(env_name=env_name))
        return cls(key, base_url=cfg.base_url, timeout=cfg.timeout, per_minute=cfg.robot_per_minute)

    def __repr__(self) -> str:
        return f"WebhookClient({self.key_id})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "WebhookClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send_text(self, content: str, *, mentioned_list=None, mentioned_mobile_list=None) -> dict:
        size = len(content.encode("utf-8"))
        if not content:
            raise DataError(_('robot text is empty'))
        if size > TEXT_BYTES:
            raise DataError(_('robot text is {size} bytes, at most {TEXT_BYTES} (UTF-8)').format(size=size, TEXT_BYTES=TEXT_BYTES))
        text: dict[str, Any] = {"content": content}
        if mentioned_list:
            text["mentioned_list"] = list(mentioned_list)
        if mentioned_mobile_list:
            text["mentioned_mobile_list"] = list(mentioned_mobile_list)
        return self._send({"msgtype": "text", "text": text})

    def send_markdown(self, content: str) -> dict:
        size = len(content.encode("utf-8"))
        if not content:
            raise DataError(_('robot markdown is empty'))
        if size > MARKDOWN_BYTES:
            raise DataError(_('robot markdown is {size} bytes, at most {MARKDOWN_BYTES} (UTF-8)').format(size=size, MARKDOWN_BYTES=MARKDOWN_BYTES))
        return self._send({"msgtype": "markdown", "markdown": {"content": content}})

    def send_image(self, path) -> dict:
        """A JPG/PNG image (≤ 2 MB), sent inline as base64 with its md5."""
        import base64

        from siyu_cli.wecom.media import read_media

        data = read_media(path, "image", limit=IMAGE_BYTES)
        return self._send({"msgtype": "image", "image": {"base64": base64.b64encode(data).decode(),
                                                          "md5": hashlib.md5(data).hexdigest()}})

    def send_news(self, articles: list[dict]) -> dict:
        """1–8 articles: {"title" (≤128 B), "description" (≤512 B), "url", "picurl"}."""
        if not 1 <= len(articles) <= 8:
            raise DataError(_('robot news needs 1 to 8 articles'))
        for i, a in enumerate(articles, 1):
            if not a.get("title") or not a.get("url"):
                raise DataError(_('robot news article {i} needs title and url').format(i=i))
            if len(a["title"].encode()) > 128 or len((a.get("description") or "").encode()) > 512:
                raise DataError(_('robot news article {i}: title ≤ 128 bytes, description ≤ 512 bytes').format(i=i))
        return self._send({"msgtype": "news", "news": {"articles": list(articles)}})

    def _send(self, body: dict) -> dict:
        url = f"{self.base_url}/cgi-bin/webhook/send"
        attempts = 0
        while True:
            try:
                self.limiter.acquire("send", max_wait=self.max_wait)
            except TimeoutError:
                raise WeComError(45009, f"robot limit of {self.limiter._limit_for('send')} messages/min reached",
                                 endpoint="webhook/send") from None
            code, payload, errmsg = exchange(self._http, "POST", url, params={"key": self._key}, body=body)
            if code == 0:
                return payload
            if code in errcodes.AMBIGUOUS:
                # a robot message has no duplicate check: do not post it twice
                raise AmbiguousSend(code, errmsg, endpoint="webhook/send") from None
            if errcodes.classify(code) == errcodes.RETRY and attempts < self.max_retries:
                attempts += 1
                delay = backoff(attempts, self.backoff_base, 60.0) if code != 45009 else self.limiter.delay("send") or 1.0
                log.debug("webhook %s: errcode %s, retry in %.1fs", self.key_id, code, delay)
                self._sleep(delay)
                continue
            raise WeComError(code, errmsg, endpoint="webhook/send") from None
