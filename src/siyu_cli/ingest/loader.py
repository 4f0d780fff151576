"""``load_files``: exports → store, set-based in DuckDB, every row stored or rejected.

This module runs the stages; each lives in its own module. Per file, in one transaction:

1. read everything as text (DuckDB ``read_csv(all_varchar)``; bad lines go to DuckDB's reject tables;
   workbooks via a temp Parquet file) and, in the same statement, clean each mapped column with the SQL
   macros of :mod:`values` into ``siyu_stg`` — :mod:`staging`;
2. scan a CSV file's lines for blank lines and rows with too many fields — :mod:`staging`, :mod:`readers`;
3. list rejects (missing key, bad amount/date/number, id in scientific notation, summary rows)
   with their line numbers, and drop those rows — :mod:`rejects`;
4. fold rows into records by natural key (order id, member identity, group id), compare with
   the store and insert / update — :mod:`merge_orders`, :mod:`merge_members`, :mod:`merge_groups`, all
   through the one classify-then-write step of :mod:`merge`; every input row is counted once:
   ``read = inserted + updated + unchanged + merged + rejected + erased``: each stored record counts
   once as inserted, updated or unchanged; the other rows of the file folded into the same record
   (two member rows sharing a phone, the lines of one order) count as ``merged``; ``erased``: rows
   naming a person ``siyu forget`` erased, skipped so they are not resurrected. Rows merged into one
   member that name different guides or stores are counted in ``conflicts`` (the last row wins);
5. record the batch in ``load_log`` (file sha256, preset, encoding, counts).

A file whose sha256 was loaded before (same kind) is skipped unless ``force``.

``dry_run``: the same steps and SQL, but the whole call runs in one transaction that is rolled back
at the end (so a later file sees the earlier files' rows, as in a real load); each file's rejects are
copied into its report first. Staging of the second and later files then happens inside that
transaction, where DuckDB numbers a temp table's rowids from a large base instead of 0: the staging
SQL subtracts that base (``rowid_base``; 0 in a real load, whose SQL is unchanged).
"""

from __future__ import annotations

import glob
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from siyu_cli import clock
from siyu_cli.errors import DataError, UsageError
from siyu_cli.forget import skip_erased
from siyu_cli.ingest import identity
from siyu_cli.ingest.compaction import set_vacuum_policy
from siyu_cli.ingest.merge_groups import merge_groups
from siyu_cli.ingest.merge_members import merge_members
from siyu_cli.ingest.merge_orders import merge_orders
from siyu_cli.ingest.presets import KINDS, Preset, all_presets, choose_preset, fingerprint_matches, header_score, resolve_columns
from siyu_cli.ingest.readers import digest_file, long_line_error, open_source, sniff_format
from siyu_cli.ingest.rejects import collect
from siyu_cli.ingest.staging import read_header, scan_lines, stage
from siyu_cli.ingest.values import install_macros
from siyu_cli.i18n import _

DEFAULT_MAX_REJECTS = 0
DRY_RUN_REJECTS = 1000  # rejects copied into a dry run's FileReport per file (plus their total count)
REJECT_FIELDS = ("file", "line", "column", "reason", "message", "raw")
#: every temp table or view a load makes (dropped before and after each file)
STALE = ("siyu_raw", "siyu_raw_errors", "siyu_raw_scans", "siyu_stgt", "siyu_stg", "siyu_err", "siyu_good", "siyu_src", "siyu_keys", "siyu_res", "siyu_fin",
         "siyu_cls", "siyu_smap", "siyu_erased_rows", "siyu_kept", "siyu_id0", "siyu_link", "siyu_shared",
         "siyu_reader_errors", "siyu_reader_scans", "siyu_rag", "siyu_rag_lines", "siyu_rag_rl", "siyu_blank",
         "siyu_rl", "siyu_rowline", "siyu_unitline", "siyu_id_hit")


