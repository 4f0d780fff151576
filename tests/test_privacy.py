"""Phone numbers stay masked in analyst output unless the user asks for them."""

from __future__ import annotations

import json

from siyu_cli.output import mask_phones_in_text
from siyu_cli.store import open_store


def test_mask_phones_in_text_leaves_other_numbers_alone():
    assert mask_phones_in_text("张三,13812345678,") == "张三,138****5678,"
    assert mask_phones_in_text("tel +86 13912345678") == "tel 139****5678"
    # a payment serial that contains 11 mobile-looking digits is not a phone
    assert mask_phones_in_text("4200511360754344010383472036") == "4200511360754344010383472036"
    assert mask_phones_in_text("12345678901") == "12345678901"  # no mobile starts with 12
    assert mask_phones_in_text("138****5678") == "138****5678"


def test_sql_masks_phones_unless_unmask(settings, cli):
    with open_store(settings) as con:
        con.execute("INSERT INTO members (member_id, phone, name) VALUES ('m1', '13812345678', '小李')")
    rows = json.loads(cli("sql", "SELECT member_id, phone, name FROM members", "--format", "json").stdout)
    assert rows == [{"member_id": "m1", "phone": "138****5678", "name": "小李"}]
    assert "13812345678" not in cli("sql", "SELECT phone FROM members").stdout
    rows = json.loads(cli("sql", "SELECT phone FROM members", "--format", "json", "--unmask").stdout)
    assert rows == [{"phone": "13812345678"}]


def test_rejects_raw_text_is_masked_unless_unmask(workspace, cli, tmp_path):
    f = tmp_path / "orders.csv"
    f.write_text("order_id,paid_at,paid_amount,phone\nA1,2026-01-02,not money,13912345678\n", encoding="utf-8")
    cli("load", "orders", f, expect=65)
    masked = cli("rejects", "--format", "csv").stdout
    assert "139****5678" in masked and "13912345678" not in masked
    assert "13912345678" in cli("rejects", "--format", "csv", "--unmask").stdout
