"""`siyu doctor`: is this workspace healthy, and if not, what to do about it.

Each check gives ``ok``, ``warn`` or ``fail``, a detail line and, when not ok, the fix. Nothing is
written: the store is opened read-only (the schema is not upgraded) and the workspace lock is only
probed. A ``fail`` carries the exit code the failure maps to (78 config/damaged store, 75 disk full,
4 busy), so cron can tell a broken workspace from a busy one. Details and fixes are for people: they read
in siyu's language (ids and statuses stay English).
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from siyu_cli.errors import ExitCode, SiyuError, StoreBusy, explain_failure
from siyu_cli.i18n import N_, _

#: free space under which a check warns / fails (loads, spill files and the store's growth need room)
WARN_FREE = 1 << 30
FAIL_FREE = 100 << 20

RESTORE = N_("restore the store from a backup (docs/security.md, \"Backups\"): with no siyu running, copy the "
             "backup over {store}, then run `siyu doctor` again")


@dataclass
class Check:
    id: str
    status: str  # ok | warn | fail
    detail: str
    fix: str = ""
    exit_code: int = ExitCode.OK


@dataclass
class Diagnosis:
    root: Path
    store: Path
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    @property
    def exit_code(self) -> int:
        return next((c.exit_code for c in self.checks if c.status == "fail"), ExitCode.OK)

    def add(self, *args: Any, **kw: Any) -> Check:
        check = Check(*args, **kw)
        self.checks.append(check)
        return check

    def to_dict(self) -> dict[str, Any]:
        return {"workspace": str(self.root), "store": str(self.store), "ok": self.ok, "exit_code": self.exit_code,
                "checks": [{k: v for k, v in asdict(c).items()} for c in self.checks]}


def diagnose(workspace: str | os.PathLike[str] | None = None, *, wait: float = 2.0) -> Diagnosis:
    """Run every check on the workspace (found as every command finds it) and return the results."""
    from siyu_cli.config import CONFIG_FILE, find_workspace, load_settings

    root = find_workspace(workspace)
    settings = None
    try:
        settings = load_settings(root)
        store = settings.store
    except SiyuError as exc:
        store = root / "siyu.duckdb"
        diag = Diagnosis(root, store)
        diag.add("config", "fail", exc.message, _("fix {file} (see README, \"Configuration\")").format(file=root / CONFIG_FILE),
                 ExitCode.CONFIG)
    else:
        diag = Diagnosis(root, store)
        diag.add("config", "ok", _("{file} parses").format(file=root / CONFIG_FILE))
    _check_permissions(diag)
    _check_free_space(diag)
    _check_run_lock(diag)
    if settings is not None:
        _check_store(diag, settings, wait)
    _check_scratch(diag)
    return diag


# ---------------------------------------------------------------- the checks


def print_checks(diag: Diagnosis) -> None:
    """``siyu doctor`` for people: a table of the checks, the status in colour on a terminal."""
    from siyu_cli.output import rows_table, stdout_console

    status = {"ok": N_("ok"), "warn": N_("warning"), "fail": N_("failed")}
    heads = [_("check"), _("status"), _("detail"), _("what to do")]
    table = rows_table(heads, [(c.id, _(status[c.status]), c.detail, c.fix) for c in diag.checks],
                       title=_("siyu doctor · {root}").format(root=diag.root))
    style = {"ok": "green", "warn": "yellow", "fail": "bold red"}
    for column in table.columns:
        if str(column.header) == heads[1]:
            for cell, c in zip(column._cells, diag.checks):
                cell.stylize(style[c.status])
    stdout_console().print(table)


def _check_free_space(diag: Diagnosis) -> None:
    folder = diag.store.parent if diag.store.parent.exists() else diag.root
    free = shutil.disk_usage(folder).free
    size = diag.store.stat().st_size if diag.store.exists() else 0
    text = _("{free} free on the disk holding {folder} (store {size})").format(free=_size(free), folder=folder,
                                                                              size=_size(size))
    fix = _("free some space or move the workspace: loads stage a copy of each file and DuckDB spills to disk")
    if free < FAIL_FREE:
        diag.add("free_space", "fail", text, fix, ExitCode.TEMPFAIL)
    elif free < max(WARN_FREE, 2 * size):
        diag.add("free_space", "warn", text, fix)
    else:
        diag.add("free_space", "ok", text)


def _check_permissions(diag: Diagnosis) -> None:
    """Who else may change what siyu trusts (config, playbooks, inbox) or read what it keeps (store)."""
    problems, warnings = [], []
    for name in ("siyu.toml", "playbooks", "inbox", ".siyu"):
        path = diag.root / name
        if path.exists() and path.stat().st_mode & stat.S_IWOTH:
            problems.append(_("{name} is writable by every user").format(name=name))
    for path in (diag.store, diag.root / ".siyu" / "tmp"):
        if path.exists() and path.stat().st_mode & (stat.S_IROTH | stat.S_IRGRP):
            warnings.append(_("{name} is readable by other users").format(name=path.name))
    if not os.access(diag.root, os.W_OK):
        problems.append(_("{root} is not writable by this user").format(root=diag.root))
    if problems:
        diag.add("permissions", "fail", "; ".join(problems + warnings),
                 _("chmod o-w the files named (anyone who can write siyu.toml or a playbook controls what siyu sends)"),
                 ExitCode.CONFIG)
    elif warnings:
        diag.add("permissions", "warn", "; ".join(warnings),
                 _("chmod 600 {store} and chmod 700 the folders named: they hold personal data").format(store=diag.store))
    else:
        diag.add("permissions", "ok", _("config, playbooks and inbox writable only by their owner; store private"))


def _check_run_lock(diag: Diagnosis) -> None:
    import fcntl

    from siyu_cli.runner.lock import RunLock

    lock = RunLock(diag.root, "doctor")
    if not lock.path.exists():
        diag.add("run_lock", "ok", _("no pipeline has run here yet"))
        return
    fd = os.open(lock.path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            diag.add("run_lock", "warn", lock.read_holder().describe(),
                     _("wait for it to finish; if it hangs, stop that process (its run is resumable with --resume)"))
            return
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    diag.add("run_lock", "ok", _("no pipeline is running"))


def _check_store(diag: Diagnosis, settings, wait: float) -> None:
    """Opens read-only; migrations; then a full read of every column of every table (checksums)."""
    import duckdb

    from siyu_cli.store import _connect_with_wait, applied_versions, migrations

    store = diag.store
    if not store.exists():
        diag.add("store", "warn", _("{store} does not exist yet").format(store=store),
                 _("it is created by the first `siyu load`"))
        return
    try:
        con = _connect_with_wait(store, True, wait)
    except StoreBusy as exc:
        diag.add("store_lock", "warn", exc.message, _("wait for that process; `siyu doctor` checks the rest later"),
                 ExitCode.LOCKED)
        return
    except SiyuError as exc:
        diag.add("store", "fail", exc.message, _(RESTORE).format(store=store), exc.exit_code)
        return
    try:
        diag.add("store_lock", "ok", _("no other process holds the store read-write"))
        known = {m.version for m in migrations()}
        applied = applied_versions(con)
        if applied - known:
            diag.add("migrations", "fail", _("written by a newer siyu (migration {version} unknown)").format(
                version=max(applied - known)), _("upgrade siyu"), ExitCode.CONFIG)
        elif known - applied:
            diag.add("migrations", "warn", _("{count} migration(s) not applied yet (schema {schema}, this siyu {latest})")
                     .format(count=len(known - applied), schema=max(applied, default=0), latest=max(known)),
                     _("the next command that writes applies them (e.g. `siyu load`)"))
        else:
            diag.add("migrations", "ok", _("schema {schema} (all {count} migrations applied)").format(
                schema=max(applied), count=len(known)))
        _full_read(diag, con)
    except duckdb.Error as exc:
        known_failure = explain_failure(exc, store)
        if known_failure is None:
            raise
        diag.add("integrity", "fail", _("cannot be read back: {message}").format(message=known_failure.message),
                 _(RESTORE).format(store=store),
                 known_failure.exit_code)
    finally:
        con.close()


def _full_read(diag: Diagnosis, con) -> None:
    """Read every value of every table: DuckDB verifies each block's checksum as it reads it."""
    import duckdb

    tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary "
                         "ORDER BY 1, 2").fetchall()
    rows = 0
    for schema, table in tables:
        name = f'"{schema}"."{table}"'
        cols = con.execute(f"SELECT * FROM {name} LIMIT 0").description
        if not cols:
            continue
        try:
            # hash() of every column forces each column's blocks to be read and checked
            rows += con.execute(f"SELECT count(*), sum(hash(COLUMNS(*))) FROM {name}").fetchone()[0]
        except duckdb.Error as exc:
            failure = explain_failure(exc, diag.store)
            if failure is None:
                raise
            what = _("disk full") if failure.exit_code == ExitCode.TEMPFAIL else _("truncated or corrupt")
            diag.add("integrity", "fail", _("table {table} cannot be read back: {what}").format(table=table, what=what),
                     _(RESTORE).format(store=diag.store), failure.exit_code)
            return
    diag.add("integrity", "ok", _("read every column of {tables} tables ({rows} rows): checksums match").format(
        tables=len(tables), rows=f"{rows:,}"))


def _check_scratch(diag: Diagnosis) -> None:
    from siyu_cli.scratch import leftovers

    base = diag.root / ".siyu" / "tmp"
    left = leftovers(base)
    if left:
        diag.add("scratch", "warn", _("{count} temporary folder(s) left by killed commands in {base} (they may hold "
                                      "copies of personal data)").format(count=len(left), base=base),
                 _("the next `siyu load` removes them"))
    else:
        diag.add("scratch", "ok", _("no temporary copies left behind"))


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
