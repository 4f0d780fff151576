"""siyu's interface language: stdlib gettext over the ``siyu`` catalogue (English msgids, a zh catalogue).

Source code writes English and wraps it: ``_("…")`` translates now, ``ngettext(one, many, n)`` picks a
plural, and ``N_("…")`` only marks a string for the catalogue — it is translated where it is shown.
Help texts are marked with ``N_`` because Typer reads them when the command modules are imported, before
the language of this run is known; the root command (``SiyuGroup.main``) chooses the language from the
command line first, then translates the whole command tree's help (``translate_command_tree``) and
Click's own words (``install_click_translations``).

The language: ``--lang en|zh`` anywhere in argv, else ``SIYU_LANGUAGE``, else the workspace's siyu.toml
``[workspace] language``, else zh. Machine outputs (JSON/CSV keys, ids, exit codes) are never translated.
The catalogue lives in ``locale/zh/LC_MESSAGES/siyu.po`` (compiled ``.mo`` beside it); refresh it with
``python -m siyu_cli.i18n_tools extract|update|compile`` (docs: README "Language").
"""

from __future__ import annotations

import gettext as _gettext
import os
from pathlib import Path
from typing import Sequence

DOMAIN = "siyu"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

_active: str | None = None
_translations: dict[str, _gettext.NullTranslations] = {}


def _catalogue(language: str) -> _gettext.NullTranslations:
    if language not in _translations:
        if language == "en":  # the msgids are English
            _translations[language] = _gettext.NullTranslations()
        else:
            _translations[language] = _gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)
    return _translations[language]


def activate(language: str | None) -> str:
    """Make ``language`` (zh or en; anything else: the default) the language of ``_()`` from now on."""
    global _active
    _active = language if language in LANGUAGES else DEFAULT_LANGUAGE
    return _active


def reset() -> None:
    """Forget the active language: the next ``_()`` chooses it again (tests; a new command run)."""
    global _active
    _active = None


def current() -> str:
    """The active language, chosen from the environment and workspace when none was activated."""
    if _active is None:
        activate(choose_language(()))
    return _active  # type: ignore[return-value]


