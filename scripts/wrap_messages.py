"""Wrap user-facing string literals in ``_()`` (a helper for the lead after merges; re-runnable).

    python scripts/wrap_messages.py src/siyu_cli/**/*.py
    python scripts/wrap_messages.py --also echo,print,note src/siyu_cli/cli/push.py   # more printers

Rewrites, in place, the first argument and ``hint=``/``title=`` keywords of calls to SiyuError subclasses
and to info/warn/error_line/emit_rows: a plain literal "…" becomes _("…"); an f-string f"…{x}…" becomes
_("…{x}…").format(x=x) (names from the expressions; !r and format specs kept). Concatenations built with
``+`` and messages passed in variables are left for a person. Adds ``from siyu_cli.i18n import _`` when
needed and renames throwaway ``_`` variables in functions that now call ``_()``.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ERRORS = {"SiyuError", "UsageError", "ConfigError", "DataError", "StoreBusy", "TemporaryFailure", "StoreDamaged",
          "DiskFull", "WorkspaceLocked", "TemplateError", "WeComError", "MediaRefused", "CampaignBusy", "EmptySync",
          "DemoStepError"}
PRINTERS = {"info", "warn", "error_line"}  # siyu_cli.output's (not logging's: see _name)
KEYWORDS = {"hint", "title"}
#: printers whose message is not the first argument: name -> positions of message and hint
MESSAGE_ARGS = {"err": (1, 2)}  # the playbook checker's err(path, message, hint)


def _name(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _placeholder(expr: ast.expr, used: dict[str, str], src: str) -> str:
    code = ast.get_source_segment(src, expr) or ast.unparse(expr)
    if isinstance(expr, ast.Name):
        base = expr.id
    elif isinstance(expr, ast.Attribute):
        base = expr.attr
    elif isinstance(expr, ast.Call) and _name(expr):
        base = _name(expr)
    else:
        base = "value"
    base = re.sub(r"\W", "", base).strip("_") or "value"
    name, i = base, 2
    while name in used and used[name] != code:
        name, i = f"{base}{i}", i + 1
    used[name] = code
    return name


def convert(node: ast.expr, src: str) -> str | None:
    """The replacement source for a message literal, or None when it is not a plain literal/f-string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip():
        return f"_({node.value!r})"
    if not isinstance(node, ast.JoinedStr):
        return None
    used: dict[str, str] = {}
    parts = []
    for v in node.values:
        if isinstance(v, ast.Constant):
            parts.append(v.value.replace("{", "{{").replace("}", "}}"))
        elif isinstance(v, ast.FormattedValue):
            if v.format_spec is not None and not all(isinstance(x, ast.Constant) for x in v.format_spec.values):
                return None
            p = _placeholder(v.value, used, src)
            conv = {-1: "", 114: "!r", 115: "!s", 97: "!a"}[v.conversion]
            spec = ":" + "".join(x.value for x in v.format_spec.values) if v.format_spec else ""
            parts.append("{" + p + conv + spec + "}")
    template = "".join(parts)
    args = ", ".join(f"{k}={c}" for k, c in used.items())
    return f"_({template!r}).format({args})"


def rewrite(path: Path) -> int:
    src = path.read_text(encoding="utf-8")
    tree = ast.parse(src)
    edits = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        name = _name(call)
        if (isinstance(call.func, ast.Attribute) and name in PRINTERS and isinstance(call.func.value, ast.Name)
                and call.func.value.id in ("log", "logger", "logging")):
            name = None  # log.info("%s", …) is logging's, not siyu_cli.output's
        targets = []
        if name in ERRORS or name in PRINTERS:
            targets += [call.args[i] for i in MESSAGE_ARGS.get(name, (0,)) if i < len(call.args)]
        if name in ERRORS or name in PRINTERS or name == "emit_rows":
            targets += [k.value for k in call.keywords if k.arg in KEYWORDS]
        for t in targets:
            new = convert(t, src)
            if new is not None:
                edits.append((t.lineno, t.col_offset, t.end_lineno, t.end_col_offset, new))
    if not edits:
        return 0
    lines = src.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def pos(lineno, col):  # col is a UTF-8 byte offset
        line = lines[lineno - 1]
        return offsets[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8"))

    for l1, c1, l2, c2, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        src = src[:pos(l1, c1)] + new + src[pos(l2, c2):]
    if not re.search(r"^from siyu_cli\.i18n import .*\b_\b", src, re.M):
        m = re.search(r"^from __future__ import annotations\n", src, re.M)
        at = m.end() if m else 0
        src = src[:at] + "\nfrom siyu_cli.i18n import _\n" + src[at:]
    # throwaway `_` in assignments would shadow _() in the whole function
    src = re.sub(r"(?m)^(\s*)([\w\s,]*?), _, (\w+) = ", r"\1\2, _sep, \3 = ", src)
    src = re.sub(r"(?m)^(\s*)([\w\s,]+), _ = ", r"\1\2, _rest = ", src)
    src = re.sub(r"(?m)^(\s*)_, (\w+) = ", r"\1_first, \2 = ", src)
    src = re.sub(r"(?m)^(\s*)for _ in ", r"\1for _i in ", src)
    path.write_text(src, encoding="utf-8")
    ast.parse(src)
    return len(edits)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--also"]:  # e.g. --also echo,print,note: more printing functions for this run
        PRINTERS |= set(args[1].split(","))
        args = args[2:]
    total = 0
    for arg in args:
        n = rewrite(Path(arg))
        if n:
            print(f"{arg}: {n}")
        total += n
    print(f"{total} message(s) wrapped")
