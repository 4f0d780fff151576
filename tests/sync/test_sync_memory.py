"""The sync's memory stays bounded in contacts: group pages are checkpointed by member count, and the merge
runs in one transaction per phase under `[sync] memory_limit` (a phase out of the default limit climbs a ladder; a too-small configured one is one clear
error that loses nothing). The peak itself is measured by benchmarks/sync.py, not here."""

from __future__ import annotations

import pytest

from siyu_cli.config import load_settings
from siyu_cli.errors import ConfigError
from siyu_cli.sandbox import SandboxServer
from siyu_cli.sync import merge as merge_mod
from siyu_cli.sync import wecom as wecom_mod
from siyu_cli.sync.wecom import sync_wecom
from store_helpers import q
from test_sync_wecom import sandbox_state, store_state
from wecom_helpers import make_client


@pytest.fixture
def sb():
    with SandboxServer(seed="synthetic", synthetic={"staff": 4, "customers": 120, "groups": 6}) as server:
        yield server


def test_group_checkpoints_hold_about_checkpoint_rows_members_not_a_number_of_groups(settings, sb, monkeypatch):
    writes = []
    real = wecom_mod._Stage.write

    def spy(self, table=None, rows=None, fields=None, **progress):
        if table == "wecom_sync_groups" and rows and "members" in rows[0]:
            writes.append([len(r["members"]) for r in rows])
        return real(self, table, rows, fields, **progress)

    monkeypatch.setattr(wecom_mod._Stage, "write", spy)
    monkeypatch.setattr(wecom_mod, "CHECKPOINT_SECONDS", 3600.0)  # only the row count triggers a write
    sync_wecom(settings, client=make_client(sb, settings), activity=False, checkpoint_rows=30)
    assert store_state(settings) == sandbox_state(sb)
    assert sum(len(w) for w in writes) == 6 and len(writes) > 1  # 6 groups of 20 members: not one write of all
    for w in writes:  # a write happens as soon as the buffered members reach the checkpoint
        assert sum(w[:-1]) + len(w) - 1 < 30


def test_a_merge_phase_out_of_the_default_memory_limit_runs_again_one_step_up_the_ladder(settings, sb, monkeypatch):
    monkeypatch.setattr(merge_mod, "DEFAULT_MEMORY_LIMIT", "1MB")  # far too small for DuckDB's merge
    r = sync_wecom(settings, client=make_client(sb, settings), activity=False)
    # every phase ran out of 1MB, rolled back and committed under the ladder's first step
    assert r.merge_limits == {p: merge_mod.LADDER[0] for p in merge_mod.PHASES}
    assert store_state(settings) == sandbox_state(sb)  # the failed attempts rolled back: no duplicates
    assert r.counts["contacts"]["added"] == len(sb.state.live_relations())


def test_a_staging_write_out_of_its_small_memory_limit_rolls_back_and_runs_again_one_step_up(settings, sb, monkeypatch):
    import duckdb

    monkeypatch.setattr(wecom_mod, "STAGE_LIMITS", ("1MB", "128MB"))  # 1MB: too small for a write of pages
    ran_out = []
    real = wecom_mod._Stage._commit

    def spy(self, con, table, rows, fields):
        try:
            return real(self, con, table, rows, fields)
        except duckdb.OutOfMemoryException:
            ran_out.append(table)
            raise

    monkeypatch.setattr(wecom_mod._Stage, "_commit", spy)
    r = sync_wecom(settings, client=make_client(sb, settings), activity=False)
    assert "wecom_sync_contacts" in ran_out  # the contact pages' writes ran out of 1MB and ran again under 128MB
    assert store_state(settings) == sandbox_state(sb)  # the rolled-back attempts left nothing twice
    assert r.counts["contacts"]["added"] == len(sb.state.live_relations())


