"""``load_files``: exports → store, set-based in DuckDB, every row stored or rejected.

Per file, in one transaction:

1. read everything as text into a temp table (DuckDB ``read_csv(all_varchar)``; bad lines go
   to DuckDB's reject tables; workbooks via a temp Parquet file);
2. clean each mapped column with the SQL macros of :mod:`values` into ``siyu_stg``;
3. list rejects (missing key, bad amount/date/number, id in scientific notation, summary rows)
   with their line numbers, and drop those rows;
4. fold rows into records by natural key (order id, member identity, group id), compare with
   the store and insert / update; every input row is counted once:
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
import re
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from siyu_cli import clock
from siyu_cli.errors import DataError, UsageError
from siyu_cli.ingest import identity
from siyu_cli.ingest.presets import (
    FIELD_TYPES,
    FIELDS,
    KINDS,
    STATUS_ALIASES,
    Preset,
    all_presets,
    choose_preset,
    fingerprint_matches,
    header_score,
    resolve_columns,
    status_key,
)
from siyu_cli.ingest.merge import merge
from siyu_cli.ingest.readers import (LineScan, Source, digest_file, line_too_long, long_line_error, open_source,
                                     physical_lines, scan_ragged, sniff_format)
from siyu_cli.ingest.values import CLEANERS, install_macros
from siyu_cli.forget import skip_erased
from siyu_cli.i18n import _

DEFAULT_MAX_REJECTS = 0
DRY_RUN_REJECTS = 1000  # rejects copied into a dry run's FileReport per file (plus their total count)
REJECT_FIELDS = ("file", "line", "column", "reason", "message", "raw")
NULL_TOKENS = ("", "-", "--", "—", "null", "NULL", "None", "N/A", "n/a", "/", "无")
WS_SQL = "' \t\r\n\u3000\u00a0'"
WS_CODES = "(9, 10, 13, 32, 12288, 160)"  # the same characters: trim only values that start/end with one
SUMMARY_WORDS = ("合计", "总计", "小计", "汇总", "total", "totals", "grand total", "合计:", "总计:")
SUMMARY_KEYS = {"orders": "order_id", "groups": "group_id", "members": "member_id"}
#: identity fields whose value in scientific notation (Excel's 1.38001E+10) is rejected as EXCEL_MANGLED
MANGLE_FIELDS = ("order_id", "group_id", "member_id", "member_ref", "external_userid", "unionid", "phone")
STALE = ("siyu_raw", "siyu_stg", "siyu_err", "siyu_good", "siyu_src", "siyu_keys", "siyu_res", "siyu_fin",
         "siyu_cls", "siyu_smap", "siyu_erased_rows", "siyu_kept", "siyu_id0", "siyu_link", "siyu_shared", "siyu_reader_errors", "siyu_reader_scans", "siyu_rag", "siyu_rag_lines",
         "siyu_rag_rl", "siyu_blank", "siyu_rl", "siyu_rowline", "siyu_unitline")


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


@dataclass
class LoadReport:
    kind: str
    files: list[FileReport] = field(default_factory=list)
    max_rejects: int = DEFAULT_MAX_REJECTS
    dry_run: bool = False

    def _sum(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    @property
    def read(self) -> int:
        return self._sum("read")

    @property
    def inserted(self) -> int:
        return self._sum("inserted")

    @property
    def updated(self) -> int:
        return self._sum("updated")

    @property
    def unchanged(self) -> int:
        return self._sum("unchanged")

    @property
    def rejected(self) -> int:
        return self._sum("rejected")

    @property
    def erased(self) -> int:
        return self._sum("erased")

    @property
    def merged(self) -> int:
        return self._sum("merged")

    @property
    def bad(self) -> int:
        return self._sum("bad")

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


DEFAULT_MEMORY_LIMIT = "2GB"


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

    def rowid_base(self) -> int:
        """First rowid of the file's freshly created ``siyu_raw``: 0 in autocommit; inside the dry run's
        transaction DuckDB numbers new temp tables from a large base, read here from the table itself."""
        if not self.open:
            return 0
        return int(self.con.execute("SELECT coalesce(min(rowid), 0) FROM siyu_raw").fetchone()[0])

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

            self.p = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                              console=stderr_console(), transient=True)
            self.p.start()
            self.task = self.p.add_task("loading", total=files * self.STEPS)

    def start(self, path: Path) -> None:
        if self.p:
            self.p.update(self.task, description=f"loading {path.name}")
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
    import duckdb

    fr = FileReport(path=str(path), kind=kind)
    if not path.is_file():
        raise UsageError(_('{path}: no such file').format(path=path))
    fr.sha256, long_line = digest_file(path)
    if long_line is not None and sniff_format(path) == "csv":
        raise long_line_error(path, long_line)
    src = open_source(path, tmp, encoding=encoding, score=header_score(kind, settings))
    fr.format, fr.encoding = src.format, src.encoding
    _drop_temps(con)
    header = _read_header(con, src)
    p = choose_preset(kind, header, preset, settings)
    mapping = resolve_columns(p, header)
    for fld, fallback in p.fallbacks.items():
        if fld not in mapping and fallback in mapping:
            mapping[fld] = mapping[fallback]
    _check_key_columns(kind, p, mapping, path, header)
    fr.preset, fr.source = p.id, source or p.source
    started = clock.now()
    seen = con.execute(
        "SELECT batch_id FROM load_log WHERE file_sha256 = ? AND kind = ? AND status = 'loaded' LIMIT 1",
        [fr.sha256, kind],
    ).fetchone()
    fr.batch_id = f"{started:%Y%m%d%H%M%S}-{fr.sha256[:8]}-{uuid.uuid4().hex[:4]}"
    if seen and not force:
        fr.status = "skipped"
        fr.message = f"already loaded as batch {seen[0]} (same sha256); use --force to load again"
        if dry is not None:
            dry.begin()
            fr.rejects, fr.rejects_total = [], 0
        _log(con, fr, started)
        return fr
    try:
        # staging happens outside the transaction: temp tables created in autocommit keep
        # rowids 0..n-1 in file order, which gives rejects their line numbers
        step(f"reading {path.name}")
        for t in ("siyu_reader_errors", "siyu_reader_scans"):  # only this scan's reader rejects
            con.execute(f"DROP TABLE IF EXISTS temp.{t}")
        try:
            con.execute(f"CREATE TEMP TABLE siyu_raw AS SELECT * FROM {src.relation_sql()}")
        except duckdb.Error as exc:
            raise line_too_long(path, src.read_path, exc) or DataError(_('{path}: cannot read the file: {first_line}').format(path=path, first_line=_first_line(exc)),
                            reason=f"{path.name}: cannot read the file ({_reason(exc)})") from None
        base = dry.rowid_base() if dry is not None else 0
        scan = LineScan(0, True)
        if src.format == "csv":  # in autocommit too: its line table relies on rowids in file order
            try:
                scan = scan_ragged(con, src, _reader_lines(con, src), rowid_base=base)
            except duckdb.Error as exc:
                raise DataError(_("{path}: cannot read the file's lines: {first_line}").format(path=path, first_line=_first_line(exc)),
                                reason=f"{path.name}: cannot read the file's lines ({_reason(exc)})") from None
        step(f"cleaning {path.name}")
        cols, fills = _stage(con, kind, p, mapping, header, rowid_base=base)
        if dry is None:
            con.execute("BEGIN TRANSACTION")
        else:
            dry.begin()  # one transaction for the whole dry run
        _rejects(con, fr, src, kind, p, mapping, cols, header, fills, scan, rowid_base=base)
        fr.reasons = dict(con.execute(
            "SELECT reason, count(DISTINCT line)::BIGINT FROM rejects WHERE batch_id = ? GROUP BY reason ORDER BY reason",
            [fr.batch_id]).fetchall())
        fr.erased = skip_erased(con, fr.batch_id)
        step(f"merging {path.name}")
        if kind == "orders":
            _merge_orders(con, fr, p, mapping)
        elif kind == "members":
            _merge_members(con, fr, p, mapping)
        else:
            _merge_groups(con, fr, p, mapping)
        identity.relink(con)
        _log(con, fr, started)
        if dry is None:
            con.execute("COMMIT")
        else:
            dry.capture(fr)
    except Exception:
        if dry is not None:
            dry.rollback()
        else:
            try:
                con.execute("ROLLBACK")
            except Exception:  # no transaction open yet
                pass
        raise
    finally:
        _drop_temps(con)
    return fr


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


_LINE = re.compile(r"\bline:?\s*(\d+)", re.I)


def _reason(exc: Exception) -> str:
    """A DuckDB error in words without quoting the file: its kind and, when it names one, the line."""
    kind = re.sub(r"(Exception|Error)$", "", type(exc).__name__) or "read"
    kind = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", kind)  # InvalidInput → Invalid Input
    line = _LINE.search(str(exc))
    return f"{kind.lower()} error" + (f" on line {line.group(1)}" if line else "")


def _read_header(con, src: Source) -> list[str]:
    import duckdb

    try:
        return [d[0] for d in con.execute(f"SELECT * FROM {src.relation_sql()} LIMIT 0").description]
    except duckdb.Error as exc:
        raise line_too_long(Path(src.path), src.read_path, exc) or DataError(
                        _('{path}: cannot read the file as {upper}: {first_line} (check quoting and the delimiter; see docs/load.md)').format(path=src.path, upper=src.format.upper(), first_line=_first_line(exc)),
                        reason=f"{Path(src.path).name}: cannot read the file as {src.format.upper()} ({_reason(exc)}; "
                               "check quoting and the delimiter)") from None


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


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _stage(con, kind: str, p: Preset, mapping: dict[str, str], header: list[str], *, rowid_base: int = 0) -> list[str]:
    """Create ``siyu_stg`` (cleaned fields + raw copies of checked fields); return the field list."""
    exprs = ["__row"]
    fills: list[str] = []  # fields this file lacks: added as NULLs by the siyu_good view, not materialised
    fields = []
    for fld in FIELDS[kind]:
        if fld in ("tags", "first_name", "last_name"):
            continue
        col = mapping.get(fld)
        ftype = FIELD_TYPES.get(fld, "text")
        fn = CLEANERS[ftype][0]
        if col is None:
            sqltype = {"timestamp": "TIMESTAMPTZ", "date": "DATE", "amount": "DECIMAL(18,2)", "integer": "BIGINT",
                       "number": "DECIMAL(18,3)"}.get(ftype, "VARCHAR")
            fills.append(f"NULL::{sqltype} AS {fld}")
        elif ftype == "text":  # already trimmed and its empty tokens NULLed below: siyu_txt would change nothing
            exprs.append(f"{_q(col)} AS {fld}")
        else:
            exprs.append(f"{fn}({_q(col)}) AS {fld}")
        fields.append(fld)
        if col is not None and CLEANERS[ftype][1]:
            exprs.append(f"{_q(col)} AS __r_{fld}")
        if fld == "phone":
            (exprs if col else fills).append(f"siyu_masked({_q(col)}) AS phone_masked" if col else "NULL::VARCHAR AS phone_masked")
        if fld == "status":
            (exprs if col else fills).append(f"{_q(col)} AS status_raw" if col else "NULL::VARCHAR AS status_raw")
    if kind == "members" and "name" not in mapping and ("first_name" in mapping or "last_name" in mapping):
        parts = ", ".join(f"{_q(mapping[f])}" for f in ("first_name", "last_name") if f in mapping)
        fills = [f for f in fills if not f.endswith(" AS name")]
        exprs = [e for e in exprs if not e.endswith(" AS name")] + [f"nullif(concat_ws(' ', {parts}), '') AS name"]
    for fld in MANGLE_FIELDS:  # the raw value when Excel wrote it in scientific notation (digits lost)
        if fld in mapping:
            exprs.append(f"CASE WHEN siyu_id_bad({_q(mapping[fld])}) THEN {_q(mapping[fld])} END AS __xm_{fld}")
    exprs.append(f"{_tags_expr(p, mapping, header)} AS tags")
    exprs.append(f"{_summary_expr(kind, mapping, header)} AS __summary")
    first = header[0] if header else None
    # every used column is trimmed once and its "empty" tokens made NULL, then the typed macros run
    used = list(dict.fromkeys([*mapping.values(), *([first] if first else []), *_tag_columns(p, mapping, header)]))
    trims = ", ".join(
        f"CASE WHEN ascii({_q(c)}) IN {WS_CODES} OR ascii(right({_q(c)}, 1)) IN {WS_CODES} "
        f"THEN trim({_q(c)}, {WS_SQL}) ELSE {_q(c)} END AS {_q(c)}"
        for c in used
    )
    nulls = ", ".join(f"CASE WHEN {_q(c)} IN {NULL_TOKENS!r} THEN NULL ELSE {_q(c)} END AS {_q(c)}" for c in used)
    # the many short IN lists here are cheaper as plain comparisons than as the hash joins DuckDB
    # rewrites them into (about 10 % of this statement)
    con.execute("SET disabled_optimizers = 'in_clause'")
    try:
        con.execute(f"""
            CREATE TEMP TABLE siyu_stg AS
            WITH a AS (SELECT {f"rowid - {rowid_base}" if rowid_base else "rowid"} AS __row{', ' + trims if trims else ''} FROM siyu_raw),
                 b AS (SELECT __row{', ' + nulls if nulls else ''} FROM a)
            SELECT {', '.join(exprs)} FROM b
        """)
    finally:
        con.execute("RESET disabled_optimizers")
    return fields, fills


def _summary_expr(kind: str, mapping: dict[str, str], header: list[str]) -> str:
    """SQL over the trimmed raw columns: is this row a report's total/footer row rather than data?

    Either its first column (or its key column) reads 合计/总计/小计/汇总/Total (a trailing colon
    allowed), or it holds only amounts/numbers (no id, name, time or status): the blank-id footer many
    back offices append (``,,,,1493.5,``).
    """
    words = "|".join(re.escape(w) for w in SUMMARY_WORDS if not w.endswith(":"))
    labelled = [c for c in dict.fromkeys([header[0] if header else None, mapping.get(SUMMARY_KEYS.get(kind, ""))]) if c]
    tests = [f"coalesce(regexp_full_match(lower({_q(c)}), '({words})\\s*[:：]?'), false)" for c in labelled]
    numeric = {f for f, t in FIELD_TYPES.items() if t in ("amount", "integer", "number")}
    nums = [c for f, c in mapping.items() if f in numeric]
    others = [c for f, c in mapping.items() if f not in numeric and c not in nums]
    if nums and others:
        blank = " AND ".join(f"{_q(c)} IS NULL" for c in dict.fromkeys(others))
        tests.append(f"({blank} AND ({' OR '.join(f'{_q(c)} IS NOT NULL' for c in dict.fromkeys(nums))}))")
    return "(" + " OR ".join(tests) + ")" if tests else "false"


def _tag_columns(p: Preset, mapping, header) -> list[str]:
    used = set(mapping.values())
    return [h for h in header if h not in used and any(h.startswith(prefix) for prefix in p.tag_prefixes)]


def _tags_expr(p: Preset, mapping, header) -> str:
    parts = []
    if "tags" in mapping:
        parts.append(f"list_transform(coalesce(siyu_split({_q(mapping['tags'])}), []), lambda t: {{'g': '', 't': t}})")
    used = set(mapping.values())
    for h in header:
        if h in used:
            continue
        for prefix in p.tag_prefixes:
            if h.startswith(prefix):
                group = h[len(prefix):].strip("()（）:：- ") or h
                parts.append(
                    f"list_transform(coalesce(siyu_split({_q(h)}), []), lambda t: {{'g': {_lit(group)}, 't': t}})"
                )
    if not parts:
        return "NULL::STRUCT(g VARCHAR, t VARCHAR)[]"
    return parts[0] if len(parts) == 1 else f"list_concat({', '.join(parts)})"


def _reader_lines(con, src: Source) -> list[int]:
    """Line numbers DuckDB's CSV reader rejected in the last scan."""
    has_reader = src.format == "csv" and con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'siyu_reader_errors'"
    ).fetchone()[0]
    if not has_reader:
        return []
    return [r[0] for r in con.execute("SELECT DISTINCT line FROM siyu_reader_errors ORDER BY line").fetchall()]


