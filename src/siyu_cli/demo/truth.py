"""Ground truth checks: the store after the demo's load compared with what the generator knows."""

from __future__ import annotations

from siyu_cli.demo.context import DemoContext


def compare_with_truth(ctx: DemoContext) -> str:
    """Compare the store with what the generator knows a correct load gives ("ok" or the differences)."""
    from siyu_cli.store import open_store

    exp = ctx.data.expected()
    checks = {
        "members": ("SELECT count(*) FROM members", exp["members"]),
        "orders": ("SELECT count(*) FROM orders", exp["orders"]),
        "rejects": ("SELECT count(DISTINCT (file, line)) FROM rejects", exp["rejected"]),
        "group members": ("SELECT count(*) FROM group_members", exp["group_members"]),
    }
    diffs = []
    with open_store(ctx.settings, read_only=True) as con:
        for label, (sql, want) in checks.items():
            got = con.execute(sql).fetchone()[0]
            if got != want:
                diffs.append(f"{label} {got:,}≠{want:,}")
    return "ok" if not diffs else "differs: " + ", ".join(diffs)
