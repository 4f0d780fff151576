"""``siyu sync wecom`` (contacts, groups, tags and activity in) and ``siyu tags sync`` (segments out as corp tags)."""

from __future__ import annotations

from typing import Optional

import typer

from siyu_cli.cli.options import TABLE_CSV_JSON, format_option

from siyu_cli.i18n import N_, _

from siyu_cli.cli.context import settings
from siyu_cli.output import Format

sync_app = typer.Typer(help=N_("Pull data from its source of truth into the store (WeCom)."), no_args_is_help=True)
tags_app = typer.Typer(help=N_("WeCom corp tags: write segments and audiences back as tags guides see."),
                       no_args_is_help=True)


@sync_app.command("wecom")
def sync_wecom_cmd(
    ctx: typer.Context,
    no_activity: bool = typer.Option(False, "--no-activity", help=N_("Skip guide behaviour data and group statistics.")),
    activity_days: Optional[int] = typer.Option(
        None, "--activity-days", help=N_("On the first run, fetch activity this many days back (default 30, max 179).")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table (counts per entity), csv or json.")),
) -> None:
    """Pull guides, customers with every relation, groups with members and the tag library; link customers to members.

    Resumes an unfinished (killed) sync from its last checkpoint. Relations that disappeared since the
    previous sync become contact events.
    """
    from siyu_cli import output
    from siyu_cli.sync.wecom import sync_wecom

    from siyu_cli import progress

    s = settings(ctx)
    with progress.bar("syncing from WeCom") as tick:
        report = sync_wecom(s, activity=not no_activity, activity_days=activity_days,
                            progress=lambda stage: tick(0, None, stage))
    data = report.to_dict()
    for note in report.notes:  # e.g. staff names skipped (no directory permission): stderr, every format
        output.info(note)
    if fmt is Format.json:
        output.emit_json(data)
        return
    rows = [[entity, c["added"], c["updated"], c["unchanged"], c["removed"]] for entity, c in report.counts.items()]
    cols = [N_("entity"), N_("added"), N_("updated"), N_("unchanged"), N_("removed")]  # csv/json keys: English
    output.emit_rows([_(c) for c in cols] if fmt is Format.table else cols, rows, fmt,
                     title=(_("sync {batch} (resumed)") if report.resumed else _("sync {batch}")).format(batch=report.batch_id))
    ev = (", ".join(f"{k} {v}" for k, v in sorted(report.events.items()))
          or (_("baseline (first sync)") if report.baseline else _("none")))
    lk = report.linked
    output.info(_('events: {ev}').format(ev=ev))
    output.info(_('linked {get} of {get2} customers to known members (new by unionid {get3}, by remark phone {get4}); {get5} new members; {staff_names} staff names; {calls} API calls').format(get=lk.get('linked', 0), get2=lk.get('customers', 0), get3=lk.get('linked_by_unionid', 0), get4=lk.get('linked_by_phone', 0), get5=lk.get('new_members', 0), staff_names=report.staff_names, calls=report.calls))


@tags_app.command("sync")
def tags_sync_cmd(
    ctx: typer.Context,
    tag: Optional[str] = typer.Option(None, "--tag", help=N_("Write an audience as this one tag (with --audience).")),
    audience: Optional[str] = typer.Option(
        None, "--audience", help=N_("Who gets --tag: segment:…, tag:…, store:…, bought:…, sql:SELECT member_id …, list:… (as push).")),
    scheme: Optional[str] = typer.Option(None, "--scheme", help=N_("Segment scheme whose latest snapshot is written (default: wecom.tags.scheme in siyu.toml, else the latest).")),
    group: Optional[str] = typer.Option(None, "--group", help=N_("The siyu-owned tag group (default: wecom.tags.group in siyu.toml, else RFM分层).")),
    dry_run: bool = typer.Option(False, "--dry-run", help=N_("Show adds/removes per tag and the number of calls; change nothing.")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table (adds/removes per tag), csv or json.")),
) -> None:
    """Each member's current segment as a corp tag on every (guide, customer) relation; only changes are sent.

    Resumes an unfinished (killed) tag sync of the same group first. Never touches tags siyu did not create.
    """
    from siyu_cli import output
    from siyu_cli.sync.tags import tags_sync

    report = tags_sync(settings(ctx), tag=tag, audience=audience, scheme=scheme, group=group, dry_run=dry_run)
    if fmt is Format.json:
        output.emit_json(report.to_dict())
        return
    rows = [[name, c["add"], c["remove"]] for name, c in report.per_tag.items()]
    title = (_("tags {group} (dry run)") if dry_run else _("tags {group} {run_id}")).format(group=report.group,
                                                                                          run_id=report.run_id)
    cols = [N_("tag"), N_("add"), N_("remove")]  # csv/json keys: English
    output.emit_rows([_(c) for c in cols] if fmt is Format.table else cols, rows, fmt, title=title)
    if dry_run:
        output.info(_("{planned} relation(s) to change ({resumed} pending from an interrupted run); {calls} API call(s)")
                    .format(planned=report.planned, resumed=report.resumed, calls=report.calls)
                    + (_("; tags to create: {tags}").format(tags=", ".join(report.created_tags))
                       if report.created_tags else ""))
    else:
        output.info(_("{done} done, {skipped} skipped (not a contact any more), {failed} failed; {resumed} resumed; "
                      "{calls} API call(s)").format(done=report.done, skipped=report.skipped, failed=report.failed,
                                                    resumed=report.resumed, calls=report.calls)
                    + (_("; created {tags}").format(tags=", ".join(report.created_tags)) if report.created_tags else ""))


def register(app: typer.Typer) -> None:
    """Register ``sync`` and ``tags`` on the root app."""
    app.add_typer(sync_app, name="sync")
    app.add_typer(tags_app, name="tags")
