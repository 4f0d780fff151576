"""CSV written for people neutralises spreadsheet formulas by default; numbers stay numbers (issue 13)."""

from __future__ import annotations

import csv
import io

import pytest

from segment_fixtures import AS_OF, build_main
from siyu_cli.output import csv_cell
from siyu_cli.store import open_store

FORMULAS = ["=HYPERLINK(\"http://x\",\"点我\")", "@SUM(A1)", "+1+1", "-2+3", "\t=1+1", "\r=1+1", "＝1+1", "-", "=cmd|' /C calc'!A0"]
NUMBERS_AS_TEXT = ["-5", "+12345", "-1.5e3", "-0.25", "+3", "12%", "-12%"]


@pytest.mark.parametrize("value", FORMULAS)
def test_formula_text_gets_a_leading_quote(value):
    assert csv_cell(value) == "'" + value.replace("\r", "\n")


@pytest.mark.parametrize("value", [*NUMBERS_AS_TEXT, "小李", "a=b", "", "1-2"])
def test_numbers_and_plain_text_are_left_alone(value):
    assert csv_cell(value) == value


def test_numbers_stay_numbers():
    assert csv_cell(-5) == -5 and csv_cell(-1.5) == -1.5 and csv_cell(None) == ""
    assert csv_cell("=1+1", guard=False) == "=1+1"


@pytest.fixture
def hostile_members(settings):
    with open_store(settings) as con:
        for i, name in enumerate([*FORMULAS, *NUMBERS_AS_TEXT]):
            con.execute("INSERT INTO members (member_id, name, points) VALUES (?, ?, ?)", [f"m{i:02d}", name, -5])
    return settings


def _read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


@pytest.mark.parametrize("bom", [False, True], ids=["plain", "bom"])
def test_sql_csv_neutralises_formulas(hostile_members, cli, bom):
    result = cli("sql", "SELECT member_id, name, points, name AS \"=1+2\" FROM members ORDER BY member_id",
                 "--format", "csv", *(["--bom"] if bom else []))
    assert result.stdout.startswith("\ufeff") == bom
    rows = _read_csv(result.stdout)
    assert rows[0] == ["member_id", "name", "points", "'=1+2"]  # a header is a cell too
    names = [r[1] for r in rows[1:]]
    assert names == ["'" + f.replace("\r", "\n") for f in FORMULAS] + NUMBERS_AS_TEXT
    assert {r[2] for r in rows[1:]} == {"-5"}


def test_no_csv_guard_writes_cells_raw(hostile_members, cli, tmp_path):
    out = tmp_path / "raw.csv"
    cli("--no-csv-guard", "sql", "SELECT name FROM members ORDER BY member_id", "--format", "csv", "--output", out)
    assert [r[0] for r in _read_csv(out.read_text(encoding="utf-8"))[1:]] == [f.replace("\r", "\n") for f in FORMULAS] + NUMBERS_AS_TEXT


def test_rejects_csv_neutralises_formulas_in_raw_lines(workspace, cli, tmp_path):
    f = tmp_path / "orders.csv"
    f.write_text("order_id,paid_at,paid_amount\n=HYPERLINK(\"x\"),2026-01-02,not money\n", encoding="utf-8")
    cli("load", "orders", f, expect=65)
    rows = _read_csv(cli("rejects", "--format", "csv").stdout)
    raw = rows[0].index("raw")
    assert rows[1][raw].startswith("'=HYPERLINK")


def test_segment_csv_file_neutralises_formulas(settings, cli, tmp_path):
    with open_store(settings) as con:
        build_main(con)
        con.execute("UPDATE members SET guide_name = '=1+1', store = '@SUM(1)' WHERE member_id = 'e'")
    out = tmp_path / "m.csv"
    cli("segment", "--as-of", AS_OF, "--scheme", "rfm11", "--format", "csv", "--output", out)
    with out.open(encoding="utf-8") as fh:
        e = next(r for r in csv.DictReader(fh) if r["member_id"] == "e")
    assert (e["guide_name"], e["store"]) == ("'=1+1", "'@SUM(1)")
    stdout = cli("segment", "--as-of", AS_OF, "--scheme", "rfm11", "--format", "csv").stdout
    assert "'=1+1" in stdout
