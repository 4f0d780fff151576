"""Push output for people: the preview panel, experiment arms, attribution tables and the due dry run.

The CLI (siyu_cli.cli.push) parses arguments and calls the library; the Rich layout lives here so it can
be changed (and tested) without touching commands. Amounts use the one money format (siyu_cli.formatting).
"""

from __future__ import annotations

from siyu_cli.i18n import N_, _, ngettext

from siyu_cli.formatting import VERDICTS, local_time, money
from siyu_cli.output import Format

#: the attribution tables' measure columns (keys of push/experiments.py results) as people read them
ATTRIBUTION_WORDS = {"responders": N_("responders"), "response_rate": N_("response rate"),
                     "redeemers": N_("redeemers"), "redemption_rate": N_("redemption rate"),
                     "response_rate_uplift": N_("response uplift"), "redemption_rate_uplift": N_("redemption uplift")}


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
    head = (f"[bold]{esc(p['campaign_id'])}[/bold]  " + esc(_("{name}  channel={channel}  audience={audience}").format(
                name=p["name"], channel=p["channel"], audience=p["audience"]))
            + (esc(_("  snapshot={snapshot} (as of {as_of})").format(snapshot=p["snapshot_id"],
                                                                   as_of=p.get("snapshot_as_of") or "?"))
               if p.get("snapshot_id") else "")
            + "\n" + esc(_("status: {status}").format(status=p["status"]))
            + (esc(_("  (dry run: nothing stored)")) if p.get("dry_run") else "")
            + "\n" + _("recipients: {recipients}  to send: {to_send}  sent: {sent}  failed: {failed}  excluded: {excluded}").format(
                recipients=p["recipients"], to_send=p["to_send"], sent=st["sent"], failed=st["failed"], excluded=st["skipped"])
            + "\n" + _("batches: {batches}  distinct texts: {texts}").format(batches=p["batches"], texts=p["distinct_texts"])
            + ("\n[yellow]" + esc(_("personalised:")) + "[/yellow] " + esc(_(
                "WeCom takes one text per call, so batches split by text: {calls} calls instead of {shared} with one "
                "shared text").format(calls=p["batches"], shared=p["batches_without_personalisation"]))
               if p["personalised"] else "")
            + ("\n" + esc(_("caps: {caps}").format(caps=", ".join(p["caps"]))) if p["caps"] else "")
            + ("\n" + esc(_("coupon: {codes} (attribution by redemption in `siyu push results`)").format(
                codes=", ".join(p["coupon_codes"]))) if p.get("coupon_codes") else ""))
    if p.get("quiet_hours"):
        head += "\n[yellow]" + esc(_("quiet hours ({name}): held until {until}").format(
            name=p["quiet_hours"]["name"], until=p["quiet_hours"]["held_until"])) + "[/yellow]"
    con.print(Panel(head, title=_("push preview"), expand=False), highlight=False)
    if p.get("experiment"):
        print_experiment(p["experiment"])
    if p["senders"]:
        output.emit_rows([_("sender"), _("batches"), _("recipients"), _("texts")],
                         [[s["sender"] or "-", s["batches"], s["recipients"], s["texts"]] for s in p["senders"]],
                         title=_('batches per sender'))
    if p["sample"]:
        s = p["sample"]
        con.print(Panel(output.rich_text(s["text"]),
                        title=output.rich_text(_("sample: {batch} → {sender} ({recipients} recipients)").format(
                            batch=s["batch_id"], sender=s["sender"] or "-", recipients=s["recipients"])),
                        expand=False), highlight=False)
    if p["attachments"]:
        con.print(output.rich_text(_("attachments: {types}").format(types=", ".join(a["msgtype"] for a in p["attachments"]))),
                  highlight=False)
    if p["excluded_by_reason"]:
        output.emit_rows([_("reason"), _("meaning"), _("count")],
                         [[k, v["name"], v["count"]] for k, v in p["excluded_by_reason"].items()], title=_('excluded'))
        rows = p["excluded"][:limit] if limit else p["excluded"]
        output.emit_rows([_("recipient"), _("member"), _("reason")],
                         [[e["recipient_id"], e["member_id"], e["reason"]] for e in rows])
        if limit and len(p["excluded"]) > limit:
            output.info(_('… {value} more excluded (use --all or --format json)').format(value=len(p['excluded']) - limit))


def _pct(v) -> str:
    return "" if v is None else f"{v * 100:.1f}%"


def print_experiment(e: dict) -> None:
    from siyu_cli import output

    mde_key = f"mde_vs_{e['reference']}"
    output.emit_rows([_("arm"), _("share"), _("assigned"), _("min. detectable effect vs {arm}").format(arm=e["reference"])],
                     [[a["arm"], _pct(a["share"]), a["assigned"],
                       "" if a["arm"] == e["reference"] else _("n/a") if a[mde_key] is None
                       else f"±{a[mde_key] * 100:.1f} pp"] for a in e["arms"]],
                     title=_('experiment arms · baseline repurchase rate {value} (eligible members, {value2} days before)').format(value=_pct(e['baseline_rate']) or _('n/a'), value2=e['baseline_window_days']))



