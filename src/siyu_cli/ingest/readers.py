"""Reading export files: format and encoding detection, transcoding, header discovery.

Nothing here trusts a file extension. The first bytes decide the format
(``PK`` = xlsx, ``D0 CF 11 E0`` = legacy xls, ``PAR1`` = Parquet, ``<html`` =
a fake .xls we refuse clearly, anything else = delimited text). Text is
decoded by a strict cascade (BOM → UTF-8 → GB18030 → UTF-16) and, unless it
is already UTF-8, stream-transcoded to a temporary UTF-8 file in 1 MiB chunks
so DuckDB's fast CSV reader can take it (DuckDB's own GB18030 support needs
a downloaded extension with known bugs; see shared/EXPORTS.md §2.2).
Workbooks go through Polars/calamine as strings and a temporary Parquet file.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

from siyu_cli.errors import DataError, UsageError
from siyu_cli.i18n import _

SNIFF_BYTES = 1 << 20  # bytes decoded to choose an encoding
CHUNK = 1 << 20  # transcoding chunk (characters)
MAX_LINE = 10_000_000  # DuckDB max_line_size (bytes of one record)
HEADER_SCAN_ROWS = 30  # rows searched for the real header (title rows above it are skipped)

#: --encoding values people type, mapped to Python codec names.
ENCODING_ALIASES = {
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "utf8-sig": "utf-8-sig",
    "utf-8-sig": "utf-8-sig",
    "utf-8-bom": "utf-8-sig",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "cp936": "gb18030",
    "gb18030": "gb18030",
    "utf16": "utf-16",
    "utf-16": "utf-16",
    "big5": "big5",
    "latin-1": "latin-1",
    "latin1": "latin-1",
}


@dataclass
class Source:
    """A file made ready for DuckDB: where to read it and how."""

    path: Path  # the user's file
    format: str  # csv | xlsx | parquet
    encoding: str | None  # detected/forced text encoding (None for binary formats)
    read_path: Path  # what DuckDB reads (the file itself or a temp UTF-8 / Parquet copy)
    header_row: int = 0  # 0-based index of the header line/row (title rows above are skipped)
    delimiter: str = ","
    columns: list[str] = field(default_factory=list)  # header names as the file has them (trimmed)
    blank_lines: list[int] = field(default_factory=list)  # workbooks: empty sheet rows below the header (skipped)

    def relation_sql(self, rejects: str = "siyu_reader") -> str:
        """A DuckDB table expression yielding every column as VARCHAR; a CSV reader's rejected lines go to
        temp tables ``<rejects>_errors`` and ``<rejects>_scans``."""
        p = _q(self.read_path)
        if self.format == "csv":
            delim = self.delimiter.replace("'", "''")
            return (
                f"read_csv('{p}', header=true, skip={self.header_row}, all_varchar=true, delim='{delim}', "
                f"quote='\"', escape='\"', store_rejects=true, rejects_table='{rejects}_errors', "
                f"rejects_scan='{rejects}_scans', max_line_size=10000000)"
            )
        return f"(SELECT COLUMNS(*)::VARCHAR FROM read_parquet('{p}'))"


RAGGED_TABLE = "siyu_rag"


class LineScan(NamedTuple):
    """What :func:`scan_ragged` learnt about the file's lines."""

    ragged: int  # rows with too many fields (temp table ``siyu_rag``)
    aligned: bool  # every record is one line: row positions map to lines through blank/rejected lines alone
    reader_map: dict[int, int] | None = None  # DuckDB reject line → physical line (only when not aligned)


BLANK_TABLE = "siyu_blank"


