"""`sql:` audiences run like `siyu sql`: one read-only statement, so a hostile audience cannot write (issue 13)."""

from __future__ import annotations

import json

import pytest

from push_helpers import ws  # noqa: F401 (fixture: a seeded workspace)
from siyu_cli.store import open_store

HOSTILE = [
    # balanced parentheses around the wrapper the old check added: emptied the opt-out list
    "sql:SELECT member_id FROM members) AS q); DELETE FROM optouts; SELECT (1",
    "sql:SELECT member_id FROM members; DELETE FROM optouts",
    "sql:DELETE FROM optouts RETURNING member_id",
    "sql:SELECT member_id FROM members WHERE (SELECT count(*) FROM query('DELETE FROM optouts')) >= 0",
    "sql:COPY (SELECT '' AS x) TO 'siyu.toml'",
]


def _optouts(settings):
    with open_store(settings, read_only=True) as con:
        return con.execute("SELECT * FROM optouts ORDER BY ALL").fetchall()


@pytest.mark.parametrize("audience", HOSTILE)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "create"])
def test_hostile_sql_audience_leaves_optouts_and_store_unchanged(ws, workspace, cli, audience, dry_run):
    cli("optout", "add", "m01", "m02", "--reason", "asked")
    before = _optouts(ws)
    assert len(before) == 2
    config = (workspace / "siyu.toml").read_bytes()
    args = ["push", "create", "--audience", audience, "--text", "hi", "--format", "json"]
    result = cli(*args, *(["--dry-run"] if dry_run else []), expect=2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr
    assert _optouts(ws) == before
    assert (workspace / "siyu.toml").read_bytes() == config
    assert json.loads(cli("push", "list", "--format", "json").stdout) == []


def test_sql_audience_still_selects_and_respects_optouts(ws, cli):
    cli("optout", "add", "m03", "--reason", "asked")
    p = json.loads(cli("push", "create", "--audience", "sql:SELECT member_id FROM members WHERE store = '徐汇店' -- comment",
                       "--text", "hi", "--format", "json").stdout)
    # 徐汇店: m03 m04 m08; m03 opted out
    assert p["recipients"] == 3 and p["to_send"] == 2
    assert [e["reason"] for e in p["excluded"]] == ["opted_out"]
    app = json.loads(cli("push", "create", "--channel", "app", "--audience",
                         "guides:sql:SELECT member_id FROM members WHERE store = '徐汇店'", "--text", "今日SOP",
                         "--dry-run", "--format", "json").stdout)
    assert app["to_send"] == 3  # m03→g1, m04→g2, m08→g3


def test_sql_audience_without_the_id_column_is_one_line(ws, cli):
    r = cli("push", "create", "--audience", "sql:SELECT name FROM members", "--text", "hi", "--dry-run", expect=2)
    assert r.stderr.strip() == "error: audience 'sql:SELECT name FROM members': the query must return a member_id column (it returns name)"
