"""Stored snapshots: list, summary, Pareto, diff (migration matrix), history, explain, export (who is in a
segment: segment/audience.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siyu_cli.errors import UsageError
from siyu_cli.segment import schemes as S
from siyu_cli.i18n import _

if TYPE_CHECKING:  # pragma: no cover
    from datetime import date

    import duckdb

ABSENT = "(absent)"


# ---------------------------------------------------------------- lookups

#: The one order of "latest": the latest as_of first, ties on as_of broken by the higher id
#: (a later run of the same day wins). A backfill (``--as-of`` an earlier date, saved after a
#: later one) therefore never becomes "the latest".
LATEST_ORDER = "as_of DESC NULLS LAST, snapshot_id DESC"

SNAPSHOT_COLUMNS = ("snapshot_id", "created_at", "as_of", "scheme", "members", "label")


def latest_snapshot(
    con: "duckdb.DuckDBPyConnection", scheme: str | None = None, *, as_of=None, before_as_of=None
) -> dict[str, Any] | None:
    """The latest snapshot (of ``scheme``; with ``as_of`` on or before that date; with ``before_as_of``
    strictly before it) as a row dict, or None. Every reader of "the latest snapshot" calls this:
    audiences (``segment:E``), the report's comparison, ``segment diff``/``show``, prune, SOP entries.
    """
    where, args = ["TRUE"], []
    if scheme is not None:
        where.append("scheme = ?")
        args.append(scheme)
    if as_of is not None:
        where.append("as_of <= ?")
        args.append(as_of)
    if before_as_of is not None:
        where.append("as_of < ?")
        args.append(before_as_of)
    row = con.execute(
        f"SELECT {', '.join(SNAPSHOT_COLUMNS)} FROM segment_snapshots WHERE {' AND '.join(where)} "
        f"ORDER BY {LATEST_ORDER} LIMIT 1",
        args,
    ).fetchone()
    return None if row is None else dict(zip(SNAPSHOT_COLUMNS, row))


def latest_of_each_scheme(con: "duckdb.DuckDBPyConnection") -> list[dict[str, Any]]:
    """:func:`latest_snapshot` of every stored scheme, the latest first."""
    schemes = [r[0] for r in con.execute("SELECT DISTINCT scheme FROM segment_snapshots").fetchall()]
    snaps = [latest_snapshot(con, s) for s in schemes]
    return sorted(snaps, key=lambda d: (d["as_of"] is not None, d["as_of"] or 0, d["snapshot_id"]), reverse=True)


def latest_snapshot_ids(con: "duckdb.DuckDBPyConnection") -> list[int]:
    """The ids of :func:`latest_of_each_scheme`, the latest first: where a segment named without a snapshot is looked for."""
    return [snap["snapshot_id"] for snap in latest_of_each_scheme(con)]


def snapshots_by_day_sql() -> str:
    """SQL (one ``?``: the scheme) listing, per as_of date, the snapshot :func:`latest_snapshot`
    picks for ``as_of=that date``: the same tie-break, for set-based readers (SOP entries)."""
    return (
        "SELECT as_of, snapshot_id FROM segment_snapshots WHERE scheme = ? AND as_of IS NOT NULL "
        "QUALIFY row_number() OVER (PARTITION BY as_of ORDER BY snapshot_id DESC) = 1"
    )


def scheme_as_of_span(con: "duckdb.DuckDBPyConnection", scheme: str) -> tuple[int, date | None]:
    """(how many distinct as_of dates, the first one) of a scheme's snapshots."""
    n, first = con.execute(
        "SELECT count(DISTINCT as_of), min(as_of) FROM segment_snapshots WHERE scheme = ?", [scheme]).fetchone()
    return n, first


def snapshot_as_of(con: "duckdb.DuckDBPyConnection", snapshot_id: int) -> date | None:
    """A snapshot's as_of date (None for an unknown snapshot or one without a date)."""
    row = con.execute("SELECT as_of FROM segment_snapshots WHERE snapshot_id = ?", [snapshot_id]).fetchone()
    return None if row is None else row[0]


