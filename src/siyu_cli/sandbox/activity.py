"""The sandbox's guide and group activity statistics (WECOM.md §11).

``get_user_behavior_data``: a closed day range of at most 30 days within the last 180, times
floored to 00:00 local time; several userids in one call return ONE combined series (so
per-guide figures need a call per guide); ``reply_percentage`` / ``avg_reply_time`` appear only
on days with chats. ``groupchat/statistic``: per group owner over a day range, ``owner_filter``
of at most 100 userids (81017 beyond), offset/limit paging.

Figures are deterministic functions of (userid, day) so two runs, and tests, agree.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from siyu_cli.sandbox.wire import err, ok

DAY = 86400
MAX_DAYS = 30
KEEP_DAYS = 180


def _n(*parts: object, mod: int) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16) % mod


class ActivityAPI:
    """Mixin: per-guide behaviour data and per-owner group statistics."""

    def _day_floor(self, ts: int) -> int:
        d = dt.datetime.fromtimestamp(ts, self.tz)
        return int(d.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())

    def _days(self, start, end) -> tuple[list[int] | None, dict | None]:
        try:
            start, end = self._day_floor(int(start)), self._day_floor(int(end))
        except (TypeError, ValueError):
            return None, err(40058, "start_time and end_time are required")
        today = self._day_floor(int(self.clock()))
        if end < start or (end - start) // DAY + 1 > MAX_DAYS:
            return None, err(40058, f"the range must be at most {MAX_DAYS} days")
        if start < today - KEEP_DAYS * DAY or end > today:
            return None, err(40058, f"only the last {KEEP_DAYS} days are kept")
        days, t = [], start
        while t <= end:
            days.append(t)
            t = self._day_floor(t + DAY + 3600)  # DST-proof step to the next local midnight
        return days, None

    def behavior_for(self, userid: str, day: int) -> dict:
        chats = _n("chat", userid, day, mod=12)
        row = {"stat_time": day, "new_apply_cnt": _n("apply", userid, day, mod=6),
               "new_contact_cnt": _n("new", userid, day, mod=5), "chat_cnt": chats,
               "message_cnt": chats * (1 + _n("msg", userid, day, mod=6)),
               "negative_feedback_cnt": _n("neg", userid, day, mod=3)}
        if chats:
            row["reply_percentage"] = 50 + _n("reply", userid, day, mod=51)
            row["avg_reply_time"] = 1 + _n("avg", userid, day, mod=30)
        return row

    def get_user_behavior_data(self, query: dict, body: dict) -> dict:
        userids = body.get("userid") or []
        if not isinstance(userids, list) or not userids:
            return err(40058, "userid is required")
        if any(u not in self.staff for u in userids):
            return err(40003)
        days, e = self._days(body.get("start_time"), body.get("end_time"))
        if e:
            return e
        out = []
        for day in days:
            rows = [self.behavior_for(u, day) for u in userids]
            total = {"stat_time": day}
            for key in ("new_apply_cnt", "new_contact_cnt", "chat_cnt", "message_cnt", "negative_feedback_cnt"):
                total[key] = sum(r[key] for r in rows)
            with_chats = [r for r in rows if r["chat_cnt"]]
            if with_chats:  # one combined series: WeCom does not say how it combines; a chat-weighted mean here
                w = sum(r["chat_cnt"] for r in with_chats)
                total["reply_percentage"] = round(sum(r["reply_percentage"] * r["chat_cnt"] for r in with_chats) / w, 2)
                total["avg_reply_time"] = round(sum(r["avg_reply_time"] * r["chat_cnt"] for r in with_chats) / w)
            out.append(total)
        return ok(behavior_data=out)

    def group_stat_for(self, owner: str, day: int) -> dict:
        chats = sum(1 for g in self.groups.values() if g["owner"] == owner)
        members = sum(len(g["members"]) for g in self.groups.values() if g["owner"] == owner)
        active = min(members, _n("active", owner, day, mod=max(members, 1) + 1))
        return {"new_chat_cnt": _n("newchat", owner, day, mod=2), "chat_total": chats,
                "chat_has_msg": min(chats, _n("chatmsg", owner, day, mod=chats + 1)),
                "new_member_cnt": _n("newmem", owner, day, mod=4), "member_total": members,
                "member_has_msg": active, "msg_total": active * (1 + _n("msgs", owner, day, mod=5)),
                "migrate_trainee_chat_cnt": 0}

    def groupchat_statistic(self, query: dict, body: dict) -> dict:
        owners = (body.get("owner_filter") or {}).get("userid_list")
        if not isinstance(owners, list) or not owners:
            return err(40058, "owner_filter.userid_list is required")
        if len(owners) > 100:
            return err(81017)
        begin = body.get("day_begin_time")
        days, e = self._days(begin, body.get("day_end_time") or begin)
        if e:
            return e
        try:
            offset, limit = int(body.get("offset") or 0), int(body.get("limit") or 500)
        except (TypeError, ValueError):
            return err(40058, "offset/limit")
        limit = min(max(limit, 1), 1000)
        items = []
        for owner in sorted(set(owners)):
            if owner not in self.staff:
                continue
            per_day = [self.group_stat_for(owner, d) for d in days]
            data = {k: sum(p[k] for p in per_day) for k in per_day[0]}
            data["chat_total"] = per_day[-1]["chat_total"]  # totals are as of the last day
            data["member_total"] = per_day[-1]["member_total"]
            items.append({"owner": owner, "data": data})
        chunk = items[offset:offset + limit]
        nxt = offset + limit if offset + limit < len(items) else 0
        return ok(total=len(items), next_offset=nxt, items=chunk)
