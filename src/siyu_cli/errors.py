"""Errors users can cause, each mapped to a documented exit code.

The CLI catches ``SiyuError`` and prints ``error: <message>`` as one line on
stderr, then exits with ``exit_code``. Anything else is a bug and keeps its
traceback (with secrets redacted, see ``siyu_cli.secrets``).
"""

from __future__ import annotations


class ExitCode:
    """Exit codes, documented in README.md ("Exit codes")."""

    OK = 0
    FAILURE = 1  # a step failed / unexpected error
    USAGE = 2  # bad command line (Click's own default)
    PARTIAL = 3  # finished, but some items failed (e.g. some recipients)
    LOCKED = 4  # the store or workspace is busy (another siyu holds the lock)
    DATA = 65  # bad input data: rejects over --max-rejects, invalid playbook
    TEMPFAIL = 75  # temporary failure (WeCom unavailable, rate limited): retry later
    CONFIG = 78  # missing/invalid workspace or siyu.toml, missing secret
    INTERRUPTED = 130


class SiyuError(Exception):
    """A user-facing error: one readable line and an exit code."""

    exit_code = ExitCode.FAILURE

    def __init__(self, message: str, *, exit_code: int | None = None, hint: str | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
        self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class UsageError(SiyuError):
    exit_code = ExitCode.USAGE


class ConfigError(SiyuError):
    exit_code = ExitCode.CONFIG


class DataError(SiyuError):
    exit_code = ExitCode.DATA


class StoreBusy(SiyuError):
    exit_code = ExitCode.LOCKED


class TemporaryFailure(SiyuError):
    exit_code = ExitCode.TEMPFAIL
