"""Engine equivalence: every query in siyu_cli/sql runs on DuckDB and on Spark (local[2]) with identical results.

Over the CDNOW transactions (shipped inside the `lifetimes` wheel, tests/cdnow_helpers.py) and the demo data:
each query's rows are compared exactly (counts, money as DECIMAL, dates, doubles bit for bit), then
``siyu segment`` (rfm8, rfm11) and the CLV summary run end to end with ``[engine] kind = "spark"`` against
the lake ``siyu export lake`` wrote, and every member's measures and segment must equal the DuckDB run.
A query file without a case here fails ``test_every_query_is_exercised_on_both_engines``.

pyspark and a Java runtime come with the test extra and .ci/system-deps; without them the Spark tests skip
on a developer's machine and FAIL under CI=true, so CI always runs them for real.
"""

from __future__ import annotations

import os
import shutil
from datetime import date
from decimal import Decimal

import pytest

from cdnow_helpers import lifetimes_dataset, load_orders
from siyu_cli import sql
from siyu_cli.segment import measures as M
from siyu_cli.segment import schemes as S

CDNOW_AS_OF = date(1998, 6, 30)
DEMO_TODAY = date(2026, 11, 28)
TZ = "Asia/Shanghai"


def _spark_missing() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -e '.[test]' brings it)"
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (.ci/system-deps installs openjdk-17-jre-headless)"
    return None


@pytest.fixture(scope="module")
def spark():
    reason = _spark_missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Spark equivalence tests: {reason}")
        pytest.skip(reason)
    from siyu_cli.engine import spark_session

    session = spark_session("local[2]", TZ, {"spark.sql.shuffle.partitions": "2", "spark.driver.memory": "1g"})
    yield session
    session.stop()


def _workspace(root):
    from siyu_cli.config import load_settings
    from siyu_cli.workspace import init_workspace

    init_workspace(root)
    return load_settings(root, env={})


@pytest.fixture(scope="module")
def cdnow(request, tmp_path_factory):
    text = lifetimes_dataset(request, "CDNOW_master.txt")
    from cdnow_helpers import parse

    base = tmp_path_factory.mktemp("engine-cdnow")
    settings = _workspace(base / "ws")
    load_orders(settings, parse(text), base)
    return settings, CDNOW_AS_OF


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from siyu_cli.demo.generator import generate_data
    from siyu_cli.demo.runner import LOAD_ORDER
    from siyu_cli.ingest import load_files

    base = tmp_path_factory.mktemp("engine-demo")
    data = generate_data(base / "exports", members=400, seed=7, today=DEMO_TODAY)
    settings = _workspace(base / "ws")
    for kind in LOAD_ORDER:
        for f in data.files:
            if f.kind == kind:
                load_files(settings, kind, [f.path], preset="auto")
    return settings, DEMO_TODAY


@pytest.fixture(params=["cdnow", "demo"])
def dataset(request):
    """(settings, as_of, lake folder) with the lake written by `siyu export lake`, as a user runs it."""
    settings, as_of = request.getfixturevalue(request.param)
    lake = settings.root / "lake"
    if not (lake / "orders").is_dir():
        from siyu_cli.lake import export_lake

        export_lake(settings, lake)
    return settings, as_of, lake


def _norm(rows) -> list[tuple]:
    return sorted((tuple(r) for r in rows), key=repr)


def _measure_params(as_of: date, window=None, unit="orders", monetary="total") -> M.MeasureParams:
    return M.MeasureParams(as_of=as_of, timezone=TZ, window=window, frequency_unit=unit, monetary=monetary)


#: Every query with the choices and parameters it is compared under (choices cover every @if branch).
VARIANTS = [("orders", "total", None), ("days", "average", "365d"), ("orders", "average", "2y"), ("days", "total", None)]


def _cases(con, as_of: date):
    """(query name, choices, params) to compare; con has seg_buyers (DuckDB) for the scheme queries' parameters."""
    out = []
    for unit, monetary, window in VARIANTS:
        p = _measure_params(as_of, window, unit, monetary)
        out.append(("segment/buyers", M.query_choices(p), M.query_params(p)))
        out.append(("segment/excluded", {}, M.query_params(p)))
    out.append(("clv/summary", {}, M.query_params(_measure_params(as_of))))
    out.append(("segment/members", {}, {}))
    cuts = M.quintile_cuts(con, "seg_buyers").params()
    out.append(("segment/quintile_scores", {}, cuts))
    out.append(("segment/rfm11", {}, cuts | {"no_purchase_name": S.NO_PURCHASE["name"]}))
    for spec in ("median", "mean", "q0.8", "2"):
        splits = {d: S.parse_split(d, spec if d != "r" or spec != "2" else "90") for d in "rfm"}
        _, params = S.rfm8_query(splits, S._split_thresholds(con, "seg_buyers", splits))
        out.append(("segment/rfm8", {}, params))
    return out


