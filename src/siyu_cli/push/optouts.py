"""The opt-out list (table ``optouts``, shared with plan): people who asked not to be messaged.

An entry names a member id, an external_userid or a phone number, for one
channel (customer, group, app) or ``all``. Push honours it at campaign
creation and again just before each batch is sent.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from siyu_cli import clock
from siyu_cli.errors import DataError, UsageError
from siyu_cli.store import open_store
from siyu_cli.i18n import _

OPTOUT_CHANNELS = ("all", "customer", "group", "app")
_PHONE = re.compile(r"^(?:\+?86)?(1\d{10})$")


def _norm(value: str) -> str:
    v = value.strip()
    m = _PHONE.match(v.replace(" ", "").replace("-", ""))
    return m.group(1) if m else v


def _check_channel(channel: str) -> str:
    if channel not in OPTOUT_CHANNELS:
        raise UsageError(_('unknown opt-out channel {channel!r} ({join})').format(channel=channel, join=', '.join(OPTOUT_CHANNELS)))
    return channel


def add_optouts(settings, ids: list[str], *, channel: str = "all", reason: str | None = None, source: str = "cli") -> int:
    """Add entries (existing ones are kept); return how many were new."""
    _check_channel(channel)
    ids = [x for x in dict.fromkeys(_norm(i) for i in ids) if x]
    if not ids:
        raise UsageError(_('give at least one member id, external_userid or phone'))
    now = clock.now()
    with open_store(settings) as con:
        before = con.execute("SELECT count(*) FROM optouts").fetchone()[0]
        con.execute(
            "INSERT INTO optouts (member_id, channel, reason, source, created_at) "
            "SELECT id, ?, ?, ?, ? FROM (SELECT unnest(?::VARCHAR[]) AS id) ON CONFLICT DO NOTHING",
            [channel, reason, source, now, ids],
        )
        return con.execute("SELECT count(*) FROM optouts").fetchone()[0] - before


def remove_optouts(settings, ids: list[str], *, channel: str | None = None) -> int:
    ids = [_norm(i) for i in ids if i.strip()]
    if not ids:
        raise UsageError(_('give at least one member id, external_userid or phone'))
    with open_store(settings) as con:
        before = con.execute("SELECT count(*) FROM optouts").fetchone()[0]
        if channel:
            _check_channel(channel)
            con.execute("DELETE FROM optouts WHERE member_id IN (SELECT unnest(?::VARCHAR[])) AND channel = ?", [ids, channel])
        else:
            con.execute("DELETE FROM optouts WHERE member_id IN (SELECT unnest(?::VARCHAR[]))", [ids])
        return before - con.execute("SELECT count(*) FROM optouts").fetchone()[0]


def list_optouts(settings, *, channel: str | None = None) -> list[dict]:
    with open_store(settings, read_only=True) as con:
        sql = "SELECT member_id, channel, reason, source, created_at FROM optouts"
        params = []
        if channel:
            sql += " WHERE channel = ?"
            params.append(_check_channel(channel))
        cur = con.execute(sql + " ORDER BY created_at, member_id", params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


def import_optouts(settings, path: Path, *, channel: str = "all", reason: str | None = None) -> dict:
    """Import a CSV/text file: first column (or a column named member_id / external_userid / phone / 手机号)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(_('{path}: no such file').format(path=path)) from None
    except UnicodeDecodeError:
        try:
            text = Path(path).read_text(encoding="gb18030")
        except UnicodeDecodeError:
            raise DataError(_('{path}: neither UTF-8 nor GB18030 text').format(path=path)) from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise DataError(_('{path}: empty file').format(path=path))
    col = 0
    header = [h.strip().lower() for h in rows[0]]
    names = ("member_id", "external_userid", "phone", "手机号", "会员id", "客户id", "id")
    body = rows
    for i, h in enumerate(header):
        if h in names:
            col, body = i, rows[1:]
            break
    ids = [r[col] for r in body if len(r) > col and r[col].strip() and not r[col].startswith("#")]
    if not ids:
        raise DataError(_('{path}: no ids found').format(path=path))
    added = add_optouts(settings, ids, channel=channel, reason=reason, source="import")
    return {"read": len(ids), "added": added, "already": len(set(_norm(i) for i in ids)) - added}
