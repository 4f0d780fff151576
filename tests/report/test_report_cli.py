"""`siyu report` as a user runs it: dashboard, json, csv, --html, `report traffic`, errors."""

from __future__ import annotations

import csv
import io
import json

import pytest

from report_fixture import PERIOD, populate
from siyu_cli.config import load_settings
from siyu_cli.report import build_report
from siyu_cli.report.terminal import render_text
from siyu_cli.store import open_store

FROM, TO = PERIOD


@pytest.mark.zh
def test_dashboard_fits_100_columns(cli, settings):
    populate(settings)
    out = cli("report", "--from", FROM, "--to", TO, "--by", "store").stdout
    from rich.cells import cell_len

    widths = [cell_len(line) for line in out.splitlines()]
    assert max(widths) <= 100
    assert "私域经营报告  2026-01-01 ~ 2026-03-31（90 天）" in out
    # hand-checked values appear formatted: GMV 660, AOV 82.5, 会员订单占比 7/8
    assert "¥660.00" in out and "¥82.50" in out and "87.5%" in out
    for title in ("月度趋势", "会员活跃度", "RFM 分层", "同期群留存", "门店业绩榜", "导购业绩榜", "加粉率", "活动效果", "按门店拆分"):
        assert title in out, title
    assert "三月复购券" in out and "+50.0pt" in out


def test_dashboard_of_an_empty_workspace(cli, workspace):
    result = cli("report", "--from", FROM, "--to", TO)
    assert "¥0.00" in result.stdout and "—" in result.stdout
    assert "siyu segment" in result.stdout  # the note why RFM is missing


def test_json(cli, settings):
    populate(settings)
    data = json.loads(cli("report", "--from", FROM, "--to", TO, "--format", "json").stdout)
    assert data["period"] == {"from": FROM, "to": TO, "days": 90}
    assert data["kpis"]["gmv"] == 660 and data["kpis"]["orders"] == 8
    assert data["sections"]["campaigns"][0]["campaign_id"] == "c1"
    assert data["config"]["active_days"] == 90


def test_csv(cli, settings):
    populate(settings)
    out = cli("report", "--from", FROM, "--to", TO, "--format", "csv", "--by", "month").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    by_key = {(r["section"], r["group"], r["kpi"]): r["value"] for r in rows}
    assert float(by_key[("base", "", "gmv")]) == 660
    assert float(by_key[("membership", "", "member_order_share")]) == 0.875
    assert by_key[("leaderboard_store", "浦东店", "buyers")] == "0"
    assert by_key[("leaderboard_store", "浦东店", "repurchase_rate")] == ""  # no buyers: empty, not 0
    assert float(by_key[("by_month", "2026-02", "aov")]) == 130
    assert float(by_key[("cohorts", "2026-01 +2", "cohort_retention")]) == 0.5
    assert rows[0].keys() == {"section", "group", "kpi", "name", "value"}


def test_html_option_writes_a_self_contained_page(cli, settings, tmp_path):
    populate(settings)
    target = tmp_path / "out" / "report.html"
    result = cli("report", "--from", FROM, "--to", TO, "--html", str(target), "--format", "json")
    assert json.loads(result.stdout)["kpis"]["buyers"] == 4
    html = target.read_text(encoding="utf-8")
    assert "<script src" not in html and "http://" not in html.split("<script>")[0]
    assert "echarts" in html and "Private-domain report" in html and "¥660.00" in html
    import re

    # nothing is fetched: no src/href to any URL (licence comments inside the inlined JS may mention URLs)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)


def test_traffic_loads_and_feeds_the_add_rate(cli, settings, tmp_path):
    populate(settings, traffic=False)
    f = tmp_path / "traffic.csv"
    f.write_text("门店,日期,进店人数\n徐汇店,2026-01,20\n徐汇店,2026-02-03,\"10\"\n徐汇店,2026-05-01,7\n", encoding="utf-8")
    out = json.loads(cli("report", "traffic", str(f), "--format", "json").stdout)
    assert (out["rows"], out["stores"], out["first"], out["last"]) == (3, 1, "2026-01-01", "2026-05-01")
    # 徐汇店 contacts in the period: wm3x, wmz, wm2 = 3; traffic 20 + 10 = 30 (May is outside)
    rates = build_report(load_settings(settings.root), date_from=__import__("datetime").date(2026, 1, 1),
                         date_to=__import__("datetime").date(2026, 3, 31)).sections["add_rate"]
    assert rates == [{"store": "徐汇店", "new_contacts": 3, "store_traffic": 30, "add_rate": 0.1}]
    # loading a corrected file replaces the same store/month instead of adding to it
    f.write_text("store,date,customers\n徐汇店,2026-01,50\n", encoding="utf-8")
    cli("report", "traffic", str(f))
    with open_store(settings, read_only=True) as con:
        assert con.execute("SELECT sum(customers) FROM store_traffic").fetchone()[0] == 50 + 10 + 7


