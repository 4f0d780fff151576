"""Snapshot retention: `siyu segment prune`, `prune_snapshots` and `[segment] keep_snapshots`."""

from __future__ import annotations

import json
from datetime import date

import pytest

from config_helpers import add_config
from segment_fixtures import build_main
from siyu_cli.config import load_settings
from siyu_cli.errors import UsageError
from siyu_cli.segment import prune_snapshots, run_segment
from siyu_cli.store import open_store

FIXED = {"r_split": "90", "f_split": "2", "m_split": "500"}
MEMBERS = 11  # build_main: a–h, n, z, r

# snapshot ids 1–5: rfm8 at month ends; 6: rfm11, older than all of them
RFM8_DAYS = ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]
RFM11_DAY = "2026-01-15"


@pytest.fixture
def ws(settings):
    with open_store(settings) as con:
        build_main(con)
    return settings


@pytest.fixture
def six(ws):
    for day in RFM8_DAYS:
        run_segment(ws, scheme="rfm8", as_of=day, **FIXED)
    run_segment(ws, scheme="rfm11", as_of=RFM11_DAY)
    return ws


def stored(settings) -> dict[int, int]:
    """snapshot id → its member rows (snapshots with no rows left show 0)."""
    with open_store(settings, read_only=True) as con:
        snaps = [r[0] for r in con.execute("SELECT snapshot_id FROM segment_snapshots ORDER BY 1").fetchall()]
        rows = dict(con.execute("SELECT snapshot_id, count(*) FROM segment_members GROUP BY 1").fetchall())
    orphans = set(rows) - set(snaps)
    assert not orphans, f"member rows without a snapshot: {orphans}"
    return {s: rows.get(s, 0) for s in snaps}


def reasons(result) -> dict[int, str]:
    return {s["snapshot_id"]: s["reason"] for s in result.snapshots}


def add_campaign(settings, cid: str, snapshot_id: int, segment_id: str = "A") -> None:
    with open_store(settings) as con:
        con.execute(
            """INSERT INTO push_campaigns (campaign_id, name, channel, audience, snapshot_id, segment_id, status,
                                           created_at, sent_at)
               VALUES (?, ?, 'customer', ?, ?, ?, 'sent', TIMESTAMPTZ '2026-05-01 10:00:00+08',
                       TIMESTAMPTZ '2026-05-01 10:00:00+08')""",
            [cid, cid, f"segment:{segment_id}", snapshot_id, segment_id],
        )


# ---------------------------------------------------------------- library rules

def test_keep_last_is_per_scheme(six):
    r = prune_snapshots(six, keep_last=2)
    assert r.deleted == [1, 2, 3]
    assert r.member_rows == 3 * MEMBERS
    assert stored(six) == {4: MEMBERS, 5: MEMBERS, 6: MEMBERS}
    why = reasons(r)
    assert why[5] == "newest of its scheme"
    assert why[4] == "within keep-last 2"
    assert why[6] == "newest of its scheme"  # the only rfm11 snapshot, older than every rfm8 one
    assert why[1] == "not among the newest 2"
    assert [s["action"] for s in r.snapshots] == ["deleted"] * 3 + ["kept"] * 3


def test_scheme_filter_leaves_other_schemes(six):
    run_segment(six, scheme="rfm11", as_of="2026-02-15")  # 7
    r = prune_snapshots(six, keep_last=1, scheme="rfm11")
    assert r.deleted == [6]
    assert [s["snapshot_id"] for s in r.snapshots] == [6, 7]
    assert sorted(stored(six)) == [1, 2, 3, 4, 5, 7]


def test_older_than_on_as_of(six):
    # today 2026-06-29, 60d → cutoff 2026-04-30: as_of on the cutoff is kept, the day before would go
    r = prune_snapshots(six, older_than="60d", today=date(2026, 6, 29))
    assert r.cutoff == date(2026, 4, 30)
    assert r.deleted == [1, 2, 3]  # rfm11's 6 is older still, but the newest of its scheme
    why = reasons(r)
    assert why[4] == "within older-than 60d"
    assert why[3] == "as of before 2026-04-30"
    assert why[5] == "newest of its scheme; within older-than 60d"
    assert sorted(stored(six)) == [4, 5, 6]


def test_older_than_months(six):
    # 3m before 2026-06-15 is 2026-03-15: 03-31 and later stay
    r = prune_snapshots(six, older_than="3m", today=date(2026, 6, 15))
    assert r.deleted == [1, 2]


