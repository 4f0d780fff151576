"""Refresh siyu's message catalogue with Babel (a test/developer dependency, not needed to run siyu).

    python -m siyu_cli.i18n_tools extract   # src/siyu_cli → locale/siyu.pot (_, N_, ngettext, label, L, command
                                            # docstrings, _() in the Jinja templates, KPI names; a build
                                            # product, not committed)
    python -m siyu_cli.i18n_tools update    # merge the .pot into locale/zh/LC_MESSAGES/siyu.po (new msgids: empty)
    python -m siyu_cli.i18n_tools compile   # .po → .mo (what siyu reads at run time)
    python -m siyu_cli.i18n_tools all       # the three in turn, then list what is untranslated
    python -m siyu_cli.i18n_tools missing   # msgids with no zh translation (exit 1 when any)

Command help written as a docstring is extracted too: Typer shows a command function's docstring as its
help, and siyu translates it at run time (``i18n.translate_command_tree``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from siyu_cli.i18n import DOMAIN, LOCALE_DIR, _clean

PACKAGE = Path(__file__).resolve().parent
POT = LOCALE_DIR / f"{DOMAIN}.pot"
#: _() translates now, N_() marks, ngettext() plurals, label()/L() a label in a report's own language
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "label": None, "label_n": (1, 2), "L": None}
LANGS = ("zh",)


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def command_docstrings(tree: ast.AST):
    """(line, text) of the docstrings Typer shows as help: functions with a typer.Context, Option or
    Argument parameter (commands and callbacks) in the CLI modules."""
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        doc = ast.get_docstring(node, clean=False)
        if not doc:
            continue
        args = node.args.args + node.args.kwonlyargs
        defaults = node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
        has_ctx = any(isinstance(a.annotation, ast.Attribute) and a.annotation.attr == "Context" for a in args)
        has_param = any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
                        and d.func.attr in ("Option", "Argument") for d in defaults)
        if has_ctx or has_param:
            yield node.body[0].lineno, _clean(doc)


def extract_catalog():
    """A Babel Catalog of every marked string in src/siyu_cli."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract

    catalog = Catalog(project="siyu", domain=DOMAIN, fuzzy=False)
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if path.name == "i18n_tools.py":
            continue
        with path.open("rb") as f:
            for lineno, message, comments, context in extract("python", f, keywords=KEYWORDS,
                                                              comment_tags=("TRANSLATORS:",)):
                catalog.add(message, locations=[(rel, lineno)], auto_comments=comments, context=context)
        if "/cli/" in rel:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for lineno, doc in command_docstrings(tree):
                catalog.add(doc, locations=[(rel, lineno)], auto_comments=["command help (docstring)"])
    for path in sorted(PACKAGE.rglob("*.j2")):  # the HTML report: {{ _("…") }} (jinja2's i18n extension)
        rel = path.relative_to(PACKAGE.parent).as_posix()
        with path.open("rb") as f:
            for lineno, message, comments, context in extract("jinja2.ext:babel_extract", f, keywords=KEYWORDS,
                                                              options={"extensions": "jinja2.ext.i18n"}):
                catalog.add(message, locations=[(rel, lineno)], auto_comments=comments, context=context)
    kpis = PACKAGE / "report" / "kpis.py"
    for lineno, kpi_id, name, name_en in kpi_names(ast.parse(kpis.read_text(encoding="utf-8"))):
        # kpi_label(): the English name is the msgid, the registry's Chinese name its translation
        catalog.add(name_en, locations=[("siyu_cli/report/kpis.py", lineno)], auto_comments=[f"KPI {kpi_id}: {name}"])
    return catalog


def kpi_names(tree: ast.AST):
    """(line, id, Chinese name, English name) of each ``K("id", "名称", "Name", …)`` in report/kpis.py's registry
    (read from the source: i18n_tools sits below the report layer)."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "K"
                and len(node.args) >= 3 and all(isinstance(a, ast.Constant) and isinstance(a.value, str)
                                                for a in node.args[:3])):
            yield node.lineno, *(a.value for a in node.args[:3])


def extract() -> None:
    from babel.messages.pofile import write_po

    LOCALE_DIR.mkdir(parents=True, exist_ok=True)
    with POT.open("wb") as f:
        write_po(f, extract_catalog(), width=120, sort_by_file=True, omit_header=False, include_lineno=False)
    print(f"wrote {POT}")


def _read(path: Path, locale: str | None = None):
    from babel.messages.pofile import read_po

    with path.open("rb") as f:
        return read_po(f, locale=locale, domain=DOMAIN)


def update() -> None:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    template = _read(POT)
    for lang in LANGS:
        po = po_path(lang)
        po.parent.mkdir(parents=True, exist_ok=True)
        catalog = _read(po, lang) if po.is_file() else Catalog(locale=lang, domain=DOMAIN, project="siyu")
        catalog.update(template, no_fuzzy_matching=True)
        with po.open("wb") as f:
            write_po(f, catalog, width=120, sort_by_file=True, include_lineno=False, ignore_obsolete=True)
        print(f"updated {po}")


def compile_mo() -> None:
    from babel.messages.mofile import write_mo

    for lang in LANGS:
        po = po_path(lang)
        catalog = _read(po, lang)
        with po.with_suffix(".mo").open("wb") as f:
            write_mo(f, catalog, use_fuzzy=False)
        print(f"compiled {po.with_suffix('.mo')}")


def missing(lang: str = "zh") -> list[str]:
    """msgids of the .po with no translation (or a fuzzy one)."""
    catalog = _read(po_path(lang), lang)
    out = []
    for m in catalog:
        if not m.id:
            continue
        strings = m.string if isinstance(m.string, (list, tuple)) else [m.string]
        if m.fuzzy or not all(strings):
            out.append(m.id if isinstance(m.id, str) else m.id[0])
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else "all"
    if command in ("extract", "all"):
        extract()
    if command in ("update", "all"):
        update()
    if command in ("compile", "all"):
        compile_mo()
    if command in ("missing", "all"):
        gaps = missing()
        for msgid in gaps:
            print(f"untranslated: {msgid!r}")
        print(f"{len(gaps)} untranslated msgid(s) in {po_path('zh')}")
        return 1 if gaps and command == "missing" else 0
    if command not in ("extract", "update", "compile", "missing", "all"):
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
