"""The report reads in the operator's language (issue 15): the HTML page and the terminal dashboard take
every heading, label, note and chart caption from siyu's catalogue — Chinese by default, English with
``--lang en`` — while ids, JSON keys and the names in the data stay as they are."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date

import pytest

from report_fixture import PERIOD, populate
from siyu_cli.i18n import label
from siyu_cli.report import build_report
from siyu_cli.report.html import CHART_LABELS, render_html

FROM, TO = PERIOD
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")

#: the sections only a sync, an experiment or a CLV fit fill: given here so that every block of the page renders
EXTRA = {
    "experiments": [{"campaign_id": "c9", "name": "Spring", "arms": [
        {"arm": "holdout", "assigned": 50, "reached": 0, "response_rate": 0.1, "gmv_per_assigned": 3.0},
        {"arm": "A", "assigned": 100, "reached": 90, "response_rate": 0.2, "gmv_per_assigned": 5.0},
        {"arm": "B", "assigned": 10, "reached": 9, "response_rate": 0.3, "gmv_per_assigned": 6.0}],
        "uplift": [{"arm": "A", "itt": {"diff": 0.1, "ci_low": 0.02, "ci_high": 0.18, "p_value": 0.01,
                                        "verdict": "significant"}},
                   {"arm": "B", "itt": {"diff": 0.2, "ci_low": None, "ci_high": None, "p_value": None,
                                        "verdict": "not_enough_data"}}]}],
    "redemptions": [{"campaign_id": "c9", "name": "Spring", "codes": ["SPRING"], "arms": [
        {"arm": "holdout", "assigned": 50, "redeemers": 1, "redemption_rate": 0.02, "orders": 1, "gmv": 10.0},
        {"arm": "A", "assigned": 100, "redeemers": 20, "redemption_rate": 0.2, "orders": 22, "gmv": 500.0}],
        "uplift": [{"arm": "A", "itt": {"diff": 0.18, "ci_low": 0.1, "ci_high": 0.26, "p_value": 0.001,
                                        "verdict": "not_enough_data"}}],
        "outside": {"orders": 3, "gmv": 40.0}, "note": None}],
    "clv": {"horizon_months": 12, "fit_id": "f1", "as_of": "2026-03-31",
            "at_risk": {"p_alive_below": 0.3, "members": 2, "past_revenue": 100.0, "remaining_clv": 20.0},
            "segments": [{"segment_id": "A", "segment_name": "vip", "with_prediction": 3, "p_alive_mean": 0.8,
                          "clv_total": 300.0, "clv_mean": 100.0, "at_risk": 1, "at_risk_clv": 10.0}]},
    "contact_events": {"totals": {"contact_added": 3, "contact_removed": 1, "contact_deleted": 1, "contact_lost": 2,
                                  "group_joined": 4, "group_left": 1},
                       "by_guide": [{"guide": "g1", "name": "Amy", "added": 3, "removed": 1, "deleted": 1}]},
    "guide_activity": [{"guide": "g1", "name": "Amy", "new_contacts": 3, "chats": 5, "messages": 20,
                        "reply_percentage": 80.0, "avg_reply_minutes": 3.5, "negative_feedback": 0}],
    "group_health": [{"owner": "g1", "groups": 2, "members": 300, "new_members": 10, "active_members_per_day": 4.5,
                      "messages": 100, "left": 2}],
}


def full_report(settings, language: str):
    """The fixture's report for a period ending mid-March (a partial month) with every section filled."""
    populate(settings)
    report = build_report(settings, date_from=date(2026, 1, 1), date_to=date(2026, 3, 15), by="store")
    report = replace(report, language=language)
    report.sections.update(EXTRA)
    return report


def template_msgids() -> set[str]:
    """The msgids the page's template and its chart labels use (as i18n_tools extracts them)."""
    from siyu_cli.i18n_tools import extract_catalog

    ids = {m.id for m in extract_catalog() if m.id and any("templates/" in loc for loc, _ in m.locations)}
    return ids | set(CHART_LABELS.values())