def _rejects(con, fr: FileReport, src: Source, kind, p: Preset, mapping, fields, header, fills,
             scan: LineScan = LineScan(0, True), *, rowid_base: int = 0) -> None:
    """Collect reader and value rejects into siyu_err / the rejects table; make siyu_good.

    Every reject gets its physical line (header = its own line). While each record is one line
    (``scan.aligned``, the usual case) that is arithmetic in SQL: a row's position plus the blank and
    reader-rejected lines before it, and DuckDB's own reject lines are right as they are. Only when a
    quoted value spans lines *and* there are rejects does one streaming pass over the file
    (:func:`readers.physical_lines`) find the lines.
    """
    ragged = scan.ragged
    at_row = f"e.__row + {rowid_base}" if rowid_base else "e.__row"  # siyu_raw's rowid of a staged row
    checks = ["SELECT __row, NULL AS col, 'SUMMARY_ROW' AS reason, 'a total/summary row, not data' AS msg, "
              "NULL AS val FROM siyu_stg WHERE __summary"]
    for fld in fields:
        col = mapping.get(fld)
        reason = CLEANERS[FIELD_TYPES.get(fld, "text")][1]
        if col is None or not reason:
            continue
        what = {"BAD_DATE": "a date/time", "BAD_AMOUNT": "an amount", "BAD_NUMBER": "a number"}[reason]
        checks.append(
            f"SELECT __row, {_lit(col)}, '{reason}', 'cannot read ' || __r_{fld} || ' as {what}', __r_{fld} "
            f"FROM siyu_stg WHERE NOT __summary AND __r_{fld} IS NOT NULL AND {fld} IS NULL"
        )
    key = {"orders": "order_id", "groups": "group_id"}.get(kind)
    if key:
        col = mapping[key]
        checks.append(
            f"SELECT __row, {_lit(col)}, 'MISSING_KEY', 'no {key}', NULL FROM siyu_stg "
            f"WHERE NOT __summary AND {key} IS NULL"
        )
    for fld in MANGLE_FIELDS:
        if fld in mapping:
            checks.append(
                f"SELECT __row, {_lit(mapping[fld])}, 'EXCEL_MANGLED', '{fld} ' || __xm_{fld} || ' is in scientific "
                f"notation (Excel lost its digits; re-export the column as text)', __xm_{fld} FROM siyu_stg "
                f"WHERE NOT __summary AND __xm_{fld} IS NOT NULL"
            )
    if kind == "groups" and "member_ref" in mapping:
        checks.append(
            f"SELECT __row, {_lit(mapping['member_ref'])}, 'MISSING_KEY', 'no member id', NULL FROM siyu_stg "
            "WHERE NOT __summary AND member_ref IS NULL AND group_id IS NOT NULL"
        )
    con.execute(f"CREATE TEMP TABLE siyu_err AS {' UNION ALL '.join(checks)}")
    extra = "".join(", " + f for f in fills)
    reader_lines = _reader_lines(con, src)
    n_raw = con.execute("SELECT count(*) FROM siyu_raw").fetchone()[0]
    fr.read = n_raw + len(reader_lines)
    # rows DuckDB read although they have too many fields (empty extras dropped; see scan_ragged): a
    # shifted row, so its value rejects would be misleading; one TOO_MANY_COLUMNS reject with the raw line
    if ragged:
        con.execute("DELETE FROM siyu_err WHERE __row IN (SELECT __row FROM siyu_rag)")
    bad_rows = con.execute("SELECT count(DISTINCT __row) FROM siyu_err").fetchone()[0]
    fr.rejected = bad_rows + len(reader_lines) + ragged
    now = clock.now()
    file = str(fr.path)
    if ragged:
        con.execute(
            """INSERT INTO rejects (batch_id, file, line, "column", reason, message, raw, created_at)
               SELECT ?, ?, line, NULL, 'TOO_MANY_COLUMNS',
                      'Expected Number of Columns: ' || ? || ' Found: ' || fields, raw, ?
               FROM siyu_rag""",
            [fr.batch_id, file, len(src.columns), now],
        )
    if reader_lines:
        # DuckDB's csv_line starts with the blank lines before the rejected line: not part of it
        umap = scan.reader_map
        if umap:
            con.execute("CREATE OR REPLACE TEMP TABLE siyu_unitline AS SELECT unnest(?::BIGINT[]) AS k, "
                        "unnest(?::BIGINT[]) AS line", [list(umap), list(umap.values())])
        line = "coalesce(u.line, e.line)" if umap else "e.line"
        join = "LEFT JOIN siyu_unitline u ON u.k = e.line" if umap else ""
        con.execute(
            f"""INSERT INTO rejects (batch_id, file, line, "column", reason, message, raw, created_at)
               SELECT ?, ?, {line}, e.column_name, replace(CAST(e.error_type AS VARCHAR), ' ', '_'), e.error_message,
                      ltrim(e.csv_line, chr(13) || chr(10)), ?
               FROM siyu_reader_errors e {join}""",
            [fr.batch_id, file, now],
        )
    found = None  # ({row: line}, {reader line: line}) when records span lines
    if bad_rows and not scan.aligned:
        rows = [r[0] for r in con.execute("SELECT DISTINCT __row FROM siyu_err ORDER BY 1").fetchall()]
        found = physical_lines(src, rows, reader_lines, n_raw) if src.format == "csv" else None
    if bad_rows:
        raw = (f"array_to_string(list_transform([*COLUMNS(r.*)], lambda v: coalesce(v, '')), {_lit(src.delimiter)})")
        if found:
            con.execute("CREATE OR REPLACE TEMP TABLE siyu_rowline AS SELECT unnest(?::BIGINT[]) AS __row, "
                        "unnest(?::BIGINT[]) AS line", [list(found[0]), list(found[0].values())])
            con.execute(
                f"""INSERT INTO rejects (batch_id, file, line, "column", reason, message, raw, created_at)
                    SELECT ?, ?, l.line, e.col, e.reason, e.msg, {raw}, ?
                    FROM siyu_err e JOIN siyu_rowline l USING (__row) JOIN siyu_raw r ON r.rowid = {at_row}""",
                [fr.batch_id, file, now],
            )
        else:
            # a row's line = header line + its position + the lines DuckDB skipped (blank) or rejected
            # before it: for the k-th skipped line s, rows from position s - k on are k lines further
            header_line = src.header_row + 1  # 1-based line/row of the header
            # CSV: blank lines from the line scan; workbooks: the empty sheet rows the reader dropped
            blank = "SELECT line FROM siyu_blank UNION ALL " if src.format == "csv" else ""
            skipped = reader_lines if src.format == "csv" else [*reader_lines, *src.blank_lines]
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE siyu_rl AS
                SELECT adj, max(k) AS k FROM (
                    SELECT line - row_number() OVER (ORDER BY line) AS adj, row_number() OVER (ORDER BY line) AS k
                    FROM ({blank}SELECT unnest(?::BIGINT[]) AS line))
                GROUP BY adj""", [skipped])
            con.execute(
                f"""INSERT INTO rejects (batch_id, file, line, "column", reason, message, raw, created_at)
                    WITH e AS (SELECT e.*, {header_line} + e.__row + 1 AS base FROM siyu_err e)
                    SELECT ?, ?, e.base + coalesce(rl.k, 0), e.col, e.reason, e.msg, {raw}, ?
                    FROM e ASOF LEFT JOIN siyu_rl rl ON e.base > rl.adj
                    JOIN siyu_raw r ON r.rowid = {at_row}""",
                [fr.batch_id, file, now],
            )
            con.execute("DROP TABLE siyu_rl")
    if bad_rows or ragged:
        rag = " UNION SELECT __row FROM siyu_rag" if ragged else ""  # siyu_rag exists for CSV files only
        con.execute(f"CREATE TEMP TABLE siyu_good AS SELECT *{extra} FROM siyu_stg "
                    f"ANTI JOIN (SELECT __row FROM siyu_err{rag}) USING (__row)")
    else:
        con.execute(f"CREATE TEMP VIEW siyu_good AS SELECT *{extra} FROM siyu_stg")
    # the raw table is no longer needed: free its memory before merging
    con.execute("DROP TABLE IF EXISTS temp.siyu_raw")


def _log(con, fr: FileReport, started) -> None:
    con.execute(
        """INSERT INTO load_log (batch_id, kind, file, file_sha256, preset, source, encoding, rows_read, inserted,
                                 updated, unchanged, rejected, erased, status, started_at, finished_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [fr.batch_id, fr.kind, fr.path, fr.sha256, fr.preset, fr.source, fr.encoding, fr.read, fr.inserted,
         fr.updated, fr.unchanged, fr.rejected, fr.erased, fr.status, started, clock.now()],
    )


