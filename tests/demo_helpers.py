"""A small demo workspace (120 members, seed 11) that read-only tests of outputs share per module."""

from __future__ import annotations

from datetime import date
from pathlib import Path

#: the demo's "today": fixed, so the tests pass on any calendar date
DEMO_TODAY = date(2026, 11, 25)


def built_demo(tmp_path_factory, name: str, today: date = DEMO_TODAY) -> Path:
    """Run the whole demo into a fresh folder and return its workspace root (the run must succeed)."""
    from siyu_cli.demo.runner import run_demo

    root = tmp_path_factory.mktemp(name) / "demo"
    result = run_demo(root, members=120, seed=11, today=today)
    assert result.ok, result
    return root
