"""The staging stage of a load: the file read as text and cleaned in one statement into ``siyu_stg``.

The rows come from DuckDB's ``read_csv(all_varchar)`` (workbooks via a temp Parquet file) into a temp
table created in autocommit, so its rowids are the rows' positions in the file (rejects get their line
numbers from them); the rows' raw text is read again only when a reject needs it (:func:`raw_rows`).
``siyu_stg`` holds, per row, ``__row`` (that position), every field of the kind cleaned by the SQL macros
of :mod:`values`, the raw text of a field whose cleaning failed on this row (``__r_<field>``), ids Excel wrote in
scientific notation (``__xm_<field>``), the tags and ``__summary`` (a total/footer row, not data).
"""

from __future__ import annotations

from siyu_cli.i18n import _

import re
from pathlib import Path

from siyu_cli.errors import DataError
from siyu_cli.ingest.presets import FIELD_TYPES, FIELDS, Preset
from siyu_cli.ingest.readers import LineScan, Source, line_too_long, scan_ragged
from siyu_cli.ingest.values import CLEANERS

NULL_TOKENS = ("", "-", "--", "—", "null", "NULL", "None", "N/A", "n/a", "/", "无")
TOKEN_BYTES = max(len(t.encode()) for t in NULL_TOKENS)
WS_SQL = "' \t\r\n\u3000\u00a0'"
WS_CODES = "(9, 10, 13, 32, 12288, 160)"  # the same characters: trim only values that start/end with one
SUMMARY_WORDS = ("合计", "总计", "小计", "汇总", "total", "totals", "grand total", "合计:", "总计:")
SUMMARY_KEYS = {"orders": "order_id", "groups": "group_id", "members": "member_id"}
#: identity fields whose value in scientific notation (Excel's 1.38001E+10) is rejected as EXCEL_MANGLED
MANGLE_FIELDS = ("order_id", "group_id", "member_id", "member_ref", "external_userid", "unionid", "phone")
#: ids the merge joins by U+001F into one buyer key (merge_members.BUYER_KEY): a value holding U+001F is rejected as
#: CONTROL_CHARACTER (two buyers' ids could otherwise make the same key)
KEY_FIELDS = ("member_id", "member_ref", "external_userid", "unionid", "email")
#: SQL type of a field the file lacks (added as NULL by the ``siyu_good`` view)
NO_TAGS = "NULL::STRUCT(g VARCHAR, t VARCHAR)[]"  # the tags of a file without tag columns
#: the staged rows' table (the view ``siyu_stg`` adds their position, ``__row``)
STAGED = "siyu_stgt"
FILL_TYPES = {"timestamp": "TIMESTAMPTZ", "date": "DATE", "amount": "DECIMAL(18,2)", "integer": "BIGINT",
              "number": "DECIMAL(18,3)"}


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """A quoted SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


_LINE = re.compile(r"\bline:?\s*(\d+)", re.I)


def reason(exc: Exception) -> str:
    """A DuckDB error in words without quoting the file: its kind and, when it names one, the line."""
    kind = re.sub(r"(Exception|Error)$", "", type(exc).__name__) or "read"
    kind = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", kind)  # InvalidInput → Invalid Input
    line = _LINE.search(str(exc))
    return f"{kind.lower()} error" + (f" on line {line.group(1)}" if line else "")


def read_header(con, src: Source) -> list[str]:
    """The file's column names (a read of no rows); a DataError naming the file when it cannot be read."""
    import duckdb

    try:
        return [d[0] for d in con.execute(f"SELECT * FROM {src.relation_sql()} LIMIT 0").description]
    except duckdb.Error as exc:
        raise line_too_long(Path(src.path), src.read_path, exc) or DataError(
                        _('{path}: cannot read the file as {upper}: {first_line} (check quoting and the delimiter; see docs/load.md)').format(path=src.path, upper=src.format.upper(), first_line=first_line(exc)),
                        reason=f"{Path(src.path).name}: cannot read the file as {src.format.upper()} ({reason(exc)}; "
                               "check quoting and the delimiter)") from None