def test_every_query_is_exercised_on_both_engines():
    """The registry check: a .sql file with no equivalence case (one engine's path only) fails here."""
    flagged = _report_cases(date(2026, 1, 1), date(2026, 6, 30)) + _bought_cases(date(2026, 6, 30))
    covered = {"segment/buyers", "segment/excluded", "clv/summary", "segment/members", "segment/quintile_scores",
               "segment/rfm11", "segment/rfm8"} | {name for name, _, _ in flagged}
    assert set(sql.names()) == covered
    branches = {(k, v) for u, m, _ in VARIANTS for k, v in (("frequency_unit", u), ("monetary", m))}
    branches |= {(k, "true" if v is True else v) for _, chosen, _ in flagged for k, v in chosen.items()}
    for name in sql.names():
        for key, values in sql.choices(name).items():
            for value in values:  # the @if branch and its @else
                assert (key, value) in branches and any(k == key and v != value for k, v in branches), (name, key)
        sql.spark_sql(name, **{k: sorted(v)[0] for k, v in sql.choices(name).items()})  # transpiles


def test_each_query_gives_identical_rows_on_duckdb_and_spark(spark, dataset):
    from siyu_cli.engine import register_source
    from siyu_cli.store import open_store

    settings, as_of, lake = dataset
    register_source(spark, "orders", str(lake / "orders"), "parquet", settings.root)
    register_source(spark, "members", str(lake / "members"), "parquet", settings.root)
    with open_store(settings, read_only=True) as con:
        M.build_buyers(con, _measure_params(as_of))
        base = _measure_params(as_of)
        sql.run_spark(spark, "segment/buyers", M.query_params(base), **M.query_choices(base)) \
            .createOrReplaceTempView("seg_buyers")
        S._codes_table(con, S.rfm11_codes())  # rfm8's catalogue replaces it before the rfm8 cases
        spark.createDataFrame(S.rfm11_codes(), "code INT, segment_id STRING, segment_name STRING") \
            .createOrReplaceTempView("seg_codes")
        cases = _cases(con, as_of)
        assert {name for name, _, _ in cases} | {name for name, _, _ in _report_cases(as_of, as_of) + _bought_cases(as_of)} \
            == set(sql.names()), "a query without an equivalence case (segment/clv here, report/* and audience/* below)"
        seen = set()
        for name, chosen, params in cases:
            if name == "segment/rfm8" and "rfm8" not in seen:
                S._codes_table(con, S.rfm8_codes())
                spark.createDataFrame(S.rfm8_codes(), "code INT, segment_id STRING, segment_name STRING") \
                    .createOrReplaceTempView("seg_codes")
            seen.add(name.split("/")[1])
            duck = _norm(sql.run_duckdb(con, name, params, **chosen).fetchall())
            spk = _norm(tuple(r) for r in sql.run_spark(spark, name, params, **chosen).collect())
            assert duck, f"{name} returned no rows: the comparison would prove nothing"
            assert len(duck) == len(spk), name
            assert duck == spk, f"{name} {chosen}: first difference " + repr(
                next((a, b) for a, b in zip(duck, spk) if a != b))
        assert {"buyers", "excluded", "summary", "members", "quintile_scores", "rfm11", "rfm8"} <= seen


def _engine_toml(settings, lake) -> None:
    text = settings.config_file.read_text(encoding="utf-8")
    settings.config_file.write_text(
        text + f'\n[engine]\nkind = "spark"\nmaster = "local[2]"\norders = "{lake / "orders"}"\n'
               f'members = "{lake / "members"}"\n', encoding="utf-8")


def _without_engine(settings) -> None:
    text = settings.config_file.read_text(encoding="utf-8")
    settings.config_file.write_text(text.split("\n[engine]\n")[0], encoding="utf-8")


@pytest.mark.parametrize("scheme", ["rfm11", "rfm8"])
def test_segment_on_spark_assigns_every_member_the_same_segment(spark, dataset, scheme):
    from siyu_cli.config import load_settings
    from siyu_cli.segment import run_segment

    settings, as_of, lake = dataset
    got = {}

    def grab(key):
        def then(con, snapshot_id):
            # exports run here and join the store's full members table: the lake's ids-only one is gone again
            assert "phone" in {c[0] for c in con.execute("DESCRIBE members").fetchall()}
            got[key] = _norm(con.execute(
                "SELECT member_id, recency_days, frequency, monetary, revenue, r_score, f_score, m_score, segment_id, "
                "segment_name, first_purchase, last_purchase FROM segment_members WHERE snapshot_id = ?",
                [snapshot_id]).fetchall())
        return then

    duck = run_segment(settings, scheme=scheme, as_of=as_of, save=False, then=grab("duckdb"))
    _engine_toml(settings, lake)
    try:
        on_spark = run_segment(load_settings(settings.root, env={}), scheme=scheme, as_of=as_of, save=False,
                               then=grab("spark"))
    finally:
        _without_engine(settings)
    assert len(got["duckdb"]) > 100
    assert got["spark"] == got["duckdb"]
    assert (on_spark.buyers, on_spark.excluded, on_spark.summary) == (duck.buyers, duck.excluded, duck.summary)


