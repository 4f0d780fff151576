"""`siyu --help` and every `siyu X --help` stay light: none of the heavy libraries is imported.

Start-up time is measured by hand (docs/operations.md); this test guards its cause: a module-level
``import duckdb`` (or polars, jinja2, httpx) in a CLI module, or in anything it imports, would make
every `--help` and every command pay for it.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("duckdb", "polars", "jinja2", "httpx")

# Runs in a fresh interpreter: walk the command tree, ask each command for --help in turn, and record the
# heavy modules present after each one (the first command that pulls one in is the one to blame).
PROBE = r"""
import json, sys
from siyu_cli.cli.main import app
import typer.main

HEAVY = %r
root = typer.main.get_command(app)

def paths(cmd, prefix):
    yield prefix
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from paths(sub, prefix + [name])

out = []
for path in paths(root, []):
    try:
        root.main(path + ["--help"], prog_name="siyu", standalone_mode=False)
    except SystemExit:
        pass
    out.append([path, sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)])
print(json.dumps(out))
"""


def test_help_of_every_command_imports_no_heavy_library():
    done = subprocess.run([sys.executable, "-c", PROBE % (HEAVY,)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    helped = [" ".join(path) for path, _ in results]
    # the walk reached the root, the groups and their subcommands
    assert "" in helped and "segment" in helped and "push status" in helped and "report" in helped
    assert len(helped) > 20
    loaded = {" ".join(path) or "(root)": mods for path, mods in results if mods}
    assert not loaded, f"--help imported heavy modules: {loaded}"


def test_root_options_still_parse_as_text_and_flags(tmp_path):
    """The root options skip Typer's coercion layer; their values still arrive (workspace path, flags)."""
    done = subprocess.run([sys.executable, "-m", "siyu_cli", "--workspace", str(tmp_path / "nowhere"), "-q", "config"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert str(tmp_path / "nowhere") in done.stderr
    assert "Traceback" not in done.stderr
