"""The HTML report opened in headless Chromium: no console errors, every chart painted, a screenshot taken."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from report_fixture import populate
from siyu_cli.report import build_report, write_html

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--virtual-time-budget=8000",
]
CHARTS = ("trend", "lifecycle", "pareto", "segments", "cohorts", "stores", "guides", "addrate", "campaigns")


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/system-deps should have installed it")
        pytest.skip("chromium is not installed (run .ci/system-deps)")
    return path


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args],
        capture_output=True, text=True, timeout=120,
    )


def console_errors(stderr: str) -> list[str]:
    """Page console messages Chromium logs as ``INFO:CONSOLE(...)`` lines (errors and uncaught exceptions)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def pre(dom: str, element_id: str) -> str:
    m = re.search(rf'<pre id="{element_id}">(.*?)</pre>', dom, re.S)
    assert m, f"#{element_id} missing from the DOM"
    return m.group(1)


@pytest.fixture
def page(settings, tmp_path):
    populate(settings)
    report = build_report(settings, date_from=date(2026, 1, 1), date_to=date(2026, 3, 31), by="store")
    return write_html(report, tmp_path / "report.html")


def test_page_renders_every_chart_without_errors(page, tmp_path):
    proc = run_chromium(tmp_path, "--dump-dom", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert console_errors(proc.stderr) == []
    assert json.loads(pre(dom, "js-errors")) == []
    status = json.loads(pre(dom, "chart-status"))
    assert status == {name: "ok" for name in CHARTS}
    # the page's labels (English here: the suite's language) and the data's Chinese names survived into the DOM
    assert "Private-domain report" in dom and "Store leaderboard" in dom and "静安店" in dom


@pytest.mark.zh
def test_chinese_page_renders_every_chart_without_errors(settings, tmp_path):
    """The default language: the same page with Chinese labels (headings and chart captions) paints every chart."""
    populate(settings)
    report = build_report(settings, date_from=date(2026, 1, 1), date_to=date(2026, 3, 31), by="store")
    proc = run_chromium(tmp_path, "--dump-dom", write_html(report, tmp_path / "report.html").as_uri())
    assert console_errors(proc.stderr) == []
    assert json.loads(pre(proc.stdout, "js-errors")) == []
    assert json.loads(pre(proc.stdout, "chart-status")) == {name: "ok" for name in CHARTS}
    assert "私域经营报告" in proc.stdout and "门店业绩榜" in proc.stdout and "Store leaderboard" not in proc.stdout


def test_phone_screenshot(page, tmp_path):
    shot = tmp_path / "phone.png"
    proc = run_chromium(tmp_path, "--window-size=412,3000", f"--screenshot={shot}", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert console_errors(proc.stderr) == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (412, 3000)
    assert len(data) > 30_000  # a blank page compresses to a few KB
    keep = os.environ.get("SIYU_KEEP_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report-phone.png")


def test_empty_report_page_shows_no_data_without_errors(settings, tmp_path):
    page = write_html(build_report(settings, date_from=date(2026, 1, 1), date_to=date(2026, 3, 31)),
                      tmp_path / "empty.html")
    proc = run_chromium(tmp_path, "--dump-dom", page.as_uri())
    assert console_errors(proc.stderr) == []
    assert json.loads(pre(proc.stdout, "js-errors")) == []
    assert json.loads(pre(proc.stdout, "chart-status")) == {name: "empty" for name in CHARTS}
    assert "No data" in proc.stdout


def test_page_is_offline_and_script_safe(settings, tmp_path):
    populate(settings)
    from siyu_cli.store import open_store

    with open_store(settings) as con:  # a store name that tries to close the data script
        con.execute("UPDATE members SET store = '</script><b>x' WHERE store = '浦东店'")
    page = write_html(build_report(settings, date_from=date(2026, 1, 1), date_to=date(2026, 3, 31)),
                      tmp_path / "r.html")
    html = page.read_text(encoding="utf-8")
    assert "<script src" not in html and "<link" not in html
    assert html.count("</script>") == html.count("<script")  # the hostile name never closes a script
    proc = run_chromium(tmp_path, "--dump-dom", page.as_uri())
    assert json.loads(pre(proc.stdout, "js-errors")) == []
    assert json.loads(pre(proc.stdout, "chart-status"))["stores"] == "ok"
