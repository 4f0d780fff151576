"""The per-buyer summary BG/NBD and Gamma-Gamma are fitted on, computed in DuckDB (orders never come into Python).

The purchase definition is the RFM one (:mod:`siyu_cli.segment.measures`): an order with a member, a
payment time up to the as-of day (inclusive, workspace timezone), a status other than cancelled/unpaid
and a positive net amount. The models count *purchase days*, as Fader, Hardie & Lee (2005) do on CDNOW:
several orders on one local day are one transaction whose value is their summed net amount.

* ``frequency``    repeat purchase days = distinct purchase days − 1
* ``recency_days`` last purchase day − first purchase day (0 for one-time buyers)
* ``t_days``       as-of day − first purchase day (the customer's observed "age")
* ``avg_repeat_spend`` mean net spend of the repeat purchase days (the first day excluded, as the
  Gamma-Gamma note does); NULL for one-time buyers.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from siyu_cli.segment import measures as M

if TYPE_CHECKING:  # pragma: no cover
    import duckdb


def build_summary(con: "duckdb.DuckDBPyConnection", as_of: date, timezone: str, table: str = "clv_summary") -> int:
    """Create TEMP TABLE ``table`` (idx, member_id, frequency, recency_days, t_days, avg_repeat_spend DOUBLE).

    ``idx`` is a dense 0-based row number, the key the model's arrays are joined back on. Returns the rows.
    """
    params = M.MeasureParams(as_of=as_of, timezone=timezone)
    _start, end = M.bounds(params)
    local_date = M.local_date_sql(con, M._tz_literal(timezone))
    created = con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        WITH days AS (
            SELECT member_id, {local_date('paid_at')} AS d, sum({M._NET}) AS spend
            FROM orders
            WHERE member_id IS NOT NULL AND status NOT IN ('cancelled', 'unpaid')
              AND paid_at < {end} AND {M._NET} > 0
            GROUP BY ALL
        ),
        per AS (
            SELECT member_id, min(d) AS first_d, max(d) AS last_d, count(*) - 1 AS frequency,
                   sum(spend) - arg_min(spend, d) AS repeat_spend
            FROM days GROUP BY member_id
        )
        SELECT CAST(row_number() OVER (ORDER BY member_id) - 1 AS BIGINT) AS idx, member_id,
               CAST(frequency AS INTEGER) AS frequency,
               CAST(last_d - first_d AS INTEGER) AS recency_days,
               CAST(DATE '{as_of.isoformat()}' - first_d AS INTEGER) AS t_days,
               CASE WHEN frequency > 0 THEN CAST(repeat_spend AS DOUBLE) / frequency END AS avg_repeat_spend
        FROM per
        """
    )
    return int(created.fetchone()[0])
