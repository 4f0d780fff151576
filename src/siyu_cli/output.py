"""Output for people (Rich, on a TTY, colour only where allowed) and for programs (json/csv).

Data goes to stdout; messages, warnings and progress go to stderr. Colour and
progress appear only when stderr is a terminal and neither ``NO_COLOR`` nor
``--quiet`` says otherwise.
"""

from __future__ import annotations

import csv
import datetime as _dt
import decimal
import io
import json
import os
import re
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from siyu_cli.errors import UsageError
from siyu_cli.i18n import _

if TYPE_CHECKING:  # pragma: no cover
    from rich.text import Text


class Format(str, Enum):
    """Every output format a command can write; each command accepts its own subset (cli/options.py)."""

    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"  # segment exports
    text = "text"  # plan render
    md = "md"  # plan week / sop
    ics = "ics"  # plan week (calendar)


_state = {"quiet": False, "verbose": False, "csv_guard": True, "unmask": False, "tz": None}


def configure(*, quiet: bool = False, verbose: bool = False, csv_guard: bool = True) -> None:
    _state["quiet"] = quiet
    _state["verbose"] = verbose
    _state["csv_guard"] = csv_guard
    _state["unmask"] = False
    _state["tz"] = None  # set when the command loads its workspace (cli.context)


def is_quiet() -> bool:
    return _state["quiet"]


def _no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


def stdout_console():
    from rich.console import Console

    return Console(file=_MaskingStream("stdout"), no_color=_no_color(), soft_wrap=False)


def stderr_console():
    from rich.console import Console

    return Console(file=_MaskingStream("stderr"), stderr=True, no_color=_no_color())


def progress_enabled() -> bool:
    """Progress only for a person watching: stderr on a TTY, not --quiet, not TERM=dumb (NO_COLOR: no colour)."""
    import os

    return not is_quiet() and sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def _plain_stderr_line(message: str) -> bool:
    """Write ``message`` as one plain line when stderr is no terminal (scripts, cron, pipes); False on a TTY.

    Rich would only hard-wrap it at 80 columns there, and importing it costs ≈ 0.05 s of every command's
    start-up (issue 16: `siyu segment` through the CLI)."""
    if sys.stderr.isatty():
        return False
    _MaskingStream("stderr").write(clean_text(message) + "\n")
    return True


def info(message: str) -> None:
    """A message for people on stderr (suppressed by --quiet). Plain text: never read as markup."""
    if not _state["quiet"] and not _plain_stderr_line(message):
        stderr_console().print(rich_text(message), highlight=False)


def warn(message: str) -> None:
    if _plain_stderr_line(_("warning: {message}").format(message=message)):
        return
    from rich.text import Text

    stderr_console().print(Text.assemble((_("warning:"), "yellow"), " ", rich_text(message)), highlight=False)