def test_clv_summary_on_spark_equals_duckdb(spark, dataset):
    from siyu_cli.clv.measures import build_summary
    from siyu_cli.config import load_settings
    from siyu_cli.engine import spark_runner
    from siyu_cli.store import open_store

    settings, as_of, lake = dataset
    _engine_toml(settings, lake)
    try:
        runner = spark_runner(load_settings(settings.root, env={}))
    finally:
        _without_engine(settings)
    with open_store(settings, read_only=True) as con:
        n_duck = build_summary(con, as_of, TZ, table="clv_duck")
        n_spark = build_summary(con, as_of, TZ, table="clv_spark", runner=runner)
        cols = "idx, member_id, frequency, recency_days, t_days, avg_repeat_spend"
        duck = con.execute(f"SELECT {cols} FROM clv_duck ORDER BY idx").fetchall()
        spk = con.execute(f"SELECT {cols} FROM clv_spark ORDER BY idx").fetchall()
    assert n_duck == n_spark > 100
    assert spk == duck


# ---------------------------------------------------------------- the KPI report (report/*.sql)


def _report_period(as_of: date) -> tuple[date, date]:
    """The half year ending ``as_of``: CDNOW's last six months (history before them is 1997), the demo's."""
    return date(as_of.year, 1, 1), as_of


def _report_cases(dfrom: date, dto: date, bounds: tuple = (None, None)):
    """(query, choices, params) of every report query, with the report's own parameters. ``bounds``: the
    earliest and latest send time of the campaigns' groups (``report/campaigns`` reads orders between them).
    report/period_fill comes last: it runs over each engine's own report/period (the period copy before it
    is completed from the members)."""
    from siyu_cli.report.measured import AT_RISK_P_ALIVE
    from siyu_cli.report.model import CONFIG_DEFAULTS

    period = {"f": dfrom, "t": dto}
    clv = {"fit": 1, "snap": 2, "risk": AT_RISK_P_ALIVE}
    return [
        ("report/history", {}, {"start": _day_start(dfrom)}),
        ("report/orders_window", {}, {"lo": _day_start(dfrom.replace(day=1))}),
        ("report/base", {}, period),
        ("report/units", {}, period),
        ("report/lifecycle", {}, {"t": dto, "a": CONFIG_DEFAULTS["active_days"], "c": CONFIG_DEFAULTS["churn_days"]}),
        ("report/member_period", {"month_bits": True}, {"m0": dfrom.replace(day=1)}),
        ("report/member_period", {"month_bits": False}, {"m0": dfrom.replace(day=1)}),
        ("report/member_last", {"history_here": False}, {}),
        ("report/member_last", {"history_here": True}, {"start": _day_start(dfrom)}),
        ("report/trend", {"month_bits": True}, {**period, "nm": dto.month - dfrom.month + 1}),
        ("report/trend", {"month_bits": False}, period),
        ("report/cohorts", {"from_period": True}, {**period, "m0": dfrom.replace(day=1), "nm": dto.month - dfrom.month + 1}),
        ("report/cohorts", {"from_period": False}, period),
        ("report/pareto_buckets", {}, {}),
        ("report/pareto_curve", {}, {}),  # over each engine's own rpt_pareto (the buckets above)
        ("report/pareto_80", {}, {"need": Decimal("1000.00")}),
        ("report/contacts", {}, period),
        ("report/new_contacts", {}, {}),
        ("report/add_rates", {}, period),
        ("report/leaderboard", {"by": "store", "traffic": True}, {}),
        ("report/leaderboard", {"by": "store", "traffic": False}, {}),
        ("report/leaderboard", {"by": "guide", "traffic": False}, {}),
        ("report/guide_names", {}, {}),
        ("report/segment_mix", {}, {"l": 2, "p": 1}),
        ("report/segment_mix", {}, {"l": 1, "p": -1}),
        ("report/snapshot_size", {}, {"s": 2}),
        ("report/campaigns_sent", {}, period),
        ("report/campaign_groups", {}, period),
        ("report/campaign_segments", {}, period),
        ("report/campaigns", {}, {**period, "w": CONFIG_DEFAULTS["campaign_days"], "lo": bounds[0], "hi": bounds[1]}),
        ("report/member_dims", {}, {}),
        ("report/members", {}, {}),
        ("report/buyer_months", {}, {}),
        ("report/clv_by_segment", {}, clv),
        ("report/clv_at_risk", {}, clv),
        ("report/contact_event_totals", {}, period),
        ("report/contact_events_by_guide", {}, period),
        ("report/guide_activity", {}, period),
        ("report/group_health", {}, period),
        ("report/groups_left", {}, period),
        ("report/synced_online", {}, {"t": dto}),
    ] + [("report/breakdown", {"by": by}, {}) for by in ("store", "guide", "channel", "month")] + [
        ("report/period", {}, period),
        ("report/period_fill", {}, {}),
    ]


def _day_start(day: date):
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    return datetime.combine(day, time(0), tzinfo=ZoneInfo(TZ))


