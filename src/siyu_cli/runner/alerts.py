"""Alerts to the ops team's WeCom group robot: one short message per run outcome, in siyu's language.

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
    from siyu_cli.runner.model import RunResult

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
    "rejects": lambda i: _("rejected {bad}/{read} rows ({reasons}); the rest were loaded").format(
        bad=i["bad"], read=i["read"], reasons=_reasons(i.get("reasons"))),
    "failed": lambda i: (_("not loaded ({reasons}; {read} rows); moved to inbox/failed").format(
        reasons=_reasons(i.get("reasons")), read=i["read"])
        if i.get("reasons") else _("not loaded (unreadable or unrecognised); moved to inbox/failed")),
    "still_failed": lambda i: _("still in inbox/failed, not dealt with yet"),
    "unrecognised": lambda i: _("not loaded: neither the file name nor the header tells members, orders or groups; "
                                "left in inbox"),
    "refused": lambda i: _("not loaded: refused to read it ({reason}); left in inbox").format(reason=i.get("reason")),
}


def _reasons(reasons: dict | None) -> str:
    return _(", ").join(f"{r}×{n}" for r, n in sorted((reasons or {}).items())) or "—"


def _step_no(result: "RunResult", step) -> str:
    return _("step {number}/{total}").format(number=step.index + 1, total=result.total_steps or len(result.steps))


def alert_text(settings: "Settings", result: "RunResult") -> str:
    """The message: pipeline, outcome, failed or partial steps with what needs a look, how to retry."""
    host = socket.gethostname()
    run_line = _("run: {run_id}").format(run_id=result.run_id)
    if result.status == "ok":
        lines = [_("[siyu] pipeline {pipeline} succeeded ✅").format(pipeline=result.pipeline), run_line]
        for s in result.steps:
            summary = _(", ").join(f"{k}={v}" for k, v in s.counts.items()
                                   if isinstance(v, (int, float)) and not isinstance(v, bool))
            state = _("done") if s.status == "ok" else _("kept from the last run")
            lines.append(_("· {name}: {state}{summary}").format(
                name=s.name, state=state, summary=_(" ({summary})").format(summary=summary) if summary else ""))
        return "\n".join(lines)
    retry = _("retry: siyu --workspace {root} run {pipeline} --resume").format(root=settings.root, pipeline=result.pipeline)
    host_line = _("run: {run_id}  host: {host}").format(run_id=result.run_id, host=host)
    if result.status == "partial":
        lines = [_("[siyu alert] pipeline {pipeline} partly done ⚠️ (the other steps ran as usual)").format(
            pipeline=result.pipeline)]
        for s in result.partial_steps:
            lines.append(_("partly done: {name} ({step}, type {type})").format(
                name=s.name, step=_step_no(result, s), type=s.type))
            issues = s.counts.get("issues") or []
            for issue in issues[:10]:
                text = ISSUE_TEXT.get(issue.get("problem"), lambda i: _("needs a look"))(issue)
                lines.append(_("· {file}: {text}").format(file=issue.get("file"), text=text))
            if len(issues) > 10:
                lines.append(_("· {count} more files: see siyu runs --run {run_id}").format(
                    count=len(issues) - 10, run_id=result.run_id))
            if not issues and s.error:
                lines.append(f"· {s.error.splitlines()[0]}")
        done = _(", ").join(f"{s.name} {'✓' if s.status in ('ok', 'skipped') else '⚠'}" for s in result.steps)
        lines += [_("steps: {steps}").format(steps=done), _("rejected rows: siyu rejects"), retry, host_line]
        return "\n".join(lines)
    failed = result.failed_step
    error = (failed.error or "").splitlines()[0] if failed and failed.error else result.status
    lines = [
        _("[siyu alert] pipeline {pipeline} failed ❌").format(pipeline=result.pipeline),
        _("failed step: {name} ({step}, type {type})").format(name=failed.name, step=_step_no(result, failed),
                                                              type=failed.type) if failed else _("failed step: —"),
        _("error: {error}").format(error=error),
        retry,
        host_line,
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
