"""`siyu report` commands (being built; see the open issue for this area)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Register this module's commands on the root app."""
