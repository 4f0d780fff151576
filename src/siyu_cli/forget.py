"""``siyu forget``: erase a person from every table and file siyu keeps, leaving only keyed hashes.

A person is named by a member id, a phone (any separator style, ``+86`` or not), an email, an
external_userid, a unionid or the back-office's member id. Every identifier siyu holds for them is
collected (member row, member_identities, WeCom contacts and groups), then:

* tombstones — HMAC-SHA256 under the workspace id key of each identifier (``erased_identities``):
  a later load skips rows naming them (counted as ``erased``) and push never messages them again;
* deleted — members, member_identities, member_tags, wecom_contacts, group_members, segment_members,
  optouts naming them, and what WeCom sync keeps (wecom_customers, contact_events, sync staging, the
  tag-sync state and ledger); a later sync skips them;
* blanked — orders keep their amounts (revenue stays right) but lose member_id, buyer_phone and
  buyer_ref; push_recipients keep their state (ledger counts and caps stay right) with the recipient
  replaced by ``erased:<hash>`` and no member; the SOP keys, names and audiences of campaigns that
  quote them get the same placeholder and their batches' rendered text is dropped; rejects' raw text
  and message that hold one of their identifiers become ``[erased]``;
* files — CSV/TXT exports under ``inbox/`` (done, failed, pending) lose the lines that hold one of
  their identifiers (workbooks cannot be edited line by line: they are listed as not reached).

The erasure is recorded in ``erasures`` (when, how many people, identifiers and rows per table —
never who). Running it again changes nothing and records nothing. It cannot reach copies made
outside the workspace: exports the user downloaded or forwarded, reports already sent, backups.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from siyu_cli.errors import UsageError
from siyu_cli.i18n import _

ERASED = "[erased]"
ID_TYPES = ("source_member_id", "external_userid", "unionid", "phone", "email", "member_id")
_PHONE = re.compile(r"^(?:(?:\+|00)?86)?[ .-]?(1[3-9][0-9])[ .-]?([0-9]{4})[ .-]?([0-9]{4})$")


@dataclass
class ForgetReport:
    requested: int = 0
    people: int = 0  # members erased
    not_found: int = 0  # identifiers that named nobody in the store (tombstoned all the same)
    already: int = 0  # identifiers erased before
    identifiers: int = 0  # tombstones written
    rows: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # files under the workspace that were scrubbed
    not_reached: list[str] = field(default_factory=list)  # files that may hold them and were not edited
    erasure_id: str | None = None

    def to_dict(self) -> dict:
        return {
            "erasure_id": self.erasure_id, "requested": self.requested, "people": self.people,
            "not_found": self.not_found, "already_erased": self.already, "identifiers": self.identifiers,
            "rows": dict(self.rows), "files": list(self.files), "not_reached": list(self.not_reached),
        }


def normalise(value: str) -> tuple[str, str | None]:
    """``(value, 'phone')`` for a mainland mobile in any style, ``(value, 'email')``, else ``(value, None)``."""
    v = value.strip()
    m = _PHONE.match(v)
    if m:
        return "".join(m.groups()), "phone"
    if "@" in v and "." in v.split("@")[-1]:
        return v.lower(), "email"
    return v, None


def read_id_file(path: Path) -> list[str]:
    """Identifiers from a file: one per line (or the first CSV column); blank lines and ``#`` comments skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(_('--file {path}: {value}').format(path=path, value=exc.strerror or exc)) from None
    out = []
    for line in text.splitlines():
        v = line.split(",")[0].strip().strip('"')
        if v and not v.startswith("#") and v.lower() not in ("member_id", "id", "phone", "external_userid", "手机号"):
            out.append(v)
    return out


