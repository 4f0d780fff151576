"""``siyu init``, ``siyu config`` and ``siyu doctor``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from siyu_cli.cli.options import TABLE_CSV_JSON, format_option

from siyu_cli.i18n import N_, _

from siyu_cli.cli.context import settings, state
from siyu_cli.output import Format, emit_rows, info


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("config")(show_config)
    app.command("doctor")(doctor)


def init(
    ctx: typer.Context,
    directory: Path = typer.Argument(Path("."), help=N_("Folder for the new workspace (created if missing).")),
    force: bool = typer.Option(False, "--force", help=N_("Rewrite siyu.toml and the example playbooks if present.")),
) -> None:
    """Create a workspace: siyu.toml, inbox/, reports/ and the example playbooks."""
    from siyu_cli.workspace import init_workspace

    overrides = state(ctx).overrides
    result = init_workspace(
        directory,
        timezone=overrides.get("timezone") or "Asia/Shanghai",
        language=overrides.get("language") or "zh",
        force=force,
    )
    playbooks = sum(1 for p in result.playbooks if p.suffix in (".yaml", ".yml") and p.parent.name == "playbooks")
    info(_('created workspace {root} ({count} example playbooks)').format(root=result.root, count=playbooks))
    info(_('next: cd {root} && siyu load orders FILE   (or `siyu demo` for a tour)').format(root=result.root))


def show_config(
    ctx: typer.Context,
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json.")),
) -> None:
    """Show the resolved workspace settings and where each value came from."""
    s = settings(ctx)
    rows = [
        ("root", str(s.root), "workspace"),
        ("store", str(s.store), s.sources["store"]),
        ("timezone", s.timezone, s.sources["timezone"]),
        ("currency", s.currency, s.sources["currency"]),
        ("language", s.language, s.sources["language"]),
    ]
    emit_rows(["key", "value", "source"], rows, fmt, title=_('siyu config'))


def doctor(
    ctx: typer.Context,
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table or json.")),
) -> None:
    """Check the workspace: config, permissions, free space, locks, store, migrations, a full read of the store.

    Exits non-zero when a check fails (78 config or damaged store, 75 disk full); says how to recover.
    """
    from siyu_cli.doctor import diagnose, print_checks
    from siyu_cli.output import emit_json

    diag = diagnose(state(ctx).workspace)
    if fmt is Format.json:
        emit_json(diag.to_dict())
    elif fmt is Format.csv:
        emit_rows(["check", "status", "detail", "fix"], [(c.id, c.status, c.detail, c.fix) for c in diag.checks], fmt)
    else:
        print_checks(diag)
    if not diag.ok:
        raise typer.Exit(diag.exit_code)
