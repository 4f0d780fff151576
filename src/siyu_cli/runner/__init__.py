"""Unattended operation: named pipelines run by cron or systemd (`siyu run`, `siyu runs`).

A pipeline is an ordered list of steps (load the inbox, segment, write the
report, push what is due, run SQL). Each run and each step is recorded in the
store, so `siyu runs` shows history and `siyu run NAME --resume` retries a
failed or killed run without redoing its finished steps. One run per
workspace at a time (see :mod:`siyu_cli.runner.lock`).
"""

from siyu_cli.runner.pipeline import (  # noqa: F401
    DEFAULT_PIPELINES,
    Pipeline,
    RunResult,
    Step,
    list_runs,
    load_pipelines,
    run_pipeline,
)
