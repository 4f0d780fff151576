"""`siyu push …` (campaigns) and `siyu optout …` (the opt-out list): thin layers over siyu_cli.push."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from siyu_cli.cli.options import TABLE_CSV_JSON, format_option

from siyu_cli.i18n import N_, _

from siyu_cli.cli.context import settings as ctx_settings
from siyu_cli.output import Format

push_app = typer.Typer(help=N_("WeCom push campaigns: create, preview, send (exactly once), resume, status, remind, cancel."),
                       no_args_is_help=True)
optout_app = typer.Typer(help=N_("The opt-out list honoured by every push channel and by plan/SOP lists."), no_args_is_help=True)

FMT = format_option(TABLE_CSV_JSON, help=N_("table (people), json or csv (programs)."))


def _attachments(links: list[str], images: list[Path], minis: list[str]) -> list[dict]:
    from siyu_cli.errors import UsageError

    out: list[dict] = []
    for spec in links:
        parts = spec.split("|")
        if len(parts) < 2:
            raise UsageError(_("--link needs 'TITLE|URL[|DESC[|PICURL]]', got {spec!r}").format(spec=spec))
        body = {"title": parts[0], "url": parts[1]}
        if len(parts) > 2 and parts[2]:
            body["desc"] = parts[2]
        if len(parts) > 3 and parts[3]:
            body["picurl"] = parts[3]
        out.append({"msgtype": "link", "link": body})
    for path in images:
        out.append({"msgtype": "image", "image": {"path": str(Path(path).expanduser().resolve())}})
    for spec in minis:
        parts = spec.split("|")
        if len(parts) != 4:
            raise UsageError(_("--miniprogram needs 'TITLE|APPID|PAGE|COVER_IMAGE', got {spec!r}").format(spec=spec))
        out.append({"msgtype": "miniprogram", "miniprogram": {
            "title": parts[0], "appid": parts[1], "page": parts[2], "pic_path": str(Path(parts[3]).expanduser().resolve())}})
    return out


@push_app.command("create")
def create_cmd(
    ctx: typer.Context,
    channel: str = typer.Option("customer", "--channel", "-c", help=N_("customer | group | app | robot")),
    audience: str = typer.Option("", "--audience", "-a", help=N_("segment:A[@SNAP], tag:T, store:S, bought:category=C[,within=90d,times>=2,spend>=X], clv:…, sql:SELECT…, list:IDS|@FILE, all, sop:PB[:STEP], plan:PB[:SLOT]")),
    text: Optional[str] = typer.Option(None, "--text", "-t", help=N_("Message text (a Jinja2 template, e.g. '{{ name }}，你好').")),
    template_file: Optional[Path] = typer.Option(None, "--template-file", help=N_("Read the message template from a file.")),
    name: Optional[str] = typer.Option(None, "--name", help=N_("A name for people.")),
    campaign_id: Optional[str] = typer.Option(None, "--id", help=N_("Campaign id (default cYYYYMMDD-NNN).")),
    link: List[str] = typer.Option([], "--link", help=N_("Link attachment 'TITLE|URL[|DESC[|PICURL]]' (repeatable).")),
    image: List[Path] = typer.Option([], "--image", help=N_("Image attachment file, uploaded at send time (repeatable).")),
    miniprogram: List[str] = typer.Option([], "--miniprogram", help=N_("Mini-program 'TITLE|APPID|PAGE|COVER_IMAGE'.")),
    holdout: Optional[str] = typer.Option(None, "--holdout", help=N_("Hold out this share of the eligible recipients at random (10%, 0.1; 0 = none; default [push] holdout).")),
    variant: List[str] = typer.Option([], "--variant", help=N_("Message variant NAME[:WEIGHT]=TEMPLATE (or =@file); repeatable; recipients split at random.")),
    coupon: List[str] = typer.Option([], "--coupon", help=N_("The coupon / discount code this campaign hands out (repeatable or A,B): results add attribution by redemption.")),
    dry_run: bool = typer.Option(False, "--dry-run", help=N_("Show what would be created (arm sizes, minimum detectable effect); store nothing.")),
    show_all: bool = typer.Option(False, "--all", help=N_("List every excluded recipient.")),
    fmt: Format = FMT,
) -> None:
    """Create a campaign (audience × template × channel) in the ledger and show its preview."""
    from siyu_cli.errors import UsageError
    from siyu_cli.push import CampaignSpec, create_campaign

    settings = ctx_settings(ctx)
    if template_file is not None:
        if text:
            raise UsageError(_('give --text or --template-file, not both'))
        try:
            text = template_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(_('{template_file}: no such file').format(template_file=template_file)) from None
    spec = CampaignSpec(channel=channel, audience=audience, text=text or "", name=name, campaign_id=campaign_id,
                        attachments=_attachments(link, image, miniprogram), holdout=holdout, variants=list(variant),
                        coupons=list(coupon))
    p = create_campaign(settings, spec, dry_run=dry_run)
    from siyu_cli.push import render

    render.print_preview(p, fmt, None if show_all else 50)


@push_app.command("results")
def results_cmd(ctx: typer.Context, campaign: str = typer.Argument(...),
                days: int = typer.Option(30, "--days", help=N_("Purchases within this many days of the send count as responses.")),
                fmt: Format = FMT) -> None:
    """Per arm: assigned, reached, responders, orders, GMV; uplift over the holdout with 95 % CI and p-value."""
    from siyu_cli.errors import UsageError
    from siyu_cli.push.experiments import results
    from siyu_cli.store import read

    if days < 1:
        raise UsageError(_('--days must be at least 1'))
    d = read(ctx_settings(ctx), results, campaign, days=days)
    from siyu_cli.push import render

    render.print_results(campaign, d, fmt)


@push_app.command("preview")
def preview_cmd(ctx: typer.Context, campaign: str = typer.Argument(...),
                show_all: bool = typer.Option(False, "--all", help=N_("List every excluded recipient.")), fmt: Format = FMT) -> None:
    """Counts, batches per sender, a rendered sample and every excluded recipient with the reason."""
    from siyu_cli.push import preview

    from siyu_cli.push import render

    render.print_preview(preview(ctx_settings(ctx), campaign), fmt, None if show_all else 50)


def _send(ctx, campaign: str, ignore_quiet_hours: bool, fmt: Format) -> None:
    from siyu_cli import output
    from siyu_cli.errors import ExitCode
    from siyu_cli.push import send_campaign

    from siyu_cli import progress

    with progress.bar(f"sending {campaign}") as tick:
        sent = [0]  # batches sent by this run (a count: the batches themselves are not kept)

        def on_batch(_batch) -> None:
            sent[0] += 1
            tick(sent[0], None, f"{campaign}: batches sent")

        rep = send_campaign(ctx_settings(ctx), campaign, ignore_quiet_hours=ignore_quiet_hours, on_note=output.info,
                            on_batch=on_batch)
    d = rep.to_dict()
    if fmt is Format.json:
        output.emit_json(d)
    else:
        # the whole campaign's counts (a resumed send includes what earlier runs sent); "this run" is this process's
        st, b = d["states"], d["batches"]
        output.emit_rows(["campaign", "status", "sent", "failed", "skipped", "pending", "batches", "this run", "reconciled"],
                         [[campaign, d["status"], st.get("sent", 0), st.get("failed", 0), st.get("skipped", 0),
                           st.get("planned", 0) + st.get("in_flight", 0), b.get("sent", 0), d["batches_sent"],
                           d["batches_reconciled"]]], fmt)
    if rep.stopped:
        output.error_line(rep.stopped)
        raise typer.Exit(ExitCode.TEMPFAIL)
    if rep.failed:
        raise typer.Exit(ExitCode.PARTIAL)


@push_app.command("send")
def send_cmd(ctx: typer.Context, campaign: str = typer.Argument(...),
             ignore_quiet_hours: bool = typer.Option(False, "--ignore-quiet-hours", help=N_("Send even in push.quiet_hours.")),
             fmt: Format = FMT) -> None:
    """Send a campaign. Safe to re-run: finished batches are never sent again. Exit 3 when some recipients failed."""
    _send(ctx, campaign, ignore_quiet_hours, fmt)


@push_app.command("resume")
def resume_cmd(ctx: typer.Context, campaign: str = typer.Argument(...),
               ignore_quiet_hours: bool = typer.Option(False, "--ignore-quiet-hours"), fmt: Format = FMT) -> None:
    """Resume after a crash: in-flight batches are reconciled with WeCom's records, the rest sent."""
    _send(ctx, campaign, ignore_quiet_hours, fmt)


