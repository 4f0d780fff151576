"""Snapshot chains (migration 101): a run stores only changed members, and ``segment_members`` still shows
every snapshot exactly as the full layout stored it — after members change, stop buying, appear, are
forgotten, merged and split, and after pruning.

The expected rows come from two places that do not use chains: the same history replayed in a second
workspace where every snapshot is full (``CHAIN_MAX = 1``), and a preview run (``save=False`` writes full
rows into TEMP tables) of the latest snapshot's as-of on the chained store itself.
"""

from __future__ import annotations

import pytest

from segment_fixtures import add_members, add_order, build_main, local
from siyu_cli.config import load_settings
from siyu_cli.forget import forget
from siyu_cli.members import merge, split
from siyu_cli.segment import chains, prune_snapshots, run_segment
from siyu_cli.store import open_store
from siyu_cli.workspace import init_workspace

FIXED = {"r_split": "30", "f_split": "2", "m_split": "500", "window": "120d"}


def workspace(root):
    init_workspace(root)
    settings = load_settings(root)
    with open_store(settings) as con:
        build_main(con)
    return settings


def rows(snapshot: list[tuple]) -> list[tuple]:
    return [r[1:] for r in snapshot]


def snapshots(settings) -> dict[int, list[tuple]]:
    """Every snapshot's rows as segment_members shows them, sorted."""
    with open_store(settings, read_only=True) as con:
        ids = [r[0] for r in con.execute("SELECT snapshot_id FROM segment_snapshots ORDER BY 1").fetchall()]
        return {s: con.execute("SELECT * FROM segment_members WHERE snapshot_id = ? ORDER BY member_id",
                               [s]).fetchall() for s in ids}


def preview(settings, as_of: str, **options) -> list[tuple]:
    """The full rows (without the snapshot id) a preview (nothing stored, no chain) computes for ``as_of``."""
    out: list[tuple] = []

    def grab(con, sid):
        out.extend(con.execute("SELECT * EXCLUDE (snapshot_id) FROM segment_members WHERE snapshot_id = ? ORDER BY member_id",
                               [sid]).fetchall())

    run_segment(settings, scheme="rfm8", as_of=as_of, save=False, then=grab, **{**FIXED, **options})
    return out


def stored_rows(settings) -> int:
    with open_store(settings, read_only=True) as con:
        return con.execute("SELECT count(*) FROM segment_member_rows").fetchone()[0]


def chain_ids(settings) -> dict[int, int | None]:
    with open_store(settings, read_only=True) as con:
        return dict(con.execute("SELECT snapshot_id, chain_id FROM segment_snapshots ORDER BY 1").fetchall())


def change_orders(settings, step: int) -> None:
    """Between runs: d buys again (changes segment), p appears, c is forgotten, b merges into a, the merge
    is undone (h stops counting as days pass: the 120-day window)."""
    if step == 2:
        with open_store(settings) as con:
            add_order(con, "d", local("2026-07-02"), 900)
            add_members(con, "p")
            add_order(con, "p", local("2026-07-02"), 40)
    elif step == 3:
        forget(settings, ["c"])
    elif step == 4:
        merge(settings, "a", "b", keep="a")
    elif step == 5:
        with open_store(settings) as con:
            add_order(con, "a", local("2026-07-08"), 75)
    elif step == 6:
        split(settings, "b")


STEPS = [  # (as_of, extra options)
    ("2026-06-30", {}), ("2026-07-01", {}), ("2026-07-03", {}), ("2026-07-05", {}), ("2026-07-07", {}),
    ("2026-07-09", {}), ("2026-07-12", {}), ("2026-07-13", {"window": "365d"}), ("2026-07-14", {}),
    ("2026-07-06", {}), ("2026-07-20", {}),
]


def replay(settings, upto: int | None = None) -> list[int]:
    ids = []
    for step, (day, options) in enumerate(STEPS[:upto]):
        change_orders(settings, step)
        ids.append(run_segment(settings, scheme="rfm8", as_of=day, **{**FIXED, **options}).snapshot_id)
    return ids


@pytest.fixture
def pair(tmp_path):
    """(chained, full): the same history, one stored in chains, one with every snapshot full."""
    return workspace(tmp_path / "chained"), workspace(tmp_path / "full")


def test_every_snapshot_rebuilds_the_full_rows_after_each_run(pair, monkeypatch):
    chained, full = pair
    monkeypatch.setattr(chains, "CHAIN_MAX", 30)
    for step, (day, options) in enumerate(STEPS):
        change_orders(chained, step)
        change_orders(full, step)
        run_segment(chained, scheme="rfm8", as_of=day, **{**FIXED, **options})
        monkeypatch.setattr(chains, "CHAIN_MAX", 1)
        run_segment(full, scheme="rfm8", as_of=day, **{**FIXED, **options})
        monkeypatch.setattr(chains, "CHAIN_MAX", 30)
        got, want = snapshots(chained), snapshots(full)
        assert got == want, f"step {step} ({day})"
        latest = max(got)
        assert rows(got[latest]) == preview(chained, day, **options), f"step {step} ({day})"
    assert all(c is None for c in chain_ids(full).values())
    chain = chain_ids(chained)
    # the window change starts its own chain; the next run with the first settings goes on with the first chain;
    # a run as of before the newest (a backfill) is full
    assert chain[8] is None and chain[9] == 1 and chain[10] is None and chain[11] == 10
    assert [chain[s] for s in range(2, 8)] == [1] * 6
    assert stored_rows(chained) < stored_rows(full) // 2
    # what changed is there: d's new order, p's arrival, c gone from the run after the erasure, b folded into a
    snaps = got
    seg = {s: {r[0 + 1]: r for r in rows} for s, rows in snaps.items()}
    assert "p" not in seg[2] and "p" in seg[3]
    assert "c" not in seg[4] and all("c" not in seg[s] for s in seg)  # forgotten from every snapshot
    assert "b" not in seg[5] and "b" in seg[7]  # merged into a, then split again
    assert seg[3]["d"][8] != seg[2]["d"][8]


