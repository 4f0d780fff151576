"""Load counts add up to what is stored (issue 15): merged rows, guide/store conflicts, Excel-mangled ids."""

from __future__ import annotations

import json

from siyu_cli.ingest import load_files
from siyu_cli.store import open_store


def q(settings, sql: str):
    with open_store(settings, read_only=True) as con:
        return con.execute(sql).fetchall()


def adds_up(d: dict) -> bool:
    return d["read"] == d["inserted"] + d["updated"] + d["unchanged"] + d["merged"] + d["rejected"] + d["erased"]


MEMBERS = ("phone,name,guide_userid,store\n"
           "13800138000,王小明,yuhui,徐汇店\n"
           "13900139000,李雷,lihua,静安店\n"
           "13800138000,王小明,zhangwei,静安店\n")  # the same person again, another guide and store


def test_two_rows_sharing_a_phone_count_one_inserted_one_merged_and_report_the_conflict(cli, workspace, settings, tmp_path):
    f = tmp_path / "members.csv"
    f.write_text(MEMBERS, encoding="utf-8")
    res = cli("load", "members", str(f), "--format", "json")
    data = json.loads(res.stdout)
    stored = q(settings, "SELECT count(*) FROM members")[0][0]
    assert stored == 2
    assert (data["read"], data["inserted"], data["merged"], data["rejected"]) == (3, stored, 1, 0) and adds_up(data)
    assert data["conflicts"] == {"guide": 1, "store": 1} and data["files"][0]["conflicts"] == {"guide": 1, "store": 1}
    assert "merged from rows naming different guides" in res.stderr and "different stores" in res.stderr
    # the later row wins, as documented — but not silently
    assert q(settings, "SELECT guide_userid, store FROM members WHERE phone = '13800138000'") == [("zhangwei", "静安店")]
    # the same file again: 2 records unchanged, 1 row merged into one of them; no new rows
    again = json.loads(cli("load", "members", str(f), "--force", "--format", "json").stdout)
    assert (again["inserted"], again["updated"], again["unchanged"], again["merged"]) == (0, 0, 2, 1) and adds_up(again)
    table = cli("load", "members", str(f), "--force").stdout
    assert "merged" in table


