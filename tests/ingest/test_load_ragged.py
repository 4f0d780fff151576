"""Rows with more fields than the header whose extra fields are empty.

DuckDB's CSV reader drops trailing empty extra fields and reads such a row without a reject, so
the loader scans the raw lines itself (readers.scan_ragged): every such row is rejected as
TOO_MANY_COLUMNS with its physical line and raw text, and read = inserted + updated + unchanged + merged + rejected + erased.
"""

from __future__ import annotations

import json
from decimal import Decimal

from store_helpers import load_export, q, write


def adds_up(rep) -> bool:
    return rep.read == rep.inserted + rep.updated + rep.unchanged + rep.merged + rep.rejected + rep.erased


def test_trailing_empty_extra_fields_are_rejected(settings, tmp_path):
    # the minimal repro: 3 header fields, the second row has 5 (two empty)
    rep = load_export(settings, tmp_path / "o.csv", "order_id,paid_amount,status\nA1,1,paid\nA2,2,paid,,\n", "orders", max_rejects=10)
    assert (rep.read, rep.inserted, rep.rejected) == (2, 1, 1) and adds_up(rep)
    assert q(settings, 'SELECT line, "column", reason, raw FROM rejects') == [
        (3, None, "TOO_MANY_COLUMNS", "A2,2,paid,,")
    ]
    assert "Found: 5" in q(settings, "SELECT message FROM rejects")[0][0]
    assert q(settings, "SELECT order_id FROM orders") == [("A1",)]


def test_shifted_row_in_the_middle_is_rejected_once_and_others_keep_their_lines(settings, tmp_path):
    text = (
        "order_id,paid_amount,status,store,channel\n"  # 5 fields; every row ends with empty columns
        "A1,10,paid,,\n"          # line 2 ok
        "A0,1,paid,x,y,z\n"       # line 3: non-empty extra, DuckDB's own reject
        "A2,1,234.50,paid,,\n"    # line 4: unquoted 1,234.50 shifts every later column; 6 fields
        "A3,30,paid,,\n"          # line 5 ok
        "A4,abc,paid,,\n"         # line 6 BAD_AMOUNT
        "A5,\"1,234.50\",paid,,\n"  # line 7 ok: quoted thousands separator
    )
    rep = load_export(settings, tmp_path / "o.csv", text, "orders", max_rejects=10)
    assert (rep.read, rep.inserted, rep.rejected) == (6, 3, 3) and adds_up(rep)
    assert q(settings, "SELECT line, reason, raw FROM rejects ORDER BY line") == [
        (3, "TOO_MANY_COLUMNS", "A0,1,paid,x,y,z"),
        (4, "TOO_MANY_COLUMNS", "A2,1,234.50,paid,,"),  # one reject, not also a BAD_* for its shifted cells
        (6, "BAD_AMOUNT", "A4,abc,paid,,"),
    ]
    assert q(settings, "SELECT order_id, paid_amount FROM orders ORDER BY order_id") == [
        ("A1", Decimal("10.00")), ("A3", Decimal("30.00")), ("A5", Decimal("1234.50")),
    ]


def test_blank_line_before_a_ragged_row_gives_the_physical_line(settings, tmp_path):
    rep = load_export(settings, tmp_path / "o.csv", "order_id,paid_amount,status\r\nA1,1,paid\r\n\r\nA2,2,paid,\r\nA3,3,paid\r\n", "orders", max_rejects=10)
    assert (rep.read, rep.inserted, rep.rejected) == (3, 2, 1) and adds_up(rep)
    assert q(settings, "SELECT line, reason, raw FROM rejects") == [(4, "TOO_MANY_COLUMNS", "A2,2,paid,")]
    assert q(settings, "SELECT order_id FROM orders ORDER BY 1") == [("A1",), ("A3",)]


