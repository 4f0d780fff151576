"""Access-token cache shared by threads (memory) and processes (the store), one refresher at a time.

WeCom wants tokens cached and may invalidate them early; a re-fetch might rotate
the token for everyone (WECOM.md §1.2). So: one cache per (base_url, corp, secret)
in the store, a file lock so only one process calls ``gettoken`` at a time, and a
re-read of the cache after taking the lock (another process may just have refreshed).

The token is stored encrypted (HMAC-SHA256 keystream + tag, key derived from the
secret): a copy of the store file without the secret yields no usable token.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("siyu.wecom")


@dataclass
class Token:
    value: str
    expires_at: float  # unix seconds


def derive_key(secret: str, corp_id: str, base_url: str) -> bytes:
    return hmac.new(secret.encode(), f"siyu-wecom-token-v1|{base_url}|{corp_id}".encode(), hashlib.sha256).digest()


def cache_key(key: bytes) -> str:
    return hmac.new(key, b"cache-key", hashlib.sha256).hexdigest()[:40]


def _keystream(key: bytes, nonce: bytes, n: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hmac.new(key, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        counter += 1
    return bytes(out[:n])


def encrypt(key: bytes, plain: str) -> str:
    nonce = os.urandom(16)
    data = plain.encode()
    ct = bytes(a ^ b for a, b in zip(data, _keystream(key, nonce, len(data))))
    tag = hmac.new(key, b"tag" + nonce + ct, hashlib.sha256).digest()[:16]
    return base64.b64encode(nonce + ct + tag).decode()


def decrypt(key: bytes, blob: str) -> str | None:
    try:
        raw = base64.b64decode(blob)
    except ValueError:
        return None
    if len(raw) < 32:
        return None
    nonce, ct, tag = raw[:16], raw[16:-16], raw[-16:]
    if not hmac.compare_digest(tag, hmac.new(key, b"tag" + nonce + ct, hashlib.sha256).digest()[:16]):
        return None
    return bytes(a ^ b for a, b in zip(ct, _keystream(key, nonce, len(ct)))).decode()


@contextlib.contextmanager
def file_lock(path: Path | None, timeout: float = 30.0):
    """An exclusive ``flock`` (released by the kernel if the process dies); no-op without a path."""
    if path is None:
        yield
        return
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break  # proceed without the lock rather than hang forever
                time.sleep(0.02)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class TokenCache:
    """Memory cache in front of the store table ``wecom_tokens``.

    ``settings=None`` or ``use_store=False`` keeps tokens in this process only.
    Store problems (busy, read-only file) fall back to memory: a token cache must
    never be the reason a send fails.
    """

    def __init__(self, settings, key: bytes, *, use_store: bool = True, store_wait: float = 3.0):
        self.settings = settings
        self.key = key
        self.cache_key = cache_key(key)
        self.use_store = use_store and settings is not None
        self.store_wait = store_wait
        self._memory: Token | None = None
        self._lock = threading.RLock()
        self.lock_path = (Path(str(settings.store) + ".wecom-token.lock") if self.use_store else None)

    # -- memory
    def memory(self) -> Token | None:
        return self._memory

    def set_memory(self, token: Token | None) -> None:
        self._memory = token

    # -- store
    def load(self) -> Token | None:
        if not self.use_store:
            return None
        try:
            from siyu_cli.store import open_store

            with open_store(self.settings, wait=self.store_wait) as con:
                row = con.execute(
                    "SELECT token_enc, expires_at FROM wecom_tokens WHERE cache_key = ?", [self.cache_key]
                ).fetchone()
        except Exception as exc:  # busy store, permissions…: memory only
            log.debug("token cache: store not readable (%s); using memory only", type(exc).__name__)
            return None
        if not row:
            return None
        value = decrypt(self.key, row[0])
        if value is None:
            return None
        from siyu_cli.secrets import register

        register(value)
        return Token(value, float(row[1]))

    def save(self, token: Token) -> None:
        self._memory = token
        if not self.use_store:
            return
        try:
            from siyu_cli.store import open_store

            with open_store(self.settings, wait=self.store_wait) as con:
                con.execute(
                    "INSERT OR REPLACE INTO wecom_tokens (cache_key, token_enc, expires_at, fetched_at) VALUES (?, ?, ?, ?)",
                    [self.cache_key, encrypt(self.key, token.value), token.expires_at, time.time()],
                )
        except Exception as exc:
            log.debug("token cache: store not writable (%s); token kept in memory", type(exc).__name__)

    def discard(self, value: str) -> None:
        """Forget ``value`` (seen as invalid), in memory and in the store if it is still there."""
        if self._memory is not None and self._memory.value == value:
            self._memory = None
        if not self.use_store:
            return
        stored = self.load()
        if stored is not None and stored.value == value:
            try:
                from siyu_cli.store import open_store

                with open_store(self.settings, wait=self.store_wait) as con:
                    con.execute("DELETE FROM wecom_tokens WHERE cache_key = ?", [self.cache_key])
            except Exception:
                pass

    def refresh_lock(self):
        return file_lock(self.lock_path)
