"""Fault injection for the sandbox: random rates and one-shot faults.

Kinds:
- ``errcode``  answer with this errcode instead of processing (e.g. 45009, -1, 45033, 41063);
- ``http5xx``  answer HTTP 502 with an HTML body, without processing;
- ``http``     answer HTTP ``status`` (e.g. 429 from a proxy, 404 for a wrong base URL), without processing;
- ``empty``    process the request, then answer HTTP 200 with an empty body (seen under load);
- ``drop``     close the connection without processing (client sees a dropped connection);
- ``drop_after`` process the request, then close without answering (the ambiguous case:
               e.g. a mass-send task exists although the client got no msgid);
- ``latency``  sleep ``seconds`` before processing;
- ``token_expiry`` expire every token early, before processing (client sees 42001).

Random rates: ``{"errcodes": {"45009": 0.1}, "http5xx": 0.05, "drop": 0.02, "drop_after": 0.02,
"latency": 0.2, "token_expiry": 0.01, "paths": ["externalcontact/add_msg_template"], "seed": 1}``.
One-shot faults (consumed in order by the first matching request):
``[{"kind": "drop_after", "path": "externalcontact/add_msg_template"}, {"kind": "errcode", "errcode": 45009}]``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

KINDS = ("errcode", "http5xx", "http", "empty", "drop", "drop_after", "latency", "token_expiry")


@dataclass
class Fault:
    kind: str
    errcode: int = 0
    seconds: float = 0.0
    status: int = 0


class Faults:
    def __init__(self, spec: dict | None = None):
        self._lock = threading.Lock()
        self.spec: dict = {}
        self.queue: list[dict] = []
        self.rng = random.Random()
        self.injected: dict[str, int] = {}
        self.set(spec or {})

    def set(self, spec: dict) -> None:
        spec = dict(spec)
        queue = spec.pop("next", None)
        for key in spec:
            if key not in ("errcodes", "http5xx", "drop", "drop_after", "latency", "token_expiry", "paths", "seed"):
                raise ValueError(f"unknown fault {key!r}")
        with self._lock:
            self.spec = spec
            self.rng = random.Random(spec.get("seed"))
            if queue:
                self.queue.extend(validate_one(f) for f in queue)

    def push(self, *faults: dict) -> None:
        with self._lock:
            self.queue.extend(validate_one(f) for f in faults)

    def clear(self) -> None:
        with self._lock:
            self.spec, self.queue = {}, []

    def describe(self) -> dict:
        with self._lock:
            return {**self.spec, "next": list(self.queue), "injected": dict(self.injected)}

    def pick(self, endpoint: str) -> list[Fault]:
        """The faults to apply to this request (latency may combine with another fault)."""
        out: list[Fault] = []
        with self._lock:
            for i, f in enumerate(self.queue):
                if not f.get("path") or f["path"] in endpoint:
                    self.queue.pop(i)
                    out.append(Fault(f["kind"], int(f.get("errcode", 0)), float(f.get("seconds", 0.0)),
                                     int(f.get("status", 0))))
                    break
            if not out:
                paths = self.spec.get("paths")
                if not paths or any(p in endpoint for p in paths):
                    r = self.rng.random
                    if self.spec.get("latency"):
                        out.append(Fault("latency", seconds=float(self.spec["latency"])))
                    if self.spec.get("token_expiry") and r() < float(self.spec["token_expiry"]):
                        out.append(Fault("token_expiry"))
                    for kind in ("drop", "drop_after", "http5xx"):
                        if self.spec.get(kind) and r() < float(self.spec[kind]):
                            out.append(Fault(kind))
                            break
                    else:
                        for code, rate in (self.spec.get("errcodes") or {}).items():
                            if r() < float(rate):
                                out.append(Fault("errcode", int(code)))
                                break
            for f in out:
                self.injected[f.kind] = self.injected.get(f.kind, 0) + 1
        return out


def validate_one(f: dict) -> dict:
    if f.get("kind") not in KINDS:
        raise ValueError(f"fault kind must be one of {', '.join(KINDS)}")
    if f["kind"] == "errcode" and "errcode" not in f:
        raise ValueError("an errcode fault needs errcode")
    if f["kind"] == "http" and not 100 <= int(f.get("status", 0)) <= 599:
        raise ValueError("an http fault needs status (100..599)")
    return dict(f)


def parse_cli(values: list[str]) -> dict:
    """``--fault`` values: ``errcode=45009:0.1``, ``5xx=0.05``, ``drop=0.1``, ``drop_after=0.1``,
    ``latency=0.2``, ``token_expiry=0.05``, ``path=add_msg_template``, ``seed=7``."""
    spec: dict = {}
    for value in values:
        name, _, arg = value.partition("=")
        name = name.strip().replace("-", "_")
        try:
            if name == "errcode":
                code, _, rate = arg.partition(":")
                spec.setdefault("errcodes", {})[str(int(code))] = float(rate or 1.0)
            elif name in ("5xx", "http5xx"):
                spec["http5xx"] = float(arg)
            elif name in ("drop", "drop_after", "latency", "token_expiry"):
                spec[name] = float(arg)
            elif name == "path":
                spec.setdefault("paths", []).append(arg)
            elif name == "seed":
                spec["seed"] = int(arg)
            else:
                raise ValueError
        except ValueError:
            raise ValueError(
                f"bad --fault {value!r} (use errcode=CODE:RATE, 5xx=RATE, drop=RATE, drop_after=RATE, "
                "latency=SECONDS, token_expiry=RATE, path=ENDPOINT, seed=N)"
            ) from None
    return spec
