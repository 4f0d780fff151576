"""Staff, customers and groups as the mass-send model sees them, and the read endpoints over them.

A mixin of :class:`~siyu_cli.sandbox.state.SandboxState`, which holds the corp's data and the lock
(split out of state.py by API area; behaviour unchanged).
"""

from __future__ import annotations

from typing import Any

from siyu_cli.sandbox.wire import err, ok, paged_ok


class DirectoryAPI:
    """Mixin: staff, customers and groups, and follow users, user/get, externalcontact/list|get, groupchat/list|get."""

    # ------------------------------------------------------------------ seeding
    def add_staff(self, userid: str, name: str | None = None) -> None:
        with self.lock:
            self.staff.setdefault(userid, name or userid)

    def add_contact(self, external_userid: str, userid: str, *, name: str | None = None,
                    added_at: float | None = None, last: bool = False, refriend: bool = False) -> None:
        with self.lock:
            self.add_staff(userid)
            c = self.contacts.setdefault(external_userid, {"name": name or external_userid, "followers": {}, "last": None})
            c["followers"][userid] = added_at if added_at is not None else self.clock()
            if refriend:  # added again after being deleted (a restored sandbox keeps deletions otherwise)
                self.removed.discard((external_userid, userid))
                self.deleted_by_customer.discard((external_userid, userid))
            if last or c["last"] is None:
                c["last"] = userid
            self.contacts_changed()

    def set_last_interaction(self, external_userid: str, userid: str) -> None:
        with self.lock:
            self.contacts[external_userid]["last"] = userid

    def remove_friend(self, external_userid: str, userid: str, by: str = "guide") -> None:
        """A relation ends; later mass sends to it fail with status 2.

        ``by="guide"``: the guide removed the customer (WeCom's ``del_external_contact``): the relation is gone
        from every list. ``by="customer"``: the customer deleted the guide (``del_follow_user``): WeCom keeps
        listing it on the guide's side (one-way) and only the callback and failing sends tell.
        """
        if by not in ("guide", "customer"):
            raise ValueError("by must be guide or customer")
        with self.lock:
            if by == "guide":
                self.removed.add((external_userid, userid))
            else:
                self.deleted_by_customer.add((external_userid, userid))
            self.callback_events.append({
                "Event": "change_external_contact", "UserID": userid, "ExternalUserID": external_userid,
                "ChangeType": "del_external_contact" if by == "guide" else "del_follow_user",
                "CreateTime": int(self.clock())})
            self.contacts_changed()

    def add_group(self, chat_id: str, owner: str, *, name: str | None = None, members: list[str] | None = None) -> None:
        with self.lock:
            self.add_staff(owner)
            self.groups[chat_id] = {"name": name or chat_id, "owner": owner, "members": list(members or []),
                                    "create_time": int(self.clock())}

    def get_follow_user_list(self, query: dict, body: Any) -> dict:
        users = sorted({u for c in self.contacts.values() for u in c["followers"]})
        return ok(follow_user=users)

    def user_get(self, query: dict, body: Any) -> dict:
        """通讯录 user/get: a staff member's name (when the app may read the directory)."""
        if self.user_read_errcode:
            return err(self.user_read_errcode)
        userid = query.get("userid")
        if not userid or userid not in self.staff:
            return err(60111, f"userid not found: {userid}")
        return ok(userid=userid, name=self.staff[userid], status=1)

    def externalcontact_list(self, query: dict, body: Any) -> dict:
        userid = query.get("userid")
        if not userid or userid not in self.staff:
            return err(40003)
        ids = [e for e, c in self.contacts.items() if userid in c["followers"] and (e, userid) not in self.removed]
        return ok(external_userid=ids)

    def externalcontact_get(self, query: dict, body: Any) -> dict:
        ext = query.get("external_userid")
        c = self.contacts.get(ext or "")
        if c is None:
            return err(40096)
        follow = [{"userid": u, "remark": "", "description": "", "createtime": int(t), "tags": [], "add_way": 1}
                  for u, t in c["followers"].items() if (ext, u) not in self.removed]
        return ok(external_contact={"external_userid": ext, "name": c["name"], "type": 1, "gender": 0},
                  follow_user=follow, next_cursor="")

    def groupchat_list(self, query: dict, body: dict) -> dict:
        try:
            limit = int(body.get("limit"))
        except (TypeError, ValueError):
            return err(40058, "limit is required (1..1000)")
        if not 1 <= limit <= 1000:
            return err(40058, "limit must be 1..1000")
        owners = (body.get("owner_filter") or {}).get("userid_list")
        if owners is not None and len(owners) > 100:
            return err(40058, "owner_filter.userid_list over 100")
        status_filter = int(body.get("status_filter") or 0)
        rows = [{"chat_id": cid, "status": 0} for cid, g in self.groups.items()
                if (not owners or g["owner"] in owners) and status_filter == 0]
        return paged_ok(rows, body, "group_chat_list", default=limit, maximum=1000)

    def groupchat_get(self, query: dict, body: dict) -> dict:
        cid = body.get("chat_id")
        g = self.groups.get(cid or "")
        if g is None:
            return err(40050)
        members = [{"userid": g["owner"], "type": 1, "join_time": g["create_time"], "join_scene": 1}]
        joined = g.get("joined", {})
        for ext in g["members"]:
            row = {"userid": ext, "type": 2, "join_time": joined.get(ext, g["create_time"]),
                   "join_scene": 2 if ext in joined else 1, "invitor": {"userid": g["owner"]}}
            unionid = self.contact_details.get(ext, {}).get("unionid")
            if unionid:
                row["unionid"] = unionid
            if body.get("need_name"):
                row["name"] = self.contacts.get(ext, {}).get("name", ext)
            members.append(row)
        return ok(group_chat={"chat_id": cid, "name": g["name"], "owner": g["owner"], "create_time": g["create_time"],
                              "notice": "", "member_list": members, "admin_list": [], "member_version": "1"})
