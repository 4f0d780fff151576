"""Alerts to the ops team's WeCom group robot: one short Chinese message per run outcome.

Configured by ``[alerts]`` in siyu.toml: ``robot_key_env`` names the
environment variable holding the robot's webhook key (``*_FILE`` works too;
the key is never printed), ``on_failure`` (default true), ``on_success``
(default false), ``base_url`` (default: ``[wecom].base_url``, else the real API).
A failed alert is logged, never turns a good run into a failed one.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from siyu_cli.errors import ConfigError, SiyuError

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings
    from siyu_cli.runner.events import EventLog
    from siyu_cli.runner.pipeline import RunResult

DEFAULT_KEY_ENV = "SIYU_ALERT_ROBOT_KEY"
ALERT_KEYS = {"robot_key_env", "on_failure", "on_success", "base_url"}


def alert_config(settings: "Settings") -> dict:
    cfg = settings.section("alerts")
    unknown = set(cfg) - ALERT_KEYS
    if unknown:
        raise ConfigError(f"{settings.config_file}: unknown key alerts.{sorted(unknown)[0]} (known: {', '.join(sorted(ALERT_KEYS))})")
    return {
        "robot_key_env": cfg.get("robot_key_env", DEFAULT_KEY_ENV),
        "on_failure": bool(cfg.get("on_failure", True)),
        "on_success": bool(cfg.get("on_success", False)),
        "base_url": cfg.get("base_url") or settings.section("wecom").get("base_url"),
    }


def alert_text(settings: "Settings", result: "RunResult") -> str:
    """The message: pipeline, outcome, failed step, its error line, how to retry."""
    host = socket.gethostname()
    if result.status == "ok":
        lines = [f"【siyu】流水线 {result.pipeline} 运行成功 ✅", f"运行号：{result.run_id}"]
        for s in result.steps:
            summary = "，".join(f"{k}={v}" for k, v in s.counts.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
            lines.append(f"· {s.name}：{'已完成' if s.status == 'ok' else '沿用上次'}{('（' + summary + '）') if summary else ''}")
        return "\n".join(lines)
    failed = result.failed_step
    lines = [
        f"【siyu 告警】流水线 {result.pipeline} 运行失败 ❌",
        f"失败步骤：{failed.name}（第 {failed.index + 1}/{len(result.steps)} 步，类型 {failed.type}）" if failed else "失败步骤：—",
        f"错误：{(failed.error or '').splitlines()[0] if failed and failed.error else result.status}",
        f"重试：siyu --workspace {settings.root} run {result.pipeline} --resume",
        f"运行号：{result.run_id}　主机：{host}",
    ]
    return "\n".join(lines)


def maybe_alert(settings: "Settings", result: "RunResult", log: "EventLog", *, force: bool | None = None) -> bool:
    """Post the alert when configured for this outcome; returns whether one was sent."""
    from siyu_cli.secrets import read_secret

    try:
        cfg = alert_config(settings)
    except ConfigError as exc:
        log.emit("alert_failed", level="error", message=exc.message)
        return False
    wanted = cfg["on_success"] if result.status == "ok" else cfg["on_failure"]
    if force is False or (force is None and not wanted):
        return False
    key = read_secret(cfg["robot_key_env"])
    if not key:
        if settings.section("alerts") or force:
            log.emit("alert_skipped", level="warning", message=f"no robot key: set {cfg['robot_key_env']} (or {cfg['robot_key_env']}_FILE)")
        return False
    from siyu_cli.wecom import WebhookClient

    kwargs = {"base_url": cfg["base_url"]} if cfg["base_url"] else {}
    try:
        client = WebhookClient(key, **kwargs)
        try:
            from siyu_cli.privacy import mask_text

            client.send_text(mask_text(alert_text(settings, result)))
        finally:
            close = getattr(client, "close", None)
            if close:
                close()
    except SiyuError as exc:
        log.emit("alert_failed", level="error", message=exc.message)
        return False
    except Exception as exc:  # network trouble must not hide the run's own outcome
        log.emit("alert_failed", level="error", message=f"{type(exc).__name__}: {exc}")
        return False
    log.emit("alert_sent", message=f"robot alert sent ({result.status})")
    return True