@push_app.command("status")
def status_cmd(ctx: typer.Context, campaign: str = typer.Argument(...),
               sync: bool = typer.Option(True, "--sync/--no-sync", help=N_("Fetch delivery results from WeCom first.")),
               recipients: bool = typer.Option(False, "--recipients", help=N_("One row per recipient instead of the summary.")),
               fmt: Format = FMT) -> None:
    """Per-recipient delivery (delivered / not a friend / over quota / unconfirmed by the guide), synced from WeCom."""
    from siyu_cli import output
    from siyu_cli.push import sync_status
    from siyu_cli.push.sender import campaign_status
    from siyu_cli.store import read

    settings = ctx_settings(ctx)
    if sync:
        d = sync_status(settings, campaign)
    else:
        d = read(settings, campaign_status, campaign)
    if recipients:
        from siyu_cli.push.ledger import RECIPIENT_COLUMNS, recipient_rows

        rows = read(settings, recipient_rows, campaign)
        output.emit_rows(list(RECIPIENT_COLUMNS), rows, fmt)
        return
    if fmt is Format.json:
        output.emit_json(d)
        return
    st = d["states"]
    if fmt is Format.csv:  # one row per campaign for programs
        output.emit_rows(["campaign", "status", *st.keys(), *[f"delivery:{k}" for k in d["delivery"]]],
                         [[campaign, d["status"], *st.values(), *d["delivery"].values()]], fmt)
    else:
        from siyu_cli.push import render

        render.print_status(campaign, d)


