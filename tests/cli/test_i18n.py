"""The Chinese interface: every user-facing string has a zh translation, the compiled catalogue is current,
help and messages follow --lang / SIYU_LANGUAGE / siyu.toml, and no help text or SiyuError message is left
as a bare literal (issue 15, "Chinese interface")."""

from __future__ import annotations

import ast
import io
import json
import re
from pathlib import Path

import pytest

import siyu_cli
from siyu_cli import i18n

PACKAGE = Path(siyu_cli.__file__).resolve().parent
PO = PACKAGE / "locale" / "zh" / "LC_MESSAGES" / "siyu.po"
MO = PO.with_suffix(".mo")
PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _po():
    from babel.messages.pofile import read_po

    with PO.open("rb") as f:
        return read_po(f, locale="zh", domain="siyu")


def _key(msgid):
    return msgid if isinstance(msgid, str) else msgid[0]


# -- the catalogue -------------------------------------------------------------------------------------------


def test_every_marked_string_has_a_zh_translation():
    """Extract the source now (as `python -m siyu_cli.i18n_tools extract` does) and compare with the .po:
    a new _()/N_()/ngettext() string or command docstring without a translation fails here."""
    from siyu_cli.i18n_tools import extract_catalog

    source = {_key(m.id) for m in extract_catalog() if m.id}
    po = {_key(m.id): m for m in _po() if m.id}
    missing = sorted(source - set(po))
    assert not missing, (f"{len(missing)} msgid(s) not in {PO.name}; run `python -m siyu_cli.i18n_tools all` and "
                         f"translate them: {missing[:20]}")
    untranslated = sorted(k for k in source if po[k].fuzzy or not all(
        s for s in (po[k].string if isinstance(po[k].string, (list, tuple)) else [po[k].string])))
    assert not untranslated, f"{len(untranslated)} msgid(s) without a zh translation: {untranslated[:20]}"


def test_translations_keep_their_placeholders():
    """A translation that drops or renames {field} would crash str.format at run time."""
    bad = []
    for m in _po():
        if not m.id or not m.string:
            continue
        strings = m.string if isinstance(m.string, (list, tuple)) else [m.string]
        for s in strings:
            if s and sorted(PLACEHOLDER.findall(_key(m.id))) != sorted(PLACEHOLDER.findall(s)):
                bad.append((_key(m.id), s))
    assert not bad, bad[:10]


def test_compiled_catalogue_matches_the_po():
    """The .mo siyu reads is the .po compiled (`python -m siyu_cli.i18n_tools compile` after editing the .po)."""
    from babel.messages.mofile import read_mo, write_mo

    buf = io.BytesIO()
    write_mo(buf, _po(), use_fuzzy=False)
    buf.seek(0)
    expected = {_key(m.id): m.string for m in read_mo(buf) if m.id}
    with MO.open("rb") as f:
        actual = {_key(m.id): m.string for m in read_mo(f) if m.id}
    stale = sorted(k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k))
    assert not stale, f"{MO.name} is stale: run `python -m siyu_cli.i18n_tools compile` ({stale[:10]})"


# -- no bare literals (AST scan of src/siyu_cli) -----------------------------------------------------------------

MARKERS = {"_", "N_", "ngettext", "label", "L"}


def _error_classes(root: Path) -> set[str]:
    """SiyuError and every subclass defined under ``root`` (by name)."""
    names = {"SiyuError"}
    trees = [ast.parse(p.read_text(encoding="utf-8")) for p in root.rglob("*.py")]
    grew = True
    while grew:
        grew = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names and any(
                        (isinstance(b, ast.Name) and b.id in names) or (isinstance(b, ast.Attribute) and b.attr in names)
                        for b in node.bases):
                    names.add(node.name)
                    grew = True
    return names


