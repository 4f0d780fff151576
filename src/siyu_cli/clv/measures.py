"""The per-buyer summary BG/NBD and Gamma-Gamma are fitted on (query clv/summary; orders never come into Python).

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


def build_summary(con: "duckdb.DuckDBPyConnection", as_of: date, timezone: str, table: str = "clv_summary",
                  runner=None) -> int:
    """Create TEMP TABLE ``table`` from query clv/summary (idx, member_id, frequency, recency_days, t_days, avg_repeat_spend DOUBLE).

    ``idx`` is a dense 0-based row number, the key the model's arrays are joined back on. Returns the rows.
    """
    from siyu_cli import sql

    bound = M.query_params(M.MeasureParams(as_of=as_of, timezone=timezone))
    if runner is not None:  # [engine] kind = "spark": the scan runs there, the rows land here
        return runner.table(con, table, "clv/summary", bound)
    M.prepare_functions(con, timezone)
    return sql.create_duckdb_table(con, table, "clv/summary", bound)
