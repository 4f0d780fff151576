"""Every reject of a CSV/TSV load names the physical line of the file (1-based, header = line 1).

DuckDB's CSV reader skips blank lines and reads a quoted value with newlines as one record, and its
own reject ``line`` counts records (plus blank lines), not lines. The expected numbers below are
counted by hand in the files as written (the ``#n`` comments are the physical line numbers).
"""

from __future__ import annotations

import json

from siyu_cli.ingest import load_files
from siyu_cli.ingest.readers import Source, physical_lines
from store_helpers import q, write


def rejects(settings):
    return q(settings, "SELECT line, reason, raw FROM rejects ORDER BY line")


def adds_up(rep) -> bool:
    return rep.read == rep.inserted + rep.updated + rep.unchanged + rep.merged + rep.rejected + rep.erased


BLANKS = (
    "order_id,paid_amount,store\n"  # 1
    "A1,1,s1\n"                     # 2
    "\n"                            # 3
    "A2,abc,s2\n"                   # 4 BAD_AMOUNT
    "\n"                            # 5
    "\n"                            # 6
    "A3,3,s3\n"                     # 7
    "A4,x,s4\n"                     # 8 BAD_AMOUNT
    "\n"                            # 9
)
BLANKS_REJECTS = [(4, "BAD_AMOUNT", "A2,abc,s2"), (8, "BAD_AMOUNT", "A4,x,s4")]

MULTI = (
    "order_id,paid_amount,store\n"  # 1
    'A1,1,"上海\n'                   # 2  a store name over three lines
    "徐汇\n"                         # 3
    '一店"\n'                        # 4
    "A2,abc,s2\n"                   # 5 BAD_AMOUNT
    'A3,3,"x\n'                     # 6
    'y"\n'                          # 7
    ",5,s5\n"                       # 8 MISSING_KEY
    'A6,zz,"p\n'                    # 9 BAD_AMOUNT (the bad row itself spans two lines)
    'q"\n'                          # 10
    "A7,7,s7\n"                     # 11
    "合计,18,\n"                     # 12 SUMMARY_ROW
)
MULTI_REJECTS = [(5, "BAD_AMOUNT", "A2,abc,s2"), (8, "MISSING_KEY", ",5,s5"), (9, "BAD_AMOUNT", "A6,zz,p\nq"),
                 (12, "SUMMARY_ROW", "合计,18,")]


def test_blank_lines_before_and_between_bad_rows(settings, tmp_path):
    rep = load_files(settings, "orders", [write(tmp_path / "o.csv", BLANKS)], max_rejects=100)
    assert (rep.read, rep.inserted, rep.rejected) == (4, 2, 2) and adds_up(rep)
    assert rejects(settings) == BLANKS_REJECTS


def test_quoted_values_with_newlines_before_bad_rows(settings, tmp_path):
    rep = load_files(settings, "orders", [write(tmp_path / "o.csv", MULTI)], max_rejects=100)
    assert (rep.read, rep.inserted, rep.rejected) == (7, 3, 4) and adds_up(rep)
    assert rejects(settings) == MULTI_REJECTS
    assert q(settings, "SELECT store FROM orders WHERE order_id = 'A1'") == [("上海\n徐汇\n一店",)]


def test_crlf_line_endings_with_blank_lines_and_multi_line_values(settings, tmp_path):
    text = (
        "order_id,paid_amount,store\r\n"  # 1
        "\r\n"                            # 2
        'A1,1,"a\r\n'                     # 3
        'b"\r\n'                          # 4
        "A2,abc,s2\r\n"                   # 5 BAD_AMOUNT
        "\r\n"                            # 6
        'A3,3,"x\r\n'                     # 7
        "\r\n"                            # 8 (inside the quoted value: not a blank line)
        'y"\r\n'                          # 9
        "A4,4,2024-13-45\r\n"             # 10 fine (store is text)
        "A5,q,s5\r\n"                     # 11 BAD_AMOUNT
    )
    rep = load_files(settings, "orders", [write(tmp_path / "o.csv", text)], max_rejects=100)
    assert (rep.read, rep.inserted, rep.rejected) == (5, 3, 2) and adds_up(rep)
    assert rejects(settings) == [(5, "BAD_AMOUNT", "A2,abc,s2"), (11, "BAD_AMOUNT", "A5,q,s5")]
    assert q(settings, "SELECT store FROM orders WHERE order_id = 'A3'") == [("x\r\n\r\ny",)]


