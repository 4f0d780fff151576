"""Names in data are text, never Rich markup or terminal control sequences (issue 13).

A name with ``[/]`` used to crash `siyu sql`, `rejects`, `report` and `runs` (MarkupError, exit 1) and
ESC/OSC sequences in data reached the terminal raw.
"""

from __future__ import annotations

import pytest

from report_fixture import PERIOD, populate
from siyu_cli.output import clean_text, rich_text
from siyu_cli.store import open_store

# closing tag with nothing open, a style tag, an OSC 8 hyperlink, a CSI colour, a C1 CSI, a bidi override
HOSTILE = "[/]坏[bold red]名\x1b]8;;http://evil.example/\x07点我\x1b[31m红\x9b2J\u202eevil"
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e")


def assert_shown_safely(text: str) -> None:
    for ch in RAW_CONTROLS:
        assert ch not in text, repr(ch)
    assert "Traceback" not in text and "MarkupError" not in text


def test_clean_text_makes_controls_visible_and_keeps_text():
    assert clean_text("a\x1b[31mb\tc\nd\x00\x7f\x85") == "a\\x1b[31mb\tc\nd\\x00\\x7f\\x85"
    assert clean_text("\u202e\u2066x") == "\\u202e\\u2066x"
    assert rich_text("[/][bold]x").plain == "[/][bold]x"


def test_sql_and_tables_show_markup_and_controls_as_text(settings, cli):
    with open_store(settings) as con:
        con.execute("INSERT INTO members (member_id, name) VALUES ('m1', ?)", [HOSTILE])
    result = cli("sql", "SELECT member_id, name AS \"[/]列\" FROM members")
    assert "[/]坏[bold red]名" in result.stdout and "[/]列" in result.stdout
    assert "\\x1b]8;;http://evil.example/\\x07" in result.stdout
    assert_shown_safely(result.stdout + result.stderr)


def test_rejects_and_load_messages_with_markup_in_file_names_and_lines(workspace, cli, tmp_path):
    # no "[" in the name: load reads names as globs (hostile branch); [/] comes from the lines
    f = tmp_path / "订单\x1b]8;;evil\x07.csv"
    f.write_text(f"order_id,paid_at,paid_amount\nA1,2026-01-02,{HOSTILE}\n", encoding="utf-8")
    result = cli("load", "orders", f, expect=65)
    assert "订单\\x1b]8;;evil\\x07.csv" in result.stdout + result.stderr
    assert_shown_safely(result.stdout + result.stderr)
    result = cli("rejects")
    assert "[/]" in result.stdout
    assert_shown_safely(result.stdout + result.stderr)


def test_report_shows_hostile_store_and_guide_names(settings, cli):
    populate(settings)
    with open_store(settings) as con:
        con.execute("UPDATE orders SET store = ? WHERE store = '静安店'", [HOSTILE])
        con.execute("UPDATE members SET store = ? WHERE store = '静安店'", [HOSTILE])
        con.execute("UPDATE staff SET name = ? WHERE userid = 'g1'", [HOSTILE])
    for args in ((), ("--by", "store")):
        result = cli("report", "--from", PERIOD[0], "--to", PERIOD[1], *args)
        assert "[/]坏" in result.stdout
        assert_shown_safely(result.stdout + result.stderr)


def test_runs_survives_an_inbox_file_with_markup_in_its_name(workspace, cli):
    inbox = workspace / "inbox"
    inbox.mkdir(exist_ok=True)
    # no "[" in the name: the inbox reads names as globs (hostile branch); [/] comes from the lines
    (inbox / "orders_坏名]\x1b]8;;evil\x07.csv").write_text(
        "order_id,paid_at,paid_amount,status,[/]备注\nA1,not a date,12,paid,[/]x\n", encoding="utf-8")
    result = cli("run", "nightly", expect=None)
    assert result.exit_code == 3  # the load step is partial (the file is bad, parked in failed/), not a crash
    assert_shown_safely(result.stdout + result.stderr)
    result = cli("runs")
    assert "坏名]\\x1b]8;;evil\\x07" in result.stdout
    assert_shown_safely(result.stdout + result.stderr)
    cli("runs")  # and again: it stays readable


@pytest.mark.parametrize("where", ["name", "audience"])
def test_push_preview_shows_markup_in_names_as_text(settings, cli, where):
    with open_store(settings) as con:
        con.execute("INSERT INTO members (member_id, store) VALUES ('m1', ?)", [HOSTILE])
    args = ["push", "create", "--text", "[/]hi\x1b[31m", "--dry-run"]
    args += ["--name", HOSTILE, "--audience", "all"] if where == "name" else ["--audience", f"store:{HOSTILE}"]
    result = cli(*args)
    assert "[/]" in result.stdout
    assert_shown_safely(result.stdout + result.stderr)