def _last(col: str) -> str:
    """The last non-NULL value of a column within a record (later rows of a newer export win)."""
    return f"arg_max({col}, __row) FILTER (WHERE {col} IS NOT NULL) AS {col}"


# ---------------------------------------------------------------- orders

ORDER_COLS = ("member_id", "buyer_phone", "buyer_ref", "status", "status_raw", "created_at", "paid_at", "total_amount",
              "paid_amount", "refund_amount", "net_amount", "item_count", "store", "channel", "guide_userid",
              "coupon_code")
LINE_FIELDS = ("line_no", "sku", "product_name", "category", "quantity", "unit_price", "line_amount")


def _status_map(p: Preset) -> dict[str, str]:
    m = {status_key(raw): canon for canon, raws in STATUS_ALIASES.items() for raw in raws}
    m.update({status_key(k): v for k, v in p.statuses.items()})
    return m


BUYER_KEY = ("concat_ws(chr(31), coalesce(member_id, ''), coalesce(external_userid, ''), coalesce(unionid, ''), "
             "coalesce(phone, ''), coalesce(email, ''))")


def _merge_orders(con, fr: FileReport, p: Preset, mapping) -> None:
    source = fr.source
    order_fields = ("member_id", "external_userid", "unionid", "phone", "email", "buyer_ref", "status_raw", "created_at",
                    "paid_at", "cancelled_at", "total_amount", "paid_amount", "refund_amount", "item_count", "store",
                    "channel", "guide_userid", "coupon_code")
    has_lines = any(f in mapping for f in LINE_FIELDS if f != "line_no") and p.line_grain
    # amounts a preset gives per line (Douyin: per 子订单) are summed over the order's lines, each line
    # counted once (its last row) so a repeated row is not counted twice; other fields: the last value
    summed = {c for c in p.sum_fields if c in mapping}
    rows = "siyu_good"
    if summed:
        last_row = ("row_number() OVER (PARTITION BY order_id, line_no ORDER BY __row DESC) = 1"
                    if "line_no" in mapping else "true")
        rows = f"(SELECT *, {last_row} AS __line_last FROM siyu_good)"
    aggs = ", ".join(f"sum({c}) FILTER (WHERE __line_last) AS {c}" if c in summed else _last(c) for c in order_fields)
    qty = ("sum(quantity) FILTER (WHERE __line_last)" if summed else "sum(quantity)") if "quantity" in mapping else "NULL"
    dups = con.execute("SELECT count(*) - count(DISTINCT order_id) FROM siyu_good").fetchone()[0]
    if dups:  # several rows per order (line items, or repeated rows): fold them
        inner = f"SELECT order_id, {aggs}, count(*) AS __n, {qty} AS __qty FROM {rows} GROUP BY order_id"
    else:  # one row per order: no aggregation needed
        inner = (f"SELECT order_id, {', '.join(order_fields)}, 1 AS __n, "
                 f"{'quantity' if 'quantity' in mapping else 'NULL'} AS __qty FROM siyu_good")
    # one row per order already: a view (read twice, by the buyer keys and the final insert) is cheaper
    # than copying every row once more
    con.execute(f"CREATE TEMP {'TABLE' if dups else 'VIEW'} siyu_src AS SELECT *, {BUYER_KEY} AS __bk FROM ({inner})")
    # statuses: map the few distinct raw texts in Python (aliases + the preset's own)
    smap = _status_map(p)
    raws = [r[0] for r in con.execute("SELECT DISTINCT status_raw FROM siyu_src WHERE status_raw IS NOT NULL").fetchall()]
    unknown = sorted(r for r in raws if status_key(r) not in smap)
    if unknown:
        fr.warnings.append(
            f"unknown order statuses (read as paid when a payment time is present): {', '.join(unknown[:10])}"
        )
    con.execute("CREATE TEMP TABLE siyu_smap (raw VARCHAR, canon VARCHAR)")
    if raws:
        con.executemany("INSERT INTO siyu_smap VALUES (?, ?)", [(r, smap.get(status_key(r))) for r in raws])
    # buyer → member
    buyer_cols = ("member_id", "external_userid", "unionid", "phone", "email")
    if any(c in mapping for c in buyer_cols):
        _resolve_buyers(con, fr, "siyu_src")
        member_expr = "r.member_id"
        member_join = "LEFT JOIN siyu_res r ON r.__bk = s.__bk"
    else:
        member_expr, member_join = "NULL::VARCHAR", ""
    base = ("coalesce(m.canon, CASE WHEN s.paid_at IS NOT NULL OR s.paid_amount > 0 OR s.status_raw IS NULL AND "
            "s.paid_amount IS NOT NULL THEN 'paid' ELSE 'unpaid' END)")
    status = f"""CASE
        WHEN s.cancelled_at IS NOT NULL AND {base} IN ('unpaid', 'cancelled', 'closed') THEN 'cancelled'
        WHEN {base} = 'closed' THEN CASE WHEN s.paid_at IS NULL AND coalesce(s.refund_amount, 0) = 0 THEN 'cancelled'
                                         ELSE 'refunded' END
        WHEN {base} IN ('paid', 'partially_refunded', 'refunded') AND s.refund_amount > 0
             THEN CASE WHEN s.refund_amount < coalesce(s.paid_amount, 0) THEN 'partially_refunded' ELSE 'refunded' END
        ELSE {base} END"""
    # the final order rows; net_amount from the final status and refund (a second CTE level)
    fin_sql = f"""
        WITH x AS (
            SELECT s.*, {status} AS __status, {member_expr} AS __member
            FROM siyu_src s LEFT JOIN siyu_smap m ON m.raw = s.status_raw {member_join}
        ), y AS (
        SELECT order_id, __n, __member AS member_id, phone AS buyer_phone,
               coalesce(buyer_ref, member_id, email) AS buyer_ref, __status AS status, status_raw, created_at,
               CASE WHEN __status IN ('paid', 'partially_refunded', 'refunded') THEN coalesce(paid_at, created_at)
                    ELSE paid_at END AS paid_at,
               total_amount, paid_amount,
               CASE WHEN __status = 'refunded' AND coalesce(refund_amount, 0) = 0 THEN coalesce(paid_amount, 0)
                    ELSE coalesce(refund_amount, 0) END::DECIMAL(18,2) AS refund_amount,
               coalesce(item_count, __qty)::INTEGER AS item_count, store, channel, guide_userid, coupon_code
        FROM x
        )
        SELECT order_id, __n, member_id, buyer_phone, buyer_ref, status, status_raw, created_at, paid_at,
               total_amount, paid_amount, refund_amount,
               CAST(CASE WHEN status IN ('paid', 'partially_refunded', 'refunded')
                         THEN greatest(coalesce(paid_amount, 0) - refund_amount, 0) ELSE 0 END AS DECIMAL(18,2))
                   AS net_amount,
               item_count, store, channel, guide_userid, coupon_code
        FROM y
    """
    cols = ", ".join(ORDER_COLS)
    existing = con.execute("SELECT count(*) FROM orders WHERE source = ?", [source]).fetchone()[0]
    now = clock.now()
    if existing == 0 and not has_lines:
        # first load of this source: every order is new, so insert straight from the query (no
        # staging table, no comparison); each input row counts as inserted
        con.execute(f"""
            INSERT INTO orders (source, order_id, {cols}, batch_id, updated_at)
            SELECT {_lit(source)}, f.order_id, {', '.join('f.' + c for c in ORDER_COLS)}, ?, ?
            FROM ({fin_sql}) f
        """, [fr.batch_id, now])
        n_rows, n_orders = con.execute("SELECT coalesce(sum(__n), 0), count(*) FROM siyu_src").fetchone()
        fr.inserted, fr.merged = int(n_orders), int(n_rows) - int(n_orders)
        fr.updated = fr.unchanged = 0
        return
    con.execute(f"CREATE TEMP TABLE siyu_fin AS {fin_sql}")
    merged = {c: "coalesce(f.member_id, t.member_id)" if c == "member_id" else f"f.{c}" for c in ORDER_COLS}
    inserted = {"source": _lit(source), "order_id": "f.order_id", **{c: f"f.{c}" for c in ORDER_COLS}}
    fr.inserted, fr.updated, fr.unchanged, fr.merged = merge(
        con, "orders", ("order_id",), merged, inserted, {"batch_id": fr.batch_id, "updated_at": now},
        scope={"source": _lit(source)})
    if has_lines:
        _merge_lines(con, fr, mapping)