def forget(settings, identifiers: list[str], *, now: datetime | None = None) -> ForgetReport:
    """Erase the people named by ``identifiers`` (see the module doc). Idempotent."""
    from siyu_cli.store import open_store

    ids = [i for i in (s.strip() for s in identifiers) if i]
    if not ids:
        raise UsageError(_('give at least one member id, phone, email or external_userid (or --file)'))
    now = now or datetime.now(timezone.utc)
    report = ForgetReport(requested=len(ids))
    with open_store(settings) as con:
        con.execute("BEGIN TRANSACTION")
        try:
            values = _collect(con, ids, report)
            _erase(con, values, report, now)
            _scrub_files(settings, values, report)
            if report.identifiers or any(report.rows.values()):
                report.erasure_id = f"erasure-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
                con.execute("INSERT INTO erasures VALUES (?, ?, ?, ?, ?)",
                            [report.erasure_id, now, report.people, report.identifiers, json.dumps(report.rows)])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return report


def _collect(con, ids: list[str], report: ForgetReport) -> dict:
    """Every identifier siyu holds for the named people: {'members': set, type: set(values)}."""
    con.execute("CREATE OR REPLACE TEMP TABLE siyu_forget_in (v VARCHAR, t VARCHAR)")
    con.executemany("INSERT INTO siyu_forget_in VALUES (?, ?)", [normalise(i) for i in ids])
    members = {r[0] for r in con.execute("""
        SELECT member_id FROM members WHERE member_id IN (SELECT v FROM siyu_forget_in)
        UNION SELECT member_id FROM member_identities i JOIN siyu_forget_in f
            ON (CASE WHEN f.t = 'email' THEN lower(i.id_value) ELSE i.id_value END) = f.v
               AND (f.t IS NULL OR i.id_type = f.t)
        UNION SELECT member_id FROM members m JOIN siyu_forget_in f
            ON f.v IN (m.external_userid, m.source_member_id, m.unionid, m.phone, lower(m.email))
        UNION SELECT member_id FROM wecom_contacts WHERE external_userid IN (SELECT v FROM siyu_forget_in)
            AND member_id IS NOT NULL
    """).fetchall() if r[0] is not None}
    con.execute("CREATE OR REPLACE TEMP TABLE siyu_forget_m AS SELECT unnest(?::VARCHAR[]) AS member_id", [sorted(members)])
    values: dict[str, set[str]] = {t: set() for t in ID_TYPES}
    values["member_id"] |= members
    for t, v in con.execute("""
        SELECT id_type, id_value FROM member_identities WHERE member_id IN (SELECT member_id FROM siyu_forget_m)
        UNION ALL SELECT unnest(['source_member_id', 'external_userid', 'unionid', 'phone', 'email']),
                         unnest([source_member_id, external_userid, unionid, phone, email])
            FROM members WHERE member_id IN (SELECT member_id FROM siyu_forget_m)
        UNION ALL SELECT 'external_userid', external_userid FROM wecom_contacts
            WHERE member_id IN (SELECT member_id FROM siyu_forget_m)
        UNION ALL SELECT 'external_userid', external_userid FROM group_members
            WHERE member_id IN (SELECT member_id FROM siyu_forget_m)
        UNION ALL SELECT unnest(['external_userid', 'unionid']), unnest([external_userid, unionid]) FROM wecom_customers
            WHERE member_id IN (SELECT member_id FROM siyu_forget_m)
    """).fetchall():
        if v:
            values[t if t in values else "source_member_id"].add(v)
    # identifiers that name nobody here (or nobody any more) are tombstoned under the types they can be
    found_values = set().union(*values.values())
    for raw in ids:
        v, t = normalise(raw)
        if v in found_values or (t == "email" and v in {x.lower() for x in values["email"]}):
            continue
        if _erased_before(con, v, t):
            report.already += 1
            continue
        report.not_found += 1
        for tt in ([t] if t else ["external_userid", "source_member_id", "unionid"]):
            values[tt].add(v)
    report.people = len(members)
    return values


def _erased_before(con, value: str, id_type: str | None) -> bool:
    types = [id_type] if id_type else list(ID_TYPES)
    return bool(con.execute(
        "SELECT count(*) FROM erased_identities WHERE id_type IN (SELECT unnest(?::VARCHAR[])) "
        "AND id_hash = siyu_keyed(id_type, CASE WHEN id_type = 'email' THEN lower(?) ELSE ? END)", [types, value, value]
    ).fetchone()[0])


