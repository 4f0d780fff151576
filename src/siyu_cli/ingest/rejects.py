"""The rejects stage of a load (every row that cannot be stored, with its line and reason) and reading
the rejects table back (``siyu rejects``).

:func:`collect` finds the rejected rows of ``siyu_stg`` (summary rows, values that do not read as their
type, missing keys, ids in scientific notation) and the lines DuckDB's reader or the line scan rejected,
writes them to ``rejects`` with their physical line numbers, and leaves ``siyu_good``: the rows to merge.
"""

from __future__ import annotations

from pathlib import Path

from siyu_cli import clock
from siyu_cli.i18n import N_, _
from siyu_cli.ingest.presets import FIELD_TYPES
from siyu_cli.ingest.readers import LineScan, Source, physical_lines
from siyu_cli.ingest.staging import KEY_FIELDS, MANGLE_FIELDS, STAGED, lit, raw_rows, reader_lines
from siyu_cli.ingest.values import CLEANERS

REJECT_COLUMNS = ["batch_id", "file", "line", "column", "reason", "message", "raw"]

#: How a stored reject reads for people. The rejects table keeps a stable reason code and the English
#: message (what csv/json give, unchanged for stored data); a table translates the message on display:
#: (reason code, the English message as :func:`_checks` and DuckDB's reader write it, msgid with its fields).
#: A message no pattern matches (another DuckDB error) is shown as it was stored.
READABLE = (
    ("SUMMARY_ROW", r"a total/summary row, not data", N_("a total/summary row, not data")),
    ("BAD_DATE", r"cannot read (?P<value>.*) as a date/time", N_("cannot read {value} as a date/time")),
    ("BAD_AMOUNT", r"cannot read (?P<value>.*) as an amount", N_("cannot read {value} as an amount")),
    ("BAD_NUMBER", r"cannot read (?P<value>.*) as a number", N_("cannot read {value} as a number")),
    ("MISSING_KEY", r"no (?P<key>order_id|group_id|member id)", N_("no {key}")),
    ("EXCEL_MANGLED", r"(?P<field>\S+) (?P<value>.*) is in scientific notation \(Excel lost its digits; re-export the "
                      r"column as text\)",
     N_("{field} {value} is in scientific notation (Excel lost its digits; re-export the column as text)")),
    ("CONTROL_CHARACTER", r"(?P<field>\S+) contains a control character \(U\+001F\)",
     N_("{field} contains a control character (U+001F)")),
    ("TOO_MANY_COLUMNS", r"Expected Number of Columns: (?P<expected>\d+) Found: (?P<found>\d+)",
     N_("too many columns: expected {expected}, found {found}")),
    ("MISSING_COLUMNS", r"Expected Number of Columns: (?P<expected>\d+) Found: (?P<found>\d+)",
     N_("too few columns: expected {expected}, found {found}")),
)


def rejected_line_count(con) -> int:
    """How many distinct (file, line) the loads rejected."""
    return con.execute("SELECT count(DISTINCT (file, line)) FROM rejects").fetchone()[0]


def readable_message(reason: str | None, message: str | None) -> str | None:
    """A stored reject's message in the reader's language (see :data:`READABLE`)."""
    import re

    for code, pattern, msgid in READABLE:
        if reason == code and message is not None:
            m = re.fullmatch(pattern, message, re.S)
            if m:
                return _(msgid).format(**m.groupdict())
    return message


def readable_rows(columns: list[str], rows) -> list[list]:
    """Reject rows (with ``reason`` and ``message`` columns) whose message reads in the reader's language."""
    at, msg = columns.index("reason"), columns.index("message")
    return [[readable_message(r[at], r[msg]) if i == msg else v for i, v in enumerate(r)] for r in rows]
INSERT = 'INSERT INTO rejects (batch_id, file, line, "column", reason, message, raw, created_at)'


def list_rejects(settings, *, batch: str | None = None, file: str | None = None, all_batches: bool = False,
                 limit: int | None = None) -> tuple[list[str], list[tuple]]:
    """Rejected rows, in file/line order.

    By default only the latest load of each file counts (re-loading a fixed file
    hides its old rejects); ``all_batches`` shows history, ``batch`` one batch.
    """
    from siyu_cli.store import open_store

    where, params = [], []
    if batch:
        where.append("r.batch_id = ?")
        params.append(batch)
    elif not all_batches:
        where.append("""r.batch_id IN (SELECT batch_id FROM load_log WHERE status <> 'skipped'
                        QUALIFY row_number() OVER (PARTITION BY kind, file ORDER BY started_at DESC) = 1)""")
    if file:
        where.append("r.file LIKE ?")
        params.append(f"%{file}%")
    sql = (
        'SELECT r.batch_id, r.file, r.line, r."column", r.reason, r.message, r.raw FROM rejects r '
        + (f"WHERE {' AND '.join(where)} " if where else "")
        + "ORDER BY r.created_at, r.file, r.line, r.\"column\""
        + (f" LIMIT {int(limit)}" if limit else "")
    )
    with open_store(settings, read_only=True) as con:
        rows = con.execute(sql, params).fetchall()
    return REJECT_COLUMNS, rows


