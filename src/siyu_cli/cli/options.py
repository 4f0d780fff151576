"""Options every command shares: one ``--format`` declaration, each command naming the subset it writes.

One ``Format`` enum (``siyu_cli.output.Format``) serves every command; :func:`format_option` shows only the
command's own choices in ``--help`` and refuses the others with a usage error (exit 2), so no command
validates a format string by hand.
"""

from __future__ import annotations

from typing import Any

import typer

from siyu_cli.output import Format

#: the usual subset: a table for people, csv and json for programs
TABLE_CSV_JSON = (Format.table, Format.csv, Format.json)
TABLE_JSON = (Format.table, Format.json)


def format_option(allowed: tuple[Format, ...], help: str, default: Format | None = None, *, plain: bool = False) -> Any:
    """``-f/--format`` accepting ``allowed`` (the first is the default unless ``default`` is given).

    ``plain``: hand the command the format's text (``"md"``) instead of the enum member (annotate it ``str``).
    """
    names = [f.value for f in allowed]
    default = default or allowed[0]

    def only_allowed(value):
        if value is None:
            return value
        try:
            fmt = Format(value)
        except ValueError:
            fmt = None
        if fmt not in allowed:
            from siyu_cli.i18n import _

            raise typer.BadParameter(_("{value} is not one of {choices}").format(value=getattr(fmt, "value", value),
                                                                               choices=", ".join(names)))
        return fmt.value  # typer turns the text into the enum member for commands annotated ``Format``

    return typer.Option(default.value if plain else default, "--format", "-f", help=help,
                        metavar="<" + "|".join(names) + ">", callback=only_allowed)


def default_command_group(help: str) -> typer.Typer:
    """A command group whose callback is itself a command (``siyu segment``, ``siyu clv``, ``siyu report``,
    ``siyu demo`` run something without a subcommand), so bare invocation must not print help."""
    return typer.Typer(help=help, invoke_without_command=True, no_args_is_help=False)
