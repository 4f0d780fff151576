"""Snapshot retention: delete old segment snapshots (``siyu segment prune`` and ``[segment] keep_snapshots``).

A full snapshot of 2M members is ~36 MB in the store (a chained nightly one well under 1 MB:
siyu_cli.segment.chains) and a nightly run makes one a day, so without retention the file only grows.
A deleted snapshot's rows that later snapshots of its chain still rebuild from move on first (``fold_forward``). Rules (docs/segment.md, "Retention"):

* never deleted: the newest snapshot of each scheme, and any snapshot a push campaign
  references (``push_campaigns.snapshot_id``: the report's campaign control group reads it);
* ``keep_last N``: the newest N snapshots of each scheme are kept ("newest" = latest as_of,
  ties by the higher id: ``segment.snapshots.latest_snapshot``, as audiences, the report and
  ``segment diff`` use; a backfilled snapshot is old however recently it was saved);
* ``older_than`` (``90d`` / ``12w`` / ``6m`` / ``1y``): snapshots whose **as_of** date is on or
  after today − duration (workspace timezone) are kept;
* both rules given: a snapshot is deleted only if both rules would delete it;
* ``keep_monthly``: of the snapshots that would be deleted, the last one (by as_of) of each
  scheme's calendar month survives, so long history thins to one snapshot a month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from siyu_cli.errors import UsageError
from siyu_cli.i18n import _

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

    from siyu_cli.config import Settings

#: Reasons a snapshot is kept (stable ids, shown in the table and the JSON).
NEWEST = "newest of its scheme"
CAMPAIGN = "used by campaign"
KEEP_LAST = "within keep-last"
RECENT = "within older-than"
MONTHLY = "last of its month"


@dataclass
class PruneResult:
    """What was deleted (or, in a dry run, would be), and why the rest was kept."""

    dry_run: bool
    keep_last: int | None
    older_than: str | None
    cutoff: date | None  # snapshots with as_of before this date are "old"
    scheme: str | None
    keep_monthly: bool
    snapshots: list[dict[str, Any]] = field(default_factory=list)  # every snapshot in scope, oldest first
    deleted: list[int] = field(default_factory=list)
    member_rows: int = 0

    @property
    def kept(self) -> list[int]:
        return [s["snapshot_id"] for s in self.snapshots if s["action"] == "kept"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "rules": {"keep_last": self.keep_last, "older_than": self.older_than,
                      "cutoff": self.cutoff.isoformat() if self.cutoff else None,
                      "scheme": self.scheme, "keep_monthly": self.keep_monthly},
            "deleted": self.deleted,
            "kept": self.kept,
            "member_rows": self.member_rows,
            "snapshots": self.snapshots,
        }


def parse_age(text: str) -> tuple[int, str]:
    """``90d`` / ``12w`` / ``6m`` / ``1y`` → (90, 'd'); anything else (incl. ``all``) is a UsageError."""
    from siyu_cli.segment.measures import parse_window

    try:
        norm = parse_window(text) if str(text).strip().lower() not in ("", "all") else None
    except UsageError:
        norm = None
    if norm is None:
        raise UsageError(_('--older-than must look like 90d, 12w, 6m or 1y, not {text!r}').format(text=text))
    return int(norm[:-1]), norm[-1]


def _snapshots_in_scope(con: "duckdb.DuckDBPyConnection", scheme: str | None) -> list[dict[str, Any]]:
    """Snapshot metadata rows (oldest id first), of one scheme if named; an unknown scheme is a usage error."""
    from siyu_cli.segment.snapshots import SNAPSHOT_COLUMNS

    where, args = ("WHERE scheme = ?", [scheme]) if scheme else ("", [])
    rows = con.execute(
        f"SELECT {', '.join(SNAPSHOT_COLUMNS)} FROM segment_snapshots {where} ORDER BY snapshot_id", args
    ).fetchall()
    if scheme and not rows:
        known = [r[0] for r in con.execute("SELECT DISTINCT scheme FROM segment_snapshots ORDER BY 1").fetchall()]
        raise UsageError(_('no snapshots of scheme {scheme!r} (stored: {value})').format(scheme=scheme, value=', '.join(known) or 'none'))
    return [dict(zip(SNAPSHOT_COLUMNS, r)) for r in rows]


def _campaign_snapshots(con: "duckdb.DuckDBPyConnection") -> dict[int, list[str]]:
    """snapshot_id → the push campaigns that reference it (their control group reads it, so it stays)."""
    campaigns: dict[int, list[str]] = {}
    if con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'push_campaigns'").fetchone()[0]:
        for sid, cid in con.execute(
            "SELECT snapshot_id, campaign_id FROM push_campaigns WHERE snapshot_id IS NOT NULL ORDER BY campaign_id"
        ).fetchall():
            campaigns.setdefault(int(sid), []).append(cid)
    return campaigns


def _rank_in_scheme(snaps: list[dict[str, Any]]) -> dict[int, int]:
    """snapshot_id → 1 for the latest of its scheme (latest as_of, then highest id), 2 for the next, …"""
    rank: dict[int, int] = {}
    seen: dict[str, int] = {}
    for s in sorted(snaps, key=lambda s: (s["as_of"] is not None, s["as_of"] or date.min, s["snapshot_id"]),
                    reverse=True):
        seen[s["scheme"]] = seen.get(s["scheme"], 0) + 1
        rank[s["snapshot_id"]] = seen[s["scheme"]]
    return rank


def _day(s: dict[str, Any]) -> date | None:
    """The date a snapshot counts as: its as_of, else the day it was created."""
    if s["as_of"] is not None:
        return s["as_of"]
    return s["created_at"].date() if s["created_at"] is not None else None


def _keep_last_of_month(snaps: list[dict[str, Any]]) -> None:
    """keep_monthly: the last snapshot of each (scheme, month) among those about to go gets a reason to stay."""
    last_of_month: dict[tuple[str, int, int], dict[str, Any]] = {}
    for s in snaps:
        d = _day(s)
        if d is None:
            continue
        key = (s["scheme"], d.year, d.month)
        cur = last_of_month.get(key)
        if cur is None or (d, s["snapshot_id"]) > (_day(cur), cur["snapshot_id"]):
            last_of_month[key] = s
    for (_key, y, m), s in last_of_month.items():
        if not s["reasons"]:
            s["reasons"].append(f"{MONTHLY} {y:04d}-{m:02d}")


def plan_prune(
    con: "duckdb.DuckDBPyConnection",
    *,
    keep_last: int | None = None,
    older_than: str | None = None,
    scheme: str | None = None,
    keep_monthly: bool = False,
    today: date,
) -> PruneResult:
    """Decide, per snapshot in scope, deleted or kept (with the reasons). Reads only snapshot metadata."""
    from siyu_cli.segment.measures import _minus
    from siyu_cli.segment.snapshots import latest_snapshot

    if keep_last is None and older_than is None:
        raise UsageError(_('say what to keep: --keep-last N and/or --older-than 90d'))
    if keep_last is not None and (isinstance(keep_last, bool) or int(keep_last) < 1):
        raise UsageError(_('--keep-last must be 1 or more (the newest snapshot is always kept), not {keep_last!r}').format(keep_last=keep_last))
    cutoff = None
    if older_than is not None:
        n, unit = parse_age(older_than)
        older_than = f"{n}{unit}"
        cutoff = _minus(today, n, unit)
    snaps = _snapshots_in_scope(con, scheme)
    campaigns = _campaign_snapshots(con)
    rank = _rank_in_scheme(snaps)
    newest = {latest_snapshot(con, name)["snapshot_id"] for name in {s["scheme"] for s in snaps}}  # never deleted
    for s in snaps:
        sid = s["snapshot_id"]
        reasons = []
        if sid in newest:
            reasons.append(NEWEST)
        if sid in campaigns:
            reasons.append(f"{CAMPAIGN} {', '.join(campaigns[sid])}")
        by_count = keep_last is not None and rank[sid] <= int(keep_last)
        by_age = cutoff is not None and (_day(s) is None or _day(s) >= cutoff)
        if by_count and sid not in newest:
            reasons.append(f"{KEEP_LAST} {int(keep_last)}")
        if by_age:
            reasons.append(f"{RECENT} {older_than}")
        s["reasons"] = reasons
    if keep_monthly:
        _keep_last_of_month(snaps)

    result = PruneResult(dry_run=False, keep_last=None if keep_last is None else int(keep_last),
                         older_than=older_than, cutoff=cutoff, scheme=scheme, keep_monthly=keep_monthly)
    why_delete = "; ".join(
        ([f"not among the newest {int(keep_last)}"] if keep_last is not None else [])
        + ([f"as of before {cutoff.isoformat()}"] if cutoff is not None else [])
    )
    for s in snaps:
        delete = not s["reasons"]
        s["action"] = "delete" if delete else "kept"
        s["reason"] = why_delete if delete else "; ".join(s["reasons"])
        del s["reasons"]
        s["members"] = int(s["members"] or 0)
        if delete:
            result.deleted.append(s["snapshot_id"])
            result.member_rows += s["members"]
        result.snapshots.append(s)
    return result


def prune_with(
    con: "duckdb.DuckDBPyConnection",
    *,
    today: date,
    keep_last: int | None = None,
    older_than: str | None = None,
    scheme: str | None = None,
    keep_monthly: bool = False,
    dry_run: bool = False,
    checkpoint: bool = True,
) -> PruneResult:
    """:func:`plan_prune` then delete, in one transaction, on an open read-write connection."""
    con.execute("BEGIN TRANSACTION")
    try:
        result = plan_prune(con, keep_last=keep_last, older_than=older_than, scheme=scheme,
                            keep_monthly=keep_monthly, today=today)
        result.dry_run = dry_run
        if dry_run or not result.deleted:
            con.execute("ROLLBACK")
        else:
            ids = ", ".join(str(int(i)) for i in result.deleted)
            from siyu_cli.segment.chains import fold_forward

            result.member_rows = int(
                con.execute(f"SELECT count(*) FROM segment_members WHERE snapshot_id IN ({ids})").fetchone()[0]
            )
            fold_forward(con, result.deleted)  # what later snapshots of a chain still rebuild from moves on
            con.execute(f"DELETE FROM segment_member_rows WHERE snapshot_id IN ({ids})")
            con.execute(f"DELETE FROM segment_snapshots WHERE snapshot_id IN ({ids})")
            con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except Exception:  # pragma: no cover - already rolled back
            pass
        raise
    for s in result.snapshots:
        if s["action"] == "delete":
            s["action"] = "would delete" if dry_run else "deleted"
    if result.deleted and not dry_run and checkpoint:
        con.execute("CHECKPOINT")  # freed blocks become reusable by later snapshots (the file does not shrink)
    return result


def prune_snapshots(
    settings: "Settings",
    *,
    keep_last: int | None = None,
    older_than: str | None = None,
    scheme: str | None = None,
    keep_monthly: bool = False,
    dry_run: bool = False,
    today: date | None = None,
) -> PruneResult:
    """Delete segment snapshots outside the retention (see the module docstring); ``today``: workspace today."""
    from siyu_cli.segment.measures import parse_as_of
    from siyu_cli.store import open_store

    today = today or parse_as_of(None, settings.timezone)
    if keep_last is None and older_than is None:
        raise UsageError(_('say what to keep: --keep-last N and/or --older-than 90d'))
    with open_store(settings, read_only=dry_run) as con:
        if dry_run:
            result = plan_prune(con, keep_last=keep_last, older_than=older_than, scheme=scheme,
                                keep_monthly=keep_monthly, today=today)
            result.dry_run = True
            for s in result.snapshots:
                if s["action"] == "delete":
                    s["action"] = "would delete"
            return result
        return prune_with(con, today=today, keep_last=keep_last, older_than=older_than, scheme=scheme,
                          keep_monthly=keep_monthly)