def test_a_relation_staged_again_replaces_its_row_in_the_keyless_staging(settings):
    from siyu_cli.store import open_store

    with open_store(settings) as con:
        con.execute("INSERT INTO wecom_sync_runs (batch_id, status, progress, started_at) VALUES ('b', 'running', '{}', now())")

    def rel(ext, staff, remark):
        return {**dict.fromkeys(wecom_mod.CONTACT_FIELDS), "external_userid": ext, "staff_userid": staff,
                "remark": remark, "remark_mobiles": [], "tag_ids": []}

    stage = wecom_mod._Stage(settings, "b", {})
    stage.write("wecom_sync_contacts", [rel("wm1", "g1", "a"), rel("wm2", "g1", "a")], wecom_mod.CONTACT_FIELDS)
    # a page fetched again after a kill, holding one relation twice (the later one wins) and a new one
    stage.write("wecom_sync_contacts", [rel("wm1", "g1", "b"), rel("wm1", "g2", "c"), rel("wm1", "g1", "d")],
                wecom_mod.CONTACT_FIELDS, cursor="x")
    assert q(settings, "SELECT external_userid, staff_userid, remark FROM wecom_sync_contacts ORDER BY 1, 2") == [
        ("wm1", "g1", "d"), ("wm1", "g2", "c"), ("wm2", "g1", "a")]
    assert q(settings, "SELECT progress FROM wecom_sync_runs WHERE batch_id = 'b'") == [('{"cursor": "x"}',)]


def test_a_merge_killed_between_phases_resumes_at_the_first_phase_not_committed(settings, sb, monkeypatch):
    real = merge_mod._phase
    done = []

    def dies_at_groups(con, phase, *a):
        if phase == "groups":
            raise KeyboardInterrupt
        done.append(phase)
        return real(con, phase, *a)

    monkeypatch.setattr(merge_mod, "_phase", dies_at_groups)
    with pytest.raises(KeyboardInterrupt):
        sync_wecom(settings, client=make_client(sb, settings), activity=False)
    assert done == ["contacts", "customers", "tags"]
    monkeypatch.setattr(merge_mod, "_phase", lambda con, phase, *a: (done.append(phase), real(con, phase, *a))[1])
    r = sync_wecom(settings, client=make_client(sb, settings), activity=False)
    assert r.resumed and done[3:] == ["groups", "link"]  # the committed phases are not merged again
    assert store_state(settings) == sandbox_state(sb)
    assert r.counts["contacts"]["added"] == len(sb.state.live_relations())  # counts of the first attempt kept
    assert q(settings, "SELECT count(*) FROM load_log WHERE batch_id LIKE 'wsync-%'") == [(5,)]


def test_a_too_small_configured_limit_is_one_clear_error_and_the_rerun_merges_the_staged_pages(settings, sb):
    cfg = settings.config_file
    original = cfg.read_text(encoding="utf-8")
    cfg.write_text(original + '\n[sync]\nmemory_limit = "1MB"\n', encoding="utf-8")
    small = load_settings(settings.root)
    with pytest.raises(ConfigError, match=r"sync\.memory_limit = '1MB'; raise it"):
        sync_wecom(small, client=make_client(sb, small), activity=False)
    assert q(settings, "SELECT count(*) FROM wecom_contacts") == [(0,)]
    staged = q(settings, "SELECT count(*) FROM wecom_sync_contacts")[0][0]
    assert staged == len(sb.state.live_relations())
    cfg.write_text(original + '\n[sync]\nmemory_limit = "256MB"\n', encoding="utf-8")
    client = make_client(sb, settings)
    calls = sb.state.endpoint_calls.get("externalcontact/batch/get_by_user", 0)
    r = sync_wecom(load_settings(settings.root), client=client, activity=False)
    assert r.resumed and store_state(settings) == sandbox_state(sb)
    assert sb.state.endpoint_calls.get("externalcontact/batch/get_by_user", 0) == calls  # nothing fetched again


# ---------------------------------------------------------------- staff names (user/get)

def test_staff_get_their_names_from_user_get_and_an_export_name_gives_way(settings, sb):
    from siyu_cli.store import open_store

    with open_store(settings) as con:  # a name an export gave, and a staff member the API does not know
        con.execute("INSERT INTO staff (userid, name) VALUES ('guide01', '旧名字'), ('other', '别人')")
    r = sync_wecom(settings, client=make_client(sb, settings), activity=False)
    want = {u: sb.state.staff[u] for u in ("guide01", "guide02", "guide03", "guide04")}
    assert dict(q(settings, "SELECT userid, name FROM staff WHERE userid LIKE 'guide%'")) == want
    assert q(settings, "SELECT name FROM staff WHERE userid = 'other'") == [("别人",)]
    assert r.staff_names == 4 and r.notes == []
    assert sb.state.endpoint_calls["user/get"] == 4


