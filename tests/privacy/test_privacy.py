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


# ---------------------------------------------------------------- masking recognises phones, not digit runs

import stat  # noqa: E402

import pytest  # noqa: E402

from siyu_cli.output import mask_rows  # noqa: E402
from siyu_cli.privacy import mask_sql, mask_text, mask_value  # noqa: E402


@pytest.mark.parametrize("raw,masked", [
    ("138-0013-8000", "138****8000"),
    ("138 0013 8000", "138****8000"),
    ("+86 138-0013-8000", "138****8000"),
    ("+86 13800138000", "138****8000"),
    ("0086 138 0013 8000", "138****8000"),
    ("+8613800138000", "138****8000"),
    ("138.0013.8000", "138****8000"),
    ("手机13800138000，谢谢", "手机138****8000，谢谢"),
    ("a,13800138000,13900139000,b", "a,138****8000,139****9000,b"),
    ("p:13800138000", "p:138****8000"),
    ("李四 li.si@example.com.cn", "李四 l***@example.com.cn"),
    ("x@y.io", "x***@y.io"),
])
def test_phones_in_any_separator_style_and_emails_are_masked(raw, masked):
    assert mask_text(raw) == masked


@pytest.mark.parametrize("text", [
    "msg4d9060f14713800138000192fb177c",  # a WeCom msgid: digits glued to letters are not a phone
    "msgA13800138000",
    "wm13800138000x",
    "4200511360754344010383472036",  # a payment serial
    "12345678901",  # no mobile starts with 12
    "2026-11-25 13:45:00",
    "order 113800138000",  # 12 digits
    "138****8000",
    "ph:3f1c9a0b5e7d24c8a1f0",
])
def test_other_text_is_left_alone(text):
    assert mask_text(text) == text


def test_sql_mask_matches_python_mask():
    import duckdb

    con = duckdb.connect()
    samples = ["+86 138-0013-8000 and 139 0013 9000", "msg4d9060f14713800138000192fb177c", "a@b.cn,13800138000",
               "13800138000,13900139000", "none here", "li.si@example.com"]
    for s in samples:
        assert con.execute(f"SELECT {mask_sql('x')} FROM (SELECT ?::VARCHAR AS x)", [s]).fetchone()[0] == mask_text(s), s


def test_mask_rows_recurses_into_lists_structs_and_maps():
    row = ("13800138000", ["13900139000", ["x.y@mail.com"]], {"p": "138 0013 8000", "n": 7},
           {"13800138000": ("a@b.cn", 1)}, 42, None)
    assert mask_rows([row]) == [("138****8000", ["139****9000", ["x***@mail.com"]], {"p": "138****8000", "n": 7},
                                 {"138****8000": ("a***@b.cn", 1)}, 42, None)]
    assert mask_value("msg4d9060f14713800138000192fb177c") == "msg4d9060f14713800138000192fb177c"


def test_sql_masks_nested_values_and_keeps_msgids(settings, cli):
    with open_store(settings) as con:
        con.execute("INSERT INTO members (member_id, phone, email) VALUES ('m1', '13812345678', 'Zhang.San@corp.cn')")
    q = ("SELECT [phone] AS l, {'p': phone, 'e': email} AS s, map([phone], [email]) AS m, "
         "'msg4d9060f14713800138000192fb177c' AS msgid FROM members")
    for fmt in ("json", "csv", "table"):
        out = cli("sql", q, "--format", fmt).stdout
        assert "13812345678" not in out and "Zhang.San" not in out, fmt
        assert "138****5678" in out and "msg4d9060f14713800138000192fb177c" in out, fmt
    assert "13812345678" in cli("sql", q, "--format", "json", "--unmask").stdout


def test_store_wal_exports_and_key_are_owner_only(workspace, settings, cli, tmp_path):
    assert stat.S_IMODE((workspace / ".siyu").stat().st_mode) == 0o700
    assert stat.S_IMODE((workspace / ".siyu" / "id.key").stat().st_mode) == 0o600
    f = tmp_path / "o.csv"
    f.write_text("order_id,paid_at,paid_amount,phone\nA1,2026-01-02,10,13912345678\n", encoding="utf-8")
    cli("load", "orders", f)
    assert stat.S_IMODE(settings.store.stat().st_mode) == 0o600
    wal = settings.store.with_name(settings.store.name + ".wal")
    with open_store(settings) as con:  # a write leaves a WAL until the checkpoint
        con.execute("INSERT INTO staff (userid) VALUES ('u1')")
    if wal.exists():
        assert stat.S_IMODE(wal.stat().st_mode) == 0o600
    cli("sql", "SELECT * FROM orders", "--format", "csv", "--output", tmp_path / "x.csv")
    assert stat.S_IMODE((tmp_path / "x.csv").stat().st_mode) == 0o600
    assert "139****5678" in (tmp_path / "x.csv").read_text(encoding="utf-8")


def test_the_id_key_is_never_printed(workspace, cli):
    key = (workspace / ".siyu" / "id.key").read_text().strip()
    outs = [cli("config").stdout, cli("sql", "SELECT function_name, macro_definition FROM duckdb_functions() "
                                         "WHERE function_name LIKE 'siyu%'", "--format", "json").stdout]
    assert all(key not in o and key[:16] not in o for o in outs)
