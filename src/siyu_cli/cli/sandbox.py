"""`siyu sandbox`: run a local WeCom fake and inspect what customers would have received."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

from siyu_cli.cli.options import TABLE_CSV_JSON, format_option

from siyu_cli.i18n import N_, _

from siyu_cli.output import Format

sandbox_app = typer.Typer(
    help=N_("A local WeCom sandbox (same endpoints, errcodes and limits as WeCom) for trying pushes safely."),
    no_args_is_help=True,
)


def _settings_or_none(ctx: typer.Context):
    from siyu_cli.cli.context import settings
    from siyu_cli.errors import ConfigError

    try:
        return settings(ctx)
    except ConfigError:
        return None


@sandbox_app.command("serve")
def serve(
    ctx: typer.Context,
    port: Optional[int] = typer.Option(None, "--port", "-p", help=N_("Port on 127.0.0.1 (default 0 = any free port; [sandbox] port).")),
    confirm: Optional[str] = typer.Option(None, "--confirm", help=N_("How guides confirm mass sends: auto (default) | manual | never.")),
    confirm_delay: Optional[float] = typer.Option(None, "--confirm-delay", help=N_("Seconds before guides auto-confirm (default 0).")),
    fault: List[str] = typer.Option(
        [], "--fault",
        help=N_("Fault injection, repeatable: errcode=45009:0.1, 5xx=0.05, drop=0.02, drop_after=0.02, latency=0.2, "
             "token_expiry=0.01, path=add_msg_template, seed=7."),
    ),
    token_ttl: Optional[int] = typer.Option(None, "--token-ttl", help=N_("Access-token lifetime in seconds (default 7200).")),
    quota: Optional[str] = typer.Option(
        None, "--quota", help=N_("Per-customer mass-send cap PERIOD[:N]: month (days in month, default), week:7, day:1.")
    ),
    seed: Optional[str] = typer.Option(None, "--seed", help=N_("Contacts: auto (workspace store if it has any, else synthetic) | store | synthetic | none.")),
    state_dir: Optional[Path] = typer.Option(None, "--state-dir", help=N_("Where deliveries and the sandbox secret are kept (default: <workspace>/.sandbox).")),
    show_secret: bool = typer.Option(False, "--show-secret", help=N_("Also print the sandbox's own generated secret and robot key.")),
) -> None:
    """Serve the sandbox until Ctrl-C; prints the URL and the variables to export."""
    from siyu_cli.sandbox.launch import export_lines, resolve_serve_options, start_sandbox

    settings = _settings_or_none(ctx)
    opts = resolve_serve_options(settings, port=port, confirm=confirm, confirm_delay=confirm_delay, fault=fault,
                                 token_ttl=token_ttl, quota=quota, seed=seed, state_dir=state_dir)
    server = start_sandbox(settings, opts)
    typer.echo("\n".join(export_lines(server, opts, show_secret=show_secret)), nl=True)
    import signal
    import sys

    sys.stdout.flush()

    def _terminate(signum, frame):  # SIGTERM (systemd, kill): stop cleanly, keep the record
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
        sys.stderr.write("sandbox stopped\n")


def _url(ctx: typer.Context, url: str | None) -> str:
    from siyu_cli.errors import UsageError

    if url:
        return url.rstrip("/")
    if os.environ.get("SIYU_WECOM_BASE_URL"):
        return os.environ["SIYU_WECOM_BASE_URL"].rstrip("/")
    settings = _settings_or_none(ctx)
    base = (settings.section("wecom").get("base_url") if settings else None) or ""
    if base.startswith(("http://127.0.0.1", "http://localhost")):
        return base.rstrip("/")
    raise UsageError(_('which sandbox? pass --url or set SIYU_WECOM_BASE_URL (printed by `siyu sandbox serve`)'))


def _control(url: str, name: str, body: dict | None = None) -> dict:
    import httpx

    from siyu_cli.errors import TemporaryFailure, UsageError

    try:
        with httpx.Client(timeout=10, trust_env=False) as http:
            resp = http.post(f"{url}/sandbox/{name}", json=body or {}) if body is not None else http.get(f"{url}/sandbox/{name}")
    except httpx.TransportError:
        raise TemporaryFailure(_('no sandbox answering at {url} (is `siyu sandbox serve` running?)').format(url=url)) from None
    if resp.status_code != 200:
        raise UsageError(_('sandbox refused {name}: {value}').format(name=name, value=resp.text[:200]))
    return resp.json()


@sandbox_app.command("confirm")
def confirm_cmd(
    ctx: typer.Context,
    msgid: Optional[str] = typer.Option(None, "--msgid", help=N_("Only this mass send.")),
    sender: Optional[str] = typer.Option(None, "--sender", help=N_("Only this guide's tasks.")),
    url: Optional[str] = typer.Option(None, "--url", help=N_("Sandbox URL (default: $SIYU_WECOM_BASE_URL).")),
) -> None:
    """Make guides confirm their pending mass-send tasks (as if they tapped 'send' in WeCom)."""
    from siyu_cli import output

    n = _control(_url(ctx, url), "confirm", {"msgid": msgid, "sender": sender})["confirmed"]
    typer.echo(str(n) if output.is_quiet() else _("confirmed {count} task(s)").format(count=n))


@sandbox_app.command("deliveries")
def deliveries_cmd(
    ctx: typer.Context,
    channel: Optional[str] = typer.Option(None, "--channel", help=N_("customer | group | app | robot.")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json.")),
    url: Optional[str] = typer.Option(None, "--url", help=N_("Sandbox URL (default: $SIYU_WECOM_BASE_URL).")),
    state_dir: Optional[Path] = typer.Option(
        None, "--state-dir", help=N_("Read the record a (stopped) sandbox left in this folder instead of asking a running one.")
    ),
) -> None:
    """Every message a customer, group, staff member or robot received from the sandbox."""
    import json

    from siyu_cli.errors import UsageError
    from siyu_cli.output import emit_rows

    if state_dir is not None:
        path = state_dir.expanduser() / "deliveries.jsonl"
        if not path.is_file():
            raise UsageError(_('{path}: no such file (no sandbox has recorded deliveries there)').format(path=path))
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        rows = _control(_url(ctx, url), "deliveries", None if channel is None else {"channel": channel})["deliveries"]
    if channel:
        rows = [r for r in rows if r["channel"] == channel]
    cols = ["at", "channel", "msgid", "sender", "recipient", "text", "attachments"]
    emit_rows(cols, [[r.get(c) for c in cols] for r in rows], fmt, title=_('sandbox deliveries'))


@sandbox_app.command("status")
def status_cmd(
    ctx: typer.Context,
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table or json.")),
    url: Optional[str] = typer.Option(None, "--url", help=N_("Sandbox URL (default: $SIYU_WECOM_BASE_URL).")),
) -> None:
    """What a running sandbox holds: contacts, mass sends, pending tasks, deliveries, faults."""
    from siyu_cli.output import emit_json, emit_rows

    state = _control(_url(ctx, url), "state")
    if fmt is Format.json:
        emit_json(state)
        return
    rows = [[k, v] for k, v in state.items() if k not in ("counters", "faults")]
    rows += [[f"counter.{k}", v] for k, v in state["counters"].items()]
    rows += [["faults", {k: v for k, v in state["faults"].items() if v} or "none"]]
    emit_rows(["key", "value"], rows, fmt, title=_('sandbox'))


@sandbox_app.command("faults")
def faults_cmd(
    ctx: typer.Context,
    fault: List[str] = typer.Option([], "--fault", help=N_("Replace the random faults (same syntax as `serve --fault`).")),
    next_: List[str] = typer.Option(
        [], "--next", help=N_("One-shot fault KIND[:ENDPOINT][:ERRCODE], e.g. drop_after:add_msg_template or errcode:message/send:45009.")
    ),
    clear: bool = typer.Option(False, "--clear", help=N_("Remove every fault.")),
    url: Optional[str] = typer.Option(None, "--url", help=N_("Sandbox URL (default: $SIYU_WECOM_BASE_URL).")),
) -> None:
    """Change a running sandbox's fault injection; prints the faults now in force."""
    from siyu_cli.errors import UsageError
    from siyu_cli.output import emit_json
    from siyu_cli.sandbox.faults import KINDS, parse_cli

    body: dict = {"clear": clear}
    if fault:
        try:
            body["set"] = parse_cli(fault)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    shots = []
    for value in next_:
        kind, _sep, rest = value.partition(":")
        path, _sep, code = rest.partition(":")
        if kind not in KINDS:
            raise UsageError(_('--next {value!r}: kind must be one of {join}').format(value=value, join=', '.join(KINDS)))
        shot: dict = {"kind": kind, "path": path or None}
        if kind == "errcode":
            if not code.lstrip("-").isdigit():
                raise UsageError(_('--next {value!r}: an errcode fault needs the code, e.g. errcode:add_msg_template:45009').format(value=value))
            shot["errcode"] = int(code)
        elif kind == "http":
            if not code.isdigit():
                raise UsageError(_('--next {value!r}: an http fault needs a status, e.g. http:gettoken:429').format(value=value))
            shot["status"] = int(code)
        elif kind == "latency":
            shot["seconds"] = float(code or 1)
        shots.append(shot)
    if shots:
        body["next"] = shots
    emit_json(_control(_url(ctx, url), "faults", body))


