"""Deterministic synthetic data for 山茶咖啡, a fictional coffee-and-tea chain.

The demo must exercise ``siyu load`` the way real back-office exports do, so
the files use the real layouts from EXPORTS.md (exact Chinese headers, GBK
where the back office writes GBK, UTF-8 with BOM for WeCom) and carry the
messy values real exports have: ``￥1,234.50``, ``38.5元``, mixed date
formats, tab- and apostrophe-prefixed phones, masked phones, ``="…"`` order
ids, trailing header commas and spaces. A handful of deliberately bad rows
(enumerated in :attr:`DemoData.bad_rows`) give the rejects report something
to show. The same person appears in several files (by phone, WeCom
external_userid and unionid) so identity resolution matters. The brand's
ordering mini-program's member export (``miniprogram_members.csv``, siyu's own
member columns) carries the WeChat unionid, so WeCom customers link to members
by unionid as they do on a corp whose mini-program and WeCom share an Open
Platform account (EXPORTS.md §4.2).

Everything derives from ``random.Random(seed)`` plus ``today``: the same
(members, seed, today) gives byte-identical files.

The world (people, orders, groups and the ground truth) is built in ``demo/world.py``; the files are
written by ``demo/writers.py`` (formats, headers) and its mixins ``writers_members.py`` and
``writers_orders.py``; this module joins them.
"""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

from siyu_cli.demo.world import (  # noqa: F401 (re-exported: the demo's public types and brand)
    BRAND, GUIDES, MANIFEST, MENU, ONLINE_SHOPS, STORES, BadRow, DemoData, DemoFile, Group, Order, Person, _World,
    dimensions_toml,
)
from siyu_cli.demo.writers import FILE_SPECS, HEADERS  # noqa: F401 (re-exported)
from siyu_cli.demo.writers_members import MemberWriters
from siyu_cli.demo.writers_orders import OrderWriters


class _Writer(MemberWriters, OrderWriters):
    """Every export of the demo world (one method per file)."""


# ------------------------------------------------------------------ entry points

def default_today() -> date:
    """Today in China (the demo brand's time zone)."""
    from siyu_cli import clock

    return clock.today("Asia/Shanghai")


def build(members: int = 2000, seed: int = 7, today: date | None = None) -> DemoData:
    """The demo world in memory (no files written)."""
    import gc

    if members < 1:
        raise ValueError("members must be at least 1")
    today = today or default_today()
    world = _World(members, seed, today)
    enabled = gc.isenabled()
    gc.disable()  # millions of small objects and no cycles: the collector only costs time here
    try:
        people = world.people()
        orders = world.orders(people)
        groups = world.groups(people)
        world.miniprogram(people)
    finally:
        if enabled:
            gc.enable()
    return DemoData(members=members, seed=seed, today=today, people=people, orders=orders, groups=groups)


def generate_data(folder: Path, *, members: int = 2000, seed: int = 7, today: date | None = None,
                  progress=None) -> DemoData:
    """Write every export into ``folder`` and return the world with its ground truth.

    ``progress(done, total, what)`` (siyu_cli.progress) hears of each stage: building the world, then each file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    writers = ("youzan_members", "miniprogram_members", "wecom_customers", "youzan_orders", "tmall_orders",
               "shopify_orders", "wecom_groups")
    tick = progress or (lambda done, total=None, what="": None)
    tick(0, len(writers) + 1, f"building {members:,} members")
    data = build(members, seed, today)
    world_rng = random.Random(f"{seed}:files")  # formatting randomness, independent of the world's
    writer = _Writer(data, folder, world_rng)
    for i, name in enumerate(writers, start=1):
        tick(i, len(writers) + 1, f"writing {name}")
        getattr(writer, name)()
    tick(len(writers) + 1, len(writers) + 1, "done")
    order = {n: i for i, n in enumerate(FILE_SPECS)}
    data.files.sort(key=lambda f: order[f.path.name])
    data.bad_rows.sort(key=lambda b: (order[b.file], b.line))
    (folder / MANIFEST).write_text(json.dumps(data.manifest(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return data


def generate(folder: Path, *, members: int = 2000, seed: int = 7, today: date | None = None) -> list[DemoFile]:
    """Write the demo exports into ``folder`` (the signature `siyu demo` and the tests call); see :func:`generate_data` for the ground truth."""
    return generate_data(folder, members=members, seed=seed, today=today).files
