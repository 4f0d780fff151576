"""Workspace discovery and settings.

A workspace is a folder holding ``siyu.toml``; all state (the DuckDB store,
playbooks, inbox, reports) lives under it. Commands find it from
``--workspace``, then ``SIYU_WORKSPACE``, then the current directory upward.
Settings follow one precedence everywhere: flag > environment > siyu.toml >
defaults, and ``Settings.sources`` records which one won for each key.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from siyu_cli.errors import ConfigError
from siyu_cli.i18n import _

CONFIG_FILE = "siyu.toml"

#: [workspace] keys: default value and the environment variable that overrides it.
WORKSPACE_KEYS: dict[str, tuple[str, str]] = {
    "store": ("siyu.duckdb", "SIYU_STORE"),
    "timezone": ("Asia/Shanghai", "SIYU_TIMEZONE"),
    "currency": ("CNY", "SIYU_CURRENCY"),
    "language": ("zh", "SIYU_LANGUAGE"),
}
LANGUAGES = ("zh", "en")

#: Top-level sections of siyu.toml; each is owned by one module, which validates its keys.
SECTIONS = (
    "workspace",
    "load",
    "sync",
    "mappings",
    "segment",
    "clv",
    "plan",
    "push",
    "wecom",
    "sandbox",
    "report",
    "pipelines",
    "alerts",
    "templates",
    "engine",  # siyu_cli.engine: duckdb (default) or spark
    "stores",  # siyu_cli.dimensions
    "staff",  # siyu_cli.dimensions
)


@dataclass
class Settings:
    """Resolved settings of one workspace."""

    root: Path
    store: Path
    timezone: str
    currency: str
    language: str
    raw: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_FILE

    def section(self, name: str) -> dict[str, Any]:
        """The raw table ``[name]`` of siyu.toml ({} when absent)."""
        value = self.raw.get(name, {})
        return value if isinstance(value, dict) else {}

    def memory_limit(self, section: str, default: str) -> str:
        """``[section] memory_limit``: DuckDB's memory limit for that command (it spills to disk beyond it)."""
        import re

        value = self.section(section).get("memory_limit", default)
        if not isinstance(value, str) or not re.match(r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", value, re.I):
            raise ConfigError(_('{config_file}: {section}.memory_limit must be a size like "2GB" or "512MB", not {value!r}').format(config_file=self.config_file, section=section, value=value))
        return value.strip()

    def path(self, relative: str | os.PathLike[str]) -> Path:
        """A path from siyu.toml, relative to the workspace root unless absolute."""
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.root / p


def find_workspace(
    explicit: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Path:
    """Locate the workspace root: flag, then SIYU_WORKSPACE, then cwd upward."""
    env = os.environ if env is None else env
    if explicit:
        root = Path(explicit).expanduser().resolve()
        if not (root / CONFIG_FILE).is_file():
            raise ConfigError(_('{value}: no such file (is {root} a siyu workspace? run `siyu init {explicit}`)').format(value=root / CONFIG_FILE, root=root, explicit=explicit))
        return root
    if env.get("SIYU_WORKSPACE"):
        root = Path(env["SIYU_WORKSPACE"]).expanduser().resolve()
        if not (root / CONFIG_FILE).is_file():
            raise ConfigError(
                _('{value}: no such file (SIYU_WORKSPACE points to it; run `siyu init {root}`)').format(value=root / CONFIG_FILE, root=root)
            )
        return root
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise ConfigError(
        _('no siyu workspace here: no {CONFIG_FILE} in {here} or above (run `siyu init`, pass --workspace or set SIYU_WORKSPACE)').format(CONFIG_FILE=CONFIG_FILE, here=here)
    )


def read_utf8(path: Path, *, missing: Exception, not_utf8: Exception) -> str:
    """A file a person wrote (siyu.toml, a segment scheme); a missing file or bytes that are not UTF-8
    raise the caller's one-line error instead of a traceback."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise missing from None
    except UnicodeDecodeError:
        raise not_utf8 from None


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse and validate siyu.toml; errors name the file and the key."""
    text = read_utf8(path, missing=ConfigError(_('{path}: no such file').format(path=path)),
                     not_utf8=ConfigError(_('{path}: not UTF-8 text').format(path=path)))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        hint = (_(" (siyu init writes some tables, e.g. [segment]: add keys to the existing table)")
                if "twice" in str(exc) else "")
        raise ConfigError(_('{path}: invalid TOML: {exc}{hint}').format(path=path, exc=exc, hint=hint)) from None
    for key, value in data.items():
        if key not in SECTIONS:
            raise ConfigError(_('{path}: unknown section [{key}]{suggest}').format(path=path, key=key, suggest=_suggest(key, SECTIONS)))
        if not isinstance(value, dict):
            raise ConfigError(_('{path}: `{key}` must be a table ([{key}])').format(path=path, key=key))
    for key, value in data.get("workspace", {}).items():
        if key not in WORKSPACE_KEYS:
            raise ConfigError(_('{path}: unknown key workspace.{key}{suggest}').format(path=path, key=key, suggest=_suggest(key, WORKSPACE_KEYS)))
        if not isinstance(value, str):
            raise ConfigError(_('{path}: workspace.{key} must be a string').format(path=path, key=key))
    return data


def load_settings(
    workspace: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, str | None] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Find the workspace and resolve settings: flag > env > siyu.toml > default."""
    env = os.environ if env is None else env
    root = find_workspace(workspace, env=env, cwd=cwd)
    raw = read_config_file(root / CONFIG_FILE)
    file_values = raw.get("workspace", {})
    overrides = overrides or {}
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for key, (default, env_name) in WORKSPACE_KEYS.items():
        if overrides.get(key):
            values[key], sources[key] = str(overrides[key]), "flag"
        elif env.get(env_name):
            values[key], sources[key] = env[env_name], f"env {env_name}"
        elif key in file_values:
            values[key], sources[key] = file_values[key], f"{CONFIG_FILE}"
        else:
            values[key], sources[key] = default, "default"
    _check_timezone(values["timezone"], sources["timezone"], root)
    if values["language"] not in LANGUAGES:
        raise ConfigError(
            _('{where}: workspace.language must be one of {join}, not {value!r}').format(where=_where(sources['language'], root), join=', '.join(LANGUAGES), value=values['language'])
        )
    from siyu_cli.render_budget import configure

    configure(raw.get("templates"), where=str(root / CONFIG_FILE))  # the budget of every template render
    store = Path(values["store"]).expanduser()
    if not store.is_absolute():
        store = root / store
    return Settings(
        root=root,
        store=store,
        timezone=values["timezone"],
        currency=values["currency"],
        language=values["language"],
        raw=raw,
        sources=sources,
    )


def _check_timezone(name: str, source: str, root: Path) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(_('{where}: workspace.timezone {name!r} is not a known time zone (e.g. Asia/Shanghai)').format(where=_where(source, root), name=name)) from None


def _where(source: str, root: Path) -> str:
    return str(root / CONFIG_FILE) if source == CONFIG_FILE else source


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return _(" (did you mean `{name}`?)").format(name=close[0]) if close else ""
