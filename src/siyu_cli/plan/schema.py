"""Playbooks: parse, validate and load (``siyu plan check`` / ``siyu plan load``).

The pieces live in their own modules — ``model`` (types and vocabulary), ``located`` (YAML with
positions), ``checker``/``parser`` (validation reporting every problem), ``templates`` — and this
module joins parsing and template checks. It re-exports the model so ``plan.schema`` keeps working.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from siyu_cli.i18n import _

from siyu_cli.plan.located import Located, load_located  # noqa: F401
from siyu_cli.plan.model import *  # noqa: F401,F403
from siyu_cli.plan.model import Problem, Playbook
from siyu_cli.plan.parser import builtin_catalog, parse_playbook  # noqa: F401
from siyu_cli.plan.templates import check_templates

def check_playbook(path: Path, *, default_timezone: str = "Asia/Shanghai",
                   variables: dict[str, Any] | None = None) -> list[Problem]:
    """Every problem in a playbook: structure, rules, templates, attachments."""

    pb, problems = parse_playbook(path, default_timezone=default_timezone)
    if pb is not None:
        problems.extend(check_templates(pb, variables))
    return sorted(set(problems), key=lambda p: (p.file, p.line, p.col, p.message))


def load_playbook(path: Path, *, default_timezone: str = "Asia/Shanghai",
                  variables: dict[str, Any] | None = None) -> Playbook:
    """A playbook ready to render; any error raises DataError (exit 65) listing all of them."""
    from siyu_cli.errors import DataError

    pb, problems = parse_playbook(path, default_timezone=default_timezone)
    if pb is not None:
        problems.extend(check_templates(pb, variables))
    errors = sorted({p for p in problems if p.severity == "error"}, key=lambda p: (p.file, p.line, p.col))
    if errors or pb is None:
        first = errors[0] if errors else Problem(str(path), 1, 1, "unusable playbook")
        more = _(" (and {count} more problems)").format(count=len(errors) - 1) if len(errors) > 1 else ""
        raise DataError(_('{file}:{line}:{col}: {message}{more}').format(file=first.file, line=first.line, col=first.col, message=first.message, more=more),
                        hint=_('run `siyu plan check {path}` to see every problem').format(path=path))
    return pb
