"""Which playbooks are live: ``[plan] enabled = [...]`` in siyu.toml.

Nothing is sent unless a person enabled it. ``siyu init`` copies example playbooks
of several brands into ``playbooks/``; they stay *inactive* until an operator runs
``siyu plan enable NAME`` (which adds the playbook's ``name:`` to the list). Every
sending path (``siyu push due``, the ``push_due`` pipeline step behind ``siyu run
hourly``, ``sop:``/``plan:`` audiences) and the defaults of ``siyu plan sop`` only
consider enabled playbooks; an explicitly named playbook that is not enabled is
reported as held back (``inactive``), never sent.

The list holds playbook names (the ``name:`` key, which is also the name in message
keys), so renaming a file does not silently switch a playbook on or off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from siyu_cli.errors import ConfigError, UsageError
from siyu_cli.i18n import _

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings

PLAN_KEYS = ("enabled",)


def workspace_playbooks(settings: "Settings") -> list[Path]:
    """Every ``*.yaml`` / ``*.yml`` in the workspace's ``playbooks/`` folder (top level), sorted."""
    folder = settings.root / "playbooks"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def enabled_names(settings: "Settings") -> list[str]:
    """The ``[plan] enabled`` list (empty when absent: nothing is live).

    Read from siyu.toml each time, not from the settings loaded at start: a playbook disabled
    while a long send runs is not sent by its next step.
    """
    from siyu_cli.config import read_config_file

    section = read_config_file(settings.config_file).get("plan", {})
    unknown = sorted(set(section) - set(PLAN_KEYS))
    if unknown:
        raise ConfigError(_('{config_file}: unknown key plan.{value} (known: {join})').format(config_file=settings.config_file, value=unknown[0], join=', '.join(PLAN_KEYS)))
    value = section.get("enabled", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(_('{config_file}: plan.enabled must be a list of playbook names, e.g. enabled = ["coffee-week"]').format(config_file=settings.config_file))
    return list(dict.fromkeys(value))


def playbook_name(path: Path) -> str:
    """The playbook's ``name:`` (cheaply, without validating it); the file stem when unreadable."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return Path(path).stem
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else Path(path).stem


@dataclass(frozen=True)
class PlaybookStatus:
    name: str
    path: Path | None  # None: enabled in siyu.toml but no such playbook in playbooks/
    live: bool

    def to_dict(self) -> dict:
        return {"name": self.name, "file": str(self.path) if self.path else None,
                "status": "live" if self.live else ("missing" if self.path is None else "inactive")}


def split_enabled(settings: "Settings", paths: list[Path]) -> tuple[list[Path], list[tuple[str, Path]]]:
    """``paths`` split into the enabled ones and (name, path) of those that are not.

    Two files with the same enabled name are refused: which one the operator enabled is unclear.
    """
    live = set(enabled_names(settings))
    on, off, seen = [], [], {}
    for p in paths:
        name = playbook_name(p)
        if name in live:
            if name in seen and Path(seen[name]).resolve() != Path(p).resolve():
                raise ConfigError(_('{value} and {p} are both named {name!r} and {name!r} is enabled: rename one (`name:`) so it is clear which one is live').format(value=seen[name], p=p, name=name))
            seen[name] = p
            on.append(p)
        else:
            off.append((name, p))
    return on, off


def enabled_playbooks(settings: "Settings") -> list[Path]:
    """The enabled playbooks of the workspace's ``playbooks/`` folder."""
    return split_enabled(settings, workspace_playbooks(settings))[0]


def playbook_statuses(settings: "Settings") -> list[PlaybookStatus]:
    """Every playbook in ``playbooks/`` with live/inactive, plus enabled names with no playbook."""
    live = set(enabled_names(settings))
    named = [(playbook_name(p), p) for p in workspace_playbooks(settings)]
    out = [PlaybookStatus(name, p, name in live) for name, p in named]
    found = {s.name for s in out}
    out += [PlaybookStatus(n, None, False) for n in enabled_names(settings) if n not in found]
    return out


def _resolve(settings: "Settings", name: str) -> tuple[str, Path]:
    """(name, file) of a playbook given by NAME, a file name or a path under playbooks/."""
    from siyu_cli.plan.model import closest

    books = {playbook_name(p): p for p in workspace_playbooks(settings)}
    if name in books:
        return name, books[name]
    for n, p in books.items():
        if name in (p.name, p.stem) or Path(name).expanduser().resolve() == p.resolve():
            return n, p
    best = closest(name, list(books))
    hint = _(" (did you mean `{name}`?)").format(name=best) if best else ""
    raise UsageError(_('no playbook named {name!r} in {value}{hint}; playbooks: {value2} (see `siyu plan list`)').format(name=name, value=settings.root / 'playbooks', hint=hint, value2=', '.join(sorted(books)) or 'none'))


def set_enabled(settings: "Settings", names: list[str], *, enable: bool) -> list[str]:
    """Enable or disable playbooks (by name or file) in siyu.toml; returns the new list.

    Enabling checks the playbook first: a playbook with errors cannot be switched on.
    Disabling accepts a name that no longer has a playbook (to clean the list).
    """
    from siyu_cli.errors import DataError
    from siyu_cli.plan.schema import check_playbook

    current = enabled_names(settings)
    for raw in names:
        if enable:
            name, path = _resolve(settings, raw)
            errors = [p for p in check_playbook(path, default_timezone=settings.timezone) if p.severity == "error"]
            if errors:
                first = errors[0]
                more = _(" (and {count} more problems)").format(count=len(errors) - 1) if len(errors) > 1 else ""
                raise DataError(_("{file}:{line}:{col}: {message}{more}").format(
                    file=first.file, line=first.line, col=first.col, message=first.message, more=more),
                                hint=_('fix it (`siyu plan check {path}`) before enabling {name}').format(path=path, name=name))
            if name not in current:
                current.append(name)
        else:
            name = raw if raw in current else _resolve(settings, raw)[0]
            current = [n for n in current if n != name]
    write_enabled(settings, current)
    return current


_SECTION = re.compile(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$")
_ENABLED = re.compile(r"^\s*enabled\s*=")


def write_enabled(settings: "Settings", names: list[str]) -> None:
    """Rewrite ``[plan] enabled`` in siyu.toml, keeping every other line (and comment) as it is."""
    import json
    import tomllib

    path = settings.config_file
    lines = path.read_text(encoding="utf-8").splitlines()
    value = "enabled = [" + ", ".join(json.dumps(n, ensure_ascii=False) for n in names) + "]"
    section, start, done = None, None, False
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _SECTION.match(line)
        if m:
            if section == "plan" and not done:
                out.append(value)
                done = True
            section = m.group(1).strip()
            if section == "plan":
                start = len(out)
        if section == "plan" and not done and _ENABLED.match(line):
            # a multi-line array runs to its closing bracket
            while "]" not in line.split("#", 1)[0] and i + 1 < len(lines):
                i += 1
                line = lines[i]
            out.append(value)
            done = True
            i += 1
            continue
        out.append(line)
        i += 1
    if not done:
        if start is not None:
            out.append(value)
        else:
            out += ["", "[plan]", value]
    text = "\n".join(out) + "\n"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # pragma: no cover - the edit keeps the file valid
        raise ConfigError(_('{path}: could not update plan.enabled ({exc}); edit it by hand').format(path=path, exc=exc)) from None
    path.write_text(text, encoding="utf-8")
    settings.raw.clear()
    settings.raw.update(data)