@dataclass
class FileReport:
    path: str
    kind: str
    preset: str | None = None
    source: str | None = None
    format: str | None = None
    encoding: str | None = None
    batch_id: str | None = None
    sha256: str | None = None
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    merged: int = 0  # rows folded into another row's record within this file (same person / order)
    erased: int = 0  # rows naming an erased person (siyu forget), skipped
    members_merged: int = 0  # existing members folded into another because a row linked their ids (identity.py)
    identity_conflicts: int = 0  # links between members not followed (shared id, kept apart): identity_conflicts
    reasons: dict[str, int] = field(default_factory=dict)  # rejected rows per reason code
    conflicts: dict[str, int] = field(default_factory=dict)  # merged records whose rows disagree, per field
    status: str = "loaded"  # loaded | skipped | failed
    message: str | None = None
    warnings: list[str] = field(default_factory=list)
    # dry runs only: the first DRY_RUN_REJECTS rows this file put in ``rejects`` (dicts of
    # REJECT_FIELDS, in line order) and how many there were in all
    rejects: list[dict[str, Any]] | None = None
    rejects_total: int | None = None

    @property
    def bad(self) -> int:
        """Rejected rows that are bad data: all but the recognised summary/total rows (SUMMARY_ROW)."""
        return self.rejected - self.reasons.get("SUMMARY_ROW", 0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.rejects is None:
            del d["rejects"], d["rejects_total"]
        return d


def _summed(name: str) -> property:
    """A LoadReport total: one count of every file's report, added up."""
    return property(lambda self: sum(getattr(f, name) for f in self.files))


@dataclass
class LoadReport:
    kind: str
    files: list[FileReport] = field(default_factory=list)
    max_rejects: int = DEFAULT_MAX_REJECTS
    dry_run: bool = False

    # totals over the files (the same names as FileReport's counts)
    read = _summed("read")
    inserted = _summed("inserted")
    updated = _summed("updated")
    unchanged = _summed("unchanged")
    rejected = _summed("rejected")
    erased = _summed("erased")
    merged = _summed("merged")
    bad = _summed("bad")
    members_merged = _summed("members_merged")
    identity_conflicts = _summed("identity_conflicts")

    @property
    def conflicts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            for k, v in f.conflicts.items():
                out[k] = out.get(k, 0) + v
        return out

    @property
    def exceeded(self) -> bool:
        """More bad rows than allowed (recognised summary rows are skipped, not counted against the limit)."""
        return self.bad > self.max_rejects

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dry_run": self.dry_run,
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "merged": self.merged,
            "rejected": self.rejected,
            "erased": self.erased,
            "conflicts": self.conflicts,
            "members_merged": self.members_merged,
            "identity_conflicts": self.identity_conflicts,
            "max_rejects": self.max_rejects,
            "exceeded": self.exceeded,
            "files": [f.to_dict() for f in self.files],
        }


def expand_paths(patterns: list[str]) -> list[Path]:
    """Files named or matched by glob patterns, in order, without duplicates (an existing name is literal)."""
    out: list[Path] = []
    seen = set()
    for pat in patterns:
        pat = str(pat)
        # an existing file is always itself: `m[1].csv` never means m1.csv
        literal = not glob.has_magic(pat) or Path(pat).exists()
        matches = [pat] if literal else sorted(glob.glob(pat, recursive=True))
        if not matches:
            raise UsageError(_('{pat}: no file matches').format(pat=pat))
        for m in matches:
            p = Path(m)
            if p.is_dir():
                continue
            key = p.resolve()
            if key not in seen:
                seen.add(key)
                out.append(p)
    if not out:
        raise UsageError(_('no files to load'))
    return out


def configured_max_rejects(settings) -> int:
    value = settings.section("load").get("max_rejects", DEFAULT_MAX_REJECTS)
    if not isinstance(value, int) or value < 0:
        from siyu_cli.errors import ConfigError

        raise ConfigError(_('{config_file}: load.max_rejects must be a whole number ≥ 0').format(config_file=settings.config_file))
    return value


DEFAULT_MEMORY_LIMIT = "1600MB"  # + Python and non-pool allocations: a 10M-row load peaks at ≈ 1.84 GB


def configured_memory_limit(settings) -> str:
    """``[load] memory_limit``: DuckDB spills to disk beyond it, so a 10M-row file stays bounded."""
    return settings.memory_limit("load", DEFAULT_MEMORY_LIMIT)


