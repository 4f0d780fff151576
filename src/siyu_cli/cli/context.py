"""Shared CLI state: the global options and the lazily resolved workspace settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings


@dataclass
class AppState:
    workspace: str | None = None
    overrides: dict[str, str | None] = field(default_factory=dict)
    quiet: bool = False
    verbose: bool = False
    _settings: "Settings | None" = None

    def settings(self) -> "Settings":
        if self._settings is None:
            from siyu_cli.config import load_settings

            self._settings = load_settings(self.workspace, overrides=self.overrides)
            from siyu_cli import output

            output.set_timezone(self._settings.timezone)  # instants in tables are the workspace's wall clock
        return self._settings


def state(ctx: typer.Context) -> AppState:
    """The AppState of the root command (created if a sub-app is invoked directly)."""
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def settings(ctx: typer.Context) -> "Settings":
    return state(ctx).settings()
