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
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Sequence

from siyu_cli.errors import UsageError


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


_state = {"quiet": False, "verbose": False, "unmask": False}


def configure(*, quiet: bool = False, verbose: bool = False) -> None:
    _state["quiet"] = quiet
    _state["verbose"] = verbose
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


def info(message: str) -> None:
    """A message for people on stderr (suppressed by --quiet)."""
    if not _state["quiet"]:
        stderr_console().print(message, highlight=False)


def warn(message: str) -> None:
    stderr_console().print(f"[yellow]warning:[/yellow] {message}", highlight=False)


def error_line(message: str) -> None:
    """The one line a user error prints."""
    from siyu_cli.privacy import mask_text
    from siyu_cli.secrets import redact

    sys.stderr.write(f"error: {mask_text(redact(message))}\n")
    sys.stderr.flush()


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


def rows_to_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, bom: bool = False) -> str:
    buf = io.StringIO()
    if bom:
        buf.write("\ufeff")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else _plain(v) for v in row])
    return buf.getvalue()


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
    fmt = Format(fmt)
    if not is_unmasked():
        rows = mask_rows(rows)
    if fmt is Format.csv:
        text = rows_to_csv(columns, rows, bom=bom)
    elif fmt is Format.json:
        text = to_json([dict(zip(columns, row)) for row in rows]) + "\n"
    else:
        if output is not None:
            raise UsageError("--output needs --format csv or json")
        from rich.table import Table

        table = Table(title=title, show_lines=False, header_style="bold")
        for col in columns:
            table.add_column(str(col), overflow="fold")
        for row in rows:
            table.add_row(*["" if v is None else str(_plain(v)) for v in row])
        stdout_console().print(table)
        return
    write_text(text, output)


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
