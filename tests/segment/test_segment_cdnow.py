"""R/F/M on the real CDNOW transactions (shipped inside the `lifetimes` wheel) vs an independent computation.

The wheel is fetched with ``pip download lifetimes --no-deps`` into pytest's cache dir (lifetimes is
NOT a dependency and is never imported); the test skips cleanly when the download is unavailable.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest

from cdnow_helpers import lifetimes_dataset, load_orders, parse
from siyu_cli.segment import run_segment
from siyu_cli.store import open_store

AS_OF = date(1998, 6, 30)


@pytest.fixture(scope="module")
def cdnow_text(request) -> str:
    return lifetimes_dataset(request, "CDNOW_master.txt")




def independent(rows, frequency_unit: str):
    """Plain-Python R/F/M with siyu's definitions: a purchase is a row with value > 0."""
    buys: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
    customers = set()
    for cid, day, value in rows:
        customers.add(cid)
        if value > 0 and day <= AS_OF:
            buys[cid].append((day, value))
    out = {}
    for cid in customers:
        b = buys.get(cid)
        if not b:
            out[cid] = (None, 0, Decimal("0.00"))
            continue
        f = len(b) if frequency_unit == "orders" else len({d for d, _ in b})
        out[cid] = ((AS_OF - max(d for d, _ in b)).days, f, sum(v for _, v in b))
    return out


@pytest.fixture(scope="module")
def cdnow_store(cdnow_text, tmp_path_factory):
    from siyu_cli.config import load_settings
    from siyu_cli.workspace import init_workspace

    rows = parse(cdnow_text)
    root = tmp_path_factory.mktemp("cdnow") / "ws"
    init_workspace(root)
    settings = load_settings(root)
    load_orders(settings, rows, root)
    return settings, rows


@pytest.mark.parametrize("unit", ["orders", "days"])
def test_cdnow_measures_match_independent_computation(cdnow_store, unit):
    settings, rows = cdnow_store
    assert len(rows) == 69_659
    run = run_segment(settings, scheme="rfm11", as_of=AS_OF, frequency_unit=unit)
    with open_store(settings, read_only=True) as con:
        got = {
            r[0]: (r[1], r[2], r[3])
            for r in con.execute(
                "SELECT member_id, recency_days, frequency, monetary FROM segment_members WHERE snapshot_id = ?",
                [run.snapshot_id],
            ).fetchall()
        }
    expected = independent(rows, unit)
    assert len(got) == len(expected) == 23_570
    mismatches = [cid for cid in expected if got[cid] != expected[cid]]
    assert not mismatches, [(c, got[c], expected[c]) for c in mismatches[:5]]
    assert sum(v[2] for v in got.values()) == Decimal("2500315.63")  # CDNOW's total revenue
    assert run.excluded == {"net_not_positive": 80}  # the 80 zero-value rows


def test_cdnow_rfm8_median_split_matches_python(cdnow_store):
    """The whole rfm8 path (medians over buyers, strict F/M, inclusive R) against statistics.median."""
    import statistics

    settings, rows = cdnow_store
    run = run_segment(settings, scheme="rfm8", as_of=AS_OF, frequency_unit="days",
                      r_split="median", f_split="median", m_split="median")
    measures = {c: v for c, v in independent(rows, "days").items() if v[1] > 0}
    t_r = statistics.median(v[0] for v in measures.values())
    t_f = statistics.median(v[1] for v in measures.values())
    t_m = statistics.median(v[2] for v in measures.values())
    letters = {(1, 1, 1): "A", (1, 1, 0): "B", (1, 0, 1): "C", (1, 0, 0): "D",
               (0, 1, 1): "E", (0, 1, 0): "F", (0, 0, 1): "G", (0, 0, 0): "H"}
    expected: dict[str, int] = defaultdict(int)
    for r, f, m in measures.values():
        expected[letters[(int(r <= t_r), int(f > t_f), int(m > t_m))]] += 1
    expected["no_purchase"] = 23_570 - len(measures)
    assert (run.params["splits"]["r"]["threshold"], run.params["splits"]["f"]["threshold"]) == (t_r, t_f)
    assert run.params["splits"]["m"]["threshold"] == pytest.approx(float(t_m))
    assert {s["segment_id"]: s["members"] for s in run.summary if s["members"]} == dict(expected)
