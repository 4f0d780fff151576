"""The report as ONE self-contained HTML file: inline CSS, inline data, inline ECharts — no network needed.

Operators forward the file to the boss on WeCom and it is opened on a phone,
often without internet access to CDNs, so everything (the 1 MB ECharts build
included) is inside the page. The page records each chart's status in
``<pre id="chart-status">`` (ok / empty / error) and any script error in
``<pre id="js-errors">``, which the tests read from headless Chromium.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from siyu_cli.report.kpis import KPI_BY_ID, KPIS, CONVENTIONS, kpi_label
from siyu_cli.report.format import VERDICTS, fmt_count, fmt_kpi, fmt_money, fmt_ratio
from siyu_cli.report.model import Report
from siyu_cli.i18n import N_, _

ECHARTS_VERSION = "5.6.0"
ECHARTS_LICENSE = "Apache-2.0"


def echarts_js() -> str:
    """The vendored ECharts build (package data)."""
    return resources.files("siyu_cli.report").joinpath("vendor", "echarts.min.js").read_text(encoding="utf-8")


def _script_safe(text: str) -> str:
    """Make text safe inside <script>: no '</script' or '<!--' can end or confuse the element."""
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _json_for_html(data: Any) -> str:
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


HEADLINE = ["gmv", "orders", "aov", "buyers", "new_buyers", "returning_buyers", "members", "new_members", "member_gmv_share", "online_rate",
            "repurchase_rate", "purchase_frequency", "items_per_order", "annual_revenue_per_member",
            "active_share", "churned_share", "head_share", "new_contacts"]


#: the words the page's script draws into charts (captions, axes, legends, tooltips), in the report's language
CHART_LABELS = {
    "no_data": N_("No data"), "gmv": N_("GMV"), "people_orders": N_("Members / orders"), "orders": N_("Orders"),
    "buyers": N_("Buyers"), "new_members": N_("New members"),
    "active": N_("Active (≤{days} days)"), "silent": N_("Silent (≤{days} days)"),
    "churned": N_("Churned (>{days} days)"), "never_bought": N_("Never bought"),
    "member_share": N_("Share of members"), "gmv_share": N_("Share of GMV"),
    "cumulative_gmv_share": N_("Cumulative share of GMV"),
    "this_snapshot": N_("This snapshot"), "previous_snapshot": N_("Previous snapshot"), "members": N_("Members"),
    "cohort_tip": N_("Joined {month} ({size}), month {k}: {value}%"), "cohort_row": N_("{month} ({size})"),
    "months_after": N_("Months after joining"),
    "tip_gmv": N_("GMV {value}"), "tip_buyers": N_("Buyers {value}"),
    "tip_repurchase": N_("Repurchase rate {value}"), "tip_new_contacts": N_("New contacts {value}"),
    "add_rate": N_("Add rate"), "reached_repurchase": N_("Repurchase of reached members"),
    "control_repurchase": N_("Control group repurchase"),
}

def render_html(report: Report) -> str:
    """The page in ``report.language``: every heading, label, note and chart caption comes from siyu's
    catalogue (jinja2's i18n extension with the report's own gettext); names in the data stay as they are."""
    import jinja2

    from siyu_cli.i18n import label, label_n

    language = report.language

    def L(message: str) -> str:  # noqa: N802 (i18n_tools extracts L("…"))
        return label(message, language)

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("siyu_cli.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(L, lambda one, many, n: label_n(one, many, n, language), newstyle=False)
    env.filters.update(money=lambda v: fmt_money(v, report.currency), ratio=fmt_ratio, count=fmt_count,
                       verdict=lambda v: L(VERDICTS[v]) if v in VERDICTS else v)
    data = report.to_dict()
    data["labels"] = {k.id: kpi_label(k.id, language) for k in KPIS}
    cards = [{"id": i, "name": kpi_label(i, language),
              "value": fmt_kpi(i, report.kpis.get(i), report.currency), "definition": KPI_BY_ID[i].definition}
             for i in HEADLINE]
    other = "en" if language == "zh" else "zh"
    definitions = [{**k.__dict__, "name": kpi_label(k.id, language), "name_other": kpi_label(k.id, other)}
                   for k in KPIS]
    template = env.get_template("report.html.j2")
    # "按门店拆分", never "按 store 拆分": the dimension is a word of the page's language too
    by_title = L("By {dimension}").format(dimension=L(report.by)) if report.by else ""
    chart_labels = {key: L(msgid) for key, msgid in CHART_LABELS.items()}

    def partial_months(months: list[dict]) -> str:
        # TRANSLATORS: the separator of a list of months ("、" in Chinese)
        return L(", ").join(L("{month} ({covered}/{days} days)").format(
            month=m["month"], covered=m["days_covered"], days=m["days_in_month"]) for m in months)

    from siyu_cli.privacy import mask_text

    # the boss gets this file forwarded: phones and emails masked in everything but the vendored library
    slot = "\x00siyu-echarts\x00"
    html = template.render(
        r=report, s=data["sections"], cards=cards, by_title=by_title, definitions=definitions, conventions=CONVENTIONS,
        lang="zh-CN" if language == "zh" else "en", partial_months=partial_months,
        data_json=jinja2.utils.markupsafe.Markup(_json_for_html(data)),
        labels_json=jinja2.utils.markupsafe.Markup(_json_for_html(chart_labels)),
        echarts=jinja2.utils.markupsafe.Markup(slot),
        echarts_version=ECHARTS_VERSION, echarts_license=ECHARTS_LICENSE,
    )
    return mask_text(html).replace(slot, _script_safe(echarts_js()), 1)


def write_html(report: Report, path: Path) -> Path:
    """Write atomically (temp file + rename); a folder gets ``report-<from>_<to>.html`` inside it."""
    from siyu_cli.errors import UsageError

    path = Path(path).expanduser()
    if path.is_dir():
        path = path / f"report-{report.date_from}_{report.date_to}.html"
    text = render_html(report)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        from siyu_cli.privacy import write_private

        write_private(tmp, text)
        tmp.replace(path)
    except OSError as exc:
        if tmp.parent.is_dir():
            tmp.unlink(missing_ok=True)
        raise UsageError(_('cannot write the HTML report to {path}: {value}').format(path=path, value=exc.strerror or exc)) from None
    return path
