"""Where siyu's heavy SQL runs: ``[engine]`` in siyu.toml — DuckDB (default) or Apache Spark.

Only the order scans go to Spark (queries segment/buyers, segment/excluded, clv/summary, report/history,
report/orders_window and audience/bought, from :mod:`siyu_cli.sql`, transpiled by sqlglot, and ``sql:``
audiences over the lake's tables, :func:`lake_query`); their results (one row per buyer, the ids of an audience)
come back into the DuckDB store's connection as TEMP tables through Arrow, or as lists of ids, so scoring,
snapshots, diff, push and plan are unchanged.

.. code-block:: toml

    [engine]
    kind = "spark"                  # or "duckdb" (default)
    master = "local[*]"             # spark://host:7077, yarn, k8s://…, or sc://host:15002 (Spark Connect)
    orders = "lake/orders"          # Parquet folder/file (relative to the workspace), or "table:db.orders"
    members = "lake/members"        # same; unset: the store's members
    order_lines = "lake/order_lines"  # same; for bought: audiences on a product, SKU or category
    format = "parquet"              # or "delta" (needs delta-spark on the cluster)
    [engine.conf]                   # any Spark settings, passed as given
    "spark.executor.memory" = "8g"
"""

from __future__ import annotations

from siyu_cli.i18n import _

import os
import re
import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from siyu_cli.errors import ConfigError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from siyu_cli.config import Settings

KINDS = ("duckdb", "spark")
FORMATS = ("parquet", "delta")
CONFIG_KEYS = ("kind", "master", "orders", "members", "order_lines", "format", "conf")
_MASTER = re.compile(r"^(local(\[(\*|\d+)(,\d+)?\])?|spark://\S+|yarn|k8s://\S+|mesos://\S+|sc://\S+)$")


@dataclass(frozen=True)
class EngineConfig:
    kind: str = "duckdb"
    master: str = "local[*]"
    orders: str | None = None  # a path (Parquet/Delta) or "table:NAME"
    members: str | None = None
    order_lines: str | None = None
    format: str = "parquet"
    conf: dict[str, str] = field(default_factory=dict)

    @property
    def spark(self) -> bool:
        return self.kind == "spark"


def engine_config(settings: "Settings") -> EngineConfig:
    """The [engine] table, validated (unknown keys and bad values are one-line config errors)."""
    cfg = settings.section("engine")
    where = f"{settings.config_file}: engine"
    for key in cfg:
        if key not in CONFIG_KEYS:
            raise ConfigError(_('{where}.{key} is not a known key (known: {join})').format(where=where, key=key, join=', '.join(CONFIG_KEYS)))
    kind = cfg.get("kind", "duckdb")
    if kind not in KINDS:
        raise ConfigError(_('{where}.kind must be duckdb or spark, not {kind!r}').format(where=where, kind=kind))
    master = cfg.get("master", "local[*]")
    if not isinstance(master, str) or not _MASTER.match(master):
        raise ConfigError(_('{where}.master must be local[*], local[N], spark://…, yarn, k8s://… or sc://…, not {master!r}').format(where=where, master=master))
    fmt = cfg.get("format", "parquet")
    if fmt not in FORMATS:
        raise ConfigError(_('{where}.format must be parquet or delta, not {fmt!r}').format(where=where, fmt=fmt))
    for key in ("orders", "members", "order_lines"):
        if key in cfg and (not isinstance(cfg[key], str) or not cfg[key].strip()):
            raise ConfigError(_('{where}.{key} must be a path or table:NAME').format(where=where, key=key))
    conf = cfg.get("conf", {})
    if not isinstance(conf, dict):
        raise ConfigError(_('{where}.conf must be a table of Spark settings').format(where=where))
    if kind == "spark" and not cfg.get("orders"):
        raise ConfigError(_('{where}.orders must say where the orders live (a Parquet folder or table:NAME) when engine.kind is spark; `siyu export lake DIR` writes one from the store').format(where=where))
    return EngineConfig(kind, master, cfg.get("orders"), cfg.get("members"), cfg.get("order_lines"), fmt,
                        {str(k): str(v) for k, v in conf.items()})


