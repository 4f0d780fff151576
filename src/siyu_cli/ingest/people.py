"""Writes to the people tables (members, member_tags, wecom_contacts, staff, load_log) on behalf of
sources other than export files — today the WeCom sync (``sync/``).

``ingest`` owns these tables (ARCHITECTURE.md, "Table owners"); the sync prepares its own staging
tables and calls these functions inside its merge transaction, so every statement that changes a
person's row lives in one package.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def add_synced_members(con, attr_table: str, batch_id: str) -> None:
    """New members for customers nobody knew; known members gain what WeCom knows and the export lacked.

    ``attr_table`` has one row per member: member_id, matched, external_userid, unionid, phone, name,
    gender, join_at, join_channel, guide_userid. A known member's values are never overwritten.
    """
    con.execute(f"""
        INSERT INTO members (member_id, source, external_userid, unionid, phone, name, gender, join_at, join_channel,
                             guide_userid, first_batch, updated_batch, updated_at)
        SELECT a.member_id, 'wecom', a.external_userid, a.unionid, a.phone, a.name, a.gender, a.join_at,
               a.join_channel, a.guide_userid, ?, ?, now()
        FROM {attr_table} a ANTI JOIN members m ON m.member_id = a.member_id
        WHERE NOT a.matched
    """, [batch_id, batch_id])
    con.execute(f"""
        UPDATE members SET external_userid = coalesce(members.external_userid, a.external_userid),
                           unionid = coalesce(members.unionid, a.unionid), phone = coalesce(members.phone, a.phone),
                           guide_userid = coalesce(members.guide_userid, a.guide_userid),
                           join_channel = coalesce(members.join_channel, a.join_channel)
        FROM {attr_table} a WHERE members.member_id = a.member_id AND a.matched
          AND (members.external_userid IS NULL OR members.unionid IS NULL OR members.phone IS NULL
               OR members.guide_userid IS NULL OR members.join_channel IS NULL)
    """)


def link_contacts(con, resolved_table: str) -> None:
    """Point each WeCom relation at the member its customer resolved to (``resolved_table``: __bk, member_id)."""
    con.execute(f"UPDATE wecom_contacts SET member_id = r.member_id FROM {resolved_table} r "
                "WHERE wecom_contacts.external_userid = r.__bk AND wecom_contacts.member_id IS DISTINCT FROM r.member_id")


def replace_synced_tags(con, batch_id: str, members: str = "TRUE") -> None:
    """The relation tags of linked customers as member tags; the previous sync's are replaced (of the members
    the SQL condition ``members`` on ``member_id`` selects: the sync's finish runs per unit of members)."""
    con.execute(f"DELETE FROM member_tags WHERE batch_id LIKE 'wsync-%' AND {members}")
    con.execute(f"""INSERT INTO member_tags (member_id, tag_group, tag, batch_id)
                    SELECT DISTINCT member_id, tag_group, tag, ? FROM wecom_relation_tags
                    WHERE member_id IS NOT NULL AND {members}
                    ON CONFLICT DO NOTHING""", [batch_id])


def upsert_staff_names(con, now: datetime, userids: list[str], names: dict[str, str]) -> None:
    """Every guide in ``userids``; a name from WeCom's user/get wins over an export's (none keeps it)."""
    con.execute("""INSERT INTO staff (userid, name, updated_at)
                   SELECT f.u, n.name, ? FROM (SELECT unnest(?::VARCHAR[]) AS u) f
                   LEFT JOIN (SELECT unnest(?::VARCHAR[]) AS userid, unnest(?::VARCHAR[]) AS name) n
                     ON n.userid = f.u
                   ON CONFLICT DO UPDATE SET name = coalesce(excluded.name, staff.name)""",
                [now, userids, list(names), list(names.values())])


def log_api_batch(con, batch_id: str, kind: str, read: int, counts: dict[str, Any], started: datetime,
                  finished: datetime) -> None:
    """One ``load_log`` row for what an API pull merged (as a file load logs its counts)."""
    con.execute("""INSERT INTO load_log (batch_id, kind, file, file_sha256, preset, source, rows_read,
                       inserted, updated, unchanged, rejected, removed, status, started_at, finished_at)
                   VALUES (?, ?, 'wecom api', '', 'wecom-api', 'wecom', ?, ?, ?, ?, 0, ?, 'loaded', ?, ?)""",
                [batch_id, kind, read, counts["added"], counts["updated"], counts["unchanged"], counts["removed"],
                 started, finished])
