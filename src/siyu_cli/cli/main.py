"""The ``siyu`` root command: global options, error handling, command registration."""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from typing import Optional

import typer
from typer.core import TyperGroup

from siyu_cli import __version__
from siyu_cli.cli.context import AppState
from siyu_cli.errors import ExitCode, SiyuError

#: CLI modules, each exposing ``register(app)``; one per command group.
COMMAND_MODULES = (
    "workspace",  # init, config
    "load",  # load, rejects
    "analyst",  # sql, tables
    "demo",  # demo, demo data
    "segment",  # segment …
    "plan",  # plan …
    "push",  # push …, optout …
    "sandbox",  # sandbox serve
    "report",  # report
    "run",  # run, runs
    "dims",  # stores …, staff …
)


class SiyuGroup(TyperGroup):
    """Turns user errors into one line and an exit code; redacts secrets from crashes."""

    def invoke(self, ctx):  # type: ignore[override]
        from siyu_cli.output import error_line

        try:
            return super().invoke(ctx)
        except SiyuError as exc:
            error_line(exc.message)
            if exc.hint:
                sys.stderr.write(f"hint: {exc.hint}\n")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except BrokenPipeError:
            raise typer.Exit(ExitCode.OK) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # a bug: show it, but never a secret
            if type(exc).__module__.startswith(("click", "typer")):
                raise
            from siyu_cli.secrets import redact

            sys.stderr.write(redact("".join(traceback.format_exception(exc))))
            error_line(f"internal error: {type(exc).__name__}: {exc} (this is a bug in siyu; please report it)")
            raise typer.Exit(ExitCode.FAILURE) from None


app = typer.Typer(
    name="siyu",
    cls=SiyuGroup,
    help="siyu (私域) — private-domain operations: load exports, RFM segments, KPI reports, weekly plans, WeCom pushes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"siyu {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    workspace: Optional[str] = typer.Option(
        None, "--workspace", "-w", help="Workspace folder (default: $SIYU_WORKSPACE, else the nearest siyu.toml upward)."
    ),
    timezone: Optional[str] = typer.Option(None, "--timezone", help="Override workspace.timezone (e.g. Asia/Shanghai)."),
    language: Optional[str] = typer.Option(None, "--lang", help="Label language: zh or en."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only data and errors; no progress or chatter."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging on stderr (secrets are never shown)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    from siyu_cli import output

    ctx.obj = AppState(
        workspace=workspace,
        overrides={"timezone": timezone, "language": language},
        quiet=quiet,
        verbose=verbose,
    )
    output.configure(quiet=quiet, verbose=verbose)
    if verbose:
        from siyu_cli.secrets import RedactingFilter

        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(RedactingFilter())
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.basicConfig(level=logging.DEBUG, handlers=[handler], force=True)
        for noisy in ("httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


for _name in COMMAND_MODULES:
    importlib.import_module(f"siyu_cli.cli.{_name}").register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
