"""After the link units, the link's finish (relinking orders, group members and relations, naming this sync's
events, replacing the synced member tags) commits per hash unit of member_id, one transaction each: the units give
exactly what one pass gives — through the library and the CLI, on a second sync that adds, removes and changes
relations — and a kill between finish units resumes at the first unit not committed, writing nothing twice."""

from __future__ import annotations

import json

import pytest

from siyu_cli.config import load_settings
from siyu_cli.sandbox import SandboxServer
from siyu_cli.store import open_store
from siyu_cli.sync import linking
from siyu_cli.sync.wecom import sync_wecom
from store_helpers import q
from test_sync_linking import linked_state
from test_sync_merge_units import cli_sync, first_sync_then_change, last_progress, merged_state
from test_sync_wecom import duplicates
from wecom_helpers import make_client

FINISH = linking.finish


@pytest.fixture
def sb():
    with SandboxServer(seed="synthetic", synthetic={"staff": 3, "customers": 30, "groups": 3}) as server:
        yield server


def state(settings) -> dict:
    """Everything the merge and the link write (without batch ids and the sync's own times), orders' members too."""
    return {**merged_state(settings), **linked_state(settings),
            "orders": q(settings, "SELECT order_id, member_id FROM orders ORDER BY ALL"),
            "tag_rows": q(settings, "SELECT count(*), count(DISTINCT batch_id) FROM member_tags")}


def with_link_chunk(settings, chunk: int):
    cfg = settings.root / "siyu.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + f"\n[sync]\nlink_chunk = {chunk}\n", encoding="utf-8")
    return load_settings(settings.root)


def orders_to_relink(settings) -> None:
    """Orders without a member whose buyer phone a customer's remark phone will name (the finish relinks them)."""
    with open_store(settings) as con:
        con.execute("""INSERT INTO orders (source, order_id, buyer_phone, status, paid_at, paid_amount)
                       SELECT 'siyu', 'o' || i, '1380000' || lpad(i::VARCHAR, 4, '0'), 'paid', TIMESTAMP '2024-01-01', 10
                       FROM range(1, 31) t(i)""")


def spy_finish(monkeypatch, fail_at: str | None = None) -> list[str]:
    """Record the unit of each finish transaction; raise KeyboardInterrupt at unit ``fail_at`` before it runs."""
    seen = []

    def spy(con, batch_id, unit="all", buckets=1):
        if unit == fail_at:
            raise KeyboardInterrupt
        seen.append(unit)
        return FINISH(con, batch_id, unit, buckets)

    monkeypatch.setattr(linking, "finish", spy)
    return seen


@pytest.fixture
def one_pass(sb, tmp_path):
    """A second sync whose finish is one transaction (the default link_chunk), and the workspace given units."""
    whole, in_units = first_sync_then_change(sb, [tmp_path / "whole", tmp_path / "units"], None)
    for s in (whole, in_units):
        orders_to_relink(s)
    r = sync_wecom(whole, client=make_client(sb, whole), activity=False)
    assert last_progress(whole)["finish_units"] == ["all"]
    return state(whole), r, with_link_chunk(in_units, 4)


def test_the_fixture_gives_the_finish_work_of_every_kind(one_pass):
    s, r, _ = one_pass
    assert r.events.get("contact_added") == 3  # new relations: their events are named by the finish
    assert all(e[4] is not None for e in s["events"] if e[0] == "contact_added")
    assert sum(m is not None for _, m in s["orders"]) > 0  # orders the finish relinked by a remark phone
    assert s["member_tags"] and s["tag_rows"][0][1] == 1  # synced member tags, all of this sync


def test_finishing_in_units_equals_one_pass(sb, monkeypatch, one_pass):
    whole, r1, settings = one_pass
    seen = spy_finish(monkeypatch)
    r = sync_wecom(settings, client=make_client(sb, settings), activity=False)
    progress = last_progress(settings)
    members = q(settings, "SELECT count(*) FROM members")[0][0]
    assert progress["finish_units"] == seen == [str(i) for i in range(-(-members // 4))] and len(seen) > 2
    assert state(settings) == whole
    assert (r.counts, r.events, r.linked) == (r1.counts, r1.events, r1.linked)
    assert duplicates(settings) == [("rel", 0), ("cust", 0), ("gm", 0), ("mem", 0), ("ident", 0)]


def test_cli_sync_finishing_in_units_equals_one_pass(sb, cli, monkeypatch, one_pass):
    whole, r1, settings = one_pass
    out, progress = cli_sync(sb, cli, monkeypatch, settings)
    assert out["events"] == r1.events and out["linked"] == r1.linked
    assert len(progress["finish_units"]) > 2 and set(progress["finished_units"]) == set(progress["finish_units"])
    assert state(settings) == whole


def test_a_sync_killed_between_finish_units_resumes_at_the_first_unit_not_committed(sb, monkeypatch, one_pass):
    whole, r1, settings = one_pass
    seen = spy_finish(monkeypatch, fail_at="2")
    with pytest.raises(KeyboardInterrupt):
        sync_wecom(settings, client=make_client(sb, settings), activity=False)
    assert seen == ["0", "1"]
    progress = json.loads(q(settings, "SELECT progress FROM wecom_sync_runs WHERE status = 'running'")[0][0])
    assert set(progress["finished_units"]) == {"0", "1"}
    seen2 = spy_finish(monkeypatch)
    r = sync_wecom(settings, client=make_client(sb, settings), activity=False)
    assert r.resumed and seen2 == progress["finish_units"][2:]  # the committed units are not finished again
    assert state(settings) == whole
    assert (r.counts, r.events, r.linked) == (r1.counts, r1.events, r1.linked)
    assert q(settings, """SELECT count(*) FROM (SELECT batch_id, kind, external_userid, staff_userid, group_id
                          FROM contact_events GROUP BY ALL HAVING count(*) > 1)""") == [(0,)]
