"""Private scratch space for temporary copies of personal data (transcoded exports, DuckDB spill files).

Temporaries live in ``<workspace>/.siyu/tmp/`` (mode 0700), never in the shared /tmp: a GBK export
transcoded to UTF-8 is a full, unmasked copy of its phones and names. Each command gets its own folder
named after its PID, removed when it ends; a process killed before it could clean up leaves its folder
behind, and the next command to start sweeps every folder whose process is gone.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_OWNER = re.compile(r"^[a-z]+-(\d+)-")


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this id runs (on this machine)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def scratch_root(root: Path) -> Path:
    """``<root>/.siyu/tmp``, created 0700 (and tightened to 0700 if it exists)."""
    base = Path(root) / ".siyu" / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    return base


def leftovers(base: Path) -> list[Path]:
    """Scratch folders whose process no longer runs (killed before it could clean up)."""
    found = []
    for entry in base.iterdir() if base.is_dir() else ():
        m = _OWNER.match(entry.name)
        if m and int(m.group(1)) != os.getpid() and not pid_alive(int(m.group(1))):
            found.append(entry)
    return found


def sweep(base: Path) -> list[Path]:
    """Remove the scratch folders of processes that no longer run; return what was removed."""
    removed = leftovers(base)
    for entry in removed:
        shutil.rmtree(entry, ignore_errors=True)
    return removed


@contextmanager
def scratch_dir(root: Path, purpose: str = "load") -> Iterator[Path]:
    """A fresh 0700 folder for this process's temporaries, removed on the way out (even on Ctrl-C)."""
    base = scratch_root(root)
    sweep(base)
    path = Path(tempfile.mkdtemp(prefix=f"{purpose}-{os.getpid()}-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