def _(message: str) -> str:
    """``message`` (an English msgid) in the active language."""
    return _catalogue(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form of a message for count ``n``, in the active language."""
    return _catalogue(current()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it now (help texts, module-level tables)."""
    return message


def label(message: str, language: str) -> str:
    """``message`` in an explicitly given language (reports and plans carry their own language)."""
    return _catalogue(language if language in LANGUAGES else DEFAULT_LANGUAGE).gettext(message)


def label_n(singular: str, plural: str, n: int, language: str) -> str:
    """:func:`ngettext` in an explicitly given language."""
    return _catalogue(language if language in LANGUAGES else DEFAULT_LANGUAGE).ngettext(singular, plural, n)


# -- choosing the language before anything is rendered ----------------------------------------------------


def _flag_value(argv: Sequence[str], names: Sequence[str]) -> str | None:
    """The value of the last ``--name VALUE`` / ``--name=VALUE`` in argv (before a ``--``)."""
    value = None
    args = list(argv)
    for i, arg in enumerate(args):
        if arg == "--":
            break
        for name in names:
            if arg == name and i + 1 < len(args):
                value = args[i + 1]
            elif name.startswith("--") and arg.startswith(name + "="):
                value = arg[len(name) + 1:]
    return value


def _workspace_language(argv: Sequence[str]) -> str | None:
    """``[workspace] language`` of the workspace config.py would find (flag, SIYU_WORKSPACE, cwd upward);
    None when there is none or it cannot be read — the command itself reports a broken siyu.toml."""
    explicit = _flag_value(argv, ("--workspace", "-w")) or os.environ.get("SIYU_WORKSPACE")
    try:
        if explicit:
            config = Path(explicit).expanduser() / "siyu.toml"
        else:
            here = Path.cwd()
            config = next((d / "siyu.toml" for d in (here, *here.parents) if (d / "siyu.toml").is_file()), None)
        if config is None or not config.is_file():
            return None
        import tomllib

        value = tomllib.loads(config.read_text(encoding="utf-8")).get("workspace", {}).get("language")
    except (OSError, ValueError, AttributeError):
        return None
    return value if value in LANGUAGES else None


def choose_language(argv: Sequence[str]) -> str:
    """--lang in argv, else SIYU_LANGUAGE, else the workspace's siyu.toml, else zh."""
    for candidate in (_flag_value(argv, ("--lang",)), os.environ.get("SIYU_LANGUAGE")):
        if candidate in LANGUAGES:
            return candidate
    return _workspace_language(argv) or DEFAULT_LANGUAGE


# -- Click/Typer: help texts and Click's own words -----------------------------------------------------------


def translate_command_tree(command) -> None:
    """Translate the help of ``command``, its parameters and its subcommands in place (idempotent: the
    English msgid is kept on the object, so the tree can be rendered again in another language)."""
    stack = [command]
    while stack:
        cmd = stack.pop()
        _translate_attr(cmd, "help")
        _translate_attr(cmd, "short_help")
        for param in getattr(cmd, "params", ()):
            _translate_attr(param, "help")
        stack.extend(getattr(cmd, "commands", {}).values())


def _translate_attr(obj, attr: str) -> None:
    key = "_siyu_msgid_" + attr
    msgid = getattr(obj, key, None)
    if msgid is None:
        msgid = getattr(obj, attr, None)
        if not isinstance(msgid, str) or not msgid:
            return
        msgid = _clean(msgid)
        setattr(obj, key, msgid)
    setattr(obj, attr, _(msgid))


def _clean(text: str) -> str:
    """A docstring as Click shows it (dedented, up to a form feed), which is also its msgid."""
    import inspect

    return inspect.cleandoc(text).partition("\f")[0].strip()


_installed = False


def install_click_translations() -> None:
    """Route Click's and Typer's own words (Usage:, Options, Commands, errors…) through ``_()``.

    Typer's core module reads them through ``gettext.gettext`` bound at import as ``typer.core._``;
    its vendored Click writes a few as plain literals, wrapped here (Typer is pinned < 0.29).
    """
    global _installed
    if _installed:
        return
    _installed = True
    import typer.core
    from typer._click import exceptions, formatting
    from typer._click import core as click_core

    typer.core._ = _  # "Options", "Commands", "No such command {name!r}.", "default: {default}", …

    write_usage = formatting.HelpFormatter.write_usage

    def _write_usage(self, prog, args="", prefix=None):
        return write_usage(self, prog, args, _("Usage: ") if prefix is None else prefix)

    formatting.HelpFormatter.write_usage = _write_usage

    get_help_option = click_core.Command.get_help_option

    def _get_help_option(self, ctx):
        opt = get_help_option(self, ctx)
        if opt is not None:
            opt.help = _("Show this message and exit.")
        return opt

    click_core.Command.get_help_option = _get_help_option

    wrap_text = formatting.wrap_text

    def _wrap_text(text, width=78, initial_indent="", subsequent_indent="", preserve_paragraphs=False):
        if not any(_wide(ch) for ch in text):
            return wrap_text(text, width, initial_indent, subsequent_indent, preserve_paragraphs)
        paragraphs = text.split("\n\n") if preserve_paragraphs else [text]
        return "\n\n".join(_wrap_wide(" ".join(p.split()), width, initial_indent, subsequent_indent)
                            for p in paragraphs)

    formatting.wrap_text = _wrap_text

    get_short_help_str = click_core.Command.get_short_help_str

    def _get_short_help_str(self, limit=45):
        # Click counts characters; a Chinese character takes two columns, and its sentences end in 。
        text = get_short_help_str(self, limit)
        if "。" in text[:-1]:
            text = text[:text.index("。") + 1]
        return _fit(text, limit)

    click_core.Command.get_short_help_str = _get_short_help_str

    def _show(self, file=None):
        echo = exceptions.echo
        file = file or exceptions.get_text_stderr()
        ctx = getattr(self, "ctx", None)
        color = getattr(self, "show_color", None)
        if ctx is not None:
            color = ctx.color
            hint = ""
            if ctx.command.get_help_option(ctx) is not None:
                hint = _("Try '{command} {option}' for help.").format(
                    command=ctx.command_path, option=ctx.help_option_names[0]) + "\n"
            echo(f"{ctx.get_usage()}\n{hint}", file=file, color=color)
        echo(_("Error: {message}").format(message=click_message(self.format_message())), file=file, color=color)

    exceptions.ClickException.show = _show
    exceptions.UsageError.show = _show


def _wide(ch: str) -> bool:
    from unicodedata import east_asian_width

    return east_asian_width(ch) in "WF"


def _wrap_wide(text: str, width: int, first: str, rest: str) -> str:
    """Wrap text holding Chinese by terminal columns: a line may break between any two wide characters
    or at a space, never inside a Latin word (unless the word alone is wider than the line)."""
    import re

    tokens = re.findall(r"[^\s\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]+|\S|\s+", text)
    def cols(t: str) -> int:
        return sum(2 if _wide(ch) else 1 for ch in t)

    lines, line, indent = [], [], first
    for tok in tokens:
        if tok.isspace():
            if line and line[-1] != " ":
                line.append(" ")
            continue
        if line and len(indent) + cols("".join(line)) + cols(tok) > width:
            carry = []
            if tok in _NO_LINE_START:  # 。）， never start a line: take the characters before them along
                while len(line) > 1 and (not carry or carry[0] in _NO_LINE_START):
                    carry.insert(0, line.pop())
            lines.append(indent + "".join(line).rstrip())
            indent, line = rest, carry
        line.append(tok)
    if line:
        lines.append(indent + "".join(line).rstrip())
    return "\n".join(lines)


_NO_LINE_START = set("。，、；：！？）」』》〉】”’…")


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal columns (wide characters count two), ending in "..." when cut."""
    cols = [2 if _wide(ch) else 1 for ch in text]
    if sum(cols) <= width:
        return text
    out, used = [], 0
    for ch, w in zip(text, cols):
        if used + w > width - 3:
            break
        out.append(ch)
        used += w
    return "".join(out).rstrip() + "..."


#: the words Typer's core module looks up through ``typer.core._`` (kept here so the catalogue has them)
TYPER_WORDS = (N_("Options"), N_("Arguments"), N_("Commands"), N_("default: {default}"), N_("required"),
               N_("env var: {var}"), N_("(dynamic)"), N_("Aborted!"))

#: Click's own error messages (vendored as plain literals): English pattern → msgid with the same fields
_CLICK_MESSAGES = (
    (r"No such option: (?P<name>.+?)(?: \(Possible options: (?P<options>.+)\))?", N_("No such option: {name}")),
    (r"No such command '(?P<name>.+)'\.", N_("No such command '{name}'.")),
    (r"Missing argument '(?P<name>.+)'\.", N_("Missing argument '{name}'.")),
    (r"Missing option '(?P<name>.+)'\.", N_("Missing option '{name}'.")),
    (r"Missing command\.", N_("Missing command.")),
    (r"Got unexpected extra arguments? \((?P<args>.*)\)", N_("Got unexpected extra argument(s) ({args})")),
    (r"Option '(?P<name>.+)' requires an argument\.", N_("Option '{name}' requires an argument.")),
    (r"Option '(?P<name>.+)' does not take a value\.", N_("Option '{name}' does not take a value.")),
    (r"Invalid value for (?P<hint>.+?): (?P<detail>.*)", N_("Invalid value for {hint}: {detail}")),
    (r"Invalid value: (?P<detail>.*)", N_("Invalid value: {detail}")),
    (r"'(?P<value>.*)' is not a valid (?P<type>integer|float|boolean)( range)?\.", N_("'{value}' is not a valid number or flag value.")),
    (r"'(?P<value>.*)' is not one of (?P<choices>.*)\.", N_("'{value}' is not one of {choices}.")),
    (r"(?P<value>\S+) is not in the range (?P<range>.*)\.", N_("{value} is not in the range {range}.")),
)


def click_message(message: str) -> str:
    """A Click error message in the active language (a recognised one; others stay as Click wrote them)."""
    import re

    for pattern, msgid in _CLICK_MESSAGES:
        m = re.fullmatch(pattern, message, re.S)
        if m:
            fields = {k: (click_message(v) if k == "detail" else v) for k, v in m.groupdict().items() if v is not None}
            out = _(msgid).format(**fields)
            if m.groupdict().get("options"):
                out += " " + _("(Possible options: {options})").format(options=m["options"])
            return out
    return message