def test_utf8_bom(settings, tmp_path):
    rep = load_files(settings, "orders", [write(tmp_path / "o.csv", "\ufeff" + BLANKS)], max_rejects=100)
    assert rep.files[0].encoding == "utf-8-sig"
    assert rejects(settings) == BLANKS_REJECTS
    rep = load_files(settings, "orders", [write(tmp_path / "m.csv", "\ufeff" + MULTI)], max_rejects=100)
    assert rep.files[0].encoding == "utf-8-sig"
    assert q(settings, "SELECT line, reason, raw FROM rejects WHERE file LIKE '%m.csv' ORDER BY line") == MULTI_REJECTS


def test_gbk_file(settings, tmp_path):
    rep = load_files(settings, "orders", [write(tmp_path / "o.csv", MULTI, "gbk")], max_rejects=100)
    assert rep.files[0].encoding == "gb18030"
    assert rejects(settings) == MULTI_REJECTS


def test_tsv_with_multi_line_values(settings, tmp_path):
    text = (
        "order_id\tpaid_amount\tstore\n"  # 1
        'A1\t1\t"a\n'                      # 2
        'b"\n'                            # 3
        "\n"                              # 4
        "A2\tabc\ts2\n"                   # 5 BAD_AMOUNT
    )
    load_files(settings, "orders", [write(tmp_path / "o.tsv", text)], max_rejects=100)
    assert rejects(settings) == [(5, "BAD_AMOUNT", "A2\tabc\ts2")]


def test_title_rows_above_the_header(settings, tmp_path):
    text = (
        "订单导出 2024-03\n"              # 1 title
        "\n"                             # 2
        "order_id,paid_amount,store\n"   # 3 header
        'A1,1,"a\n'                      # 4
        'b"\n'                           # 5
        "\n"                             # 6
        "A2,abc,s2\n"                    # 7 BAD_AMOUNT
        "A3,3,s3,,\n"                    # 8 TOO_MANY_COLUMNS (empty extras: found by the line scan)
        "A4,4,s4,x\n"                    # 9 TOO_MANY_COLUMNS (DuckDB's own reject)
        "A5,y,s5\n"                      # 10 BAD_AMOUNT
    )
    rep = load_files(settings, "orders", [write(tmp_path / "t.csv", text)], max_rejects=100)
    assert (rep.read, rep.inserted, rep.rejected) == (5, 1, 4) and adds_up(rep)
    assert rejects(settings) == [(7, "BAD_AMOUNT", "A2,abc,s2"), (8, "TOO_MANY_COLUMNS", "A3,3,s3,,"),
                                 (9, "TOO_MANY_COLUMNS", "A4,4,s4,x"), (10, "BAD_AMOUNT", "A5,y,s5")]