def read_error(path: Path, src: Source, exc: Exception) -> DataError:
    """The DataError of a file DuckDB cannot read (a line too long, bad quoting…)."""
    return line_too_long(path, src.read_path, exc) or DataError(
        _('{path}: cannot read the file: {first_line}').format(path=path, first_line=first_line(exc)),
        reason=f"{path.name}: cannot read the file ({reason(exc)})")


def scan_lines(con, src: Source, path: Path, rowid_base: int) -> LineScan:
    """Scan a CSV file's lines (blank, ragged) after :func:`stage` read it."""
    import duckdb

    if src.format != "csv":
        return LineScan(0, True)
    n_raw = con.execute(f"SELECT count(*) FROM {STAGED}").fetchone()[0]
    try:
        return scan_ragged(con, src, reader_lines(con, src), n_raw, lambda: _raw_position(con, src, path),
                           rowid_base=rowid_base)
    except duckdb.Error as exc:
        raise DataError(_("{path}: cannot read the file's lines: {first_line}").format(path=path, first_line=first_line(exc)),
                        reason=f"{path.name}: cannot read the file's lines ({reason(exc)})") from None


def _raw_position(con, src: Source, path: Path) -> tuple[str, str]:
    base = raw_rows(con, src, path)
    return "siyu_raw", f"(rowid - {base})" if base else "rowid"


def raw_rows(con, src: Source, path: Path) -> int:
    """Make ``siyu_raw``: the file's rows as DuckDB read them (every column as text); returns the rowid
    base to subtract from its rowids to get a row's position (the ``__row`` of the staged row).

    Made on demand, by a second read of the file: only a load with rejected rows (their raw text) or a ragged
    line to check needs it, and keeping every row's text for the others cost a copy of the whole file (at
    10M rows, about 7 % of a load and its largest temp table). The second read has the first's options, so it
    reads the same rows in the same order; its rejected lines go to throwaway tables (the first read's are
    the ones reported). Inside a transaction DuckDB numbers the new table's rowids from a base: subtracted."""
    import duckdb

    from siyu_cli.store import table_exists

    if not table_exists(con, "siyu_raw"):
        try:
            con.execute(f"CREATE TEMP TABLE siyu_raw AS SELECT * FROM {src.relation_sql('siyu_raw')}")
        except duckdb.Error as exc:
            raise read_error(path, src, exc) from None
        for t in ("siyu_raw_errors", "siyu_raw_scans"):
            con.execute(f"DROP TABLE IF EXISTS temp.{t}")
    return int(con.execute("SELECT coalesce(min(rowid), 0) FROM siyu_raw").fetchone()[0])


def reader_lines(con, src: Source) -> list[int]:
    """Line numbers DuckDB's CSV reader rejected in the last scan."""
    from siyu_cli.store import table_exists

    if not (src.format == "csv" and table_exists(con, "siyu_reader_errors")):
        return []
    return [r[0] for r in con.execute("SELECT DISTINCT line FROM siyu_reader_errors ORDER BY line").fetchall()]


