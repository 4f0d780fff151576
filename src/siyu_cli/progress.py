"""Progress for long operations (push send, demo data, sync, report, load): a person sees it, a pipe never does.

The library never draws anything: a long function takes an optional ``progress`` callback
``(done, total, what)`` — ``done`` units so far, ``total`` when known (else ``None``), ``what`` is a short
description of the current stage — and calls it as it goes. The CLI passes the callback that
:func:`bar` yields: a transient Rich bar (or spinner, when the total is unknown) on stderr, drawn only
when stderr is a terminal and neither ``--quiet`` nor ``TERM=dumb`` says otherwise; ``NO_COLOR``
draws it without colour. Off a terminal the callback does nothing, so cron logs and pipes stay clean.
Tests pass their own callback to the library and check what it was told.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Optional

#: ``progress(done, total, what)``
Callback = Callable[[int, Optional[int], str], None]


def ignore(done: int, total: int | None = None, what: str = "") -> None:
    """The callback when nobody is watching."""


def enabled() -> bool:
    """A person is watching stderr: a terminal, not --quiet, not TERM=dumb."""
    from siyu_cli.output import progress_enabled

    return progress_enabled()


@contextmanager
def bar(description: str) -> Iterator[Callback]:
    """A progress display for one operation; yields the callback to hand to the library.

    The display is transient (erased when the operation ends) so the command's own output follows
    cleanly; off a terminal it yields :func:`ignore` and draws nothing.
    """
    if not enabled():
        yield ignore
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from siyu_cli.output import stderr_console

    columns = (SpinnerColumn(), TextColumn("{task.description}", markup=False),  # names from data: not markup
               BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr_console(), transient=True) as display:
        task = display.add_task(description, total=None)

        def update(done: int, total: int | None = None, what: str = "") -> None:
            display.update(task, completed=done, total=total, description=what or description)

        yield update
