"""The generated blocks of the docs (cog), each from the code that defines it.

Regenerate every block: ``cog -r -I tests README.md ARCHITECTURE.md docs/cli.md docs/schema.md docs/wecom.md``
(``python -m cogapp`` works too); tests/test_docs_generated.py fails when one is stale.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: every file holding cog blocks, relative to the repository root
COG_FILES = ("README.md", "ARCHITECTURE.md", "docs/cli.md", "docs/schema.md", "docs/wecom.md")

#: the environment `--help` is rendered in: English, 100 columns, no colour
HELP_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "LANGUAGE": "en", "SIYU_LANGUAGE": "en", "COLUMNS": "100", "NO_COLOR": "1",
            "TERM": "dumb"}


def exit_codes() -> str:
    from siyu_cli.errors import EXIT_CODE_MEANINGS, ExitCode

    lines = ["| code | name | meaning |", "|---|---|---|"]
    lines += [f"| {code.value} | `{code.name}` | {EXIT_CODE_MEANINGS[code]} |" for code in ExitCode]
    return "\n".join(lines)


def errcodes() -> str:
    from siyu_cli.wecom import errcodes as E

    lines = ["| errcode | category | exit when raised | meaning |", "|---|---|---|---|"]
    for e in E.table():
        exit_code = {E.RETRY: "75 after the retries", E.REFRESH: "—", E.SKIP: "— (recipients skipped)"}.get(
            e.category, "78 (configuration)" if e.config else "1")
        lines.append(f"| {e.code} | `{e.category}` | {exit_code} | {e.meaning.replace('|', '/')} |")
    return "\n".join(lines)


def _commands(cmd, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    if hasattr(cmd, "list_commands"):  # a group (Typer's own Click, or Click)
        for name in sorted(cmd.list_commands(None)):
            sub = cmd.get_command(None, name)
            if sub is not None and not getattr(sub, "hidden", False):
                out += _commands(sub, path + (name,))
    return out


def cli_reference() -> str:
    """Every command's ``--help``, in command order, rendered with :data:`HELP_ENV`."""
    import typer
    from typer.testing import CliRunner

    from siyu_cli.cli.main import app

    root = typer.main.get_command(app)
    runner = CliRunner()
    parts = []
    for path in _commands(root):
        result = runner.invoke(app, [*path, "--help"], prog_name="siyu", env=HELP_ENV)
        if result.exit_code != 0:
            raise RuntimeError(f"siyu {' '.join(path)} --help exited {result.exit_code}: {result.output}")
        title = " ".join(("siyu", *path))
        parts.append(f"## {title}\n\n```text\n{result.output.rstrip()}\n```")
    return "\n\n".join(parts)


def _migrated_store():
    """Settings of a throwaway workspace whose store has every migration applied."""
    from siyu_cli.config import load_settings
    from siyu_cli.workspace import init_workspace

    tmp = Path(tempfile.mkdtemp(prefix="siyu-docgen-"))
    init_workspace(tmp)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    return load_settings(tmp, env=env), tmp


def schema_tables() -> str:
    """Every table of a fresh store, grouped by the migration that creates it: columns, types, primary key,
    and the package that writes it (tests/archscan.py)."""
    import shutil

    import archscan
    from siyu_cli.store import open_store

    settings, tmp = _migrated_store()
    try:
        with open_store(settings, read_only=True) as con:
            cols = con.execute("""SELECT table_name, column_name, data_type FROM duckdb_columns()
                                  WHERE schema_name = 'main' AND NOT internal ORDER BY table_name, column_index""").fetchall()
            pks = con.execute("""SELECT table_name, constraint_column_names FROM duckdb_constraints()
                                 WHERE schema_name = 'main' AND constraint_type = 'PRIMARY KEY'""").fetchall()
            views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    pk = {t: set(c) for t, c in pks}
    by_table: dict[str, list[str]] = {}
    for table, column, dtype in cols:
        if table in views:
            continue
        mark = " **PK**" if column in pk.get(table, ()) else ""
        by_table.setdefault(table, []).append(f"`{column}` {dtype}{mark}")
    created = archscan.migration_tables()
    owners = archscan.owners()
    lines = ["| table | migration | written by | columns |", "|---|---|---|---|"]
    for table in sorted(by_table, key=lambda t: (created.get(t, "~"), t)):
        lines.append(f"| `{table}` | {created.get(table, '?')} | `{owners.get(table, 'store')}` | "
                     f"{', '.join(by_table[table])} |")
    return "\n".join(lines)
