"""Playbooks: weekly group-content plans and lifecycle SOPs from YAML + Jinja2.

Public API (other areas call these):

- :func:`check_playbook` / :func:`load_playbook` / :func:`parse_playbook` (schema.py)
- :func:`render_week`, :func:`resolve_targets`, :func:`store_groups` (render.py)
- :func:`sop_due` (sop.py)
- :func:`due_messages`, :class:`DueMessage` (due.py) — the hand-off to push
"""

from __future__ import annotations

from siyu_cli.plan.due import DueMessage, due_messages
from siyu_cli.plan.enabled import workspace_playbooks
from siyu_cli.plan.render import PlannedMessage, Target, WeekPlan, render_week, resolve_targets, store_groups
from siyu_cli.plan.schema import Playbook, Problem, check_playbook, load_playbook, parse_playbook
from siyu_cli.plan.sop import SopItem, SopReport, sop_due

__all__ = [
    "DueMessage",
    "PlannedMessage",
    "Playbook",
    "Problem",
    "SopItem",
    "SopReport",
    "Target",
    "WeekPlan",
    "check_playbook",
    "due_messages",
    "load_playbook",
    "parse_playbook",
    "render_week",
    "resolve_targets",
    "sop_due",
    "store_groups",
    "workspace_playbooks",
]