def _is_bare_text(node: ast.expr) -> bool:
    """A literal a person reads that is not inside a marker call: "…", f"…", "…" + x, "…" % x."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(re.search(r"[A-Za-z\u4e00-\u9fff]", node.value))
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.Constant) and re.search(r"[A-Za-z\u4e00-\u9fff]", v.value) for v in node.values)
    if isinstance(node, ast.BinOp):
        return _is_bare_text(node.left) or _is_bare_text(node.right)
    if isinstance(node, ast.IfExp):
        return _is_bare_text(node.body) or _is_bare_text(node.orelse)
    return False


def _name(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def bare_literals(root: Path = PACKAGE) -> list[str]:
    """file:line of every help=… and SiyuError message/hint that is a bare literal (not in _()/N_())."""
    errors = _error_classes(root)
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name.startswith("i18n"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            name = _name(call)
            # help= of Typer options/arguments/commands (argparse in developer scripts is not siyu's interface)
            values = [k.value for k in call.keywords if k.arg == "help"] if name != "add_argument" else []
            if name in errors:
                values += call.args[:1] + [k.value for k in call.keywords if k.arg == "hint"]
            for v in values:
                if _is_bare_text(v):
                    found.append(f"{path.relative_to(root.parent)}:{v.lineno}: {ast.unparse(v)[:70]}")
    return found


def test_no_help_text_or_error_message_is_a_bare_literal():
    """help= and SiyuError(message, hint=) are wrapped in _() / N_() so the catalogue has them
    (`python scripts/wrap_messages.py FILE…` wraps most of them mechanically)."""
    found = bare_literals()
    assert not found, f"{len(found)} bare literal(s):\n" + "\n".join(found[:40])


def test_the_scan_finds_bare_literals(tmp_path):
    """The scan itself: a bare help=, a bare f-string error and a bare hint are reported; wrapped ones are not."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "m.py").write_text(
        "class OddError(SiyuError): pass\n"
        "def f(x):\n"
        "    typer.Option(None, help='Bare help.')\n"
        "    typer.Option(None, help=N_('Marked help.'))\n"
        "    raise OddError(f'bad {x}')\n"
        "    raise SiyuError(_('fine {x}').format(x=x), hint='bare hint')\n"
        "    raise SiyuError(message)\n", encoding="utf-8")
    found = bare_literals(pkg)
    assert [f.split(":")[1] for f in found] == ["3", "5", "6"]


# -- choosing the language ---------------------------------------------------------------------------------------


def test_choose_language_precedence(tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "siyu.toml").write_text('[workspace]\nlanguage = "en"\n', encoding="utf-8")
    monkeypatch.delenv("SIYU_LANGUAGE")
    monkeypatch.chdir(tmp_path)
    assert i18n.choose_language([]) == "zh"  # no workspace: the default
    assert i18n.choose_language(["--workspace", str(ws), "config"]) == "en"  # siyu.toml
    assert i18n.choose_language([f"--workspace={ws}", "--lang", "zh"]) == "zh"  # the flag wins
    monkeypatch.chdir(ws)
    assert i18n.choose_language(["report"]) == "en"  # found upward from the current folder
    monkeypatch.setenv("SIYU_LANGUAGE", "zh")
    assert i18n.choose_language(["report"]) == "zh"  # the environment beats siyu.toml
    assert i18n.choose_language(["--lang=en"]) == "en"
    assert i18n.choose_language(["sql", "--", "--lang", "en"]) == "zh"  # after --: an argument, not the flag


# -- the CLI as a user runs it -------------------------------------------------------------------------------------


def test_help_is_chinese_by_default(siyu_subprocess, monkeypatch):
    monkeypatch.delenv("SIYU_LANGUAGE")
    done = siyu_subprocess("--help")
    assert done.returncode == 0, done.stderr
    assert "用法：" in done.stdout and "选项:" in done.stdout and "命令:" in done.stdout
    assert "显示此帮助并退出。" in done.stdout
    assert "把后台导出文件导入存储" in done.stdout  # the `load` command's docstring
    assert "Usage:" not in done.stdout and "Show this message" not in done.stdout


def test_help_is_english_with_lang_en(siyu_subprocess, monkeypatch):
    monkeypatch.delenv("SIYU_LANGUAGE")
    done = siyu_subprocess("--lang", "en", "load", "--help")
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout and "Options:" in done.stdout and "Show this message and exit." in done.stdout
    assert "Load back-office exports into the store" in done.stdout
    assert not re.search(r"[\u4e00-\u9fff]", done.stdout.replace("手机号", ""))  # no Chinese left (but a column name)


def test_help_follows_the_workspace_language(siyu_subprocess, monkeypatch, tmp_path):
    from siyu_cli.workspace import init_workspace

    monkeypatch.delenv("SIYU_LANGUAGE")
    en = tmp_path / "en"
    init_workspace(en, language="en")
    assert 'language = "en"' in (en / "siyu.toml").read_text(encoding="utf-8")
    english = siyu_subprocess("segment", "--help", cwd=en)
    assert "Usage:" in english.stdout and "RFM segments: `siyu segment` previews" in english.stdout
    zh = tmp_path / "zh"
    init_workspace(zh)
    chinese = siyu_subprocess("--workspace", str(zh), "segment", "--help")
    assert "用法：" in chinese.stdout and "RFM 分层：`siyu segment` 只预览" in chinese.stdout


def test_in_process_runs_switch_language(cli, monkeypatch):
    """CliRunner runs many commands in one process: each run renders help in its own language."""
    assert "Usage:" in cli("--help").stdout  # the suite's English (SIYU_LANGUAGE=en)
    assert "用法：" in cli("--lang", "zh", "--help").stdout
    assert "Usage:" in cli("--help").stdout
    assert "选项:" in cli("--lang", "zh", "push", "create", "--help").stdout


