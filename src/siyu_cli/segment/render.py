"""Segment output for people: the run's summary table, the migration matrix, one member explained, a prune.

The CLI (siyu_cli.cli.segment) parses arguments and calls the library; the Rich layout lives here (as
push/render.py for push). Amounts use the one money format (siyu_cli.formatting).
"""

from __future__ import annotations

from pathlib import Path

from siyu_cli.i18n import N_, _
from siyu_cli.output import Format, rich_text


def snapshot_words(result) -> str:
    return (_("preview, not stored") if result.snapshot_id is None
            else _("snapshot {snapshot_id} stored").format(snapshot_id=result.snapshot_id))


def _money(v) -> str:
    from siyu_cli.formatting import money

    return "" if v is None else money(v)


def print_summary(result, english: bool = False) -> None:
    from siyu_cli.output import rows_table, stdout_console
    from siyu_cli.segment.snapshots import pareto_line

    p = result.params
    title = _("siyu segment · {snapshot} · {scheme} · as of {as_of} · window {window} · F={frequency} · M={monetary}").format(
        snapshot=snapshot_words(result), scheme=result.scheme, as_of=result.as_of, window=p.get("window") or "all",
        frequency=p["frequency_unit"], monetary=p["monetary"])
    console = stdout_console()
    wide = console.width >= 120  # narrow terminals get the actions as a list under the table

    def action(r) -> str:
        return (r["action_en"] or r["action"]) if english else r["action"]

    cols = [_("segment"), _("members"), _("share"), _("revenue"), _("rev%"), _("R̄ days"), "F̄", "M̄"] + (
        [_("action")] if wide else [])
    rows = [[f"{r['segment_id']} {r['name']}" if r["segment_id"] != r["name"] else r["name"],
             f"{r['members']:,}", f"{r['share']:.1%}", _money(r["revenue"]), f"{r['revenue_share']:.1%}",
             "" if r["mean_recency_days"] is None else f"{r['mean_recency_days']:g}",
             "" if r["mean_frequency"] is None else f"{r['mean_frequency']:g}",
             _money(r["mean_monetary"]), *([action(r)] if wide else [])] for r in result.summary]
    table = rows_table(cols, rows, title=title, width=console.width)
    console.print(table)
    if not wide:
        for r in result.summary:
            if r["members"]:
                console.print(rich_text(f"{r['segment_id']}: {action(r)}"), highlight=False)
    if "splits" in p:
        console.print(
            _("splits: {splits}").format(splits="; ".join(
                "{rule} ({how})".format(rule=v["rule"], how=_("fixed") if v["kind"] == "fixed" else v["spec"])
                for v in p["splits"].values()
            )),
            highlight=False,
        )
    elif p.get("scoring"):
        console.print(_("scores: {scoring}").format(scoring=p["scoring"]), highlight=False)
    console.print(pareto_line(result.pareto), highlight=False)
    if result.excluded:
        console.print(
            _("orders not counted: {counts}").format(
                counts=", ".join(f"{k} {v:,}" for k, v in sorted(result.excluded.items()))),
            highlight=False,
        )
    if result.snapshot_id is None:
        console.print(_("preview: no snapshot stored (`siyu segment run` or --save stores one)"), highlight=False,
                      markup=False)


def print_diff(d: dict, fmt: Format, path: str | None, output: Path | None) -> None:
    """``siyu segment diff``: the warning, then the matrix (and the path's members) as csv or tables."""
    from siyu_cli.output import emit_json, emit_rows, stdout_console, warn

    if d.get("warning"):
        warn(d["warning"])
    if fmt is Format.json:
        emit_json(d, output)
        return
    if fmt is Format.csv:
        if path:
            cols = d["path"]["columns"]
            emit_rows(cols, [[m[c] for c in cols] for m in d["path"]["members"]], "csv", output=output)
        else:
            cols = ["from", *d["columns"]]
            emit_rows(cols, [[row[c] for c in cols] for row in d["matrix"]], "csv", output=output)
        return
    console = stdout_console()
    console.print(
        _('migration: snapshot {value} ({value2}, {value3}) → snapshot {value4} ({value5}, {value6}); moved {value7:,}, stayed {value8:,}').format(value=d['old']['snapshot_id'], value2=d['old']['as_of'], value3=d['old']['scheme'], value4=d['new']['snapshot_id'], value5=d['new']['as_of'], value6=d['new']['scheme'], value7=d['moved'], value8=d['stayed']),
        highlight=False, markup=False,
    )
    names = d.get("names", {})
    cols = ["from \\ to", *d["columns"]]
    emit_rows(
        cols,
        [[f"{row['from']} {names.get(row['from'], '')}".strip(), *[row[c] for c in d["columns"]]] for row in d["matrix"]],
        "table",
    )
    if path:
        p = d["path"]
        emit_rows(
            p["columns"], [[m[c] for c in p["columns"]] for m in p["members"]], "table",
            title=_('{value} {value2} → {value3} {value4}: {len} members').format(value=p['from'], value2=p['from_name'], value3=p['to'], value4=p['to_name'], len=len(p['members'])),
        )
        if not p["members"]:
            stdout_console().print(_('(nobody moved along this path)'))