def people_text(html: str) -> str:
    """What a reader sees outside the data cells: title, headings, table headers, notes, footer."""
    parts = re.findall(r"<(title|h1|h2|th|summary|footer|p)\b[^>]*>(.*?)</\1>", html, re.S)
    return "\n".join(re.sub(r"<[^>]+>", "", body) for _, body in parts)


def chart_labels(html: str) -> dict:
    return json.loads(re.search(r'<script id="report-labels" type="application/json">(.*?)</script>', html, re.S)[1])


def test_html_report_is_english_with_lang_en(settings):
    html = render_html(full_report(settings, "en"))
    assert '<html lang="en">' in html
    text = people_text(html)
    assert not CJK.search(text), CJK.findall(text)
    for heading in ("Private-domain report", "Key figures", "Store leaderboard", "By store", "Randomised experiments",
                    "Attribution by redemption", "CLV by segment", "Contacts and groups", "Group health",
                    "KPI definitions", "* Partial months hold only the days in the period"):
        assert heading in text, heading
    assert "2026-03 (15/31 days)" in text
    assert chart_labels(html) == {key: msgid for key, msgid in CHART_LABELS.items()}
    assert ">significant<" in html and ">not enough data<" in html  # verdicts read as words, not ids
    assert "静安店" in html  # names in the data are never translated


@pytest.mark.zh
def test_html_report_is_chinese_by_default(settings):
    report = full_report(settings, settings.language)
    assert settings.language == "zh"
    html = render_html(report)
    assert '<html lang="zh-CN">' in html
    text = people_text(html)
    for heading in ("私域经营报告", "核心指标", "门店业绩榜", "按门店拆分", "随机对照实验", "按核销归因", "CLV 分层",
                    "好友与群变动", "社群健康度", "指标口径", "* 不完整月份"):
        assert heading in text, heading
    assert "2026-03（15/31 天）" in text
    # no English msgid of the page survives where the catalogue has a different Chinese text
    left = sorted(m for m in template_msgids() if len(m) > 3 and label(m, "zh") != m and m in text)
    assert not left, left
    labels = chart_labels(html)
    assert all(CJK.search(v) for v in labels.values()), labels
    assert labels["no_data"] == "暂无数据" and labels["active"] == "活跃（≤{days}天）"
    assert ">显著<" in html and ">数据不足<" in html


@pytest.mark.zh
def test_report_html_follows_lang(cli, settings, tmp_path):
    """`siyu report --html` as run: Chinese by default, English with --lang en (JSON keys unchanged)."""
    populate(settings)
    zh, en = tmp_path / "zh.html", tmp_path / "en.html"
    cli("report", "--from", FROM, "--to", TO, "--html", str(zh))
    out = cli("--lang", "en", "report", "--from", FROM, "--to", TO, "--html", str(en), "--format", "json").stdout
    assert json.loads(out)["kpis"]["gmv"] == 660
    zh_text, en_text = people_text(zh.read_text(encoding="utf-8")), people_text(en.read_text(encoding="utf-8"))
    assert "私域经营报告" in zh_text and "门店业绩榜" in zh_text and "Store leaderboard" not in zh_text
    assert "Private-domain report" in en_text and not CJK.search(en_text), CJK.findall(en_text)


def test_kpi_names_come_from_the_catalogue():
    """kpi_label: the English name is the msgid; the catalogue's Chinese is the registry's name (docs/report.md
    shows both), so the two never drift apart; ids stay the stable keys."""
    from siyu_cli.report.kpis import KPIS, kpi_label

    assert [kpi_label(k.id, "en") for k in KPIS] == [k.name_en for k in KPIS]
    drift = [(k.id, k.name, kpi_label(k.id, "zh")) for k in KPIS if kpi_label(k.id, "zh") != k.name]
    assert not drift, drift