#: DuckDB tables the report queries read besides the lake's ``orders`` and ``members``, copied to Spark views for
#: the comparison (at run time they are built in DuckDB from the period, see docs/scale.md).
_REPORT_TABLES = {
    "rpt_members": "member_id, join_at, join_day, external_userid, join_channel",
    "rpt_member_period": "member_id, n, v, last_day, month_bits",
    "rpt_buyer_months": "member_id, m",
    "rpt_period": "member_id, day, paid_at, valid, net_amount, item_count, store, guide, channel",
    "rpt_history": "member_id, last_day",
    "rpt_member_last": "member_id, n, last_day, bought_before",
    "rpt_contacts": "*",
    "wecom_contacts": "*",
    "order_lines": "*",
    "staff": "userid, name, store",
    "dim_store_map": "*",
    "dim_staff_map": "*",
    "dim_guide_physical": "*",
    "dim_store_names": "*",
    "store_traffic": "store, day, period, customers",
    "segment_members": "snapshot_id, member_id, segment_id, segment_name, revenue",
    "group_members": "group_id, external_userid, member_id",
    "push_campaigns": "campaign_id, name, channel, snapshot_id, segment_id, status, created_at, sent_at",
    "push_recipients": "campaign_id, recipient_id, member_id, state, delivery, sent_at",
    "clv_members": "fit_id, member_id, p_alive, clv",
    "contact_events": "kind, external_userid, staff_userid, group_id, member_id, event_at",
    "groups": "group_id, owner_userid",
    "wecom_behavior": "*",
    "wecom_group_stats": "*",
}


def _push_and_traffic(con, dto: date) -> None:
    """TEMP tables shadowing the store's (neither dataset has them): store traffic for every raw store of the
    orders plus one unknown store; two segment snapshots (3 and 4 segments); campaigns — one to segment A of
    snapshot 2 (half its members sent, some failed, the rest the control group), one to groups (send time
    from its recipients), a staff app message (not a campaign) and one sent before the period."""
    from datetime import timedelta

    sent = _day_start(dto) - timedelta(days=40, hours=-10)
    con.execute("CREATE OR REPLACE TEMP TABLE ranked AS "
                "SELECT member_id, row_number() OVER (ORDER BY member_id) AS rn FROM members")
    con.execute("""CREATE OR REPLACE TEMP TABLE store_traffic AS
        SELECT raw AS store, CAST($t AS DATE) - CAST(i AS INTEGER) AS day, 'day' AS period,
               CAST(40 + 10 * i AS BIGINT) AS customers
        FROM (SELECT DISTINCT store AS raw FROM orders WHERE store IS NOT NULL UNION SELECT 'unknown shop') s,
             range(3) r(i)""", {"t": dto})
    con.execute("""CREATE OR REPLACE TEMP TABLE segment_members AS
        SELECT s.snapshot_id, member_id, chr(CAST(65 + rn % s.k AS INTEGER)) AS segment_id,
               'segment ' || chr(CAST(65 + rn % s.k AS INTEGER)) AS segment_name, CAST(rn % 50 AS DECIMAL(18, 2)) AS revenue
        FROM ranked, (VALUES (1, 3), (2, 4)) s(snapshot_id, k)""")
    con.execute("""CREATE OR REPLACE TEMP TABLE group_members AS
        SELECT 'g' || CAST(rn % 3 AS VARCHAR) AS group_id, 'x' || member_id AS external_userid, member_id
        FROM ranked WHERE rn % 7 = 0""")
    con.execute("""CREATE OR REPLACE TEMP TABLE push_campaigns AS SELECT * FROM (VALUES
        ('c1', 'segment A', 'customer', 2, 'A', 'sent', $sent - INTERVAL 1 DAY, $sent),
        ('c2', 'groups', 'group', NULL, NULL, 'sent', $sent - INTERVAL 30 DAY, NULL),
        ('c3', 'staff note', 'app', NULL, NULL, 'sent', $sent, $sent),
        ('c4', 'last year', 'customer', 1, 'B', 'sent', $early, $early))
        c(campaign_id, name, channel, snapshot_id, segment_id, status, created_at, sent_at)""",
                {"sent": sent, "early": _day_start(date(dto.year - 1, 6, 1))})
    con.execute("""CREATE OR REPLACE TEMP TABLE push_recipients AS
        SELECT 'c1' AS campaign_id, 'x' || member_id AS recipient_id, member_id,
               CASE WHEN rn % 2 = 0 THEN 'sent' WHEN rn % 3 = 0 THEN 'failed' ELSE 'skipped' END AS state,
               CASE WHEN rn % 4 = 0 THEN 'delivered' END AS delivery,
               CASE WHEN rn % 2 = 0 AND rn % 8 <> 0 THEN $sent + INTERVAL 5 MINUTE END AS sent_at
        FROM ranked JOIN segment_members USING (member_id) WHERE snapshot_id = 2 AND segment_id = 'A' AND rn % 5 <> 1
        UNION ALL SELECT DISTINCT 'c2', group_id, NULL, 'sent', 'delivered', $sent - INTERVAL 20 DAY FROM group_members
        UNION ALL SELECT 'c3', 'staff1', NULL, 'sent', NULL, $sent
        UNION ALL SELECT 'c4', 'x' || member_id, member_id, 'sent', NULL, NULL FROM ranked WHERE rn % 9 = 0""",
                {"sent": sent})


