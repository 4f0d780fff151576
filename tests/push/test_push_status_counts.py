"""What a send reports: the whole campaign's counts on resume, and what an ambiguous send waited for and concluded.

Against the WeCom sandbox over real HTTP on 127.0.0.1 (fixtures from push_helpers).
"""

from __future__ import annotations

import json

from push_helpers import per_recipient, sb, ws  # noqa: F401 (ws, sb: fixtures)
from siyu_cli.push import send_campaign, sync_status
from siyu_cli.store import open_store


def _create(cli, *args):
    return json.loads(cli("push", "create", *args, "--format", "json").stdout)


def _batches(settings, cid):
    with open_store(settings, read_only=True) as con:
        return dict(con.execute("SELECT state, count(*) FROM push_batches WHERE campaign_id = ? GROUP BY 1", [cid]).fetchall())


def test_resumed_send_reports_the_whole_campaigns_counts(ws, sb, cli):
    cid = _create(cli, "--audience", "all", "--text", "分两次发")["campaign_id"]
    total = sum(_batches(ws, cid).values())
    assert total >= 3  # one batch per guide (g1, g2, g3)
    first = send_campaign(ws, cid, max_batches=1)  # as if the first run stopped after one batch
    assert first.batches_sent == 1 and first.batches == {"sent": 1, "planned": total - 1}
    r = cli("push", "resume", cid, "--format", "json")
    d = json.loads(r.stdout)
    # this run sent the rest; the report counts the campaign: every batch and every recipient sent
    assert d["batches_sent"] == total - 1
    assert d["batches"] == {"sent": total}
    assert d["states"] == {"sent": 10, "skipped": 2} and d["status"] == "sent"
    again = json.loads(cli("push", "resume", cid, "--format", "json").stdout)  # nothing left to send
    assert again["batches_sent"] == 0 and again["batches"] == {"sent": total}
    assert "this run" in cli("push", "resume", cid).stdout
    sb.confirm()
    assert sum(per_recipient(sb.deliveries()).values()) == 10  # nobody twice


def test_ambiguous_send_that_reached_wecom_says_it_was_found_and_not_resent(ws, sb, cli):
    cid = _create(cli, "--audience", "list:m01,m03", "--text", "断线")["campaign_id"]
    sb.inject("drop_after", "add_msg_template")  # WeCom creates the task, the client never hears back
    heard: list[str] = []
    rep = send_campaign(ws, cid, on_note=heard.append)
    assert heard == rep.notes
    assert "no answer from WeCom" in rep.notes[0]
    assert any("checking WeCom's mass-send records" in n for n in rep.notes)
    found = [n for n in rep.notes if "found in WeCom's records (msgid" in n]
    assert len(found) == 1 and "NOT sent again" in found[0]
    assert not any("waiting" in n for n in rep.notes)  # found at once: no wait
    assert rep.reconciled == 1 and rep.states == {"sent": 2}
    sb.confirm()
    assert per_recipient(sb.deliveries()) == {"wm01": 1, "wm03": 1}


def test_ambiguous_send_that_never_arrived_says_what_it_waits_for_then_resends(ws, sb, cli):
    cid = _create(cli, "--audience", "list:m01,m03", "--text", "没送到")["campaign_id"]
    sb.inject("drop", "add_msg_template")  # the connection drops before WeCom processes anything
    r = cli("push", "send", cid, "--format", "json")
    d = json.loads(r.stdout)
    waited = [n for n in d["notes"] if "waiting" in n]
    assert len(waited) == 1 and "in transit" in waited[0] and "timeout" in waited[0]
    concluded = [n for n in d["notes"] if "never reached WeCom" in n]
    assert len(concluded) == 1 and "sent again" in concluded[0]
    # the people running it see the same lines on stderr as they happen
    for note in (waited[0], concluded[0]):
        assert note.split(":")[0] in r.stderr and "never reached WeCom" in r.stderr
    assert d["states"] == {"sent": 2} and d["batches_released"] == 1
    sb.confirm()
    assert per_recipient(sb.deliveries()) == {"wm01": 1, "wm03": 1}


def test_status_sync_reads_the_store_once_for_all_batches(ws, sb, cli, monkeypatch):
    """One read before the HTTP calls and one write after, whatever the number of batches."""
    cid = _create(cli, "--audience", "all", "--text", "多批")["campaign_id"]
    cli("push", "send", cid)
    sb.confirm()
    import siyu_cli.push.sender as sender

    opens: list[bool] = []
    real = sender.open_store

    def counting(settings, **kw):
        opens.append(kw.get("read_only", False))
        return real(settings, **kw)

    monkeypatch.setattr(sender, "open_store", counting)
    d = sync_status(ws, cid)
    assert sum(_batches(ws, cid).values()) >= 3
    assert opens == [True, False]
    assert d["delivery"] == {"delivered": 10}
