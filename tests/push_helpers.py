"""Seed data for the push tests: members, guides, contacts and groups inserted directly into the store."""

from __future__ import annotations

import pytest

from siyu_cli.config import load_settings
from siyu_cli.store import open_store

PUSH_TOML = """
[push]
platform_cap = "days/month"
cap = "2/week"
quiet_hours = ""
batch_size = 3
"""

# member_id, name, external_userid, guide_userid, phone, store
MEMBERS = [
    ("m01", "小李", "wm01", "g1", "13800000001", "静安店"),
    ("m02", "小王", "wm02", "g2", "13800000002", "静安店"),
    ("m03", "小张", "wm03", "g1", "13800000003", "徐汇店"),
    ("m04", "小刘", "wm04", "g2", "13800000004", "徐汇店"),
    ("m05", "小陈", "wm05", "g1", "13800000005", "静安店"),
    ("m06", "小杨", "wm06", "g2", "13800000006", "静安店"),
    ("m07", "小赵", "wm07", "g1", "13800000007", "静安店"),
    ("m08", "小黄", "wm08", "g3", "13800000008", "徐汇店"),
    ("m09", "小周", None, "g1", "13800000009", "静安店"),      # no WeCom id
    ("m10", "小吴", "wm10", None, "13800000010", "静安店"),    # nobody's contact
    ("m11", "小徐", "wm11", "g1", "13800000011", "静安店"),    # opts out (by phone) in tests
    ("m12", "小孙", "wm12", "g1", "13800000012", "静安店"),
]
GROUPS = [("wr01", "咖啡群1", "g1", "静安店"), ("wr02", "咖啡群2", "g2", "徐汇店"), ("wr03", "无主群", None, "静安店")]


def configure(root, extra: str = "") -> None:
    cfg = root / "siyu.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8") + PUSH_TOML + extra, encoding="utf-8")


def seed(settings, members=MEMBERS, groups=GROUPS) -> None:
    with open_store(settings) as con:
        for mid, name, ext, guide, phone, store in members:
            con.execute(
                "INSERT INTO members (member_id, name, external_userid, guide_userid, phone, store, source) "
                "VALUES (?, ?, ?, ?, ?, ?, 'test')",
                [mid, name, ext, guide, phone, store],
            )
            if ext and guide:
                con.execute("INSERT INTO wecom_contacts (external_userid, staff_userid, member_id, added_at) "
                            "VALUES (?, ?, ?, now())", [ext, guide, mid])
        for uid, name in (("g1", "导购一"), ("g2", "导购二"), ("g3", "导购三")):
            con.execute("INSERT INTO staff (userid, name, store) VALUES (?, ?, '静安店')", [uid, name])
        for gid, name, owner, store in groups:
            con.execute("INSERT INTO groups (group_id, name, owner_userid, store) VALUES (?, ?, ?, ?)", [gid, name, owner, store])
        con.execute("INSERT INTO member_tags (member_id, tag_group, tag) VALUES ('m01', '等级', 'VIP'), ('m02', '等级', 'VIP'), ('m10', '', 'VIP')")


def seed_world(settings, guides: dict[str, int], excluded: int = 5) -> list[str]:
    """Members who are contacts of their guide (store 静安店), plus ``excluded`` without a WeCom id."""
    ids = []
    with open_store(settings) as con:
        for g in guides:
            con.execute("INSERT INTO staff (userid, name, store) VALUES (?, ?, '静安店')", [g, g])
        rows, contacts = [], []
        for g, n in guides.items():
            for i in range(n):
                mid = f"{g}-m{i:04d}"
                ids.append(mid)
                rows.append([mid, f"wm-{mid}", g])
                contacts.append([f"wm-{mid}", g, mid])
        for i in range(excluded):
            rows.append([f"x{i}", None, "g1"])
        con.executemany("INSERT INTO members (member_id, external_userid, guide_userid, store, source) "
                        "VALUES (?, ?, ?, '静安店', 'test')", rows)
        con.executemany("INSERT INTO wecom_contacts (external_userid, staff_userid, member_id, added_at) "
                        "VALUES (?, ?, ?, now())", contacts)
    return ids


WECOM_TOML = """
[wecom]
agent_id = 1000002
max_retries = 1
backoff_base = 0.01
backoff_max = 0.05
timeout = 1
"""


def start_sandbox(settings, tmp_path, monkeypatch=None, **kw):
    """A sandbox seeded from the store, with this process's env pointing at it."""
    from siyu_cli.sandbox import SandboxServer

    sb = SandboxServer(settings=settings, state_dir=tmp_path / "sandbox", **kw).start()
    if monkeypatch is not None:
        for k, v in sb.env().items():
            monkeypatch.setenv(k, v)
    return sb


def per_recipient(deliveries, channel="customer"):
    counts: dict[str, int] = {}
    for d in deliveries:
        if d["channel"] == channel:
            counts[d["recipient"]] = counts.get(d["recipient"], 0) + 1
    return counts


@pytest.fixture
def ws(workspace):
    """A workspace configured for the sandbox and seeded with MEMBERS and GROUPS (import into a test module)."""
    configure(workspace, WECOM_TOML)
    s = load_settings(workspace)
    seed(s)
    return s


@pytest.fixture
def sb(ws, tmp_path, monkeypatch):
    """A running sandbox seeded from ``ws``, stopped after the test."""
    server = start_sandbox(ws, tmp_path, monkeypatch)
    yield server
    server.stop()
