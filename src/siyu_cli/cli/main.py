"""The ``siyu`` root command: global options, error handling, command registration."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from typing import Optional

import typer
from typer.core import TyperGroup

from siyu_cli import __version__
from siyu_cli.cli.context import AppState
from siyu_cli import i18n
from siyu_cli.errors import DiskFull, ExitCode, SiyuError, StoreDamaged, explain_failure, is_interrupt
from siyu_cli.i18n import N_, _

#: CLI modules, each exposing ``register(app)``; one per command group.
COMMAND_MODULES = (
    "workspace",  # init, config
    "load",  # load, rejects
    "analyst",  # sql, tables
    "demo",  # demo, demo data
    "segment",  # segment …
    "clv",  # clv, clv show
    "plan",  # plan …
    "push",  # push …, optout …
    "sandbox",  # sandbox serve
    "report",  # report
    "run",  # run, runs
    "privacy",  # forget
    "sync",  # sync wecom, tags sync
    "dims",  # stores …, staff …
    "export",  # export lake
    "members",  # members merge|split|why|conflicts
)


class LightGroup(TyperGroup):
    """A command group whose own options and --help are processed without Typer's pydantic coercion."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _plain_text_options(self.params)

    def get_help_option(self, ctx):  # type: ignore[override]
        opt = super().get_help_option(ctx)
        _plain_text_options([opt] if opt is not None else [])
        return opt


class SiyuGroup(LightGroup):
    """Turns user errors into one line and an exit code; redacts secrets from crashes."""

    def main(self, args=None, *a, **kw):  # type: ignore[override]
        """Choose the language from the command line before any help or error is rendered."""
        argv = sys.argv[1:] if args is None else list(args)
        i18n.activate(i18n.choose_language(argv))
        i18n.install_click_translations()
        i18n.translate_command_tree(self)
        return super().main(args, *a, **kw)

    def invoke(self, ctx):  # type: ignore[override]
        from siyu_cli.output import error_line

        try:
            return super().invoke(ctx)
        except SiyuError as exc:
            if exc.__context__ is not None and not isinstance(exc, (DiskFull, StoreDamaged)):
                # a command that wrapped DuckDB's error (e.g. "SQL error: …") may hide a full disk or damage
                exc = explain_failure(exc.__context__, _store_path(ctx)) or exc
            error_line(exc.message)
            if exc.hint:
                sys.stderr.write(_("hint: {hint}").format(hint=exc.hint) + "\n")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _interrupted()
        except BrokenPipeError:
            raise typer.Exit(ExitCode.OK) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:  # a bug: show it, but never a secret
            if type(exc).__module__.startswith(("click", "typer")):
                raise
            if is_interrupt(exc):  # DuckDB turns Ctrl-C into "Query interrupted"
                _interrupted()
            known = explain_failure(exc, _store_path(ctx))
            if known is not None:  # a full disk or a damaged store, not a bug
                error_line(known.message)
                if known.hint:
                    sys.stderr.write(_("hint: {hint}").format(hint=known.hint) + "\n")
                raise typer.Exit(known.exit_code) from None
            from siyu_cli.secrets import redact

            sys.stderr.write(redact("".join(traceback.format_exception(exc))))
            error_line(_("internal error: {kind}: {error} (this is a bug in siyu; please report it)").format(
                kind=type(exc).__name__, error=exc))
            raise typer.Exit(ExitCode.FAILURE) from None


def _interrupted():
    """Ctrl-C: one line, exit 130 (what was committed stays; a pipeline run is marked interrupted)."""
    sys.stderr.write(_("interrupted (Ctrl-C): stopped; work already committed is kept") + "\n")
    raise typer.Exit(ExitCode.INTERRUPTED) from None


def _store_path(ctx) -> str | None:
    """The workspace's store file for an error line, when the workspace can be found."""
    try:
        return str(ctx.obj.settings().store)
    except Exception:
        return None


