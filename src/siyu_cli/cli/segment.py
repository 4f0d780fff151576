"""``siyu segment``: RFM segmentation runs, snapshots, movement between them, one member explained."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from siyu_cli.cli.options import TABLE_CSV_JSON, TABLE_JSON, format_option, default_command_group
from siyu_cli.output import Format

from siyu_cli.i18n import N_, _

from siyu_cli.cli.context import settings


segment_app = default_command_group(N_("RFM segments: `siyu segment` previews (stores nothing); `siyu segment run` (or --save) stores a "
    "snapshot; list, diff, history and show read stored ones."))


def register(app: typer.Typer) -> None:
    """Register this module's commands on the root app."""
    app.add_typer(segment_app, name="segment")


@segment_app.callback()
def run(
    ctx: typer.Context,
    scheme: Optional[str] = typer.Option(
        None, "--scheme", "-s", help=N_("rfm8 (A–H, default), rfm11 (quintiles, 11 names) or a custom scheme .yaml.")
    ),
    as_of: Optional[str] = typer.Option(None, "--as-of", help=N_("Measure as of this date (default: today, workspace timezone).")),
    window: Optional[str] = typer.Option(None, "--window", help=N_("Only purchases in this window: 365d, 26w, 12m, 1y or all (default).")),
    frequency_unit: Optional[str] = typer.Option(None, "--frequency-unit", help=N_("F counts orders (default) or distinct purchase days.")),
    monetary: Optional[str] = typer.Option(None, "--monetary", help=N_("M is the net total (default) or the average per purchase.")),
    r_split: Optional[str] = typer.Option(None, "--r-split", help=N_("rfm8 recent/lapsed split: median (default), mean, q0.5, or days (e.g. 90 = R ≤ 90).")),
    f_split: Optional[str] = typer.Option(None, "--f-split", help=N_("rfm8 high/low F split: a number (default 2 = F ≥ 2), median, mean or q0.8.")),
    m_split: Optional[str] = typer.Option(None, "--m-split", help=N_("rfm8 high/low M split: median (default), mean, q0.8, or an amount (e.g. 500 = M ≥ 500).")),
    label: Optional[str] = typer.Option(None, "--label", help=N_("A note stored with the snapshot.")),
    fmt: Format = format_option((Format.table, Format.csv, Format.json, Format.parquet), help=N_("table (per segment) or csv/json/parquet (per member).")),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help=N_("Write the per-member rows to this file.")),
    summary: bool = typer.Option(False, "--summary", help=N_("With --format json: print the per-segment summary instead of members.")),
    unmask: bool = typer.Option(False, "--unmask", help=N_("Show full phone numbers (personal data: share with care).")),
    save: bool = typer.Option(False, "--save", help=N_("Store the result as a snapshot (as `siyu segment run` does).")),
) -> None:
    """Compute R/F/M for every member and assign segments: a preview, unless `run` or --save stores a snapshot."""
    if ctx.invoked_subcommand is not None:
        return
    save = save or ctx.info_name == "run"  # `siyu segment run …` is this command with --save
    from siyu_cli import output as out
    from siyu_cli.errors import UsageError
    from siyu_cli.segment import run_segment

    if fmt is Format.parquet and output is None:
        raise UsageError(_('--format parquet needs --output FILE'))
    if fmt is Format.table and output is not None:
        raise UsageError(_('--output needs --format csv, json or parquet'))
    if summary and fmt is not Format.json:
        raise UsageError(_('--summary goes with --format json'))
    out.unmask(unmask)
    s = settings(ctx)
    rows: dict = {}

    def export(con, snapshot_id: int) -> None:  # on the run's own connection: a preview lives only there
        from siyu_cli.segment.snapshots import export_members, member_rows

        if fmt is Format.table or summary:
            return
        if output is not None:
            rows["written"] = export_members(con, snapshot_id, fmt.value, output, unmask=unmask)
        else:
            rows["cols"], rows["rows"] = member_rows(con, snapshot_id, unmask=unmask)

    result = run_segment(
        s, scheme=scheme, as_of=as_of, window=window, frequency_unit=frequency_unit, monetary=monetary,
        r_split=r_split, f_split=f_split, m_split=m_split, label=label, save=save, then=export,
    )
    for w in result.warnings:
        out.warn(w)
    if result.pruned:
        out.info(_('segment.keep_snapshots: deleted old snapshot(s) {join}').format(join=', '.join(map(str, result.pruned))))
    from siyu_cli.segment.render import print_summary, snapshot_words

    if fmt is Format.table:
        print_summary(result, english=s.language == "en")
        return
    out.info(_('{snapshot_words}: {scheme} as of {as_of}, {members} members').format(snapshot_words=snapshot_words(result), scheme=result.scheme, as_of=result.as_of, members=result.members))
    if summary:
        out.emit_json(result.to_dict(), output)
    elif output is not None:
        out.info(_('wrote {value} member rows to {output}').format(value=rows['written'], output=output))
    else:
        out.emit_rows(rows["cols"], rows["rows"], fmt.value)


