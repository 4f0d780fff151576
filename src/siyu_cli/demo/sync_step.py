"""The demo's `siyu sync wecom` step: contacts come from the (sandbox) API, as on a real corp.

The sandbox is seeded from the generator's world — every customer × guide relation with the
customer's unionid and, where the guide noted it, the phone in ``remark_mobiles``; the groups with
their members — and `sync_wecom` pulls it into the store. Customers link to the members the load
step made from the 有赞 and mini-program member exports and the order exports, by unionid (the
mini-program export carries it) and by remark phone; the step checks those links, and the sync's
counts of them, against the generator's truth. The console's customer
export (wecom_customers.csv, which on a real corp has no external_userid) is loaded afterwards, as an
operator would for its tag columns, and must not change the member count.
"""

from __future__ import annotations

from typing import Any

#: exports the demo takes from the API instead of the load step (loaded after the sync)
API_FILES = ("wecom_customers.csv",)


def seed_sandbox(server, data) -> None:
    """Relations, unionids, remark phones and groups of the demo world into a sandbox with seed="none"."""
    st = server.state
    people = data.people
    for p in people:
        for k, guide in enumerate(p.wecom_guides):
            st.add_contact(p.external_userid, guide, name=p.nickname or p.name,
                           added_at=p.join_at.timestamp() + k * 86400, last=(k == 0))
            st.set_relation_details(p.external_userid, guide, remark=p.name,
                                    remark_mobiles=[p.phone] if p.remark_phone else [], state=p.channel)
        if p.wecom_guides:
            st.set_contact_details(p.external_userid, unionid=p.unionid)
    for g in data.groups:
        st.add_group(g.chat_id, g.owner, name=g.name, members=[people[i].external_userid for i, *_ in g.members])
        st.groups[g.chat_id]["create_time"] = int(g.created_at.timestamp())
        st.groups[g.chat_id]["joined"] = {people[i].external_userid: int(j.timestamp()) for i, j, *_ in g.members}


def check_links(settings, data, linked: dict[str, int] | None = None) -> str:
    """Customers link to the members the generator knows they are; the sync's counts are the generator's.

    By unionid: a customer whose unionid is a mini-program member's is that member — checked through
    the mini-program's member number, not the unionid the link used. By remark phone: a customer who
    is a 有赞 member and whose guide noted the phone is the member with that phone.
    """
    from siyu_cli.store import open_store
    from siyu_cli.sync.linking import linked_to

    people = [p for p in data.people if p.wecom_guides]
    by_union = [(p.external_userid, p.miniprogram_id) for p in people if p.unionid and p.miniprogram_unionid == p.unionid]
    by_phone = [(p.external_userid, p.phone) for p in people if p.youzan_member and p.remark_phone]
    with open_store(settings, read_only=True) as con:
        wrong = len(by_union) - len(linked_to(con, by_union, "source_member_id"))
        wrong += len(by_phone) - len(linked_to(con, by_phone, "phone"))
    if wrong:
        return f"{wrong} of {len(by_union) + len(by_phone)} not linked to their member"
    exp = data.expected()
    want = {"linked_by_unionid": exp["wecom_linked_by_unionid"], "linked_by_phone": exp["wecom_linked_by_phone"]}
    diffs = [f"{k} {linked.get(k, 0):,}≠{v:,}" for k, v in want.items() if linked is not None and linked.get(k, 0) != v]
    if diffs:
        return "counts differ: " + ", ".join(diffs)
    return f"ok ({len(by_union)} by unionid, {len(by_phone)} by remark phone)"


def step_sync(ctx) -> dict[str, Any]:
    """Sync contacts and groups from a sandbox seeded with the demo world; check links; then load the console export."""
    from siyu_cli.demo.context import _environ
    from siyu_cli.demo.truth import compare_with_truth
    from siyu_cli.ingest import load_files
    from siyu_cli.sandbox import SandboxServer
    from siyu_cli.store import open_store
    from siyu_cli.sync.wecom import sync_wecom

    wecom = ctx.settings.section("wecom") if ctx.settings is not None else {}
    server = SandboxServer(settings=ctx.settings, seed="none")
    seed_sandbox(server, ctx.data)
    server.start()
    try:
        env = {wecom.get("corp_id_env", "WECOM_CORP_ID"): server.corp_id,
               wecom.get("secret_env", "WECOM_SECRET"): server.secret, "SIYU_WECOM_BASE_URL": server.url}
        with _environ(env):
            report = sync_wecom(ctx.settings, activity=True, activity_days=7)
    finally:
        server.stop()
    ctx.results["sync"] = report
    lk = report.linked
    summary: dict[str, Any] = {
        "relations": report.counts["contacts"]["added"] + report.counts["contacts"]["updated"]
        + report.counts["contacts"]["unchanged"],
        "customers": lk.get("customers", 0),
        "groups": sum(report.counts["groups"][k] for k in ("added", "updated", "unchanged")),
        "linked": lk.get("linked", 0), "by unionid": lk.get("linked_by_unionid", 0),
        "by remark phone": lk.get("linked_by_phone", 0), "new members": lk.get("new_members", 0),
        "api calls": report.calls, "links": check_links(ctx.settings, ctx.data, lk),
    }
    with open_store(ctx.settings, read_only=True) as con:
        before = con.execute("SELECT count(*) FROM members").fetchone()[0]
    paths = [f.path for f in ctx.data.files if f.path.name in API_FILES]
    if paths:
        loaded = load_files(ctx.settings, "members", paths, preset="auto", max_rejects=None)
        summary["export rows"] = int(loaded.read)
        with open_store(ctx.settings, read_only=True) as con:
            after = con.execute("SELECT count(*) FROM members").fetchone()[0]
        summary["export new members"] = after - before  # the export's people are the synced customers: 0
    summary["ground truth"] = compare_with_truth(ctx)
    return summary
