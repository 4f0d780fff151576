"""The demo's `siyu sync wecom` step links customers by unionid (the mini-program export) and by remark phone,
in exactly the numbers the generator's world predicts (sandbox over real HTTP on 127.0.0.1)."""

from __future__ import annotations

from datetime import date

import pytest

pytest.importorskip("siyu_cli.sync.wecom")

from siyu_cli.demo.generator import build  # noqa: E402
from siyu_cli.demo.runner import DEFAULT_STEPS, run_demo  # noqa: E402

TODAY = date(2026, 11, 25)


def test_small_demo_links_by_unionid_and_phone_as_the_generator_predicts(tmp_path):
    steps = [s for s in DEFAULT_STEPS if s.id in ("generate", "load", "sync")]
    result = run_demo(tmp_path / "demo", members=150, seed=7, today=TODAY, steps=steps)
    assert result.ok, [(s.id, s.error) for s in result.steps]
    sync = result.step("sync").summary
    exp = build(150, 7, TODAY).expected()  # the world again, from the generator alone
    assert exp["wecom_linked_by_unionid"] > 0 and exp["wecom_linked_by_phone"] > 0
    assert sync["by unionid"] == exp["wecom_linked_by_unionid"]
    assert sync["by remark phone"] == exp["wecom_linked_by_phone"]
    assert sync["links"].startswith("ok (") and sync["ground truth"] == "ok"
    assert sync["export new members"] == 0
    # the unionid links go to the mini-program's members: the store says so independently of the sync's counts
    from siyu_cli.config import load_settings
    from siyu_cli.store import open_store

    with open_store(load_settings(tmp_path / "demo", env={}), read_only=True) as con:
        via_mp = con.execute("""
            SELECT count(DISTINCT c.external_userid) FROM wecom_customers c
            JOIN member_identities u ON u.id_type = 'unionid' AND u.id_value = c.unionid AND u.member_id = c.member_id
            JOIN member_identities s ON s.id_type = 'source_member_id' AND s.member_id = c.member_id
        """).fetchone()[0]
    assert via_mp == exp["wecom_linked_by_unionid"]


def _sandbox_contacts_per_guide(data, dfrom: date, dto: date, tz) -> dict[str, int]:
    """Customers per guide added in [dfrom, dto], counted from a sandbox seeded with the demo world alone."""
    from datetime import datetime

    from siyu_cli.demo.sync_step import seed_sandbox
    from siyu_cli.sandbox import SandboxServer

    server = SandboxServer(seed="none")  # never started: only its state is read
    seed_sandbox(server, data)
    out: dict[str, set[str]] = {}
    for ext, userid in server.state.live_relations():
        added = datetime.fromtimestamp(server.state.contacts[ext]["followers"][userid], tz).date()
        if dfrom <= added <= dto:
            out.setdefault(userid, set()).add(ext)
    return {u: len(s) for u, s in out.items()}


def test_report_new_friends_per_guide_equal_the_sandboxs_contacts_per_guide(tmp_path, monkeypatch, cli):
    """Issue 15: on the demo workspace the guide leaderboard's 新增企微好友 per guide is exactly what the sandbox
    holds per guide for the period — through the library and through `siyu report --format json`."""
    import json
    from zoneinfo import ZoneInfo

    from siyu_cli.config import load_settings
    from siyu_cli.report import build_report

    root = tmp_path / "demo"
    steps = [s for s in DEFAULT_STEPS if s.id in ("generate", "load", "sync")]
    result = run_demo(root, members=150, seed=7, today=TODAY, steps=steps)
    assert result.ok, [(s.id, s.error) for s in result.steps]
    settings = load_settings(root, env={})
    tz = ZoneInfo(settings.timezone)  # the report counts days in the workspace zone
    data = build(150, 7, TODAY)
    for dfrom in (date(2000, 1, 1), date(2026, 9, 1)):  # everyone, and a recent window with fewer guides' adds
        want = _sandbox_contacts_per_guide(data, dfrom, TODAY, tz)
        assert sum(want.values()) > 0
        rep = build_report(settings, date_from=dfrom, date_to=TODAY)
        got = {r["guide"]: r["new_contacts"] for r in rep.sections["leaderboards"]["guide"] if r["new_contacts"]}
        assert got == want, dfrom
        monkeypatch.setenv("SIYU_WORKSPACE", str(root))
        out = json.loads(cli("report", "--from", dfrom.isoformat(), "--to", TODAY.isoformat(), "--format", "json").stdout)
        cli_got = {r["guide"]: r["new_contacts"] for r in out["sections"]["leaderboards"]["guide"] if r["new_contacts"]}
        assert cli_got == want, dfrom
