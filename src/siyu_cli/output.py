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
from typing import Any, Iterable, Sequence

from siyu_cli.errors import UsageError


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


_state = {"quiet": False, "verbose": False}


def configure(*, quiet: bool = False, verbose: bool = False) -> None:
    _state["quiet"] = quiet
    _state["verbose"] = verbose


def is_quiet() -> bool:
    return _state["quiet"]


def _no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


def stdout_console():
    from rich.console import Console

    return Console(no_color=_no_color(), soft_wrap=False)


def stderr_console():
    from rich.console import Console

    return Console(stderr=True, no_color=_no_color())


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
    from siyu_cli.secrets import redact

    sys.stderr.write(f"error: {redact(message)}\n")
    sys.stderr.flush()


# ---------------------------------------------------------------- personal data

_PHONE = re.compile(r"^(\+?86)?(1\d{2})(\d{4})(\d{4})$")


def mask_phone(phone: str | None) -> str | None:
    """``13812341234`` → ``138****1234``; already-masked or odd values are kept."""
    if not phone:
        return phone
    m = _PHONE.match(phone)
    if not m:
        return phone if "*" in phone else (phone[:3] + "****" if len(phone) > 4 else "****")
    return f"{m.group(2)}****{m.group(4)}"


_PHONE_IN_TEXT = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?(1[3-9][0-9])([0-9]{4})([0-9]{4})(?![0-9])")


def mask_phones_in_text(text: str) -> str:
    """Mask every mainland mobile number inside free text (raw reject lines, SQL cells)."""
    return _PHONE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def mask_rows(rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Rows with phone numbers masked in every text cell (personal data stays out of output by default)."""
    return [tuple(mask_phones_in_text(v) if isinstance(v, str) else v for v in row) for row in rows]


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
    """Print (or write to ``output``) a result set as a Rich table, CSV or JSON records."""
    fmt = Format(fmt)
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
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        Path(output).write_text(text, encoding="utf-8")
