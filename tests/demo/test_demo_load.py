"""Loading every demo file with `--preset auto` gives the counts the generator's ground truth predicts,
with exactly the deliberate rejects (needs the ingest area)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("siyu_cli.ingest")

from siyu_cli.demo.generator import generate_data  # noqa: E402
from siyu_cli.demo.runner import LOAD_ORDER  # noqa: E402

TODAY = date(2026, 11, 25)

# A Tmall row with too many columns whose extra cells are empty: DuckDB's CSV reader accepts it without a
# reject (it drops trailing empty extra fields); the loader's line scan (readers.scan_ragged) rejects it.
RAGGED = ("tmall_orders.csv", "TOO_MANY_COLUMNS")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    from siyu_cli.config import load_settings
    from siyu_cli.ingest import load_files
    from siyu_cli.workspace import init_workspace

    base = tmp_path_factory.mktemp("demo-load")
    data = generate_data(base / "exports", members=400, seed=7, today=TODAY)
    init_workspace(base / "ws")
    settings = load_settings(base / "ws", env={})
    reports = {}
    for kind in LOAD_ORDER:
        for f in data.files:
            if f.kind == kind:
                reports[f.path.name] = load_files(settings, kind, [f.path], preset="auto")
    return data, settings, reports


def test_each_file_is_recognised_and_rejects_exactly_the_bad_rows(loaded):
    data, settings, reports = loaded
    from siyu_cli.store import open_store

    exp = data.expected()["files"]
    for f in data.files:
        rep = reports[f.path.name]
        fr = rep.files[0]
        assert fr.preset == f.preset, f.path.name
        assert rep.read == exp[f.path.name]["rows"], f.path.name
        assert rep.rejected == exp[f.path.name]["rejected"], f.path.name
        assert rep.read == rep.inserted + rep.updated + rep.unchanged + rep.merged + rep.rejected + rep.erased, f.path.name
    with open_store(settings, read_only=True) as con:
        got = sorted((Path(file).name, int(line)) for file, line in
                     con.execute("SELECT DISTINCT file, line FROM rejects").fetchall())
    assert got == sorted((b.file, b.line) for b in data.bad_rows)


def test_orders_members_and_groups_match_the_ground_truth(loaded):
    data, settings, _ = loaded
    from siyu_cli.store import open_store

    exp = data.expected()
    with open_store(settings, read_only=True) as con:
        one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        assert one("SELECT count(*) FROM orders WHERE status = 'cancelled'") == exp["orders_cancelled"]
        assert one("SELECT count(*) FROM orders WHERE status = 'refunded'") == exp["orders_refunded"]
        assert one("SELECT count(*) FROM orders WHERE status = 'partially_refunded'") == exp["orders_partially_refunded"]
        assert one("SELECT count(*) FROM members") == exp["members"]
        assert one("SELECT count(*) FROM orders WHERE member_id IS NOT NULL") == exp["orders_matched_to_members"]
        assert one("SELECT count(*) FROM wecom_contacts") == exp["wecom_contacts"]
        assert one("SELECT count(*) FROM groups") == exp["groups"]
        assert one("SELECT count(*) FROM group_members") == exp["group_members"]


def test_tmall_row_with_too_many_columns_is_rejected(loaded):
    data, settings, reports = loaded
    from siyu_cli.store import open_store

    rep = reports[RAGGED[0]]
    assert rep.rejected == data.expected()["files"][RAGGED[0]]["rejected"] == 2
    assert rep.read == rep.inserted + rep.updated + rep.unchanged + rep.merged + rep.rejected + rep.erased
    bad = next(b for b in data.bad_rows if (b.file, b.reason) == RAGGED)
    exp = data.expected()
    with open_store(settings, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM orders").fetchone()[0] == exp["orders"]
        net = con.execute("SELECT sum(net_amount) FROM orders").fetchone()[0]
        got = con.execute("SELECT line, reason, raw FROM rejects WHERE file LIKE ? AND reason = ?",
                          [f"%{RAGGED[0]}", RAGGED[1]]).fetchall()
    assert net == Decimal(str(exp["net_amount"])).quantize(Decimal("0.01"))
    assert len(got) == 1 and got[0][:2] == (bad.line, "TOO_MANY_COLUMNS")
    path = next(f.path for f in data.files if f.path.name == RAGGED[0])
    assert got[0][2] == path.read_bytes().decode("gb18030").splitlines()[bad.line - 1]  # the raw line, as in the file


def test_the_load_step_compares_the_store_with_the_ground_truth(loaded):
    data, settings, _ = loaded
    from siyu_cli.demo.runner import DemoContext, _compare_with_truth

    ctx = DemoContext(root=settings.root, members=data.members, seed=data.seed, today=data.today,
                      settings=settings, data=data)
    verdict = _compare_with_truth(ctx)
    assert verdict == "ok" or verdict.startswith("differs: ")
    # the counts this branch's loader gets right are not reported as differences
    assert "members" not in verdict and "group members" not in verdict
    # and a real difference is reported: pretend the world had far more orders than the store holds
    real = data.expected

    def more_orders():
        exp = real()
        exp["orders"] += 1000
        return exp

    data.expected = more_orders
    try:
        assert "orders" in _compare_with_truth(ctx)
    finally:
        del data.expected
