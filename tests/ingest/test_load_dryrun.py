"""``siyu load … --dry-run``: the real load's steps and counts, then a rollback that leaves nothing behind.

Expected counts are worked out by hand from the files below (comments name each row's outcome);
the dry run must report them, leave every table as it was, and the real load that follows must
report the same numbers and write the same rejects.
"""

from __future__ import annotations

import json
import time

import pytest

from siyu_cli.errors import DataError, ExitCode
from siyu_cli.ingest import load_files
from siyu_cli.store import open_store
from store_helpers import q, store_held_elsewhere, write


def dump(settings) -> dict[str, list]:
    """Every row of every table of the store (load_log and rejects included), in a stable order."""
    with open_store(settings, read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema = 'main' ORDER BY 1").fetchall()]
        return {t: con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall() for t in tables}


def counts(rep) -> tuple:
    return tuple((f.status, f.read, f.inserted, f.updated, f.unchanged, f.rejected) for f in rep.files)


# the store before the checks: two orders and their buyers
A = (
    "order_id,member_id,phone,status,paid_at,paid_amount\n"
    "A1,M1,13800138000,paid,2024-03-01 10:00,10\n"
    "A2,M2,13900139000,paid,2024-03-02 10:00,20\n"
)
# an overlapping, newer export
B = (
    "order_id,member_id,phone,status,paid_at,paid_amount,refund_amount\n"   # 1
    "A1,M1,13800138000,paid,2024-03-01 10:00,10,\n"                          # 2 unchanged
    "A2,M2,13900139000,refunded,2024-03-02 10:00,20,20\n"                    # 3 updated (refunded)
    "A3,M3,13700137000,paid,2024-03-03 10:00,30,\n"                          # 4 inserted
    "A4,M4,13600136000,paid,2024-03-04 10:00,¥abc,\n"                        # 5 BAD_AMOUNT (raw has a phone)
    ",M5,,paid,2024-03-05 10:00,5,\n"                                        # 6 MISSING_KEY
)
B_COUNTS = (("loaded", 5, 1, 1, 1, 2),)
B_REJECTS = [(5, "paid_amount", "BAD_AMOUNT"), (6, "order_id", "MISSING_KEY")]

WECOM = (
    "客户名称,外部联系人ID,unionid,添加人,添加人账号,添加时间,备注手机号,标签组(会员等级),标签组(兴趣),所属门店\n"
    "张三,wmAAA,U1,小美,guide_mei,2024-01-02 10:00,13800138000,金卡,咖啡,静安店\n"
    "Tom,wmBBB,,小刚,guide_gang,2024-02-03,,,,徐汇店\n"
)
GROUPS = ("群ID,群名称,群主,群主账号,创建时间,群人数,群公告\n"
          "wrg1,静安咖啡1群,小美,guide_mei,2024-01-01 10:00,200,每周三会员日\n"
          "wrg2,徐汇茶饮群,小刚,guide_gang,2024-01-02 10:00,1,人\n")
GROUP_MEMBERS = "群ID,成员ID,成员类型,入群时间\nwrg1,wmAAA,外部联系人,2024-01-05 10:00\nwrg3,wmBBB,外部联系人,2024-02-01\n"


def test_dry_run_of_orders_members_and_groups_leaves_every_table_as_it_was(settings, tmp_path):
    load_files(settings, "orders", [write(tmp_path / "a.csv", A)])
    before = dump(settings)
    assert before["orders"] and before["load_log"]  # a non-trivial store to compare
    store_bytes = settings.store.read_bytes()

    rep = load_files(settings, "orders", [write(tmp_path / "b.csv", B)], max_rejects=10, dry_run=True)
    assert rep.dry_run and counts(rep) == B_COUNTS
    assert [(r["line"], r["column"], r["reason"]) for r in rep.files[0].rejects] == B_REJECTS
    assert rep.files[0].rejects_total == 2
    # members: new people, wecom contacts, staff, tags, identities — all rolled back
    rep = load_files(settings, "members", [write(tmp_path / "w.csv", WECOM)], dry_run=True)
    assert counts(rep) == (("loaded", 2, 2, 0, 0, 0),) and rep.files[0].rejects == []
    # groups: a group list, then a group-member list naming an unknown group (created in a real load)
    rep = load_files(settings, "groups", [write(tmp_path / "g.csv", GROUPS)], dry_run=True)
    assert counts(rep) == (("loaded", 2, 2, 0, 0, 0),)
    rep = load_files(settings, "groups", [write(tmp_path / "gm.csv", GROUP_MEMBERS)], dry_run=True)
    assert rep.files[0].preset == "wecom_group_members" and counts(rep) == (("loaded", 2, 2, 0, 0, 0),)

    assert dump(settings) == before
    assert settings.store.read_bytes() == store_bytes  # not even a checkpoint of nothing


def test_dry_run_counts_and_rejects_equal_the_real_load_that_follows(settings, tmp_path):
    load_files(settings, "orders", [write(tmp_path / "a.csv", A)])
    b = write(tmp_path / "b.csv", B)
    dry = load_files(settings, "orders", [b], max_rejects=10, dry_run=True)
    real = load_files(settings, "orders", [b], max_rejects=10)
    assert counts(dry) == counts(real) == B_COUNTS
    assert not real.dry_run and real.files[0].rejects is None and "rejects" not in real.files[0].to_dict()
    stored = q(settings, 'SELECT file, line, "column", reason, message, raw FROM rejects ORDER BY line')
    assert [tuple(r.values()) for r in dry.files[0].rejects] == stored
    assert q(settings, "SELECT status, refund_amount FROM orders WHERE order_id = 'A2'")[0][0] == "refunded"


# file 2 of a multi-file run is staged inside the dry run's transaction: its reject lines must still be
# physical lines through blank lines, multi-line values and DuckDB's own rejects (numbers counted by hand)
MIX = (
    "order_id,paid_amount,store\n"  # 1
    'C1,1,"a\n'                     # 2
    'b"\n'                          # 3
    "\n"                            # 4
    "C2,2\n"                        # 5 MISSING_COLUMNS (DuckDB's reader)
    "C3,abc,s3\n"                   # 6 BAD_AMOUNT
    "\n"                            # 7
    "C4,4,s4,,\n"                   # 8 TOO_MANY_COLUMNS (empty extras: the loader's line scan)
    "C5,z,s5\n"                     # 9 BAD_AMOUNT
    "A1,11,s1\n"                    # 10 updates A1 of file 1
)
MIX_REJECTS = [(5, "MISSING_COLUMNS"), (6, "BAD_AMOUNT"), (8, "TOO_MANY_COLUMNS"), (9, "BAD_AMOUNT")]
PLAIN = "order_id,paid_amount,store\nD1,1,s\n\nD2,bad,s\nA3,3,s3\n"  # line 4 BAD_AMOUNT; A3 updated (file 1 inserted it)


def test_multi_file_dry_run_sees_earlier_files_like_a_real_load(settings, tmp_path):
    f1 = write(tmp_path / "1.csv", "order_id,paid_amount,store\nA1,10,s1\nA3,30,s3\n")
    f2 = write(tmp_path / "2.csv", MIX)
    f3 = write(tmp_path / "3.csv", PLAIN)
    f4 = write(tmp_path / "4.csv", f1.read_text(encoding="utf-8"))  # same content as file 1: skipped
    import polars as pl

    f5 = tmp_path / "5.parquet"  # a workbook-like source staged in the transaction too
    pl.DataFrame({"order_id": ["E1", "E2", "A1"], "paid_amount": ["5", "x", "11"], "store": ["s", "s", "s1"]}
                 ).write_parquet(f5)
    files = [f1, f2, f3, f4, f5]
    want = (
        ("loaded", 2, 2, 0, 0, 0),   # A1, A3 inserted
        ("loaded", 6, 1, 1, 0, 4),   # C1 inserted, A1 10 → 11 updated, 4 rejects (C2 read by nobody: DuckDB's reject)
        ("loaded", 3, 1, 1, 0, 1),   # D1 inserted, A3 30 → 3 updated, D2 rejected
        ("skipped", 0, 0, 0, 0, 0),  # file 1's content, loaded earlier in the same run
        ("loaded", 3, 1, 0, 1, 1),   # E1 inserted, A1 as file 2 left it: unchanged, E2 rejected (row 3)
    )
    before = dump(settings)
    dry = load_files(settings, "orders", files, max_rejects=100, dry_run=True)
    assert counts(dry) == want
    assert dump(settings) == before
    assert [(r["line"], r["reason"]) for r in dry.files[1].rejects] == MIX_REJECTS
    assert [(r["line"], r["reason"]) for r in dry.files[2].rejects] == [(4, "BAD_AMOUNT")]
    assert [(r["line"], r["reason"]) for r in dry.files[4].rejects] == [(3, "BAD_AMOUNT")]
    assert dry.files[3].rejects == [] and "same sha256" in dry.files[3].message

    real = load_files(settings, "orders", files, max_rejects=100)
    assert counts(real) == want
    stored = q(settings, 'SELECT file, line, "column", reason, message, raw FROM rejects ORDER BY file, line')
    assert sorted(tuple(r.values()) for f in dry.files for r in f.rejects) == stored


def test_skipped_file_and_force_in_a_dry_run(settings, tmp_path):
    a = write(tmp_path / "a.csv", A)
    load_files(settings, "orders", [a])
    before = dump(settings)
    rep = load_files(settings, "orders", [a], dry_run=True)
    assert counts(rep) == (("skipped", 0, 0, 0, 0, 0),)
    assert "already loaded as batch" in rep.files[0].message
    forced = load_files(settings, "orders", [a], force=True, dry_run=True)
    assert counts(forced) == (("loaded", 2, 0, 0, 2, 0),)  # a forced reload changes nothing
    assert dump(settings) == before  # not even a load_log row for the skip


def test_failing_file_in_a_dry_run_rolls_back_everything(settings, tmp_path):
    before = dump(settings)
    good = write(tmp_path / "a.csv", A)
    html = write(tmp_path / "x.xls", "<html><body><table><tr><td>1</td></tr></table></body></html>")
    with pytest.raises(DataError):  # the same error as a real load (fails before staging)
        load_files(settings, "orders", [good, html], dry_run=True)
    assert dump(settings) == before
    broken = write(tmp_path / "u.csv", 'order_id,paid_amount\n"unterminated,1\nX,2\n')
    with pytest.raises(DataError, match="cannot read the file"):  # fails while staging, inside the transaction
        load_files(settings, "orders", [good, broken], dry_run=True)
    assert dump(settings) == before
    # the connection is usable again afterwards: a real load works
    assert counts(load_files(settings, "orders", [good])) == (("loaded", 2, 2, 0, 0, 0),)


# ---------------------------------------------------------------- CLI


def test_cli_dry_run_exit_65_json_and_masked_rejects(cli, workspace, settings, tmp_path):
    load_files(settings, "orders", [write(tmp_path / "a.csv", A)])
    b = write(tmp_path / "b.csv", B)
    before = dump(settings)
    res = cli("load", "orders", b, "--dry-run", "--format", "json", expect=65)
    assert "dry run — nothing was written" in res.stderr and "would be rejected" in res.stderr
    assert "Traceback" not in res.stderr
    data = json.loads(res.stdout)
    assert data["dry_run"] is True and data["exceeded"] is True
    f = data["files"][0]
    assert (f["read"], f["inserted"], f["updated"], f["unchanged"], f["rejected"]) == (5, 1, 1, 1, 2)
    assert f["rejects_total"] == 2
    assert [(r["line"], r["column"], r["reason"]) for r in f["rejects"]] == B_REJECTS
    assert f["rejects"][0]["raw"] == "A4,M4,136****6000,paid,2024-03-04 10:00,¥abc,"
    assert dump(settings) == before
    # within --max-rejects: exit 0, so a cron script can gate the real load on it
    res = cli("load", "orders", b, "--dry-run", "--max-rejects", "2", "--format", "json", "--unmask")
    assert json.loads(res.stdout)["files"][0]["rejects"][0]["raw"].startswith("A4,M4,13600136000,")
    assert dump(settings) == before
    res = cli("load", "orders", b, "--max-rejects", "2", "--format", "json")
    assert json.loads(res.stdout)["dry_run"] is False
    assert q(settings, "SELECT count(*) FROM orders") == [(3,)]


def test_cli_dry_run_table_lists_rejects(cli, workspace, tmp_path):
    b = write(tmp_path / "b.csv", B)
    res = cli("load", "orders", b, "--dry-run", "--max-rejects", "5")
    assert "(dry run)" in res.stdout and "rejects (first 2 of 2)" in res.stdout
    assert "MISSING_KEY" in res.stdout and "136****6000" in res.stdout and "13600136000" not in res.stdout
    assert "dry run — nothing was written" in res.stderr
    assert cli("rejects", "--format", "json").stdout.strip() == "[]"
    res = cli("load", "orders", b, "--unmask", expect=2)
    assert "--unmask applies to --dry-run" in res.stderr


def test_dry_run_on_a_busy_store_exits_4_like_a_load(settings, workspace, siyu_subprocess, tmp_path):
    b = write(tmp_path / "b.csv", B)
    with store_held_elsewhere(settings) as holder:
        started = time.monotonic()
        res = siyu_subprocess("load", "orders", b, "--dry-run",
                              env={"SIYU_WORKSPACE": str(workspace), "SIYU_LOCK_WAIT": "1"})
        assert res.returncode == ExitCode.LOCKED, res.stderr
        assert "busy" in res.stderr and f"process {holder.pid}" in res.stderr
        assert time.monotonic() - started < 20


def test_multi_file_members_dry_run_matches_people_across_files(settings, tmp_path):
    # file 2 names 张三 by phone only: in a real load file 1 created her (M1), so she is updated, not new
    f1 = write(tmp_path / "w.csv", "member_id,phone,name\nM1,13800138000,张三\nM2,13900139000,王五\n")
    f2 = write(tmp_path / "m.csv", "phone,name,level\n13800138000,张三,gold\n13500135000,李四,\n")
    want = (("loaded", 2, 2, 0, 0, 0), ("loaded", 2, 1, 1, 0, 0))
    before = dump(settings)
    dry = load_files(settings, "members", [f1, f2], dry_run=True)
    assert counts(dry) == want
    assert dump(settings) == before
    real = load_files(settings, "members", [f1, f2])
    assert counts(real) == want
    assert q(settings, "SELECT level FROM members WHERE member_id = 'M1'") == [("gold",)]


def test_big_second_file_keeps_its_line_numbers_in_a_dry_run(settings, tmp_path):
    # more rows than one DuckDB row group (122,880), staged inside the dry run's transaction
    n = 130_000
    f1 = write(tmp_path / "1.csv", "order_id,paid_amount\nA1,1\n")
    f2 = write(tmp_path / "2.csv", "order_id,paid_amount\n" + "".join(
        f"G{i},{'bad' if i in (7, 125_000) else 1}\n" for i in range(n)))  # G<i> is on line i + 2
    dry = load_files(settings, "orders", [f1, f2], max_rejects=5, dry_run=True)
    assert counts(dry)[1] == ("loaded", n, n - 2, 0, 0, 2)
    assert [(r["line"], r["raw"]) for r in dry.files[1].rejects] == [(9, "G7,bad"), (125_002, "G125000,bad")]
    assert q(settings, "SELECT count(*) FROM orders") == [(0,)]
