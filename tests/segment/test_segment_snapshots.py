"""'Latest snapshot' means the latest as_of everywhere, and looking at segments never stores one.

A backfill (`siyu segment run --as-of` an earlier date, saved after a later one) must not change what
`segment:E` targets, what the report compares, or what `segment diff` compares by default.
"""

from __future__ import annotations

import json

import pytest

from segment_fixtures import AS_OF, build_main
from siyu_cli.push.audiences import resolve
from siyu_cli.segment import run_segment
from siyu_cli.segment.snapshots import latest_snapshot, snapshots_by_day_sql
from siyu_cli.store import open_store

FIXED = ("--r-split", "90", "--f-split", "2", "--m-split", "500")
BACKFILL = "2026-03-01"  # member e is A on this date, E on AS_OF


@pytest.fixture
def ws(settings):
    with open_store(settings) as con:
        build_main(con)
    return settings


def stored_ids(settings) -> list[int]:
    with open_store(settings, read_only=True) as con:
        return [r[0] for r in con.execute("SELECT snapshot_id FROM segment_snapshots ORDER BY 1").fetchall()]


def segment_members(settings, snapshot_id: int, segment: str) -> set[str]:
    with open_store(settings, read_only=True) as con:
        return {r[0] for r in con.execute(
            "SELECT member_id FROM segment_members WHERE snapshot_id = ? AND segment_id = ?", [snapshot_id, segment]
        ).fetchall()}


def audience_ids(settings, spec: str) -> tuple[set[str], int | None]:
    with open_store(settings, read_only=True) as con:
        aud = resolve(con, settings, spec, "customer")
        return {r[0] for r in con.execute(aud.sql, aud.params).fetchall()}, aud.snapshot_id


def test_backfill_does_not_change_latest(ws, cli):
    cli("segment", "run", "--as-of", AS_OF, *FIXED)  # snapshot 1, as of 06-30
    before_ids, before_snap = audience_ids(ws, "segment:E")
    report_before = json.loads(cli("report", "--from", "2026-01-01", "--to", AS_OF, "--format", "json").stdout)

    cli("segment", "run", "--as-of", BACKFILL, *FIXED, "--label", "backfill")  # snapshot 2, as of 03-01
    assert segment_members(ws, 2, "E") != segment_members(ws, 1, "E")  # the backfill would target others

    after_ids, after_snap = audience_ids(ws, "segment:E")
    assert (after_ids, after_snap) == (before_ids, before_snap) == (segment_members(ws, 1, "E"), 1)

    seg = json.loads(cli("report", "--from", "2026-01-01", "--to", AS_OF, "--format", "json").stdout)
    seg = seg["sections"]["segments"]
    assert report_before["sections"]["segments"]["latest"]["snapshot_id"] == 1
    assert seg["latest"]["snapshot_id"] == 1 and seg["latest"]["as_of"] == AS_OF
    assert seg["previous"]["snapshot_id"] == 2 and seg["previous"]["as_of"] == BACKFILL
    table = cli("report", "--from", "2026-01-01", "--to", AS_OF).stdout
    assert f"snapshot 1 ({AS_OF}) vs 2 ({BACKFILL})" in table  # the dates are shown

    d = json.loads(cli("segment", "diff", "--format", "json").stdout)
    assert (d["old"]["snapshot_id"], d["new"]["snapshot_id"]) == (2, 1)
    shown = cli("push", "create", "--audience", "segment:E", "--text", "hi", "--dry-run").stdout
    assert f"snapshot=1 (as of {AS_OF})" in shown
    pushed = json.loads(cli("push", "create", "--audience", "segment:E", "--text", "hi", "--dry-run",
                            "--format", "json").stdout)
    assert (pushed["snapshot_id"], pushed["snapshot_as_of"]) == (1, AS_OF)
    shown = json.loads(cli("segment", "show", "e", "--format", "json").stdout)  # default: the latest
    assert shown["snapshot"]["snapshot_id"] == 1 and shown["segment"]["id"] == "E"


def test_same_day_reruns_break_ties_by_id(ws):
    for _ in range(2):
        run_segment(ws, as_of=AS_OF, r_split="90")
    run_segment(ws, as_of=BACKFILL, r_split="90")
    run_segment(ws, as_of=BACKFILL, r_split="90")
    with open_store(ws, read_only=True) as con:
        assert latest_snapshot(con)["snapshot_id"] == 2
        assert latest_snapshot(con, "rfm8", as_of=BACKFILL)["snapshot_id"] == 4
        assert latest_snapshot(con, "rfm8", before_as_of=AS_OF)["snapshot_id"] == 4
        assert latest_snapshot(con, "rfm11") is None
        by_day = dict(con.execute(snapshots_by_day_sql(), ["rfm8"]).fetchall())  # what SOP entries count
        assert {str(k): v for k, v in by_day.items()} == {
            str(latest_snapshot(con, "rfm8", as_of=d)["as_of"]): latest_snapshot(con, "rfm8", as_of=d)["snapshot_id"]
            for d in (AS_OF, BACKFILL)
        } == {AS_OF: 2, BACKFILL: 4}


def test_prune_keeps_latest_as_of_not_last_saved(ws, cli):
    run_segment(ws, as_of=AS_OF, r_split="90")
    run_segment(ws, as_of=BACKFILL, r_split="90")
    data = json.loads(cli("segment", "prune", "--keep-last", "1", "--format", "json").stdout)
    assert data["deleted"] == [2] and data["kept"] == [1]


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--as-of", BACKFILL),
        ("--format", "csv"),
        ("--format", "json"),
        ("--format", "json", "--summary"),
        ("--scheme", "rfm11", "--format", "csv"),
    ],
)
def test_looking_writes_no_snapshot(ws, cli, args):
    run_segment(ws, as_of=AS_OF, r_split="90")
    res = cli("segment", *args)
    assert stored_ids(ws) == [1]
    assert "preview" in res.stdout + res.stderr


def test_preview_export_matches_a_saved_run(ws, cli, tmp_path):
    looked = json.loads(cli("--lang", "en", "segment", "--as-of", AS_OF, *FIXED, "--format", "json").stdout)
    out = tmp_path / "m.csv"
    cli("segment", "--as-of", AS_OF, *FIXED, "--format", "csv", "--output", out)
    assert stored_ids(ws) == []
    cli("segment", "run", "--as-of", AS_OF, *FIXED)
    saved = json.loads(cli("segment", "--as-of", AS_OF, *FIXED, "--format", "json").stdout)
    assert looked == saved and {r["member_id"] for r in looked} == {"a", "b", "c", "d", "e", "f", "g", "h", "n", "z", "r"}
    assert out.read_text(encoding="utf-8").count("\n") == len(looked) + 1
    assert stored_ids(ws) == [1]


def test_preview_works_while_the_store_is_only_readable(ws, cli):
    """A preview opens the store read-only: it runs beside another reader and creates nothing."""
    run_segment(ws, as_of=AS_OF, r_split="90")
    with open_store(ws, read_only=True) as con:
        res = cli("segment", "--format", "json", "--summary")
        assert json.loads(res.stdout)["snapshot_id"] is None
        assert con.execute("SELECT count(*) FROM segment_snapshots").fetchone()[0] == 1


def test_nightly_pipeline_stores_a_snapshot(ws, cli):
    res = json.loads(cli("run", "nightly", "--format", "json", expect=None).stdout)
    step = next(s for s in res["steps"] if s.get("type", s.get("name")) == "segment" or s.get("name") == "segment")
    assert step["counts"]["snapshot_id"] == 1
    assert stored_ids(ws) == [1]