def collect(con, fr, src: Source, kind: str, mapping: dict[str, str], fields: list[str], fills: list[str],
            scan: LineScan = LineScan(0, True)) -> None:
    """Collect reader and value rejects into siyu_err / the rejects table; make siyu_good.

    Sets ``fr.read`` and ``fr.rejected``. Every reject gets its physical line (header = its own line).
    While each record is one line (``scan.aligned``, the usual case) that is arithmetic in SQL: a row's
    position plus the blank and reader-rejected lines before it, and DuckDB's own reject lines are right
    as they are. Only when a quoted value spans lines *and* there are rejects does one streaming pass
    over the file (:func:`readers.physical_lines`) find the lines.
    """
    ragged = scan.ragged
    con.execute(f"CREATE TEMP TABLE siyu_err AS {' UNION ALL '.join(_checks(kind, mapping, fields))}")
    skipped = reader_lines(con, src)
    n_raw = con.execute(f"SELECT count(*) FROM {STAGED}").fetchone()[0]
    fr.read = n_raw + len(skipped)
    # rows DuckDB read although they have too many fields (empty extras dropped; see scan_ragged): a
    # shifted row, so its value rejects would be misleading; one TOO_MANY_COLUMNS reject with the raw line
    if ragged:
        con.execute("DELETE FROM siyu_err WHERE __row IN (SELECT __row FROM siyu_rag)")
    bad_rows = con.execute("SELECT count(DISTINCT __row) FROM siyu_err").fetchone()[0]
    fr.rejected = bad_rows + len(skipped) + ragged
    stamp = [fr.batch_id, str(fr.path)]
    now = clock.now()
    if ragged:
        con.execute(f"""{INSERT}
               SELECT ?, ?, line, NULL, 'TOO_MANY_COLUMNS',
                      'Expected Number of Columns: ' || ? || ' Found: ' || fields, raw, ?
               FROM siyu_rag""", [*stamp, len(src.columns), now])
    if skipped:
        _reader_rejects(con, scan, stamp, now)
    if bad_rows:
        _row_rejects(con, src, scan, skipped, n_raw, stamp, now)
    extra = "".join(", " + f for f in fills)
    if bad_rows or ragged:
        rag = " UNION SELECT __row FROM siyu_rag" if ragged else ""  # siyu_rag exists for CSV files only
        con.execute(f"CREATE TEMP TABLE siyu_good AS SELECT *{extra} FROM siyu_stg "
                    f"ANTI JOIN (SELECT __row FROM siyu_err{rag}) USING (__row)")
    else:
        con.execute(f"CREATE TEMP VIEW siyu_good AS SELECT *{extra} FROM siyu_stg")
    # the raw table (made only for rejected rows) is no longer needed: free its memory before merging
    con.execute("DROP TABLE IF EXISTS temp.siyu_raw")


def _checks(kind: str, mapping: dict[str, str], fields: list[str]) -> list[str]:
    """One SELECT (__row, col, reason, msg, val) over siyu_stg per way a row can be rejected."""
    checks = ["SELECT __row, NULL AS col, 'SUMMARY_ROW' AS reason, 'a total/summary row, not data' AS msg, "
              "NULL AS val FROM siyu_stg WHERE __summary"]
    for fld in fields:
        col = mapping.get(fld)
        why = CLEANERS[FIELD_TYPES.get(fld, "text")][1]
        if col is None or not why:
            continue
        what = {"BAD_DATE": "a date/time", "BAD_AMOUNT": "an amount", "BAD_NUMBER": "a number"}[why]
        checks.append(
            f"SELECT __row, {lit(col)}, '{why}', 'cannot read ' || __r_{fld} || ' as {what}', __r_{fld} "
            f"FROM siyu_stg WHERE NOT __summary AND __r_{fld} IS NOT NULL AND {fld} IS NULL"
        )
    key = {"orders": "order_id", "groups": "group_id"}.get(kind)
    if key:
        checks.append(
            f"SELECT __row, {lit(mapping[key])}, 'MISSING_KEY', 'no {key}', NULL FROM siyu_stg "
            f"WHERE NOT __summary AND {key} IS NULL"
        )
    for fld in MANGLE_FIELDS:
        if fld in mapping:
            checks.append(
                f"SELECT __row, {lit(mapping[fld])}, 'EXCEL_MANGLED', '{fld} ' || __xm_{fld} || ' is in scientific "
                f"notation (Excel lost its digits; re-export the column as text)', __xm_{fld} FROM siyu_stg "
                f"WHERE NOT __summary AND __xm_{fld} IS NOT NULL"
            )
    for fld in KEY_FIELDS:
        if fld in mapping and fld in fields:  # U+001F joins a buyer's ids into one key: inside an id it is ambiguous
            checks.append(
                f"SELECT __row, {lit(mapping[fld])}, 'CONTROL_CHARACTER', '{fld} contains a control character "
                f"(U+001F)', NULL FROM siyu_stg WHERE NOT __summary AND contains({fld}, chr(31))"
            )
    if kind == "groups" and "member_ref" in mapping:
        checks.append(
            f"SELECT __row, {lit(mapping['member_ref'])}, 'MISSING_KEY', 'no member id', NULL FROM siyu_stg "
            "WHERE NOT __summary AND member_ref IS NULL AND group_id IS NOT NULL"
        )
    return checks


