"""The sandbox's corp tag library: ``get_corp_tag_list``, ``add_corp_tag``, ``mark_tag`` (WECOM.md §4.3, §11).

A mixin of SandboxState. Rules modelled:

- at most ``tag_limit`` (3,000) tags in the library; group and tag names ≤ 30 characters (40072);
- ``add_corp_tag`` with an existing ``group_name`` adds to that group, ``group_id`` wins over
  ``group_name``, a duplicate name in the group answers 40071, a group with no tags is refused;
- ``mark_tag``: add and remove cannot both be empty; the customer must be a live contact of
  ``userid`` (84061); unknown tag ids answer 40068; a customer may carry several tags of one group;
- an app may edit only tags it created (``app_created``): seeded tags are the corp's own.

Every ``mark_tag`` call that changed something is counted in ``counters["mark_tag"]``.
"""

from __future__ import annotations

import hashlib

from siyu_cli.sandbox.wire import err, ok

TAG_LIMIT = 3000
NAME_LIMIT = 30


def _tag_id(prefix: str, *parts: str) -> str:
    return prefix + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


class TagsAPI:
    """Mixin: the corp tag library and each relation's tags."""

    tag_limit = TAG_LIMIT

    def _init_tags(self) -> None:
        self.tag_groups: dict[str, dict] = {}  # group_id -> {"group_name", "create_time", "order", "app_created"}
        self.corp_tags: dict[str, dict] = {}  # tag_id -> {"name", "group_id", "create_time", "order", "app_created"}
        self.relation_tags: dict[tuple[str, str], set[str]] = {}  # (external_userid, userid) -> tag ids

    def seed_tag(self, group_name: str, name: str, *, app_created: bool = False) -> str:
        """A tag the corp created in the admin console (not editable by siyu's app); returns its id."""
        with self.lock:
            gid = self._group(group_name, app_created)
            for tid, t in self.corp_tags.items():
                if t["group_id"] == gid and t["name"] == name:
                    return tid
            tid = _tag_id("et", gid, name)
            self.corp_tags[tid] = {"name": name, "group_id": gid, "create_time": int(self.clock()), "order": 0,
                                   "app_created": app_created}
            return tid

    def _group(self, group_name: str, app_created: bool) -> str:
        for gid, g in self.tag_groups.items():
            if g["group_name"] == group_name:
                return gid
        gid = _tag_id("et", "group", group_name)
        self.tag_groups[gid] = {"group_name": group_name, "create_time": int(self.clock()), "order": 0,
                                "app_created": app_created}
        return gid

    def tag_relation(self, external_userid: str, userid: str, tag_id: str) -> None:
        with self.lock:
            self.relation_tags.setdefault((external_userid, userid), set()).add(tag_id)

    def tags_of(self, external_userid: str, userid: str) -> set[str]:
        with self.lock:
            return set(self.relation_tags.get((external_userid, userid), ()))

    def tag_names_of(self, external_userid: str, userid: str, group_name: str | None = None) -> list[str]:
        """Tag names on one relation (optionally of one group), sorted: for tests and the CLI."""
        with self.lock:
            out = []
            for tid in self.relation_tags.get((external_userid, userid), ()):
                t = self.corp_tags[tid]
                if group_name is None or self.tag_groups[t["group_id"]]["group_name"] == group_name:
                    out.append(t["name"])
            return sorted(out)

    # ------------------------------------------------------------------ endpoints
    def get_corp_tag_list(self, query: dict, body: dict) -> dict:
        tag_ids = body.get("tag_id") or []
        group_ids = body.get("group_id") or []
        filtered = bool(tag_ids or group_ids)
        out = []
        for gid, g in self.tag_groups.items():
            if group_ids and gid not in group_ids:
                continue
            tags = [{"id": tid, "name": t["name"], "create_time": t["create_time"], "order": t["order"]}
                    for tid, t in self.corp_tags.items() if t["group_id"] == gid
                    and (group_ids or not tag_ids or tid in tag_ids)]
            if tag_ids and not group_ids and not tags:
                continue
            row = {"group_id": gid, "group_name": g["group_name"], "create_time": g["create_time"],
                   "order": g["order"], "tag": tags}
            if filtered:
                row["deleted"] = False
                for t in tags:
                    t["deleted"] = False
            out.append(row)
        return ok(tag_group=out)

    def add_corp_tag(self, query: dict, body: dict) -> dict:
        tags = body.get("tag")
        if not isinstance(tags, list) or not tags:
            return err(40058, "tag is required (a group with no tags is refused)")
        names = list(dict.fromkeys(str((t or {}).get("name") or "") for t in tags))
        if any(not n for n in names):
            return err(40058, "tag name is required")
        if any(len(n) > NAME_LIMIT for n in names):
            return err(40072)
        gid = body.get("group_id")
        if gid:
            if gid not in self.tag_groups:
                return err(40068, "unknown group_id")
        else:
            group_name = str(body.get("group_name") or "")
            if not group_name:
                return err(40058, "group_id or group_name is required")
            if len(group_name) > NAME_LIMIT:
                return err(40072)
            gid = next((g for g, v in self.tag_groups.items() if v["group_name"] == group_name), None)
        existing = {t["name"] for t in self.corp_tags.values() if t["group_id"] == gid} if gid else set()
        if existing & set(names):
            return err(40071)
        if len(self.corp_tags) + len(names) > self.tag_limit:
            return err(40058, f"tag library full ({self.tag_limit} tags)")
        if gid is None:
            gid = self._group(str(body["group_name"]), True)
            self.tag_groups[gid]["order"] = int(body.get("order") or 0)
        now = int(self.clock())
        created = []
        for t, name in zip(tags, names):
            tid = _tag_id("et", gid, name, str(now))
            self.corp_tags[tid] = {"name": name, "group_id": gid, "create_time": now,
                                   "order": int((t or {}).get("order") or 0), "app_created": True}
            created.append({"id": tid, "name": name, "create_time": now, "order": self.corp_tags[tid]["order"]})
        self.counters["add_corp_tag"] = self.counters.get("add_corp_tag", 0) + 1
        g = self.tag_groups[gid]
        return ok(tag_group={"group_id": gid, "group_name": g["group_name"], "create_time": g["create_time"],
                             "order": g["order"], "tag": created})

    def mark_tag(self, query: dict, body: dict) -> dict:
        userid, ext = body.get("userid"), body.get("external_userid")
        add = list(body.get("add_tag") or [])
        remove = list(body.get("remove_tag") or [])
        if not add and not remove:
            return err(40058, "add_tag and remove_tag cannot both be empty")
        if not userid or userid not in self.staff:
            return err(40003)
        c = self.contacts.get(ext or "")
        if c is None or userid not in c["followers"] or (ext, userid) in self.removed:
            return err(84061)
        if any(t not in self.corp_tags for t in add + remove):
            return err(40068)
        have = self.relation_tags.setdefault((ext, userid), set())
        have.update(add)
        have.difference_update(t for t in remove if t not in add)
        self.counters["mark_tag"] = self.counters.get("mark_tag", 0) + 1
        return ok()
