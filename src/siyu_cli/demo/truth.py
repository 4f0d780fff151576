"""Ground truth checks: the store after the demo's load compared with what the generator knows."""

from __future__ import annotations

from siyu_cli.demo.context import DemoContext


def _rows(table: str):
    """A count of a loaded fact table's rows (a constant name, never user text)."""
    return lambda con: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def compare_with_truth(ctx: DemoContext) -> str:
    """Compare the store with what the generator knows a correct load gives ("ok" or the differences)."""
    from siyu_cli.ingest.rejects import rejected_line_count
    from siyu_cli.store import open_store

    exp = ctx.data.expected()
    checks = {
        "members": (_rows("members"), exp["members"]),
        "orders": (_rows("orders"), exp["orders"]),
        "rejects": (rejected_line_count, exp["rejected"]),  # ingest's log, read through its function
        "group members": (_rows("group_members"), exp["group_members"]),
    }
    diffs = []
    with open_store(ctx.settings, read_only=True) as con:
        for label, (count, want) in checks.items():
            got = count(con)
            if got != want:
                diffs.append(f"{label} {got:,}≠{want:,}")
    return "ok" if not diffs else "differs: " + ", ".join(diffs)
