"""What a pipeline is made of and what a run returns: steps, results and the context a step runs in.

Kept apart from ``pipeline.py`` (which runs them), ``steps.py`` (the step types) and ``alerts.py``
so that each imports the types without importing the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from siyu_cli import clock
from siyu_cli.errors import ExitCode

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings
    from siyu_cli.runner.events import EventLog


@dataclass
class Step:
    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Pipeline:
    name: str
    steps: list[Step]


@dataclass
class StepResult:
    index: int
    name: str
    type: str
    status: str  # ok | partial | failed | skipped
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    exit_code: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "step": self.name,
            "type": self.type,
            "status": self.status,
            "counts": self.counts,
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class RunResult:
    run_id: str
    pipeline: str
    status: str  # ok | partial | failed | interrupted | dry-run | nothing-to-resume
    steps: list[StepResult] = field(default_factory=list)
    resumed_from: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    total_steps: int = 0  # steps the pipeline has (a failed run stops before the rest)

    @property
    def failed_step(self) -> StepResult | None:
        return next((s for s in self.steps if s.status == "failed"), None)

    @property
    def partial_steps(self) -> list[StepResult]:
        return [s for s in self.steps if s.status == "partial"]

    @property
    def exit_code(self) -> int:
        if self.status == "interrupted":
            return ExitCode.INTERRUPTED
        if self.status == "failed":
            return ExitCode.FAILURE
        if self.status == "partial":
            return ExitCode.PARTIAL
        return ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "status": self.status,
            "resumed_from": self.resumed_from,
            "total_steps": self.total_steps,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "steps": [s.to_dict() for s in self.steps],
        }


@dataclass
class StepContext:
    settings: "Settings"
    run_id: str
    step: "Step"
    log: "EventLog"
    dry_run: bool = False
    now: datetime | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    failed_reason: str | None = None
    failed_code: int = ExitCode.FAILURE
    partial_reason: str | None = None
    previous: dict[str, Any] | None = None  # resuming: this step's counts in the run being resumed (not ok there)

    def fail(self, reason: str, code: int = ExitCode.FAILURE) -> None:
        """Mark the step failed after it has done what it could (e.g. the other files)."""
        self.failed_reason, self.failed_code = reason, code

    def partial(self, reason: str) -> None:
        """Mark the step partial: it did its work but something needs a look; the pipeline goes on (exit 3)."""
        self.partial_reason = reason

    def local_now(self) -> datetime:
        tz = ZoneInfo(self.settings.timezone)
        return (self.now or clock.now(tz)).astimezone(tz)

    def option(self, key: str, default: Any = None) -> Any:
        return self.step.options.get(key, default)
