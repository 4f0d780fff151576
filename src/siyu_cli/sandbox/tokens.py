"""Access tokens (gettoken, expiry, 40014/41001/42001) and the per-endpoint rate limits (45009).

A mixin of :class:`~siyu_cli.sandbox.state.SandboxState`, which holds the corp's data and the lock
(split out of state.py by API area; behaviour unchanged).
"""

from __future__ import annotations

import secrets as _secrets
from collections import deque
from typing import Any

from siyu_cli.sandbox.wire import err, ok


class TokensAPI:
    """Mixin: access tokens (gettoken, expiry, 40014/41001/42001) and the per-endpoint rate limits (45009)."""

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