def test_both_rules_delete_only_what_both_allow(six):
    today = date(2026, 7, 1)  # 90d → cutoff 2026-04-02: age alone would delete 1, 2, 3
    r = prune_snapshots(six, keep_last=3, older_than="90d", today=today, dry_run=True)
    assert r.deleted == [1, 2]  # keep-last 3 keeps 3, 4, 5
    assert reasons(r)[3] == "within keep-last 3"
    assert reasons(r)[2] == "not among the newest 3; as of before 2026-04-02"
    assert reasons(r)[4] == "within keep-last 3; within older-than 90d"
    r = prune_snapshots(six, keep_last=1, older_than="90d", today=today)
    assert r.deleted == [1, 2, 3]  # age keeps 4 and 5
    assert sorted(stored(six)) == [4, 5, 6]


def test_newest_per_scheme_never_deleted(six):
    r = prune_snapshots(six, keep_last=1, older_than="1d", today=date(2030, 1, 1))
    assert r.deleted == [1, 2, 3, 4]
    assert r.kept == [5, 6]
    assert sorted(stored(six)) == [5, 6]


def test_campaign_snapshot_kept(six):
    add_campaign(six, "c-spring", 2)
    r = prune_snapshots(six, keep_last=1)
    assert r.deleted == [1, 3, 4]
    assert reasons(r)[2] == "used by campaign c-spring"
    assert stored(six) == {2: MEMBERS, 5: MEMBERS, 6: MEMBERS}


def test_dry_run_deletes_nothing(six):
    before = stored(six)
    r = prune_snapshots(six, keep_last=1, dry_run=True)
    assert r.dry_run and r.deleted == [1, 2, 3, 4]
    assert r.member_rows == 4 * MEMBERS
    assert {s["action"] for s in r.snapshots if s["snapshot_id"] < 5} == {"would delete"}
    assert stored(six) == before


def test_keep_monthly_keeps_last_of_each_month(ws):
    for day in ["2026-01-10", "2026-01-20", "2026-02-05", "2026-02-25", "2026-03-15"]:
        run_segment(ws, scheme="rfm8", as_of=day, **FIXED)
    r = prune_snapshots(ws, keep_last=1, keep_monthly=True)
    assert r.deleted == [1, 3]
    assert reasons(r)[2] == "last of its month 2026-01"
    assert reasons(r)[4] == "last of its month 2026-02"
    assert reasons(r)[5] == "newest of its scheme"


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({}, "--keep-last N and/or --older-than"),
        ({"keep_last": 0}, "--keep-last must be 1 or more"),
        ({"older_than": "90x"}, "--older-than must look like"),
        ({"older_than": "all"}, "--older-than must look like"),
        ({"keep_last": 1, "scheme": "rfm99"}, "no snapshots of scheme 'rfm99'"),
    ],
)
def test_bad_arguments(six, kwargs, text):
    with pytest.raises(UsageError, match=text.replace("(", r"\(")):
        prune_snapshots(six, **kwargs)
    assert len(stored(six)) == 6


def test_ids_not_reused_after_prune(six):
    prune_snapshots(six, keep_last=1)
    assert run_segment(six, scheme="rfm8", as_of="2026-06-30", **FIXED).snapshot_id == 7


# ---------------------------------------------------------------- CLI

def test_cli_table(six, cli):
    res = cli("segment", "prune", "--keep-last", "2", "--scheme", "rfm8")
    out = res.stdout
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 3
             and line.split("│")[1].strip().isdigit()}
    assert set(lines) == {"1", "2", "3", "4", "5"}  # rfm11 is out of scope
    for sid in ("1", "2", "3"):
        assert "deleted" in lines[sid] and "11" in lines[sid]
    assert "within keep-last 2" in lines["4"] and "kept" in lines["4"]
    assert "newest of its scheme" in lines["5"]
    assert "2026-01-31" in lines["1"]
    assert "deleted 3 snapshot(s), 33 member rows; kept 2" in out
    assert sorted(stored(six)) == [4, 5, 6]


def test_cli_json_dry_run(six, cli):
    data = json.loads(cli("segment", "prune", "--keep-last", "1", "--dry-run", "--format", "json").stdout)
    assert data["dry_run"] is True
    assert data["deleted"] == [1, 2, 3, 4]
    assert data["kept"] == [5, 6]
    assert data["member_rows"] == 44
    assert data["rules"]["keep_last"] == 1 and data["rules"]["older_than"] is None
    first = data["snapshots"][0]
    assert first["snapshot_id"] == 1 and first["as_of"] == "2026-01-31" and first["action"] == "would delete"
    assert len(stored(six)) == 6


