"""Store and staff dimensions: exports that name stores and guides differently give one row each.

Loads real CSV exports through `siyu load`, configures stores the way an operator does (siyu.toml and
`siyu stores …`), and reads the report's leaderboards, `store:` audiences and the unmatched lists.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from siyu_cli.config import load_settings
from siyu_cli.store import open_store

PERIOD = ("--from", "2026-01-01", "--to", "2026-03-31")

# members export: the guide by WeCom userid and name, the store by its full name
MEMBERS = """member_id,external_userid,phone,store,guide_userid,guide_name,join_at
m1,wm1,13800000001,山茶咖啡上海徐汇店,yuhui,于慧,2025-12-01 10:00:00
m2,wm2,13800000002,山茶咖啡上海徐汇店,yuhui,于慧,2025-12-02 10:00:00
m3,wm3,13800000003,山茶咖啡上海静安店,wangfang,王芳,2025-12-03 10:00:00
m4,,13800000004,静安店,,王芳,2025-12-04 10:00:00
"""
# orders export: the store by a short name or the online shop, the guide by Chinese name
ORDERS = """order_id,member_id,status,paid_at,paid_amount,store,guide_userid
o1,m1,paid,2026-01-05 12:00:00,100,徐汇店,于慧
o2,m2,paid,2026-01-06 12:00:00,200,山茶咖啡上海徐汇店,yuhui
o3,m1,paid,2026-02-06 12:00:00,40,山茶咖啡,于慧
o4,m3,paid,2026-02-07 12:00:00,300,山茶咖啡,王芳
o5,m4,paid,2026-02-08 12:00:00,50,静安店,
o6,m3,paid,2026-02-09 12:00:00,10,上海静安店,wangfang
"""
STORES_TOML = """
[stores.SH01]
name = "山茶咖啡上海静安店"
aliases = ["上海静安店", "静安店"]
[stores.SH02]
name = "山茶咖啡上海徐汇店"
aliases = ["徐汇店"]
[stores.YZ]
name = "山茶咖啡"
kind = "online"
"""


@pytest.fixture
def loaded(settings, cli, tmp_path):
    (tmp_path / "members.csv").write_text(MEMBERS, encoding="utf-8")
    (tmp_path / "orders.csv").write_text(ORDERS, encoding="utf-8")
    cli("load", "members", tmp_path / "members.csv")
    cli("load", "orders", tmp_path / "orders.csv")
    return settings


def configure(settings, text: str = STORES_TOML):
    with open(settings.config_file, "a", encoding="utf-8") as fh:
        fh.write(text)
    return load_settings(settings.root)


def boards(cli) -> dict:
    return json.loads(cli("report", *PERIOD, "--format", "json").stdout)["sections"]["leaderboards"]


def test_without_a_dimension_the_same_store_and_guide_split(loaded, cli):
    """The defect this fixes: raw values give several rows for one store and one person."""
    lb = boards(cli)
    assert {"徐汇店", "山茶咖啡上海徐汇店", "山茶咖啡"} <= {r["store"] for r in lb["store"]}


def test_two_exports_give_one_row_per_store_and_guide(loaded, cli):
    configure(loaded)
    lb = boards(cli)
    stores = {r["store"]: r for r in lb["store"]}
    assert set(stores) == {"SH01", "SH02"}  # the online shop YZ is no store
    # o3 was sold in the online shop by 于慧 (SH02's guide); o4 by 王芳 (SH01)
    assert stores["SH02"]["gmv"] == 100 + 200 + 40 and stores["SH02"]["name"] == "山茶咖啡上海徐汇店"
    assert stores["SH01"]["gmv"] == 300 + 50 + 10
    assert sum(r["gmv"] for r in lb["store"]) == 700  # every order has a store here: nothing lost
    guides = {r["guide"]: r for r in lb["guide"]}
    assert set(guides) == {"yuhui", "wangfang"}  # 于慧 and yuhui are one person; so are 王芳 and wangfang
    assert guides["yuhui"]["gmv"] == 340 and guides["yuhui"]["name"] == "于慧"
    assert guides["wangfang"]["gmv"] == 360  # o5 has no guide on the order: m4's guide (王芳) counts
    assert guides["yuhui"]["new_contacts"] == 0  # contacts were added before the period
    by_store = json.loads(cli("report", *PERIOD, "--by", "store", "--format", "json").stdout)
    assert {r["store"] for r in by_store["sections"]["breakdown"]["rows"]} == {"SH01", "SH02"}
    table = cli("report", *PERIOD).stdout
    assert "山茶咖啡上海徐汇店" in table and "于慧 (yuhui)" in table


def test_unmatched_and_suggest(loaded, cli):
    unmatched = json.loads(cli("stores", "unmatched", "--format", "json").stdout)
    assert {r["value"] for r in unmatched} == {"徐汇店", "山茶咖啡上海徐汇店", "山茶咖啡", "山茶咖啡上海静安店",
                                               "静安店", "上海静安店"}
    cli("stores", "add", "SH02", "--name", "山茶咖啡上海徐汇店")
    cli("stores", "add", "SH01", "--name", "山茶咖啡上海静安店")
    props = {p["alias"]: p for p in json.loads(cli("stores", "suggest", "--format", "json").stdout)}
    assert props["徐汇店"]["store_id"] == "SH02" and props["静安店"]["store_id"] == "SH01"
    assert props["上海静安店"]["store_id"] == "SH01"
    assert props["山茶咖啡"]["ambiguous"] and props["山茶咖啡"]["store_id"] is None  # the brand: never guessed
    # shown, not applied
    assert "徐汇店" in {r["value"] for r in json.loads(cli("stores", "unmatched", "--format", "json").stdout)}
    res = cli("stores", "suggest", "--confirm", input="y\nn\ny\n")
    assert "applied 2 alias(es)" in res.stderr
    left = {r["value"] for r in json.loads(cli("stores", "unmatched", "--format", "json").stdout)}
    assert left == {"山茶咖啡", "徐汇店"}  # proposals in value order: 上海静安店 y, 徐汇店 n, 静安店 y
    cli("stores", "add", "YZ", "--name", "山茶咖啡", "--kind", "online")
    cli("stores", "alias", "徐汇店", "山茶咖啡上海徐汇店")  # by the store's name
    assert json.loads(cli("stores", "unmatched", "--format", "json").stdout) == []
    assert {r["store"] for r in boards(cli)["store"]} == {"SH01", "SH02"}
    listed = {s["store_id"]: s for s in json.loads(cli("stores", "list", "--format", "json").stdout)}
    assert listed["YZ"]["kind"] == "online" and listed["SH02"]["source"] == "cli"


def test_alias_errors_are_one_line(loaded, cli):
    configure(loaded)
    res = cli("stores", "alias", "徐汇店", "SH01", expect=2)
    assert "already means store SH02" in res.stderr
    res = cli("stores", "alias", "虹口店", "SH09", expect=2)
    assert "no store 'SH09'" in res.stderr and "Traceback" not in res.stderr
    res = cli("staff", "alias", "慧慧", "nobody", expect=2)
    assert "no staff member 'nobody'" in res.stderr


def test_bad_store_config_is_a_config_error(loaded, cli):
    configure(loaded, '\n[stores.X]\nname = "x"\nkind = "warehouse"\n')
    res = cli("report", *PERIOD, expect=78)
    assert "stores.X.kind must be physical or online" in res.stderr


def test_ambiguous_staff_names_are_reported_not_guessed(loaded, cli, tmp_path):
    configure(loaded)
    (tmp_path / "more.csv").write_text(
        "member_id,external_userid,phone,store,guide_userid,guide_name\n"
        "m9,wm9,13800000009,静安店,wangfang2,王芳\n", encoding="utf-8")
    cli("load", "members", tmp_path / "more.csv")
    unmatched = {r["value"]: r for r in json.loads(cli("staff", "unmatched", "--format", "json").stdout)}
    assert unmatched["王芳"]["reason"] == "ambiguous: wangfang, wangfang2"
    guides = {r["guide"] for r in boards(cli)["guide"]}
    assert "王芳" in guides and "yuhui" in guides  # the ambiguous name stays itself: no one's sales are moved
    cli("staff", "alias", "王芳", "wangfang")  # the operator decides
    assert "王芳" not in {r["value"] for r in json.loads(cli("staff", "unmatched", "--format", "json").stdout)}
    guides = {r["guide"]: r for r in boards(cli)["guide"]}
    assert "王芳" not in guides and guides["wangfang"]["gmv"] == 360
    staff = json.loads(cli("staff", "list", "--format", "json").stdout)
    assert staff["ambiguous_names"] == {}
    assert next(s for s in staff["staff"] if s["userid"] == "wangfang")["aliases"] == ["王芳"]


def test_store_audience_uses_canonical_stores(loaded):
    from siyu_cli.push.audiences import resolve

    s = configure(loaded)
    with open_store(s, read_only=True) as con:
        for spec in ("store:静安店", "store:SH01", "store:山茶咖啡上海静安店"):
            aud = resolve(con, s, spec, "customer")
            assert {r[0] for r in con.execute(aud.sql, aud.params).fetchall()} == {"m3", "m4"}, spec


def test_demo_report_shows_six_stores_and_fifteen_guides(tmp_path, cli):
    from siyu_cli.demo.generator import GUIDES, ONLINE_SHOPS, STORES
    from siyu_cli.demo.runner import DEFAULT_STEPS, run_demo

    today = date(2026, 11, 30)
    root = tmp_path / "demo"
    run_demo(root, members=300, seed=5, today=today, steps=DEFAULT_STEPS[:2])  # generate + load
    lb = json.loads(cli("-w", root, "report", "--from", "2025-12-01", "--to", "2026-11-30", "--format", "json").stdout)
    lb = lb["sections"]["leaderboards"]
    assert sorted(r["store"] for r in lb["store"]) == sorted(s[0] for s in STORES)
    assert sorted(r["guide"] for r in lb["guide"]) == sorted(g[0] for g in GUIDES)  # 15, each once

    # the expected GMV by store, from the generator's own tables (not siyu's dimension code): an order's
    # store is its physical store, else its guide's store, else the buyer's home store
    by_name = {name: sid for sid, name, _ in STORES} | {name: None for _, name, _ in ONLINE_SHOPS}
    guide_store = {u: sid for u, _, sid in GUIDES} | {name: sid for _, name, sid in GUIDES}
    with open_store(load_settings(root), read_only=True) as con:
        rows = con.execute(
            """SELECT o.net_amount, o.store, o.guide_userid, m.store, m.guide_userid, m.guide_name
               FROM orders o LEFT JOIN members m USING (member_id)
               WHERE o.paid_at IS NOT NULL AND o.status IN ('paid', 'partially_refunded', 'refunded')
                 AND CAST(o.paid_at AS DATE) BETWEEN DATE '2025-12-01' AND DATE '2026-11-30'"""
        ).fetchall()
    expected: dict[str, float] = {}
    for net, store, guide, home, m_guide, m_guide_name in rows:
        sid = by_name.get(store) if store else None
        sid = sid or guide_store.get(guide or m_guide or m_guide_name or "") or by_name.get(home or "")
        if sid:
            expected[sid] = expected.get(sid, 0) + float(net)
    got = {r["store"]: r["gmv"] for r in lb["store"]}
    assert got == pytest.approx({k: round(v, 2) for k, v in expected.items()})
    assert sum(got.values()) > 0.5 * sum(float(r[0]) for r in rows)  # most online-shop orders found a store


def test_staff_aliases_from_config(loaded, cli):
    s = configure(loaded, STORES_TOML + '\n[staff.yuhui]\nname = "于慧"\naliases = ["慧慧"]\n')
    with open_store(s) as con:
        con.execute("UPDATE orders SET guide_userid = '慧慧' WHERE order_id = 'o2'")
    guides = {r["guide"]: r for r in boards(cli)["guide"]}
    assert "慧慧" not in guides and guides["yuhui"]["gmv"] == 340


def test_plan_store_filter_matches_any_name_of_the_store(loaded):
    from types import SimpleNamespace

    from siyu_cli.plan.render import resolve_targets, store_groups
    from siyu_cli.plan.schema import Targets

    s = configure(loaded)
    with open_store(s) as con:
        con.execute("INSERT INTO groups (group_id, name, store) VALUES ('g1', '徐汇群', '徐汇店'), "
                    "('g2', '静安群', '山茶咖啡上海静安店')")
    groups = store_groups(s)
    for wanted in ("SH02", "山茶咖啡上海徐汇店", "徐汇店"):
        chosen = resolve_targets(SimpleNamespace(targets=Targets(stores=(wanted,))), groups)
        assert [g.group_id for g in chosen] == ["g1"], wanted


def test_join_forms_equal_the_macros(loaded):
    """The report resolves many rows by joins on the maps; every raw value must resolve as the macros do:
    ids, names, aliases, padded values, an online shop, unknown and ambiguous values, '' and NULL."""
    from siyu_cli import dimensions as D

    settings = configure(loaded, STORES_TOML + '\n[staff.wangfang]\nstore = "静安店"\n[staff.yuhui]\nstore = "山茶咖啡"\n')
    raws = ["SH01", "山茶咖啡上海静安店", " 静安店 ", "徐汇店", "山茶咖啡", "无此店", "", " ", None,
            "yuhui", "于慧", " 王芳", "wangfang", "nobody"]
    with open_store(settings, read_only=True) as con:
        D.prepare(con, settings)
        con.execute("CREATE TEMP TABLE raw_values AS SELECT unnest(?::VARCHAR[]) AS x", [raws])
        store_j, store_x = D.physical_store_join("r.x", "s")
        guide_j, guide_x = D.guide_join("r.x", "g")
        gs_j, gs_x = D.guide_store_join("r.x", "gs")
        rows = con.execute(f"""
            SELECT r.x, dim_physical_store(r.x), {store_x}, dim_guide(r.x), {guide_x}, dim_guide_store(r.x), {gs_x}
            FROM raw_values r {store_j} {guide_j} {gs_j}""").fetchall()
    assert len(rows) == len(raws)
    for x, store_macro, store_join, guide_macro, guide_join, gs_macro, gs_join in rows:
        assert (store_join, guide_join, gs_join) == (store_macro, guide_macro, gs_macro), x
    by = {r[0]: r for r in rows}
    assert by[" 静安店 "][2] == "SH01" and by["山茶咖啡"][2] is None  # an alias; the online shop is no store
    assert by["于慧"][4] == "yuhui" and by["wangfang"][6] == "SH01" and by["yuhui"][6] is None
