"""Pipeline events: one line per event for people, or one JSON object per line for log collectors.

Human lines go to stderr (never stdout, which stays for data); with
``--log-format json`` every event is a JSON object with ``ts``, ``level``,
``event``, ``run_id``, ``pipeline`` and the event's fields, written to stderr
or appended to ``--log-file``. Secrets are redacted from both.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from siyu_cli.privacy import mask_text
from siyu_cli.secrets import redact
from siyu_cli.i18n import _


class EventLog:
    def __init__(self, *, fmt: str = "text", file: Path | None = None, quiet: bool = False, tz: str | None = None):
        """``tz``: the workspace's zone (an IANA name); event times are its wall clock with the offset."""
        if fmt not in ("text", "json"):
            from siyu_cli.errors import UsageError

            raise UsageError(_('--log-format must be text or json, not {fmt!r}').format(fmt=fmt))
        self.fmt = fmt
        from zoneinfo import ZoneInfo

        self.tz = ZoneInfo(tz) if tz else timezone.utc
        self.quiet = quiet
        self.context: dict[str, Any] = {}
        self._file: IO[str] | None = open(file, "a", encoding="utf-8") if file else None  # noqa: SIM115
        self.events: list[dict[str, Any]] = []

    def bind(self, **context: Any) -> None:
        self.context.update(context)

    def emit(self, event: str, *, level: str = "info", message: str | None = None, console: bool = True, **fields: Any) -> None:
        """Record an event; ``console=False`` keeps it out of the human stderr lines (already said there)."""
        record = {
            "ts": datetime.now(self.tz).isoformat(timespec="milliseconds"),
            "level": level,
            "event": event,
            **self.context,
            **fields,
        }
        if message:
            record["message"] = redact(message)
        self.events.append(record)
        if self.fmt == "json":
            line = mask_text(redact(json.dumps(record, ensure_ascii=False, default=str)))
            stream = self._file or sys.stderr
            stream.write(line + "\n")
            stream.flush()
        elif self._file is not None:
            self._file.write(mask_text(redact(self._human(record))) + "\n")
            self._file.flush()
        if self.fmt == "text" and console and (not self.quiet or level == "error"):
            from siyu_cli.output import rich_text, stderr_console

            stderr_console().print(rich_text(redact(self._human(record))), highlight=False, soft_wrap=True)

    @staticmethod
    def _human(record: dict[str, Any]) -> str:
        parts = [record["ts"][11:19], record.get("pipeline", ""), record["event"]]
        if record.get("step"):
            parts.append(f"[{record['step']}]")
        if record.get("message"):
            parts.append(record["message"])
        counts = record.get("counts")
        if counts:
            parts.append(" ".join(f"{k}={v}" for k, v in counts.items() if not isinstance(v, (dict, list))))
        if record.get("seconds") is not None:
            parts.append(f"({record['seconds']:.1f}s)")
        return " ".join(str(p) for p in parts if p != "")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