segment_app.command("run", help=N_("Compute segments and store a snapshot (the same options as `siyu segment`)."))(run)


@segment_app.command("list")
def list_cmd(
    ctx: typer.Context,
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json.")),
) -> None:
    """List stored snapshots."""
    from siyu_cli.output import emit_rows
    from siyu_cli.segment.snapshots import list_snapshots
    from siyu_cli.store import read

    rows = read(settings(ctx), list_snapshots)
    cols = ["snapshot_id", "created_at", "as_of", "scheme", "members", "buyers", "window", "label"]
    emit_rows(cols, [[r[c] for c in cols] for r in rows], fmt.value, title=_('segment snapshots'))


@segment_app.command("diff")
def diff_cmd(
    ctx: typer.Context,
    old: Optional[int] = typer.Argument(None, help=N_("Old snapshot id (default: the one before NEW with the same scheme).")),
    new: Optional[int] = typer.Argument(None, help=N_("New snapshot id (default: the latest).")),
    path: Optional[str] = typer.Option(None, "--path", help=N_("List members who moved FROM:TO, e.g. A:E (super users slipping away).")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv (the path's members) or json.")),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help=N_("Write to this file instead of stdout.")),
) -> None:
    """Migration matrix between two snapshots (rows: old segment, columns: new segment)."""
    from siyu_cli.segment.render import print_diff
    from siyu_cli.segment.snapshots import diff
    from siyu_cli.store import read

    if old is not None and new is None:
        old, new = None, old  # one id given: compare it with its predecessor
    d = read(settings(ctx), diff, old, new, path=path)
    print_diff(d, fmt, path, output)


@segment_app.command("history")
def history_cmd(
    ctx: typer.Context,
    member: str = typer.Argument(..., help=N_("Member id (or phone / source member id / external_userid).")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table, csv or json.")),
) -> None:
    """A member's segment in every snapshot: their path."""
    from siyu_cli.output import emit_rows
    from siyu_cli.segment.snapshots import history
    from siyu_cli.store import read

    h = read(settings(ctx), history, member)
    emit_rows(h["columns"], [[r[c] for c in h["columns"]] for r in h["rows"]], fmt.value,
              title=_('segment history of {value}').format(value=h['member_id']))


@segment_app.command("show")
def show_cmd(
    ctx: typer.Context,
    member: str = typer.Argument(..., help=N_("Member id (or phone / source member id / external_userid).")),
    snapshot: Optional[int] = typer.Option(None, "--snapshot", help=N_("Snapshot id (default: the latest).")),
    fmt: Format = format_option(TABLE_CSV_JSON, help=N_("table (text) or json.")),
) -> None:
    """Explain one member: measures, thresholds used, and why this segment."""
    from siyu_cli.output import emit_json
    from siyu_cli.segment.render import print_member
    from siyu_cli.segment.snapshots import explain
    from siyu_cli.store import read

    e = read(settings(ctx), explain, member, snapshot)
    if fmt is not Format.table:
        emit_json(e)
        return
    print_member(e)


@segment_app.command("prune")
def prune_cmd(
    ctx: typer.Context,
    keep_last: Optional[int] = typer.Option(None, "--keep-last", help=N_("Keep the newest N snapshots of each scheme.")),
    older_than: Optional[str] = typer.Option(
        None, "--older-than", help=N_("Delete snapshots whose as-of date is older than this: 90d, 12w, 6m, 1y.")
    ),
    scheme: Optional[str] = typer.Option(None, "--scheme", "-s", help=N_("Only this scheme's snapshots (rfm8, rfm11, custom:NAME).")),
    keep_monthly: bool = typer.Option(False, "--keep-monthly", help=N_("Of what would go, keep the last snapshot of each month.")),
    dry_run: bool = typer.Option(False, "--dry-run", help=N_("Show what would be deleted; delete nothing.")),
    fmt: Format = format_option(TABLE_JSON, help=N_("table or json.")),
) -> None:
    """Delete old snapshots. Never: the newest of each scheme, or one a push campaign used."""
    from siyu_cli.output import emit_json
    from siyu_cli.segment.prune import prune_snapshots
    from siyu_cli.segment.render import print_prune

    r = prune_snapshots(settings(ctx), keep_last=keep_last, older_than=older_than, scheme=scheme,
                        keep_monthly=keep_monthly, dry_run=dry_run)
    if fmt is Format.json:
        emit_json(r.to_dict())
        return
    print_prune(r, dry_run)