def _erase(con, values: dict, report: ForgetReport, now: datetime) -> None:
    rows = report.rows
    pairs = [(t, v) for t, vs in values.items() for v in sorted(vs)]
    con.execute("CREATE OR REPLACE TEMP TABLE siyu_forget_v AS SELECT unnest(?::VARCHAR[]) AS t, unnest(?::VARCHAR[]) AS v",
                [[p[0] for p in pairs], [p[1] for p in pairs]])
    report.identifiers = con.execute("""
        INSERT INTO erased_identities (id_type, id_hash, erased_at)
        SELECT DISTINCT t, siyu_keyed(t, CASE WHEN t = 'email' THEN lower(v) ELSE v END), ? FROM siyu_forget_v
        ON CONFLICT DO NOTHING
    """, [now]).fetchone()[0]
    m = "(SELECT member_id FROM siyu_forget_m)"
    every = "(SELECT v FROM siyu_forget_v)"
    ext = "(SELECT v FROM siyu_forget_v WHERE t IN ('external_userid', 'member_id'))"
    phones = "(SELECT v FROM siyu_forget_v WHERE t = 'phone')"

    def run(name: str, sql: str, params=None) -> None:
        n = con.execute(sql, params or []).fetchone()[0]
        if n:
            rows[name] = rows.get(name, 0) + int(n)

    run("members", f"DELETE FROM members WHERE member_id IN {m}")
    run("member_identities", f"DELETE FROM member_identities WHERE member_id IN {m} OR id_value IN {every}")
    run("member_tags", f"DELETE FROM member_tags WHERE member_id IN {m}")
    run("wecom_contacts", f"DELETE FROM wecom_contacts WHERE member_id IN {m} OR external_userid IN {ext}")
    run("group_members", f"DELETE FROM group_members WHERE member_id IN {m} OR external_userid IN {ext}")
    run("optouts", f"DELETE FROM optouts WHERE member_id IN {m} OR member_id IN {every}")
    run("orders", f"""UPDATE orders SET member_id = NULL, buyer_phone = NULL, buyer_ref = NULL
                      WHERE member_id IN {m} OR buyer_phone IN {phones} OR buyer_ref IN {every}""")
    from siyu_cli.store import table_names

    tables = table_names(con)
    if "member_merges" in tables:  # merge audit rows hold previous member rows and linking ids (migration 330)
        merges = f"SELECT merge_id FROM member_merges WHERE survivor_id IN {m} OR merged_id IN {m} OR via_value IN {every}"
        gone = [r[0] for r in con.execute(f"SELECT member_id FROM siyu_forget_m UNION SELECT merged_id FROM member_merges "
                                          f"WHERE survivor_id IN {m}").fetchall()]  # and the ids merged into them
        run("member_merge_rows", f"DELETE FROM member_merge_rows WHERE merge_id IN ({merges})")
        run("member_merges", f"DELETE FROM member_merges WHERE merge_id IN ({merges})")
        run("identity_conflicts", f"DELETE FROM identity_conflicts WHERE id_value IN {every}")
        con.execute("""UPDATE identity_conflicts SET member_ids = list_filter(member_ids, lambda x: NOT list_contains(?, x))
                       WHERE list_has_any(member_ids, ?)""", [gone, gone])
    if "segment_member_rows" in tables:  # every row of the member: no snapshot of a chain rebuilds them (migration 101)
        run("segment_members", f"DELETE FROM segment_member_rows WHERE member_id IN {m}")
    # what `siyu sync wecom` / `siyu tags sync` keep about a customer (migrations 310/311)
    for table, where in (("wecom_customers", f"member_id IN {m} OR external_userid IN {ext}"),
                         ("contact_events", f"member_id IN {m} OR external_userid IN {ext}"),
                         ("wecom_sync_contacts", f"external_userid IN {ext}"),
                         ("wecom_sync_group_members", f"userid IN {ext}"),
                         ("wecom_tag_state", f"external_userid IN {ext}"),
                         ("wecom_tag_ledger", f"external_userid IN {ext}")):
        if table in tables:
            run(table, f"DELETE FROM {table} WHERE {where}")
    if "push_recipients" in tables:
        run("push_recipients", f"""UPDATE push_recipients
            SET recipient_id = 'erased:' || left(siyu_keyed('recipient', recipient_id), 20), member_id = NULL
            WHERE member_id IN {m} OR recipient_id IN {every}
               OR recipient_id IN (SELECT 'member:' || member_id FROM siyu_forget_m)""")
        _erase_campaign_keys(con, values, rows)
    # rejects: the raw line or message holding one of their identifiers (a phone in any separator style)
    digits = "regexp_replace(coalesce(raw, '') || ' ' || coalesce(message, ''), '[ .-]', '', 'g')"
    run("rejects", f"""UPDATE rejects SET raw = '{ERASED}', message = CASE WHEN message IS NULL THEN NULL ELSE '{ERASED}' END
        WHERE raw IS DISTINCT FROM '{ERASED}' AND (
              EXISTS (SELECT 1 FROM siyu_forget_v f WHERE f.t <> 'phone' AND length(f.v) >= 4
                      AND (contains(rejects.raw, f.v) OR contains(rejects.message, f.v)))
           OR EXISTS (SELECT 1 FROM siyu_forget_v f WHERE f.t = 'phone' AND contains({digits}, f.v)))""")


