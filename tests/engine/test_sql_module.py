"""siyu_cli.sql: named queries from .sql files, choices that keep or drop lines, values always bound."""

from __future__ import annotations

import re

import duckdb
import pytest

from siyu_cli import sql


def test_every_query_loads_renders_and_transpiles_with_bound_parameters_only():
    assert {"segment/buyers", "clv/summary"} <= set(sql.names())
    for name in sql.names():
        chosen = {k: sorted(v)[0] for k, v in sql.choices(name).items()}
        text = sql.render(name, **chosen)
        assert "{" not in text and "@if" not in text and "@include" not in text, name  # nothing left to format
        spark = re.sub(r"/\*.*?\*/", "", sql.spark_sql(name, **chosen), flags=re.S)  # the file's comments aside
        assert "$" not in spark and "siyu_local_date" not in spark, name
        assert {p for p in re.findall(r":([a-z_][a-z0-9_]*)", spark)} == sql.parameters(name), name


def test_choices_keep_or_drop_lines_and_must_all_be_given():
    days = sql.render("segment/buyers", frequency_unit="days", monetary="total")
    orders = sql.render("segment/buyers", frequency_unit="orders", monetary="total")
    assert "count(DISTINCT siyu_local_date(paid_at))" in days and "count(DISTINCT" not in orders
    assert "count(*) AS frequency" in orders and "count(*) AS frequency" not in days
    with pytest.raises(KeyError, match="choices"):
        sql.render("segment/buyers", frequency_unit="days")
    with pytest.raises(KeyError, match="choices"):
        sql.render("segment/excluded", monetary="total")


def test_bind_requires_every_parameter_and_drops_extras():
    with pytest.raises(KeyError, match="end"):
        sql.bind("segment/excluded", {"start": 1})
    assert sql.bind("segment/excluded", {"start": 1, "end": 2, "other": 3}) == {"end": 2, "start": 1}


def test_include_inserts_the_shared_subquery():
    assert sql.parameters("segment/rfm11") >= sql.parameters("segment/quintile_scores") | {"no_purchase_name"}
    assert "FULL OUTER JOIN seg_buyers" in sql.render("segment/rfm11")


def test_a_hostile_value_is_data_not_sql():
    con = duckdb.connect()
    con.execute("CREATE TABLE members AS SELECT 'm1' AS member_id")
    con.execute("CREATE TEMP TABLE seg_buyers (member_id VARCHAR, recency_days INTEGER, frequency INTEGER, "
                "monetary DECIMAL(18,2), revenue DECIMAL(18,2), first_purchase DATE, last_purchase DATE)")
    con.execute("CREATE TEMP TABLE seg_codes (code INTEGER, segment_id VARCHAR, segment_name VARCHAR)")
    hostile = "x'); DROP TABLE members; --"
    params = {"r_threshold": None, "f_threshold": None, "m_threshold": None, "f_fixed": True, "m_fixed": False,
              "no_purchase_name": hostile}
    rows = sql.run_duckdb(con, "segment/rfm8", params).fetchall()
    assert [(r[0], r[-2], r[-1]) for r in rows] == [("m1", "no_purchase", hostile)]
    assert con.execute("SELECT count(*) FROM members").fetchone()[0] == 1
    with pytest.raises(KeyError):
        sql.text("../secrets")


def test_bind_keeps_only_the_parameters_of_the_chosen_lines():
    """A ``$x`` inside a dropped ``@if`` block is not bound (DuckDB rejects a value it has no place for)."""
    assert sql.bind("report/member_period", {"m0": 1}, month_bits=True) == {"m0": 1}
    assert sql.bind("report/member_period", {"m0": 1}, month_bits=False) == {}
    assert sql.bind("report/member_period", {"m0": 1}) == {"m0": 1}  # without choices: every parameter


def test_the_report_keeps_no_analytical_sql_outside_the_query_files():
    """A grouping, joining or aggregating query written inline in report/*.py would run on DuckDB only: it
    belongs in sql/report/*.sql, where the equivalence test runs it on both engines. What stays inline are
    control reads (does a table exist, the bounds or totals of a temp table, the campaign ids push reads)."""
    import ast
    from pathlib import Path

    import siyu_cli.report

    analytical = re.compile(r"GROUP BY|JOIN|FILTER|\bsum\(|\bavg\(|\bcount\(DISTINCT", re.I)
    control = ("JOIN push_arms a USING (campaign_id)",)  # the campaigns with arms: push.experiments reads them
    found = []
    for path in sorted(Path(siyu_cli.report.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "SELECT" in node.value:
                if analytical.search(node.value) and not any(c in node.value for c in control):
                    found.append(f"{path.name}:{node.lineno}")
    assert not found, f"inline analytical SQL (move it to sql/report/): {found}"
    assert analytical.search("SELECT k, count(*) FROM rpt_period GROUP BY k")  # the check can fire
