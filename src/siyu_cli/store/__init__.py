"""The DuckDB store: one file per workspace, opened briefly, upgraded by numbered migrations.

DuckDB lets one process at a time hold a file read-write, and a writer also
blocks readers in other processes. So every command opens the store for as
short a time as it can (``with open_store(...) as con:``), reads with
``read_only=True``, and when another siyu holds the file waits a bounded time
(``SIYU_LOCK_WAIT`` seconds, default 15) before failing with
:class:`~siyu_cli.errors.StoreBusy` (exit code 4) naming the holder's PID.

Migrations are ``migrations/NNN_name.sql`` files applied in number order and
recorded in ``schema_migrations``. A step SQL cannot express (one that needs the workspace's id
key, say) is a ``migrations/NNN_name.py`` file defining ``upgrade(con, settings)``; it runs in the
same transaction as the others. Each area owns its own files (core 001–099,
segment 100s, plan 200s, push 300s, runs 400s, report 500s). A store that
holds a migration this siyu does not know was written by a newer siyu and is
refused rather than misread.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, TypeVar

from siyu_cli.errors import ConfigError, StoreBusy, explain_failure
from siyu_cli.privacy import chmod_private
from siyu_cli.i18n import _

T = TypeVar("T")

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

    from siyu_cli.config import Settings

DEFAULT_LOCK_WAIT = 15.0
_LOCK_MESSAGE = re.compile(r"Could not set lock on file|Conflicting lock", re.I)
_PID = re.compile(r"PID (\d+)")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str  # the SQL, or the Python source of a ``.py`` step
    python: bool = False

    def apply(self, con: "duckdb.DuckDBPyConnection", settings: "Settings | None") -> None:
        if not self.python:
            con.execute(self.sql)
            return
        if settings is None:
            raise ConfigError(_('schema migration {version} ({name}) needs the workspace (open the store through open_store)').format(version=self.version, name=self.name))
        scope: dict = {"__name__": f"siyu_cli.store.migrations.m{self.version:03d}"}
        exec(compile(self.sql, f"<migration {self.version:03d}_{self.name}.py>", "exec"), scope)
        scope["upgrade"](con, settings)


def migrations() -> list[Migration]:
    """All migrations shipped with this siyu, in version order."""
    return list(_shipped_migrations())


@lru_cache(maxsize=1)
def _shipped_migrations() -> tuple[Migration, ...]:
    """The package's migration files, read once per process (open_store runs many times per command)."""
    found = []
    for entry in resources.files("siyu_cli.store").joinpath("migrations").iterdir():
        m = re.match(r"^(\d+)_(.+)\.(sql|py)$", entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8"), m.group(3) == "py"))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):  # pragma: no cover - packaging error
        raise RuntimeError(f"duplicate migration numbers: {versions}")
    return tuple(found)


def lock_wait_seconds() -> float:
    try:
        return float(os.environ.get("SIYU_LOCK_WAIT", DEFAULT_LOCK_WAIT))
    except ValueError:
        raise ConfigError(_('SIYU_LOCK_WAIT must be a number of seconds, not {value!r}').format(value=os.environ['SIYU_LOCK_WAIT'])) from None


def _connect_with_wait(path: Path, read_only: bool, wait: float) -> "duckdb.DuckDBPyConnection":
    import duckdb

    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if not _LOCK_MESSAGE.search(str(exc)):
                raise explain_failure(exc, path) or ConfigError(_('{path}: cannot open the store: {exc}').format(path=path, exc=exc)) from None
            if time.monotonic() >= deadline:
                pid = _PID.search(str(exc))
                holder = f"process {pid.group(1)}" if pid else "another process"
                raise StoreBusy(
                    _('store {path} is busy: {holder} holds it (waited {wait:g}s; retry later or raise SIYU_LOCK_WAIT)').format(path=path, holder=holder, wait=wait)
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def table_names(con: "duckdb.DuckDBPyConnection") -> set[str]:
    """Names of the tables and views this connection sees (the store's and its temp ones): optional areas
    (push, CLV, sync) may not have made theirs yet."""
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def table_exists(con: "duckdb.DuckDBPyConnection", name: str) -> bool:
    """Whether this connection sees a table or view ``name`` (one lookup, where :func:`table_names` lists all)."""
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()[0])


def applied_versions(con: "duckdb.DuckDBPyConnection") -> set[int]:
    if not table_exists(con, "schema_migrations"):
        return set()
    return {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}


def _check_not_newer(path: Path, applied: set[int], known: list[Migration]) -> None:
    unknown = sorted(applied - {m.version for m in known})
    if unknown:
        from siyu_cli import __version__

        raise ConfigError(
            _('store {path} was written by a newer siyu (schema migration {value} is unknown to siyu {version}); upgrade siyu to open it').format(path=path, value=unknown[-1], version=__version__)
        )


def migrate(con: "duckdb.DuckDBPyConnection", path: Path, settings: "Settings | None" = None) -> list[int]:
    """Apply the migrations this store lacks; return the versions applied."""
    known = migrations()
    applied = applied_versions(con)
    _check_not_newer(path, applied, known)
    done = []
    for mig in known:
        if mig.version in applied:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            mig.apply(con, settings)
            con.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, now())",
                [mig.version, mig.name],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        done.append(mig.version)
    return done