def stage(con, src: Source, path: Path, kind: str, p: Preset, mapping: dict[str, str], header: list[str],
          rowid_base: int | None) -> tuple[list[str], list[str], int]:
    """Read the file and clean it into ``siyu_stg`` (cleaned fields + raw copies of checked fields).

    One statement from DuckDB's reader (no copy of the raw rows is kept: :func:`raw_rows`) into the table
    ``siyu_stgt``, in file order; the view ``siyu_stg`` adds ``__row``, a row's position (its rowid).
    Must run in autocommit in a real load (rowids 0..n-1); ``rowid_base`` None: read the base from the new
    table (a dry run's transaction numbers temp tables from a large base).
    Returns (the kind's fields, the NULL fills — ``NULL::type AS field`` — for those the file lacks, base)."""
    import duckdb

    exprs, fills, fields = _field_exprs(kind, mapping)
    for fld in MANGLE_FIELDS:  # the raw value when Excel wrote it in scientific notation (digits lost)
        if fld in mapping:
            exprs.append(f"CASE WHEN siyu_id_bad({q(mapping[fld])}) THEN {q(mapping[fld])} END AS __xm_{fld}")
    tags = _tags_expr(p, mapping, header)
    (fills if tags == NO_TAGS else exprs).append(f"{tags} AS tags")  # a NULL list per row: 93 MB at 10M rows
    exprs.append(f"{_summary_expr(kind, mapping, header)} AS __summary")
    first = header[0] if header else None
    # every used column is trimmed once and its "empty" tokens made NULL, then the typed macros run
    used = list(dict.fromkeys([*mapping.values(), *([first] if first else []), *_tag_columns(p, mapping, header)]))
    trims = ", ".join(
        f"CASE WHEN ascii({q(c)}) IN {WS_CODES} OR ascii(right({q(c)}, 1)) IN {WS_CODES} "
        f"THEN trim({q(c)}, {WS_SQL}) ELSE {q(c)} END AS {q(c)}"
        for c in used
    )
    # a value longer than every empty token is not one: its byte length is stored, so most values skip the
    # eleven comparisons (1M rows × 7 columns: 0.15 s → 0.04 s)
    nulls = ", ".join(f"CASE WHEN strlen({q(c)}) > {TOKEN_BYTES} THEN {q(c)} WHEN {q(c)} IN {NULL_TOKENS!r} THEN NULL "
                      f"ELSE {q(c)} END AS {q(c)}" for c in used)
    # the many short IN lists here are cheaper as plain comparisons than as the hash joins DuckDB
    # rewrites them into (about 10 % of this statement)
    # a raw copy is kept only where its field did not read (the reject's message quotes it): copies of every
    # date and amount doubled those columns' share of the staged rows, which spill at 10M rows
    checked = [e.rsplit(" AS __r_", 1)[1] for e in exprs if " AS __r_" in e]
    # those raw copies and the ids in scientific notation are NULL on almost every row, and a NULL column of a
    # temp table still costs ~5 bytes a row (48 MB per column at 10M rows, under the load's memory limit): they
    # are stored together, as one JSON object on the rows that have any (``__x``), and the view ``siyu_stg``
    # gives them back as columns
    rare = {f"__r_{f}": f"CASE WHEN {f} IS NULL THEN __r_{f} END" for f in checked}
    rare.update({f"__xm_{f}": f"__xm_{f}" for f in MANGLE_FIELDS if f in mapping})
    if rare:
        packed = (f"CASE WHEN {' OR '.join(f'{v} IS NOT NULL' for v in rare.values())} "
                  f"THEN to_json({{{', '.join(f'{lit(k)}: {v}' for k, v in rare.items())}}}) END AS __x")
        final = f"* EXCLUDE ({', '.join(rare)}), {packed}"
        unpack = "".join(f", json_extract_string(__x, {lit(f'$.{k}')}) AS {k}" for k in rare)
    else:
        final, unpack = "*", ""
    for t in ("siyu_reader_errors", "siyu_reader_scans"):  # only this scan's reader rejects
        con.execute(f"DROP TABLE IF EXISTS temp.{t}")
    con.execute("SET disabled_optimizers = 'in_clause'")
    try:
        con.execute(f"""
            CREATE TEMP TABLE {STAGED} AS
            WITH a AS (SELECT {trims or 'NULL AS __none'} FROM {src.relation_sql()}),
                 b AS (SELECT {nulls or '__none'} FROM a),
                 c AS (SELECT {', '.join(exprs)} FROM b)
            SELECT {final} FROM c
        """)
    except duckdb.Error as exc:
        raise read_error(path, src, exc) from None
    finally:
        con.execute("RESET disabled_optimizers")
    base = rowid_base if rowid_base is not None else int(
        con.execute(f"SELECT coalesce(min(rowid), 0) FROM {STAGED}").fetchone()[0])
    con.execute(f"CREATE TEMP VIEW siyu_stg AS SELECT {f'rowid - {base}' if base else 'rowid'} AS __row, "
                f"* {'EXCLUDE (__x)' if rare else ''}{unpack} FROM {STAGED}")
    return fields, fills, base