def latest_snapshot_id(con: "duckdb.DuckDBPyConnection", scheme: str | None = None) -> int | None:
    """The id of :func:`latest_snapshot` (optionally of one scheme, e.g. 'rfm8'), or None."""
    snap = latest_snapshot(con, scheme)
    return None if snap is None else int(snap["snapshot_id"])


def snapshot_params(con, snapshot_id: int) -> dict[str, Any]:
    row = con.execute("SELECT params FROM segment_snapshots WHERE snapshot_id = ?", [snapshot_id]).fetchone()
    if row is None:
        raise UsageError(_('no segment snapshot {snapshot_id} (see `siyu segment list`)').format(snapshot_id=snapshot_id))
    return json.loads(row[0]) if isinstance(row[0], str) else dict(row[0] or {})


def snapshot_row(con, snapshot_id: int) -> dict[str, Any]:
    row = con.execute(
        f"SELECT {', '.join(SNAPSHOT_COLUMNS)} FROM segment_snapshots WHERE snapshot_id = ?", [snapshot_id]
    ).fetchone()
    if row is None:
        raise UsageError(_('no segment snapshot {snapshot_id} (see `siyu segment list`)').format(snapshot_id=snapshot_id))
    return dict(zip(SNAPSHOT_COLUMNS, row))


def require_latest(con, scheme: str | None = None) -> int:
    sid = latest_snapshot_id(con, scheme)
    if sid is None:
        raise UsageError(_('no segment snapshot yet: run `siyu segment run` first'))
    return sid


def match_segment(catalog: list[dict[str, Any]], text: str) -> dict[str, Any] | None:
    """A catalogue entry by id ('A'), English id ('important_value') or Chinese name (case-insensitive ids)."""
    wanted = str(text).strip()
    for seg in catalog:
        if wanted == seg["id"] or wanted == seg["name"]:
            return seg
    low = wanted.lower()
    for seg in catalog:
        if low in (seg["id"].lower(), seg.get("key", "").lower(), seg.get("name_en", "").lower()):
            return seg
    return None


def list_snapshots(con) -> list[dict[str, Any]]:
    rows = con.execute(
        """SELECT s.snapshot_id, s.created_at, s.as_of, s.scheme, s.members,
                  json_extract_string(s.params, '$.buyers') AS buyers,
                  json_extract_string(s.params, '$.window') AS window, s.label
           FROM segment_snapshots s ORDER BY s.snapshot_id"""
    ).fetchall()
    cols = ("snapshot_id", "created_at", "as_of", "scheme", "members", "buyers", "window", "label")
    out = []
    for r in rows:
        d = dict(zip(cols, r))
        d["buyers"] = int(d["buyers"]) if d["buyers"] is not None else None
        d["window"] = d["window"] or "all"
        out.append(d)
    return out


def resolve_member(con, text: str) -> str:
    """A member id from the member id itself, or any identity (phone, source id, external_userid, unionid)."""
    text = str(text).strip()
    if con.execute("SELECT 1 FROM members WHERE member_id = ?", [text]).fetchone():
        return text
    if con.execute("SELECT 1 FROM segment_members WHERE member_id = ? LIMIT 1", [text]).fetchone():
        return text
    row = con.execute("SELECT member_id FROM member_identities WHERE id_value = ? LIMIT 1", [text]).fetchone()
    if row:
        return row[0]
    row = con.execute(
        "SELECT member_id FROM members WHERE ? IN (phone, source_member_id, external_userid, unionid) ORDER BY member_id LIMIT 1",
        [text],
    ).fetchone()
    if row:
        return row[0]
    raise UsageError(_('no member {text!r} (give a member id, phone, source member id or external_userid)').format(text=text))


# ---------------------------------------------------------------- summary and Pareto