@sandbox_app.command("contact")
def contact_cmd(
    ctx: typer.Context,
    action: str = typer.Argument(..., help=N_("add | remove | join | leave")),
    external_userid: str = typer.Argument(..., help=N_("The customer's external_userid.")),
    target: str = typer.Argument(..., help=N_("The guide's userid (add/remove) or the group's chat_id (join/leave).")),
    unionid: Optional[str] = typer.Option(None, "--unionid", help=N_("add: the customer's unionid.")),
    phone: List[str] = typer.Option([], "--phone", help=N_("add: a phone in the guide's remark (remark_mobiles), repeatable.")),
    state: Optional[str] = typer.Option(None, "--state", help=N_("add: the live-code state the customer came through.")),
    by: str = typer.Option("guide", "--by", help=N_("remove: who ended it: guide (del_external_contact: gone from the "
                           "guide's list) or customer (del_follow_user: still listed, sends fail).")),
    url: Optional[str] = typer.Option(None, "--url", help=N_("Sandbox URL (default: $SIYU_WECOM_BASE_URL).")),
) -> None:
    """Change relations between syncs: a guide adds or loses a customer, a customer joins or leaves a group."""
    from siyu_cli.errors import UsageError

    actions = {"add": "add", "remove": "remove_friend", "join": "join_group", "leave": "leave_group"}
    if action not in actions:
        raise UsageError(_('action must be one of {join}, not {action!r}').format(join=', '.join(actions), action=action))
    body: dict = {"action": actions[action], "external_userid": external_userid}
    body["chat_id" if action in ("join", "leave") else "userid"] = target
    if action == "add":
        body.update(unionid=unionid, remark_mobiles=phone or None, state=state)
    if action == "remove":
        if by not in ("guide", "customer"):
            raise UsageError(_('--by must be guide or customer, not {by!r}').format(by=by))
        body["by"] = by
    _control(_url(ctx, url), "contacts", body)
    typer.echo(_('{action} {external_userid} {target}: ok').format(action=action, external_userid=external_userid, target=target))


