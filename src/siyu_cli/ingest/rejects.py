"""Reading back the rejects table (``siyu rejects``)."""

from __future__ import annotations

REJECT_COLUMNS = ["batch_id", "file", "line", "column", "reason", "message", "raw"]


def list_rejects(settings, *, batch: str | None = None, file: str | None = None, all_batches: bool = False,
                 limit: int | None = None) -> tuple[list[str], list[tuple]]:
    """Rejected rows, in file/line order.

    By default only the latest load of each file counts (re-loading a fixed file
    hides its old rejects); ``all_batches`` shows history, ``batch`` one batch.
    """
    from siyu_cli.store import open_store

    where, params = [], []
    if batch:
        where.append("r.batch_id = ?")
        params.append(batch)
    elif not all_batches:
        where.append("""r.batch_id IN (SELECT batch_id FROM load_log WHERE status <> 'skipped'
                        QUALIFY row_number() OVER (PARTITION BY kind, file ORDER BY started_at DESC) = 1)""")
    if file:
        where.append("r.file LIKE ?")
        params.append(f"%{file}%")
    sql = (
        'SELECT r.batch_id, r.file, r.line, r."column", r.reason, r.message, r.raw FROM rejects r '
        + (f"WHERE {' AND '.join(where)} " if where else "")
        + "ORDER BY r.created_at, r.file, r.line, r.\"column\""
        + (f" LIMIT {int(limit)}" if limit else "")
    )
    with open_store(settings, read_only=True) as con:
        rows = con.execute(sql, params).fetchall()
    return REJECT_COLUMNS, rows
