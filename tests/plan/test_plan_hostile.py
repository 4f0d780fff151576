"""Hostile playbooks and templates (issue 13): files outside the playbook's folder never leave the
machine, non-images are never uploaded, and no template can hang a command, hold the workspace
lock or exhaust memory. Each attack drives the CLI as a user (or cron) would."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from push_helpers import WECOM_TOML, configure, seed, start_sandbox
from siyu_cli.config import load_settings
from siyu_cli.store import open_store

TZ = ZoneInfo("Asia/Shanghai")
_WEEK_AGO = datetime.now(TZ).date() - timedelta(days=7)
#: the Monday of last week: a window that is in the past on any calendar date
MONDAY = datetime.combine(_WEEK_AGO - timedelta(days=_WEEK_AGO.weekday()), datetime.min.time(), tzinfo=TZ)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
MARKER = "SECRET-MARKER-7f3a"
SHADOW = f"root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\n{MARKER}\n".encode()

PLAYBOOK = """\
version: 1
name: hostile
targets:
  tags: [咖啡群]
week:
  - id: daily
    weekday: daily
    time: "09:00"
    kind: 早安
{body}"""


def playbook(folder: Path, body: str, name: str = "hostile.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(PLAYBOOK.format(body=body), encoding="utf-8")
    return p


def no_traceback(*streams: str) -> None:
    for s in streams:
        assert "Traceback" not in s and "MemoryError" not in s and "RecursionError" not in s, s


@pytest.fixture
def outside(tmp_path) -> Path:
    """Files outside every playbook folder: a marker text and an /etc/shadow look-alike."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret.txt").write_text(f"{MARKER} {{{{ group.name }}}}", encoding="utf-8")
    (d / "shadow").write_bytes(SHADOW)
    (d / "real.png").write_bytes(PNG)  # a genuine image, but not the playbook's to use
    return d


# ----------------------------------------------------------------------------- confinement: plan check


def test_plan_check_refuses_every_file_outside_the_playbook_folder(cli, tmp_path, outside):
    folder = tmp_path / "pbs"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "ok.png").write_bytes(PNG)
    (folder / "images" / "link.png").symlink_to(outside / "real.png")  # a symlink inside that points out
    (folder / "templates").mkdir()
    (folder / "templates" / "evil.j2").symlink_to(outside / "secret.txt")
    body = f"""\
    template_file: {outside / 'secret.txt'}
    attachments:
      - image: {outside / 'shadow'}
      - image: ../outside/real.png
      - image: images/link.png
      - image: images/ok.png
      - miniprogram: {{title: 小程序, appid: wx1, page: pages/a, pic: {outside / 'real.png'}}}
  - id: second
    weekday: 周二
    time: "10:00"
    template_file: templates/evil.j2
"""
    pb = playbook(folder, body)
    r = cli("plan", "check", str(pb), expect=65)
    no_traceback(r.stdout, r.stderr)
    errors = [line for line in r.stdout.splitlines() if ": error: " in line]
    outside_errors = [e for e in errors if "outside the playbook's folder" in e]
    # every reference that leaves the folder is located at its own value: file:line:col
    located = sorted((int(e.split(":")[1]), int(e.split(":")[2])) for e in outside_errors)
    assert located == [(10, 20), (12, 16), (13, 16), (14, 16), (16, 67), (20, 20)], r.stdout
    assert all(e.startswith(f"{pb}:") for e in errors)
    assert not any("images/ok.png" in e for e in errors)  # the one file inside is fine
    assert MARKER not in r.stdout + r.stderr


SOP = """\
version: 1
name: hostile-sop
sop:
  audience: all
  steps:
    - day: 0
      template_file: {path}
"""


def test_plan_week_and_plan_sop_refuse_a_playbook_that_reaches_outside(cli, workspace, outside):
    week = playbook(workspace / "playbooks", f"    template_file: {outside / 'secret.txt'}\n")
    r = cli("plan", "week", str(week), "--week", "2026-W48", expect=65)
    assert f"{week}:10:20: template file" in r.stderr and "outside the playbook's folder" in r.stderr
    sop = workspace / "playbooks" / "hostile-sop.yaml"
    sop.write_text(SOP.format(path="../../outside/secret.txt"), encoding="utf-8")
    r = cli("plan", "sop", "--playbook", str(sop), "--date", "2026-11-23", expect=65)
    assert f"{sop}:7:22: template file" in r.stderr and "outside the playbook's folder" in r.stderr
    assert MARKER not in r.stdout + r.stderr