READER_MIX = (
    "order_id,paid_amount,store\n"  # 1
    'A1,1,"a\n'                     # 2
    'b"\n'                          # 3
    "\n"                            # 4
    "A2,2\n"                        # 5 MISSING_COLUMNS (DuckDB's reader)
    "A3,abc,s3\n"                   # 6 BAD_AMOUNT
    'A4,4,"c\n'                     # 7 TOO_MANY_COLUMNS (DuckDB's reader; the record spans two lines)
    'd",x\n'                        # 8
    "\n"                            # 9
    "\n"                            # 10
    'A5,5,"e\n'                     # 11
    'f"\n'                          # 12
    "A6,y,s6\n"                     # 13 BAD_AMOUNT
    "A7,7,s7,,\n"                   # 14 TOO_MANY_COLUMNS (empty extras: the loader's line scan)
    "A8,z,s8\n"                     # 15 BAD_AMOUNT
    "A9,9,s9\n"                     # 16
)
READER_MIX_REJECTS = [
    (5, "MISSING_COLUMNS", "A2,2"),
    (6, "BAD_AMOUNT", "A3,abc,s3"),
    (7, "TOO_MANY_COLUMNS", 'A4,4,"c\nd",x'),
    (13, "BAD_AMOUNT", "A6,y,s6"),
    (14, "TOO_MANY_COLUMNS", "A7,7,s7,,"),
    (15, "BAD_AMOUNT", "A8,z,s8"),
]


def test_reader_rejects_before_value_rejects(settings, tmp_path):
    rep = load_files(settings, "orders", [write(tmp_path / "o.csv", READER_MIX)], max_rejects=100)
    assert (rep.read, rep.inserted, rep.rejected) == (9, 3, 6) and adds_up(rep)
    assert rejects(settings) == READER_MIX_REJECTS
    assert q(settings, "SELECT order_id FROM orders ORDER BY 1") == [("A1",), ("A5",), ("A9",)]


def test_reader_reject_after_blank_lines_keeps_its_raw_text(settings, tmp_path):
    # DuckDB's csv_line for a rejected line starts with the blank lines before it
    text = "order_id,paid_amount,store\nA1,1,s1\n\n\nA2,2\nA3,abc,s3\n"
    load_files(settings, "orders", [write(tmp_path / "o.csv", text)], max_rejects=100)
    assert rejects(settings) == [(5, "MISSING_COLUMNS", "A2,2"), (6, "BAD_AMOUNT", "A3,abc,s3")]


def test_unterminated_quote_deep_in_a_big_file(settings, tmp_path):
    # past DuckDB's sniffing sample: the unterminated quote is a reader reject, not a failed load
    good = "".join(f"G{i},{i % 90 + 1},s\n" for i in range(25_000))  # lines 2 … 25001
    text = ("order_id,paid_amount,store\n" + good
            + 'B1,1,"two\n'      # 25002
            + 'lines"\n'         # 25003
            + "\n"               # 25004
            + "B2,bad,s\n"       # 25005 BAD_AMOUNT
            + 'B6,6,ab"c\n'      # 25006 fine: a quote inside an unquoted value is a character
            + 'B7,"7"x,s\n'      # 25007 UNQUOTED_VALUE (DuckDB's reader)
            + "B8,zz,s\n"        # 25008 BAD_AMOUNT
            + 'B3,3,"never closed\n'  # 25009 unterminated: the rest of the file is its value
            + "B4,4,s\n")        # 25010
    rep = load_files(settings, "orders", [write(tmp_path / "big.csv", text)], max_rejects=100)
    got = rejects(settings)
    assert [(line, reason) for line, reason, _ in got] == [(25005, "BAD_AMOUNT"), (25007, "UNQUOTED_VALUE"),
                                                           (25008, "BAD_AMOUNT"), (25009, "UNQUOTED_VALUE")]
    assert [raw for _, _, raw in got[:3]] == ["B2,bad,s", 'B7,"7"x,s', "B8,zz,s"]
    assert got[3][2].startswith('B3,3,"never closed')
    assert adds_up(rep) and rep.inserted == 25_002
    assert q(settings, "SELECT store FROM orders WHERE order_id = 'B6'") == [('ab"c',)]


def test_cli_lists_physical_lines(cli, workspace, tmp_path):
    f = write(tmp_path / "o.csv", READER_MIX)
    res = cli("load", "orders", str(f), "--max-rejects", "100", "--format", "json")
    data = json.loads(res.stdout)
    assert (data["read"], data["inserted"], data["rejected"]) == (9, 3, 6)
    out = json.loads(cli("rejects", "--format", "json").stdout)
    assert [(r["line"], r["reason"], r["raw"]) for r in out] == READER_MIX_REJECTS
    assert {r["file"] for r in out} == {str(f)}