def load_files(
    settings,
    kind: str,
    paths: list[Path],
    *,
    preset: str = "auto",
    encoding: str | None = None,
    source: str | None = None,
    max_rejects: int | None = None,
    force: bool = False,
    progress: bool = False,
    dry_run: bool = False,
) -> LoadReport:
    """Load export files of one kind into the store; see the module docstring.

    ``dry_run``: do everything, report the real counts and rejects, then roll back: nothing is
    written (the store is still opened read-write: the merge needs its lock).
    """
    from siyu_cli.store import open_store

    if kind not in KINDS:
        raise UsageError(_('cannot load {kind!r}: choose members, orders or groups').format(kind=kind))
    limit = configured_max_rejects(settings) if max_rejects is None else max_rejects
    report = LoadReport(kind=kind, max_rejects=limit, dry_run=dry_run)
    paths = [Path(p) for p in paths]
    bar = _Progress(progress, len(paths))
    memory_limit = configured_memory_limit(settings)
    from siyu_cli.scratch import scratch_dir

    # temporaries (transcoded copies, spill files) hold unmasked personal data: the workspace's 0700 scratch
    with scratch_dir(settings.root, "load") as tmp, open_store(settings) as con:
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(f"SET temp_directory = '{Path(tmp, 'spill').as_posix()}'")
        install_macros(con)
        set_vacuum_policy(con, len(paths))
        dry = _DryRun(con) if dry_run else None
        try:
            for path in paths:
                bar.start(path)
                fr = _load_one(con, settings, kind, path, Path(tmp), preset=preset, encoding=encoding,
                               source=source, force=force, step=bar.step, dry=dry)
                report.files.append(fr)
                bar.done()
        finally:
            if dry is not None:
                dry.rollback()
    bar.close()
    return report


class _DryRun:
    """The one transaction of a dry run: opened at the first file's first write, rolled back at the end."""

    def __init__(self, con):
        self.con = con
        self.open = False

    def begin(self) -> None:
        if not self.open:
            self.con.execute("BEGIN TRANSACTION")
            self.open = True

    def capture(self, fr: FileReport) -> None:
        """Copy this file's rejects (first DRY_RUN_REJECTS, in line order) before they are rolled back."""
        fr.rejects_total = self.con.execute("SELECT count(*) FROM rejects WHERE batch_id = ?",
                                            [fr.batch_id]).fetchone()[0]
        rows = self.con.execute(
            'SELECT file, line, "column", reason, message, raw FROM rejects WHERE batch_id = ? '
            'ORDER BY line, "column" NULLS FIRST, reason LIMIT ?', [fr.batch_id, DRY_RUN_REJECTS]).fetchall()
        fr.rejects = [dict(zip(REJECT_FIELDS, r)) for r in rows]

    def rollback(self) -> None:
        if self.open:
            self.open = False
            try:
                self.con.execute("ROLLBACK")
            except Exception:  # already rolled back by a failing file
                pass


class _Progress:
    """A Rich progress bar on stderr, or nothing (cron, pipes, --quiet)."""

    STEPS = 4

    def __init__(self, enabled: bool, files: int):
        self.p = None
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            from siyu_cli.output import stderr_console

            self.p = Progress(TextColumn("{task.description}", markup=False),  # a file name is not markup
                              BarColumn(), TimeElapsedColumn(), console=stderr_console(), transient=True)
            self.p.start()
            self.task = self.p.add_task(_("loading"), total=files * self.STEPS)

    def start(self, path: Path) -> None:
        if self.p:
            self.p.update(self.task, description=_("loading {name}").format(name=path.name))
            self._left = self.STEPS

    def step(self, what: str) -> None:
        if self.p and self._left > 1:
            self._left -= 1
            self.p.update(self.task, advance=1, description=what)

    def done(self) -> None:
        if self.p:
            self.p.update(self.task, advance=self._left)

    def close(self) -> None:
        if self.p:
            self.p.stop()


# ---------------------------------------------------------------- one file