@sandbox_app.command("reset")
def reset_cmd(ctx: typer.Context, url: Optional[str] = typer.Option(None, "--url")) -> None:
    """Forget mass sends, deliveries, quotas and faults (contacts stay)."""
    _control(_url(ctx, url), "reset", {})
    typer.echo(_('sandbox reset'))


wecom_app = typer.Typer(help=N_("Check the WeCom connection and look up errcodes."), no_args_is_help=True)


@wecom_app.command("check")
def wecom_check(
    ctx: typer.Context,
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table or json.")),
) -> None:
    """Fetch a token and list the guides with customer contact: proves corp id, secret and base URL work."""
    import time

    from siyu_cli.cli.context import settings
    from siyu_cli.output import emit_json, emit_rows
    from siyu_cli.wecom.client import WeComClient

    s = settings(ctx)
    with WeComClient.from_settings(s) as wc:
        t0 = time.perf_counter()
        wc.access_token()
        guides = wc.get_follow_user_list()
        ms = (time.perf_counter() - t0) * 1000
        token = wc.tokens.memory()
        result = {
            "base_url": wc.base_url,
            "corp_id_env": wc.config.corp_id_env,
            "secret_env": wc.config.secret_env,
            "token": "ok",
            "token_valid_for_s": int(token.expires_at - time.time()) if token else None,
            "follow_users": len(guides),
            "elapsed_ms": round(ms, 1),
        }
    if fmt is Format.json:
        emit_json(result)
    else:
        emit_rows(["key", "value"], [[k, v] for k, v in result.items()], fmt, title=_('WeCom connection'))


@wecom_app.command("errcodes")
def wecom_errcodes(fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json."))) -> None:
    """Every errcode siyu knows and what it does about it (retry / refresh / skip / fatal)."""
    from siyu_cli.output import emit_rows
    from siyu_cli.wecom import errcodes

    emit_rows(["errcode", "category", "config", "meaning"],
              [[e.code, e.category, e.config, e.meaning] for e in errcodes.table()], fmt, title=_('WeCom errcodes'))


def register(app: typer.Typer) -> None:
    """Register this module's commands on the root app (``sandbox`` and ``wecom``)."""
    app.add_typer(sandbox_app, name="sandbox")
    app.add_typer(wecom_app, name="wecom")