def test_workbook_rejects_name_the_sheet_row(settings, tmp_path):
    import xlsxwriter

    path = tmp_path / "orders.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    # 0-based sheet rows; sheet rows 1, 3, 6, 9 and 10 (1-based) stay empty
    ws.write_row(1, 0, ["订单导出 2024-03"])                     # row 2: title
    ws.write_row(3, 0, ["order_id", "paid_amount", "store"])   # row 4: header
    ws.write_row(4, 0, ["A1", "1", "s1"])                      # row 5
    ws.write_row(6, 0, ["A2", "abc", "s2"])                    # row 7 BAD_AMOUNT
    ws.write_row(7, 0, ["A3", "3", "x\ny"])                    # row 8: a cell with a newline
    ws.write_row(10, 0, ["A4", "y", "s4"])                     # row 11 BAD_AMOUNT
    wb.close()
    rep = load_files(settings, "orders", [path], max_rejects=100)
    assert rep.files[0].format == "xlsx"
    assert (rep.read, rep.inserted, rep.rejected) == (4, 2, 2) and adds_up(rep)
    assert rejects(settings) == [(7, "BAD_AMOUNT", "A2,abc,s2"), (11, "BAD_AMOUNT", "A4,y,s4")]
    assert q(settings, "SELECT store FROM orders WHERE order_id = 'A3'") == [("x\ny",)]


def test_parquet_rejects_name_the_row_number_plus_one(settings, tmp_path):
    import duckdb

    path = tmp_path / "orders.parquet"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM (VALUES ('A1', '1'), ('A2', 'abc'), ('A3', '3'), (NULL, '4')) t(order_id, paid_amount)) "
                f"TO '{path}' (FORMAT parquet)")
    con.close()
    rep = load_files(settings, "orders", [path], max_rejects=100)
    assert rep.files[0].format == "parquet" and (rep.read, rep.inserted, rep.rejected) == (4, 2, 2)
    # as if a header were line 1: the 2nd row is line 3, the 4th line 5
    assert rejects(settings) == [(3, "BAD_AMOUNT", "A2,abc"), (5, "SUMMARY_ROW", ",4")]  # only an amount: a footer


PASS_TEXT = (
    "title\n"        # 1   DuckDB line 1
    "order_id,x\n"   # 2   2 (header)
    'A,"1\n'         # 3   3  row 0
    '2"\n'           # 4
    "\n"             # 5   4  blank
    "B,2\n"          # 6   5  row 1
    "C,3\n"          # 7   6  (rejected by the reader in these tests)
    'D,"4\n'         # 8   7  row 2
    "\n"             # 9      (inside the quoted value)
    '5"\n'           # 10
    "E,5\n"          # 11  8  row 3
)


def test_physical_lines_maps_rows_and_reader_lines(tmp_path):
    path = write(tmp_path / "p.csv", PASS_TEXT)
    src = Source(path, "csv", "utf-8", path, header_row=1, delimiter=",", columns=["order_id", "x"])
    assert physical_lines(src, [0, 2, 3], [6], 4) == ({0: 3, 2: 8, 3: 11}, {6: 7})
    # without a reader reject C is row 2, and the pass may stop at the row asked for
    assert physical_lines(src, [1, 2], [], 5) == ({1: 6, 2: 7}, {})


def test_physical_lines_out_of_step_with_duckdb_is_none(tmp_path):
    path = write(tmp_path / "p.csv", PASS_TEXT)
    src = Source(path, "csv", "utf-8", path, header_row=1, delimiter=",", columns=["order_id", "x"])
    assert physical_lines(src, [], [4], 4) is None  # DuckDB never rejects a blank line
    assert physical_lines(src, [7], [6], 8) is None  # fewer records than DuckDB read
