"""Spark Connect: ``[engine] master = "sc://…"`` against a real Connect server on loopback.

The server is the one pyspark ships (``org.apache.spark.sql.connect.service.SparkConnectServer``, started with
pyspark's own ``spark-submit``, ``local[2]``, gRPC bound to 127.0.0.1 on a free port). siyu runs as a user runs
it, in subprocesses (a Connect client needs no JVM of its own): ``siyu segment`` and a ``bought:`` push dry run
with the engine pointed at the server give the same result as on DuckDB.

The client needs ``pyspark[connect]``'s packages (grpcio, grpcio-status, googleapis-common-protos, zstandard,
pandas), which the ``spark`` extra brings; without them or Java the test skips on a developer's machine and
FAILS under CI=true, like the engine-equivalence test.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from test_engine_spark import _spark_missing, _workspace, demo  # noqa: F401 (demo: a fixture)

CLIENT_MODULES = ("grpc", "grpc_status", "google.rpc", "zstandard", "pandas", "pyarrow")


def _connect_missing() -> str | None:
    import importlib

    for name in CLIENT_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            return f"{name} is not installed (the Spark Connect client: pip install -e '.[spark]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory):
    """A Spark Connect server on 127.0.0.1 for this module: its URL (``sc://127.0.0.1:PORT``) and its log."""
    reason = _spark_missing() or _connect_missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Spark Connect test: {reason}")
        pytest.skip(reason)
    import pyspark

    home = Path(pyspark.__file__).parent
    port = _free_port()
    log_path = tmp_path_factory.mktemp("connect") / "server.log"
    conf = {"spark.connect.grpc.binding.address": "127.0.0.1", "spark.connect.grpc.binding.port": str(port),
            "spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1", "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2", "spark.driver.memory": "1g"}
    args = [str(home / "bin" / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--name", "siyu-connect-test", "--master", "local[2]"]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_CONNECT_MODE": "0"}
    with open(log_path, "wb") as log:
        server = subprocess.Popen([*args, "spark-internal"], stdout=log, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while "Spark Connect server started" not in log_path.read_text(errors="replace"):
            assert server.poll() is None, "the Connect server exited:\n" + log_path.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the Connect server did not start in 240 s"
            time.sleep(1)
        yield f"sc://127.0.0.1:{port}", log_path
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # its own session: spark-submit's java and nothing else
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _siyu(settings, *args, expect: int = 0):
    from conftest import run_siyu

    r = run_siyu("--workspace", str(settings.root), *args, timeout=600)
    assert r.returncode == expect, r.stderr
    return r


def _point_at(settings, url: str, lake: Path) -> None:
    text = settings.config_file.read_text(encoding="utf-8")
    settings.config_file.write_text(text + f'\n[engine]\nkind = "spark"\nmaster = "{url}"\norders = "{lake / "orders"}"\n'
                                           f'members = "{lake / "members"}"\n', encoding="utf-8")


def _sessions(log_path: Path) -> set[str]:
    """The Connect sessions the server saw (one per siyu process that ran on it)."""
    import re

    return set(re.findall(r"sessionId: ([0-9a-f-]{36})", log_path.read_text(errors="replace")))


def test_segment_and_a_bought_audience_through_spark_connect_equal_duckdb(connect_url, demo):  # noqa: F811
    from siyu_cli.lake import export_lake

    url, log_path = connect_url
    settings, as_of = demo
    lake = settings.root / "lake-connect"
    export_lake(settings, lake)
    segment = ("segment", "--scheme", "rfm11", "--as-of", as_of.isoformat(), "--format", "json")
    push = ("push", "create", "--audience", "bought:within=120d,times>=2", "--text", "hi", "--dry-run",
            "--format", "json")
    duck_rows = json.loads(_siyu(settings, *segment).stdout)
    duck_push = json.loads(_siyu(settings, *push).stdout)
    assert not _sessions(log_path)
    _point_at(settings, url, lake)
    try:
        rows = json.loads(_siyu(settings, *segment).stdout)
        pushed = json.loads(_siyu(settings, *push).stdout)
    finally:
        text = settings.config_file.read_text(encoding="utf-8")
        settings.config_file.write_text(text.split("\n[engine]\n")[0], encoding="utf-8")
    assert len(_sessions(log_path)) == 2  # both commands ran their SQL on the server
    assert len(duck_rows) > 100 and rows == duck_rows  # every member's measures and segment
    assert duck_push["recipients"] > 10 and pushed["recipients"] == duck_push["recipients"]
    assert pushed["to_send"] == duck_push["to_send"]