def _merge_lines(con, fr: FileReport, mapping) -> None:
    source = _lit(fr.source)
    line_no = "line_no" if "line_no" in mapping else "NULL"
    con.execute(f"""
        DELETE FROM order_lines WHERE source = {source}
          AND order_id IN (SELECT order_id FROM siyu_cls WHERE c IN (0, 1))
    """)
    amount = "coalesce(line_amount, unit_price * coalesce(quantity, 1))" if "unit_price" in mapping else "line_amount"
    con.execute(f"""
        INSERT INTO order_lines (source, order_id, line_no, sku, product_name, category, quantity, unit_price, amount,
                                 refund_amount, batch_id)
        SELECT {source}, g.order_id,
               coalesce({line_no}, CAST(row_number() OVER (PARTITION BY g.order_id ORDER BY g.__row) AS VARCHAR)),
               sku, product_name, category, quantity, unit_price, {amount}, 0, ?
        FROM siyu_good g SEMI JOIN (SELECT order_id FROM siyu_cls WHERE c IN (0, 1)) USING (order_id)
        QUALIFY row_number() OVER (PARTITION BY g.order_id,
                                   coalesce({line_no}, CAST(g.__row AS VARCHAR)) ORDER BY g.__row DESC) = 1
    """, [fr.batch_id])


