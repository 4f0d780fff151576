"""Pareto numbers (top 20% share, share of buyers for 80%) on hand-computed tables, both code paths."""

import duckdb
import pytest

from siyu_cli.segment.snapshots import pareto


def _table(values):
    con = duckdb.connect()
    con.execute("CREATE TABLE t (frequency INTEGER, revenue DECIMAL(18,2))")
    con.executemany("INSERT INTO t VALUES (?, ?)", [[f, str(v)] for f, v in values])
    return con


@pytest.mark.parametrize(
    "values, top20, share80",
    [
        # four equal buyers: the top 1 (⌈0.8⌉) brings 25/100; 80 is reached only by the 4th (25+25+25+25)
        ([(1, 25), (1, 25), (2, 25), (1, 25)], 0.25, 1.0),
        # one big buyer and ten small ones: top ⌈2.2⌉ = 3 bring 90+1+1 = 92/100; the first alone passes 80
        ([(1, 90)] + [(1, 1)] * 10 + [(0, 0)], 0.92, round(1 / 11, 4)),
        # a zero-revenue buyer (not from `siyu segment`; the window-query path): 40, 40, 20, 0 → top 1 = 0.4,
        # 80 reached at the 2nd buyer → 2/4
        ([(1, 40), (3, 40), (1, 20), (1, 0)], 0.4, 0.5),
        # 80% crossed inside a run of ties far from the top: 50, 10×5 → 50+10+10+10 = 80 at the 4th of 6
        ([(1, 50)] + [(1, 10)] * 5, round(60 / 100, 4), round(4 / 6, 4)),
    ],
)
def test_pareto_hand_computed(values, top20, share80):
    got = pareto(_table(values), table="t")
    assert got["top20_revenue_share"] == top20
    assert got["buyers_share_for_80"] == share80
    assert got["buyers"] == sum(1 for f, _ in values if f > 0)
