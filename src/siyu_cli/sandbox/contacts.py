"""The sandbox's customer-contact API beyond mass sends: ``batch/get_by_user`` and relation changes.

A mixin of :class:`~siyu_cli.sandbox.state.SandboxState` (which holds ``contacts``,
``removed``, ``groups``, ``staff`` and the lock). Shapes and limits follow WECOM.md §4.2/§11:

- ``userid_list`` is required and holds at most 100 userids (40058 beyond, and for the old
  single ``userid`` parameter); ``limit`` defaults to 50 and clamps to 100; the cursor is opaque;
- one item per (customer, requested guide) pair, each with that guide's ``follow_info``;
- relations a guide removed (``removed``) are not returned; ones a customer deleted
  (``deleted_by_customer``) still are, one-way, as on WeCom (see ``remove_friend``).

Per-contact details (unionid, gender, type) and per-relation details (remark, description,
remark_mobiles, add_way, state, oper_userid) live in ``contact_details`` / ``relation_details`` so
the mass-send model in state.py stays as it was.
"""

from __future__ import annotations

from typing import Any

from siyu_cli.sandbox.wire import err, ok, page


class ContactsAPI:
    """Mixin: customers with every follow_user relation, and relation changes between syncs."""

    def _init_contacts(self) -> None:
        self.contact_details: dict[str, dict] = {}  # external_userid -> {"unionid", "gender", "type", "corp_name"}
        self.relation_details: dict[tuple[str, str], dict] = {}  # (ext, userid) -> follow_info fields
        self._by_guide: dict[str, list[str]] | None = None  # userid -> sorted external_userids (cache)

    def contacts_changed(self) -> None:
        """Drop the per-guide index (any add/remove of a relation calls this)."""
        self._by_guide = None

    def _guide_index(self) -> dict[str, list[str]]:
        if self._by_guide is None:
            idx: dict[str, list[str]] = {}
            for ext in sorted(self.contacts):
                for userid in self.contacts[ext]["followers"]:
                    if (ext, userid) not in self.removed:
                        idx.setdefault(userid, []).append(ext)
            self._by_guide = idx
        return self._by_guide

    def set_contact_details(self, external_userid: str, **details: Any) -> None:
        with self.lock:
            self.contact_details.setdefault(external_userid, {}).update(
                {k: v for k, v in details.items() if v is not None})

    def set_relation_details(self, external_userid: str, userid: str, **details: Any) -> None:
        with self.lock:
            self.relation_details.setdefault((external_userid, userid), {}).update(
                {k: v for k, v in details.items() if v is not None})

    def live_relations(self) -> set[tuple[str, str]]:
        """(external_userid, userid) pairs that are friends now (what a full sync must end with)."""
        with self.lock:
            return {(e, u) for e, c in self.contacts.items() for u in c["followers"] if (e, u) not in self.removed}

    def join_group(self, chat_id: str, external_userid: str) -> None:
        with self.lock:
            g = self.groups[chat_id]
            if external_userid not in g["members"]:
                g["members"].append(external_userid)
                g.setdefault("joined", {})[external_userid] = int(self.clock())

    def leave_group(self, chat_id: str, external_userid: str) -> None:
        with self.lock:
            g = self.groups[chat_id]
            if external_userid in g["members"]:
                g["members"].remove(external_userid)

    # ------------------------------------------------------------------ endpoints
    def batch_get_by_user(self, query: dict, body: dict) -> dict:
        userids = body.get("userid_list")
        if userids is None:
            return err(40058, "userid_list is required (the single 'userid' parameter is gone)")
        if not isinstance(userids, list) or not userids:
            return err(40058, "userid_list must be a non-empty list")
        if len(userids) > 100:
            return err(40058, "userid_list over 100")
        known = [u for u in dict.fromkeys(userids) if u in self.staff]
        if not known:
            return err(40003)
        idx = self._guide_index()
        pairs = [(ext, u) for u in known for ext in idx.get(u, [])]
        chunk, nxt = page(pairs, body, default=50, maximum=100)
        if chunk is None:
            return err(40058, "invalid cursor")
        items = []
        for ext, userid in chunk:
            c = self.contacts[ext]
            d = self.contact_details.get(ext, {})
            contact = {"external_userid": ext, "name": c["name"], "type": d.get("type", 1),
                       "gender": d.get("gender", 0), "avatar": ""}
            if d.get("unionid"):
                contact["unionid"] = d["unionid"]
            if d.get("corp_name"):
                contact["corp_name"] = d["corp_name"]
            r = self.relation_details.get((ext, userid), {})
            follow = {"userid": userid, "remark": r.get("remark", ""), "description": r.get("description", ""),
                      "createtime": int(c["followers"][userid] or 0),
                      "tag_id": sorted(self.relation_tags.get((ext, userid), ())),
                      "remark_corp_name": "", "remark_mobiles": list(r.get("remark_mobiles", [])),
                      "oper_userid": r.get("oper_userid", userid), "add_way": r.get("add_way", 1)}
            if r.get("state"):
                follow["state"] = r["state"]
            items.append({"external_contact": contact, "follow_info": follow})
        return ok(external_contact_list=items, next_cursor=nxt)