def _resolve_buyers(con, fr: FileReport, table: str) -> None:
    """Give each distinct buyer tuple of ``table`` a member (creating bare members for new buyers)."""
    con.execute(f"""
        CREATE TEMP TABLE siyu_keys AS
        SELECT DISTINCT __bk, member_id AS member_ref, external_userid, unionid, phone, email FROM {table}
        WHERE coalesce(member_id, external_userid, unionid, phone, email) IS NOT NULL
    """)
    identity.resolve(con, "siyu_keys", "siyu_res")
    con.execute(f"""
        INSERT INTO members (member_id, source, source_member_id, external_userid, unionid, phone, email,
                             first_batch, updated_batch, updated_at)
        SELECT n.member_id, {_lit(fr.source)}, {', '.join(f"CASE WHEN len(n.p) = 5 THEN nullif(n.p[{i}], '') END" for i in range(1, 6))},
               ?, ?, now()
        FROM (
            -- a new member's ids come from its greatest buyer key: one max() per member instead of five
            -- arg_max() (2.5M new members: 4 s → 1.5 s); the key is the ids joined by U+001F, split back here
            -- (a key with U+001F inside an id does not split into 5 parts: its ids stay NULL on the member
            -- row and are still recorded as identities)
            SELECT r.member_id, string_split(max(k.__bk), chr(31)) AS p
            FROM siyu_res r JOIN siyu_keys k USING (__bk)
            WHERE NOT r.matched AND r.member_id IS NOT NULL
            GROUP BY r.member_id
        ) n ANTI JOIN members m ON m.member_id = n.member_id
    """, [fr.batch_id, fr.batch_id])
    identity.record_identities(con, "siyu_keys", "siyu_res")