def test_traffic_errors_are_one_line(cli, workspace, tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("store,date,customers\n静安店,2026-13-01,5\n", encoding="utf-8")
    result = cli("report", "traffic", str(f), expect=65)
    assert "bad.csv:2: bad date '2026-13-01'" in result.stderr and "Traceback" not in result.stderr
    f.write_text("store,when\nx,2026-01\n", encoding="utf-8")
    assert "no date column" in cli("report", "traffic", str(f), expect=65).stderr
    f.write_text("store,date,customers\nx,2026-01,-3\n", encoding="utf-8")
    assert "bad customers count" in cli("report", "traffic", str(f), expect=65).stderr
    assert "no such file" in cli("report", "traffic", str(tmp_path / "nope.csv"), expect=65).stderr


def test_usage_errors(cli, workspace):
    assert "after" in cli("report", "--from", "2026-02-01", "--to", "2026-01-01", expect=2).stderr
    assert "--by must be one of" in cli("report", "--by", "city", expect=2).stderr
    assert "2026-31-01" in cli("report", "--from", "2026-31-01", expect=2).stderr
    assert "--output needs" in cli("report", "--output", "x.json", expect=2).stderr


def test_bad_config_exits_78(cli, workspace):
    with (workspace / "siyu.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n[report]\nchurn_days = 10\n")
    assert "report.churn_days" in cli("report", expect=78).stderr


def test_english_labels(settings):
    populate(settings)
    from datetime import date

    r = build_report(settings, date_from=date(2026, 1, 1), date_to=date(2026, 3, 31))
    r.language = "en"
    text = render_text(r)
    assert "Private-domain report" in text and "Repurchase rate" in text


def test_report_in_a_subprocess(siyu_subprocess, settings, tmp_path):
    populate(settings)
    out = tmp_path / "r.json"
    proc = siyu_subprocess("report", "--from", FROM, "--to", TO, "--format", "json", "--output", str(out),
                           env={"SIYU_WORKSPACE": str(settings.root)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["kpis"]["new_contacts"] == 3


@pytest.mark.zh
def test_every_by_renders_in_terminal_and_html(settings, tmp_path):
    populate(settings)
    from datetime import date

    from siyu_cli.report import write_html

    for by in ("store", "guide", "channel", "month"):
        r = build_report(settings, date_from=date(2026, 1, 1), date_to=date(2026, 3, 31), by=by)
        text = render_text(r)
        html = write_html(r, tmp_path / f"{by}.html").read_text(encoding="utf-8")
        # issue 15: the dimension in Chinese too ("按 store 拆分" mixed the languages)
        zh = {"store": "门店", "guide": "导购", "channel": "渠道", "month": "月份"}[by]
        assert f"按{zh}拆分" in text and f"按{zh}拆分" in html
    # guide rows carry the guide's name; the walk-in order without a guide forms the "(none)" row
    guide_text = render_text(build_report(settings, date_from=date(2026, 1, 1), date_to=date(2026, 3, 31), by="guide"))
    assert "小王 (g1)" in guide_text and "（未指定）" in guide_text


def test_default_html_path(settings):
    from datetime import date

    from siyu_cli.report import default_html_path, write_html

    r = build_report(settings, date_from=date(2026, 1, 1), date_to=date(2026, 3, 31))
    path = write_html(r, default_html_path(settings, r))
    assert path == settings.root / "reports" / "report-2026-01-01_2026-03-31.html" and path.is_file()


def test_narrow_terminal_keeps_values_whole(settings):
    """At 60 columns the KPI grid drops to two pairs per row instead of truncating numbers."""
    populate(settings)
    from datetime import date

    r = build_report(settings, date_from=date(2026, 1, 1), date_to=date(2026, 3, 31))
    r.kpis["gmv"] = 131753882.0  # a big chain's year: every fen shown, never abbreviated to 万
    text = render_text(r, width=60)
    head = text.split("月度趋势")[0]
    assert "¥131,753,882.00" in head and "¥82.50" in head and "87.5%" in head  # numbers whole (labels may shorten)
    from rich.cells import cell_len

    assert max(cell_len(line) for line in text.splitlines()) <= 60
    assert "4  57.1%" in text  # the activity panel is not squeezed next to Pareto


def test_piped_dashboard_uses_100_columns(siyu_subprocess, settings):
    populate(settings)
    proc = siyu_subprocess("report", "--from", FROM, "--to", TO, env={"SIYU_WORKSPACE": str(settings.root),
                                                                     "COLUMNS": ""})
    assert proc.returncode == 0, proc.stderr
    from rich.cells import cell_len

    assert max(cell_len(line) for line in proc.stdout.splitlines()) == 100


def test_html_into_a_folder_and_unwritable_path(cli, settings, tmp_path):
    populate(settings)
    folder = tmp_path / "reports"
    folder.mkdir()
    cli("-q", "report", "--from", FROM, "--to", TO, "--html", str(folder))
    assert (folder / "report-2026-01-01_2026-03-31.html").is_file()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = cli("report", "--from", FROM, "--to", TO, "--html", str(blocker / "r.html"), expect=2)
    assert "cannot write the HTML report" in result.stderr and "Traceback" not in result.stderr
