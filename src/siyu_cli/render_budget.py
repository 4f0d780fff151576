"""How much a template render may cost: wall time, output size, loop length, memory.

Playbooks and push templates are written by people who do not run siyu's
processes, so a template must not be able to hang ``plan check`` or hold the
workspace lock for ever (nested ``range`` loops), nor allocate gigabytes
(``'x' * 3000000000``, ``center(2e10)``, ``'%2000000000d' % 1``). The sandbox
(:mod:`siyu_cli.templating`) refuses the known amplifiers before they
allocate and calls :func:`check` on every call, loop step and output chunk;
this module holds the budget those checks compare against, and two hard
backstops for what slips through a single C-level call: an address-space
limit (``RLIMIT_AS``, Linux/macOS) and an interval timer (``SIGALRM``, main
thread) for the duration of one render.

The budget is process-wide: :func:`configure` reads ``[templates]`` of
siyu.toml when the settings are loaded. No jinja2 import here (start-up).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Iterator


@dataclass(frozen=True)
class Budget:
    """Limits of one render (``[templates]`` in siyu.toml; defaults documented in docs/playbooks.md)."""

    #: wall time of one render (a message for one group/member), seconds
    render_seconds: float = 1.0
    #: UTF-8 bytes a render may output; also the largest string/list one operation may build
    max_output_bytes: int = 100_000
    #: most items ``range()``, ``batch`` or ``slice`` may produce
    max_range: int = 10_000
    #: address space a render may add (hard backstop; 0 turns it off)
    memory_mb: int = 512


DEFAULT = Budget()
#: siyu.toml key -> (type, lowest allowed value)
SETTINGS_KEYS: dict[str, tuple[type, float]] = {
    "render_seconds": (float, 0.05),
    "max_output_bytes": (int, 4096),
    "max_range": (int, 10),
    "memory_mb": (int, 0),
}

_budget = DEFAULT


def configure(section: dict[str, Any] | None, where: str = "siyu.toml") -> Budget:
    """Validate ``[templates]`` and make it the budget of every render in this process."""
    from siyu_cli.errors import ConfigError

    global _budget
    values: dict[str, Any] = {}
    for key, value in (section or {}).items():
        if key not in SETTINGS_KEYS:
            raise ConfigError(f"{where}: unknown key templates.{key} (known: {', '.join(SETTINGS_KEYS)})")
        kind, lowest = SETTINGS_KEYS[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or isinstance(value, int))
        if not ok or value < lowest:
            raise ConfigError(f"{where}: templates.{key} must be a {'number' if kind is float else 'whole number'} "
                              f"≥ {lowest}, not {value!r}")
        values[key] = kind(value)
    _budget = replace(DEFAULT, **values)
    return _budget


def budget() -> Budget:
    return _budget


class BudgetExceeded(Exception):
    """A render went over its budget; the message says which limit."""


# ----------------------------------------------------------------------------- the active render

_state = threading.local()


def check() -> None:
    """Raise BudgetExceeded when the render running in this thread is past its deadline."""
    deadline = getattr(_state, "deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise BudgetExceeded(f"the template ran longer than {_state.budget.render_seconds:g} s")


def limit() -> int:
    """The largest string/list one operation may build (the output budget)."""
    b = getattr(_state, "budget", None) or _budget
    return b.max_output_bytes


def max_items() -> int:
    b = getattr(_state, "budget", None) or _budget
    return b.max_range


def too_large(what: str) -> BudgetExceeded:
    return BudgetExceeded(f"{what} would be larger than {limit()} characters (templates.max_output_bytes)")


@contextmanager
def rendering() -> Iterator[Budget]:
    """The scope of one render: deadline set, memory and alarm backstops armed, all undone after."""
    if getattr(_state, "deadline", None) is not None:  # a render inside a render shares the outer one
        yield _state.budget
        return
    b = _budget
    _state.budget = b
    _state.deadline = time.monotonic() + b.render_seconds
    try:
        with _memory_limit(b.memory_mb), _alarm(b.render_seconds):
            try:
                yield b
            except MemoryError:
                raise BudgetExceeded(f"the template needs more than {b.memory_mb} MB of memory "
                                     "(templates.memory_mb)") from None
            except RecursionError:
                raise BudgetExceeded("the template nests calls too deeply (a macro calling itself?)") from None
    finally:
        _state.deadline = None
        _state.budget = None


@contextmanager
def _memory_limit(mb: int) -> Iterator[None]:
    """Lower RLIMIT_AS to (address space in use + ``mb``) while the block runs, where the OS allows."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    used = _address_space()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = None if (used is None or mb <= 0) else used + mb * 1024 * 1024
    if want is not None and hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if want is None or (soft != resource.RLIM_INFINITY and soft <= want):
        yield  # no backstop possible, or an outer limit is already tighter
        return
    resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _address_space() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as f:
            pages = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    """SIGALRM a little after the deadline, for a loop that never reaches a cooperative check."""
    import signal

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return
    old_remaining, old_interval = signal.getitimer(signal.ITIMER_REAL)
    grace = seconds + 0.25
    if old_remaining and old_remaining <= grace:
        yield  # someone else's alarm comes first; leave it alone
        return

    def on_alarm(signum, frame):  # only while a render is running in the main thread
        if getattr(_state, "deadline", None) is not None:
            raise BudgetExceeded(f"the template ran longer than {seconds:g} s")

    try:
        previous = signal.signal(signal.SIGALRM, on_alarm)
    except ValueError:  # pragma: no cover - not the main interpreter
        yield
        return
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, grace)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        if old_remaining:
            signal.setitimer(signal.ITIMER_REAL, max(0.001, old_remaining - (time.monotonic() - started)), old_interval)