def scan_ragged(con, src: Source, reader_lines: list[int], n_raw: int, raw_table: Callable[[], tuple[str, str]],
                table: str = RAGGED_TABLE, *, rowid_base: int = 0) -> LineScan:
    """Find CSV lines with more fields than the header that DuckDB silently accepted; count them.

    DuckDB's CSV reader (1.x/2.0, even with ``strict_mode``) drops *empty* extra fields at the end of
    a line, so ``4,5,6,,`` under a 3-column header is read as ``4,5,6`` with no reject, and a row with
    one stray field in the middle of an export whose last columns are empty is stored shifted. This is
    a second, cheap scan of the raw lines (one VARCHAR per physical line, ~1 % of a load): a line is a
    candidate only if it ends with the delimiter and has at least as many delimiters as the header has
    fields; only candidates with a quote get the quote-aware count (quoted sections removed).
    Lines DuckDB already rejected (``reader_lines``) and lines inside a multi-line quoted value
    (unbalanced quotes) are left out. Creates temp table ``table(__row, line, fields, raw)``, where
    ``__row`` is the row's position in what DuckDB read (``n_raw`` rows, in file order). When some
    record spans several lines (a quoted value with a newline), line and row positions drift apart:
    then each (normally rare) candidate is checked against the rows DuckDB read (``raw_table()``: the
    table of those rows, made on demand, and the SQL of a row's position in it), so a continuation
    line is never taken for a row, and ``aligned`` is False. Also keeps temp table
    ``siyu_blank(line)``: the blank lines below the header, which DuckDB skips (reject line numbers).
    ``rowid_base``: the first rowid of a temp table created now (non-zero inside a transaction: dry runs).
    """
    rid = f"(rowid - {rowid_base})" if rowid_base else "rowid"
    n = len(src.columns)
    con.execute(f"DROP TABLE IF EXISTS temp.{table}")
    con.execute(f"DROP TABLE IF EXISTS temp.{table}_lines")
    con.execute(f"DROP TABLE IF EXISTS temp.{BLANK_TABLE}")
    if src.format != "csv" or n == 0:
        con.execute(f"CREATE TEMP TABLE {table} (__row BIGINT, line BIGINT, fields BIGINT, raw VARCHAR)")
        con.execute(f"CREATE TEMP TABLE {BLANK_TABLE} (line BIGINT)")
        return LineScan(0, True)
    p = _q(src.read_path)
    d = src.delimiter.replace("'", "''")
    # temp tables created in autocommit keep rowids in file order: rowid + 1 = physical line number.
    # Kept per line: '' for a blank line (DuckDB skips those when reading rows), the text of a line
    # with too many fields, else NULL, so the table costs next to nothing. CASE is lazy: the regex
    # (drop each "..." pair, which also removes "" escapes; a quote left over = multi-line value,
    # undecidable here) only runs on the candidates.
    cnt = f"strlen(l) - strlen(replace(l, '{d}', ''))"
    qcnt = f"strlen(q) - strlen(replace(q, '{d}', ''))"
    con.execute(f"""
        CREATE TEMP TABLE {table}_lines AS
        SELECT CASE WHEN l IS NULL OR l = '' THEN ''
                    WHEN q IS NOT NULL AND strpos(q, '"') = 0 AND {qcnt} >= {n} THEN l END AS l
        FROM (SELECT l, CASE WHEN suffix(l, '{d}') AND {cnt} >= {n}
                             THEN CASE WHEN strpos(l, '"') = 0 THEN l ELSE regexp_replace(l, '"[^"]*"', '', 'g') END
                        END AS q
              FROM read_csv('{p}', columns={{'l': 'VARCHAR'}}, header=false, delim='', quote='', escape='',
                            auto_detect=false, strict_mode=false, max_line_size=10000000))
    """)
    header_line = src.header_row + 1
    con.execute(f"CREATE TEMP TABLE {BLANK_TABLE} AS SELECT {rid} + 1 AS line FROM {table}_lines "
                f"WHERE l = '' AND {rid} + 1 > {header_line}")
    lines = max(con.execute(f"SELECT count(*) FROM {table}_lines").fetchone()[0] - header_line, 0)
    blank = con.execute(f"SELECT count(*) FROM {BLANK_TABLE}").fetchone()[0]
    aligned = lines - blank - len(reader_lines) == n_raw
    reader_map = None
    if not aligned and reader_lines:
        # DuckDB's reject lines count records, not lines: find the lines they start on
        found = physical_lines(src, [], reader_lines, n_raw)
        reader_map = found[1] if found else None
    physical = [reader_map.get(ln, ln) for ln in reader_lines] if reader_map else list(reader_lines)
    con.execute("CREATE OR REPLACE TEMP TABLE siyu_rag_rl AS SELECT unnest(?::BIGINT[]) AS line", [physical])
    con.execute(f"""
        CREATE TEMP TABLE {table} AS
        WITH x AS (SELECT {rid} + 1 AS line, l FROM {table}_lines WHERE l IS NOT NULL AND {rid} + 1 > {header_line}),
             rag AS (SELECT line, l, strlen(q) - strlen(replace(q, '{d}', '')) + 1 AS fields
                     FROM (SELECT line, l, regexp_replace(l, '"[^"]*"', '', 'g') AS q FROM x WHERE l <> '')
                     WHERE line NOT IN (SELECT line FROM siyu_rag_rl)),
             skipped AS (SELECT line FROM {BLANK_TABLE} UNION ALL SELECT line FROM siyu_rag_rl)
        SELECT line - {header_line} - 1 - (SELECT count(*) FROM skipped s WHERE s.line < rag.line) AS __row,
               line, fields, l AS raw
        FROM rag ORDER BY line
    """)
    con.execute(f"DROP TABLE temp.{table}_lines")
    con.execute("DROP TABLE temp.siyu_rag_rl")
    if not aligned and con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]:
        _verify_ragged(con, src, table, *raw_table())
    return LineScan(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0], aligned, reader_map)


