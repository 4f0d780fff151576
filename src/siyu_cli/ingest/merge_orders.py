"""The merge stage of an orders load: rows folded into one record per order, buyers resolved to members,
statuses read, then :func:`merge.merge` (or a straight insert on a source's first load); order lines."""

from __future__ import annotations

from siyu_cli import clock
from siyu_cli.ingest.merge import last, merge
from siyu_cli.ingest.merge_members import resolve_buyers
from siyu_cli.ingest.presets import STATUS_ALIASES, Preset, status_key
from siyu_cli.ingest.staging import lit

ORDER_COLS = ("member_id", "buyer_phone", "buyer_ref", "status", "status_raw", "created_at", "paid_at", "total_amount",
              "paid_amount", "refund_amount", "net_amount", "item_count", "store", "channel", "guide_userid",
              "coupon_code")
ORDER_FIELDS = ("member_id", "external_userid", "unionid", "phone", "email", "buyer_ref", "status_raw", "created_at",
                "paid_at", "cancelled_at", "total_amount", "paid_amount", "refund_amount", "item_count", "store",
                "channel", "guide_userid", "coupon_code")
LINE_FIELDS = ("line_no", "sku", "product_name", "category", "quantity", "unit_price", "line_amount")
BUYER_FIELDS = ("member_id", "external_userid", "unionid", "phone", "email")


def merge_orders(con, fr, p: Preset, mapping: dict[str, str]) -> None:
    """Fold ``siyu_good`` into orders and merge them (counts into ``fr``)."""
    source = fr.source
    has_lines = any(f in mapping for f in LINE_FIELDS if f != "line_no") and p.line_grain
    _fold(con, p, mapping)
    _status_table(con, fr, p)
    buyer = [c for c in BUYER_FIELDS if c in mapping]
    if buyer:
        # each order finds its buyer's member by the file's own short id columns (member id, phone: a few
        # bytes, compared in place) instead of the joined key string, built and hashed for every order
        # (10M orders: a 10M × 2.5M join on a key of ~25 bytes)
        resolve_buyers(con, fr, "siyu_src", keep=buyer)
        on = " AND ".join(f"r.__o_{c} IS NOT DISTINCT FROM s.{c}" for c in buyer)
        member_expr, member_join = "r.member_id", f"LEFT JOIN siyu_res r ON {on}"
    else:
        member_expr, member_join = "NULL::VARCHAR", ""
    fin_sql = _final_sql(member_expr, member_join)
    existing = con.execute("SELECT count(*) FROM orders WHERE source = ?", [source]).fetchone()[0]
    now = clock.now()
    if existing == 0 and not has_lines:
        # first load of this source: every order is new, so insert straight from the query (no
        # staging table, no comparison); each input row counts as inserted
        con.execute(f"""
            INSERT INTO orders (source, order_id, {', '.join(ORDER_COLS)}, batch_id, updated_at)
            SELECT {lit(source)}, f.order_id, {', '.join('f.' + c for c in ORDER_COLS)}, ?, ?
            FROM ({fin_sql}) f
        """, [fr.batch_id, now])
        n_rows, n_orders = con.execute("SELECT coalesce(sum(__n), 0), count(*) FROM siyu_src").fetchone()
        fr.inserted, fr.merged = int(n_orders), int(n_rows) - int(n_orders)
        fr.updated = fr.unchanged = 0
        return
    con.execute(f"CREATE TEMP TABLE siyu_fin AS {fin_sql}")
    merged = {c: "coalesce(f.member_id, t.member_id)" if c == "member_id" else f"f.{c}" for c in ORDER_COLS}
    inserted = {"source": lit(source), "order_id": "f.order_id", **{c: f"f.{c}" for c in ORDER_COLS}}
    fr.inserted, fr.updated, fr.unchanged, fr.merged = merge(
        con, "orders", ("order_id",), merged, inserted, {"batch_id": fr.batch_id, "updated_at": now},
        scope={"source": lit(source)})
    if has_lines:
        _merge_lines(con, fr, mapping)


def _fold(con, p: Preset, mapping: dict[str, str]) -> None:
    """``siyu_src``: one row per order (its rows folded, ``__n`` of them)."""
    # amounts a preset gives per line (Douyin: per 子订单) are summed over the order's lines, each line
    # counted once (its last row) so a repeated row is not counted twice; other fields: the last value
    summed = {c for c in p.sum_fields if c in mapping}
    rows = "siyu_good"
    if summed:
        last_row = ("row_number() OVER (PARTITION BY order_id, line_no ORDER BY __row DESC) = 1"
                    if "line_no" in mapping else "true")
        rows = f"(SELECT *, {last_row} AS __line_last FROM siyu_good)"
    aggs = ", ".join(f"sum({c}) FILTER (WHERE __line_last) AS {c}" if c in summed else last(c) for c in ORDER_FIELDS)
    qty = ("sum(quantity) FILTER (WHERE __line_last)" if summed else "sum(quantity)") if "quantity" in mapping else "NULL"
    dups = _has_duplicates(con)
    if dups:  # several rows per order (line items, or repeated rows): fold them
        inner = f"SELECT order_id, {aggs}, count(*) AS __n, {qty} AS __qty FROM {rows} GROUP BY order_id"
    else:  # one row per order: no aggregation needed
        inner = (f"SELECT order_id, {', '.join(ORDER_FIELDS)}, 1 AS __n, "
                 f"{'quantity' if 'quantity' in mapping else 'NULL'} AS __qty FROM siyu_good")
    # one row per order already: a view (read twice, by the buyer keys and the final insert) is cheaper
    # than copying every row once more
    con.execute(f"CREATE TEMP {'TABLE' if dups else 'VIEW'} siyu_src AS {inner}")


