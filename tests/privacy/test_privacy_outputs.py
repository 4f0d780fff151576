"""On the demo workspace, every output a person can share holds no full mobile number and no email.

The demo's own exports are the personal data (generated, but shaped like real back-office exports);
every phone and email in them is collected, then each output — terminal tables, --format csv/json,
files siyu writes, segment exports and diffs, push preview/status, plan sop, rejects, nested values in
`siyu sql`, JSON logs, the robot alert and the HTML report — is searched for them and for anything
shaped like a phone or an email.
"""

from __future__ import annotations

import json
import re
import stat
from datetime import date
from pathlib import Path

import pytest

from demo_helpers import built_demo

TODAY = date(2026, 11, 25)
PHONE_SHAPED = re.compile(r"(?<![0-9A-Za-z])(?:\+?86[ -]?)?1[3-9][0-9][ .-]?[0-9]{4}[ .-]?[0-9]{4}(?![0-9A-Za-z])")
EMAIL_SHAPED = re.compile(r"[A-Za-z0-9._%+-]{2,}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE_IN_EXPORT = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return built_demo(tmp_path_factory, "privacy", TODAY)


def personal_data(root: Path) -> tuple[set[str], set[str]]:
    phones, emails = set(), set()
    for f in (root / "exports").rglob("*"):
        if f.is_file() and f.suffix in (".csv", ".txt", ".json"):
            text = f.read_text(encoding="utf-8", errors="replace")
            phones |= set(PHONE_IN_EXPORT.findall(text))
            emails |= set(EMAIL_SHAPED.findall(text))
    return phones, emails


def assert_clean(name: str, text: str, phones: set[str], emails: set[str]) -> None:
    assert not PHONE_SHAPED.findall(text), f"{name}: phone-shaped {PHONE_SHAPED.findall(text)[:3]}"
    assert not EMAIL_SHAPED.findall(text), f"{name}: email {EMAIL_SHAPED.findall(text)[:3]}"
    digits = re.sub(r"(?<=[0-9])[ .-](?=[0-9])", "", text)
    leaked = [p for p in phones if p in digits]
    assert not leaked, f"{name}: full phone(s) {leaked[:3]}"
    leaked = [e for e in emails if e in text]
    assert not leaked, f"{name}: email(s) {leaked[:3]}"


def test_every_shareable_output_is_masked(demo, cli, monkeypatch, tmp_path):
    monkeypatch.setenv("SIYU_WORKSPACE", str(demo))
    phones, emails = personal_data(demo)
    assert len(phones) > 50 and emails, "the demo must hold personal data for this test to mean anything"
    # a reject line in every separator style, and a WeCom msgid glued to a phone-like run
    some = sorted(phones)[:3]
    odd = demo / "odd-orders.csv"
    odd.write_text("order_id,paid_at,paid_amount,phone\n"
                   f"X1,2026-01-02,bad,{some[0][:3]}-{some[0][3:7]}-{some[0][7:]}\n"
                   f"X2,2026-01-02,bad,{some[1][:3]} {some[1][3:7]} {some[1][7:]}\n"
                   f"X3,2026-01-02,bad,+86 {some[2]}\n", encoding="utf-8")
    cli("load", "orders", odd, expect=65)
    cli("segment", "run", "--as-of", "2026-11-01")  # a second snapshot, for the diff
    cli("segment", "run", "--as-of", "2026-11-25")
    out: dict[str, str] = {}

    def run(name, *args, expect=0):
        r = cli(*args, expect=expect)
        out[name] = r.stdout + "\n" + r.stderr

    nested = ("SELECT list(phone) AS phones, {'p': any_value(phone), 'e': any_value(email)} AS s, "
              "map([any_value(phone)], [any_value(email)]) AS m, [[any_value(email)]] AS deep FROM members")
    for f in ("table", "csv", "json"):
        run(f"sql {f}", "sql", "SELECT * FROM members", "--format", f)
        run(f"sql nested {f}", "sql", nested, "--format", f)
        run(f"sql orders {f}", "sql", "SELECT * FROM orders", "--format", f)
        run(f"rejects {f}", "rejects", "--all", "--format", f)
        run(f"segment {f}", "segment", "--format", f)
        run(f"diff {f}", "segment", "diff", "--path", "A:E", "--format", f)
        run(f"plan sop {f}", "plan", "sop", "--date", "2026-11-25", "--format", f)
        run(f"push list {f}", "push", "list", "--format", f)
    for f in ("csv", "json"):
        run(f"segment file {f}", "segment", "--format", f, "--output", tmp_path / f"seg.{f}")
        out[f"segment file content {f}"] = (tmp_path / f"seg.{f}").read_text(encoding="utf-8")
        run(f"diff file {f}", "segment", "diff", "--path", "A:E", "--format", f, "--output", tmp_path / f"diff.{f}")
        out[f"diff file content {f}"] = (tmp_path / f"diff.{f}").read_text(encoding="utf-8")
        run(f"sop file {f}", "plan", "sop", "--date", "2026-11-25", "--format", f, "--output", tmp_path / f"sop.{f}")
        out[f"sop file content {f}"] = (tmp_path / f"sop.{f}").read_text(encoding="utf-8")
    campaigns = json.loads(cli("push", "list", "--format", "json").stdout)
    assert campaigns
    for c in campaigns[:5]:
        cid = c["campaign_id"]
        for f in ("table", "json", "csv"):
            run(f"preview {cid} {f}", "push", "preview", cid, "--all", "--format", f)
            run(f"status {cid} {f}", "push", "status", cid, "--no-sync", "--recipients", "--format", f)
    run("optout list", "optout", "list", "--format", "json")
    run("report", "report")
    run("report html", "report", "--html", tmp_path / "r.html")
    out["report html content"] = (tmp_path / "r.html").read_text(encoding="utf-8").replace(_echarts(), "")
    out["demo report html"] = (demo / "reports" / "report.html").read_text(encoding="utf-8").replace(_echarts(), "")
    # JSON logs: a failing inbox file named after a phone puts the phone in an error event
    inbox = demo / "inbox"
    inbox.mkdir(exist_ok=True)
    (inbox / f"orders-{some[0]}.csv").write_text("nothing,useful\n1,2\n", encoding="utf-8")
    r = cli("run", "nightly", "--log-format", "json", "--no-alert", expect=None)
    out["run json log"] = r.stdout + r.stderr
    assert some[0][:3] + "****" + some[0][7:] in out["run json log"]  # the event is there, masked
    for failed in (inbox / "failed").iterdir():
        assert stat.S_IMODE(failed.stat().st_mode) == 0o600, failed
        if failed.name.endswith(".error.txt"):
            out["failed error file"] = failed.read_text(encoding="utf-8")
    assert stat.S_IMODE((inbox / "failed").stat().st_mode) == 0o700

    assert len(out) > 60
    for name, text in out.items():
        assert_clean(name, text, phones, emails)
    # the masked forms are there (the test is not passing on empty outputs)
    assert "****" in out["sql csv"] and "***@" in out["sql csv"] and "****" in out["sql nested json"]
    assert "***@" in out["sql nested json"]
    for style in ("rejects csv", "rejects json"):
        for p in some:
            assert f"{p[:3]}****{p[7:]}" in out[style]
    # --unmask is the way out
    full = cli("sql", "SELECT phone FROM members WHERE phone IS NOT NULL", "--format", "csv", "--unmask").stdout
    assert any(p in full for p in phones)
    # files siyu writes are the owner's only
    for f in ("seg.csv", "sop.json", "r.html", "diff.csv"):
        assert stat.S_IMODE((tmp_path / f).stat().st_mode) == 0o600, f
    store = demo / "siyu.duckdb"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE((demo / ".siyu" / "id.key").stat().st_mode) == 0o600


def _echarts() -> str:
    """The vendored chart library inlined in the report (third-party code, not our output)."""
    from siyu_cli.report.html import _script_safe, echarts_js

    return _script_safe(echarts_js())


def test_member_ids_are_pseudonymous(demo):
    from siyu_cli.config import load_settings
    from siyu_cli.store import open_store

    with open_store(load_settings(demo), read_only=True) as con:
        ids = [r[0] for r in con.execute("SELECT member_id FROM members").fetchall()]
    assert ids
    assert not [i for i in ids if PHONE_SHAPED.search(i) or "@" in i or i.startswith(("p:", "e:", "u:"))]
    assert any(re.fullmatch(r"ph:[0-9a-f]{20}", i) for i in ids)


def test_robot_alert_text_is_masked(workspace, settings, monkeypatch):
    """A failed step whose error quotes a phone and an email: the alert posted to the robot masks both."""
    from siyu_cli.runner import alerts
    from siyu_cli.runner.events import EventLog

    sent = []

    class Robot:
        def __init__(self, key, **kw):
            pass

        def send_text(self, text):
            sent.append(text)

    monkeypatch.setattr("siyu_cli.wecom.WebhookClient", Robot)
    monkeypatch.setenv("SIYU_ALERT_ROBOT_KEY", "k-test-robot-key")
    monkeypatch.setattr(alerts, "alert_config", lambda s: {"on_success": True, "on_failure": True,
                                                            "robot_key_env": "SIYU_ALERT_ROBOT_KEY", "base_url": None})
    monkeypatch.setattr(alerts, "alert_text", lambda s, r: "错误：13812345678 / boss.li@example.com")
    assert alerts.maybe_alert(settings, type("R", (), {"status": "failed"})(), EventLog(quiet=True), force=True)
    assert sent == ["错误：138****5678 / b***@example.com"]