def _sync_and_clv(con, dto: date) -> None:
    """TEMP tables of `siyu sync wecom` and `siyu clv` (shadowing the store's): contact events of every kind for
    four guides and three groups over 200 days, ten days of guide behaviour and group statistics, and a CLV fit
    over two members in three. Doubles are multiples of 1/8: their sums are exact in any order."""
    con.execute("""CREATE OR REPLACE TEMP TABLE clv_members AS
        SELECT 1 AS fit_id, member_id, CAST((rn % 8) / 8 AS DOUBLE) AS p_alive, CAST((rn % 16) * 0.25 AS DOUBLE) AS clv
        FROM ranked WHERE rn % 3 <> 0""")  # the schema's DOUBLEs
    con.execute("""CREATE OR REPLACE TEMP TABLE groups AS
        SELECT 'g' || CAST(k AS VARCHAR) AS group_id, 'guide' || CAST(k AS VARCHAR) AS owner_userid FROM range(3) r(k)""")
    con.execute("""CREATE OR REPLACE TEMP TABLE contact_events AS
        SELECT ['contact_added', 'contact_removed', 'contact_deleted', 'group_joined', 'group_left'][CAST(rn % 5 AS INTEGER) + 1] AS kind,
               'x' || member_id AS external_userid,
               CASE WHEN rn % 5 < 3 AND rn % 11 <> 0 THEN 'guide' || CAST(rn % 4 AS VARCHAR) END AS staff_userid,
               CASE WHEN rn % 5 >= 3 THEN 'g' || CAST(rn % 3 AS VARCHAR) END AS group_id, member_id,
               $end - INTERVAL 1 HOUR * CAST(rn % 4800 AS INTEGER) AS event_at
        FROM ranked""", {"end": _day_start(dto)})
    con.execute("""CREATE OR REPLACE TEMP TABLE wecom_behavior AS
        SELECT 'guide' || CAST(k AS VARCHAR) AS userid, CAST($t AS DATE) - CAST(d AS INTEGER) AS day,
               CAST(k + d AS INTEGER) AS new_contact_cnt, CAST((k * 7 + d) % 5 AS INTEGER) AS chat_cnt,
               CAST(3 * d AS INTEGER) AS message_cnt,
               CASE WHEN d % 3 <> 0 THEN CAST((k * 10 + d) * 0.5 AS DOUBLE) END AS reply_percentage,
               CASE WHEN d % 3 <> 0 THEN CAST((d + 1) * 0.25 AS DOUBLE) END AS avg_reply_time, CAST(d % 2 AS INTEGER) AS negative_feedback_cnt
        FROM range(4) a(k), range(10) b(d)""", {"t": dto})
    con.execute("""CREATE OR REPLACE TEMP TABLE wecom_group_stats AS
        SELECT 'guide' || CAST(k AS VARCHAR) AS owner, CAST($t AS DATE) - CAST(d AS INTEGER) AS day,
               CAST(k + d AS INTEGER) AS chat_total, CAST(10 * k + d AS INTEGER) AS member_total,
               CAST(d AS INTEGER) AS new_member_cnt, CAST(d % 4 AS INTEGER) AS member_has_msg, CAST(k * d AS INTEGER) AS msg_total
        FROM range(3) a(k), range(10) b(d)""", {"t": dto})


def _dimension_maps(con) -> None:
    """Entries in the TEMP dimension maps (neither dataset configures stores or staff): the orders' most common
    raw store becomes physical store S1 (with a canonical name), the next an online shop (no store), the
    members' most common raw guide name an alias of userid g-alias, and a staff member's store S1."""
    con.execute("""INSERT OR REPLACE INTO dim_store_map
        SELECT raw, CASE WHEN rk = 1 THEN 'S1' ELSE 'WEB' END, CASE WHEN rk = 1 THEN 'physical' ELSE 'online' END
        FROM (SELECT store AS raw, row_number() OVER (ORDER BY count(*) DESC, store) AS rk
              FROM orders WHERE store IS NOT NULL GROUP BY store) WHERE rk <= 2""")
    con.execute("INSERT OR REPLACE INTO dim_store_names VALUES ('S1', 'Store one', 'physical')")
    con.execute("""INSERT OR REPLACE INTO dim_staff_map
        SELECT guide_name, 'g-alias' FROM members WHERE guide_name IS NOT NULL
        GROUP BY guide_name ORDER BY count(*) DESC, guide_name LIMIT 1""")
    con.execute("INSERT OR REPLACE INTO dim_guide_physical SELECT min(userid), 'S1' FROM staff HAVING count(*) > 0")


def _spark_rows(df) -> list[tuple]:
    """A Spark result through Arrow, as the runner brings it back (time stamps keep their time zone)."""
    from siyu_cli.engine import arrow_of

    return [tuple(r.values()) for r in arrow_of(df).to_pylist()]


def _instants(rows) -> list[tuple]:
    """Rows with every time stamp in UTC (DuckDB gives the session's zone, Arrow the Spark session's)."""
    from datetime import datetime, timezone

    return [tuple(v.astimezone(timezone.utc) if isinstance(v, datetime) and v.tzinfo else v for v in r) for r in rows]


