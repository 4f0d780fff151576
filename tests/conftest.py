"""Shared fixtures: an isolated workspace per test and ways to run the CLI as a user does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siyu_cli.cli.main import app
from siyu_cli.config import load_settings
from siyu_cli.workspace import init_workspace

# A test session started in the background by a non-interactive shell (`cmd &`, cron, nohup) inherits SIGINT as
# ignored, and so would every siyu the tests start: Python then installs no KeyboardInterrupt handler and the Ctrl-C
# tests (siyu sql, load, run, sandbox serve) hang or finish as if never interrupted. A handler here is reset to the
# default at exec, so the children see SIGINT as a terminal's Ctrl-C delivers it.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _restore_logging():
    """`siyu --verbose` run in-process installs a root handler on CliRunner's (soon closed) stderr."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


#: two far-apart moments the date-sensitive tests (the demo) also run at, besides the real clock
CLOCKS = ("2026-11-24T09:00+08:00", "2031-02-28T23:30+08:00")


def pytest_configure(config):
    config.addinivalue_line("markers", "zh: run the test in siyu's default language, Chinese (the suite runs in English)")


def pytest_addoption(parser):
    parser.addoption("--siyu-now", default=None,
                     help="Run every test with siyu's clock moved to this ISO datetime (sets SIYU_NOW; "
                          "also read from $SIYU_TEST_NOW). Tests must pass on any date.")


def _suite_now(config) -> str | None:
    return config.getoption("--siyu-now") or os.environ.get("SIYU_TEST_NOW") or None


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path, request):
    """No test sees the developer's workspace, colours or secrets; the clock is the suite's (--siyu-now)."""
    for name in list(os.environ):
        if name.startswith(("SIYU_", "WECOM_")):
            monkeypatch.delenv(name, raising=False)
    if _suite_now(request.config):
        monkeypatch.setenv("SIYU_NOW", _suite_now(request.config))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("SIYU_LOCK_WAIT", "2")
    # the suite reads English: the msgids (tests of the Chinese interface set SIYU_LANGUAGE=zh or --lang zh)
    # (@pytest.mark.zh: a test of the default, Chinese, output)
    monkeypatch.setenv("SIYU_LANGUAGE", "zh" if request.node.get_closest_marker("zh") else "en")
    monkeypatch.chdir(tmp_path)
    from siyu_cli import i18n

    i18n.reset()
    yield
    i18n.reset()


@pytest.fixture(params=(None, *CLOCKS), ids=lambda v: "real-clock" if v is None else f"now={v[:10]}")
def moved_clock(request, monkeypatch) -> str | None:
    """Run the test on the real clock and with siyu's clock (SIYU_NOW) moved to far-apart dates.

    Subprocesses inherit SIYU_NOW from the environment, so whole commands run at the moved time.
    """
    if request.param is not None:
        monkeypatch.setenv("SIYU_NOW", request.param)
    return request.param


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    """A fresh workspace, selected through SIYU_WORKSPACE."""
    root = tmp_path / "ws"
    init_workspace(root)
    monkeypatch.setenv("SIYU_WORKSPACE", str(root))
    return root


@pytest.fixture
def settings(workspace):
    return load_settings(workspace)


class Cli:
    """Run ``siyu`` in-process through Typer's CliRunner (stdout and stderr kept apart)."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, expect: int | None = 0):
        result = self.runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)
        if expect is not None:
            assert result.exit_code == expect, (
                f"siyu {' '.join(map(str, args))} exited {result.exit_code}, expected {expect}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result


@pytest.fixture
def cli() -> Cli:
    return Cli()


def run_siyu(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 120, **kw):
    """Run ``python -m siyu_cli`` in a real subprocess, as cron or a shell would."""
    full_env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    full_env["PYTHONPATH"] = src + os.pathsep + full_env.get("PYTHONPATH", "")
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "siyu_cli", *map(str, args)],
        env=full_env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


@pytest.fixture
def siyu_subprocess():
    return run_siyu
