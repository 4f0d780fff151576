"""Benchmark: WeComClient's own overhead per call, against the sandbox, vs bare httpx.

Run by hand (not a test):
    PYTHONPATH=src python benchmarks/wecom.py [--calls 2000]

Both sides talk to the same in-process SandboxServer over real HTTP on 127.0.0.1 with
limits off; the difference per call is what the client adds (token lookup, rate
limiter, JSON encoding, errcode classification). add_msg_template uses a fresh
connection per call in the client (never a stale keep-alive for a non-idempotent
call), so its baseline is bare httpx with keep-alive off as well.
"""

from __future__ import annotations

import argparse
import time

import httpx

from siyu_cli.sandbox import SandboxServer
from siyu_cli.wecom.client import WeComClient
from siyu_cli.wecom.config import WeComConfig


def timed(fn, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def compare(base_fn, client_fn, n: int, rounds: int = 5) -> tuple[float, float]:
    """Best per-call time of each, measured in alternating rounds (the machine is shared and noisy)."""
    base_fn(), client_fn()  # warm up (token, connection)
    b, c = [], []
    for _ in range(rounds):
        b.append(timed(base_fn, n))
        c.append(timed(client_fn, n))
    return min(b), min(c)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--customers", type=int, default=50_000, help="sandbox scale test size (0 = skip)")
    args = ap.parse_args()
    n = args.calls
    with SandboxServer(confirm="never", rate_limits={}, synthetic={"staff": 3, "customers": 300, "groups": 3}) as sb:
        sb.state.rate_limit_default = 0
        cfg = WeComConfig(base_url=sb.url, token_cache="memory", rate_limits={}, rate_limit_default=0)
        client = WeComClient(None, corp_id=sb.corp_id, secret=sb.secret, config=cfg)
        token = client.access_token()
        bare = httpx.Client(trust_env=False)
        bare_fresh = httpx.Client(trust_env=False, limits=httpx.Limits(max_keepalive_connections=0))
        url = f"{sb.url}/cgi-bin/externalcontact/get_follow_user_list"

        def bare_get():
            r = bare.get(url, params={"access_token": token})
            assert r.json()["errcode"] == 0

        body = {"chat_type": "single", "sender": "guide01", "external_userid": ["wmsandbox0001"],
                "text": {"content": "benchmark 消息"}}
        send_url = f"{sb.url}/cgi-bin/externalcontact/add_msg_template"

        def bare_send():
            r = bare_fresh.post(send_url, params={"access_token": token}, json=body)
            assert r.json()["errcode"] == 0

        def client_send():
            client.add_msg_template(chat_type="single", sender="guide01", external_userid=["wmsandbox0001"],
                                    text="benchmark 消息")

        rows = []
        for name, base_fn, client_fn, calls in (
            ("GET get_follow_user_list (keep-alive)", bare_get, client.get_follow_user_list, n),
            ("POST add_msg_template (fresh conn)", bare_send, client_send, max(n // 4, 50)),
        ):
            b, c = compare(base_fn, client_fn, calls)
            rows.append((name, calls, b, c))
        print(f"{'call':40} {'n':>6} {'bare httpx':>12} {'WeComClient':>12} {'overhead':>10} {'ratio':>6}")
        for name, calls, b, c in rows:
            print(f"{name:40} {calls:6d} {b * 1e6:10.0f}µs {c * 1e6:10.0f}µs {(c - b) * 1e6:8.0f}µs {c / b:6.2f}")
        # the rate limiter alone (in-process), for scale
        from siyu_cli.wecom.ratelimit import RateLimiter

        rl = RateLimiter(lambda k: 10**9)
        t = min(timed(lambda: rl.acquire("x"), 20000) for _ in range(3))
        print(f"rate limiter acquire: {t * 1e6:.1f}µs per call; sandbox deliveries so far: {len(sb.deliveries())}")
        print(f"mass sends created in the sandbox: {len(sb.messages())}")
    if args.customers:
        sandbox_scale(args.customers, min(10_000, args.customers))


def sandbox_scale(customers: int, per_send: int) -> None:
    """How the sandbox itself scales: big mass sends created, confirmed and read back."""
    sends = customers // per_send
    with SandboxServer(confirm="manual", rate_limits={}, seed="synthetic",
                       synthetic={"staff": 10, "customers": customers, "groups": 1}) as sb:
        sb.state.rate_limit_default = 0
        cfg = WeComConfig(base_url=sb.url, token_cache="memory", rate_limits={}, rate_limit_default=0, timeout=60)
        client = WeComClient(None, corp_id=sb.corp_id, secret=sb.secret, config=cfg)
        ids = [f"wmsandbox{i:04d}" for i in range(1, customers + 1)]
        t0 = time.perf_counter()
        msgids = [client.add_msg_template(chat_type="single", sender="guide01", external_userid=ids[i:i + per_send],
                                          text="scale")["msgid"] for i in range(0, customers, per_send)]
        t1 = time.perf_counter()
        sb.confirm()
        t2 = time.perf_counter()
        rows = sum(len(client.get_groupmsg_send_result(m, t["userid"])) for m in msgids
                   for t in client.get_groupmsg_task(m))
        t3 = time.perf_counter()
        assert rows == customers and len(sb.deliveries()) == customers
        print(f"sandbox scale: {customers} customers in {sends} sends of {per_send}: create {t1 - t0:.2f}s, "
              f"confirm {t2 - t1:.2f}s, read results {t3 - t2:.2f}s")


if __name__ == "__main__":
    main()