def test_report_queries_give_identical_kpis_on_duckdb_and_spark(spark, dataset, tmp_path):
    """Each report/*.sql query over the same inputs: identical rows (counts and money exact, ranks, time stamps)."""
    from siyu_cli.dimensions import prepare as prepare_dimensions
    from siyu_cli.engine import register_source
    from siyu_cli.report import kpis as K
    from siyu_cli.store import open_store

    settings, as_of, lake = dataset
    dfrom, dto = _report_period(as_of)
    register_source(spark, "orders", str(lake / "orders"), "parquet", settings.root)
    register_source(spark, "members", str(lake / "members"), "parquet", settings.root)
    with open_store(settings, read_only=True) as con:
        prepare_dimensions(con, settings)
        K.prepare(con)
        _dimension_maps(con)
        _push_and_traffic(con, dto)
        _sync_and_clv(con, dto)
        K.period_orders(con, dfrom, dto)
        K.period_contacts(con, dfrom, dto)
        # the (member, month) pairs the report makes only for periods longer than the month bits (the
        # month_bits=False cases of report/trend and report/cohorts' fallback read them)
        sql.create_duckdb_table(con, "rpt_buyer_months", "report/buyer_months", {})
        # the history as Spark lands it (DuckDB aggregates it inside report/member_last)
        sql.create_duckdb_table(con, "rpt_history", "report/history", {"start": _day_start(dfrom)})
        for table, cols in _REPORT_TABLES.items():
            path = tmp_path / f"{table}.parquet"  # through Parquet: an empty table keeps its schema
            con.execute(f"COPY (SELECT {cols} FROM {table}) TO '{path}' (FORMAT parquet)")
            spark.read.parquet(str(path)).createOrReplaceTempView(table)
        for table, name, chosen in (("rpt_pareto", "report/pareto_buckets", {}),
                                    ("rpt_campaign_groups", "report/campaign_groups", {}),
                                    ("rpt_campaign_segments", "report/campaign_segments", {})):
            sql.create_duckdb_table(con, table, name, {"f": dfrom, "t": dto}, **chosen)
            sql.run_spark(spark, name, {"f": dfrom, "t": dto}, **chosen).createOrReplaceTempView(table)
        bounds = K.campaign_bounds(con, {"f": dfrom, "t": dto})
        # CDNOW has orders only: no member joins (cohorts), WeCom contacts, stores or guides (leaderboards)
        sparse = not con.execute("SELECT count(*) FROM members WHERE join_at IS NOT NULL").fetchone()[0]
        may_be_empty = {"report/cohorts", "report/contacts", "report/leaderboard"} if sparse else set()
        seen, got = [], {}
        for name, chosen, params in _report_cases(dfrom, dto, bounds):
            if name == "report/period_fill":  # each engine completes its own copy of the period
                sql.create_duckdb_table(con, "rpt_period", "report/period", {"f": dfrom, "t": dto})
                sql.run_spark(spark, "report/period", {"f": dfrom, "t": dto}).createOrReplaceTempView("rpt_period")
            duck = _norm(_instants(sql.run_duckdb(con, name, params, **chosen).fetchall()))
            spk = _norm(_instants(_spark_rows(sql.run_spark(spark, name, params, **chosen))))
            assert duck or name in may_be_empty, f"{name} {chosen} returned no rows: proves nothing"
            assert duck == spk, f"{name} {chosen}: first difference " + repr(
                next(((a, b) for a, b in zip(duck, spk) if a != b), (len(duck), len(spk))))
            seen.append(name)
            got.setdefault(name, duck)
        base = dict(zip(("members", "new_members", "buyers", "repeaters"), sql.run_duckdb(
            con, "report/base", {"f": dfrom, "t": dto}).fetchone()))
    assert base["buyers"] > 100 and base["repeaters"] > 0, base  # real KPI values were compared, not zeros
    assert set(seen) == {n for n in sql.names() if n.startswith("report/")}
    # the campaign rows compared carry real responses: reached and control members who bought after
    by_id = {r[0]: r for r in got["report/campaigns"]}
    assert set(by_id) == {"c1", "c2"}, by_id  # the staff message and last year's campaign are not the period's
    assert by_id["c1"][11] > 0 and by_id["c1"][12] > 0 and by_id["c1"][13] > 0 and by_id["c2"][11] > 0
    assert got["report/add_rates"] and len(got["report/segment_mix"]) == 4
    if not sparse:  # the dimension maps were used: a canonical store with its name, an online shop is no store
        assert any(r[1] == "S1" and r[2] == "Store one" for r in got["report/leaderboard"])
        assert "WEB" not in {r[0] for r in got["report/breakdown"]}


def _comparable(report) -> dict:
    out = report.to_dict()
    out.pop("generated_at")
    return out


def test_report_on_spark_equals_duckdb(spark, dataset, monkeypatch, tmp_path):
    """`siyu report` with [engine] kind = "spark" over a store whose orders live only in the lake: the same KPIs,
    sections and notes (JSON) as on DuckDB over the store that holds them."""
    import shutil

    from siyu_cli.config import load_settings
    from siyu_cli.engine import SparkRunner
    from siyu_cli.report import build_report
    from siyu_cli.store import open_store

    ran = []
    real = SparkRunner.table
    monkeypatch.setattr(SparkRunner, "table", lambda self, con, table, name, *a, **k: (
        ran.append(name), real(self, con, table, name, *a, **k))[1])
    settings, as_of, lake = dataset
    dfrom, dto = _report_period(as_of)
    duck = build_report(settings, date_from=dfrom, date_to=dto, by="store")
    lake_only = load_settings(shutil.copytree(settings.root, tmp_path / "ws"), env={})
    with open_store(lake_only) as con:
        con.execute("DELETE FROM orders")  # the orders are in the lake only
    _engine_toml(lake_only, lake)
    on_spark = build_report(load_settings(lake_only.root, env={}), date_from=dfrom, date_to=dto, by="store")
    assert duck.kpis["buyers"] > 100 and duck.kpis["returning_buyers"] > 0  # the history scan mattered
    # what docs/scale.md says `siyu report` sends to Spark: the orders it reads, and the history scan
    assert ran == ["report/orders_window", "report/history"]
    assert _comparable(on_spark) == _comparable(duck)
    assert build_report(lake_only, date_from=dfrom, date_to=dto).kpis["orders"] == 0  # on DuckDB: no orders


