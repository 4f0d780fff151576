"""How much a template render may cost: wall time, output size, loop length, memory.

Playbooks and push templates are written by people who do not run siyu's
processes, so a template must not be able to hang ``plan check`` or hold the
workspace lock for ever (nested ``range`` loops), nor allocate gigabytes
(``'x' * 3000000000``, ``center(2e10)``, ``'%2000000000d' % 1``). The sandbox
(:mod:`siyu_cli.templating`) refuses the known amplifiers before they
allocate and calls :func:`check` on every call, loop step and output chunk;
this module holds the budget those checks compare against, and two hard
backstops for what slips through a single C-level call: an address-space
limit (``RLIMIT_AS``, Linux) and an interval timer (``SIGALRM``, main
thread) for the duration of one render.

The budget is process-wide: :func:`configure` reads ``[templates]`` of
siyu.toml when the settings are loaded. No jinja2 import here (start-up).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, replace
from typing import Any
from siyu_cli.i18n import _


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

try:
    import resource as _resource

    _PAGE = os.sysconf("SC_PAGE_SIZE")
except (ImportError, AttributeError, ValueError, OSError):  # pragma: no cover - Windows
    _resource, _PAGE = None, 4096


def configure(section: dict[str, Any] | None, where: str = "siyu.toml") -> Budget:
    """Validate ``[templates]`` and make it the budget of every render in this process."""
    from siyu_cli.errors import ConfigError

    global _budget
    values: dict[str, Any] = {}
    for key, value in (section or {}).items():
        if key not in SETTINGS_KEYS:
            raise ConfigError(_('{where}: unknown key templates.{key} (known: {join})').format(where=where, key=key, join=', '.join(SETTINGS_KEYS)))
        kind, lowest = SETTINGS_KEYS[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or isinstance(value, int))
        if not ok or value < lowest:
            raise ConfigError(_('{where}: templates.{key} must be a {value} ≥ {lowest}, not {value2!r}').format(where=where, key=key, value='number' if kind is float else 'whole number', lowest=lowest, value2=value))
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


class rendering:  # noqa: N801 - used like a function: ``with rendering() as budget:``
    """The scope of one render: deadline set, memory and alarm backstops armed, all undone after.

    A plain class rather than @contextmanager: it runs once per message rendered.
    """

    __slots__ = ("budget", "nested", "rlimit", "alarm")

    def __enter__(self) -> Budget:
        self.nested = getattr(_state, "deadline", None) is not None
        if self.nested:  # a render inside a render shares the outer one
            self.budget = _state.budget
            return self.budget
        b = self.budget = _budget
        _state.budget = b
        _state.deadline = time.monotonic() + b.render_seconds
        self.rlimit, self.alarm = None, False
        try:
            self.rlimit = _lower_memory_limit(b.memory_mb)
            self.alarm = _arm_alarm(b.render_seconds)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return b

    def __exit__(self, kind, exc, tb) -> None:
        if self.nested:
            return
        try:
            if self.alarm:
                import signal

                signal.setitimer(signal.ITIMER_REAL, 0)
            if self.rlimit is not None:
                _resource.setrlimit(_resource.RLIMIT_AS, self.rlimit)
        finally:
            _state.deadline = None
            _state.budget = None
        if kind is not None and issubclass(kind, MemoryError):
            raise BudgetExceeded(f"the template needs more than {self.budget.memory_mb} MB of memory "
                                 "(templates.memory_mb)") from None
        if kind is not None and issubclass(kind, RecursionError):
            raise BudgetExceeded("the template nests calls too deeply (a macro calling itself?)") from None


def _lower_memory_limit(mb: int) -> tuple[int, int] | None:
    """Lower RLIMIT_AS to (address space in use + ``mb``) where the OS allows; the limits to restore."""
    if mb <= 0 or _resource is None:
        return None
    used = _address_space()
    if used is None:
        return None
    soft, hard = _resource.getrlimit(_resource.RLIMIT_AS)
    want = used + mb * 1024 * 1024
    if hard != _resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft != _resource.RLIM_INFINITY and soft <= want:
        return None  # an outer limit is already tighter
    _resource.setrlimit(_resource.RLIMIT_AS, (want, hard))
    return soft, hard


def _address_space() -> int | None:
    """Bytes of address space in use (Linux /proc; None elsewhere). Raw os calls: this runs per render."""
    try:
        fd = os.open("/proc/self/statm", os.O_RDONLY)
        try:
            pages = int(os.read(fd, 64).split()[0])
        finally:
            os.close(fd)
    except (OSError, ValueError, IndexError):
        return None
    return pages * _PAGE




def _on_alarm(signum, frame) -> None:
    """SIGALRM: stop the render running in the main thread; outside a render, do what the default would."""
    if getattr(_state, "deadline", None) is not None:
        raise BudgetExceeded(f"the template ran longer than {_state.budget.render_seconds:g} s")
    import signal

    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # an alarm siyu did not set: terminate, as before
    os.kill(os.getpid(), signal.SIGALRM)


_alarm_installed = False


def _install_alarm_handler() -> bool:
    """Install _on_alarm once per process, unless someone else already handles SIGALRM."""
    import signal

    global _alarm_installed
    if _alarm_installed:
        return True
    try:
        if signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, None):
            return False  # not ours to take over
        signal.signal(signal.SIGALRM, _on_alarm)
    except (ValueError, AttributeError):  # pragma: no cover - not the main interpreter / no SIGALRM
        return False
    _alarm_installed = True
    return True


def _arm_alarm(seconds: float) -> bool:
    """SIGALRM a little after the deadline, for a loop that never reaches a cooperative check (main thread)."""
    import signal

    if (threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer")
            or not _install_alarm_handler()):
        return False
    if signal.getitimer(signal.ITIMER_REAL)[0]:
        return False  # a timer is already running (not ours): leave it alone
    signal.setitimer(signal.ITIMER_REAL, seconds + 0.25)
    return True
