"""Named analytical queries: ``.sql`` files in DuckDB's dialect, run on DuckDB or transpiled for Spark.

One source of SQL for both engines (docs/scale.md). A query file (``<area>/<name>.sql`` beside this
module, package data) holds one SELECT. Its rules:

* Values are bound parameters, ``$name`` (DuckDB's named style; ``:name`` on Spark). Nothing a user or the
  data supplies is ever formatted into the text.
* A structural choice (e.g. frequency counted in orders or in days) is a line block
  ``-- @if name = value`` … ``-- @else`` … ``-- @end``: the choice keeps or drops lines of the file,
  it inserts nothing. Every ``@if`` name must be given to :func:`render`.
* ``-- @include area/name`` on a line of its own inserts another query (e.g. a subquery both schemes share).
* Functions named ``siyu_*`` are engine functions: ``siyu_local_date(ts)`` is the local calendar date of a
  TIMESTAMPTZ in the workspace timezone. DuckDB gets a TEMP MACRO (:func:`define_duckdb_functions`);
  for Spark the transpiler rewrites it (the Spark session's timezone is the workspace's).
* Tables it reads are plain names (``orders``, ``members``, ``seg_buyers``…): DuckDB tables of the store
  or temp tables, Spark temp views over the lake (:mod:`siyu_cli.engine`).

Every query of the KPI report is ``report/<name>.sql`` (docs/scale.md says which run where).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

_IF = re.compile(r"^\s*--\s*@if\s+([a-z_][a-z0-9_]*)\s*(?:=\s*([A-Za-z0-9_]+))?\s*$")
_ELSE = re.compile(r"^\s*--\s*@else\s*$")
_END = re.compile(r"^\s*--\s*@end\s*$")
_INCLUDE = re.compile(r"^\s*--\s*@include\s+([a-z_]+/[a-z0-9_]+)\s*$")
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


def names() -> list[str]:
    """Every named query, e.g. ``segment/buyers`` (the registry the equivalence test walks)."""
    root = resources.files(__name__)
    out = []
    for area in root.iterdir():
        if area.is_dir() and not area.name.startswith("_"):
            out += [f"{area.name}/{f.name[:-4]}" for f in area.iterdir() if f.name.endswith(".sql")]
    return sorted(out)


@lru_cache(maxsize=None)
def text(name: str) -> str:
    """The file's text (DuckDB dialect, with its ``@if`` blocks), ``-- @include other`` lines expanded."""
    if not re.fullmatch(r"[a-z_]+/[a-z0-9_]+", name):
        raise KeyError(f"bad query name {name!r}")
    raw = (resources.files(__name__) / f"{name}.sql").read_text(encoding="utf-8")
    return "\n".join(text(m.group(1)) if (m := _INCLUDE.match(line)) else line for line in raw.splitlines())


def choices(name: str) -> dict[str, set[str]]:
    """The ``@if`` names of a query and the values its blocks test (``{"frequency_unit": {"orders"}}``)."""
    out: dict[str, set[str]] = {}
    for line in text(name).splitlines():
        m = _IF.match(line)
        if m:
            out.setdefault(m.group(1), set()).add(m.group(2) or "true")
    return out


def parameters(name: str) -> set[str]:
    """The ``$name`` parameters the query binds."""
    return set(_PARAM.findall(_strip_comments(text(name))))


def _strip_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


def render(name: str, **chosen: Any) -> str:
    """The query with its ``@if`` blocks resolved (DuckDB dialect). Unknown or missing choices are errors."""
    wanted = choices(name)
    if set(chosen) != set(wanted):
        raise KeyError(f"{name}: choices {sorted(wanted)} expected, got {sorted(chosen)}")
    out: list[str] = []
    stack: list[tuple[bool, bool]] = []  # (this block taken, enclosing blocks taken)
    for line in text(name).splitlines():
        m = _IF.match(line)
        if m:
            value = chosen[m.group(1)]
            hit = (str(value) == m.group(2)) if m.group(2) else bool(value)
            outer = all(t for t, _ in stack) if stack else True
            stack.append((hit, outer))
            continue
        if _ELSE.match(line):
            hit, outer = stack.pop()
            stack.append((not hit, outer))
            continue
        if _END.match(line):
            stack.pop()
            continue
        if all(t for t, _ in stack):
            out.append(line)
    if stack:
        raise ValueError(f"{name}: unclosed -- @if block")
    return "\n".join(out)


def bind(name: str, params: Mapping[str, Any], **chosen: Any) -> dict[str, Any]:
    """Exactly the parameters the query uses (a missing one is an error, extras are dropped); with its
    ``@if`` choices, those of the lines the choices keep (DuckDB refuses a value for a dropped ``$x``)."""
    used = set(_PARAM.findall(_strip_comments(render(name, **chosen)))) if chosen else parameters(name)
    missing = used - set(params)
    if missing:
        raise KeyError(f"{name}: parameter(s) {', '.join(sorted(missing))} not given")
    return {k: params[k] for k in sorted(used)}


# ---------------------------------------------------------------- DuckDB


def define_duckdb_functions(con: "duckdb.DuckDBPyConnection", local_date: Callable[[str], str]) -> None:
    """The engine functions on a DuckDB connection, as TEMP MACROs (inlined by DuckDB, so no cost per row).

    ``local_date(col)`` is trusted SQL built by :func:`siyu_cli.segment.measures.local_date_sql` (a validated
    time-zone literal and an integer offset), not data.
    """
    con.execute(f"CREATE OR REPLACE TEMP MACRO siyu_local_date(ts) AS {local_date('ts')}")


def run_duckdb(con: "duckdb.DuckDBPyConnection", name: str, params: Mapping[str, Any], **chosen: Any):
    """Execute the query on DuckDB; returns the connection's result (``.fetchall()``, ``.arrow()``…)."""
    return con.execute(render(name, **chosen), bind(name, params, **chosen))


def create_duckdb_table(con: "duckdb.DuckDBPyConnection", table: str, name: str, params: Mapping[str, Any],
                        **chosen: Any) -> int:
    """``CREATE OR REPLACE TEMP TABLE table AS <query>``; returns its rows. ``table`` is an identifier of ours."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", table):
        raise ValueError(f"bad table name {table!r}")
    return int(con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {render(name, **chosen)}",
                           bind(name, params, **chosen)).fetchone()[0])


# ---------------------------------------------------------------- Spark


@lru_cache(maxsize=None)
def _spark_text(duck_sql: str) -> str:
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(duck_sql, read="duckdb")

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and str(node.this).lower() == "siyu_local_date":
            return exp.cast(node.expressions[0], exp.DataType.build("DATE"))
        if isinstance(node, (exp.Placeholder, exp.Parameter)):
            inner = node.this
            ident = inner.name if isinstance(inner, exp.Expression) else inner
            if ident:
                return exp.Placeholder(this=str(ident))
        return node

    return tree.transform(rewrite).sql(dialect="spark")


def spark_sql(name: str, **chosen: Any) -> str:
    """The query transpiled to Spark SQL with sqlglot (``$x`` → ``:x``; engine functions rewritten)."""
    return _spark_text(render(name, **chosen))


def run_spark(spark, name: str, params: Mapping[str, Any], **chosen: Any):
    """The query as a Spark DataFrame (lazy), parameters bound by Spark (``args=``)."""
    return spark.sql(spark_sql(name, **chosen), args=bind(name, params, **chosen))
