"""The generated blocks of the docs are up to date (cog --check; tests/docgen.py says how to regenerate)."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from cogapp import Cog

import docgen

ROOT = Path(__file__).resolve().parent.parent


def _cog(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(out):
        status = Cog().main(["cog", *args, "-I", str(ROOT / "tests"), *(str(ROOT / f) for f in docgen.COG_FILES)])
    return status, out.getvalue()


def test_generated_docs_are_current():
    status, text = _cog("--check")
    assert status == 0, f"stale generated docs — run: cog -r -I tests {' '.join(docgen.COG_FILES)}\n{text}"


def test_every_cog_file_has_a_block_and_the_check_can_fail(tmp_path):
    """Each listed file holds a cog block, and --check notices a hand edit inside one."""
    for name in docgen.COG_FILES:
        assert "[[[cog" in (ROOT / name).read_text(encoding="utf-8"), name
    stale = tmp_path / "stale.md"
    stale.write_text("<!-- [[[cog\nimport docgen; cog.outl(docgen.exit_codes())\n]]] -->\n| 0 | ok |\n<!-- [[[end]]] -->\n",
                     encoding="utf-8")
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(out):
        status = Cog().main(["cog", "--check", "-I", str(ROOT / "tests"), str(stale)])
    assert status != 0


def test_exit_code_table_is_the_enum():
    from siyu_cli.errors import EXIT_CODE_MEANINGS, ExitCode

    assert set(EXIT_CODE_MEANINGS) == set(ExitCode)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert f"| {code.value} | `{code.name}` |" in readme
    assert [c.value for c in ExitCode] == [0, 1, 2, 3, 4, 65, 75, 78, 130]


def test_cli_reference_covers_every_command():
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for title in ("## siyu load", "## siyu push status", "## siyu sandbox serve", "## siyu report"):
        assert title + "\n" in text
    assert "Usage: siyu push status [OPTIONS]" in text