def check_spark_available(master: str = "local[*]") -> None:
    """One readable line (exit 78) when pyspark or, for a JVM-backed session, Java is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigError(_('engine.kind = "spark" needs pyspark, which is not installed: pip install \'siyu-cli[spark]\'')) from None
    if master.startswith("sc://"):
        return  # Spark Connect: the JVM runs on the server
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and os.path.isfile(os.path.join(java_home, "bin", "java"))) and not shutil.which("java"):
        raise ConfigError(_('engine.kind = "spark" needs a Java runtime (17 or 21), and none was found: install one (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME'))


def spark_session(master: str, timezone: str, conf: Mapping[str, str] | None = None, *, ui: bool = False):
    """A SparkSession whose SQL session time zone is the workspace's (so CAST(ts AS DATE) is the local day).

    Local masters bind the driver to 127.0.0.1 and, unless ``ui``, run without the web UI.
    """
    check_spark_available(master)
    from pyspark.sql import SparkSession

    if master.startswith("sc://"):
        builder = SparkSession.builder.remote(master)
    else:
        builder = SparkSession.builder.master(master)
        if master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # every listener of the local JVM on loopback
            builder = (builder.config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
                       .config("spark.ui.enabled", "true" if ui else "false")
                       .config("spark.ui.showConsoleProgress", "false")  # no progress bars on siyu's stderr
                       .config("spark.sql.shuffle.partitions", "8"))
    builder = builder.appName("siyu").config("spark.sql.session.timeZone", timezone)
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
        if not master.startswith("sc://"):
            session.sparkContext.setLogLevel("ERROR")
        return session
    except Exception as exc:  # the JVM did not start, or the master cannot be reached
        raise ConfigError(_('cannot start Spark at {master}: {value}').format(master=master, value=first_line(exc))) from None


def first_line(exc: BaseException) -> str:
    """The first line of an error (Spark's run to pages), at most 300 characters."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def register_source(spark, view: str, source: str, fmt: str, root) -> None:
    """Make ``view`` a temp view of a lake path (relative to the workspace ``root``) or ``table:NAME``."""
    if source.startswith("table:"):
        spark.table(source[len("table:"):]).createOrReplaceTempView(view)
        return
    path = str(root / source) if not os.path.isabs(source) and "://" not in source else source
    reader = spark.read.format("delta" if fmt == "delta" else "parquet")
    if fmt == "parquet":
        reader = reader.option("mergeSchema", "false")
    reader.load(path).createOrReplaceTempView(view)


def arrow_of(df):
    """A Spark DataFrame as a pyarrow Table (Spark 4's toArrow; through pandas on 3.5)."""
    if hasattr(df, "toArrow"):
        return df.toArrow()
    import pyarrow as pa

    return pa.Table.from_pandas(df.toPandas(), preserve_index=False)


def into_duckdb(con, table: str, arrow) -> int:
    """``CREATE OR REPLACE TEMP TABLE table`` in DuckDB from an Arrow table; returns its rows."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", table):
        raise ValueError(f"bad table name {table!r}")
    con.complete()  # a statement whose result nobody read (a CREATE) would make register refuse
    con.register("_siyu_spark_result", arrow)
    try:
        return int(con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM _siyu_spark_result")
                   .fetchone()[0])
    finally:
        con.unregister("_siyu_spark_result")


class SparkRunner:
    """The configured Spark session with the lake's ``orders`` (and ``members``) registered as views."""

    def __init__(self, settings: "Settings", cfg: EngineConfig):
        self.cfg = cfg
        self.spark = spark_session(cfg.master, settings.timezone, cfg.conf)
        for view in ("orders", "members", "order_lines"):
            source = getattr(cfg, view)
            if source:
                try:
                    register_source(self.spark, view, source, cfg.format, settings.root)
                except Exception as exc:  # a path that is not there, a table the catalog does not know
                    raise ConfigError(_('engine.{view} = {source!r}: Spark cannot read it: {value}').format(
                        view=view, source=source, value=first_line(exc))) from None

    def table(self, con, table: str, name: str, params: Mapping[str, Any], **chosen: Any) -> int:
        """Run query ``name`` on Spark and land its rows in DuckDB TEMP TABLE ``table``."""
        from siyu_cli import sql

        return into_duckdb(con, table, arrow_of(sql.run_spark(self.spark, name, params, **chosen)))

    def rows(self, name: str, params: Mapping[str, Any], **chosen: Any) -> list[tuple]:
        from siyu_cli import sql

        return [tuple(r) for r in sql.run_spark(self.spark, name, params, **chosen).collect()]

    def shadow_members(self, con) -> None:
        """With ``members`` in the lake, a TEMP ``members`` (ids only) shadows the store's on this connection
        while the scheme query joins the members in; :meth:`unshadow_members` drops it right after."""
        if self.cfg.members:
            into_duckdb(con, "members", arrow_of(self.spark.sql("SELECT DISTINCT member_id FROM members")))

    def unshadow_members(self, con) -> None:
        """Drop the TEMP ``members``: exports and lookups after the insert read the store's full table."""
        if self.cfg.members:
            con.execute("DROP TABLE IF EXISTS temp.members")


def spark_runner(settings: "Settings") -> SparkRunner | None:
    """A :class:`SparkRunner` when [engine] kind is spark, else None (run on DuckDB)."""
    cfg = engine_config(settings)
    return SparkRunner(settings, cfg) if cfg.spark else None


# ---------------------------------------------------------------- an analyst's query on the lake (sql: audiences)

#: the lake's views a query may name, each when [engine] says where it lives
LAKE_VIEWS = ("orders", "members", "order_lines")
#: functions sqlglot passes through by name that mean the same on DuckDB and Spark (every other unknown one is refused)
SPARK_SAME_FUNCTIONS = frozenset({"now"})


def lake_query(query: str, cfg: EngineConfig, *, what: str) -> str | None:
    """An analyst's DuckDB-dialect query as Spark SQL when it reads the lake, else None (it reads the store only).

    The query is parsed with sqlglot: exactly one statement, a query (no DDL, DML, ``SET``…). It runs on Spark
    when the tables it names are the lake's views (``orders`` and, where [engine] sets them, ``members`` and
    ``order_lines``); a query that names none of them runs on the store as before. Refused with one line: a query
    joining lake and store tables (no engine holds both), a table named with a schema, a path or a table function
    (Spark reads ``parquet.`/path``` and the catalog's tables: only the views are allowed), a function sqlglot does
    not know (Spark's ``reflect`` and ``java_method`` call Java), or a query sqlglot cannot read.
    """
    import sqlglot
    from sqlglot import exp

    lake = {v for v in LAKE_VIEWS if getattr(cfg, v)}
    try:
        trees = [t for t in sqlglot.parse(query, read="duckdb") if t is not None]
    except sqlglot.errors.SqlglotError as exc:
        if not re.search(r"\b(" + "|".join(sorted(lake)) + r")\b", query, re.I):
            return None  # names no lake table: the store's own checks run it or say why not
        raise UsageError(_('{what}: cannot read the query to run it on Spark: {value}').format(
            what=what, value=first_line(exc))) from None
    if len(trees) != 1:
        raise UsageError(_('{what} runs exactly one statement; this text has {len}').format(what=what, len=len(trees)))
    tree = trees[0]
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    tables = list(tree.find_all(exp.Table))
    named = {t.name.lower() for t in tables if isinstance(t.this, exp.Identifier)} - ctes  # main.orders too
    if not named & lake:
        return None  # the store's tables only: DuckDB, read-only and locked down (siyu_cli.analyst)
    if not isinstance(tree, exp.Query):
        raise UsageError(_('{what} is read-only: one SELECT').format(what=what))
    for t in tables:
        if not isinstance(t.this, exp.Identifier) or t.args.get("db") or t.args.get("catalog"):
            raise UsageError(_('{what}: on Spark a query reads the lake\'s tables by name ({views}), not {table}').format(
                what=what, views=", ".join(sorted(lake)), table=t.sql(dialect="duckdb")))
    if named - lake:
        raise UsageError(_('{what} reads {lake} from the lake (engine.kind = "spark") and {store} from the store: one query '
                           'cannot join them; use the lake\'s tables only ({views})').format(
            what=what, lake=", ".join(sorted(named & lake)), store=", ".join(sorted(named - lake)),
            views=", ".join(sorted(lake))))
    for f in tree.find_all(exp.Anonymous):
        if f.name.lower() in SPARK_SAME_FUNCTIONS:
            continue
        raise UsageError(_('{what}: {name}() cannot run on Spark (a function siyu does not know on both engines)').format(
            what=what, name=f.name))
    return tree.sql(dialect="spark")


def collect_column(runner: "SparkRunner", text: str, column: str, *, what: str, cap: int,
                   timeout: float | None) -> list[str]:
    """The distinct non-null values of ``column`` of Spark query ``text``, at most ``cap`` of them (more is an error,
    not a cut: an audience is all of its members or none), within ``timeout`` seconds (the job is cancelled)."""
    import threading

    spark = runner.spark
    try:
        df = spark.sql(text)
        columns = list(df.columns)
    except Exception as exc:  # Spark's analysis: an unknown column, a type error
        raise UsageError(_('{what}: Spark cannot run it: {value}').format(what=what, value=first_line(exc))) from None
    if column not in columns:
        raise UsageError(_('{what}: the query must return a {column} column (it returns {value})').format(
            what=what, column=column, value=', '.join(columns) or 'nothing'))
    stopped = threading.Event()
    if runner.cfg.master.startswith("sc://"):
        cancel = spark.interruptAll
    else:
        spark.sparkContext.setJobGroup("siyu-query", what, interruptOnCancel=True)
        cancel = lambda: spark.sparkContext.cancelJobGroup("siyu-query")  # noqa: E731
    done = threading.Event()

    def watchdog() -> None:  # cancels every second once the budget is spent: a plan starts jobs one after another
        if done.wait(timeout):
            return
        stopped.set()
        while not done.is_set():
            cancel()
            done.wait(1)

    timer = threading.Thread(target=watchdog, name="siyu-spark-deadline", daemon=True) if timeout else None
    if timer:
        timer.start()
    try:
        rows = df.select(column).where(f"`{column}` IS NOT NULL").distinct().limit(cap + 1).collect()
    except Exception as exc:
        if stopped.is_set():
            raise UsageError(_('{what}: the query was stopped after {timeout:g} s').format(what=what, timeout=timeout)) from None
        raise UsageError(_('{what}: Spark cannot run it: {value}').format(what=what, value=first_line(exc))) from None
    finally:
        done.set()
    if len(rows) > cap:
        raise UsageError(_('{what}: the query returns more than {cap} ids').format(what=what, cap=cap))
    return [str(r[0]) for r in rows]
