"""Alerts to the ops team's WeCom group robot: one short Chinese message per run outcome.

Configured by ``[alerts]`` in siyu.toml: ``robot_key_env`` names the
environment variable holding the robot's webhook key (``*_FILE`` works too;
the key is never printed), ``on_failure`` (default true; partial runs too), ``on_success``
(default false), ``base_url`` (default: ``[wecom].base_url``, else the real API).
A failed alert is logged, never turns a good run into a failed one.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from siyu_cli.errors import ConfigError, SiyuError
from siyu_cli.i18n import _

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
        raise ConfigError(_('{config_file}: unknown key alerts.{value} (known: {join})').format(config_file=settings.config_file, value=sorted(unknown)[0], join=', '.join(sorted(ALERT_KEYS))))
    return {
        "robot_key_env": cfg.get("robot_key_env", DEFAULT_KEY_ENV),
        "on_failure": bool(cfg.get("on_failure", True)),
        "on_success": bool(cfg.get("on_success", False)),
        "base_url": cfg.get("base_url") or settings.section("wecom").get("base_url"),
    }


#: what each load issue says in the alert (file names, counts and reason codes only: never a row's text)
ISSUE_TEXT = {
    "rejects": lambda i: f"拒收 {i['bad']}/{i['read']} 行（{_reasons(i.get('reasons'))}），其余已载入",
    "failed": lambda i: (f"未载入（{_reasons(i.get('reasons'))}，共 {i['read']} 行），已移到 inbox/failed"
                         if i.get("reasons") else "未载入（无法读取或无法识别），已移到 inbox/failed"),
    "still_failed": lambda i: "仍在 inbox/failed，尚未处理",
    "unrecognised": lambda i: "未载入：文件名和表头都无法判断是会员、订单还是群，仍留在 inbox",
    "refused": lambda i: f"未载入：拒绝读取（{i.get('reason')}），仍留在 inbox",
}


def _reasons(reasons: dict | None) -> str:
    return "，".join(f"{r}×{n}" for r, n in sorted((reasons or {}).items())) or "—"


def _step_no(result: "RunResult", step) -> str:
    return f"第 {step.index + 1}/{result.total_steps or len(result.steps)} 步"


def alert_text(settings: "Settings", result: "RunResult") -> str:
    """The message: pipeline, outcome, failed or partial steps with what needs a look, how to retry."""
    host = socket.gethostname()
    if result.status == "ok":
        lines = [f"【siyu】流水线 {result.pipeline} 运行成功 ✅", f"运行号：{result.run_id}"]
        for s in result.steps:
            summary = "，".join(f"{k}={v}" for k, v in s.counts.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
            lines.append(f"· {s.name}：{'已完成' if s.status == 'ok' else '沿用上次'}{('（' + summary + '）') if summary else ''}")
        return "\n".join(lines)
    retry = f"重试：siyu --workspace {settings.root} run {result.pipeline} --resume"
    if result.status == "partial":
        lines = [f"【siyu 告警】流水线 {result.pipeline} 部分完成 ⚠️（其余步骤照常运行）"]
        for s in result.partial_steps:
            lines.append(f"部分完成：{s.name}（{_step_no(result, s)}，类型 {s.type}）")
            issues = s.counts.get("issues") or []
            for issue in issues[:10]:
                lines.append(f"· {issue.get('file')}：{ISSUE_TEXT.get(issue.get('problem'), lambda i: '需要查看')(issue)}")
            if len(issues) > 10:
                lines.append(f"· 另有 {len(issues) - 10} 个文件，见 siyu runs --run {result.run_id}")
            if not issues and s.error:
                lines.append(f"· {s.error.splitlines()[0]}")
        done = "，".join(f"{s.name} {'✓' if s.status in ('ok', 'skipped') else '⚠'}" for s in result.steps)
        lines += [f"各步骤：{done}", "拒收明细：siyu rejects", retry, f"运行号：{result.run_id}　主机：{host}"]
        return "\n".join(lines)
    failed = result.failed_step
    lines = [
        f"【siyu 告警】流水线 {result.pipeline} 运行失败 ❌",
        f"失败步骤：{failed.name}（{_step_no(result, failed)}，类型 {failed.type}）" if failed else "失败步骤：—",
        f"错误：{(failed.error or '').splitlines()[0] if failed and failed.error else result.status}",
        retry,
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
