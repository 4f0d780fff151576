"""`siyu sandbox serve|confirm|deliveries` as a user runs them (a real subprocess for serve)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(autouse=True)
def _restore_logging():
    """`siyu --verbose` run in-process installs a root handler on CliRunner's (soon closed) stderr:
    put logging back so later tests do not print '--- Logging error ---'."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def spawn(argv, env=None, until="export WECOM_ROBOT_KEY_FILE"):
    """Start `python -m siyu_cli ARGV…` and read its stdout up to the line starting with ``until`` (or EOF)."""
    full = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    full.update(env or {})
    proc = subprocess.Popen([sys.executable, "-m", "siyu_cli", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full)
    lines = []
    deadline = time.time() + 20
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith(until):
            break
    return proc, lines


def start_serve(*args, env=None):
    return spawn([*args, "sandbox", "serve", "--port", "0", "--confirm", "manual"], env)


def stop(proc):
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return out, err


def exports(lines):
    return dict(l.removeprefix("export ").strip().split("=", 1) for l in lines if l.startswith("export "))


def test_serve_prints_url_and_env_hint_but_not_the_secret(workspace, cli, monkeypatch):
    proc, lines = start_serve("--verbose")
    try:
        env = exports(lines)
        assert env["SIYU_WECOM_BASE_URL"].startswith("http://127.0.0.1:")
        assert env["WECOM_CORP_ID"] == "wwsandbox"
        secret_file = Path(env["WECOM_SECRET_FILE"])
        assert secret_file.parent == workspace / ".sandbox"
        assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
        secret = secret_file.read_text().strip()
        robot_key = Path(env["WECOM_ROBOT_KEY_FILE"]).read_text().strip()
        assert "WECOM_SECRET" not in env and "WECOM_ROBOT_KEY" not in env
        # a push through the library, then the CLI shows what customers received
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        from siyu_cli.config import load_settings
        from siyu_cli.wecom.client import WeComClient

        with WeComClient.from_settings(load_settings(workspace)) as client:
            msg = client.add_msg_template(chat_type="single", sender="guide01", external_userid=["wmsandbox0001"], text="cli 测试")
        assert cli("sandbox", "deliveries", "--format", "json").stdout.strip() == "[]"
        assert "confirmed 1 task(s)" in cli("sandbox", "confirm", "--msgid", msg["msgid"]).stdout
        rows = json.loads(cli("sandbox", "deliveries", "--format", "json").stdout)
        assert [(r["recipient"], r["text"], r["msgid"]) for r in rows] == [("wmsandbox0001", "cli 测试", msg["msgid"])]
        assert "wmsandbox0001" in cli("sandbox", "deliveries").stdout
    finally:
        out, err = stop(proc)
    everything = "".join(lines) + out + err
    assert secret not in everything and robot_key not in everything
    # persisted for a restarted sandbox, and readable once it has stopped
    assert (workspace / ".sandbox" / "deliveries.jsonl").read_text().count("cli 测试") == 1
    rows = json.loads(cli("sandbox", "deliveries", "--state-dir", workspace / ".sandbox", "--format", "json").stdout)
    assert [r["recipient"] for r in rows] == ["wmsandbox0001"]


def test_serve_reads_sandbox_section(workspace):
    toml = workspace / "siyu.toml"
    toml.write_text(toml.read_text() + '\n[sandbox]\nconfirm = "never"\nquota = "day:1"\nstate_dir = "sb-state"\n')
    proc, lines = start_serve_plain()
    stop(proc)
    assert "confirm=never" in lines[0] and str(workspace / "sb-state") in lines[0]
    toml.write_text(toml.read_text() + 'colour = "red"\n')
    proc, lines = start_serve_plain()
    out, err = stop(proc)
    assert proc.returncode == 78 and "unknown key sandbox.colour" in err


def start_serve_plain():
    return spawn(["sandbox", "serve"])


def test_show_secret_prints_the_sandbox_secret(tmp_path):
    proc, lines = start_serve(env={"SIYU_WORKSPACE": ""})
    stop(proc)
    proc2, lines2 = start_serve(env={"SIYU_WORKSPACE": ""})
    stop(proc2)
    assert not any(l.startswith("export WECOM_SECRET=") for l in lines)
    proc3, got = spawn(["sandbox", "serve", "--show-secret", "--state-dir", str(tmp_path / "st")],
                       until="export WECOM_ROBOT_KEY=")
    stop(proc3)
    env = exports(got)
    assert env["WECOM_SECRET"] == (tmp_path / "st" / "secret").read_text().strip()


def test_cli_errors_are_one_line(cli, workspace):
    r = cli("sandbox", "serve", "--confirm", "sometimes", expect=2)
    assert r.stderr.startswith("error: --confirm must be auto, manual or never")
    r = cli("sandbox", "serve", "--fault", "bogus=1", expect=2)
    assert "bad --fault" in r.stderr
    r = cli("sandbox", "confirm", expect=2)
    assert "pass --url or set SIYU_WECOM_BASE_URL" in r.stderr
    r = cli("sandbox", "deliveries", "--url", "http://127.0.0.1:9", expect=75)
    assert "no sandbox answering" in r.stderr


def test_fault_option_parsing():
    from siyu_cli.sandbox.faults import parse_cli

    assert parse_cli(["errcode=45009:0.1", "5xx=0.05", "drop_after=0.2", "path=add_msg_template", "seed=4"]) == {
        "errcodes": {"45009": 0.1}, "http5xx": 0.05, "drop_after": 0.2, "paths": ["add_msg_template"], "seed": 4}
    with pytest.raises(ValueError):
        parse_cli(["errcode=abc"])


def test_wecom_check_verbose_shows_no_secret(cli, workspace, monkeypatch):
    from siyu_cli.sandbox import SandboxServer

    with SandboxServer() as sb:
        for k, v in sb.env().items():
            monkeypatch.setenv(k, v)
        r = cli("--verbose", "wecom", "check", "--format", "json")
        data = json.loads(r.stdout)
        assert data["follow_users"] == 3 and data["token"] == "ok" and data["base_url"] == sb.url
        token = sb.state.current_token
        assert sb.secret not in r.stdout + r.stderr and token not in r.stdout + r.stderr
        # a wrong secret: one line, exit 78, no secret
        monkeypatch.setenv("WECOM_SECRET", "wrong-secret-value-42")
        r = cli("--verbose", "wecom", "check", expect=78)
        assert r.stderr.count("error:") == 1 and "errcode 40001" in r.stderr
        assert "wrong-secret-value-42" not in r.stdout + r.stderr and "Traceback" not in r.stderr


def test_internal_error_traceback_is_redacted(cli, workspace, monkeypatch):
    from siyu_cli.sandbox import SandboxServer
    from siyu_cli.wecom import client as client_mod

    with SandboxServer() as sb:
        for k, v in sb.env().items():
            monkeypatch.setenv(k, v)

        def boom(self):
            raise RuntimeError(f"bug while holding {self.secret} and {self.access_token()}")

        monkeypatch.setattr(client_mod.WeComClient, "get_follow_user_list", boom)
        r = cli("--verbose", "wecom", "check", expect=1)
        assert "Traceback" in r.stderr and "internal error: RuntimeError" in r.stderr
        assert sb.secret not in r.stderr and sb.state.current_token not in r.stderr and "***" in r.stderr


def test_wecom_errcodes_lists_the_table(cli):
    rows = json.loads(cli("wecom", "errcodes", "--format", "json").stdout)
    by_code = {r["errcode"]: r["category"] for r in rows}
    assert by_code[42001] == "refresh" and by_code[45009] == "retry" and by_code[84061] == "skip"


def test_status_and_faults_commands(cli, workspace):
    from siyu_cli.sandbox import SandboxServer

    with SandboxServer(confirm="manual") as sb:
        st = json.loads(cli("sandbox", "status", "--url", sb.url, "--format", "json").stdout)
        assert (st["confirm"], st["staff"], st["contacts"], st["messages"]) == ("manual", 3, 30, 0)
        assert "pending_tasks" in cli("sandbox", "status", "--url", sb.url).stdout
        out = json.loads(cli("sandbox", "faults", "--url", sb.url, "--fault", "5xx=0.5", "--fault", "path=message/send",
                             "--next", "errcode:add_msg_template:45009", "--next", "drop_after").stdout)
        assert out["http5xx"] == 0.5 and out["paths"] == ["message/send"]
        assert out["next"] == [{"kind": "errcode", "path": "add_msg_template", "errcode": 45009},
                               {"kind": "drop_after", "path": None}]
        assert json.loads(cli("sandbox", "faults", "--url", sb.url, "--clear").stdout)["next"] == []
        r = cli("sandbox", "faults", "--url", sb.url, "--next", "errcode:add_msg_template", expect=2)
        assert "needs the code" in r.stderr