# ---------------------------------------------------------------- audiences (audience/*.sql, sql: over the lake)

#: Order lines for every order (neither dataset has any), shadowing the store's empty table: one to three lines
#: an order, SKUs, categories and product names (mixed case, one NULL) cycling, amounts that need not add up, a
#: refund on some lines. Built once in DuckDB and handed to Spark as Parquet, so both engines read the same rows.
SYNTH_LINES = """CREATE OR REPLACE TEMP TABLE order_lines AS
    WITH o AS (SELECT source, order_id, net_amount, row_number() OVER (ORDER BY source, order_id) AS rn FROM orders)
    SELECT source, order_id, CAST(k AS VARCHAR) AS line_no, 'SKU' || CAST((rn + k) % 5 AS VARCHAR) AS sku,
           ['Oolong 乌龙 250g', 'oolong tea', '铁观音', 'Coffee beans', NULL][CAST((rn + k) % 5 AS INTEGER) + 1] AS product_name,
           ['茶叶', '茶叶', '茶叶', '咖啡', NULL][CAST((rn + 2 * k) % 5 AS INTEGER) + 1] AS category,
           CAST(1 + k AS DECIMAL(18,3)) AS quantity, CAST(NULL AS DECIMAL(18,2)) AS unit_price,
           CAST(net_amount / (1 + rn % 3) AS DECIMAL(18,2)) AS amount,
           CAST(CASE WHEN (rn + k) % 7 = 0 THEN 1 ELSE 0 END AS DECIMAL(18,2)) AS refund_amount,
           CAST(NULL AS VARCHAR) AS batch_id
    FROM o, range(3) r(k) WHERE k < 1 + rn % 3"""

#: bought: specs whose choices cover every @if branch of audience/bought (both ways)
BOUGHT_SPECS = ("any", "within=180d,times>=2,spend>=100", "category=茶叶,within=180d,times>=2,spend>=50.5",
                "sku=SKU1", "product=铁观音", "product~OOLONG,spend>=20")


def _bought_cases(as_of: date):
    """(query, choices, params) of each bought: spec as the audience parses it, today being ``as_of``."""
    from siyu_cli.push.purchases import QUERY, parse_bought

    return [(QUERY, p.choices(), p.params(TZ, as_of)) for p in map(parse_bought, BOUGHT_SPECS)]


def _lines_to_spark(spark, con, folder) -> None:
    con.execute(SYNTH_LINES)
    folder.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY (SELECT * FROM order_lines) TO '{folder / 'data_0.parquet'}' (FORMAT parquet)")
    spark.read.parquet(str(folder)).createOrReplaceTempView("order_lines")


def test_bought_audiences_give_identical_members_on_duckdb_and_spark(spark, dataset, tmp_path):
    """audience/bought on both engines (the equivalence), then `bought:` end to end with [engine] kind = "spark":
    the orders and order lines read from the lake (no store connection given), the same members as on DuckDB."""
    from siyu_cli.config import load_settings
    from siyu_cli.engine import register_source
    from siyu_cli.errors import DataError
    from siyu_cli.push.purchases import bought_ids
    from siyu_cli.store import open_store

    settings, as_of, lake = dataset
    register_source(spark, "orders", str(lake / "orders"), "parquet", settings.root)
    got = {}
    with open_store(settings, read_only=True) as con:
        _lines_to_spark(spark, con, tmp_path / "order_lines")
        for spec, (name, chosen, params) in zip(BOUGHT_SPECS, _bought_cases(as_of)):
            duck = sorted(r[0] for r in sql.run_duckdb(con, name, params, **chosen).fetchall())
            spk = sorted(r[0] for r in sql.run_spark(spark, name, params, **chosen).collect())
            assert duck, f"bought:{spec} selected nobody: the comparison would prove nothing"
            assert duck == spk, f"bought:{spec}: {len(duck)} members on DuckDB, {len(spk)} on Spark"
            got[spec] = duck
        everyone = {r[0] for r in con.execute(
            "SELECT DISTINCT member_id FROM orders WHERE member_id IS NOT NULL AND net_amount > 0 "
            "AND status IN ('paid', 'partially_refunded')").fetchall()}
        assert set(got["any"]) == everyone
        assert all(set(v) < everyone for k, v in got.items() if k != "any")  # every condition narrows it
        _engine_toml(settings, lake)
        text = settings.config_file.read_text(encoding="utf-8")
        settings.config_file.write_text(text + f'order_lines = "{tmp_path / "order_lines"}"\n', encoding="utf-8")
        bad = tmp_path / "bad_lines"  # a lake whose order lines lack the refunds: one line, not a traceback
        bad.mkdir()
        con.execute(f"COPY (SELECT source, order_id, category, amount FROM order_lines) TO '{bad / 'x.parquet'}' "
                    "(FORMAT parquet)")
        try:
            on_spark = load_settings(settings.root, env={})
            spec = "category=茶叶,since=" + date(as_of.year, 1, 1).isoformat() + ",times>=2"
            lake_ids = sorted(bought_ids(None, on_spark, spec))  # None: it must not read the store
            settings.config_file.write_text(settings.config_file.read_text(encoding="utf-8").replace(
                str(tmp_path / "order_lines"), str(bad)), encoding="utf-8")
            with pytest.raises(DataError, match="bought: Spark cannot run it over the lake .*refund_amount"):
                bought_ids(None, load_settings(settings.root, env={}), spec)
        finally:
            _without_engine(settings)
        assert lake_ids and lake_ids == sorted(bought_ids(con, settings, spec))


