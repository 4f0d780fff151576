"""Starting the sandbox for `siyu sandbox serve`: options from flags and [sandbox], state files, the export lines.

Flags win over the [sandbox] section of siyu.toml, which wins over the defaults. The sandbox's own
generated secret and robot key are kept 0600 in its state folder, so a restart keeps the values an
operator exported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siyu_cli.errors import ConfigError, UsageError
from siyu_cli.i18n import _

SANDBOX_KEYS = {"port": int, "confirm": str, "confirm_delay": (int, float), "token_ttl": int, "quota": str,
                "seed": str, "state_dir": str, "faults": list}


def sandbox_config(settings) -> dict:
    """Defaults for `siyu sandbox serve` from the [sandbox] section of siyu.toml (flags win)."""
    conf = settings.section("sandbox") if settings is not None else {}
    for key, value in conf.items():
        if key not in SANDBOX_KEYS:
            raise ConfigError(_('{config_file}: unknown key sandbox.{key} (known: {join})').format(config_file=settings.config_file, key=key, join=', '.join(SANDBOX_KEYS)))
        if not isinstance(value, SANDBOX_KEYS[key]) or isinstance(value, bool):
            raise ConfigError(_('{config_file}: sandbox.{key} has the wrong type').format(config_file=settings.config_file, key=key))
    return conf


@dataclass
class ServeOptions:
    """The checked options of one sandbox run."""

    port: int = 0
    confirm: str = "auto"
    confirm_delay: float = 0.0
    token_ttl: int = 7200
    quota: dict[str, Any] | None = None  # {"period": month|week|day, "limit": N or None}
    seed: str = "auto"
    faults: Any = None
    state_dir: Path = field(default_factory=Path)


def _parse_quota(quota: str | None) -> dict[str, Any] | None:
    """``PERIOD[:N]`` (month, week:7, day:1) as the server's quota spec."""
    if not quota:
        return None
    period, _sep, n = quota.partition(":")
    if period not in ("month", "week", "day") or (n and not n.isdigit()):
        raise UsageError(_('--quota must be month, week or day, optionally :N (e.g. day:1)'))
    return {"period": period, "limit": int(n) if n else None}


def _default_state_dir(settings) -> Path:
    """<workspace>/.sandbox, or a fresh temporary folder when there is no workspace."""
    if settings is not None:
        return settings.root / ".sandbox"
    import tempfile

    return Path(tempfile.mkdtemp(prefix="siyu-sandbox-"))


def resolve_serve_options(settings, *, port: int | None = None, confirm: str | None = None,
                          confirm_delay: float | None = None, fault: list[str] | None = None,
                          token_ttl: int | None = None, quota: str | None = None, seed: str | None = None,
                          state_dir: Path | None = None) -> ServeOptions:
    """Flags (None: not given) over [sandbox] over defaults, each checked; bad values are usage errors."""
    from siyu_cli.sandbox.faults import parse_cli

    conf = sandbox_config(settings)
    confirm = confirm or conf.get("confirm", "auto")
    seed = seed or conf.get("seed", "auto")
    if state_dir is None and conf.get("state_dir") and settings is not None:
        state_dir = settings.path(conf["state_dir"])
    if confirm not in ("auto", "manual", "never"):
        raise UsageError(_('--confirm must be auto, manual or never'))
    try:
        faults = parse_cli(list(fault or []) or list(conf.get("faults", [])))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    quota_spec = _parse_quota(quota or conf.get("quota"))
    if seed == "store" and settings is None:
        raise UsageError(_('--seed store needs a workspace (--workspace or SIYU_WORKSPACE)'))
    if seed not in ("auto", "store", "synthetic", "none"):
        raise UsageError(_('--seed must be auto, store, synthetic or none'))
    if state_dir is None:
        state_dir = _default_state_dir(settings)
    return ServeOptions(
        port=port if port is not None else conf.get("port", 0),
        confirm=confirm,
        confirm_delay=confirm_delay if confirm_delay is not None else conf.get("confirm_delay", 0.0),
        token_ttl=token_ttl if token_ttl is not None else conf.get("token_ttl", 7200),
        quota=quota_spec, seed=seed, faults=faults, state_dir=state_dir.expanduser().resolve(),
    )


def _write_private(path: Path, value: str) -> None:
    from siyu_cli.privacy import write_private

    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, value + "\n")


def _read_private(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def start_sandbox(settings, opts: ServeOptions):
    """A started sandbox server that reuses the secret and robot key kept in its state folder (0600)."""
    from siyu_cli.sandbox.server import SandboxServer

    secret_file, robot_file = secret_files(opts.state_dir)
    secret = _read_private(secret_file)
    robot_key = _read_private(robot_file)
    server = SandboxServer(settings=settings if opts.seed in ("auto", "store") else None, port=opts.port,
                           secret=secret, robot_keys=[robot_key] if robot_key else None, confirm=opts.confirm,
                           confirm_delay=opts.confirm_delay, faults=opts.faults, token_ttl=opts.token_ttl,
                           state_dir=opts.state_dir, quota=opts.quota, seed=opts.seed)
    _write_private(secret_file, server.secret)
    _write_private(robot_file, server.robot_keys[0])
    try:
        server.start()
    except OSError as exc:
        raise UsageError(_('cannot listen on 127.0.0.1:{port}: {strerror}').format(port=opts.port, strerror=exc.strerror)) from None
    return server


def secret_files(state_dir: Path) -> tuple[Path, Path]:
    """Where the sandbox keeps its generated secret and robot key."""
    return state_dir / "secret", state_dir / "robot_key"


def export_lines(server, opts: ServeOptions, *, show_secret: bool = False) -> list[str]:
    """What `serve` prints: where it listens and the variables that point siyu at it (secrets as files)."""
    secret_file, robot_file = secret_files(opts.state_dir)
    seeded = ", ".join(f"{v} {k}" for k, v in server.seeded.items()) or "no contacts"
    lines = [
        f"siyu sandbox listening on {server.url} (confirm={opts.confirm}; {seeded}; deliveries in {opts.state_dir})",
        "# point siyu at it:",
        f"export SIYU_WECOM_BASE_URL={server.url}",
        f"export WECOM_CORP_ID={server.corp_id}",
        f"export WECOM_SECRET_FILE={secret_file}",
        f"export WECOM_ROBOT_KEY_FILE={robot_file}",
    ]
    if show_secret:  # the sandbox's own generated values, shown only on request
        lines += [f"export WECOM_SECRET={server.secret}", f"export WECOM_ROBOT_KEY={server.robot_keys[0]}"]
    return lines
