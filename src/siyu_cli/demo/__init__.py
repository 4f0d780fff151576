"""Demo data and the ``siyu demo`` tour (see docs/demo.md)."""

from siyu_cli.demo.generator import BadRow, DemoData, DemoFile, build, generate, generate_data
from siyu_cli.demo.runner import DEFAULT_STEPS, DemoContext, DemoResult, DemoStep, run_demo, with_steps

__all__ = [
    "BadRow", "DemoData", "DemoFile", "build", "generate", "generate_data",
    "DEFAULT_STEPS", "DemoContext", "DemoResult", "DemoStep", "run_demo", "with_steps",
]