def _load_one(con, settings, kind, path, tmp, *, preset, encoding, source, force, step, dry=None) -> FileReport:
    fr = FileReport(path=str(path), kind=kind)
    if not path.is_file():
        raise UsageError(_('{path}: no such file').format(path=path))
    fr.sha256, long_line = digest_file(path)
    if long_line is not None and sniff_format(path) == "csv":
        raise long_line_error(path, long_line)
    src = open_source(path, tmp, encoding=encoding, score=header_score(kind, settings))
    fr.format, fr.encoding = src.format, src.encoding
    _drop_temps(con)
    header = read_header(con, src)
    p, mapping = _mapping(settings, kind, preset, header)
    _check_key_columns(kind, p, mapping, path, header)
    fr.preset, fr.source = p.id, source or p.source
    started = clock.now()
    fr.batch_id = f"{started:%Y%m%d%H%M%S}-{fr.sha256[:8]}-{uuid.uuid4().hex[:4]}"
    if not force and _skip_seen(con, fr, started, dry):
        return fr
    try:
        # staging happens outside the transaction: temp tables created in autocommit keep
        # rowids 0..n-1 in file order, which gives rejects their line numbers
        step(_("reading {name}").format(name=path.name))
        fields, fills, base = stage(con, src, path, kind, p, mapping, header,
                                    None if dry is not None and dry.open else 0)
        step(_("checking {name}").format(name=path.name))
        scan = scan_lines(con, src, path, base)
        if dry is None:
            con.execute("BEGIN TRANSACTION")
        else:
            dry.begin()  # one transaction for the whole dry run
        collect(con, fr, src, kind, mapping, fields, fills, scan)
        fr.reasons = dict(con.execute(
            "SELECT reason, count(DISTINCT line)::BIGINT FROM rejects WHERE batch_id = ? GROUP BY reason ORDER BY reason",
            [fr.batch_id]).fetchall())
        fr.erased = skip_erased(con, fr.batch_id)
        step(_("merging {name}").format(name=path.name))
        identity.start_batch(con, settings, fr.batch_id)
        _merge(con, fr, kind, p, mapping)
        identity.end_batch(con, fr)
        _log(con, fr, started)
        if dry is None:
            con.execute("COMMIT")
        else:
            dry.capture(fr)
    except Exception:
        _abort(con, dry)
        raise
    finally:
        _drop_temps(con)
    return fr


def _mapping(settings, kind: str, preset: str, header: list[str]) -> tuple[Preset, dict[str, str]]:
    """The preset chosen for a header and its field → column mapping (fallback columns filled in)."""
    p = choose_preset(kind, header, preset, settings)
    mapping = resolve_columns(p, header)
    for fld, fallback in p.fallbacks.items():
        if fld not in mapping and fallback in mapping:
            mapping[fld] = mapping[fallback]
    return p, mapping


def _skip_seen(con, fr: FileReport, started, dry) -> bool:
    """Log and skip a file whose sha256 was loaded before as the same kind; True when skipped."""
    seen = con.execute(
        "SELECT batch_id FROM load_log WHERE file_sha256 = ? AND kind = ? AND status = 'loaded' LIMIT 1",
        [fr.sha256, fr.kind],
    ).fetchone()
    if not seen:
        return False
    fr.status = "skipped"
    fr.message = f"already loaded as batch {seen[0]} (same sha256); use --force to load again"
    if dry is not None:
        dry.begin()
        fr.rejects, fr.rejects_total = [], 0
    _log(con, fr, started)
    return True


def _merge(con, fr: FileReport, kind: str, p: Preset, mapping: dict[str, str]) -> None:
    """The merge stage of the file's kind, then orders/contacts/group members linked to new identities."""
    if kind == "orders":
        merge_orders(con, fr, p, mapping)
    elif kind == "members":
        merge_members(con, fr)
    else:
        merge_groups(con, fr, mapping)
    identity.relink(con)


def _abort(con, dry) -> None:
    """Roll back the file's transaction (a dry run: the whole run's), if one is open."""
    if dry is not None:
        dry.rollback()
        return
    try:
        con.execute("ROLLBACK")
    except Exception:  # no transaction open yet
        pass


def _drop_temps(con) -> None:
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE temporary").fetchall()}
    for t in STALE:
        con.execute(f"DROP {'VIEW' if t in views else 'TABLE'} IF EXISTS temp.{t}")