def test_click_usage_errors_are_translated(cli):
    out = cli("--lang", "zh", "nosuch", expect=2)
    assert "错误：没有这个命令 'nosuch'。" in out.stderr and "查看帮助" in out.stderr
    out = cli("--lang", "zh", "load", "members", "--bogus", expect=2)
    assert "错误：没有这个选项：--bogus" in out.stderr
    out = cli("nosuch", expect=2)
    assert "Error: No such command 'nosuch'." in out.stderr


# -- Chinese output of representative commands ------------------------------------------------------------------

MEMBERS = "member_id,phone,name,join_at\nM1,13800138000,张三,2024-01-05\nM2,13800138001,李四,2024-02-01\n"
BAD_MEMBER = "M4,13800138003,赵六,notadate\n"
ORDERS = ("order_id,member_id,paid_at,paid_amount,store\n"
          "o1,M1,2024-03-01 10:00:00,100,静安店\no2,M1,2024-05-01 10:00:00,80,静安店\no3,M2,2024-04-01 10:00:00,60,徐汇店\n")


@pytest.mark.zh
def test_error_and_hint_are_chinese(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no workspace here
    out = cli("config", expect=78)
    assert out.stderr.startswith("错误：这里没有 siyu 工作区"), out.stderr
    en = cli("--lang", "en", "config", expect=78)
    assert en.stderr.startswith("error: no siyu workspace here"), en.stderr


@pytest.mark.zh
def test_load_summary_is_chinese(cli, workspace, tmp_path):
    f = tmp_path / "members.csv"
    f.write_text(MEMBERS + BAD_MEMBER, encoding="utf-8")
    out = cli("load", "members", str(f), "--max-rejects", "5")
    assert "1 行被拒——见 `siyu rejects`" in out.stderr, out.stderr
    assert "新增" in out.stdout and "被拒" in out.stdout and "已导入" in out.stdout  # the table's headers and status
    # machine output stays English
    data = json.loads(cli("load", "members", str(f), "--force", "--max-rejects", "5", "--format", "json").stdout)
    assert data["files"][0]["status"] == "loaded" and data["inserted"] == 0 and data["rejected"] == 1
    english = cli("--lang", "en", "load", "members", str(f), "--force", "--max-rejects", "5")
    assert "1 row rejected — see `siyu rejects`" in english.stderr and "inserted" in english.stdout


@pytest.mark.zh
def test_segment_summary_and_report_labels_are_chinese(cli, workspace, tmp_path):
    m, o = tmp_path / "members.csv", tmp_path / "orders.csv"
    m.write_text(MEMBERS, encoding="utf-8")
    o.write_text(ORDERS, encoding="utf-8")
    cli("load", "members", str(m))
    cli("load", "orders", str(o))
    seg = cli("segment", "run", "--as-of", "2024-06-30")
    assert "截至 2024-06-30" in seg.stderr + seg.stdout, seg.stderr
    # the summary table's headers are the catalogue's, not hand-written pairs ("segment 分群")
    assert "分层" in seg.stdout and "人数" in seg.stdout and "销售额" in seg.stdout and "分群" not in seg.stdout
    en_seg = cli("--lang", "en", "segment", "--as-of", "2024-06-30").stdout
    assert "segment" in en_seg and "revenue" in en_seg and "分层" not in en_seg
    report = cli("report", "--from", "2024-01-01", "--to", "2024-06-30", "--by", "store").stdout
    assert "私域经营报告  2024-01-01 ~ 2024-06-30" in report
    assert "按门店拆分" in report and "按 store 拆分" not in report
    english = cli("--lang", "en", "report", "--from", "2024-01-01", "--to", "2024-06-30", "--by", "store").stdout
    assert "Private-domain report" in english and "By store" in english


@pytest.mark.parametrize("command", [(), ("load",), ("push", "create"), ("segment",)])
def test_chinese_help_fits_80_columns(cli, monkeypatch, command):
    """Click counts characters; a Chinese character takes two columns. Short help is cut and paragraphs are
    wrapped by display width, so no line of zh help is wider than English help may be."""
    from rich.cells import cell_len

    monkeypatch.setenv("COLUMNS", "80")
    out = cli("--lang", "zh", *command, "--help").stdout
    wide = [line for line in out.splitlines() if cell_len(line) > 80 and not line.startswith("用法：")]
    assert not wide, wide
    assert not any(line.strip().startswith(("。", "，", "）")) for line in out.splitlines())


def test_chinese_has_one_plural_form():
    """ngettext: the catalogue's Plural-Forms (nplurals=1) gives the one Chinese form for every count."""
    i18n.activate("zh")
    for n in (0, 1, 2, 25):
        assert i18n.ngettext("{count} row rejected — see `siyu rejects`", "{count} rows rejected — see `siyu rejects`",
                             n).format(count=n) == f"{n} 行被拒——见 `siyu rejects`"
    i18n.activate("en")
    assert i18n.ngettext("{count} row rejected — see `siyu rejects`", "{count} rows rejected — see `siyu rejects`",
                         2).format(count=2) == "2 rows rejected — see `siyu rejects`"
