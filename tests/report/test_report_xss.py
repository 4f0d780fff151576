"""Names in the HTML report are text: no script runs in headless Chromium with every tooltip shown (issue 13)."""

from __future__ import annotations

import html as html_lib
import json
from datetime import date

from report_fixture import populate
from siyu_cli.report import build_report, write_html
from siyu_cli.store import open_store
from test_report_html import console_errors, pre, run_chromium

# Each payload marks the page if it ever runs: document.title and window.__xss.
PAYLOAD = "<img src=x onerror=\"document.title='XSS';window.__xss=(window.__xss||0)+1\">"
SCRIPT = "</script><script>document.title='XSS';window.__xss=1</script><!--"

# After the charts draw: show the tooltip of every data point of every chart, then record what happened.
PROBE = """<script>
setTimeout(function () {
  var shown = 0, text = [];
  document.querySelectorAll("[id^=chart-]").forEach(function (el) {
    var c = echarts.getInstanceByDom(el);
    if (!c) return;
    (c.getOption().series || []).forEach(function (s, si) {
      (s.data || []).forEach(function (_, di) {
        c.dispatchAction({ type: "showTip", seriesIndex: si, dataIndex: di });
        var tip = Array.prototype.filter.call(el.querySelectorAll("div"), function (d) {
          return d.style.zIndex && d.style.display !== "none" && d.textContent; });
        if (tip.length) { shown++; text.push(tip[tip.length - 1].textContent); }
      });
    });
  });
  setTimeout(function () {
    document.getElementById("xss-probe").textContent = JSON.stringify(
      { shown: shown, title: document.title, xss: window.__xss || 0, text: text.join("\\n") });
  }, 1500);
}, 500);
</script>
<pre id="xss-probe"></pre>
"""


def test_hostile_names_never_run_script_in_tooltips_or_page(settings, tmp_path):
    populate(settings)
    with open_store(settings) as con:
        for table in ("orders", "members", "store_traffic", "staff"):
            con.execute(f"UPDATE {table} SET store = ? WHERE store = '静安店'", [PAYLOAD + "静安店"])
        con.execute("UPDATE staff SET name = ? WHERE userid = 'g1'", [SCRIPT + "导购一"])
        con.execute("UPDATE push_campaigns SET name = ?", [PAYLOAD + "活动"])
        con.execute("UPDATE segment_member_rows SET segment_name = ?", [PAYLOAD + "分层"])
    report = build_report(settings, date_from=date(2026, 1, 1), date_to=date(2026, 3, 31), by="store")
    page = write_html(report, tmp_path / "report.html")
    html = page.read_text(encoding="utf-8")
    assert html.count("</script>") == html.count("<script")  # no name closes a script element
    assert "<img src=x" not in html  # every occurrence is escaped (JSON \\u003c or &lt;)
    probe = page.with_name("probe.html")
    probe.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")

    proc = run_chromium(tmp_path, "--dump-dom", probe.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(html_lib.unescape(pre(proc.stdout, "xss-probe")))  # the DOM dump escapes the <pre>
    assert result["shown"] >= 10, result  # the tooltips really were shown
    assert "<img src=x" in result["text"]  # … and showed the hostile names as text
    assert result["xss"] == 0 and result["title"].startswith("Private-domain report"), result
    assert json.loads(pre(proc.stdout, "js-errors")) == []
    assert console_errors(proc.stderr) == []
    status = json.loads(pre(proc.stdout, "chart-status"))
    assert status["stores"] == status["guides"] == status["campaigns"] == status["segments"] == "ok"