def _field_exprs(kind: str, mapping: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    """(select expressions, NULL fills, fields) of the kind's fields over the trimmed raw columns."""
    exprs: list[str] = []
    fills: list[str] = []  # fields this file lacks: added as NULLs by the siyu_good view, not materialised
    fields = []
    for fld in FIELDS[kind]:
        if fld in ("tags", "first_name", "last_name"):
            continue
        col = mapping.get(fld)
        ftype = FIELD_TYPES.get(fld, "text")
        fn = CLEANERS[ftype][0]
        if col is None:
            fills.append(f"NULL::{FILL_TYPES.get(ftype, 'VARCHAR')} AS {fld}")
        elif ftype == "text":  # already trimmed and its empty tokens NULLed: siyu_txt would change nothing
            exprs.append(f"{q(col)} AS {fld}")
        else:
            exprs.append(f"{fn}({q(col)}) AS {fld}")
        fields.append(fld)
        if col is not None and CLEANERS[ftype][1]:
            exprs.append(f"{q(col)} AS __r_{fld}")
        if fld == "phone":
            (exprs if col else fills).append(f"siyu_masked({q(col)}) AS phone_masked" if col else "NULL::VARCHAR AS phone_masked")
        if fld == "status":
            (exprs if col else fills).append(f"{q(col)} AS status_raw" if col else "NULL::VARCHAR AS status_raw")
    if kind == "members" and "name" not in mapping and ("first_name" in mapping or "last_name" in mapping):
        parts = ", ".join(f"{q(mapping[f])}" for f in ("first_name", "last_name") if f in mapping)
        fills = [f for f in fills if not f.endswith(" AS name")]
        exprs = [e for e in exprs if not e.endswith(" AS name")] + [f"nullif(concat_ws(' ', {parts}), '') AS name"]
    return exprs, fills, fields


def _summary_expr(kind: str, mapping: dict[str, str], header: list[str]) -> str:
    """SQL over the trimmed raw columns: is this row a report's total/footer row rather than data?

    Either its first column (or its key column) reads 合计/总计/小计/汇总/Total (a trailing colon
    allowed), or it holds only amounts/numbers (no id, name, time or status): the blank-id footer many
    back offices append (``,,,,1493.5,``).
    """
    words = "|".join(re.escape(w) for w in SUMMARY_WORDS if not w.endswith(":"))
    labelled = [c for c in dict.fromkeys([header[0] if header else None, mapping.get(SUMMARY_KEYS.get(kind, ""))]) if c]
    # the regex (and the lower() copy of the value) only for values that start like one of the words
    starts = tuple(sorted({ord(ch) for w in SUMMARY_WORDS for ch in (w[0], w[0].upper())}))
    tests = [f"CASE WHEN ascii({q(c)}) IN {starts} THEN coalesce(regexp_full_match(lower({q(c)}), "
             f"'({words})\\s*[:：]?'), false) ELSE false END" for c in labelled]
    numeric = {f for f, t in FIELD_TYPES.items() if t in ("amount", "integer", "number")}
    nums = [c for f, c in mapping.items() if f in numeric]
    others = [c for f, c in mapping.items() if f not in numeric and c not in nums]
    if nums and others:
        blank = " AND ".join(f"{q(c)} IS NULL" for c in dict.fromkeys(others))
        tests.append(f"({blank} AND ({' OR '.join(f'{q(c)} IS NOT NULL' for c in dict.fromkeys(nums))}))")
    return "(" + " OR ".join(tests) + ")" if tests else "false"


def _tag_columns(p: Preset, mapping, header) -> list[str]:
    used = set(mapping.values())
    return [h for h in header if h not in used and any(h.startswith(prefix) for prefix in p.tag_prefixes)]


def _tags_expr(p: Preset, mapping, header) -> str:
    parts = []
    if "tags" in mapping:
        parts.append(f"list_transform(coalesce(siyu_split({q(mapping['tags'])}), []), lambda t: {{'g': '', 't': t}})")
    used = set(mapping.values())
    for h in header:
        if h in used:
            continue
        for prefix in p.tag_prefixes:
            if h.startswith(prefix):
                group = h[len(prefix):].strip("()（）:：- ") or h
                parts.append(
                    f"list_transform(coalesce(siyu_split({q(h)}), []), lambda t: {{'g': {lit(group)}, 't': t}})"
                )
    if not parts:
        return NO_TAGS
    return parts[0] if len(parts) == 1 else f"list_concat({', '.join(parts)})"