app = typer.Typer(
    name="siyu",
    cls=SiyuGroup,
    help=N_("siyu (私域) — private-domain operations: load exports, RFM segments, KPI reports, weekly plans, WeCom pushes."),
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
        None, "--workspace", "-w", help=N_("Workspace folder (default: $SIYU_WORKSPACE, else the nearest siyu.toml upward).")
    ),
    timezone: Optional[str] = typer.Option(None, "--timezone", help=N_("Override workspace.timezone (e.g. Asia/Shanghai).")),
    language: Optional[str] = typer.Option(None, "--lang", help=N_("Language of messages, help and labels: zh or en (default: workspace.language, else zh).")),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=N_("Only data and errors; no progress or chatter.")),
    verbose: bool = typer.Option(False, "--verbose", "-v", help=N_("Debug logging on stderr (secrets are never shown).")),
    csv_guard: bool = typer.Option(
        True, "--csv-guard/--no-csv-guard",
        help=N_("In CSV output, prefix text cells starting with = + - @ (formulas) with ' so spreadsheets show them "
        "as text (default on; numbers such as -5 are left alone)."),
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help=N_("Print the version.")),
) -> None:
    from siyu_cli import output

    ctx.obj = AppState(
        workspace=workspace,
        overrides={"timezone": timezone, "language": language},
        quiet=quiet,
        verbose=verbose,
    )
    output.configure(quiet=quiet, verbose=verbose, csv_guard=csv_guard)
    # the store, its WAL, exports and failed inbox files are the owner's only; restored when the command ends
    # (CliRunner runs many commands in one process)
    previous_umask = os.umask(0o077)
    ctx.call_on_close(lambda: os.umask(previous_umask))
    if verbose:
        from siyu_cli.secrets import RedactingFilter

        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(RedactingFilter())
        handler.setFormatter(WorkspaceTimeFormatter(ctx.obj))
        logging.basicConfig(level=logging.DEBUG, handlers=[handler], force=True)
        for noisy in ("httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


class WorkspaceTimeFormatter(logging.Formatter):
    """Log lines stamped with the workspace's wall clock and offset (``2026-12-07 13:27:26.622+08:00``),
    like every other time siyu shows; before the workspace is known (or without one), the machine's zone."""

    def __init__(self, app_state: AppState):
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._state = app_state

    def formatTime(self, record, datefmt=None) -> str:  # noqa: N802 (logging's name)
        from datetime import datetime

        moment = datetime.fromtimestamp(record.created).astimezone()
        from siyu_cli import output

        tz = self._state.overrides.get("timezone") or output.timezone_name()
        if tz:
            try:
                from zoneinfo import ZoneInfo

                moment = moment.astimezone(ZoneInfo(tz))
            except Exception:  # an unknown zone is reported by the config check, not by every log line
                pass
        return moment.isoformat(sep=" ", timespec="milliseconds")


for _name in COMMAND_MODULES:
    importlib.import_module(f"siyu_cli.cli.{_name}").register(app)


def _plain_text_options(params) -> None:
    """The root options are plain text or flags: pass them through as read. Recent Typer coerces values
    with a pydantic TypeAdapter, and the root's options (and its --help, None when not given) are
    processed before any subcommand runs, so `siyu X --help` imported pydantic (≈ 0.1 s) to coerce
    None values. Older Typer has no such layer."""
    try:
        from typer._coercion import PassThroughRuntimeParam
    except ImportError:
        return
    for p in params:
        desc = getattr(p, "type_descriptor", None)
        if desc is not None and desc.annotation in (str, bool) and getattr(p, "_runtime_param", 0) is None:
            p._runtime_param = PassThroughRuntimeParam(annotation=desc.annotation, parameter_info=desc.parameter_info)


def _plain_help(t: typer.Typer) -> None:
    """Click's plain help and usage errors instead of Typer's Rich panels, for every (sub)command: Typer's
    Rich help imports rich and markdown-it, most of a `--help` (start-up target ≤ 0.25 s; issue 16).
    Sub-groups become LightGroups (their own --help without pydantic)."""
    t.rich_markup_mode = None
    for group in t.registered_groups:
        group.cls = LightGroup
        _plain_help(group.typer_instance)


_plain_help(app)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C before or after a command ran (start-up, argument parsing)
        sys.stderr.write(_("interrupted (Ctrl-C)") + "\n")
        sys.exit(ExitCode.INTERRUPTED)


if __name__ == "__main__":  # pragma: no cover
    main()
