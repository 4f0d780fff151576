"""`siyu segment` as a user runs it: tables, per-member exports, list/diff/history/show, errors."""

from __future__ import annotations

import csv
import json

import pytest

from segment_fixtures import AS_OF, RFM8_FIXED, main_workspace

FIXED = ("--r-split", "90", "--f-split", "2", "--m-split", "500")


@pytest.fixture
def ws(settings):
    return main_workspace(settings)


def test_default_table(ws, cli):
    res = cli("segment", "run", "--as-of", AS_OF, *FIXED)
    out = res.stdout
    assert "snapshot 1 stored · rfm8 · as of 2026-06-30" in out
    for seg in ("A 重要价值客户", "E 重要保持客户", "H 一般挽留客户", "no_purchase 未购"):
        assert seg in out
    row_g = next(line for line in out.splitlines() if "G 重要挽留客户" in line)
    assert "2,000.00" in row_g and "40.2%" in row_g  # 2000 / 4980
    assert "37.5% of buyers bring 80%" in out
    assert "splits: R ≤ 90 (fixed); F ≥ 2 (fixed); M ≥ 500 (fixed)" in out
    assert "orders not counted: cancelled 1, net_not_positive 3" in out


def test_per_member_json_csv_parquet(ws, cli, tmp_path):
    res = cli("segment", "--as-of", AS_OF, *FIXED, "--format", "json")
    rows = {r["member_id"]: r for r in json.loads(res.stdout)}
    assert {m: r["segment_id"] for m, r in rows.items()} == RFM8_FIXED
    e = rows["e"]
    assert (e["phone"], e["store"], e["guide_userid"], e["guide_name"]) == ("138****5678", "徐汇店", "zhangsan", "张三")
    assert (e["recency_days"], e["frequency"], e["monetary"], e["r_score"], e["f_score"], e["m_score"]) == (
        149, 2, 1100, 0, 1, 1)
    assert "13812345678" not in res.stdout

    out = tmp_path / "m.csv"
    cli("segment", "--as-of", AS_OF, "--scheme", "rfm11", "--format", "csv", "--output", out)
    with out.open(encoding="utf-8") as fh:
        got = {r["member_id"]: r for r in csv.DictReader(fh)}
    assert got["g"]["segment_id"] == "cant_lose" and got["g"]["phone"] == ""
    assert got["e"]["phone"] == "138****5678"

    pq = tmp_path / "m.parquet"
    cli("segment", "--as-of", AS_OF, "--format", "parquet", "--output", pq, "--unmask")
    import duckdb

    phone = duckdb.connect().execute(f"SELECT phone FROM '{pq}' WHERE member_id = 'e'").fetchone()[0]
    assert phone == "13812345678"


def test_summary_json(ws, cli):
    data = json.loads(cli("segment", "--save", "--as-of", AS_OF, *FIXED, "--format", "json", "--summary").stdout)
    assert data["snapshot_id"] == 1 and data["members"] == 11 and data["buyers"] == 8
    assert {s["segment_id"]: s["members"] for s in data["segments"]}["no_purchase"] == 3
    assert data["pareto"]["buyers_share_for_80"] == 0.375


def test_list_diff_history_show(ws, cli):
    cli("segment", "run", "--as-of", "2026-03-01", *FIXED, "--label", "march")
    cli("segment", "run", "--as-of", AS_OF, *FIXED)
    snaps = json.loads(cli("segment", "list", "--format", "json").stdout)
    assert [(s["snapshot_id"], s["as_of"], s["label"]) for s in snaps] == [(1, "2026-03-01", "march"), (2, AS_OF, None)]

    table = cli("segment", "diff", "--path", "A:E").stdout
    assert "snapshot 1 (2026-03-01, rfm8) → snapshot 2 (2026-06-30, rfm8); moved 7, stayed 4" in table
    assert "A 重要价值客户 → E 重要保持客户: 1 members" in table and "138****5678" in table
    d = json.loads(cli("segment", "diff", "1", "2", "--path", "重要价值客户:重要保持客户", "--format", "json").stdout)
    assert [m["member_id"] for m in d["path"]["members"]] == ["e"]
    matrix_csv = cli("segment", "diff", "1", "2", "--format", "csv").stdout.splitlines()
    assert matrix_csv[0].startswith("from,A,")

    hist = json.loads(cli("segment", "history", "e", "--format", "json").stdout)
    assert [(r["as_of"], r["segment_id"]) for r in hist] == [("2026-03-01", "A"), (AS_OF, "E")]

    shown = cli("segment", "show", "e").stdout
    assert "segment: E 重要保持客户" in shown
    assert "R = 149: rule R ≤ 90 (fixed) → 久 lapsed" in shown
    assert "F = 2: rule F ≥ 2 (fixed) → 高 high" in shown
    assert "M = 1100: rule M ≥ 500 (fixed) → 高 high" in shown
    assert "action: 导购 1:1 立即召回" in shown
    shown_json = json.loads(cli("segment", "show", "n", "--snapshot", "1", "--format", "json").stdout)
    assert shown_json["segment"]["id"] == "no_purchase"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("segment", "--window", "3x"), 2, "--window must look like"),
        (("segment", "--format", "parquet"), 2, "--format parquet needs --output"),
        (("segment", "--scheme", "missing.yaml"), 2, "no such scheme file"),
        (("segment", "diff"), 2, "no segment snapshot yet"),
        (("segment", "show", "nobody"), 2, "no member 'nobody'"),
    ],
)
def test_user_errors_are_one_line(ws, cli, args, code, message):
    res = cli(*args, expect=code)
    assert res.stderr.startswith("error: ") and message in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_bad_custom_scheme_exits_65_with_location(ws, cli, tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("segments:\n  - id: vip\n    name: 大客户\n    when: {monetary: '>= x'}\ndefault: {id: o, name: 其他}\n",
                   encoding="utf-8")
    res = cli("segment", "--scheme", bad, expect=65)
    assert f"{bad}:4: rule 'vip': monetary: cannot read condition" in res.stderr


def test_subprocess_run(ws, siyu_subprocess):
    res = siyu_subprocess("--quiet", "segment", "--as-of", AS_OF, "--format", "json", "--summary")
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert json.loads(res.stdout)["buyers"] == 8


def test_english_actions_and_single_id_diff(ws, cli):
    out = cli("--lang", "en", "segment", "run", "--as-of", AS_OF, *FIXED).stdout
    assert "win-back by a guide 1:1, now" in out and "导购 1:1 立即召回" not in out
    cli("segment", "run", "--as-of", "2026-03-01", *FIXED)  # a backfill: saved after the later as-of
    d = json.loads(cli("segment", "diff", "1", "--format", "json").stdout)  # one id: it vs its predecessor
    assert (d["old"]["snapshot_id"], d["new"]["snapshot_id"]) == (2, 1)  # predecessor by as_of, not by id


@pytest.mark.zh
def test_show_and_summary_read_chinese(ws, cli):
    """`segment show` and the summary table: the labels are the catalogue's (issue 15); data stays as it is."""
    cli("segment", "run", "--as-of", AS_OF, *FIXED)
    shown = cli("segment", "show", "e").stdout
    assert "分层：E 重要保持客户" in shown and "原因：" in shown and "建议动作：导购 1:1 立即召回" in shown
    assert "segment:" not in shown and "why:" not in shown and "action:" not in shown
    assert "最近购买 149 天前" in shown
