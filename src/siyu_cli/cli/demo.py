"""``siyu demo`` (the whole loop on generated data) and ``siyu demo data DIR`` (just the files)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

import typer

from siyu_cli.cli.options import TABLE_CSV_JSON, format_option, default_command_group

from siyu_cli.i18n import N_, _

from siyu_cli.output import Format

demo_app = default_command_group(N_("Run the whole loop on a fictional coffee chain (山茶咖啡): generate → load → segment → plan → push → report."))


def register(app: typer.Typer) -> None:
    """Register this module's commands on the root app."""
    app.add_typer(demo_app, name="demo")


def _parse_today(value: Optional[str]) -> date | None:
    from siyu_cli.errors import UsageError

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(_('--today must be a date like 2026-11-23, not {value!r}').format(value=value)) from None


@demo_app.callback()
def demo(
    ctx: typer.Context,
    directory: Path = typer.Option(Path("siyu-demo"), "--dir", "-d", help=N_("Folder for the throwaway demo workspace.")),
    members: int = typer.Option(2000, "--members", "-n", min=1, help=N_("How many people the brand has.")),
    seed: int = typer.Option(7, "--seed", help=N_("Random seed: the same seed gives the same data.")),
    today: Optional[str] = typer.Option(None, "--today", help=N_("Pretend today is this date (YYYY-MM-DD); default: today in Asia/Shanghai.")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table (for people) or json (for programs).")),
    force: bool = typer.Option(False, "--force", help=N_("Rebuild an existing demo folder.")),
) -> None:
    """Build a demo workspace and run the whole loop; exits non-zero naming the step that failed."""
    if ctx.invoked_subcommand is not None:
        return
    from siyu_cli import output
    from siyu_cli.demo.runner import DemoStepError, run_demo
    from siyu_cli.errors import ExitCode, UsageError

    if fmt is Format.csv:
        raise UsageError(_('siyu demo prints --format table or json'))
    if fmt is Format.table:
        console = None if output.is_quiet() else output.stdout_console()
    else:
        console = None if output.is_quiet() else output.stderr_console()
    result = run_demo(directory, members=members, seed=seed, today=_parse_today(today), console=console, force=force)
    if fmt is Format.json:
        output.emit_json(result.to_dict())
    failed = result.failed
    if failed is not None:
        raise DemoStepError(_("demo step '{id}' failed: {error}").format(id=failed.id, error=failed.error),
                            exit_code=failed.exit_code or ExitCode.FAILURE)


@demo_app.command("data")
def data(
    directory: Path = typer.Argument(..., help=N_("Folder to write the export files into (created if missing).")),
    members: int = typer.Option(2000, "--members", "-n", min=1, help=N_("How many people the brand has.")),
    seed: int = typer.Option(7, "--seed", help=N_("Random seed: the same seed gives byte-identical files.")),
    today: Optional[str] = typer.Option(None, "--today", help=N_("Pretend today is this date (YYYY-MM-DD).")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json.")),
) -> None:
    """Only write the demo exports (Youzan, Tmall, Shopify, WeCom) and demo-manifest.json into DIR."""
    from siyu_cli import output
    from siyu_cli.demo.generator import generate_data

    from siyu_cli import progress

    with progress.bar("generating the demo exports") as tick:
        data = generate_data(directory, members=members, seed=seed, today=_parse_today(today), progress=tick)
    bad: dict[str, int] = {}
    for b in data.bad_rows:
        bad[b.file] = bad.get(b.file, 0) + 1
    rows = [(f.path.name, f.kind, f.preset, f.encoding, f.rows, bad.get(f.path.name, 0)) for f in data.files]
    output.emit_rows(["file", "kind", "preset", "encoding", "rows", "bad_rows"], rows, fmt,
                     title=_('山茶咖啡 demo exports in {directory} (seed {seed}, today {today})').format(directory=directory, seed=seed, today=data.today))
    if fmt is Format.table:
        output.info(_('load them with: siyu load members|orders|groups FILE...  (ground truth in {value})').format(value=Path(directory) / 'demo-manifest.json'))
