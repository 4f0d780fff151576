"""``siyu members merge|split|why|conflicts``: fix a wrong identity link by hand (siyu_cli.members)."""

from __future__ import annotations

from siyu_cli.i18n import N_, _

from typing import Optional

import typer

from siyu_cli.cli.options import TABLE_CSV_JSON, format_option

from siyu_cli.cli.context import settings
from siyu_cli.output import Format

members_app = typer.Typer(help=N_("Members that are one person: merge, split (undo a merge), why (what links a member), "
                               "conflicts (links loads refused); docs/identity.md."), no_args_is_help=True)

FMT = format_option(TABLE_CSV_JSON, help=N_("table, csv or json."))
UNMASK = typer.Option(False, "--unmask", help=N_("Show phone numbers and emails in full (personal data: share with care)."))


def register(app: typer.Typer) -> None:
    """Register this module's commands on the root app."""
    app.add_typer(members_app, name="members")


def _rows_out(result: dict, fmt: Format, title: str) -> None:
    from siyu_cli.output import emit_json, emit_rows

    if fmt is Format.json:
        emit_json(result)
        return
    emit_rows(["merge_id", "survivor_id", "other_id", "table", "rows"],
              [[result["merge_id"], result["survivor_id"], result.get("merged_id") or result.get("restored_id"), t, n]
               for t, n in sorted(result["rows"].items())] or
              [[result["merge_id"], result["survivor_id"], result.get("merged_id") or result.get("restored_id"), "", 0]],
              fmt, title=title)


def _change(fmt: Format, unmask: bool, title: str, change) -> dict:
    """Run a merge or split (``change``) with --unmask honoured and print its rows; the result is for the closing line."""
    from siyu_cli.output import unmask as show_in_full

    show_in_full(unmask)
    result = change()
    _rows_out(result, fmt, title)
    return result


@members_app.command("merge")
def merge_cmd(
    ctx: typer.Context,
    a: str = typer.Argument(..., help=N_("A member id, or any id of the member (phone, external_userid, back-office id).")),
    b: str = typer.Argument(..., help=N_("The other member.")),
    keep: Optional[str] = typer.Option(None, "--keep", help=N_("Keep this one of the two as the survivor "
                                       "(default: the rule in docs/identity.md).")),
    note: Optional[str] = typer.Option(None, "--note", help=N_("Why, for the audit trail.")),
    fmt: Format = FMT,
    unmask: bool = UNMASK,
) -> None:
    """Merge two members into one person: every table follows, `siyu members split` undoes it."""
    from siyu_cli.members import merge
    from siyu_cli.output import info

    result = _change(fmt, unmask, "siyu members merge", lambda: merge(settings(ctx), a, b, keep=keep, note=note))
    info(_('Merged {value} into {value2} (merge {value3}); undo with `siyu members split {value3}`.').format(value=result['merged_id'], value2=result['survivor_id'], value3=result['merge_id']))


@members_app.command("split")
def split_cmd(
    ctx: typer.Context,
    ident: str = typer.Argument(..., metavar="ID", help=N_("A merge id (mg-…), or the member id that was merged away.")),
    fmt: Format = FMT,
    unmask: bool = UNMASK,
) -> None:
    """Undo a merge: the merged member and its rows come back; loads never merge the two again."""
    from siyu_cli.members import split
    from siyu_cli.output import info

    result = _change(fmt, unmask, "siyu members split", lambda: split(settings(ctx), ident))
    info(_('Split {value} from {value2} (merge {value3} undone).').format(value=result['restored_id'], value2=result['survivor_id'], value3=result['merge_id']))


@members_app.command("why")
def why_cmd(
    ctx: typer.Context,
    ident: str = typer.Argument(..., metavar="ID", help=N_("A member id, or any id of the member.")),
    fmt: Format = FMT,
    unmask: bool = UNMASK,
) -> None:
    """Which ids and rows link this member, its merges and the links loads refused (ids masked unless --unmask)."""
    from siyu_cli.members import why
    from siyu_cli.output import emit_json, emit_rows, unmask as show_in_full

    show_in_full(unmask)
    w = why(settings(ctx), ident)
    if fmt is Format.json:
        emit_json(w)
        return
    rows = [["id", i["id_type"], i["id_value"], ""] for i in w["identities"]]
    rows += [["rows", t, n, ""] for t, n in sorted(w["rows"].items())]
    rows += [["load", b["kind"], b["batch_id"], f"{b['rows']} row(s)"] for b in w["batches"]]
    rows += [["merge", m["merge_id"], f"{m['merged_id']} → {m['survivor_id']}",
              f"{m['reason']}" + (f" via {m['via_type']} {m['via_value']}" if m["via_type"] else "")
              + (" (undone)" if m["undone_at"] else "")] for m in w["merges"]]
    rows += [["conflict", c["reason"], f"{c['id_type']} {c['id_value']}", f"{c['members']} member(s)"]
             for c in w["conflicts"]]
    emit_rows(["what", "kind", "value", "detail"], rows, fmt, title=_('member {value}').format(value=w['member_id']))


@members_app.command("conflicts")
def conflicts_cmd(
    ctx: typer.Context,
    limit: int = typer.Option(200, "--limit", "-n", min=1, help=N_("Show at most this many.")),
    fmt: Format = FMT,
    unmask: bool = UNMASK,
) -> None:
    """Links between members that loads did not merge (a shared id, two back-office ids, a split pair)."""
    from siyu_cli.members import conflicts
    from siyu_cli.output import emit_json, emit_rows, unmask as show_in_full

    show_in_full(unmask)
    rows = conflicts(settings(ctx), limit=limit)
    if fmt is Format.json:
        emit_json(rows)
        return
    cols = ["reason", "id_type", "id_value", "members", "member_ids", "last_batch"]
    emit_rows(cols, [[r[c] if c != "member_ids" else "; ".join(r[c] or []) for c in cols] for r in rows], fmt,
              title=_('identity conflicts: {len}').format(len=len(rows)))