def error_line(message: str) -> None:
    """The one line a user error prints."""
    from siyu_cli.privacy import mask_text
    from siyu_cli.secrets import redact

    sys.stderr.write(_("error: {message}").format(message=clean_text(mask_text(redact(message)))) + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------- terminal safety

# C0 controls except tab and newline, DEL, C1 controls (incl. ESC/CSI/OSC introducers), and the
# bidirectional overrides that make a terminal show text in a different order than it is stored.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean_text(value: str) -> str:
    """``value`` with control characters shown as escapes (``\\x1b``), so data cannot drive the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", value)


def rich_text(value: Any, style: str = "") -> "Text":
    """A Rich ``Text`` for a data value: never parsed as markup, control characters made visible.

    Every value that comes from data (names, file names, SQL cells, reasons) reaches a Rich
    console through this, so ``[/]`` in a name prints as itself instead of crashing the command.
    """
    from rich.text import Text

    return Text(clean_text("" if value is None else str(value)), style=style)


def markup_escape(value: Any) -> str:
    """A data value to interpolate into a Rich markup string: markup escaped, control characters visible."""
    from rich.markup import escape

    return escape(clean_text("" if value is None else str(value)))


# ---------------------------------------------------------------- personal data
# The masking itself lives in siyu_cli.privacy; these names stay the entry points other modules call.

def mask_phone(phone: str | None) -> str | None:
    """``13812341234`` → ``138****1234``; already-masked or odd values are kept."""
    from siyu_cli.privacy import mask_phone as _mask_phone

    return _mask_phone(phone)


def mask_phones_in_text(text: str) -> str:
    """Mask every mainland mobile number (any separator style) and email inside free text."""
    from siyu_cli.privacy import mask_text

    return mask_text(text)


def mask_rows(rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Rows with phones and emails masked in every text cell, inside lists, structs and maps too."""
    from siyu_cli.privacy import mask_rows as _mask_rows

    return _mask_rows(rows)


def unmask(flag: bool = True) -> None:
    """The user passed ``--unmask``: this command's output shows phones and emails in full."""
    _state["unmask"] = flag


def is_unmasked() -> bool:
    return bool(_state.get("unmask"))


class _MaskingStream:
    """A text stream that masks phones and emails in what is written (the sink of siyu's consoles)."""

    def __init__(self, stream_name: str):
        self._name = stream_name  # looked up on every write: tests and pipes swap sys.stdout

    @property
    def _stream(self):
        return getattr(sys, self._name)

    def write(self, text: str) -> int:
        from siyu_cli.privacy import mask_text

        return self._stream.write(text if is_unmasked() else mask_text(text))

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


# ---------------------------------------------------------------- rows

def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value) if value != value.to_integral_value() else int(value) if abs(value) < 2**53 else str(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_json(data: Any) -> str:
    return json.dumps(_plain(data), ensure_ascii=False, indent=2)


# A cell a spreadsheet would run as a formula starts with one of these (fullwidth forms too:
# CJK spreadsheet locales accept them); tab and CR can hide the formula start from a reader.
_FORMULA_START = tuple("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?%?")


def csv_cell(value: Any, *, guard: bool | None = None) -> Any:
    """A value ready for a CSV cell; text that a spreadsheet would run as a formula gets a leading ``'``.

    Numbers stay numbers: ``-5``, ``+86138…`` or ``-1.5e3`` (also as text) are left alone, only text
    like ``=HYPERLINK(…)``, ``@SUM(…)`` or ``-2+3`` is neutralised.
    """
    kind = type(value)
    if kind is int or kind is float:  # the common case, first
        return value
    if value is None:
        return ""
    if kind is not str:
        value = _plain(value)
        if not isinstance(value, str):
            return value
    guard = _state["csv_guard"] if guard is None else guard
    formula = guard and value.startswith(_FORMULA_START) and not _NUMBER.fullmatch(value)
    if "\r" in value:  # lines end with \n, so the writer would leave a bare CR unquoted and split the row
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return "'" + value if formula else value


def write_csv_rows(stream, columns: Sequence[str], batches: Iterable[Iterable[Sequence[Any]]], *, bom: bool = False) -> None:
    """Write a header and rows to a text stream as CSV, batch by batch (cells through :func:`csv_cell`)."""
    if bom:
        stream.write("\ufeff")
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([csv_cell(c) for c in columns])
    for rows in batches:
        writer.writerows([csv_cell(v) for v in row] for row in rows)


def rows_to_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = False) -> str:
    buf = io.StringIO()
    write_csv_rows(buf, columns, [rows], bom=bom)
    return buf.getvalue()


def write_json_records(stream, columns: Sequence[str], batches: Iterable[Iterable[Sequence[Any]]]) -> None:
    """Write rows as a JSON array of records, batch by batch (the same text :func:`to_json` gives)."""
    first = True
    for rows in batches:
        for row in rows:
            record = json.dumps(_plain(dict(zip(columns, row))), ensure_ascii=False, indent=2)
            stream.write(("[\n  " if first else ",\n  ") + record.replace("\n", "\n  "))
            first = False
    stream.write("[]\n" if first else "\n]\n")