def module_msgids(*modules: str) -> set[str]:
    from siyu_cli.i18n_tools import extract_catalog

    return {m.id for m in extract_catalog() if isinstance(m.id, str) and m.id
            and any(loc.endswith(modules) for loc, _ in m.locations)}


def test_terminal_report_is_english_with_lang_en(settings):
    from siyu_cli.report.terminal import render_text

    report = full_report(settings, "en")
    out = render_text(report)
    for text in ("Private-domain report  2026-01-01 – 2026-03-15 (74 days)", "GMV net of refunds",
                 "* partial months (days in the period/days in the month): 2026-03 (15/31)",
                 "active ≤90d", "churned >180d", "top 20% buyers", "Store leaderboard", "Guide leaderboard",
                 "Campaigns (observational control", "Attribution by redemption", "CLV (12 months, fit f1",
                 "significant", "not enough data", "new friends 3", "By store"):
        assert text in out, text
    # no Chinese label of the dashboard is left (the data's own names — stores, segments — stay as they are)
    for name in data_names(report):
        out = out.replace(name, "")
    left = sorted(label(m, "zh") for m in module_msgids("report/terminal.py", "report/wecom.py", "report/format.py")
                  if "{" not in m and label(m, "zh") != m and label(m, "zh") in out)
    assert not left, left


def data_names(report) -> set[str]:
    s = report.sections
    names = {m["segment_name"] or "" for m in s["segments"]["mix"]} | {c["name"] or "" for c in s["campaigns"]}
    for rows in s["leaderboards"].values():
        names |= {r.get("name") or "" for r in rows} | {r.get("store") or "" for r in rows}
    return {n for n in names if n}


@pytest.mark.zh
def test_terminal_report_is_chinese_by_default(settings):
    from siyu_cli.report.terminal import render_text

    out = render_text(full_report(settings, settings.language))
    for text in ("私域经营报告  2026-01-01 ~ 2026-03-15（74 天）", "销售额（扣退款）",
                 "* 不完整月份（期内天数/当月天数）：2026-03 (15/31)", "活跃 ≤90天", "流失 >180天", "前 20% 会员贡献",
                 "门店业绩榜", "导购业绩榜", "活动效果（观察性对照", "按核销归因", "CLV（12 个月，拟合 f1", "显著", "数据不足",
                 "按门店拆分"):
        assert text in out, text
    # no English msgid of the dashboard is left where the catalogue has Chinese for it
    left = sorted(m for m in module_msgids("report/terminal.py", "report/wecom.py", "report/format.py")
                  if len(m) > 4 and "{" not in m and label(m, "zh") != m and re.search(rf"(?<![\w-]){re.escape(m)}(?![\w-])", out))
    assert not left, left


@pytest.mark.parametrize("language", ["en", pytest.param("zh", marks=pytest.mark.zh)])
def test_measured_and_wecom_panels_fit_80_columns(settings, language):
    """At 80 columns the experiment, redemption, CLV and WeCom panels keep every number and word whole
    (output.rows_table; wrapped headers; totals above the table, not cut off in a title)."""
    from rich.cells import cell_len

    from siyu_cli.report.terminal import render_text

    out = render_text(full_report(settings, language), width=80)
    assert max(cell_len(line) for line in out.splitlines()) <= 80
    below_headline = out.split("╰", 1)[1]  # the KPI grid may shorten a label; nothing else is cut
    assert "…" not in below_headline
    flat = " ".join(out.split())
    for text in ("+18.0pt", "[+10.0,", "+26.0]", "¥500.00", "¥300.00", "4.5", "300"):  # the CI may wrap whole
        assert text in flat, text
    words = {"en": ("not enough data", "joined groups 4 · left groups 1", "left out to fit 80"),
             "zh": ("数据不足", "入群 4 · 退群 1", "为适应 80 列终端省略了")}[language]
    for text in words:
        assert text in flat, text
