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
    table = "table"
    csv = "csv"
    json = "json"


_state = {"quiet": False, "verbose": False, "csv_guard": True, "unmask": False}


def configure(*, quiet: bool = False, verbose: bool = False, csv_guard: bool = True) -> None:
    _state["quiet"] = quiet
    _state["verbose"] = verbose
    _state["csv_guard"] = csv_guard
    _state["unmask"] = False


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
    """Progress bars only for a person watching: stderr on a TTY, not --quiet, not NO_COLOR."""
    return not _state["quiet"] and sys.stderr.isatty() and not _no_color() and os.environ.get("TERM") != "dumb"


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


def rows_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None):
    """A Rich table of data rows; every header and cell goes through :func:`rich_text`."""
    from rich.table import Table

    table = Table(title=rich_text(title) if title else None, show_lines=False, header_style="bold")
    for col in columns:
        table.add_column(rich_text(col), overflow="fold")
    for row in rows:
        table.add_row(*[rich_text(_plain(v)) for v in row])
    return table


def emit_rows(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fmt: Format | str = Format.table,
    *,
    title: str | None = None,
    bom: bool = False,
    output: Path | None = None,
) -> None:
    """Print (or write to ``output``) a result set as a Rich table, CSV or JSON records.

    Phones and emails are masked in every cell (nested values too) unless the command was given
    ``--unmask`` (:func:`unmask`).
    """
    emit_batches(columns, [rows], fmt, title=title, bom=bom, output=output)


def emit_batches(
    columns: Sequence[str],
    batches: Iterable[Sequence[Sequence[Any]]],
    fmt: Format | str = Format.table,
    *,
    title: str | None = None,
    bom: bool = False,
    output: Path | None = None,
) -> None:
    """Like :func:`emit_rows` for rows arriving in batches: csv and json are written as they come.

    Each batch is masked (unless ``--unmask``) as it passes, so streaming keeps memory bounded.
    """
    fmt = Format(fmt)
    if not is_unmasked():
        batches = (mask_rows(rows) for rows in batches)
    if fmt is Format.table:
        if output is not None:
            raise UsageError(_('--output needs --format csv or json'))
        stdout_console().print(rows_table(columns, [row for rows in batches for row in rows], title=title))
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