# ---------------------------------------------------------------- members

MEMBER_ATTRS = ("source_member_id", "external_userid", "unionid", "phone", "phone_masked", "email", "name", "nickname",
                "gender", "birthday", "level", "points", "join_at", "join_channel", "store", "guide_userid",
                "guide_name")


def _merge_members(con, fr: FileReport, p: Preset, mapping) -> None:
    source = fr.source
    # rows without any usable id (e.g. only a masked phone) become anonymous members keyed by a hash of the row
    con.execute(f"""
        CREATE TEMP TABLE siyu_src AS
        SELECT *, {BUYER_KEY} AS __bk,
               CASE WHEN coalesce(member_id, external_userid, unionid, phone, email) IS NULL
                    THEN 'h:' || left(md5(concat_ws(chr(31), {_lit(source)}, name, nickname, phone_masked,
                                                    CAST(birthday AS VARCHAR), CAST(join_at AS VARCHAR), store)), 16)
               END AS __anon
        FROM siyu_good
    """)
    con.execute("""
        CREATE TEMP TABLE siyu_keys AS
        SELECT DISTINCT __bk, member_id AS member_ref, external_userid, unionid, phone, email FROM siyu_src
        WHERE __anon IS NULL
    """)
    identity.resolve(con, "siyu_keys", "siyu_res")
    attrs = [a for a in MEMBER_ATTRS if a != "source_member_id"]
    aggs = ", ".join(f"arg_max(s.{a}, s.__row) FILTER (WHERE s.{a} IS NOT NULL) AS {a}" for a in attrs if a != "join_at")
    con.execute(f"""
        CREATE TEMP TABLE siyu_fin AS
        SELECT coalesce(r.member_id, s.__anon) AS member_id,
               arg_max(s.member_id, s.__row) FILTER (WHERE s.member_id IS NOT NULL) AS source_member_id,
               {aggs},
               min(s.join_at) AS join_at,
               count(*) AS __n,
               count(DISTINCT coalesce(s.guide_userid, s.guide_name)) AS __guides,
               count(DISTINCT s.store) AS __stores,
               list_distinct(flatten(list(coalesce(s.tags, [])))) AS tags,
               list(DISTINCT {{'ext': s.external_userid, 'staff': s.guide_userid, 'at': s.join_at,
                               'way': s.add_way, 'remark': s.remark}})
                   FILTER (WHERE s.external_userid IS NOT NULL AND s.guide_userid IS NOT NULL) AS contacts,
               list(DISTINCT {{'userid': s.guide_userid, 'name': s.guide_name, 'store': s.store}})
                   FILTER (WHERE s.guide_userid IS NOT NULL) AS staff
        FROM siyu_src s LEFT JOIN siyu_res r USING (__bk)
        GROUP BY 1
    """)
    # compare with the store: a newer export fills and overrides fields, never blanks them
    merged = {a: f"coalesce(f.{a}, t.{a})" for a in MEMBER_ATTRS}
    merged["join_at"] = "least(f.join_at, t.join_at)"
    now = clock.now()
    inserted = {"member_id": "f.member_id", "source": _lit(source), **{a: f"f.{a}" for a in MEMBER_ATTRS},
                "first_batch": _lit(fr.batch_id)}
    fr.inserted, fr.updated, fr.unchanged, fr.merged = merge(
        con, "members", ("member_id",), merged, inserted, {"updated_batch": fr.batch_id, "updated_at": now})
    identity.record_identities(con, "siyu_keys", "siyu_res")
    _member_conflicts(con, fr)
    con.execute("""
        INSERT INTO member_tags (member_id, tag_group, tag, batch_id)
        SELECT DISTINCT member_id, t.g, t.t, ? FROM (SELECT member_id, unnest(tags) AS t FROM siyu_fin)
        ON CONFLICT DO NOTHING
    """, [fr.batch_id])
    con.execute("""
        INSERT INTO wecom_contacts (external_userid, staff_userid, member_id, added_at, add_way, remark)
        SELECT c.ext, c.staff, any_value(member_id), min(c.at), any_value(c.way), any_value(c.remark)
        FROM (SELECT member_id, unnest(contacts) AS c FROM siyu_fin) GROUP BY c.ext, c.staff
        ON CONFLICT DO UPDATE SET member_id = excluded.member_id, added_at = excluded.added_at,
                                  add_way = coalesce(excluded.add_way, wecom_contacts.add_way),
                                  remark = coalesce(excluded.remark, wecom_contacts.remark)
    """)
    con.execute("""
        INSERT INTO staff (userid, name, store, updated_at)
        SELECT s.userid, any_value(s.name), any_value(s.store), now()
        FROM (SELECT unnest(staff) AS s FROM siyu_fin) GROUP BY s.userid
        ON CONFLICT DO UPDATE SET name = coalesce(excluded.name, staff.name), store = coalesce(excluded.store, staff.store),
                                  updated_at = excluded.updated_at
    """)