def test_cli_older_than_json(six, cli):
    # the CLI measures age from today: every stored as_of (2026-01…05) is more than 1d old
    data = json.loads(cli("segment", "prune", "--older-than", "1d", "--format", "json").stdout)
    assert data["deleted"] == [1, 2, 3, 4]
    assert [s["action"] for s in data["snapshots"]] == ["deleted"] * 4 + ["kept"] * 2


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--keep-last", "0"],
        ["--older-than", "ninety days"],
        ["--keep-last", "1", "--scheme", "nope"],
    ],
)
def test_cli_bad_arguments_exit_2(six, cli, args):
    res = cli("segment", "prune", *args, expect=2)
    assert "Traceback" not in res.stderr
    assert res.stderr.strip() and len(res.stderr.strip().splitlines()) <= 2
    assert len(stored(six)) == 6


def test_other_commands_after_prune(six, cli):
    add_campaign(six, "c-spring", 2, "A")
    with open_store(six) as con:  # it reached somebody outside segment A (the report lists only campaigns that sent)
        con.execute("INSERT INTO push_recipients (campaign_id, recipient_id, member_id, state, delivery, sent_at) "
                    "VALUES ('c-spring', 'r-a', 'a', 'sent', 'delivered', TIMESTAMPTZ '2026-05-01 10:00:00+08')")
    cli("segment", "prune", "--keep-last", "2", "--scheme", "rfm8")  # deletes 1 and 3 (2: campaign)
    listed = json.loads(cli("segment", "list", "--format", "json").stdout)
    assert [r["snapshot_id"] for r in listed] == [2, 4, 5, 6]
    # the latest is 5 (rfm8, as of 05-31): 6 (rfm11, as of 01-15) was saved last but is older
    d = json.loads(cli("segment", "diff", "--format", "json").stdout)
    assert d["old"]["snapshot_id"] == 4 and d["new"]["snapshot_id"] == 5
    cli("segment", "diff", "6", expect=2)  # no earlier rfm11 snapshot, pruned or not
    d = json.loads(cli("segment", "diff", "5", "--format", "json").stdout)
    assert d["old"]["snapshot_id"] == 4 and d["new"]["snapshot_id"] == 5
    d = json.loads(cli("segment", "diff", "4", "--format", "json").stdout)
    assert d["old"]["snapshot_id"] == 2  # 3 is gone: the next earlier rfm8 snapshot
    h = json.loads(cli("segment", "history", "a", "--format", "json").stdout)
    assert [r["snapshot_id"] for r in h] == [2, 4, 5, 6]
    rep = json.loads(cli("report", "--from", "2026-01-01", "--to", "2026-06-30", "--format", "json").stdout)
    assert rep["sections"]["segments"]["latest"]["snapshot_id"] == 5  # latest as_of, not the last saved (6)
    camp = [c for c in rep["sections"]["campaigns"] if c["campaign_id"] == "c-spring"]
    assert camp and camp[0]["snapshot_id"] == 2
    assert camp[0]["control_members"] == 1  # segment A of snapshot 2 (as of 02-28: only e), nobody was sent it


# ---------------------------------------------------------------- automatic retention

def _set_keep(settings, value: str):
    add_config(settings.config_file, f"[segment]\nkeep_snapshots = {value}\nkeep_monthly = false")
    return load_settings(settings.root)


def test_config_keep_snapshots_prunes_after_each_run(ws, cli):
    s = _set_keep(ws, "2")
    add_campaign(s, "c-old", 1, "A")
    run = None
    for day in RFM8_DAYS[:4]:
        run = cli("segment", "run", "--as-of", day, "--format", "json", "--summary", "--r-split", "90")
    data = json.loads(run.stdout)
    assert data["snapshot_id"] == 4 and data["pruned_snapshots"] == [2]  # run 3 kept 2 and 3 (1: campaign)
    assert sorted(stored(s)) == [1, 3, 4]  # 1: used by a campaign
    run_segment(s, scheme="rfm11", as_of="2026-06-30")  # another scheme: its own count, rfm8 untouched
    assert sorted(stored(s)) == [1, 3, 4, 5]
    lib = run_segment(s, scheme="rfm8", as_of="2026-06-30", **FIXED)
    assert lib.pruned == [3]
    assert sorted(stored(s)) == [1, 4, 5, 6]