def test_plan_check_checks_images_by_content_and_size(cli, tmp_path):
    folder = tmp_path / "pbs"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "poster.png").write_bytes(SHADOW)  # named .png, is not one
    (folder / "images" / "huge.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(5 * 1024 * 1024))
    (folder / "images" / "ok.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    body = """\
    template: 早上好
    attachments:
      - image: images/poster.png
      - image: images/huge.jpg
      - image: images/ok.jpg
"""
    r = cli("plan", "check", str(playbook(folder, body)), expect=65)
    errors = [line for line in r.stdout.splitlines() if ": error: " in line]
    assert len(errors) == 2, r.stdout
    assert ":12:16: error: image images/poster.png is not a JPG or PNG file" in errors[0]
    assert ":13:16: error: image images/huge.jpg is larger than 5 MB" in errors[1]


# ----------------------------------------------------------------------------- confinement: push due


@pytest.fixture
def coffee(workspace, tmp_path, monkeypatch):
    """A workspace whose groups wr01/wr02 are tagged 咖啡群, and a running sandbox."""
    configure(workspace, WECOM_TOML)
    settings = load_settings(workspace)
    seed(settings)
    with open_store(settings) as con:
        con.execute("UPDATE groups SET tags = ['咖啡群'], member_count = 10 WHERE group_id IN ('wr01', 'wr02')")
    for p in (workspace / "playbooks").glob("*.yaml"):
        p.unlink()  # only the playbook under test is due
    from siyu_cli.plan.enabled import write_enabled

    write_enabled(settings, ["hostile", "hostile-sop"])  # nothing is sent from a playbook nobody enabled
    sb = start_sandbox(settings, tmp_path, monkeypatch)
    yield settings, sb
    sb.stop()


def _push_due(siyu_subprocess, workspace, **kw):
    start = MONDAY.isoformat()
    end = (MONDAY + timedelta(days=1)).isoformat()
    return siyu_subprocess("push", "due", "--from", start, "--to", end, "--format", "json",
                           env={"SIYU_WORKSPACE": str(workspace)}, timeout=120, **kw)


def _everything_the_sandbox_received(sb) -> str:
    sb.confirm()
    return json.dumps([sb.messages(), sb.deliveries(), sb.robot_messages()], ensure_ascii=False)


def test_push_due_never_sends_an_outside_template_nor_uploads_an_outside_file(coffee, workspace, outside,
                                                                           siyu_subprocess):
    settings, sb = coffee
    pbs = workspace / "playbooks"
    (pbs / "images").mkdir(exist_ok=True)
    (pbs / "images" / "poster.png").symlink_to(outside / "shadow")
    playbook(pbs, f"    template_file: {outside / 'secret.txt'}\n")
    r = _push_due(siyu_subprocess, workspace)
    assert r.returncode == 65, r.stdout + r.stderr
    no_traceback(r.stderr)
    assert "outside the playbook's folder" in r.stderr and str(pbs / "hostile.yaml") + ":10:20" in r.stderr
    playbook(pbs, "    template: 早上好 {{ group.name }}\n    attachments:\n      - image: images/poster.png\n")
    r = _push_due(siyu_subprocess, workspace)
    assert r.returncode == 65 and "outside the playbook's folder" in r.stderr, r.stderr
    received = _everything_the_sandbox_received(sb)
    assert MARKER not in received and "root:$6$" not in received
    assert not sb.state.media and not sb.state.msgs
    # the control: the same playbook with files inside its folder is sent, image and all
    (pbs / "images" / "poster.png").unlink()
    (pbs / "images" / "poster.png").write_bytes(PNG)
    r = _push_due(siyu_subprocess, workspace)
    assert r.returncode == 0, r.stderr
    assert len(sb.state.media) == 1 and len(sb.state.msgs) == 2  # wr01 and wr02, Monday 09:00


def test_an_image_swapped_after_create_is_refused_at_send_time(coffee, workspace, cli, tmp_path):
    settings, sb = coffee
    img = tmp_path / "poster.png"
    img.write_bytes(PNG)
    r = cli("push", "create", "--channel", "group", "--audience", "list:wr01", "--text", "海报", "--image", str(img),
            "--id", "swap", "--format", "json")
    img.write_bytes(SHADOW)  # replaced between create and send
    r = cli("push", "send", "swap", "--ignore-quiet-hours", expect=None)
    assert r.exit_code == 65, r.stdout + r.stderr
    assert "is not a JPG or PNG file" in r.stderr and "nothing was uploaded" in r.stderr
    assert not sb.state.media and not sb.state.msgs


# ----------------------------------------------------------------------------- template budgets


def _bounded_memory():
    import resource

    gib = 1024 ** 3
    resource.setrlimit(resource.RLIMIT_AS, (3 * gib, 3 * gib))


ATTACKS = {
    "nested range": "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "nested loops over a string": "{% set s = 'x' * 90000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
    "center": "{{ 'x' | center(20000000000) }}",
    "str.center": "{{ 'x'.center(20000000000) }}",
    "format width": "{{ '{:>7500000000}'.format(1) }}",
    "% width": "{{ '%7500000000d' % 1 }}",
    "format filter width": "{{ '%7500000000d' | format(1) }}",
    "repeat": "{{ 'x' * 3000000000 }}",
    "doubling": "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "exponential macro": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "join": "{{ range(10000) | join('x' * 90000) }}",
    "big integer": "{{ (((10 ** 100) ** 100) ** 100) ** 100 }}",
    "include": "{% include '/etc/passwd' %}",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_plan_check_bounds_every_template_attack(attack, tmp_path, workspace, siyu_subprocess):
    """Each attack: exit 65 within the bound, in bounded memory, one located line, no traceback."""
    with open(workspace / "siyu.toml", "a", encoding="utf-8") as fh:
        fh.write("\n[templates]\nrender_seconds = 0.5\n")
    pb = playbook(tmp_path / "pbs", "    template: |\n      早上好\n      " + ATTACKS[attack] + "\n")
    t0 = time.monotonic()
    r = siyu_subprocess("plan", "check", str(pb), env={"SIYU_WORKSPACE": str(workspace)}, timeout=60,
                        preexec_fn=_bounded_memory)
    assert r.returncode == 65, r.stdout + r.stderr
    assert time.monotonic() - t0 < 60
    no_traceback(r.stdout, r.stderr)
    errors = [line for line in r.stdout.splitlines() if ": error: " in line]
    assert len(errors) == 1 and errors[0].startswith(f"{pb}:12:7: error: "), r.stdout
    assert "sandbox" in errors[0] or "include" in errors[0]


def test_run_hourly_with_a_hanging_template_returns_and_leaves_the_lock_free(coffee, workspace, siyu_subprocess):
    settings, sb = coffee
    with open(workspace / "siyu.toml", "a", encoding="utf-8") as fh:
        fh.write('\n[templates]\nrender_seconds = 0.5\n[pipelines.hourly]\n'
                 'steps = [{type = "push_due", first_window = "7d", max_catchup = "7d"}]\n')
    playbook(workspace / "playbooks", "    template: |\n      " + ATTACKS["nested range"] + "\n")
    env = {"SIYU_WORKSPACE": str(workspace)}
    for _ in range(2):  # the second run would exit 4 (locked) had the first left the lock held
        r = siyu_subprocess("run", "hourly", env=env, timeout=90, preexec_fn=_bounded_memory)
        assert r.returncode == 1, r.stdout + r.stderr  # a failed run (4 would be: locked)
        no_traceback(r.stdout, r.stderr)
        assert "hostile.yaml:11:7: the template sandbox stopped it: the template ran longer than 0.5 s" in r.stderr
    assert not sb.state.msgs


def test_push_due_holds_back_the_one_message_whose_data_breaks_the_budget(coffee, workspace, siyu_subprocess):
    """The sample render passes (member_count 200 → 10000 steps); wr02's 1000 members need 50000: held, wr01 sent."""
    settings, sb = coffee
    with open_store(settings) as con:
        con.execute("UPDATE groups SET member_count = 1000 WHERE group_id = 'wr02'")
    body = "    template: |\n      {% for i in range(group.member_count * 50) %}{% endfor %}早上好 {{ group.name }}\n"
    playbook(workspace / "playbooks", body)
    r = _push_due(siyu_subprocess, workspace)
    assert r.returncode == 3, r.stdout + r.stderr  # partial: one message held
    no_traceback(r.stderr)
    items = {i["target"]: i for i in json.loads(r.stdout)["items"]}
    assert items["wr01"]["outcome"] == "sent"
    assert items["wr02"]["outcome"] == "held" and items["wr02"]["reason"] == "template"
    assert "max_range" in items["wr02"]["error"] and "group wr02" in items["wr02"]["error"]
    sb.confirm()
    assert [d["recipient"] for d in sb.deliveries("group")] == ["wr01"]


def test_push_create_template_is_bounded(coffee, cli):
    r = cli("push", "create", "--channel", "group", "--audience", "list:wr01", "--text", "{{ 'x' * 3000000000 }}",
            expect=65)
    assert "stopped by the sandbox" in r.stderr and "Traceback" not in r.stderr


def test_budgets_are_validated(workspace, cli):
    with open(workspace / "siyu.toml", "a", encoding="utf-8") as fh:
        fh.write("\n[templates]\nrender_seconds = -1\n")
    r = cli("push", "list", expect=78)
    assert "templates.render_seconds" in r.stderr


def test_loop_budget_also_holds_outside_the_main_thread():
    """No SIGALRM off the main thread: the per-loop checks alone stop a hanging render."""
    import threading

    from siyu_cli.plan.templates import environment
    from siyu_cli.render_budget import configure
    from siyu_cli.templating import BudgetExceeded, render_bounded

    configure({"render_seconds": 0.3})
    outcome = []

    def run():
        try:
            render_bounded(environment().from_string(ATTACKS["nested loops over a string"]), {})
        except BudgetExceeded as exc:
            outcome.append(str(exc))

    try:
        t = threading.Thread(target=run)
        t0 = time.monotonic()
        t.start()
        t.join(30)
        assert not t.is_alive() and time.monotonic() - t0 < 30
        assert outcome and "longer than 0.3 s" in outcome[0]
    finally:
        configure({})


def test_sop_holds_back_only_the_member_whose_data_breaks_the_budget(settings, tmp_path):
    """The sample member has 0 points; P2's 1000 points need range(100000): P2 is held, P1 rendered."""
    from datetime import date, timezone

    from siyu_cli.plan.schema import load_playbook
    from siyu_cli.plan.sop import sop_due, sop_due_in
    from siyu_cli.plan.templates import TemplateError

    joined = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
    with open_store(settings) as con:
        con.execute("INSERT INTO members (member_id, name, external_userid, guide_userid, join_at, points) VALUES "
                    "('P1', '甲', 'wmP1', 'g1', ?, 3), ('P2', '乙', 'wmP2', 'g1', ?, 1000)", [joined, joined])
    text = SOP.replace("      template_file: {path}\n",
                       "      template: '{% for i in range(member.points * 100) %}{% endfor %}欢迎 {{ member.name }}'\n")
    pb_path = tmp_path / "pbs" / "sop.yaml"
    pb_path.parent.mkdir()
    pb_path.write_text(text, encoding="utf-8")
    pb = load_playbook(pb_path)  # the sample render (0 points) passes
    with open_store(settings, read_only=True) as con:
        items = {i.member_id: i for i in sop_due_in(con, [pb], date(2026, 11, 23), hold_errors=True).items}
    assert items["P1"].text == "欢迎 甲" and items["P1"].error is None
    assert items["P2"].text == "" and "max_range" in items["P2"].error and "member P2" in items["P2"].error
    with pytest.raises(TemplateError):  # `plan sop` (a preview) reports it as the error it is
        sop_due(settings, date(2026, 11, 23), [pb])


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="the memory backstop reads /proc (Linux)")
def test_backstops_stop_what_no_check_sees_and_are_undone_after():
    """A single huge allocation and a loop without checks, inside one render's scope."""
    import resource

    from siyu_cli.render_budget import BudgetExceeded, configure, rendering

    before = resource.getrlimit(resource.RLIMIT_AS)
    configure({"render_seconds": 0.2, "memory_mb": 256})
    try:
        with pytest.raises(BudgetExceeded, match="more than 256 MB"):
            with rendering():
                bytearray(2 * 1024 ** 3)
        t0 = time.monotonic()
        with pytest.raises(BudgetExceeded, match="longer than 0.2 s"):
            with rendering():
                while True:
                    pass
        assert time.monotonic() - t0 < 10
    finally:
        configure({})
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    bytearray(300 * 1024 ** 2)  # the limit is gone after the render
