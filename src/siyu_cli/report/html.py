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

from siyu_cli.report.kpis import KPI_BY_ID, KPIS, SECTIONS, CONVENTIONS
from siyu_cli.report.format import fmt_count, fmt_kpi, fmt_money, fmt_ratio
from siyu_cli.report.model import Report
from siyu_cli.i18n import _

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


def render_html(report: Report) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("siyu_cli.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(money=lambda v: fmt_money(v, report.currency), ratio=fmt_ratio, count=fmt_count)
    data = report.to_dict()
    data["labels"] = {k.id: k.name for k in KPIS}
    cards = [{"id": i, "name": KPI_BY_ID[i].name, "name_en": KPI_BY_ID[i].name_en,
              "value": fmt_kpi(i, report.kpis.get(i), report.currency), "definition": KPI_BY_ID[i].definition}
             for i in HEADLINE]
    definitions = [{"section": SECTIONS[k.section][0], **k.__dict__} for k in KPIS]
    template = env.get_template("report.html.j2")
    from siyu_cli.i18n import label

    # the page is Chinese (the boss reads it): "按门店拆分", never "按 store 拆分"
    by_title = label("By {dimension}", "zh").format(dimension=label(report.by, "zh")) if report.by else ""
    from siyu_cli.privacy import mask_text

    # the boss gets this file forwarded: phones and emails masked in everything but the vendored library
    slot = "\x00siyu-echarts\x00"
    html = template.render(
        r=report, s=data["sections"], cards=cards, by_title=by_title, definitions=definitions, conventions=CONVENTIONS,
        data_json=jinja2.utils.markupsafe.Markup(_json_for_html(data)),
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
