"""Errors users can cause, each mapped to a documented exit code.

The CLI catches ``SiyuError`` and prints ``error: <message>`` as one line on
stderr, then exits with ``exit_code``. Anything else is a bug and keeps its
traceback (with secrets redacted, see ``siyu_cli.secrets``).
"""

from __future__ import annotations

from enum import IntEnum

from siyu_cli.i18n import _



class ExitCode(IntEnum):
    """Exit codes; README.md's "Exit codes" table is generated from this and :data:`EXIT_CODE_MEANINGS`."""

    OK = 0
    FAILURE = 1  # a step failed / unexpected error
    USAGE = 2  # bad command line (Click's own default)
    PARTIAL = 3  # finished, but some items failed (e.g. some recipients)
    LOCKED = 4  # the store or workspace is busy (another siyu holds the lock)
    DATA = 65  # bad input data: rejects over --max-rejects, invalid playbook
    TEMPFAIL = 75  # temporary failure (WeCom unavailable, rate limited): retry later
    CONFIG = 78  # missing/invalid workspace or siyu.toml, missing secret
    INTERRUPTED = 130


#: What each exit code tells a script (README.md, generated with cog).
EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "ok",
    ExitCode.FAILURE: "failure (a step failed, or an internal error)",
    ExitCode.USAGE: "usage: bad command line or bad SQL",
    ExitCode.PARTIAL: "partial: finished, but some items failed (e.g. `siyu run nightly`: a file's rejects over "
                      "`[load] max_reject_ratio`, a file left in the inbox; docs/operations.md)",
    ExitCode.LOCKED: "locked: the store or workspace is busy (another siyu holds it)",
    ExitCode.DATA: "bad data: rejects over `--max-rejects`, invalid playbook",
    ExitCode.TEMPFAIL: "temporary failure (WeCom unavailable or rate-limited, disk full): retry later",
    ExitCode.CONFIG: "configuration: missing/invalid workspace or siyu.toml, missing secret, damaged store",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C / SIGINT): one line; committed work is kept, a pipeline run is "
                          "marked interrupted",
}


class SiyuError(Exception):
    """A user-facing error: one readable line and an exit code."""

    exit_code = ExitCode.FAILURE

    def __init__(self, message: str, *, exit_code: int | None = None, hint: str | None = None,
                 reason: str | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
        self.hint = hint
        self.reason = reason

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def safe_message(self) -> str:
        """What failed and why without quoting the input (for logs, alerts and inbox error files).

        ``reason`` is given when ``message`` quotes data (a header, a value, a database error's text).
        """
        return self.reason or self.message


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


class StoreDamaged(ConfigError):
    """The store file is truncated or corrupt: restore it from a backup (exit 78)."""


class DiskFull(TemporaryFailure):
    """No space left on the device holding the store or its temporary files (exit 75)."""


_DAMAGED = ("corrupt database file", "could not read enough bytes", "not a valid duckdb database file",
            "does not match stored checksum", "failed to read database header")
_NO_SPACE = ("no space left on device", "disk full", "not enough space")


def _chain(exc: BaseException):
    """``exc`` and the exceptions it was raised from or while handling (a failed ROLLBACK hides ENOSPC)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def is_interrupt(exc: BaseException) -> bool:
    """Ctrl-C, however it surfaced: Python's KeyboardInterrupt or DuckDB's "Query interrupted"."""
    for e in _chain(exc):
        if isinstance(e, KeyboardInterrupt):
            return True
        name = type(e).__name__
        if name == "InterruptException" or (isinstance(e, RuntimeError) and str(e).startswith("Query interrupted")):
            return True
    return False


def explain_failure(exc: BaseException, store: object = None) -> SiyuError | None:
    """A user-facing error for a failure of the machine rather than of siyu (full disk, damaged store).

    Walks the exception chain: DuckDB reports ENOSPC as an IO Error, and a ROLLBACK attempted after it
    fails with "no transaction is active", which must not hide the cause. Returns None for anything else.
    """
    import errno

    where = f" ({store})" if store else ""
    for e in _chain(exc):
        text = str(e).lower()
        if (isinstance(e, OSError) and e.errno == errno.ENOSPC) or any(s in text for s in _NO_SPACE):
            return DiskFull(
                _('disk full: no space left on the device{where}; nothing more was written. Free some space (or move the workspace), then run the command again').format(where=where),
                hint=_('`siyu doctor` shows the free space'),
            )
        if any(s in text for s in _DAMAGED):
            return StoreDamaged(
                _('the store is damaged{where}: it is truncated or corrupt, so siyu cannot read it. Restore it from a backup (docs/security.md, "Backups") and run `siyu doctor`').format(where=where),
            )
    return None
