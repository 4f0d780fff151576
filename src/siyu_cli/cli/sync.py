"""``siyu sync wecom`` (contacts, groups, tags and activity in) and ``siyu tags sync`` (segments out as corp tags)."""

from __future__ import annotations

from typing import Optional

import typer

from siyu_cli.cli.context import settings
from siyu_cli.output import Format

sync_app = typer.Typer(help="Pull data from its source of truth into the store (WeCom).", no_args_is_help=True)
tags_app = typer.Typer(help="WeCom corp tags: write segments and audiences back as tags guides see.",
                       no_args_is_help=True)


@sync_app.command("wecom")
def sync_wecom_cmd(
    ctx: typer.Context,
    no_activity: bool = typer.Option(False, "--no-activity", help="Skip guide behaviour data and group statistics."),
    activity_days: Optional[int] = typer.Option(
        None, "--activity-days", help="On the first run, fetch activity this many days back (default 30, max 179)."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table or json."),
) -> None:
    """Pull guides, customers with every relation, groups with members and the tag library; link customers to members.

    Resumes an unfinished (killed) sync from its last checkpoint. Relations that disappeared since the
    previous sync become contact events.
    """
    from siyu_cli import output
    from siyu_cli.sync.wecom import sync_wecom

    s = settings(ctx)
    report = sync_wecom(s, activity=not no_activity, activity_days=activity_days,
                        progress=output.info if output.progress_enabled() else None)
    data = report.to_dict()
    if fmt is Format.json:
        output.emit_json(data)
        return
    rows = [[entity, c["added"], c["updated"], c["unchanged"], c["removed"]] for entity, c in report.counts.items()]
    output.emit_rows(["entity", "added", "updated", "unchanged", "removed"], rows, Format.table,
                     title=f"sync {report.batch_id}" + (" (resumed)" if report.resumed else ""))
    ev = ", ".join(f"{k} {v}" for k, v in sorted(report.events.items())) or ("baseline (first sync)" if report.baseline else "none")
    lk = report.linked
    output.info(f"events: {ev}")
    output.info(f"linked {lk.get('linked', 0)} of {lk.get('customers', 0)} customers to known members "
                f"(new by unionid {lk.get('linked_by_unionid', 0)}, by remark phone {lk.get('linked_by_phone', 0)}); "
                f"{lk.get('new_members', 0)} new members; {report.calls} API calls")


def register(app: typer.Typer) -> None:
    """Register ``sync`` and ``tags`` on the root app."""
    app.add_typer(sync_app, name="sync")
    app.add_typer(tags_app, name="tags")