def _verify_ragged(con, src: Source, table: str, raw_table: str, rid: str = "rowid") -> None:
    """Map each candidate line to the row DuckDB read from it (nearest exact match), or drop it."""
    n = len(src.columns)
    names = [d[0] for d in con.execute(f"SELECT * FROM {raw_table} LIMIT 0").description]
    if len(names) != n:
        return
    cond = " AND ".join(f'coalesce("{c.replace(chr(34), chr(34) * 2)}", \'\') = ?' for c in names)
    keep = []
    for row, line, fields, raw in con.execute(f"SELECT __row, line, fields, raw FROM {table}").fetchall():
        cells = next(csv.reader([raw], delimiter=src.delimiter, quotechar='"', doublequote=True), [])
        if len(cells) <= n or any(c != "" for c in cells[n:]):
            continue
        hit = con.execute(f"SELECT {rid} FROM {raw_table} WHERE {cond} ORDER BY abs({rid} - ?) LIMIT 1",
                          [*cells[:n], row]).fetchone()
        if hit:
            keep.append((hit[0], line, fields, raw))
    con.execute(f"DELETE FROM {table}")
    if keep:
        con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?)", keep)


def physical_lines(src: Source, rows, reader_lines, n_raw: int) -> tuple[dict[int, int], dict[int, int]] | None:
    """Physical start lines of some records, from one streaming pass over the file (csv module).

    Needed only when a record spans several lines (a quoted value with a newline): then neither a
    row's position in ``siyu_raw`` nor DuckDB's reject ``line`` (which counts records and blank
    lines, not lines) is a line number. The pass reads the same text DuckDB read, with the same
    delimiter and quoting, and counts records the way DuckDB does: ``reader_lines`` are DuckDB's
    reject lines (record ordinals, blank lines included), every other non-blank record below the
    header is the next row of ``siyu_raw``. Returns ``({row: line}, {reader line: line})`` for the
    rows and reader lines asked for (memory ∝ rejects, not file size; the pass stops after the last
    one), or None when the file's records do not line up with what DuckDB read.
    """
    want_rows = set(rows)
    want_units = set(reader_lines)
    last_row = max(want_rows, default=-1)
    last_unit = max(want_units, default=0)
    first = src.header_row + 2  # DuckDB line of the first record below the header
    row_line: dict[int, int] = {}
    unit_line: dict[int, int] = {}
    good = prev = 0
    if csv.field_size_limit() < MAX_LINE:
        csv.field_size_limit(MAX_LINE)  # DuckDB's max_line_size: a long multi-line remark is no error here
    with open(src.read_path, "r", encoding="utf-8-sig", errors="replace", newline="") as f:
        rd = csv.reader(f, delimiter=src.delimiter, quotechar='"', doublequote=True, strict=False)
        try:
            for unit, rec in enumerate(rd, 1):
                start, prev = prev + 1, rd.line_num
                if unit < first:
                    continue
                if unit in want_units:
                    if not rec:  # DuckDB never rejects a blank line: we are out of step
                        return None
                    unit_line[unit] = start
                elif rec:
                    if good in want_rows:
                        row_line[good] = start
                    good += 1
                if good > last_row and unit >= last_unit:
                    return row_line, unit_line
        except csv.Error:
            return None
    if good != n_raw or len(unit_line) != len(want_units) or len(row_line) != len(want_rows):
        return None
    return row_line, unit_line