def test_quoted_delimiters_and_embedded_quotes_are_not_extra_fields(settings, tmp_path):
    text = (
        "order_id,paid_amount,store,channel\n"
        'A1,"1,234.50",s1,\n'                 # ends with the delimiter and has 4 commas: a candidate
        'A2,5,"Store ""A"", B,,",\n'          # quoted commas and doubled quotes, some at the end
        '"A3",6,"x,y,z,w",""\n'
    )
    rep = load_export(settings, tmp_path / "o.csv", text, "orders")
    assert (rep.read, rep.inserted, rep.rejected) == (3, 3, 0) and adds_up(rep)
    assert q(settings, "SELECT order_id, paid_amount, store FROM orders ORDER BY 1") == [
        ("A1", Decimal("1234.50"), "s1"), ("A2", Decimal("5.00"), 'Store "A", B,,'), ("A3", Decimal("6.00"), "x,y,z,w"),
    ]


def test_header_and_rows_ending_in_the_same_empty_columns_load(settings, tmp_path):
    # the header has 5 fields (two unnamed, empty): rows with 5 fields are fine, a 6th empty one is not
    text = "order_id,paid_amount,status,,\nA1,1,paid,,\nA2,2,paid,,\nA3,3,paid,,,\n"
    rep = load_export(settings, tmp_path / "o.csv", text, "orders", max_rejects=10)
    assert (rep.read, rep.inserted, rep.rejected) == (3, 2, 1) and adds_up(rep)
    assert q(settings, "SELECT line, reason, raw FROM rejects") == [(4, "TOO_MANY_COLUMNS", "A3,3,paid,,,")]


def test_gbk_file_with_a_shifted_row(settings, tmp_path):
    text = (
        "订单编号,买家会员名,买家实际支付金额,订单状态,店铺名称,订单备注,退款金额\r\n"
        "T1,山茶老友,10.00,交易成功,山茶咖啡旗舰店,,\r\n"
        "T2,山茶老友,1,234.50,交易成功,山茶咖啡旗舰店,,\r\n"
        "T3,山茶新友,20.00,交易成功,山茶咖啡旗舰店,,\r\n"
    )
    rep = load_export(settings, tmp_path / "tmall.csv", text, "orders", "gbk", max_rejects=10)
    fr = rep.files[0]
    assert (fr.preset, fr.encoding) == ("taobao_orders", "gb18030")
    assert (rep.read, rep.inserted, rep.rejected) == (3, 2, 1) and adds_up(rep)
    assert q(settings, "SELECT line, reason, raw FROM rejects") == [
        (3, "TOO_MANY_COLUMNS", "T2,山茶老友,1,234.50,交易成功,山茶咖啡旗舰店,,")
    ]
    assert q(settings, "SELECT order_id, paid_amount FROM orders ORDER BY 1") == [
        ("T1", Decimal("10.00")), ("T3", Decimal("20.00")),
    ]


def test_cli_reports_the_ragged_row(cli, workspace, tmp_path):
    f = write(tmp_path / "o.csv", "order_id,paid_amount,status\nA1,1,paid\nA2,2,paid,,\n")
    data = json.loads(cli("load", "orders", str(f), "--format", "json", expect=65).stdout)
    assert (data["read"], data["inserted"], data["rejected"]) == (2, 1, 1)
    out = json.loads(cli("rejects", "--format", "json").stdout)
    assert [(r["line"], r["reason"], r["raw"]) for r in out] == [(3, "TOO_MANY_COLUMNS", "A2,2,paid,,")]


def test_multi_line_quoted_values_neither_hide_nor_fake_a_ragged_row(settings, tmp_path):
    # A1's status spans three lines; its middle line looks like a ragged row on its own but is not one,
    # and line positions no longer equal row positions: the ragged A2 must still be the row rejected
    text = 'order_id,paid_amount,status\nA1,1,"x\ny,z,w,\nend"\nA2,2,paid,,\nA3,3,paid\n'
    rep = load_export(settings, tmp_path / "o.csv", text, "orders", max_rejects=10)
    assert (rep.read, rep.inserted, rep.rejected) == (3, 2, 1) and adds_up(rep)
    assert q(settings, "SELECT line, reason, raw FROM rejects") == [(5, "TOO_MANY_COLUMNS", "A2,2,paid,,")]
    assert q(settings, "SELECT order_id, status_raw FROM orders ORDER BY 1") == [("A1", "x\ny,z,w,\nend"), ("A3", "paid")]