def _has_duplicates(con) -> bool:
    """Whether some order id of ``siyu_good`` is on several rows. Distinct 64-bit hashes prove distinct ids,
    and counting those is much cheaper than counting distinct strings (10M orders: 5.4 s, spilling); only
    when two hashes coincide does the exact count run."""
    if not con.execute("SELECT count(order_id) - count(DISTINCT hash(order_id)) FROM siyu_good").fetchone()[0]:
        return False
    return bool(con.execute("SELECT count(order_id) - count(DISTINCT order_id) FROM siyu_good").fetchone()[0])


def _status_table(con, fr, p: Preset) -> None:
    """``siyu_smap(raw, canon)``: the file's few distinct raw statuses mapped in Python (aliases + the
    preset's own); a warning names those it does not know."""
    smap = {status_key(raw): canon for canon, raws in STATUS_ALIASES.items() for raw in raws}
    smap.update({status_key(k): v for k, v in p.statuses.items()})
    raws = [r[0] for r in con.execute("SELECT DISTINCT status_raw FROM siyu_src WHERE status_raw IS NOT NULL").fetchall()]
    unknown = sorted(r for r in raws if status_key(r) not in smap)
    if unknown:
        fr.warnings.append(
            f"unknown order statuses (read as paid when a payment time is present): {', '.join(unknown[:10])}"
        )
    con.execute("CREATE TEMP TABLE siyu_smap (raw VARCHAR, canon VARCHAR)")
    if raws:
        con.executemany("INSERT INTO siyu_smap VALUES (?, ?)", [(r, smap.get(status_key(r))) for r in raws])


def _final_sql(member_expr: str, member_join: str) -> str:
    """The final order rows of ``siyu_src``; net_amount from the final status and refund."""
    base = ("coalesce(m.canon, CASE WHEN s.paid_at IS NOT NULL OR s.paid_amount > 0 OR s.status_raw IS NULL AND "
            "s.paid_amount IS NOT NULL THEN 'paid' ELSE 'unpaid' END)")
    status = f"""CASE
        WHEN s.cancelled_at IS NOT NULL AND {base} IN ('unpaid', 'cancelled', 'closed') THEN 'cancelled'
        WHEN {base} = 'closed' THEN CASE WHEN s.paid_at IS NULL AND coalesce(s.refund_amount, 0) = 0 THEN 'cancelled'
                                         ELSE 'refunded' END
        WHEN {base} IN ('paid', 'partially_refunded', 'refunded') AND s.refund_amount > 0
             THEN CASE WHEN s.refund_amount < coalesce(s.paid_amount, 0) THEN 'partially_refunded' ELSE 'refunded' END
        ELSE {base} END"""
    return f"""
        WITH x AS (
            SELECT s.*, {status} AS __status, {member_expr} AS __member
            FROM siyu_src s LEFT JOIN siyu_smap m ON m.raw = s.status_raw {member_join}
        ), y AS (
        SELECT order_id, __n, __member AS member_id, phone AS buyer_phone,
               coalesce(buyer_ref, member_id, email) AS buyer_ref, __status AS status, status_raw, created_at,
               CASE WHEN __status IN ('paid', 'partially_refunded', 'refunded') THEN coalesce(paid_at, created_at)
                    ELSE paid_at END AS paid_at,
               total_amount, paid_amount,
               CASE WHEN __status = 'refunded' AND coalesce(refund_amount, 0) = 0 THEN coalesce(paid_amount, 0)
                    ELSE coalesce(refund_amount, 0) END::DECIMAL(18,2) AS refund_amount,
               coalesce(item_count, __qty)::INTEGER AS item_count, store, channel, guide_userid, coupon_code
        FROM x
        )
        SELECT order_id, __n, member_id, buyer_phone, buyer_ref, status, status_raw, created_at, paid_at,
               total_amount, paid_amount, refund_amount,
               CAST(CASE WHEN status IN ('paid', 'partially_refunded', 'refunded')
                         THEN greatest(coalesce(paid_amount, 0) - refund_amount, 0) ELSE 0 END AS DECIMAL(18,2))
                   AS net_amount,
               item_count, store, channel, guide_userid, coupon_code
        FROM y
    """


def _merge_lines(con, fr, mapping: dict[str, str]) -> None:
    """Replace the lines of every new or changed order with the file's (the last row of each line)."""
    source = lit(fr.source)
    line_no = "line_no" if "line_no" in mapping else "NULL"
    con.execute(f"""
        DELETE FROM order_lines WHERE source = {source}
          AND order_id IN (SELECT order_id FROM siyu_cls WHERE c IN (0, 1))
    """)
    amount = "coalesce(line_amount, unit_price * coalesce(quantity, 1))" if "unit_price" in mapping else "line_amount"
    con.execute(f"""
        INSERT INTO order_lines (source, order_id, line_no, sku, product_name, category, quantity, unit_price, amount,
                                 refund_amount, batch_id)
        SELECT {source}, g.order_id,
               coalesce({line_no}, CAST(row_number() OVER (PARTITION BY g.order_id ORDER BY g.__row) AS VARCHAR)),
               sku, product_name, category, quantity, unit_price, {amount}, 0, ?
        FROM siyu_good g SEMI JOIN (SELECT order_id FROM siyu_cls WHERE c IN (0, 1)) USING (order_id)
        QUALIFY row_number() OVER (PARTITION BY g.order_id,
                                   coalesce({line_no}, CAST(g.__row AS VARCHAR)) ORDER BY g.__row DESC) = 1
    """, [fr.batch_id])
