"""Client-side rate limiting: a sliding one-minute window per endpoint, shared by threads.

WeCom blocks a corp for 60 s when a per-minute limit is exceeded (WECOM.md §6.1),
so it is cheaper to wait a little here than to be blocked there.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable


class RateLimiter:
    """At most ``limit`` acquisitions per ``window`` seconds for each key (0 = unlimited)."""

    def __init__(self, limit_for: Callable[[str], int], *, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._limit_for = limit_for
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._calls: dict[str, deque] = {}
        self._lock = threading.Lock()
        self.waited = 0.0  # total seconds spent waiting (for tests and benchmarks)

    def delay(self, key: str) -> float:
        """Seconds until ``key`` may be called again (0 when it may be called now)."""
        limit = self._limit_for(key)
        if not limit:
            return 0.0
        with self._lock:
            calls = self._calls.setdefault(key, deque())
            now = self._clock()
            while calls and calls[0] <= now - self.window:
                calls.popleft()
            return 0.0 if len(calls) < limit else calls[0] + self.window - now

    def acquire(self, key: str, *, max_wait: float | None = None) -> float:
        """Block until a call to ``key`` is allowed; returns the seconds waited.

        With ``max_wait``, raise ``TimeoutError`` instead of waiting longer than that.
        """
        limit = self._limit_for(key)
        if not limit:
            return 0.0
        waited = 0.0
        while True:
            with self._lock:
                calls = self._calls.setdefault(key, deque())
                now = self._clock()
                while calls and calls[0] <= now - self.window:
                    calls.popleft()
                if len(calls) < limit:
                    calls.append(now)
                    self.waited += waited
                    return waited
                wait = calls[0] + self.window - now
            if max_wait is not None and waited + wait > max_wait:
                raise TimeoutError(f"rate limit {limit}/{self.window:g}s for {key}: would wait {wait:.1f}s")
            self._sleep(max(wait, 0.001))
            waited += wait
