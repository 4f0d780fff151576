"""The fast paths in segment (fixed-offset local dates, quintile cut values) give the same answers as the
straightforward SQL — hand-computed cases, and brute-force comparisons on random data."""

from __future__ import annotations

import dataclasses
import random
import re
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import duckdb
import pytest

from segment_fixtures import add_members, add_order
from siyu_cli.segment import run_segment
from siyu_cli.segment.measures import local_date_sql, quintile_cuts
from siyu_cli.segment.snapshots import pareto
from siyu_cli.store import open_store


def _orders_con(stamps: list[str]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE orders (paid_at TIMESTAMPTZ)")
    con.executemany("INSERT INTO orders VALUES (?)", [[s] for s in stamps])
    return con


@pytest.mark.parametrize("tz, fast", [("Asia/Shanghai", True), ("UTC", True), ("Europe/Berlin", False)])
def test_local_date_matches_zoneinfo(tz, fast):
    rng = random.Random(7)
    base = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()
    stamps = [datetime.fromtimestamp(base + rng.randrange(0, 400 * 86400), timezone.utc) for _ in range(300)]
    con = _orders_con([s.isoformat() for s in stamps])
    expr = local_date_sql(con, f"'{tz}'")("paid_at")
    assert ("timezone(" not in expr) is fast  # Berlin changes offset in that year: every value goes through ICU
    got = [r[0] for r in con.execute(f"SELECT {expr} FROM orders").fetchall()]
    assert got == [s.astimezone(ZoneInfo(tz)).date() for s in stamps]


def test_dst_zone_dates_around_midnight(settings):
    """00:15 local in summer is 22:15 UTC (+2): a winter (+1) offset would put it on the day before."""
    berlin = dataclasses.replace(settings, timezone="Europe/Berlin")
    with open_store(berlin) as con:
        add_members(con, "b")
        add_order(con, "b", "2026-01-15 23:30:00+00", 10)  # 00:30 on 01-16 in Berlin (winter, +1)
        add_order(con, "b", "2026-06-25 22:15:00+00", 20)  # 00:15 on 06-26 in Berlin (summer, +2)
    run = run_segment(berlin, as_of=date(2026, 6, 30), frequency_unit="days")
    with open_store(berlin, read_only=True) as con:
        row = con.execute(
            "SELECT recency_days, frequency, first_purchase, last_purchase FROM segment_members "
            "WHERE snapshot_id = ? AND member_id = 'b'", [run.snapshot_id]
        ).fetchone()
    assert row == (4, 2, date(2026, 1, 16), date(2026, 6, 26))


def _rank_score(order: str) -> str:
    return (f"CASE WHEN n <= 1 THEN 1 ELSE CAST(least(5, 1 + (5 * (rank() OVER (ORDER BY {order}) - 1)) "
            f"// (n - 1)) AS INTEGER) END")


class _SkewedQuantiles:
    """A connection whose quantile_disc proposes wrong cut values (nearby interpolated ones, shifted up)."""

    def __init__(self, con):
        self.con = con

    def execute(self, sql, *args):
        if "quantile_disc(" in sql:
            sql = re.sub(r"\[(?=\d)", "[0.05 + ", sql.replace("quantile_disc(", "quantile_cont("))
        return self.con.execute(sql, *args)


def test_quintile_cuts_equal_rank_formula_on_random_data():
    rng = random.Random(11)
    con = duckdb.connect()
    for n, spread in [(1, 3), (2, 3), (3, 1), (4, 2), (6, 3), (11, 10), (57, 4), (400, 1000), (1001, 7)]:
        con.execute("CREATE OR REPLACE TABLE b (member_id VARCHAR, recency_days INTEGER, frequency INTEGER, "
                    "monetary DECIMAL(18,2))")
        con.executemany("INSERT INTO b VALUES (?, ?, ?, ?)", [
            [str(i), rng.randrange(spread), 1 + rng.randrange(spread), f"{rng.randrange(spread) * 1.37:.2f}"]
            for i in range(n)
        ])
        cuts = quintile_cuts(con, "b")
        assert cuts == quintile_cuts(_SkewedQuantiles(con), "b")  # a wrong candidate is caught and looked up
        differ = con.execute(f"""
            SELECT count(*) FROM (
                SELECT member_id, {_rank_score('recency_days DESC')}, {_rank_score('frequency')},
                       {_rank_score('monetary')} FROM b, (SELECT count(*) AS n FROM b)
                EXCEPT ALL
                SELECT member_id, {cuts.score_sql('r')}, {cuts.score_sql('f')}, {cuts.score_sql('m')} FROM b)
        """).fetchone()[0]
        assert differ == 0, (n, spread, cuts)


def test_pareto_with_ties():
    con = duckdb.connect()
    # hand-computed: revenues 50, 30, 10, 10, 0 (non-buyer) → the top 20% (1 buyer) bring 50/100;
    # 80 is reached by the 2nd buyer (50 + 30) → 2/4 of buyers
    con.execute("CREATE TABLE t AS SELECT f AS frequency, CAST(v AS DECIMAL(18,2)) AS revenue "
                "FROM (VALUES (1, 50), (2, 30), (1, 10), (1, 10), (0, 0)) x(f, v)")
    assert pareto(con, table="t") == {"buyers": 4, "revenue": 100.0, "top20_revenue_share": 0.5,
                                       "buyers_share_for_80": 0.5}