def sha256_file(path: Path) -> str:
    return digest_file(path)[0]


def digest_file(path: Path, max_line: int = MAX_LINE) -> tuple[str, int | None]:
    """The file's sha256 and the number of its first line longer than ``max_line`` bytes (None: none is).

    One pass in 4 MiB chunks: only the run of bytes since the last newline is tracked, so a 1 GB line
    costs no more memory than a short one (DuckDB would quote the whole line in its error). A line
    inside one chunk is shorter than ``max_line``, which must be at least the chunk size.
    """
    h = hashlib.sha256()
    since, lines, too_long = 0, 1, None
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
            if too_long is None:
                first = chunk.find(b"\n")
                if first < 0:
                    since += len(chunk)
                else:
                    if since + first > max_line:
                        too_long = lines
                    lines += chunk.count(b"\n")
                    since = len(chunk) - chunk.rfind(b"\n") - 1
                if too_long is None and since > max_line:
                    too_long = lines
    return h.hexdigest(), too_long


def sniff_format(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(b"PK"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    if head.startswith(b"PAR1"):
        return "parquet"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if stripped.startswith((b"<html", b"<!doctype html", b"<table", b"<?xml")):
        raise DataError(
            _('{path}: this is an HTML/XML page saved with a spreadsheet extension, not a real workbook; open it in Excel and save as CSV or XLSX').format(path=path)
        )
    return "csv"


def normalise_encoding(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    if key in ENCODING_ALIASES:
        return ENCODING_ALIASES[key]
    try:
        return codecs.lookup(key).name
    except LookupError:
        raise UsageError(_('--encoding {name!r} is not an encoding Python knows (try utf-8, gbk, gb18030, utf-16)').format(name=name)) from None


def detect_encoding(path: Path) -> str:
    """Strict cascade on the first MiB: BOMs, then UTF-8, then GB18030, then UTF-16."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for enc in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(enc)(errors="strict").decode(head, final=len(head) < SNIFF_BYTES)
            return enc
        except UnicodeDecodeError:
            continue
    if head.count(b"\x00") > len(head) // 4:
        return "utf-16-le"
    raise DataError(
        _('{path}: cannot tell the text encoding (not UTF-8, GB18030/GBK or UTF-16); pass --encoding (e.g. --encoding gb18030)').format(path=path)
    )


def _check_forced(path: Path, enc: str) -> None:
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    try:
        codecs.getincrementaldecoder(enc)(errors="strict").decode(head, final=len(head) < SNIFF_BYTES)
    except UnicodeDecodeError as exc:
        guess = ""
        try:
            guess = f" (it looks like {detect_encoding(path)})"
        except DataError:
            pass
        raise DataError(_('{path}: byte {start} is not valid {enc}{guess}; drop --encoding or pass another').format(path=path, start=exc.start, enc=enc, guess=guess)) from None


def transcode(path: Path, encoding: str, target: Path) -> Path:
    """Stream ``path`` from ``encoding`` to UTF-8 in ``target`` (constant memory)."""
    try:
        with open(path, "r", encoding=encoding, errors="strict", newline="") as src, open(
            target, "w", encoding="utf-8", newline=""
        ) as dst:
            while chunk := src.read(CHUNK):
                dst.write(chunk)
    except UnicodeDecodeError as exc:
        raise DataError(
            _('{path}: byte {start} is not valid {encoding}; the file mixes encodings or is not {encoding} (pass --encoding to choose another)').format(path=path, start=exc.start, encoding=encoding)
        ) from None
    return target


def _read_head_lines(path: Path, encoding: str, n: int, max_line: int = MAX_LINE) -> list[str]:
    """The first ``n`` lines, in bounded memory: reading stops before a line longer than ``max_line``
    characters (that line is the reader's to reject; a header that long is an error)."""
    lines = []
    with open(path, "r", encoding=encoding, errors="replace", newline="") as f:
        for i in range(n):
            line = f.readline(max_line + 1)
            if not line:
                break
            if len(line) > max_line:
                if i == 0:
                    raise DataError(
                        _('{path}: line 1 is longer than {max_line:,} characters: this is not an export siyu can read (a file with no line breaks, or a binary file)').format(path=path, max_line=max_line),
                    )
                break
            lines.append(line)
    return lines


def first_long_line(path: Path, max_bytes: int = MAX_LINE) -> int | None:
    """The number (1-based) of the first line longer than ``max_bytes``, reading in bounded memory."""
    with open(path, "rb") as f:
        number, length = 1, 0
        while chunk := f.readline(CHUNK):
            length += len(chunk)
            if length > max_bytes:
                return number
            if chunk.endswith(b"\n"):
                number, length = number + 1, 0
    return None


def long_line_error(path: Path, line: int) -> DataError:
    text = (f"line {line} is longer than {MAX_LINE // 1_000_000} MB, the most siyu reads as one record "
            "(a file with no line breaks, or a broken export); nothing was loaded: fix or remove that line "
            "and load again")
    return DataError(_('{path}: {text}').format(path=path, text=text), reason=f"{path.name}: {text}")


def line_too_long(path: Path, read_path: Path, exc: Exception) -> DataError | None:
    """DuckDB's "Maximum line size exceeded" as one line naming the line (the error itself quotes it)."""
    if "maximum line size" not in str(exc).lower():
        return None
    line = first_long_line(read_path)
    # no long physical line: a quote left open runs the record on (the caller's error says so)
    return long_line_error(path, line) if line else None


def _parse_head(head: list[str], delim: str) -> list[list[str]]:
    """The head lines as CSV rows; fields may be as long as a line (Python's csv stops at 128 KiB)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, MAX_LINE))
    try:
        return list(csv.reader(io.StringIO("".join(head)), delimiter=delim))
    except csv.Error as exc:
        raise DataError(_('cannot split the first lines into fields ({exc})').format(exc=exc)) from None
    finally:
        csv.field_size_limit(limit)


def _clean_header(name: object) -> str:
    return str(name if name is not None else "").replace("\ufeff", "").strip(" \t\r\n\u3000")


def _pick_delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def find_header(rows: list[list[str]], score) -> int:
    """Index of the first row that looks most like a header (``score(row)`` = known names in it)."""
    best, best_score = 0, -1
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        s = score([_clean_header(c) for c in row])
        if s > best_score:
            best, best_score = i, s
    if best_score <= 0:
        # no known names anywhere: the first row with as many cells as the widest row
        width = max((sum(1 for c in r if str(c or "").strip()) for r in rows[:HEADER_SCAN_ROWS]), default=0)
        for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
            if sum(1 for c in row if str(c or "").strip()) == width:
                return i
    return best


def open_source(path: Path, tmpdir: Path, *, encoding: str | None, score) -> Source:
    """Prepare ``path`` for DuckDB; ``score(header_names) -> int`` finds the header row."""
    if not path.is_file():
        raise UsageError(_('{path}: no such file').format(path=path))
    fmt = sniff_format(path)
    if fmt in ("xlsx", "xls"):
        return _open_workbook(path, fmt, tmpdir, score)
    if fmt == "parquet":
        import duckdb

        con = duckdb.connect()
        try:
            cols = [d[0] for d in con.execute(f"SELECT * FROM read_parquet('{_q(path)}') LIMIT 0").description]
        finally:
            con.close()
        return Source(path, "parquet", None, path, 0, ",", [_clean_header(c) for c in cols])
    enc = normalise_encoding(encoding) if encoding else detect_encoding(path)
    if encoding:
        _check_forced(path, enc)
    read_path = path
    if enc not in ("utf-8", "utf-8-sig"):
        read_path = transcode(path, enc, tmpdir / (path.stem + ".utf8.csv"))
    head = _read_head_lines(read_path, "utf-8-sig", HEADER_SCAN_ROWS + 1)
    if not head:
        raise DataError(_('{path}: the file is empty').format(path=path))
    delim = _pick_delimiter(max(head[:HEADER_SCAN_ROWS], key=lambda ln: len(ln)))
    rows = _parse_head(head, delim)
    header_row = find_header(rows, score)
    # a header line that ends with the delimiter gives an unnamed last column (Youzan customers)
    columns = [_clean_header(c) for c in rows[header_row]] if rows else []
    return Source(path, "csv", enc, read_path, header_row, delim, columns)


def _open_workbook(path: Path, fmt: str, tmpdir: Path, score) -> Source:
    import polars as pl

    try:
        # every row from the sheet's first, empty ones too: frame row i is sheet row i + 1 (reject lines)
        df = pl.read_excel(path, has_header=False, read_options={"dtypes": "string", "skip_rows": 0},
                           drop_empty_rows=False)
    except Exception as exc:  # calamine's errors are already readable
        raise DataError(_('{path}: cannot read the workbook: {exc}').format(path=path, exc=exc),
                        reason=f"{path.name}: cannot read the workbook ({type(exc).__name__})") from None
    if df.width == 0 or df.height == 0:
        raise DataError(_('{path}: the first sheet is empty').format(path=path))
    empty = df.select(pl.all_horizontal(pl.all().is_null()).alias("e")).to_series()
    data_rows = (~empty).arg_true()  # frame indices of the non-empty rows
    head = [list(df.row(int(i))) for i in data_rows[:HEADER_SCAN_ROWS]]
    if not head:
        raise DataError(_('{path}: the first sheet is empty').format(path=path))
    header_row = int(data_rows[find_header(head, score)])
    names = _dedupe([_clean_header(c) for c in df.row(header_row)])
    body = df.slice(header_row + 1)
    below = empty.slice(header_row + 1)
    blank = [header_row + 2 + int(i) for i in below.arg_true()]  # sheet rows (1-based) the loader skips
    body = body.filter(~below)
    body.columns = names
    target = tmpdir / (path.stem + ".xlsx.parquet")
    body.write_parquet(target)
    return Source(path, fmt if fmt == "xlsx" else "xls", None, target, header_row, ",", names, blank_lines=blank)


def _dedupe(names: list[str]) -> list[str]:
    """Name blank columns and make duplicates unique the way DuckDB does (``x``, ``x_1``)."""
    seen: dict[str, int] = {}
    out = []
    for i, n in enumerate(names):
        n = n or f"column{i}"
        if n in seen:
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        else:
            seen[n] = 0
        out.append(n)
    return out


def _q(path: Path) -> str:
    """``path`` as a DuckDB string literal naming exactly that file.

    DuckDB's readers expand globs in every path (``m[1].csv`` would read ``m1.csv``), so the glob
    characters are bracketed (``[[]``, ``[*]``, ``[?]``) and quotes doubled.
    """
    text = "".join(f"[{c}]" if c in "[*?" else c for c in str(path))
    return text.replace("'", "''")