def summarize(con, snapshot_id: int, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Per segment: members, share, revenue, revenue share, mean R/F/M, action (catalogue order)."""
    params = params if params is not None else snapshot_params(con, snapshot_id)
    rows = con.execute(
        """SELECT segment_id, count(*) AS members, sum(revenue) AS revenue,
                  avg(recency_days) AS r, avg(frequency) AS f, avg(monetary) AS m
           FROM segment_members WHERE snapshot_id = ? GROUP BY segment_id""",
        [snapshot_id],
    ).fetchall()
    by_id = {r[0]: r for r in rows}
    total_members = sum(r[1] for r in rows) or 0
    total_revenue = float(sum((r[2] or 0) for r in rows) or 0)
    out = []
    for seg in params.get("segments", []):
        r = by_id.get(seg["id"], (seg["id"], 0, 0, None, None, None))
        revenue = float(r[2] or 0)
        out.append(
            {
                "segment_id": seg["id"],
                "key": seg.get("key", seg["id"]),
                "name": seg["name"],
                "name_en": seg.get("name_en", ""),
                "members": int(r[1]),
                "share": round(r[1] / total_members, 4) if total_members else 0.0,
                "revenue": round(revenue, 2),
                "revenue_share": round(revenue / total_revenue, 4) if total_revenue else 0.0,
                "mean_recency_days": None if r[3] is None else round(float(r[3]), 1),
                "mean_frequency": None if r[4] is None else round(float(r[4]), 2),
                "mean_monetary": None if r[5] is None else round(float(r[5]), 2),
                "action": seg.get("action", ""),
                "action_en": seg.get("action_en", ""),
            }
        )
    return out


def pareto(con, snapshot_id: int | None = None, *, table: str | None = None) -> dict[str, Any]:
    """Top 20% of buyers' share of revenue, and the smallest share of buyers that brings 80% of revenue.

    Reads a stored snapshot, or ``table`` (the run's measures). Ties in revenue
    do not change either number, so no tie-breaker (and no costly string sort) is needed.
    """
    source = table if table else f"segment_members WHERE snapshot_id = {int(snapshot_id)} AND"
    where = "WHERE frequency > 0" if table else "frequency > 0"
    n, total, low, high = con.execute(
        f"SELECT count(*), sum(revenue), min(revenue), max(revenue) FROM {source} {where}"
    ).fetchone()
    if not n or total is None or float(total) <= 0:
        return {"buyers": int(n or 0), "revenue": float(total or 0), "top20_revenue_share": None,
                "buyers_share_for_80": None}
    if low > 0:
        top, rn80 = _pareto_exact(con, f"{source} {where}", int(n), total, high)
    else:  # a non-positive revenue (not from `siyu segment` itself): one sort, as the definition reads
        top, rn80 = con.execute(
            f"""SELECT sum(revenue) FILTER (WHERE rn <= ceil(0.2 * CAST({int(n)} AS BIGINT))),
                      min(rn) FILTER (WHERE cum >= 0.8 * CAST('{total}' AS DECIMAL(38,2)))
               FROM (SELECT revenue,
                            row_number() OVER w AS rn,
                            sum(revenue) OVER (w ROWS UNBOUNDED PRECEDING) AS cum
                     FROM {source} {where}
                     WINDOW w AS (ORDER BY revenue DESC))"""
        ).fetchone()
    total = float(total)
    return {
        "buyers": int(n),
        "revenue": round(total, 2),
        "top20_revenue_share": round(float(top) / total, 4),
        "buyers_share_for_80": round(int(rn80) / n, 4),
    }


def _pareto_exact(con, rows: str, n: int, total, high) -> tuple[Any, int]:
    """``rows``: "<table> WHERE …" (more conditions are ANDed on). Returns (revenue of the top ⌈n/5⌉ buyers, smallest r whose top-r revenue ≥ 80% of the total), without a sort.

    Exact integer arithmetic in cents. One GROUP BY puts the revenues into ≤ 65,536
    equal-width buckets (count and sum each); walking them from the top finds the
    bucket holding the ⌈n/5⌉-th buyer and the bucket where 80% is crossed, and only
    those buckets' distinct values are read. Ties cannot change either number.
    """
    from decimal import Decimal

    cents = "CAST(revenue * 100 AS BIGINT)"
    width = max(1, -(-int(Decimal(high).scaleb(2)) // 65536))
    k = -(-n // 5)  # ceil(0.2 n)
    goal = 8 * int(Decimal(total).scaleb(2))  # cum ≥ 0.8 total ⇔ 10 cum ≥ 8 total (cents)
    buckets = con.execute(
        f"SELECT {cents} // {width} AS b, count(*), CAST(sum({cents}) AS HUGEINT) FROM {rows} GROUP BY b ORDER BY b DESC"
    ).fetchall()
    rank = cum = 0
    need: dict[int, tuple[int, int]] = {}  # bucket → (buyers above it, their revenue)
    top_at = cross_at = None
    for b, c, s in buckets:
        if top_at is None and rank + c >= k:
            top_at = b
            need[b] = (rank, cum)
        if cross_at is None and 10 * (cum + s) >= goal:
            cross_at = b
            need[b] = (rank, cum)
        if top_at is not None and cross_at is not None:
            break
        rank, cum = rank + c, cum + s
    detail = con.execute(
        f"SELECT {cents} // {width} AS b, {cents} AS v, count(*) FROM {rows} "
        f"AND {cents} // {width} IN ({', '.join(str(int(b)) for b in need)}) GROUP BY ALL ORDER BY b, v DESC"
    ).fetchall()
    top = rn80 = None
    for b in need:
        rank, cum = need[b]
        for _bucket, v, c in (row for row in detail if row[0] == b):
            if b == top_at and top is None and rank + c >= k:
                top = cum + (k - rank) * v
            if b == cross_at and rn80 is None and 10 * (cum + c * v) >= goal:
                rn80 = rank + -(-(goal - 10 * cum) // (10 * v))
            rank, cum = rank + c, cum + c * v
    return Decimal(top).scaleb(-2), rn80


def pareto_line(p: dict[str, Any]) -> str:
    if p.get("top20_revenue_share") is None:
        return _("Pareto: no buyers with revenue in this snapshot")
    return _("Pareto: the top 20% of buyers bring {top20:.1%} of revenue; {share80:.1%} of buyers bring 80% "
             "({buyers} buyers)").format(top20=p["top20_revenue_share"], share80=p["buyers_share_for_80"], buyers=p["buyers"])


# ---------------------------------------------------------------- export

_MASKED = """CASE
    WHEN m.phone IS NULL THEN m.phone_masked
    WHEN regexp_full_match(m.phone, '(\\+?86)?1[0-9]{10}') THEN left(right(m.phone, 11), 3) || '****' || right(m.phone, 4)
    WHEN contains(m.phone, '*') THEN m.phone
    WHEN length(m.phone) > 4 THEN left(m.phone, 3) || '****'
    ELSE '****' END"""

MEMBER_COLUMNS = (
    "member_id", "source_member_id", "external_userid", "phone", "store", "guide_userid", "guide_name",
    "recency_days", "frequency", "monetary", "revenue", "last_purchase", "r_score", "f_score", "m_score",
    "segment_id", "segment_name",
    # from the newest `siyu clv` fit (empty when there is none, or the member never bought)
    "p_alive", "purchases_90d", "expected_spend", "clv",
)


def member_rows_sql(snapshot_id: int, *, unmask: bool = False, segment_ids: list[str] | None = None) -> str:
    from siyu_cli.privacy import mask_sql

    phone = "coalesce(m.phone, m.phone_masked)" if unmask else _MASKED
    # ids as exported by a back-office may be a phone or an email: masked like any other output
    ident = {c: c if unmask else mask_sql(c) for c in ("s.member_id", "m.source_member_id")}
    where = f"s.snapshot_id = {int(snapshot_id)}"
    if segment_ids:
        where += " AND s.segment_id IN (" + ", ".join(S._lit(i) for i in segment_ids) + ")"
    return f"""
        SELECT {ident["s.member_id"]} AS member_id, {ident["m.source_member_id"]} AS source_member_id,
               m.external_userid, {phone} AS phone, m.store, m.guide_userid,
               m.guide_name, s.recency_days, s.frequency, s.monetary, s.revenue, s.last_purchase,
               s.r_score, s.f_score, s.m_score, s.segment_id, s.segment_name,
               c.p_alive, c.purchases_90d, c.expected_spend, c.clv
        FROM segment_members s LEFT JOIN members m USING (member_id)
        LEFT JOIN clv_members c ON c.member_id = s.member_id AND c.fit_id = (SELECT max(fit_id) FROM clv_fits)
        WHERE {where}
        ORDER BY s.segment_id, s.member_id
    """


def export_members(con, snapshot_id: int, fmt: str, path: Path, *, unmask: bool = False) -> int:
    """Write per-member rows (csv, json array or parquet); returns the row count.

    CSV goes through siyu's own writer (the same as ``--format csv`` on stdout), so names that look
    like spreadsheet formulas are neutralised; json and parquet use DuckDB's COPY.
    """
    if fmt == "csv":
        from siyu_cli.output import write_csv_rows

        cur = con.execute(member_rows_sql(snapshot_id, unmask=unmask))
        columns = [d[0] for d in cur.description]
        with open(path, "w", encoding="utf-8", newline="") as fh:
            write_csv_rows(fh, columns, iter(lambda: cur.fetchmany(4096), []))
        return int(con.execute("SELECT count(*) FROM segment_members WHERE snapshot_id = ?", [snapshot_id]).fetchone()[0])
    options = {"json": "FORMAT json, ARRAY true", "parquet": "FORMAT parquet"}[fmt]
    target = str(Path(path)).replace("'", "''")
    con.execute(f"COPY ({member_rows_sql(snapshot_id, unmask=unmask)}) TO '{target}' ({options})")
    from siyu_cli.privacy import chmod_private

    chmod_private(Path(path))
    return int(con.execute("SELECT count(*) FROM segment_members WHERE snapshot_id = ?", [snapshot_id]).fetchone()[0])


def member_rows(con, snapshot_id: int, *, unmask: bool = False) -> tuple[list[str], list[tuple]]:
    cur = con.execute(member_rows_sql(snapshot_id, unmask=unmask))
    return list(MEMBER_COLUMNS), cur.fetchall()


# ---------------------------------------------------------------- diff and history

def _pick_pair(con, old: int | None, new: int | None) -> tuple[int, int]:
    """Default NEW: the latest snapshot; default OLD: the latest of NEW's scheme with an earlier as_of."""
    if new is None:
        new = require_latest(con)
    new_row = snapshot_row(con, new)
    if old is None:
        prev = latest_snapshot(con, new_row["scheme"], before_as_of=new_row["as_of"])
        if prev is None:
            raise UsageError(
                _('snapshot {new} (as of {value}) has no earlier {value2} snapshot (by as-of date) to compare with; give OLD and NEW').format(new=new, value=new_row['as_of'], value2=new_row['scheme'])
            )
        old = int(prev["snapshot_id"])
    snapshot_row(con, old)
    return old, new


def diff(con, old: int | None = None, new: int | None = None, *, path: str | None = None) -> dict[str, Any]:
    """Migration matrix between two snapshots, and the members who moved along ``path`` ('A:E')."""
    old, new = _pick_pair(con, old, new)
    p_old, p_new = snapshot_params(con, old), snapshot_params(con, new)
    rows = con.execute(
        f"""SELECT coalesce(o.segment_id, '{ABSENT}') AS old_seg, coalesce(n.segment_id, '{ABSENT}') AS new_seg, count(*)
            FROM (SELECT member_id, segment_id FROM segment_members WHERE snapshot_id = ?) o
            FULL OUTER JOIN (SELECT member_id, segment_id FROM segment_members WHERE snapshot_id = ?) n USING (member_id)
            GROUP BY ALL""",
        [old, new],
    ).fetchall()
    order_old = [s["id"] for s in p_old.get("segments", [])]
    order_new = [s["id"] for s in p_new.get("segments", [])]
    seen_old = {r[0] for r in rows}
    seen_new = {r[1] for r in rows}
    row_ids = [s for s in order_old if s in seen_old] + sorted(seen_old - set(order_old))
    col_ids = [s for s in order_new if s in seen_new] + sorted(seen_new - set(order_new))
    counts = {(r[0], r[1]): int(r[2]) for r in rows}
    matrix = [{"from": a, **{b: counts.get((a, b), 0) for b in col_ids}} for a in row_ids]
    result: dict[str, Any] = {
        "old": snapshot_row(con, old),
        "new": snapshot_row(con, new),
        "columns": col_ids,
        "matrix": matrix,
        "names": {s["id"]: s["name"] for s in [*p_new.get("segments", []), *p_old.get("segments", [])]
                  if s["id"] != s["name"]},
        "moved": sum(v for (a, b), v in counts.items() if a != b),
        "stayed": sum(v for (a, b), v in counts.items() if a == b),
    }
    if p_old.get("scheme") != p_new.get("scheme"):
        result["warning"] = f"the snapshots use different schemes ({p_old.get('scheme')} → {p_new.get('scheme')})"
    if path:
        if ":" not in path:
            raise UsageError(_('--path must look like A:E (from segment : to segment), not {path!r}').format(path=path))
        a_txt, b_txt = (x.strip() for x in path.split(":", 1))
        a = match_segment(p_old.get("segments", []), a_txt)
        b = match_segment(p_new.get("segments", []), b_txt)
        if a is None or b is None:
            bad, cat = (a_txt, p_old) if a is None else (b_txt, p_new)
            known = ", ".join(s["id"] for s in cat.get("segments", []))
            raise UsageError(_('--path: no segment {bad!r} in that snapshot (known: {known})').format(bad=bad, known=known))
        members = con.execute(
            f"""SELECT n.member_id, {_MASKED} AS phone, m.store, m.guide_userid, m.guide_name,
                       o.recency_days AS old_recency_days, n.recency_days, o.frequency AS old_frequency, n.frequency,
                       o.monetary AS old_monetary, n.monetary
                FROM segment_members o JOIN segment_members n USING (member_id)
                LEFT JOIN members m USING (member_id)
                WHERE o.snapshot_id = ? AND n.snapshot_id = ? AND o.segment_id = ? AND n.segment_id = ?
                ORDER BY n.monetary DESC, n.member_id""",
            [old, new, a["id"], b["id"]],
        )
        cols = [d[0] for d in members.description]
        result["path"] = {"from": a["id"], "to": b["id"], "from_name": a["name"], "to_name": b["name"],
                          "columns": cols, "members": [dict(zip(cols, r)) for r in members.fetchall()]}
    return result


def history(con, member: str) -> dict[str, Any]:
    member_id = resolve_member(con, member)
    rows = con.execute(
        """SELECT s.snapshot_id, s.as_of, s.scheme, m.segment_id, m.segment_name, m.recency_days, m.frequency,
                  m.monetary, m.r_score, m.f_score, m.m_score
           FROM segment_members m JOIN segment_snapshots s USING (snapshot_id)
           WHERE m.member_id = ? ORDER BY s.snapshot_id""",
        [member_id],
    )
    cols = [d[0] for d in rows.description]
    return {"member_id": member_id, "columns": cols, "rows": [dict(zip(cols, r)) for r in rows.fetchall()]}


# ---------------------------------------------------------------- explain

def explain(con, member: str, snapshot_id: int | None = None) -> dict[str, Any]:
    """Measures, thresholds used and why the member is in its segment."""
    member_id = resolve_member(con, member)
    if snapshot_id is None:
        snapshot_id = require_latest(con)
    params = snapshot_params(con, snapshot_id)
    snap = snapshot_row(con, snapshot_id)
    cur = con.execute(
        """SELECT recency_days, frequency, monetary, revenue, first_purchase, last_purchase, r_score, f_score, m_score,
                  segment_id, segment_name
           FROM segment_members WHERE snapshot_id = ? AND member_id = ?""",
        [snapshot_id, member_id],
    )
    cols = [d[0] for d in cur.description]
    row = cur.fetchone()
    if row is None:
        raise UsageError(_('member {member_id} is not in snapshot {snapshot_id}').format(member_id=member_id, snapshot_id=snapshot_id))
    rec = dict(zip(cols, row))
    seg = match_segment(params.get("segments", []), rec["segment_id"]) or {"id": rec["segment_id"], "name": rec["segment_name"]}
    reasons: list[str] = []
    unit = "orders" if params.get("frequency_unit") == "orders" else "purchase days"
    window = params.get("window") or "all history"
    if rec["frequency"] == 0:
        reasons.append(f"no purchase (paid, not cancelled, net > 0) in {window} up to {params.get('as_of')} → "
                       f"{S.NO_PURCHASE['id']} {S.NO_PURCHASE['name']}")
    elif str(params.get("scheme")) == "rfm8":
        words = {"r": ("近 recent", "久 lapsed"), "f": ("高 high", "低 low"), "m": ("高 high", "低 low")}
        values = {"r": rec["recency_days"], "f": rec["frequency"], "m": rec["monetary"]}
        for d in "rfm":
            sp = params["splits"][d]
            high = rec[f"{d}_score"] == 1
            reasons.append(
                f"{d.upper()} = {_num(values[d])}: rule {sp['rule']} ({'fixed' if sp['kind'] == 'fixed' else sp['spec']}) → "
                f"{words[d][0] if high else words[d][1]}"
            )
        reasons.append(f"R/F/M = {rec['r_score']}{rec['f_score']}{rec['m_score']} → {seg['id']} {seg['name']}")
    else:
        bands = {}
        for d, col in (("r", "recency_days"), ("f", "frequency"), ("m", "monetary")):
            lo, hi = con.execute(
                f"SELECT min({col}), max({col}) FROM segment_members WHERE snapshot_id = ? AND frequency > 0 AND {d}_score = ?",
                [snapshot_id, rec[f"{d}_score"]],
            ).fetchone()
            bands[d] = (lo, hi)
            reasons.append(
                f"{d.upper()} score {rec[f'{d}_score']}: {col} = {_num(rec[col])}; this score covers "
                f"{_num(lo)}–{_num(hi)} among buyers (quintiles by percent rank; ties share a score)"
            )
        code = rec["r_score"] * 100 + rec["f_score"] * 10 + rec["m_score"]
        if str(params.get("scheme")) == "rfm11":
            codes = params.get("codes", {}).get(seg["id"])
            listed = "every code not listed elsewhere" if codes == "else" else " ".join(map(str, codes or []))
            reasons.append(f"code {code} → {seg['id']} {seg['name']} (codes: {listed})")
        else:
            reasons.extend(_explain_custom(params.get("custom", {}), rec, seg))
    return {
        "member_id": member_id,
        "snapshot": snap,
        "scheme": params.get("scheme"),
        "as_of": params.get("as_of"),
        "window": window,
        "frequency_unit": unit,
        "monetary_mode": params.get("monetary"),
        "measures": {k: rec[k] for k in ("recency_days", "frequency", "monetary", "revenue", "first_purchase", "last_purchase")},
        "scores": {k: rec[k] for k in ("r_score", "f_score", "m_score")},
        "segment": seg,
        "thresholds": params.get("splits") or params.get("scoring"),
        "reasons": reasons,
        "clv": member_clv(con, member_id),
    }


def member_clv(con, member_id: str) -> dict[str, Any] | None:
    """The member's predictions in the newest ``siyu clv`` fit (None without a fit or a purchase)."""
    cur = con.execute(
        """SELECT f.fit_id, f.as_of, f.created_at AS fitted_at, c.p_alive, c.purchases_30d, c.purchases_90d,
                  c.expected_spend, c.clv
           FROM clv_members c JOIN clv_fits f USING (fit_id)
           WHERE c.member_id = ? AND c.fit_id = (SELECT max(fit_id) FROM clv_fits)""", [member_id])
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row)) if row else None


def _explain_custom(scheme: dict[str, Any], rec: dict[str, Any], seg: dict[str, Any]) -> list[str]:
    out = []
    for rule in scheme.get("rules", []):
        checks = []
        ok = True
        for c in rule["when"]:
            value = rec[S.CUSTOM_FIELDS[c["field"]]]
            held = S.condition_holds(value, c["op"], c["values"])
            ok = ok and held
            checks.append(f"{S.condition_text(c['field'], c['op'], c['values'])} ({_num(value)}) {'✓' if held else '✗'}")
        out.append(f"rule {rule['id']!r} (line {rule['line']}): {', '.join(checks)} → {'match' if ok else 'no'}")
        if ok:
            return out
    out.append(f"no rule matched → default {seg['id']} {seg['name']}")
    return out


def _num(value: Any) -> str:
    if value is None:
        return "–"
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)