def _member_conflicts(con, fr: FileReport) -> None:
    """Count people merged from rows that name different guides or stores (the last row's value is kept)."""
    guides, stores = con.execute(
        "SELECT count(*) FILTER (WHERE __guides > 1), count(*) FILTER (WHERE __stores > 1) FROM siyu_fin").fetchone()
    fr.conflicts = {k: int(v) for k, v in (("guide", guides), ("store", stores)) if v}
    for what, n in fr.conflicts.items():
        fr.warnings.append(_("{count} member(s) merged from rows naming different {what}s; the last row's {what} was "
                             "kept (see docs/load.md, \"Counts\")").format(count=n, what=what))


# ---------------------------------------------------------------- groups

GROUP_ATTRS = ("name", "owner_userid", "store", "city", "tags", "created_at", "member_count", "notice")


def _merge_groups(con, fr: FileReport, p: Preset, mapping) -> None:
    if "member_ref" in mapping:
        _merge_group_members(con, fr, mapping)
        return
    aggs = ", ".join(_last(a) for a in GROUP_ATTRS if a != "tags")
    con.execute(f"""
        CREATE TEMP TABLE siyu_fin AS
        SELECT group_id, {aggs},
               list_sort(list_distinct(list_transform(flatten(list(coalesce(g.tags, []))), lambda t: t.t))) AS tags,
               count(*) AS __n,
               arg_max(owner_name, __row) FILTER (WHERE owner_name IS NOT NULL) AS owner_name
        FROM siyu_good g GROUP BY group_id
    """)
    con.execute("UPDATE siyu_fin SET tags = NULL WHERE len(tags) = 0")
    merged = {a: f"coalesce(f.{a}, t.{a})" for a in GROUP_ATTRS}
    inserted = {"group_id": "f.group_id", **{a: f"f.{a}" for a in GROUP_ATTRS}}
    fr.inserted, fr.updated, fr.unchanged, fr.merged = merge(
        con, "groups", ("group_id",), merged, inserted,
        {"batch_id": fr.batch_id, "updated_at": clock.now()})
    con.execute("""
        INSERT INTO staff (userid, name, updated_at)
        SELECT owner_userid, any_value(owner_name), now() FROM siyu_fin WHERE owner_userid IS NOT NULL GROUP BY 1
        ON CONFLICT DO UPDATE SET name = coalesce(excluded.name, staff.name)
    """)