#: a cell that must never be cut: numbers, amounts, percentages (right-aligned), dates and times
_NUMERIC_TEXT = re.compile(r"-?[-+]?[¥￥]?[0-9][0-9,]*(\.[0-9]+)?(%|pt)?")
_ATOMIC_TEXT = re.compile(_NUMERIC_TEXT.pattern + r"|[0-9]{4}-[0-9]{2}(-[0-9]{2})?([ T][0-9:.+]+)?|—")
_COMFORT = 40  # a text column wider than this reads as a paragraph: low-priority columns make room first
_TEXT_MIN = 10  # a folded text column is never squeezed below this many cells (or its longest header word)


def set_timezone(name: str | None) -> None:
    """The workspace's zone: instants in tables are shown as its wall-clock time."""
    _state["tz"] = name


def timezone_name() -> str | None:
    return _state.get("tz")


def display_value(value: Any) -> str:
    """A data value as a table shows it: instants in the workspace's zone, everything else as its text."""
    if isinstance(value, _dt.datetime):
        from siyu_cli.formatting import local_time

        return local_time(value, _state.get("tz"), seconds=True)
    value = _plain(value)
    return "" if value is None else str(value)


def _is_atomic(value: Any) -> bool:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float, decimal.Decimal, _dt.date, _dt.time, _dt.timedelta)):
        return True
    return isinstance(value, str) and _ATOMIC_TEXT.fullmatch(value.strip()) is not None


def _is_number(value: Any) -> bool:
    if isinstance(value, str):
        return _NUMERIC_TEXT.fullmatch(value.strip()) is not None
    return isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)


def fit_columns(columns: Sequence[str], cells: Sequence[Sequence[str]], atomic: Sequence[bool], width: int,
                *, drop: Sequence[str] = ()) -> tuple[list[int], bool]:
    """Which columns (indices) fit in ``width`` terminal cells when atomic cells are never cut, and
    whether the table must use the compact style (no borders) to fit.

    Atomic columns (numbers, dates) need their widest cell and their header; text columns can fold down
    to ``_TEXT_MIN``. The columns named in ``drop`` go first (in that order) while the table does not
    fit with text folded to ``_COMFORT`` cells;
    then the compact style is tried, and while even that does not fit, columns go from the right
    (the first column always stays).
    """
    from rich.cells import cell_len

    def minimum(i: int) -> int:  # an atomic column never wraps, its header included
        head = cell_len(str(columns[i])) if atomic[i] else max((cell_len(w) for w in str(columns[i]).split()), default=0)
        natural = max([cell_len(row[i]) for row in cells] + [head])
        return natural if atomic[i] else min(natural, max(_TEXT_MIN, head))

    def comfortable(i: int) -> int:  # unfolded, or folded to a few lines of _COMFORT cells
        widest = max([cell_len(row[i]) for row in cells] + [cell_len(str(columns[i]))])
        return widest if atomic[i] else min(widest, _COMFORT)

    keep = list(range(len(columns)))
    mins = {i: minimum(i) for i in keep}

    def needed(compact: bool, widths=mins) -> int:
        return sum(widths[i] for i in keep) + (2 * len(keep) - 2 if compact else 3 * len(keep) + 1)

    listed = [columns.index(c) for c in drop if c in columns]
    unfolded = {i: comfortable(i) for i in keep}
    while listed and needed(False, unfolded) > width:
        keep.remove(listed.pop(0))
    if needed(False) <= width:
        return keep, False
    order = listed + list(range(len(columns) - 1, 0, -1))
    while len(keep) > 1 and needed(True) > width:
        keep.remove(next(i for i in order if i in keep))
    return keep, True