def _prepare(con: "duckdb.DuckDBPyConnection", timezone: str) -> None:
    con.execute(f"SET TimeZone = '{timezone}'")
    con.execute("SET enable_progress_bar = false")


@contextmanager
def open_store(
    settings: "Settings",
    *,
    read_only: bool = False,
    wait: float | None = None,
) -> Iterator["duckdb.DuckDBPyConnection"]:
    """Open the workspace's store for the duration of a ``with`` block.

    Read-write opens bring the schema up to date first. A read-only open of a
    store that is missing or behind is preceded by a short read-write open
    that creates or upgrades it.
    """
    path = settings.store
    wait = lock_wait_seconds() if wait is None else wait
    path.parent.mkdir(parents=True, exist_ok=True)
    if read_only:
        if not path.exists():
            with open_store(settings, read_only=False, wait=wait):
                pass
        con = _connect_with_wait(path, True, wait)
        known = migrations()
        applied = applied_versions(con)
        _check_not_newer(path, applied, known)
        if {m.version for m in known} - applied:
            con.close()
            with open_store(settings, read_only=False, wait=wait):
                pass
            con = _connect_with_wait(path, True, wait)
    else:
        con = _connect_with_wait(path, False, wait)
        try:
            chmod_private(path)
            migrate(con, path, settings)
            _install_id_key(con, settings)
        except Exception:
            con.close()
            raise
    try:
        _prepare(con, settings.timezone)
        if read_only:
            # read-only connections (siyu sql among them) never get the key: the macro text would show it
            from siyu_cli.privacy import install_sql

            install_sql(con, None)
        yield con
    finally:
        con.close()
        if not read_only:
            for p in (path, path.with_name(path.name + ".wal")):
                chmod_private(p)


def read(settings: "Settings", fn: "Callable[..., T]", /, *args: Any, **kwargs: Any) -> "T":
    """``fn(con, *args, **kwargs)`` on a read-only session of its own, closed before this returns.

    How an entry point (a command among them) runs an inner function, which takes the open connection:
    the command holds no connection and the inner function stays callable inside a caller's session.
    """
    with open_store(settings, read_only=True) as con:
        return fn(con, *args, **kwargs)


def _install_id_key(con: "duckdb.DuckDBPyConnection", settings: "Settings") -> None:
    """Give a read-write connection the keyed-hash macros (member ids, tombstones), checking the key is the store's."""
    from siyu_cli.privacy import fingerprint, install_sql, key_path, workspace_key

    key = workspace_key(settings)
    mark = fingerprint(key)
    row = con.execute("SELECT fingerprint FROM id_key LIMIT 1").fetchone()
    if row is None:
        con.execute("INSERT INTO id_key (fingerprint, created_at) VALUES (?, now())", [mark])
    elif row[0] != mark:
        raise ConfigError(
            _("the id key ({key_path} or SIYU_ID_KEY) is not the one this store's member ids were made with; restore the workspace's .siyu/id.key from its backup").format(key_path=key_path(settings))
        )
    install_sql(con, key)


def schema_version(con: "duckdb.DuckDBPyConnection") -> int:
    applied = applied_versions(con)
    return max(applied) if applied else 0