def _merge_group_members(con, fr: FileReport, mapping) -> None:
    con.execute(f"""
        CREATE TEMP TABLE siyu_fin AS
        SELECT g.group_id, g.member_ref AS external_userid,
               coalesce(arg_max(i1.member_id, g.__row), arg_max(i2.member_id, g.__row)) AS member_id,
               min(g.joined_at) AS joined_at, count(*) AS __n,
               arg_max(g.name, g.__row) FILTER (WHERE g.name IS NOT NULL) AS group_name
        FROM siyu_good g
        LEFT JOIN member_identities i1 ON i1.id_type = 'external_userid' AND i1.id_value = g.member_ref
        LEFT JOIN member_identities i2 ON i2.id_type = 'unionid' AND i2.id_value = g.unionid
        GROUP BY g.group_id, g.member_ref
    """)
    now = clock.now()
    # a membership list may name groups the store has not seen yet: create them (name only)
    con.execute("""
        INSERT INTO groups (group_id, name, batch_id, updated_at)
        SELECT group_id, any_value(group_name), ?, ? FROM siyu_fin GROUP BY group_id
        ON CONFLICT DO NOTHING
    """, [fr.batch_id, now])
    merged = {c: f"coalesce(f.{c}, t.{c})" for c in ("member_id", "joined_at")}
    inserted = {c: f"f.{c}" for c in ("group_id", "external_userid", "member_id", "joined_at")}
    fr.inserted, fr.updated, fr.unchanged, fr.merged = merge(
        con, "group_members", ("group_id", "external_userid"), merged, inserted, {"batch_id": fr.batch_id})


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
                header = _read_header(con, src)
                p = choose_preset(kind, header, preset, settings)
                mapping = resolve_columns(p, header)
                for fld, fb in p.fallbacks.items():
                    if fld not in mapping and fb in mapping:
                        mapping[fld] = mapping[fb]
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
                    header = _read_header(con, src)
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