@push_app.command("remind")
def remind_cmd(ctx: typer.Context, campaign: str = typer.Argument(...),
               app: bool = typer.Option(False, "--app", help=N_("Also tell each guide by app message what is waiting.")),
               fmt: Format = FMT) -> None:
    """Remind guides to confirm their pending mass-send tasks (WeCom allows 3 reminders a day)."""
    from siyu_cli import output
    from siyu_cli.push import remind

    d = remind(ctx_settings(ctx), campaign, app_message=app)
    if fmt is Format.json:
        output.emit_json(d)
    else:
        output.emit_rows(["campaign", "reminded", "limit_reached", "guides_messaged"],
                         [[campaign, len(d["reminded_batches"]), len(d["limit_reached"]), ",".join(d["guides_messaged"])]], fmt)


@push_app.command("cancel")
def cancel_cmd(ctx: typer.Context, campaign: str = typer.Argument(...), fmt: Format = FMT) -> None:
    """Stop a campaign: unsent batches are skipped and unconfirmed WeCom tasks cancelled (sent messages stay)."""
    from siyu_cli import output
    from siyu_cli.push import cancel

    d = cancel(ctx_settings(ctx), campaign)
    if fmt is Format.json:
        output.emit_json(d)
    else:
        output.emit_rows(["campaign", "skipped", "cancelled_tasks"], [[campaign, d["skipped"], d["cancelled_tasks"]]], fmt)


@push_app.command("list")
def list_cmd(ctx: typer.Context, fmt: Format = FMT) -> None:
    """All campaigns with their counts."""
    from siyu_cli import output
    from siyu_cli.push import list_campaigns

    rows = list_campaigns(ctx_settings(ctx))
    cols = ["campaign_id", "name", "channel", "status", "recipients", "sent", "failed", "skipped", "pending", "delivered", "created_at"]
    if fmt is Format.json:
        output.emit_json(rows)
    else:
        output.emit_rows(cols, [[r[c] for c in cols] for r in rows], fmt,
                         drop=("created_at", "channel", "delivered", "pending", "skipped"))


