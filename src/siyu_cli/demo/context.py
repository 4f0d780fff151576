"""What the demo's steps share: the workspace context, a step, its result and the run's result.

Kept apart from ``runner.py`` (which runs the steps) and ``steps.py`` (the default steps) so each
step module imports the types without importing the runner.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from siyu_cli.errors import SiyuError

MARKER = ".siyu-demo"
EXPORTS_DIR = "exports"
REPORT_PATH = Path("reports") / "report.html"
DEMO_ROBOT_KEY = "demo-ops-robot"


class DemoStepError(SiyuError):
    """A demo step failed; the message names the step."""


@dataclass
class DemoContext:
    """What the steps share: the workspace, the demo parameters and earlier steps' results."""

    root: Path
    members: int
    seed: int
    today: date
    settings: Any = None  # siyu_cli.config.Settings of the demo workspace
    data: Any = None  # siyu_cli.demo.generator.DemoData once generated
    results: dict[str, Any] = field(default_factory=dict)  # step id -> whatever the step keeps (raw objects)
    playbooks: list[Path] = field(default_factory=list)  # the demo brand's playbooks in the workspace
    progress: Any = None  # the running step's siyu_cli.progress callback (None: nobody is watching)

    @property
    def exports(self) -> Path:
        return self.root / EXPORTS_DIR

    def week(self) -> tuple[datetime, datetime]:
        """The demo week: Monday 00:00 of ``today``'s week to the next Monday, in the workspace time zone."""
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(getattr(self.settings, "timezone", None) or "Asia/Shanghai")
        monday = self.today - timedelta(days=self.today.weekday())
        start = datetime.combine(monday, time(0, 0), tzinfo=tz)
        return start, start + timedelta(days=7)


@dataclass(frozen=True)
class DemoStep:
    id: str
    title: str
    func: Callable[[DemoContext], dict]


@dataclass
class StepResult:
    id: str
    title: str
    status: str  # ok | failed | not_run
    summary: dict = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    exit_code: int | None = None

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "status": self.status, "summary": self.summary,
                "seconds": round(self.seconds, 3), "error": self.error}


@dataclass
class DemoResult:
    root: Path
    members: int
    seed: int
    today: date
    steps: list[StepResult]

    @property
    def ok(self) -> bool:
        return all(s.status == "ok" for s in self.steps)

    @property
    def failed(self) -> StepResult | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    def step(self, step_id: str) -> StepResult | None:
        return next((s for s in self.steps if s.id == step_id), None)

    def to_dict(self) -> dict:
        failed = self.failed
        return {
            "workspace": str(self.root),
            "members": self.members,
            "seed": self.seed,
            "today": self.today.isoformat(),
            "ok": self.ok,
            "failed_step": failed.id if failed else None,
            "steps": [s.to_dict() for s in self.steps],
        }


def with_steps(steps: Sequence[DemoStep], extra: Sequence[DemoStep] | DemoStep, *,
               before: str | None = None, after: str | None = None) -> tuple[DemoStep, ...]:
    """``steps`` with ``extra`` inserted before the step ``before``, after ``after``, or at the end."""
    if isinstance(extra, DemoStep):
        extra = [extra]
    steps = list(steps)
    ids = [s.id for s in steps]
    for s in extra:
        if s.id in ids:
            raise ValueError(f"demo step {s.id!r} is already in the list")
    if before is not None and after is not None:
        raise ValueError("give before or after, not both")
    anchor = before if before is not None else after
    if anchor is None:
        return tuple(steps + list(extra))
    if anchor not in ids:
        raise ValueError(f"no demo step {anchor!r} (steps: {', '.join(ids)})")
    at = ids.index(anchor) + (0 if before is not None else 1)
    return tuple(steps[:at] + list(extra) + steps[at:])


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for one call and restore them afterwards (secrets never linger)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _to_dict(obj: Any) -> dict:
    if obj is None:
        return {}
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, dict):
        return obj
    return {}
