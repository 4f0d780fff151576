"""Add settings to a workspace's siyu.toml the way a person edits it: keys for a table `siyu init` already
wrote (e.g. ``[segment]``, which carries the snapshot retention default) go into that table, since TOML
refuses a table declared twice; other tables are appended."""

from __future__ import annotations

import re
from pathlib import Path


_HEADER = re.compile(r"^\s*\[[^\]]+\]\s*(#.*)?$")


def _key(line: str) -> str | None:
    m = re.match(r"^\s*([A-Za-z0-9_\-\"\.]+)\s*=", line)
    return m.group(1) if m else None


def add_config(root_or_file: Path, text: str) -> Path:
    """Merge ``text`` (TOML tables with their keys) into ``root_or_file`` (a workspace folder or its siyu.toml)."""
    path = Path(root_or_file)
    path = path / "siyu.toml" if path.is_dir() else path
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[tuple[str, list[str]]] = []
    for line in text.strip().splitlines():
        if _HEADER.match(line):
            blocks.append((line.strip(), []))
        elif blocks:
            blocks[-1][1].append(line)
        else:
            raise ValueError("add_config: text must start with a [table] header")
    for header, body in blocks:
        at = next((i for i, line in enumerate(lines) if line.split("#")[0].strip() == header), None)
        if at is None:
            lines += ["", header, *body]
            continue
        end = next((i for i in range(at + 1, len(lines)) if _HEADER.match(lines[i])), len(lines))
        for new in body:  # a key the table has is replaced (TOML refuses a key set twice), others are added
            key = _key(new)
            old = next((i for i in range(at + 1, end) if key and _key(lines[i]) == key), None)
            if old is None:
                lines.insert(at + 1, new)
                end += 1
            else:
                lines[old] = new
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
