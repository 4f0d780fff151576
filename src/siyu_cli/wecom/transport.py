"""One HTTP exchange with WeCom, turned into (code, body): errcode or a transport pseudo-code.

Messages built here never contain the URL (it carries the access token, the
corp secret or a robot key in its query string).
"""

from __future__ import annotations

import json as _json
import logging
import random
from typing import Any

from siyu_cli.wecom import errcodes

log = logging.getLogger("siyu.wecom")


def exchange(http, method: str, url: str, *, params: dict | None = None, body: Any = None,
             files: dict | None = None) -> tuple[int, dict, str]:
    """Perform one request; return ``(code, payload, errmsg)`` with ``code == 0`` on success."""
    import httpx

    kwargs: dict[str, Any] = {"params": params}
    if files is not None:
        kwargs["files"] = files
    elif body is not None:
        kwargs["content"] = _json.dumps(body, ensure_ascii=False).encode("utf-8")
        kwargs["headers"] = {"Content-Type": "application/json; charset=utf-8"}
    try:
        resp = http.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
        return errcodes.TIMEOUT_CONNECT, {}, "could not connect to WeCom (request not sent)"
    except (httpx.ReadTimeout, httpx.WriteTimeout):
        return errcodes.TIMEOUT_READ, {}, "timed out waiting for WeCom's response"
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
        return errcodes.CONNECTION_DROPPED, {}, "connection dropped before WeCom responded"
    except httpx.TransportError as exc:
        return errcodes.CONNECTION_DROPPED, {}, f"transport error ({type(exc).__name__})"
    status = resp.status_code
    if status >= 500:
        return errcodes.HTTP_5XX, {}, f"HTTP {status} from WeCom"
    if status == 429:
        return errcodes.HTTP_429, {}, "HTTP 429 too many requests"
    if status >= 400:
        return errcodes.HTTP_4XX, {}, f"HTTP {status} (check wecom.base_url)"
    try:
        payload = resp.json()
    except ValueError:
        return errcodes.BAD_RESPONSE, {}, "empty or non-JSON response from WeCom"
    if not isinstance(payload, dict):
        return errcodes.BAD_RESPONSE, {}, "unexpected JSON response from WeCom"
    code = payload.get("errcode", 0)  # some successful responses omit errcode (WECOM.md §6.4)
    try:
        code = int(code)
    except (TypeError, ValueError):
        return errcodes.BAD_RESPONSE, payload, "errcode is not a number"
    return code, payload, str(payload.get("errmsg", "") or "")


_SSL_CONTEXT = None


def ssl_context():
    """One verifying SSL context per process (building one per httpx.Client costs ~40 ms)."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        import ssl

        try:
            import certifi

            _SSL_CONTEXT = ssl.create_default_context(cafile=certifi.where())
        except ImportError:  # pragma: no cover - certifi comes with httpx
            _SSL_CONTEXT = ssl.create_default_context()
    return _SSL_CONTEXT


def trust_env_for(base_url: str) -> bool:
    """Honour HTTP(S)_PROXY for remote hosts, never for a local sandbox."""
    from urllib.parse import urlsplit

    return (urlsplit(base_url).hostname or "") not in ("127.0.0.1", "localhost", "::1")


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with 'equal jitter': half fixed, half random (attempt starts at 1)."""
    delay = min(cap, base * (2 ** (attempt - 1)))
    return delay / 2 + random.uniform(0, delay / 2)


def quiet_httpx_logs() -> None:
    """httpx logs full request URLs at INFO: scrub known secrets from its records."""
    from siyu_cli.secrets import RedactingFilter

    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
