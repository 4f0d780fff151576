"""Push output for people: the preview panel, experiment arms, attribution tables and the due dry run.

The CLI (siyu_cli.cli.push) parses arguments and calls the library; the Rich layout lives here so it can
be changed (and tested) without touching commands. Amounts use the one money format (siyu_cli.formatting).
"""

from __future__ import annotations

from siyu_cli.i18n import _

from siyu_cli.formatting import local_time, money
from siyu_cli.output import Format


def print_preview(p: dict, fmt: Format, limit: int | None = 50) -> None:
    from siyu_cli import output

    if fmt is Format.json:
        output.emit_json(p)
        return
    if fmt is Format.csv:
        output.emit_rows(["recipient_id", "member_id", "reason", "reason_name"],
                         [[e["recipient_id"], e["member_id"], e["reason"], e["reason_name"]] for e in p["excluded"]], fmt)
        return
    from rich.panel import Panel

    con = output.stdout_console()
    st = p["states"]
    esc = output.markup_escape  # names and audiences are data: never markup
    head = (f"[bold]{esc(p['campaign_id'])}[/bold]  {esc(p['name'])}  channel={p['channel']}  audience={esc(p['audience'])}"
            + (f"  snapshot={p['snapshot_id']} (as of {p.get('snapshot_as_of') or '?'})" if p.get("snapshot_id") else "")
            + f"\nstatus: {p['status']}{'  (dry run: nothing stored)' if p.get('dry_run') else ''}"
            + f"\nrecipients: {p['recipients']}  to send: {p['to_send']}  sent: {st['sent']}  failed: {st['failed']}  "
              f"excluded: {st['skipped']}"
            + f"\nbatches: {p['batches']}  distinct texts: {p['distinct_texts']}"
            + (f"\n[yellow]personalised:[/yellow] WeCom takes one text per call, so batches split by text: "
               f"{p['batches']} calls instead of {p['batches_without_personalisation']} with one shared text"
               if p["personalised"] else "")
            + (f"\ncaps: {esc(', '.join(p['caps']))}" if p["caps"] else "")
            + (f"\ncoupon: {esc(', '.join(p['coupon_codes']))} (attribution by redemption in `siyu push results`)"
               if p.get("coupon_codes") else ""))
    if p.get("quiet_hours"):
        head += f"\n[yellow]quiet hours ({esc(p['quiet_hours']['name'])}): held until {p['quiet_hours']['held_until']}[/yellow]"
    con.print(Panel(head, title="push preview", expand=False), highlight=False)
    if p.get("experiment"):
        print_experiment(p["experiment"])
    if p["senders"]:
        output.emit_rows(["sender", "batches", "recipients", "texts"],
                         [[s["sender"] or "-", s["batches"], s["recipients"], s["texts"]] for s in p["senders"]],
                         title=_('batches per sender'))
    if p["sample"]:
        s = p["sample"]
        con.print(Panel(output.rich_text(s["text"]),
                        title=output.rich_text(f"sample: {s['batch_id']} → {s['sender'] or '-'} ({s['recipients']} recipients)"),
                        expand=False), highlight=False)
    if p["attachments"]:
        con.print(output.rich_text("attachments: " + ", ".join(a["msgtype"] for a in p["attachments"])), highlight=False)
    if p["excluded_by_reason"]:
        output.emit_rows(["reason", "名称", "count"],
                         [[k, v["name"], v["count"]] for k, v in p["excluded_by_reason"].items()], title=_('excluded'))
        rows = p["excluded"][:limit] if limit else p["excluded"]
        output.emit_rows(["recipient_id", "member_id", "reason"], [[e["recipient_id"], e["member_id"], e["reason"]] for e in rows])
        if limit and len(p["excluded"]) > limit:
            output.info(_('… {value} more excluded (use --all or --format json)').format(value=len(p['excluded']) - limit))


def _pct(v) -> str:
    return "" if v is None else f"{v * 100:.1f}%"


def print_experiment(e: dict) -> None:
    from siyu_cli import output

    mde_key = f"mde_vs_{e['reference']}"
    output.emit_rows(["arm", "share", "assigned", f"min. detectable effect vs {e['reference']}"],
                     [[a["arm"], _pct(a["share"]), a["assigned"],
                       "" if a["arm"] == e["reference"] else "n/a" if a[mde_key] is None
                       else f"±{a[mde_key] * 100:.1f} pp"] for a in e["arms"]],
                     title=_('experiment arms · baseline repurchase rate {value} (eligible members, {value2} days before)').format(value=_pct(e['baseline_rate']) or 'n/a', value2=e['baseline_window_days']))



