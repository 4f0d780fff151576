"""Reject messages read in the operator's language (issue 15): the rejects table keeps a stable reason code and
the English message (what csv/json give); `siyu rejects` and `siyu load --dry-run` translate the message on
display through the catalogue — stored data is never rewritten."""

from __future__ import annotations

import json

import pytest

from siyu_cli.ingest.rejects import READABLE, readable_message

#: one orders file with every kind of reject a loader writes itself
ORDERS = ("order_id,member_id,paid_at,amount,status\n"
          "A1,m1,2026-01-01,10,paid\n"
          "A2,m1,2026-13-01,10,paid\n"          # BAD_DATE
          "A3,m1,2026-01-02,abc,paid\n"         # BAD_AMOUNT
          "A4,m1,2026-01-02,5\n"                # MISSING_COLUMNS
          ",m2,2026-01-02,5,paid\n"             # MISSING_KEY
          "A5,m1,2026-01-02,5,paid,x,y\n"       # TOO_MANY_COLUMNS
          "A7,1.38E+10,2026-01-01,1,paid\n"     # EXCEL_MANGLED
          "A8,m1,2026-01-02,5,paid\n"
          "合计,,,25,\n")                        # SUMMARY_ROW
CODES = {"BAD_DATE", "BAD_AMOUNT", "MISSING_COLUMNS", "MISSING_KEY", "TOO_MANY_COLUMNS", "EXCEL_MANGLED", "SUMMARY_ROW"}


@pytest.fixture
def loaded(cli, workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    f = tmp_path / "orders.csv"
    f.write_text(ORDERS, encoding="utf-8")
    cli("load", "orders", str(f), "--max-rejects", "100")
    stored = json.loads(cli("rejects", "--format", "json").stdout)
    assert {r["reason"] for r in stored} == CODES
    return f, stored


def test_every_stored_message_has_a_translation(loaded):
    """Each message the loader stores matches its code's pattern, so none falls through untranslated; DuckDB's
    column-count wording reads plainly in English too."""
    import re

    from siyu_cli import i18n

    _, stored = loaded
    for r in stored:
        pattern = next(p for code, p, _ in READABLE if code == r["reason"])
        assert re.fullmatch(pattern, r["message"]), (r["reason"], r["message"])
    english = {r["reason"]: readable_message(r["reason"], r["message"]) for r in stored}
    assert english["BAD_DATE"] == "cannot read 2026-13-01 as a date/time"
    assert english["TOO_MANY_COLUMNS"] == "too many columns: expected 5, found 7"
    i18n.activate("zh")
    try:
        chinese = [readable_message(r["reason"], r["message"]) for r in stored]
    finally:
        i18n.activate("en")
    assert all(c != r["message"] for c, r in zip(chinese, stored)), chinese
    assert readable_message("CAST_ERROR", "some DuckDB text") == "some DuckDB text"  # unknown: shown as stored


@pytest.mark.zh
def test_rejects_table_reads_chinese_and_json_keeps_english(cli, loaded):
    _, stored = loaded
    table = cli("rejects").stdout
    for text in ("无法把 2026-13-01 识别为日期/时间", "无法把 abc 识别为金额", "列数不足：应有 5 列，实有 4 列", "缺少 order_id",
                 "列数过多：应有 5 列，实有 7 列", "member_id 1.38E+10 是科学计数法", "合计/汇总行，不是数据",
                 "BAD_DATE", "EXCEL_MANGLED"):  # the reason codes stay: they are ids
        assert text in table, text
    english = [r["message"] for r in stored if r["message"] in table]
    assert not english, english
    # machine output: the English message and the code, as stored (json keys English)
    again = json.loads(cli("rejects", "--format", "json").stdout)
    assert again == stored and "cannot read 2026-13-01 as a date/time" in {r["message"] for r in again}
    assert "cannot read 2026-13-01 as a date/time" in cli("--lang", "en", "rejects").stdout


@pytest.mark.zh
def test_dry_run_rejects_read_chinese(cli, loaded):
    f, _ = loaded
    out = cli("load", "orders", str(f), "--dry-run", "--force", "--max-rejects", "100").stdout
    assert "无法把 abc 识别为金额" in out and "cannot read abc as an amount" not in out
