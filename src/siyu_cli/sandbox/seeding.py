"""Seeding a corp: synthetic (deterministic) or from the workspace store (read-only).

A mixin of :class:`~siyu_cli.sandbox.state.SandboxState`, which holds the corp's data and the lock
(split out of state.py by API area; behaviour unchanged).
"""

from __future__ import annotations



class SeedingMixin:
    """Mixin: seeding a corp: synthetic (deterministic) or from the workspace store (read-only)."""

    def seed_synthetic(self, *, staff: int = 3, customers: int = 30, groups: int = 3) -> None:
        """A small deterministic corp: guide01.., wmsandbox0001.., every 5th customer with two followers."""
        guides = [f"guide{i:02d}" for i in range(1, staff + 1)]
        for i, g in enumerate(guides, 1):
            self.add_staff(g, f"导购{i}")
        for i in range(1, customers + 1):
            ext = f"wmsandbox{i:04d}"
            self.add_contact(ext, guides[(i - 1) % staff], name=f"客户{i}", added_at=1_700_000_000 + i)
            if i % 5 == 0 and staff > 1:
                self.add_contact(ext, guides[i % staff], added_at=1_700_100_000 + i, last=True)
        level = [self.seed_tag("客户等级", n) for n in ("高", "中", "低")]  # the corp's own tags (not siyu's)
        for i in range(1, customers + 1):
            ext = f"wmsandbox{i:04d}"
            # every 3rd customer has a unionid, every 4th a phone in the guide's remark
            self.set_contact_details(ext, unionid=f"oSandboxUnion{i:04d}" if i % 3 == 0 else None,
                                     gender=1 + i % 2)
            for userid in self.contacts[ext]["followers"]:
                self.set_relation_details(ext, userid, remark=f"客户{i}", state="store-qr" if i % 2 else None,
                                          remark_mobiles=[f"1380000{i:04d}"] if i % 4 == 0 else [])
                self.tag_relation(ext, userid, level[i % 3])
        for j in range(1, groups + 1):
            owner = guides[(j - 1) % staff]
            members = [f"wmsandbox{i:04d}" for i in range(j, customers + 1, groups)]
            self.add_group(f"wrsandbox{j:02d}", owner, name=f"社群{j}", members=members)

    def seed_from_store(self, settings) -> dict:
        """Staff, contacts and groups from the workspace store (read-only)."""
        from siyu_cli.store import open_store

        with open_store(settings, read_only=True) as con:
            staff = con.execute("SELECT userid, name FROM staff").fetchall()
            contacts = con.execute(
                """SELECT c.external_userid, c.staff_userid, epoch(c.added_at), m.guide_userid, m.name
                   FROM wecom_contacts c LEFT JOIN members m ON m.member_id = c.member_id
                   ORDER BY c.external_userid, c.added_at NULLS FIRST"""
            ).fetchall()
            orphans = con.execute(
                """SELECT m.external_userid, m.guide_userid, epoch(m.join_at), m.name FROM members m
                   WHERE m.external_userid IS NOT NULL AND m.guide_userid IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM wecom_contacts c WHERE c.external_userid = m.external_userid)"""
            ).fetchall()
            groups = con.execute("SELECT group_id, name, owner_userid FROM groups WHERE owner_userid IS NOT NULL").fetchall()
            gm = con.execute("SELECT group_id, external_userid FROM group_members ORDER BY group_id, joined_at").fetchall()
        with self.lock:
            for userid, name in staff:
                self.add_staff(userid, name)
            for ext, userid, added, _guide, name in contacts:
                # ordered by added_at: the newest follower ends up "last interacting" by default
                self.add_contact(ext, userid, name=name, added_at=float(added) if added is not None else 0.0,
                                 last=True)
            for ext, userid, _added, guide, _name in contacts:
                # the member's own guide, when a follower, is the one who last interacted
                if guide and guide in self.contacts[ext]["followers"]:
                    self.contacts[ext]["last"] = guide
            for ext, userid, joined, name in orphans:
                self.add_contact(ext, userid, name=name, added_at=float(joined) if joined is not None else 0.0)
            members: dict[str, list[str]] = {}
            for gid, ext in gm:
                members.setdefault(gid, []).append(ext)
            for gid, name, owner in groups:
                self.add_group(gid, owner, name=name, members=members.get(gid, []))
        return {"staff": len(self.staff), "contacts": len(self.contacts), "groups": len(self.groups)}
