"""One pipeline run per workspace: an flock on ``.siyu/run.lock``.

The kernel drops an flock when its process dies, so a lock can never go
stale: a lock file left by a killed run is simply re-acquired (and reported
as stale). The file holds who has it, so the second run can say so in one
line before it exits with code 4 (or waits ``--lock-wait`` seconds first).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from siyu_cli.errors import StoreBusy
from siyu_cli.scratch import pid_alive  # noqa: F401 (re-exported)
from siyu_cli.i18n import _


class WorkspaceLocked(StoreBusy):
    """Another `siyu run` holds this workspace."""


@dataclass
class Holder:
    pid: int | None
    pipeline: str | None
    since: str | None
    host: str | None

    def describe(self) -> str:
        who = f"pid {self.pid}" if self.pid else "another process"
        if self.host and self.host != socket.gethostname():
            who += f" on {self.host}"
        what = f"pipeline '{self.pipeline}'" if self.pipeline else "a pipeline"
        return f"{what} is running ({who}, since {self.since or '?'})"


class RunLock:
    """Context manager holding the workspace's run lock."""

    def __init__(self, root: Path, pipeline: str, *, wait: float = 0.0, poll: float = 0.2):
        self.path = Path(root) / ".siyu" / "run.lock"
        self.pipeline = pipeline
        self.wait = wait
        self.poll = poll
        self.fd: int | None = None
        self.stale: Holder | None = None  # set when a dead run's lock file was found and taken over

    def read_holder(self) -> Holder:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            data = {}
        return Holder(data.get("pid"), data.get("pipeline"), data.get("since"), data.get("host"))

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(self.wait, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    holder = self.read_holder()
                    raise WorkspaceLocked(
                        _('workspace is locked: {describe}').format(describe=holder.describe()),
                        hint=_('wait for it to finish, or use --lock-wait SECONDS'),
                    ) from None
                time.sleep(self.poll)
        previous = self.read_holder()
        if previous.pid and previous.pid != os.getpid() and not pid_alive(previous.pid):
            self.stale = previous
        record = {
            "pid": os.getpid(),
            "pipeline": self.pipeline,
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "host": socket.gethostname(),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None

    def __enter__(self) -> "RunLock":
        return self if self.fd is not None else self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