@push_app.command("due")
def due_cmd(
    ctx: typer.Context,
    start: Optional[str] = typer.Option(None, "--from", help=N_("Window start (ISO datetime; default: 1 hour ago).")),
    end: Optional[str] = typer.Option(None, "--to", help=N_("Window end (default: now).")),
    send: bool = typer.Option(True, "--send/--no-send", help=N_("Send what is due, or only create the campaigns.")),
    dry_run: bool = typer.Option(False, "--dry-run", help=N_("List what would go (per playbook and step: text, groups or "
                                 "customers per guide) and what is held back and why; store and send nothing.")),
    fmt: Format = FMT,
) -> None:
    """Turn plan slots and SOP steps of the enabled playbooks due in [--from, --to) into campaigns (idempotent) and send them."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from siyu_cli import output
    from siyu_cli.errors import ExitCode, UsageError
    from siyu_cli.push import push_due

    settings = ctx_settings(ctx)
    tz = ZoneInfo(settings.timezone)

    def parse(v):
        try:
            d = datetime.fromisoformat(v)
        except ValueError:
            raise UsageError(_('not an ISO datetime: {v!r}').format(v=v)) from None
        return d if d.tzinfo else d.replace(tzinfo=tz)

    from siyu_cli import clock

    now = clock.now()
    t1 = parse(end) if end else now
    t0 = parse(start) if start else t1 - timedelta(hours=1)
    rep = push_due(settings, t0, t1, send=send, now=now, dry_run=dry_run)
    d = rep.to_dict()
    if fmt is Format.json:
        output.emit_json(d)
    elif dry_run and fmt is Format.table:
        from siyu_cli.push import render

        render.print_due_preview(d)
    else:
        output.emit_rows(["key", "campaign_id", "channel", "outcome", "error"],
                         [[i["key"], i["campaign_id"], i["channel"], i["outcome"], i.get("error", "")] for i in d["items"]], fmt)
    if rep.failed:
        raise typer.Exit(ExitCode.PARTIAL)


# ---------------------------------------------------------------- optout

@optout_app.command("add")
def optout_add(ctx: typer.Context, ids: List[str] = typer.Argument(..., help=N_("member ids, external_userids or phones")),
               channel: str = typer.Option("all", "--channel", help=N_("all | customer | group | app")),
               reason: Optional[str] = typer.Option(None, "--reason")) -> None:
    """Add people to the opt-out list."""
    from siyu_cli import output
    from siyu_cli.push import add_optouts

    n = add_optouts(ctx_settings(ctx), ids, channel=channel, reason=reason)
    output.info(_('{n} added ({value} already listed)').format(n=n, value=len(ids) - n))


@optout_app.command("remove")
def optout_remove(ctx: typer.Context, ids: List[str] = typer.Argument(...),
                  channel: Optional[str] = typer.Option(None, "--channel", help=N_("Only this channel's entry."))) -> None:
    """Remove people from the opt-out list."""
    from siyu_cli import output
    from siyu_cli.push import remove_optouts

    n = remove_optouts(ctx_settings(ctx), ids, channel=channel)
    output.info(_('{n} removed').format(n=n))


@optout_app.command("list")
def optout_list(ctx: typer.Context, channel: Optional[str] = typer.Option(None, "--channel"), fmt: Format = FMT) -> None:
    """The opt-out list (phones masked)."""
    from siyu_cli import output
    from siyu_cli.push import list_optouts

    rows = list_optouts(ctx_settings(ctx), channel=channel)
    cols = ["member_id", "channel", "reason", "source", "created_at"]
    output.emit_rows(cols, [[output.mask_phone(r["member_id"]) if r["member_id"].isdigit() else r["member_id"],
                             r["channel"], r["reason"], r["source"], r["created_at"]] for r in rows], fmt)


@optout_app.command("import")
def optout_import(ctx: typer.Context, file: Path = typer.Argument(...),
                  channel: str = typer.Option("all", "--channel"), reason: Optional[str] = typer.Option(None, "--reason"),
                  fmt: Format = FMT) -> None:
    """Import ids from a CSV/text file (first column, or a member_id/external_userid/phone/手机号 column)."""
    from siyu_cli import output
    from siyu_cli.push import import_optouts

    d = import_optouts(ctx_settings(ctx), file, channel=channel, reason=reason)
    if fmt is Format.json:
        output.emit_json(d)
    else:
        output.emit_rows(["read", "added", "already"], [[d["read"], d["added"], d["already"]]], fmt)


def register(app: typer.Typer) -> None:
    """Register `siyu push …` and `siyu optout …` on the root app."""
    app.add_typer(push_app, name="push")
    app.add_typer(optout_app, name="optout")