def test_a_buyer_who_leaves_the_run_is_a_tombstone_of_the_next_snapshot(tmp_path, monkeypatch):
    """A buyer without a member row (orders keyed by an id siyu has no member for) is in a run through its
    orders; once they are unlinked it is not in the next run, which continues the chain with a tombstone."""
    chained, full = workspace(tmp_path / "c"), workspace(tmp_path / "f")
    for settings in (chained, full):
        with open_store(settings) as con:
            add_order(con, "zz", local("2026-06-01"), 300)
    for step, day in enumerate(("2026-06-30", "2026-07-01")):
        if step:
            for settings in (chained, full):
                with open_store(settings) as con:
                    con.execute("UPDATE orders SET member_id = NULL WHERE member_id = 'zz'")
        run_segment(chained, scheme="rfm8", as_of=day, **FIXED)
        monkeypatch.setattr(chains, "CHAIN_MAX", 1)
        run_segment(full, scheme="rfm8", as_of=day, **FIXED)
        monkeypatch.undo()
    got = snapshots(chained)
    assert got == snapshots(full)
    first, second = sorted(got)
    assert "zz" in {r[1] for r in got[first]} and "zz" not in {r[1] for r in got[second]}
    assert chain_ids(chained)[second] == first
    with open_store(chained, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM segment_member_rows WHERE member_id = 'zz' AND gone").fetchone()[0] == 1


def test_a_run_where_most_members_change_is_stored_full(tmp_path):
    settings = workspace(tmp_path / "w")
    run_segment(settings, scheme="rfm8", as_of="2026-06-30", **FIXED)
    with open_store(settings) as con:  # everyone buys big: every row changes
        for m in ("a", "b", "c", "d", "e", "f", "g", "h", "n", "z", "r"):
            add_order(con, m, local("2026-07-01"), 5000)
    run_segment(settings, scheme="rfm8", as_of="2026-07-01", **FIXED)
    run_segment(settings, scheme="rfm8", as_of="2026-07-02", **FIXED)
    assert chain_ids(settings) == {1: None, 2: None, 3: 2}
    assert rows(snapshots(settings)[2]) == preview(settings, "2026-07-01")


@pytest.mark.parametrize("rule", ["head and middle", "all but newest", "campaign keeps the middle"])
def test_pruning_keeps_every_remaining_snapshot_exact(tmp_path, rule):
    settings = workspace(tmp_path / "w")
    replay(settings)
    before = snapshots(settings)
    if rule == "campaign keeps the middle":
        with open_store(settings) as con:
            con.execute("""INSERT INTO push_campaigns (campaign_id, name, channel, audience, snapshot_id, segment_id,
                                                       status, created_at, sent_at)
                           VALUES ('c1', 'c1', 'customer', 'segment:A', 4, 'A', 'sent', now(), now())""")
    keep = {"head and middle": 4, "all but newest": 1, "campaign keeps the middle": 2}[rule]
    result = prune_snapshots(settings, keep_last=keep)
    after = snapshots(settings)
    assert result.deleted and set(after) == set(before) - set(result.deleted)
    assert result.member_rows == sum(len(before[s]) for s in result.deleted)
    for sid, kept in after.items():
        assert kept == before[sid], sid
    if rule == "campaign keeps the middle":
        assert 4 in after and 1 not in after and chain_ids(settings)[4] is None  # the new head of chain 1
    # runs go on from the pruned chain exactly
    run_segment(settings, scheme="rfm8", as_of="2026-07-21", **FIXED)
    latest = snapshots(settings)
    assert rows(latest[max(latest)]) == preview(settings, "2026-07-21")


def test_a_preview_stores_nothing_and_reads_full_rows(tmp_path):
    settings = workspace(tmp_path / "w")
    replay(settings, 3)
    rows_before = stored_rows(settings)
    assert preview(settings, "2026-07-04") == preview(settings, "2026-07-04")
    assert stored_rows(settings) == rows_before and len(snapshots(settings)) == 3


def test_a_chain_holds_at_most_chain_max_snapshots(tmp_path, monkeypatch):
    monkeypatch.setattr(chains, "CHAIN_MAX", 2)
    settings = workspace(tmp_path / "w")
    for day in ("2026-06-30", "2026-07-01", "2026-07-02", "2026-07-03", "2026-07-04"):
        run_segment(settings, scheme="rfm8", as_of=day, **FIXED)
    assert chain_ids(settings) == {1: None, 2: 1, 3: None, 4: 3, 5: None}
    assert rows(snapshots(settings)[4]) == preview(settings, "2026-07-03")