def _without_retention(settings):
    """A siyu.toml without the retention keys (a workspace made before `siyu init` wrote them)."""
    text = settings.config_file.read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if not line.startswith(("keep_snapshots", "keep_monthly"))]
    assert len(kept) == len(text.splitlines()) - 2
    settings.config_file.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return load_settings(settings.root)


def test_new_workspace_keeps_90_snapshots_and_monthly_ones(ws):
    from siyu_cli.segment.run import keep_monthly, keep_snapshots

    assert (keep_snapshots(ws), keep_monthly(ws)) == (90, True)


def test_default_retention_thins_old_snapshots_to_one_a_month(ws):
    """The template's keep_monthly with a smaller keep_snapshots: what goes beyond the newest N is thinned
    to the last snapshot of each month, run after run."""
    add_config(ws.config_file, "[segment]\nkeep_snapshots = 1")
    s = load_settings(ws.root)
    days = ["2026-01-10", "2026-01-20", "2026-02-05", "2026-02-25", "2026-03-15"]
    pruned = [run_segment(s, scheme="rfm8", as_of=day, **FIXED).pruned for day in days]
    # run 2: 1 is not January's last (2 is, kept as the newest); run 3: 2 stays as January's last;
    # run 4: 3 is not February's last; run 5: 4 stays as February's last
    assert pruned == [[], [1], [], [3], []]
    assert sorted(stored(s)) == [2, 4, 5]


def test_second_segment_table_is_refused_with_a_hint(ws, cli):
    with open(ws.config_file, "a", encoding="utf-8") as fh:
        fh.write("\n[segment]\nscheme = \"rfm11\"\n")
    res = cli("segment", "--as-of", "2026-06-30", expect=78)
    assert "add keys to the existing table" in res.stderr and "segment" in res.stderr
    assert stored(ws) == {}


def test_config_keep_snapshots_unset_keeps_all(ws):
    ws = _without_retention(ws)
    for day in RFM8_DAYS[:3]:
        assert run_segment(ws, scheme="rfm8", as_of=day, **FIXED).pruned == []
    assert len(stored(ws)) == 3


@pytest.mark.parametrize("value", ["0", '"ten"', "true"])
def test_config_keep_snapshots_bad_value(ws, cli, value):
    _set_keep(ws, value)
    res = cli("segment", "--as-of", "2026-06-30", expect=78)
    assert "keep_snapshots" in res.stderr
    assert stored(ws) == {}


def test_report_compares_with_newest_remaining(ws, cli):
    for day in RFM8_DAYS[:3]:
        run_segment(ws, scheme="rfm8", as_of=day, **FIXED)
    prune_snapshots(ws, older_than="1d", keep_last=2)  # deletes 1
    seg = json.loads(cli("report", "--from", "2026-01-01", "--to", "2026-06-30", "--format", "json").stdout)
    seg = seg["sections"]["segments"]
    assert (seg["latest"]["snapshot_id"], seg["previous"]["snapshot_id"]) == (3, 2)
    prune_snapshots(ws, keep_last=1)  # deletes 2: nothing left to compare with
    seg = json.loads(cli("report", "--from", "2026-01-01", "--to", "2026-06-30", "--format", "json").stdout)
    seg = seg["sections"]["segments"]
    assert seg["latest"]["snapshot_id"] == 3 and seg["previous"] is None
    assert all("change_members" not in row for row in seg["mix"])
    assert sum(row["members"] for row in seg["mix"]) == MEMBERS
    cli("report", "--from", "2026-01-01", "--to", "2026-06-30")  # the terminal view too


def test_pipeline_segment_step_applies_keep_snapshots(ws, cli):
    """The nightly cron path: `siyu run` → segment step → run_segment → keep_snapshots."""
    add_config(ws.config_file, '[segment]\nkeep_snapshots = 2\nkeep_monthly = false\n[pipelines.seg]\nsteps = ["segment"]')
    runs = [json.loads(cli("run", "seg", "--format", "json").stdout) for _ in range(4)]
    assert sorted(stored(ws)) == [3, 4]
    # the run's step counts say what retention removed: nothing in the first two runs, then 1, then 2
    assert [r["steps"][0]["counts"].get("pruned_snapshots") for r in runs] == [None, None, [1], [2]]


def test_prune_in_a_real_process(six, siyu_subprocess):
    res = siyu_subprocess("segment", "prune", "--keep-last", "4", "--format", "json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["deleted"] == [1]
    res = siyu_subprocess("segment", "prune", "--keep-last", "x")
    assert res.returncode == 2 and "Traceback" not in res.stderr