def _reader_rejects(con, scan: LineScan, stamp: list, now) -> None:
    """The lines DuckDB's CSV reader rejected, as it reported them."""
    # DuckDB's csv_line starts with the blank lines before the rejected line: not part of it
    umap = scan.reader_map
    if umap:
        con.execute("CREATE OR REPLACE TEMP TABLE siyu_unitline AS SELECT unnest(?::BIGINT[]) AS k, "
                    "unnest(?::BIGINT[]) AS line", [list(umap), list(umap.values())])
    line = "coalesce(u.line, e.line)" if umap else "e.line"
    join = "LEFT JOIN siyu_unitline u ON u.k = e.line" if umap else ""
    con.execute(
        f"""{INSERT}
           SELECT ?, ?, {line}, e.column_name, replace(CAST(e.error_type AS VARCHAR), ' ', '_'), e.error_message,
                  ltrim(e.csv_line, chr(13) || chr(10)), ?
           FROM siyu_reader_errors e {join}""",
        [*stamp, now],
    )


def _row_rejects(con, src: Source, scan: LineScan, skipped: list[int], n_raw: int, stamp: list, now) -> None:
    """The rows of siyu_err, each with its physical line and its raw text (from :func:`staging.raw_rows`)."""
    base = raw_rows(con, src, Path(src.path))
    at_row = f"e.__row + {base}" if base else "e.__row"  # siyu_raw's rowid of a staged row
    raw = f"array_to_string(list_transform([*COLUMNS(r.*)], lambda v: coalesce(v, '')), {lit(src.delimiter)})"
    found = None  # ({row: line}, {reader line: line}) when records span lines
    if not scan.aligned and src.format == "csv":
        rows = [r[0] for r in con.execute("SELECT DISTINCT __row FROM siyu_err ORDER BY 1").fetchall()]
        found = physical_lines(src, rows, skipped, n_raw)
    if found:
        con.execute("CREATE OR REPLACE TEMP TABLE siyu_rowline AS SELECT unnest(?::BIGINT[]) AS __row, "
                    "unnest(?::BIGINT[]) AS line", [list(found[0]), list(found[0].values())])
        con.execute(
            f"""{INSERT}
                SELECT ?, ?, l.line, e.col, e.reason, e.msg, {raw}, ?
                FROM siyu_err e JOIN siyu_rowline l USING (__row) JOIN siyu_raw r ON r.rowid = {at_row}""",
            [*stamp, now],
        )
        return
    # a row's line = header line + its position + the lines DuckDB skipped (blank) or rejected
    # before it: for the k-th skipped line s, rows from position s - k on are k lines further
    header_line = src.header_row + 1  # 1-based line/row of the header
    # CSV: blank lines from the line scan; workbooks: the empty sheet rows the reader dropped
    blank = "SELECT line FROM siyu_blank UNION ALL " if src.format == "csv" else ""
    before = skipped if src.format == "csv" else [*skipped, *src.blank_lines]
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE siyu_rl AS
        SELECT adj, max(k) AS k FROM (
            SELECT line - row_number() OVER (ORDER BY line) AS adj, row_number() OVER (ORDER BY line) AS k
            FROM ({blank}SELECT unnest(?::BIGINT[]) AS line))
        GROUP BY adj""", [before])
    con.execute(
        f"""{INSERT}
            WITH e AS (SELECT e.*, {header_line} + e.__row + 1 AS base FROM siyu_err e)
            SELECT ?, ?, e.base + coalesce(rl.k, 0), e.col, e.reason, e.msg, {raw}, ?
            FROM e ASOF LEFT JOIN siyu_rl rl ON e.base > rl.adj
            JOIN siyu_raw r ON r.rowid = {at_row}""",
        [*stamp, now],
    )
    con.execute("DROP TABLE siyu_rl")