def print_attribution(arms: list[dict], uplift: list[dict], who: str, rate: str, title: str) -> None:
    """Per-arm table and one uplift table per treatment arm (ITT, delivered-only), for window or redemption."""
    from siyu_cli import output

    output.emit_rows([_("arm"), _("assigned"), _("reached"), _(ATTRIBUTION_WORDS[who]), _(ATTRIBUTION_WORDS[rate]), _("orders"),
                      _("GMV"), _("GMV per assigned member")],
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
                          "" if g["diff"] is None else f"{g['diff']:+.2f}", gci, _(VERDICTS.get(part["verdict"], part["verdict"]))])
        output.emit_rows([_("analysis"), _(ATTRIBUTION_WORDS[rate + "_uplift"]), "95% CI", "p", _("GMV/member uplift"),
                          "95% CI", _("verdict")], urows, title=_('{value} vs {value2}').format(value=u['arm'], value2=u['versus']))
        for key, part in parts:
            output.info(_('{key}: {value}').format(key=key, value=part['label']))



def print_results(campaign: str, d: dict, fmt: Format) -> None:
    """``siyu push results``: json as is; csv one row per arm (the redemption columns follow when the campaign has
    a code); for people the attribution tables by window and by redemption, and the code's outside use."""
    from siyu_cli import output

    if fmt is Format.json:
        output.emit_json(d)
        return
    red = d.get("redemption")
    if fmt is Format.csv:
        cols = ["arm", "assigned", "reached", "responders", "response_rate", "orders", "gmv", "gmv_per_assigned"]
        rows = [[a[c] for c in cols] for a in d["arms"]]
        if red:
            extra = ["redeemers", "redemption_rate", "orders", "gmv", "gmv_per_assigned"]
            cols += ["redeemers", "redemption_rate", "redemption_orders", "redemption_gmv", "redemption_gmv_per_assigned"]
            rows = [r + [a[c] for c in extra] for r, a in zip(rows, red["arms"])]
        output.emit_rows(cols, rows, fmt)
        return
    title = _("{campaign} · {design} · window {days} days from {start}").format(
        campaign=campaign, design=d["design"], days=d["window_days"], start=f"{d['window_start']:%Y-%m-%d %H:%M}")
    if d["window_open"]:
        title += _(" (still open)")
    print_attribution(d["arms"], d["uplift"], "responders", "response_rate",
                      title + _(" · attribution by window (any purchase)"))
    if red:
        print_attribution(red["arms"], red["uplift"], "redeemers", "redemption_rate",
                          _("{campaign} · attribution by redemption (code {codes})").format(
                              campaign=campaign, codes=", ".join(red["codes"])))
        o = red["outside"]
        output.info(_('redemption: {value}').format(value=red['label']))
        output.info(_('{label}: {orders} orders, GMV {gmv}').format(label=o['label'], orders=o['orders'], gmv=money(o['gmv'])))
        if red["note"]:
            output.info(red["note"])


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
            goes = ngettext("{count} group: {names}", "{count} groups: {names}", len(st["groups"])).format(
                count=len(st["groups"]), names=", ".join(st["groups"]))
        elif st["customers_by_guide"]:
            goes = ngettext("{count} customer: {guides}", "{count} customers: {guides}", st["to_send"]).format(
                count=st["to_send"], guides=_counts(st["customers_by_guide"]))
        else:
            goes = _("nothing")
        held = ", ".join(f"{k} ({_(REASONS.get(k, k))}) {v}" for k, v in sorted(st["held_back"].items()))
        other = {k: v for k, v in st["outcomes"].items() if k != "would_send"}
        if other:
            held = "; ".join(x for x in (held, _("messages: {counts}").format(counts=_counts(other))) if x)
        rows.append([st["playbook"], st["step"], st["channel"], when(st["first_at"]), goes, held or "-", st["sample"] or ""])
    heads = [_("playbook"), _("step"), _("channel"), _("first at"), _("goes to"), _("held back (why)"), _("text (sample)")]
    output.stdout_console().print(output.rows_table(
        heads, rows, title=_("would send · {start} → {end} · dry run: nothing stored or sent").format(
            start=when(d["start"]), end=when(d["end"])),
        drop=(heads[6], heads[2]), lines=True))
    for pb in d["inactive"]:
        n = (ngettext("{count} message in this window", "{count} messages in this window", pb["messages"]).format(
            count=pb["messages"]) if "messages" in pb else pb.get("error", ""))
        output.info(_('held back: playbook {value} is inactive ({n}); `siyu plan enable {value}` to send it').format(value=pb['playbook'], n=n))
    if not d["steps"] and not d["inactive"]:
        output.info(_('nothing is due in this window'))


def print_status(campaign: str, d: dict) -> None:
    """A campaign's status for people: its counts one per line (any number of states and delivery
    outcomes fits 80 columns), then per sender and the failed recipients."""
    from siyu_cli import output

    rows = [*[[state, n] for state, n in d["states"].items()],
            *[[_("delivery: {outcome}").format(outcome=k), n] for k, n in d["delivery"].items()]]
    output.emit_rows([_("state"), _("recipients")], rows, title=_('{campaign} · {value}').format(campaign=campaign, value=d['status']))
    if d["senders"]:
        output.emit_rows([_("sender"), _("batches"), _("sent"), _("delivered"), _("unconfirmed")],
                         [[s["sender"] or "-", s["batches"], s["sent"], s["delivered"], s["unconfirmed"]] for s in d["senders"]],
                         title=_('per sender'))
    if d["failed"]:
        output.emit_rows([_("recipient"), _("member"), _("reason")],
                         [[f["recipient_id"], f["member_id"], f["reason"]] for f in d["failed"]], title=_('failed'))