def _erase_campaign_keys(con, values: dict, rows: dict) -> None:
    """SOP keys, names and audiences quoting a member id or external_userid get a hashed placeholder."""
    needles = sorted(v for t in ("member_id", "external_userid") for v in values[t] if v)
    if not needles:
        return
    found = con.execute("""
        SELECT c.campaign_id, c.name, c.audience, c.due_key FROM push_campaigns c
        WHERE EXISTS (SELECT 1 FROM siyu_forget_v f WHERE f.t IN ('member_id', 'external_userid')
                      AND (contains(c.due_key, f.v) OR contains(c.audience, f.v) OR contains(c.name, f.v)))
    """).fetchall()
    for cid, name, audience, key in found:
        out = []
        for text in (name, audience, key):
            for v in needles:
                if text and v in text:
                    placeholder = con.execute("SELECT 'erased:' || left(siyu_keyed('recipient', ?), 20)", [v]).fetchone()[0]
                    text = text.replace(v, placeholder)
            out.append(text)
        con.execute("UPDATE push_campaigns SET name = ?, audience = ?, due_key = ? WHERE campaign_id = ?", [*out, cid])
        n = con.execute("UPDATE push_batches SET text = NULL WHERE campaign_id = ? AND text IS NOT NULL", [cid]).fetchone()[0]
        rows["push_campaigns"] = rows.get("push_campaigns", 0) + 1
        if n:
            rows["push_batches"] = rows.get("push_batches", 0) + int(n)