def test_rows_agreeing_on_guide_and_store_are_no_conflict(settings, tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("phone,name,guide_userid,store\n13800138000,a,yuhui,徐汇店\n13800138000,a,yuhui,\n", encoding="utf-8")
    rep = load_files(settings, "members", [f])
    assert (rep.inserted, rep.merged, rep.conflicts) == (1, 1, {}) and not rep.files[0].warnings


def test_excel_mangled_phones_and_ids_are_rejected_or_recovered_only_when_exact(settings, tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("member_id,phone,name\n"
                 "M1,1.38001E+10,甲\n"          # digits lost: rejected, not an anonymous person
                 "M2,13800138000.0,乙\n"        # exact: recovered
                 "3.52123E+18,13700137000,丙\n"  # a mangled member id
                 "10086.0,13600136000,丁\n",     # exact id with Excel's trailing .0: recovered
                 encoding="utf-8")
    rep = load_files(settings, "members", [f], max_rejects=5)
    assert (rep.read, rep.inserted, rep.rejected) == (4, 2, 2)
    assert q(settings, 'SELECT line, "column", reason FROM rejects ORDER BY line') == [
        (2, "phone", "EXCEL_MANGLED"), (4, "member_id", "EXCEL_MANGLED")]
    assert q(settings, "SELECT source_member_id, phone FROM members ORDER BY 1") == [("10086", "13600136000"), ("M2", "13800138000")]
    assert rep.files[0].reasons == {"EXCEL_MANGLED": 2}


def test_excel_mangled_order_id_and_buyer_phone(settings, tmp_path):
    f = tmp_path / "o.csv"
    f.write_text("order_id,phone,paid_amount,status\n3.52123E+18,13800138000,10,paid\nA1,1.39001E+10,5,paid\n"
                 "A2,13900139000.0,7,paid\n", encoding="utf-8")
    rep = load_files(settings, "orders", [f], max_rejects=5)
    assert (rep.read, rep.inserted, rep.rejected) == (3, 1, 2)
    assert [r for (r,) in q(settings, "SELECT reason FROM rejects ORDER BY line")] == ["EXCEL_MANGLED", "EXCEL_MANGLED"]
    assert q(settings, "SELECT order_id, buyer_phone FROM orders") == [("A2", "13900139000")]


def test_summary_rows_are_skipped_with_their_reason_and_not_counted_against_max_rejects(cli, workspace, tmp_path):
    f = tmp_path / "o.csv"
    f.write_text("order_id,paid_at,paid_amount\nC1,2024-03-01,10\nC2,2024-03-02,5\nTotal:,,15\n,,15\n", encoding="utf-8")
    res = cli("load", "orders", str(f), "--format", "json")  # --max-rejects 0 by default: still exit 0
    data = json.loads(res.stdout)
    assert (data["read"], data["inserted"], data["rejected"], data["exceeded"]) == (4, 2, 2, False) and adds_up(data)
    assert data["files"][0]["reasons"] == {"SUMMARY_ROW": 2}
    assert "2 of them summary/total rows" in res.stderr
    rejects = json.loads(cli("rejects", "--format", "json").stdout)
    assert [(r["line"], r["reason"]) for r in rejects] == [(4, "SUMMARY_ROW"), (5, "SUMMARY_ROW")]


def test_every_summary_word_in_any_case_is_a_summary_row_and_ids_that_only_start_alike_are_orders(settings, tmp_path):
    # the summary test runs its regex only on values whose first character can start a summary word
    # (合 总 小 汇 t T g G): each word in each case is still caught, look-alike ids are still data
    words = ["合计", "总计：", "小计", "汇总", "TOTAL", "Totals", "grand total", "Grand Total:", " total "]
    ids = ["TOTAL1", "total-2", "G100", "合计单3", "小4", "T5"]
    f = tmp_path / "o.csv"
    f.write_text("order_id,paid_at,paid_amount\n"
                 + "".join(f"{w},,9\n" for w in words)
                 + "".join(f"{i},2024-03-01,1\n" for i in ids), encoding="utf-8")
    rep = load_files(settings, "orders", [f], max_rejects=0)
    assert rep.files[0].reasons == {"SUMMARY_ROW": len(words)} and not rep.exceeded
    assert sorted(r for (r,) in q(settings, "SELECT order_id FROM orders")) == sorted(ids)


def test_an_id_holding_the_key_separator_is_rejected_not_merged_with_another_buyer(settings, cli, tmp_path):
    """A buyer's ids are joined by U+001F into one key: ('a␟', 'b') and ('a', '␟b') would make the same key and
    one member. Such rows are rejected with a reason; clean rows load."""
    f = tmp_path / "o.csv"
    f.write_text("order_id,member_id,external_userid,paid_amount,status\n"
                 "A1,a\x1f,b,10,paid\n"
                 "A2,a,\x1fb,5,paid\n"
                 "A3,a,b,7,paid\n", encoding="utf-8")
    rep = load_files(settings, "orders", [f], max_rejects=5)
    assert (rep.read, rep.inserted, rep.rejected) == (3, 1, 2)
    assert rep.files[0].reasons == {"CONTROL_CHARACTER": 2}
    assert q(settings, 'SELECT line, "column", reason FROM rejects ORDER BY line') == [
        (2, "member_id", "CONTROL_CHARACTER"), (3, "external_userid", "CONTROL_CHARACTER")]
    assert q(settings, "SELECT order_id FROM orders") == [("A3",)]
    m = tmp_path / "m.csv"
    m.write_text("member_id,name,unionid,email\nM1,甲,u\x1f1,\nM2,乙,,x\x1f@y.cn\nM3,丙,u3,\n", encoding="utf-8")
    rep = load_files(settings, "members", [m], max_rejects=5)
    assert (rep.inserted, rep.files[0].reasons) == (1, {"CONTROL_CHARACTER": 2})
    assert q(settings, "SELECT source_member_id FROM members WHERE source_member_id LIKE 'M%'") == [("M3",)]
    shown = json.loads(cli("rejects", "--format", "json").stdout)  # the CLI lists them with the column named
    assert sorted(r["column"] for r in shown if r["reason"] == "CONTROL_CHARACTER") == [
        "email", "external_userid", "member_id", "unionid"]