#: sql: audiences an analyst might write over the orders (DuckDB dialect)
LAKE_SQL = (
    "SELECT member_id FROM orders WHERE status = 'paid' GROUP BY ALL HAVING count(*) >= 3",
    "WITH big AS (SELECT member_id, sum(net_amount) AS s FROM orders GROUP BY member_id) "
    "SELECT member_id FROM big WHERE s >= 100",
    "SELECT o.member_id FROM orders o JOIN members m USING (member_id) "
    "WHERE o.paid_at >= TIMESTAMPTZ '1997-03-01 00:00:00+08' AND o.net_amount BETWEEN 10 AND 50",
)


def test_sql_audiences_over_the_lake_run_on_spark_with_the_same_members(spark, dataset, monkeypatch):
    from siyu_cli.config import load_settings
    from siyu_cli.engine import SparkRunner
    from siyu_cli.errors import UsageError
    from siyu_cli.push import audiences

    settings, as_of, lake = dataset
    duck = {q: audiences.resolve(None, settings, "sql:" + q, "customer").params[0]
            for q in (*LAKE_SQL, "SELECT member_id FROM member_tags")}
    _engine_toml(settings, lake)
    started = []
    monkeypatch.setattr(SparkRunner, "__init__", lambda self, *a, real=SparkRunner.__init__: (
        started.append(1), real(self, *a))[1])
    try:
        on_spark = load_settings(settings.root, env={})
        for q in LAKE_SQL:
            got = audiences.resolve(None, on_spark, "sql:" + q, "customer").params[0]
            assert duck[q] and sorted(got) == sorted(duck[q]), q
        assert len(started) == len(LAKE_SQL)  # each ran on Spark
        store_only = audiences.resolve(None, on_spark, "sql:SELECT member_id FROM member_tags", "customer")
        assert len(started) == len(LAKE_SQL)  # the store's tables only: on DuckDB, as without Spark
        assert store_only.params[0] == duck["SELECT member_id FROM member_tags"]
        with pytest.raises(UsageError, match="must return a member_id column"):
            audiences.resolve(None, on_spark, "sql:SELECT status FROM orders", "customer")
        with pytest.raises(UsageError, match="Spark cannot run it: .*nope"):
            audiences.resolve(None, on_spark, "sql:SELECT member_id FROM orders WHERE nope > 1", "customer")
        monkeypatch.setattr(audiences, "SPARK_ID_CAP", 3)
        with pytest.raises(UsageError, match="returns more than 3 ids"):
            audiences.resolve(None, on_spark, "sql:" + LAKE_SQL[1], "customer")
    finally:
        _without_engine(settings)


#: run in its own process: a Spark task inside one generated loop ignores the cancel, and its JVM (with the job
#: still burning both cores) must end with the process, as it does for `siyu` itself
_BUDGET_SCRIPT = """
import sys, time
import siyu_cli.analyst
from siyu_cli.config import load_settings
from siyu_cli.engine import SparkRunner, engine_config
from siyu_cli.errors import UsageError
from siyu_cli.push import audiences

siyu_cli.analyst.DEFAULT_TIMEOUT = 3
settings = load_settings(sys.argv[1], env={})
SparkRunner(settings, engine_config(settings)).spark.sql("SELECT 1").collect()  # the session, outside the budget
began = time.monotonic()
try:
    # a non-equi join of four copies of the orders: no hash join shortcut, minutes of work at least
    audiences.resolve(None, settings, "sql:SELECT a.member_id FROM orders a, orders b, orders c, orders d "
                      "WHERE a.net_amount + b.net_amount + c.net_amount < d.net_amount - 1e9", "customer")
except UsageError as exc:
    print(exc)
    print("elapsed", time.monotonic() - began)
    sys.exit(7)
"""


@pytest.mark.parametrize("dataset", ["cdnow"], indirect=True)
def test_the_time_budget_stops_a_spark_audience_even_when_its_tasks_ignore_the_cancel(dataset):
    import subprocess
    import sys

    from siyu_cli.engine import CANCEL_GRACE

    settings, _as_of, lake = dataset
    _engine_toml(settings, lake)
    try:
        proc = subprocess.run([sys.executable, "-c", _BUDGET_SCRIPT, str(settings.root)], capture_output=True,
                              text=True, timeout=600, env=dict(os.environ))
    finally:
        _without_engine(settings)
    assert proc.returncode == 7, proc.stderr[-3000:]
    assert "the query was stopped after 3 s" in proc.stdout
    elapsed = float(proc.stdout.split("elapsed")[-1])
    assert 3 <= elapsed < 3 + CANCEL_GRACE + 20, elapsed  # the budget, the grace, slack for a loaded box