def rows_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None,
               width: int | None = None, drop: Sequence[str] = (), lines: bool = False):
    """A Rich table of data rows that fits ``width`` (default: stdout's) without cutting a number.

    Every header and cell goes through :func:`rich_text`. Numbers are right-aligned and never wrap;
    text folds; when even that does not fit, low-priority columns (``drop``, then the rightmost) are
    left out and the caption says which. ``lines``: a rule between rows (for multi-line cells).
    """
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table

    rows = [list(r) for r in rows]
    cells = [[clean_text(display_value(v)) for v in r] for r in rows]
    atomic = [all(_is_atomic(r[i]) for r in rows) for i in range(len(columns))]
    numeric = [any(_is_number(r[i]) for r in rows) and atomic[i] for i in range(len(columns))]
    width = width or stdout_console().width
    keep, compact = fit_columns(columns, cells, atomic, width, drop=drop)
    hidden = [str(columns[i]) for i in range(len(columns)) if i not in keep]
    caption = None
    if hidden:
        from siyu_cli.i18n import _

        caption = rich_text(_("Columns left out to fit {width} terminal columns: {columns}. A wider terminal or "
                              "--format csv shows them.").format(width=width, columns=", ".join(hidden)), style="dim")
    style = {"box": box.SIMPLE_HEAD, "show_edge": False, "collapse_padding": True, "pad_edge": False} if compact else {}
    table = Table(title=rich_text(title) if title else None, caption=caption, show_lines=lines, header_style="bold",
                  **style)
    for i in keep:
        if atomic[i]:
            table.add_column(rich_text(columns[i]), justify="right" if numeric[i] else "left", no_wrap=True,
                             min_width=max([cell_len(r[i]) for r in cells], default=0) or None)
        else:
            table.add_column(rich_text(columns[i]), overflow="fold")
    for r in cells:
        table.add_row(*[rich_text(r[i]) for i in keep])
    return table


def emit_rows(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fmt: Format | str = Format.table,
    *,
    title: str | None = None,
    bom: bool = False,
    output: Path | None = None,
    drop: Sequence[str] = (),
) -> None:
    """Print (or write to ``output``) a result set as a Rich table, CSV or JSON records.

    Phones and emails are masked in every cell (nested values too) unless the command was given
    ``--unmask`` (:func:`unmask`).
    """
    emit_batches(columns, [rows], fmt, title=title, bom=bom, output=output, drop=drop)


def emit_batches(
    columns: Sequence[str],
    batches: Iterable[Sequence[Sequence[Any]]],
    fmt: Format | str = Format.table,
    *,
    title: str | None = None,
    bom: bool = False,
    output: Path | None = None,
    drop: Sequence[str] = (),
) -> None:
    """Like :func:`emit_rows` for rows arriving in batches: csv and json are written as they come.

    Each batch is masked (unless ``--unmask``) as it passes, so streaming keeps memory bounded.
    ``drop`` names the columns a narrow terminal may leave out first (:func:`rows_table`).
    """
    fmt = Format(fmt)
    if not is_unmasked():
        batches = (mask_rows(rows) for rows in batches)
    if fmt is Format.table:
        if output is not None:
            raise UsageError(_('--output needs --format csv or json'))
        stdout_console().print(rows_table(columns, [row for rows in batches for row in rows], title=title, drop=drop))
        return
    from siyu_cli.privacy import open_private

    with (open_private(Path(output)) if output is not None else _StdoutText()) as stream:
        if fmt is Format.csv:
            write_csv_rows(stream, columns, batches, bom=bom)
        else:
            write_json_records(stream, columns, batches)


class _StdoutText:
    """``sys.stdout`` as a context manager that flushes instead of closing."""

    def __enter__(self):
        return sys.stdout

    def __exit__(self, *exc) -> None:
        sys.stdout.flush()


def emit_json(data: Any, output: Path | None = None) -> None:
    write_text(to_json(data) + "\n", output)


def write_text(text: str, output: Path | None = None) -> None:
    """Write output for people or programs to stdout or ``output`` (owner-only), masked unless ``--unmask``."""
    if not is_unmasked():
        text = mask_phones_in_text(text)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        from siyu_cli.privacy import write_private

        write_private(Path(output), text)