def print_attribution(arms: list[dict], uplift: list[dict], who: str, rate: str, title: str) -> None:
    """Per-arm table and one uplift table per treatment arm (ITT, delivered-only), for window or redemption."""
    from siyu_cli import output

    output.emit_rows(["arm", "assigned", "reached", who, rate, "orders", "gmv", "gmv_per_assigned"],
                     [[a["arm"], a["assigned"], a["reached"], a[who], _pct(a[rate]), a["orders"], money(a["gmv"]),
                       money(a["gmv_per_assigned"]) if a["gmv_per_assigned"] is not None else ""] for a in arms],
                     title=title)
    for u in uplift:
        parts = [("itt", u["itt"])] + ([("delivered_only", u["delivered_only"])] if "delivered_only" in u else [])
        urows = []
        for key, part in parts:
            r = part[rate]
            ci = "" if r["ci_low"] is None else f"[{r['ci_low'] * 100:+.1f}, {r['ci_high'] * 100:+.1f}] pp"
            g = part["gmv_per_member"]
            gci = "" if g["ci_low"] is None else f"[{g['ci_low']:+.2f}, {g['ci_high']:+.2f}]"
            urows.append([key, "" if r["diff"] is None else f"{r['diff'] * 100:+.1f} pp", ci,
                          "" if r["p_value"] is None else f"{r['p_value']:.3g}",
                          "" if g["diff"] is None else f"{g['diff']:+.2f}", gci, part["verdict"]])
        output.emit_rows(["analysis", f"{rate.replace('_rate', '')} uplift", "95% CI", "p", "GMV/member uplift",
                          "95% CI", "verdict"], urows, title=_('{value} vs {value2}').format(value=u['arm'], value2=u['versus']))
        for key, part in parts:
            output.info(_('{key}: {value}').format(key=key, value=part['label']))



def _counts(d: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))


def print_due_preview(d: dict) -> None:
    """A dry run of push due for people: one row per playbook step, then the playbooks held back."""
    from datetime import datetime

    from siyu_cli import output
    from siyu_cli.push.policy import REASONS

    def when(iso: str) -> str:  # the workspace's wall clock
        return local_time(datetime.fromisoformat(iso), output.timezone_name())[5:]

    rows = []
    for st in d["steps"]:
        if st["groups"]:
            goes = f"{len(st['groups'])} group(s): " + ", ".join(st["groups"])
        elif st["customers_by_guide"]:
            goes = f"{st['to_send']} customer(s): " + _counts(st["customers_by_guide"])
        else:
            goes = "nothing"
        held = ", ".join(f"{k} ({REASONS.get(k, k)}) {v}" for k, v in sorted(st["held_back"].items()))
        other = {k: v for k, v in st["outcomes"].items() if k != "would_send"}
        if other:
            held = "; ".join(x for x in (held, "messages: " + _counts(other)) if x)
        rows.append([st["playbook"], st["step"], st["channel"], when(st["first_at"]), goes, held or "-", st["sample"] or ""])
    output.stdout_console().print(output.rows_table(
        ["playbook", "step", "channel", "first at", "goes to", "held back (why)", "text (sample)"], rows,
        title=f"would send · {when(d['start'])} → {when(d['end'])} · dry run: nothing stored or sent",
        drop=("text (sample)", "channel"), lines=True))
    for pb in d["inactive"]:
        n = f"{pb['messages']} message(s) in this window" if "messages" in pb else pb.get("error", "")
        output.info(_('held back: playbook {value} is inactive ({n}); `siyu plan enable {value}` to send it').format(value=pb['playbook'], n=n))
    if not d["steps"] and not d["inactive"]:
        output.info(_('nothing is due in this window'))


def print_status(campaign: str, d: dict) -> None:
    """A campaign's status for people: its counts one per line (any number of states and delivery
    outcomes fits 80 columns), then per sender and the failed recipients."""
    from siyu_cli import output

    rows = [*[[state, n] for state, n in d["states"].items()], *[[f"delivery: {k}", n] for k, n in d["delivery"].items()]]
    output.emit_rows(["state", "recipients"], rows, title=_('{campaign} · {value}').format(campaign=campaign, value=d['status']))
    if d["senders"]:
        output.emit_rows(["sender", "batches", "sent", "delivered", "unconfirmed"],
                         [[s["sender"] or "-", s["batches"], s["sent"], s["delivered"], s["unconfirmed"]] for s in d["senders"]],
                         title=_('per sender'))
    if d["failed"]:
        output.emit_rows(["recipient_id", "member_id", "reason"],
                         [[f["recipient_id"], f["member_id"], f["reason"]] for f in d["failed"]], title=_('failed'))
