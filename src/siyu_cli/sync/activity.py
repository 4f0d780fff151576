"""Guide and group activity per day, for the days not yet stored (WeCom keeps about 180 days).

``get_user_behavior_data`` is called once per guide per ≤30-day window (several userids in one call
come back as one combined series); ``groupchat/statistic`` once per day per ≤100 owners. Only days
after the last stored one are fetched, up to yesterday (today is not complete), at most ``days`` back
on the first run (default 30, at most 180).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

DEFAULT_DAYS = 30
KEEP_DAYS = 179
WINDOW = 30
BEHAVIOR_COLS = ("new_apply_cnt", "new_contact_cnt", "chat_cnt", "message_cnt", "reply_percentage", "avg_reply_time",
                 "negative_feedback_cnt")
GROUP_COLS = ("new_chat_cnt", "chat_total", "chat_has_msg", "new_member_cnt", "member_total", "member_has_msg",
              "msg_total")


def _midnight(day: dt.date, tz: ZoneInfo) -> int:
    return int(dt.datetime.combine(day, dt.time(), tz).timestamp())


def sync_activity(settings, client, guides: list[str], *, days: int | None = None,
                  today: dt.date | None = None) -> dict[str, int]:
    """Fetch and store the missing days; returns {"behavior_days": rows, "group_stat_days": rows}."""
    from siyu_cli.store import open_store

    tz = ZoneInfo(settings.timezone)
    today = today or dt.datetime.now(tz).date()
    last_day = today - dt.timedelta(days=1)
    first_allowed = today - dt.timedelta(days=min(KEEP_DAYS, days or DEFAULT_DAYS))
    with open_store(settings, read_only=True) as con:
        have = dict(con.execute("SELECT userid, max(day) FROM wecom_behavior GROUP BY 1").fetchall())
        have_groups = con.execute("SELECT max(day) FROM wecom_group_stats").fetchone()[0]
    now = dt.datetime.now(dt.timezone.utc)
    behavior: list[list] = []
    for userid in guides:
        start = max(first_allowed, have[userid] + dt.timedelta(days=1)) if userid in have else first_allowed
        while start <= last_day:
            end = min(last_day, start + dt.timedelta(days=WINDOW - 1))
            for r in client.get_user_behavior_data(userid, _midnight(start, tz), _midnight(end, tz)):
                day = dt.datetime.fromtimestamp(int(r["stat_time"]), tz).date()
                behavior.append([userid, day, *[r.get(c) for c in BEHAVIOR_COLS], now])
            start = end + dt.timedelta(days=1)
    groups: list[list] = []
    day = max(first_allowed, have_groups + dt.timedelta(days=1)) if have_groups else first_allowed
    while day <= last_day:
        for i in range(0, len(guides), 100):
            for item in client.groupchat_statistic(guides[i:i + 100], _midnight(day, tz)):
                data = item.get("data") or {}
                groups.append([item["owner"], day, *[data.get(c) for c in GROUP_COLS], now])
        day += dt.timedelta(days=1)
    with open_store(settings) as con:
        if behavior:
            con.executemany(f"INSERT OR REPLACE INTO wecom_behavior (userid, day, {', '.join(BEHAVIOR_COLS)}, fetched_at) "
                            f"VALUES ({', '.join('?' * (len(BEHAVIOR_COLS) + 3))})", behavior)
        if groups:
            con.executemany(f"INSERT OR REPLACE INTO wecom_group_stats (owner, day, {', '.join(GROUP_COLS)}, fetched_at) "
                            f"VALUES ({', '.join('?' * (len(GROUP_COLS) + 3))})", groups)
    return {"behavior_days": len(behavior), "group_stat_days": len(groups)}