def print_member(e: dict) -> None:
    """``siyu segment show`` as text: measures, the rule that placed the member, the action, the CLV."""
    from siyu_cli.output import stdout_console

    console = stdout_console()
    m = e["measures"]
    seg = e["segment"]
    lines = [
        _("member {member} · snapshot {snapshot} · {scheme} · as of {as_of} · window {window}").format(
            member=e["member_id"], snapshot=e["snapshot"]["snapshot_id"], scheme=e["scheme"], as_of=e["as_of"],
            window=e["window"]),
        _("segment: {segment}").format(segment=f"{seg['id']} {seg['name']}"
                                       + (f" ({seg.get('name_en')})" if seg.get("name_en") else "")),
        _("recency {days} days (last purchase {last}), frequency {frequency} {unit}, monetary {monetary} ({mode}), "
          "revenue {revenue}").format(
            days=m["recency_days"] if m["recency_days"] is not None else "–", last=m["last_purchase"] or "–",
            frequency=m["frequency"], unit=e["frequency_unit"], monetary=_money(m["monetary"]), mode=e["monetary_mode"],
            revenue=_money(m["revenue"])),
        _("why:"),
        *[f"  - {r}" for r in e["reasons"]],
    ]
    if seg.get("action"):
        lines.append(_("action: {action}").format(
            action=seg["action"] + (f" ({seg['action_en']})" if seg.get("action_en") else "")))
    c = e.get("clv")
    if c:
        lines.append(_("clv (fit {fit}, as of {as_of}): P(alive) {p_alive}, expected purchases 30d {p30} / 90d {p90}, "
                       "spend per purchase {spend}, CLV {clv}").format(
            fit=c["fit_id"], as_of=c["as_of"], p_alive=f"{c['p_alive']:.2f}", p30=f"{c['purchases_30d']:.2f}",
            p90=f"{c['purchases_90d']:.2f}", spend=_money(c["expected_spend"]), clv=_money(c["clv"])))
    for line in lines:
        console.print(rich_text(line), highlight=False)


def print_prune(r, dry_run: bool) -> None:
    """``siyu segment prune`` as a table of the snapshots and what happened to each."""
    from siyu_cli.output import info, stdout_console
    from rich.table import Table

    verb = _("would delete") if dry_run else _("deleted")
    table = Table(title=_("siyu segment prune (dry run)") if dry_run else _("siyu segment prune"), header_style="bold")
    for col in (N_("snapshot"), N_("as_of"), N_("scheme"), N_("members"), N_("action"), N_("reason")):
        table.add_column(_(col), justify="right" if col in ("snapshot", "members") else "left", overflow="fold")
    for s in r.snapshots:
        table.add_row(str(s["snapshot_id"]), str(s["as_of"]), rich_text(s["scheme"]), f"{s['members']:,}",
                      rich_text(s["action"]), rich_text(s["reason"]))
    console = stdout_console()
    console.print(table)
    console.print(
        _('{verb} {len} snapshot(s), {member_rows:,} member rows; kept {len2}').format(verb=verb, len=len(r.deleted), member_rows=r.member_rows, len2=len(r.kept)),
        highlight=False, markup=False,
    )
    if r.deleted and not dry_run:
        info(_('freed space is reused by later snapshots; the store file does not shrink (docs/segment.md, Retention)'))
