"""005: member ids made from a phone, an email or a unionid become pseudonymous, everywhere they appear.

Before: ``p:13812345678`` / ``e:someone@mail.com`` / ``u:<unionid>``. After: ``ph:`` / ``em:`` / ``un:``
followed by 20 hex digits of HMAC-SHA256 under the workspace's id key (siyu_cli.privacy) — exactly
the id a load computes now, so a later load of the same person finds them.

One map (old id → new id) is built from every member-id column in the store, then applied to each
table that holds member ids: members, member_identities, orders, group_members, wecom_contacts,
member_tags, optouts, segment_members, push_recipients; SOP campaign keys (push_campaigns.due_key /
name / audience, and the campaign ids derived from those keys in push_campaigns, push_batches and
push_recipients); and any text of pipeline runs that quotes an old id. Tables a fresh store does not
have yet (they come with later migrations) are skipped. Nothing is deleted: row counts are unchanged.
"""

import re

OLD_ID_SQL = (
    "CASE WHEN regexp_full_match({c}, 'p:1[0-9]{{10}}') THEN siyu_pseudonym('phone', substr({c}, 3)) "
    "WHEN regexp_full_match({c}, 'e:[^@]+@.+') THEN siyu_pseudonym('email', substr({c}, 3)) "
    "WHEN regexp_full_match({c}, 'u:.+') THEN siyu_pseudonym('unionid', substr({c}, 3)) END"
)
# tables and columns that hold a member id as a whole value
ID_COLUMNS = (
    ("members", "member_id"), ("member_identities", "member_id"), ("orders", "member_id"),
    ("group_members", "member_id"), ("wecom_contacts", "member_id"), ("member_tags", "member_id"),
    ("optouts", "member_id"), ("segment_members", "member_id"), ("segment_member_rows", "member_id"),
    ("push_recipients", "member_id"), ("push_recipients", "recipient_id"),
)
# an old id quoted inside a text (SOP keys, audiences, run errors, JSON counts): at the start or after : , " or a space
_OLD_IN_TEXT = re.compile(r'(?<![^:,\s"])(?:p:1[0-9]{10}|e:[^:,\s"]+@[^:,\s"]+|u:[^:,\s"]+)')


def _tables(con) -> set[str]:
    """Base tables only: from migration 101 on, segment_members is a view over segment_member_rows."""
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                                      "AND table_type = 'BASE TABLE'").fetchall()}


def upgrade(con, settings) -> None:
    from siyu_cli.privacy import install_sql, workspace_key

    install_sql(con, workspace_key(settings))
    tables = _tables(con)
    present = [(t, c) for t, c in ID_COLUMNS if t in tables]
    union = " UNION ".join(f"SELECT {c} AS old FROM {t} WHERE {c} SIMILAR TO '[peu]:.*'" for t, c in present)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE siyu_idmap AS
        SELECT old, {OLD_ID_SQL.format(c='old')} AS new FROM ({union}) WHERE new IS NOT NULL
    """)
    for t, c in present:
        con.execute(f"UPDATE {t} SET {c} = m.new FROM siyu_idmap m WHERE {t}.{c} = m.old")
    if "push_campaigns" in tables:
        _rewrite_campaigns(con)
    for t, cols in (("pipeline_runs", ("run_id", ("error",))), ("pipeline_steps", ("run_id, step_index", ("error", "counts")))):
        if t in tables:
            _rewrite_texts(con, t, cols[0], cols[1])
    con.execute("DROP TABLE siyu_idmap")


def _lookup(con, olds: set[str]) -> dict[str, str]:
    if not olds:
        return {}
    return dict(con.execute(
        "SELECT old, new FROM siyu_idmap WHERE old IN (SELECT unnest(?::VARCHAR[]))", [sorted(olds)]
    ).fetchall())


def _sub(text, mapping: dict[str, str]):
    if text is None:
        return None
    return _OLD_IN_TEXT.sub(lambda m: mapping.get(m.group(0), m.group(0)), str(text))


def due_campaign_id(key: str) -> str:
    """push.due.due_campaign_id as it was when this migration was written (a migration keeps its own
    copy: it must do the same thing whatever later code does, and the store may not import push)."""
    import hashlib

    return "due-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def _rewrite_campaigns(con) -> None:
    rows = con.execute(
        "SELECT campaign_id, name, audience, due_key FROM push_campaigns "
        "WHERE regexp_matches(concat_ws(' ', name, audience, due_key), '(^|[:,\\s])[peu]:')"
    ).fetchall()
    olds = {m.group(0) for r in rows for v in r[1:] if v for m in _OLD_IN_TEXT.finditer(v)}
    mapping = _lookup(con, olds)
    for cid, name, audience, key in rows:
        new_key = _sub(key, mapping)
        new_cid = cid
        if key and new_key != key and cid == due_campaign_id(key):
            new_cid = due_campaign_id(new_key)  # push_due finds a due campaign by the id its key hashes to
        con.execute(
            "UPDATE push_campaigns SET campaign_id = ?, name = ?, audience = ?, due_key = ? WHERE campaign_id = ?",
            [new_cid, _sub(name, mapping), _sub(audience, mapping), new_key, cid],
        )
        if new_cid != cid:
            for t in ("push_batches", "push_recipients"):
                con.execute(f"UPDATE {t} SET campaign_id = ? WHERE campaign_id = ?", [new_cid, cid])


def _rewrite_texts(con, table: str, key: str, cols: tuple[str, ...]) -> None:
    where = " OR ".join(f"regexp_matches(CAST({c} AS VARCHAR), '(^|[:,\\s\"])[peu]:')" for c in cols)
    rows = con.execute(f"SELECT {key}, {', '.join(f'CAST({c} AS VARCHAR)' for c in cols)} FROM {table} WHERE {where}").fetchall()
    nkey = len(key.split(","))
    for r in rows:
        texts = r[nkey:]
        olds = {m.group(0) for v in texts if v for m in _OLD_IN_TEXT.finditer(v)}
        mapping = _lookup(con, olds)
        if not mapping:
            continue
        sets = ", ".join(f"{c} = ?" for c in cols)
        cond = " AND ".join(f"{k.strip()} = ?" for k in key.split(","))
        con.execute(f"UPDATE {table} SET {sets} WHERE {cond}",
                    [_sub(v, mapping) for v in texts] + list(r[:nkey]))
