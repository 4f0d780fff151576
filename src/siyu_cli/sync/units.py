"""Units of customers for the sync's merge: an open DuckDB transaction holds its new rows, undo and index entries
in memory (they do not spill), so the merge phases that write per customer commit in units of about a chunk of
customers, each unit one transaction recorded in ``wecom_sync_runs.progress``.

A unit is a hash bucket of external_userid (``"0"``, ``"1"``, …; ``"all"`` when one unit holds everyone): every
relation, customer and stored row of one customer falls in the same bucket, so per-bucket counts add up to the
counts of one pass and a row missing from the staging is deleted by the unit of its bucket.
"""

from __future__ import annotations

#: ``[sync] merge_chunk``: about this many customers per transaction of the merge's contacts and customers phases
DEFAULT_MERGE_CHUNK = 25_000


def chunk_size(settings, key: str, default: int) -> int:
    """``[sync] <key>`` (customers per transaction), validated."""
    from siyu_cli.errors import ConfigError
    from siyu_cli.i18n import _

    n = settings.section("sync").get(key, default)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(_("{file}: sync.{key} must be a whole number of customers ≥ 1, not {value}").format(
            file=settings.config_file, key=key, value=repr(n)))
    return n


def buckets(customers: int, size: int) -> list[str]:
    """``["all"]`` when ``customers`` fit in one unit of ``size``, else one unit name per hash bucket."""
    k = -(-customers // size)
    return ["all"] if k <= 1 else list(map(str, range(k)))


def in_bucket(col: str, unit: str, count: int) -> str:
    """SQL condition: ``col`` (an external_userid) falls in hash bucket ``unit`` of ``count`` (``"all"``: TRUE)."""
    if unit == "all":
        return "TRUE"
    return f"CAST('0x' || left(md5({col}), 8) AS UBIGINT) % {int(count)} = {int(unit)}"


def add_counts(parts) -> dict[str, int]:
    """The counts of several units, summed."""
    out: dict[str, int] = {}
    for p in parts:
        for k, v in p.items():
            out[k] = out.get(k, 0) + v
    return out