def _check_key_columns(kind, p: Preset, mapping, path, header) -> None:
    if kind == "orders" and "order_id" not in mapping:
        raise UsageError(_('{path}: preset {id} needs an order id column; none of {get} is in the header').format(path=path, id=p.id, get=p.columns.get('order_id')))
    if kind == "groups" and "group_id" not in mapping:
        raise UsageError(_('{path}: preset {id} needs a group id column; none of {get} is in the header').format(path=path, id=p.id, get=p.columns.get('group_id')))
    if kind == "members" and not any(
        f in mapping for f in ("member_id", "external_userid", "unionid", "phone", "email", "name", "nickname")
    ):
        raise UsageError(_('{path}: preset {id} finds no member id, phone, email or name column in the header').format(path=path, id=p.id))


def _log(con, fr: FileReport, started) -> None:
    con.execute(
        """INSERT INTO load_log (batch_id, kind, file, file_sha256, preset, source, encoding, rows_read, inserted,
                                 updated, unchanged, rejected, erased, merged, members_merged, identity_conflicts,
                                 status, started_at, finished_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [fr.batch_id, fr.kind, fr.path, fr.sha256, fr.preset, fr.source, fr.encoding, fr.read, fr.inserted,
         fr.updated, fr.unchanged, fr.rejected, fr.erased, fr.merged, fr.members_merged, fr.identity_conflicts,
         fr.status, started, clock.now()],
    )


# ---------------------------------------------------------------- mapping preview


def show_mapping(settings, kind: str, paths: list[Path], *, preset: str = "auto", encoding: str | None = None) -> list[dict]:
    """What ``load`` would use for each file (preset, encoding, header row, field ← column), without loading."""
    import duckdb

    out = []
    if not paths:
        for p in all_presets(settings).values():
            if p.kind == kind and (preset in ("auto", p.id)):
                out.append({"file": None, "preset": p.id, "title": p.title,
                            "columns": {f: " | ".join(a) for f, a in p.columns.items()}, "statuses": p.statuses})
        if not out:
            raise UsageError(_('unknown preset {preset!r} for {kind}').format(preset=preset, kind=kind))
        return out
    from siyu_cli.scratch import scratch_dir

    with scratch_dir(settings.root, "map") as tmp:
        con = duckdb.connect()
        try:
            for path in paths:
                src = open_source(path, Path(tmp), encoding=encoding, score=header_score(kind, settings))
                header = read_header(con, src)
                p, mapping = _mapping(settings, kind, preset, header)
                unused = [h for h in header if h not in mapping.values()]
                out.append({
                    "file": str(path), "preset": p.id, "title": p.title, "format": src.format,
                    "encoding": src.encoding, "header_line": src.header_row + 1,
                    "columns": mapping, "unused": unused, "statuses": p.statuses,
                })
        finally:
            con.close()
    return out


#: the order kinds are tried in when classifying a file by its header: a group list names a group id, an
#: orders export an order id; a members export usually has neither (but orders often carry a phone)
CLASSIFY_ORDER = ("groups", "orders", "members")


def classify_file(settings, path: Path) -> str | None:
    """What a file holds (members, orders or groups) by its header: the first kind with a preset whose
    fingerprint matches (``--preset auto``'s rule); None when none does or the file cannot be read."""
    import duckdb

    from siyu_cli.errors import SiyuError
    from siyu_cli.scratch import scratch_dir

    with scratch_dir(settings.root, "classify") as tmp:
        con = duckdb.connect()
        try:
            for kind in CLASSIFY_ORDER:
                try:
                    src = open_source(Path(path), Path(tmp), encoding=None, score=header_score(kind, settings))
                    header = read_header(con, src)
                except (SiyuError, duckdb.Error, OSError, ValueError):
                    return None
                if any(p.kind == kind and fingerprint_matches(p, header) for p in all_presets(settings).values()):
                    return kind
        finally:
            con.close()
    return None


def check_exceeded(report: LoadReport) -> None:
    """Raise DataError (exit 65) when the load rejected more rows than allowed."""
    if report.exceeded and report.dry_run:
        raise DataError(
            _('{bad} row(s) would be rejected, more than --max-rejects {max_rejects} (dry run: nothing was written)').format(bad=report.bad, max_rejects=report.max_rejects)
        )
    if report.exceeded:
        raise DataError(
            _('{bad} row(s) rejected, more than --max-rejects {max_rejects}; the other rows were loaded — see `siyu rejects`').format(bad=report.bad, max_rejects=report.max_rejects)
        )
