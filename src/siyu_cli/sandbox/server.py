"""SandboxServer: a local fake of the WeCom server API over real HTTP on 127.0.0.1.

Same paths (``/cgi-bin/...``), JSON shapes and errcodes as WECOM.md for every endpoint
siyu uses; always HTTP 200 for API errors, like WeCom. Control endpoints live under
``/sandbox/`` (deliveries, confirm, reset, faults, expire_tokens, contacts, state). The ``contacts``
control call adds and removes relations and group members between syncs (``action``: add,
remove_friend, interact, join_group, leave_group).
"""

from __future__ import annotations

import json
import logging
import secrets as _secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from siyu_cli.sandbox.faults import Faults
from siyu_cli.sandbox.state import SandboxState, robot_id

log = logging.getLogger("siyu.sandbox")


def _multipart_file(content_type: str, data: bytes) -> bytes | None:
    """The first file part of a multipart/form-data body (stdlib only)."""
    marker = "boundary="
    if marker not in content_type:
        return None
    boundary = content_type.split(marker, 1)[1].split(";")[0].strip().strip('"').encode()
    for part in data.split(b"--" + boundary):
        head, sep, rest = part.partition(b"\r\n\r\n")
        if sep and b"filename=" in head:
            return rest[:-2] if rest.endswith(b"\r\n") else rest
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "siyu-sandbox"
    sandbox: "SandboxServer"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - never log URLs (tokens, keys)
        return

    def setup(self) -> None:
        super().setup()
        self.server.open_connections.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.open_connections.discard(self.connection)  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _send(self, status: int, payload: Any, content_type: str = "application/json; charset=utf-8") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        body: Any = None
        if ctype.startswith("multipart/form-data"):
            body = _multipart_file(ctype, raw)
        elif raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                body = None
        elif method == "POST":
            body = None
        else:
            body = {}
        path = parts.path
        sb = self.sandbox
        if path.startswith("/sandbox/"):
            status, payload = sb._control(method, path[len("/sandbox/"):], query, body if isinstance(body, dict) else {})
            self._send(status, payload)
            return
        if not path.startswith("/cgi-bin/"):
            self._send(404, {"errcode": 404, "errmsg": "not found"})
            return
        endpoint = path[len("/cgi-bin/"):].strip("/")
        if not sb._enter(endpoint):
            from siyu_cli.sandbox.state import err

            self._send(200, err(45033))
            return
        try:
            self._api(sb, method, endpoint, query, body)
        finally:
            sb._leave(endpoint)

    def _api(self, sb: "SandboxServer", method: str, endpoint: str, query: dict, body: Any) -> None:
        faults = sb.faults.pick(endpoint)
        after: str | bool = False
        for f in faults:
            if f.kind == "latency":
                time.sleep(f.seconds)
            elif f.kind == "token_expiry":
                sb.state.expire_tokens()
            elif f.kind == "drop":
                self._drop()
                return
            elif f.kind == "http5xx":
                self._send(502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
                return
            elif f.kind == "errcode":
                from siyu_cli.sandbox.state import err

                self._send(200, err(f.errcode))
                return
            elif f.kind == "http":
                self._send(f.status, b"<html><body>proxy error</body></html>", "text/html")
                return
            elif f.kind in ("drop_after", "empty"):
                after = f.kind
        response = sb.state.handle(endpoint, query, body)
        if after == "drop_after":
            self._drop()
            return
        if after == "empty":
            self._send(200, b"")
            return
        self._send(200, response)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *args, **kwargs):
        self.open_connections: set = set()
        super().__init__(*args, **kwargs)

    def handle_error(self, request, client_address) -> None:
        """A sandbox bug: print a redacted traceback (never a token or secret) and keep serving."""
        import sys
        import traceback

        from siyu_cli.secrets import redact

        sys.stderr.write(redact("sandbox: error while handling a request\n" + traceback.format_exc()))

    def close_open_connections(self) -> None:
        """A stopped sandbox must not keep answering on keep-alive connections."""
        for conn in list(self.open_connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class SandboxServer:
    """A local WeCom fake (see module docstring). Use as a context manager or start()/stop()."""

    def __init__(self, *, settings=None, port: int = 0, corp_id: str = "wwsandbox", secret: str | None = None,
                 robot_keys: list[str] | None = None, confirm: str = "auto", confirm_delay: float = 0.0,
                 faults: dict | None = None, token_ttl: int = 7200, state_dir: Path | None = None,
                 quota: dict | None = None, rate_limits: dict | None = None, robot_per_minute: int = 20,
                 seed: str = "auto", synthetic: dict | None = None, dispatch_delay: float = 0.0,
                 concurrency: int = 0, clock=None):
        from siyu_cli.secrets import register

        self.secret = secret or _secrets.token_urlsafe(24)
        self.robot_keys = list(robot_keys) if robot_keys is not None else [_secrets.token_hex(16)]
        register(self.secret)
        for k in self.robot_keys:
            register(k)
        self.corp_id = corp_id
        self.port = port
        self.state = SandboxState(corp_id=corp_id, secret=self.secret, robot_keys=self.robot_keys, confirm=confirm,
                                  confirm_delay=confirm_delay, token_ttl=token_ttl, quota=quota,
                                  rate_limits=rate_limits, robot_per_minute=robot_per_minute,
                                  dispatch_delay=dispatch_delay, state_dir=state_dir,
                                  timezone=settings.timezone if settings is not None else "Asia/Shanghai",
                                  clock=clock or time.time)
        self.faults = Faults(faults)
        self.seeded: dict = {}
        # seed: "store" (workspace store), "synthetic", "none", or "auto" (the store when it has contacts)
        if seed in ("auto", "store") and settings is not None:
            self.seeded = self.state.seed_from_store(settings)
            if seed == "auto" and not (self.seeded["contacts"] or self.seeded["groups"]):
                seed = "synthetic"  # an empty workspace: a small synthetic corp to play with
        elif seed == "auto":
            seed = "synthetic"
        if seed == "synthetic":
            self.state.seed_synthetic(**(synthetic or {}))
            self.seeded = {"staff": len(self.state.staff), "contacts": len(self.state.contacts),
                           "groups": len(self.state.groups)}
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        # concurrent in-flight calls allowed per endpoint (0 = unlimited); more → 45033 (WECOM.md §6.1)
        self.concurrency = concurrency
        self._inflight: dict[str, int] = {}
        self._inflight_lock = threading.Lock()

    def _enter(self, endpoint: str) -> bool:
        with self._inflight_lock:
            n = self._inflight.get(endpoint, 0)
            if self.concurrency and endpoint not in ("gettoken", "webhook/send") and n >= self.concurrency:
                return False
            self._inflight[endpoint] = n + 1
            return True

    def _leave(self, endpoint: str) -> None:
        with self._inflight_lock:
            self._inflight[endpoint] -= 1

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("sandbox not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> "SandboxServer":
        handler = type("Handler", (_Handler,), {"sandbox": self})
        self._httpd = _Server(("127.0.0.1", self.port), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="siyu-sandbox",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.close_open_connections()
            self._httpd = None
        with self.state.lock:
            self.state.close()

    def serve_forever(self) -> None:
        """Block until interrupted (the CLI)."""
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def __enter__(self) -> "SandboxServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def env(self, *, secret_file: Path | None = None) -> dict[str, str]:
        """Environment a siyu process needs to talk to this sandbox (secret value included)."""
        env = {"SIYU_WECOM_BASE_URL": self.url, "WECOM_CORP_ID": self.corp_id}
        if secret_file is not None:
            env["WECOM_SECRET_FILE"] = str(secret_file)
        else:
            env["WECOM_SECRET"] = self.secret
        if self.robot_keys:
            env["WECOM_ROBOT_KEY"] = self.robot_keys[0]
        return env

    # ------------------------------------------------------------------ library API
    def deliveries(self, channel: str | None = None) -> list[dict]:
        return self.state.deliveries(channel)

    def robot_messages(self, key: str | None = None) -> list[dict]:
        rid = robot_id(key) if key else None
        return [d for d in self.state.deliveries("robot") if rid is None or d["recipient"] == rid]

    def confirm(self, msgid: str | None = None, sender: str | None = None) -> int:
        return self.state.confirm(msgid, sender)

    def reset(self) -> None:
        self.state.reset()
        self.faults.clear()

    def expire_tokens(self) -> int:
        return self.state.expire_tokens()

    def inject(self, kind: str, path: str | None = None, **kw) -> None:
        """Queue a one-shot fault for the next request whose endpoint contains ``path``."""
        self.faults.push({"kind": kind, "path": path, **kw})

    def set_faults(self, spec: dict) -> None:
        self.faults.set(spec)

    def remind_count(self, msgid: str) -> int:
        with self.state.lock:
            return len(self.state.msgs[msgid]["reminds"])

    def messages(self) -> list[dict]:
        """Every mass send created (for tests): msgid, chat_type, sender, tasks, results, cancelled."""
        with self.state.lock:
            self.state.tick()
            return [json.loads(json.dumps(self.state.msgs[m])) for m in self.state.order]

    # ------------------------------------------------------------------ control endpoints
    def _control(self, method: str, name: str, query: dict, body: dict) -> tuple[int, dict]:
        try:
            if name == "health":
                return 200, {"ok": True}
            if name == "deliveries":
                return 200, {"deliveries": self.deliveries(query.get("channel") or body.get("channel"))}
            if name == "messages":
                return 200, {"messages": self.messages()}
            if name == "callbacks":  # what WeCom's change_external_contact callbacks would have said
                with self.state.lock:
                    return 200, {"callbacks": list(self.state.callback_events)}
            if name == "state":
                with self.state.lock:
                    st = self.state
                    pending = sum(1 for m in st.msgs.values() if not m["cancelled"]
                                  for t in m["tasks"].values() if t["status"] == 0)
                    return 200, {"confirm": st.confirm_mode, "staff": len(st.staff), "contacts": len(st.contacts),
                                 "groups": len(st.groups), "messages": len(st.msgs), "pending_tasks": pending,
                                 "deliveries": len(st._deliveries), "counters": dict(st.counters),
                                 "faults": self.faults.describe()}
            if method != "POST":
                return 405, {"error": "use POST"}
            if name == "confirm":
                return 200, {"confirmed": self.confirm(body.get("msgid"), body.get("sender"))}
            if name == "reset":
                self.reset()
                return 200, {"ok": True}
            if name == "faults":
                if body.get("clear"):
                    self.faults.clear()
                if body.get("set") is not None:
                    self.faults.set(body["set"])
                if body.get("next"):
                    self.faults.push(*body["next"])
                return 200, self.faults.describe()
            if name == "expire_tokens":
                return 200, {"expired": self.expire_tokens()}
            if name == "contacts":
                action = body.get("action")
                ext, userid = body.get("external_userid"), body.get("userid")
                if action == "add":
                    self.state.add_contact(ext, userid, name=body.get("name"), last=bool(body.get("last")), refriend=True)
                    self.state.set_contact_details(ext, unionid=body.get("unionid"))
                    self.state.set_relation_details(ext, userid, remark_mobiles=body.get("remark_mobiles"),
                                                    state=body.get("state"), remark=body.get("remark"))
                elif action == "remove_friend":
                    self.state.remove_friend(ext, userid, by=body.get("by") or "guide")
                elif action == "interact":
                    self.state.set_last_interaction(ext, userid)
                elif action in ("join_group", "leave_group"):
                    getattr(self.state, action)(body["chat_id"], ext)
                else:
                    return 400, {"error": "action must be add, remove_friend, interact, join_group or leave_group"}
                return 200, {"ok": True}
            return 404, {"error": f"unknown control endpoint {name}"}
        except (ValueError, KeyError) as exc:
            return 400, {"error": str(exc)}
