"""siyu's one clock: SIYU_NOW moves every default "now"/"today", and keeps ticking."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

from siyu_cli import clock


def test_unset_is_the_real_clock(monkeypatch):
    monkeypatch.delenv("SIYU_NOW", raising=False)
    assert abs(clock.now() - datetime.now(timezone.utc)) < timedelta(seconds=2)


def test_moved_clock_starts_at_the_value_and_keeps_ticking(monkeypatch):
    monkeypatch.setenv("SIYU_NOW", "2031-02-28T23:30:00+08:00")
    first = clock.now()
    assert timedelta(0) <= first - datetime(2031, 2, 28, 15, 30, tzinfo=timezone.utc) < timedelta(seconds=2)
    assert clock.today("Asia/Shanghai") == date(2031, 2, 28)
    assert clock.today("UTC") == date(2031, 2, 28)
    time.sleep(0.05)
    assert clock.now() > first  # durations stay real


def test_naive_and_date_only_values_are_utc(monkeypatch):
    monkeypatch.setenv("SIYU_NOW", "2026-12-31")
    assert clock.today("Asia/Shanghai") == date(2026, 12, 31)  # 08:00 in Shanghai
    assert clock.now().tzinfo is not None


def test_a_bad_value_is_a_config_error_from_any_command(cli, workspace, monkeypatch):
    monkeypatch.setenv("SIYU_NOW", "next tuesday")
    r = cli("report", "--format", "json", expect=78)
    assert "SIYU_NOW" in r.stderr and "Traceback" not in r.stderr


def test_report_period_follows_the_moved_clock(cli, workspace, monkeypatch):
    import json

    monkeypatch.setenv("SIYU_NOW", "2030-06-15T12:00+08:00")
    out = json.loads(cli("report", "--format", "json").stdout)
    assert out["period"]["to"] == "2030-06-15"