@pytest.mark.parametrize("errcode", [60011, 48002])
def test_an_app_that_may_not_read_the_directory_skips_names_with_a_note(settings, sb, errcode):
    from siyu_cli.store import open_store

    with open_store(settings) as con:
        con.execute("INSERT INTO staff (userid, name) VALUES ('guide01', '李娜')")
    sb.state.user_read_errcode = errcode
    r = sync_wecom(settings, client=make_client(sb, settings), activity=False)
    assert store_state(settings) == sandbox_state(sb)  # the sync itself is whole
    assert r.staff_names == 0 and len(r.notes) == 1 and f"errcode {errcode}" in r.notes[0]
    assert sb.state.endpoint_calls["user/get"] == 1  # asked once, not once per guide
    names = dict(q(settings, "SELECT userid, name FROM staff WHERE userid LIKE 'guide%'"))
    assert names == {"guide01": "李娜", "guide02": None, "guide03": None, "guide04": None}


def test_cli_says_names_were_skipped_on_stderr_and_json_carries_the_note(settings, sb, cli, monkeypatch):
    import json

    for k, v in sb.env().items():
        monkeypatch.setenv(k, v)
    r = cli("sync", "wecom", "--no-activity")
    assert "4 staff names" in r.stderr
    sb.state.user_read_errcode = 60011
    r = cli("sync", "wecom", "--no-activity", "--format", "json")
    data = json.loads(r.stdout)
    assert data["staff_names"] == 0 and "errcode 60011" in data["notes"][0]
    assert "staff names skipped" in r.stderr and sb.secret not in r.stdout + r.stderr
    # names a previous sync read are kept when this one may not read them
    assert q(settings, "SELECT count(name) FROM staff WHERE userid LIKE 'guide%'") == [(4,)]


class _FakeCon:
    """A connection whose CHECKPOINT fails as DuckDB 2.0's does out of memory (FatalException) under ``fails``."""

    def __init__(self, fails: set[str]):
        self.fails, self.ran, self.limit = fails, [], None

    def execute(self, sql: str):
        import duckdb

        self.ran.append(sql)
        if sql.startswith("SET memory_limit"):
            self.limit = sql.split("'")[1]
        if sql == "CHECKPOINT" and self.limit in self.fails:
            raise duckdb.FatalException("could not checkpoint: out of memory")


def _opener(fails: set[str], opened: list):
    from contextlib import contextmanager

    @contextmanager
    def open_con():
        con = _FakeCon(fails)
        opened.append(con)
        yield con
    return open_con


def test_a_checkpoint_failing_fatally_climbs_to_the_next_limit_on_a_fresh_connection():
    from siyu_cli.sync.memory import checkpoint

    opened: list = []
    assert checkpoint(_opener({"16MB"}, opened), ["16MB", "128MB", "512MB"]) is True
    assert [c.limit for c in opened] == ["16MB", "128MB"]  # a new connection per limit, stopping at the one that fits
    assert opened[1].ran == ["SET threads = 1", "SET memory_limit = '128MB'", "CHECKPOINT"]


def test_a_checkpoint_that_fits_no_limit_is_left_to_later_without_an_error():
    from siyu_cli.sync.memory import checkpoint

    opened: list = []
    assert checkpoint(_opener({"16MB", "128MB"}, opened), ["16MB", "128MB"]) is False
    assert len(opened) == 2



def test_a_staging_write_whose_checkpoint_fails_fatally_is_kept_and_checkpointed_afresh(settings, sb, monkeypatch):
    import duckdb

    from siyu_cli.sync import memory

    real_fit, real_checkpoint, fresh = memory.first_fit, memory.checkpoint, []

    def fit(con, limits, work, **kw):
        if "on_oom" not in kw:  # the staging write's own checkpoint (its commit passes on_oom=rollback)
            raise duckdb.FatalException("could not checkpoint: out of memory")
        return real_fit(con, limits, work, **kw)

    def spy(open_con, limits):
        fresh.append(list(limits))
        return real_checkpoint(open_con, limits)

    monkeypatch.setattr(memory, "first_fit", fit)
    monkeypatch.setattr(memory, "checkpoint", spy)
    sync_wecom(settings, client=make_client(sb, settings), activity=False, checkpoint_rows=30)
    assert store_state(settings) == sandbox_state(sb)  # every staged write was kept
    assert fresh and all(limits == list(wecom_mod.STAGE_LIMITS) for limits in fresh)
