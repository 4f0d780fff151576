"""Loading back-office exports into the store (``siyu load``, ``siyu rejects``).

Public API (docs/load.md, ARCHITECTURE.md)::

    load_files(settings, kind, paths, *, preset="auto", encoding=None, source=None,
               max_rejects=None, force=False, progress=False, dry_run=False) -> LoadReport
    expand_paths(patterns) -> list[Path]
    classify_file(settings, path) -> "members" | "orders" | "groups" | None   (by header, for the inbox)
    show_mapping(settings, kind, paths, *, preset="auto", encoding=None) -> list[dict]
    list_rejects(settings, *, batch=None, all_batches=False, limit=None) -> (columns, rows)
"""

from __future__ import annotations

from siyu_cli.ingest.loader import (
    DEFAULT_MAX_REJECTS,
    FileReport,
    LoadReport,
    check_exceeded,
    classify_file,
    expand_paths,
    load_files,
    show_mapping,
)
from siyu_cli.ingest.rejects import list_rejects

__all__ = [
    "DEFAULT_MAX_REJECTS",
    "FileReport",
    "LoadReport",
    "check_exceeded",
    "classify_file",
    "expand_paths",
    "list_rejects",
    "load_files",
    "show_mapping",
]
