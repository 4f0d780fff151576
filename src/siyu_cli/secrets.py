"""Secrets: read from an environment variable or a ``*_FILE`` variable, never shown.

Corp secrets, access tokens and robot keys must never reach output, logs,
errors or tracebacks. Every secret read through :func:`read_secret` (and every
token a client obtains, via :func:`register`) is remembered so that
:func:`redact` can scrub it from any text before it is printed.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Mapping

from siyu_cli.errors import ConfigError
from siyu_cli.i18n import _

_KNOWN: set[str] = set()
MASK = "***"


def register(value: str | None) -> None:
    """Remember a secret value so that :func:`redact` hides it."""
    if value and len(value) >= 4:
        _KNOWN.add(value)


def redact(text: str) -> str:
    """Replace every known secret in ``text`` by ``***``."""
    for value in sorted(_KNOWN, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


def read_secret(name: str, *, env: Mapping[str, str] | None = None, required: bool = False) -> str | None:
    """Value of ``$NAME``, or the contents of the file named by ``$NAME_FILE``.

    The file must not be readable by group or others (mode 0600 or stricter).
    """
    env = os.environ if env is None else env
    value = env.get(name)
    if not value and env.get(f"{name}_FILE"):
        path = Path(env[f"{name}_FILE"]).expanduser()
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise ConfigError(_('{name}_FILE: {path}: no such file').format(name=name, path=path)) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(_('{name}_FILE: {path} is readable by others (mode {S_IMODE:o}); run `chmod 600 {path}`').format(name=name, path=path, S_IMODE=stat.S_IMODE(mode)))
        value = path.read_text(encoding="utf-8").strip()
    if not value:
        if required:
            raise ConfigError(_('secret {name} is not set (set {name} or {name}_FILE naming a 0600 file)').format(name=name))
        return None
    register(value)
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs known secrets from every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True