def _scrub_files(settings, values: dict, report: ForgetReport) -> None:
    """Drop the lines of CSV/TXT exports under inbox/ that hold one of the person's identifiers."""
    from siyu_cli.privacy import write_private

    plain = sorted({v for t, vs in values.items() if t not in ("phone", "member_id") for v in vs if len(v) >= 4})
    phones = sorted(values["phone"])
    if not plain and not phones:
        return
    pats = [re.escape(v.encode("utf-8")) for v in plain]
    pats += [b"[ .-]?".join(re.escape(p[i:j].encode()) for i, j in ((0, 3), (3, 7), (7, 11))) for p in phones]
    hit = re.compile(b"|".join(pats))
    inbox = Path(settings.root) / (settings.section("load").get("inbox") or "inbox")
    if not inbox.is_dir():
        return
    for path in sorted(p for p in inbox.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if not hit.search(data):
            continue
        if path.suffix.lower() not in (".csv", ".txt", ".tsv") or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            report.not_reached.append(str(path))
            continue
        kept = b"".join(line for line in data.splitlines(keepends=True) if not hit.search(line))
        write_private(path, "")  # truncate with owner-only permissions, then write the bytes back
        path.write_bytes(kept)
        report.files.append(str(path))
        report.rows["files_lines"] = report.rows.get("files_lines", 0) + data.count(b"\n") - kept.count(b"\n")


# ---------------------------------------------------------------- loads

#: staged column → the identifier type its tombstone was written under
_STAGED_IDS = {"member_id": "source_member_id", "member_ref": "source_member_id", "external_userid": "external_userid",
               "unionid": "unionid", "phone": "phone", "email": "email"}


def not_erased_sql(expr: str, id_type: str = "external_userid") -> str:
    """A condition: the identifier ``expr`` (SQL) names nobody erased (their tombstone is a keyed hash)."""
    return (f"NOT EXISTS (SELECT 1 FROM erased_identities e WHERE e.id_type = '{id_type}' "
            f"AND e.id_hash = siyu_keyed('{id_type}', {expr}))")


def erased_hashes_sql(id_types: tuple[str, ...]) -> str:
    """A parenthesised subquery of the tombstone hashes of ``id_types``, empty at once while nobody was erased."""
    types = ", ".join(f"'{t}'" for t in id_types)
    return (f"(SELECT id_hash FROM erased_identities WHERE id_type IN ({types}) "
            "AND (SELECT count(*) FROM erased_identities) > 0)")


def skip_erased(con, batch_id: str | None = None, table: str = "siyu_good") -> int:
    """Drop from the load's ``table`` the rows that name an erased person; return how many.

    Nothing to do (and no hashing) while nobody was erased. Otherwise each identifier column of the
    batch is hashed with the id key and compared with the tombstones; the kept rows replace ``table``.
    The batch's own rejects whose raw text names an erased person are blanked too.
    """
    if not con.execute("SELECT count(*) FROM erased_identities").fetchone()[0]:
        return 0
    if batch_id is not None:
        _blank_erased_rejects(con, batch_id)
    cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    # each distinct value is hashed once (a customer's many orders share one phone)
    hits = [
        f"SELECT __row FROM {table} WHERE {c} IN (SELECT v FROM (SELECT DISTINCT {c} AS v FROM {table} WHERE {c} IS NOT NULL) "
        f"WHERE siyu_keyed('{t}', {'lower(v)' if t == 'email' else 'v'}) "
        f"IN (SELECT id_hash FROM erased_identities WHERE id_type = '{t}'))"
        for c, t in _STAGED_IDS.items() if c in cols
    ]
    if not hits:
        return 0
    con.execute(f"CREATE OR REPLACE TEMP TABLE siyu_erased_rows AS {' UNION '.join(hits)}")
    n = con.execute("SELECT count(*) FROM siyu_erased_rows").fetchone()[0]
    if n:
        con.execute(f"CREATE OR REPLACE TEMP TABLE siyu_kept AS SELECT * FROM {table} ANTI JOIN siyu_erased_rows USING (__row)")
        kind = con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND temporary", [table]).fetchone()[0]
        con.execute(f"DROP {'VIEW' if kind else 'TABLE'} {table}")
        con.execute(f"ALTER TABLE siyu_kept RENAME TO {table}")
    con.execute("DROP TABLE siyu_erased_rows")
    return int(n)


def _blank_erased_rejects(con, batch_id: str) -> None:
    """A rejected line of an erased person keeps its place in the accounts, not its text."""
    digits = "regexp_replace(raw, '([0-9])[ .-]([0-9])', '\\1\\2', 'g')"  # 138 0013 8000 → 13800138000
    con.execute(f"""
        UPDATE rejects SET raw = '{ERASED}', message = CASE WHEN message IS NULL THEN NULL ELSE '{ERASED}' END
        WHERE rowid IN (
            WITH mine AS (SELECT rowid AS rid, raw FROM rejects WHERE batch_id = ? AND raw IS NOT NULL),
            toks AS (SELECT rid, trim(unnest(regexp_split_to_array(raw, '[,\t;|"]'))) AS x FROM mine),
            cand AS (
                SELECT rid, 'phone' AS t, unnest(regexp_extract_all({digits}, '1[3-9][0-9]{{9}}')) AS x FROM mine
                UNION ALL SELECT rid, t.t, CASE WHEN t.t = 'email' THEN lower(x) ELSE x END
                FROM toks, (VALUES ('external_userid'), ('source_member_id'), ('unionid'), ('email')) t(t)
                WHERE x <> ''
            )
            SELECT c.rid FROM cand c JOIN erased_identities e ON e.id_type = c.t AND e.id_hash = siyu_keyed(c.t, c.x)
        )
    """, [batch_id])
