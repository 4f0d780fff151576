"""Store and staff dimensions: the one place a raw store or guide value becomes a canonical id.

Exports name the same store differently ("徐汇店", "山茶咖啡上海徐汇店") and put the online shop
("山茶咖啡", Youzan's 归属店铺) where a store would be; orders name guides by their Chinese name
(``于慧``) while WeCom uses the userid (``yuhui``). Everything that groups or filters by store or
guide — the report's leaderboards and splits, ``store:`` audiences, plan and SOP store filters —
resolves raw values through the maps built here (docs/dimensions.md):

* **stores**: ``[stores.<id>]`` in siyu.toml (``name``, ``aliases``, ``kind`` physical|online) and
  the ``dim_stores`` / ``dim_store_aliases`` tables (``siyu stores add|alias``). A store's id, name
  and aliases all map to its id. ``kind = "online"`` marks an online shop or channel: it is kept
  apart and never counted as a physical store.
* **staff**: the ``staff`` table (userid, name — from exports today, from WeCom sync later),
  ``[staff.<userid>]`` in siyu.toml (``name``, ``aliases``, ``store``) and ``dim_staff_aliases``
  (``siyu staff alias``). A userid and its aliases map to it; a name maps to it only when exactly
  one userid has that name — an ambiguous name is reported (``siyu staff unmatched``), never guessed.

Values no dimension knows stay as they are (so no GMV is lost) and are listed by
``siyu stores unmatched`` / ``siyu staff unmatched``; ``siyu stores suggest`` proposes aliases where
names overlap by suffix or containment, for an operator to confirm.

:func:`prepare` puts the maps into TEMP tables of an open connection (read-only stores allow
temps) and defines the SQL macros ``dim_store(x)``, ``dim_physical_store(x)``, ``dim_store_kind(x)``,
``dim_guide(x)`` and ``dim_guide_store(userid)`` that readers use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from siyu_cli.errors import ConfigError, UsageError
from siyu_cli.i18n import _
from siyu_cli.store import table_names

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

    from siyu_cli.config import Settings

STORE_KINDS = ("physical", "online")
STORE_KEYS = ("name", "aliases", "kind")
STAFF_KEYS = ("name", "aliases", "store")

#: Where raw store values live: (table, column) — listed by ``siyu stores unmatched``.
STORE_COLUMNS = (("orders", "store"), ("members", "store"), ("staff", "store"), ("groups", "store"),
                 ("store_traffic", "store"))
#: Where raw guide values live: (table, column).
STAFF_COLUMNS = (("orders", "guide_userid"), ("members", "guide_userid"), ("members", "guide_name"),
                 ("wecom_contacts", "staff_userid"), ("groups", "owner_userid"))


@dataclass
class Store:
    store_id: str
    name: str
    kind: str = "physical"
    aliases: list[str] = field(default_factory=list)
    source: str = "config"  # config | cli

    def to_dict(self) -> dict[str, Any]:
        return {"store_id": self.store_id, "name": self.name, "kind": self.kind, "aliases": list(self.aliases),
                "source": self.source}


@dataclass
class Staff:
    userid: str
    name: str | None = None
    store: str | None = None  # raw, as stored; resolved through the store map
    aliases: list[str] = field(default_factory=list)
    source: str = "store"  # store (the staff table) | config

    def to_dict(self) -> dict[str, Any]:
        return {"userid": self.userid, "name": self.name, "store": self.store, "aliases": list(self.aliases),
                "source": self.source}


def _clean(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _string_list(settings: "Settings", where: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(_('{config_file}: {where} must be a list of names, not {value!r}').format(config_file=settings.config_file, where=where, value=value))
    return [v.strip() for v in value]


def _config_tables(settings: "Settings | None", section: str, keys: tuple[str, ...]):
    """(id, table, "section.id") for each ``[section.<id>]`` of siyu.toml; unknown keys are refused."""
    if settings is None:
        return
    for key, body in settings.section(section).items():
        where = f"{section}.{key}"
        if not isinstance(body, dict):
            raise ConfigError(_('{config_file}: [{where}] must be a table (name = …, aliases = […])').format(config_file=settings.config_file, where=where))
        unknown = set(body) - set(keys)
        if unknown:
            raise ConfigError(_('{config_file}: unknown key {where}.{value} (known: {join})').format(config_file=settings.config_file, where=where, value=sorted(unknown)[0], join=', '.join(keys)))
        yield str(key), body, where


# ---------------------------------------------------------------- stores

def config_stores(settings: "Settings | None") -> list[Store]:
    """``[stores.<id>]`` tables of siyu.toml, checked (unknown keys and kinds are refused)."""
    out = []
    for store_id, body, where in _config_tables(settings, "stores", STORE_KEYS):
        kind = body.get("kind", "physical")
        if kind not in STORE_KINDS:
            raise ConfigError(_('{config_file}: {where}.kind must be physical or online, not {kind!r}').format(config_file=settings.config_file, where=where, kind=kind))
        name = body.get("name", store_id)
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(_('{config_file}: {where}.name must be a name').format(config_file=settings.config_file, where=where))
        out.append(Store(store_id, name.strip(), kind, _string_list(settings, f"{where}.aliases",
                                                                          body.get("aliases")), "config"))
    return out


def stores(con: "duckdb.DuckDBPyConnection", settings: "Settings | None") -> list[Store]:
    """Every canonical store: siyu.toml first, then ``siyu stores add``; aliases from both."""
    found = {s.store_id: s for s in config_stores(settings)}
    tables = table_names(con)
    if "dim_stores" in tables:
        for sid, name, kind in con.execute("SELECT store_id, name, kind FROM dim_stores ORDER BY store_id").fetchall():
            found.setdefault(sid, Store(sid, name, kind, [], "cli"))
    if "dim_store_aliases" in tables:
        for alias, sid in con.execute("SELECT alias, store_id FROM dim_store_aliases ORDER BY alias").fetchall():
            if sid in found and alias not in found[sid].aliases:
                found[sid].aliases.append(alias)
    return list(found.values())


def store_map(con, settings: "Settings | None") -> dict[str, tuple[str, str]]:
    """raw value → (store id, kind). A store's id, name and aliases; the first claim wins (config first)."""
    out: dict[str, tuple[str, str]] = {}
    for s in stores(con, settings):
        for raw in (s.store_id, s.name, *s.aliases):
            out.setdefault(_clean(raw), (s.store_id, s.kind))
    return out


def store_names(con, settings: "Settings | None") -> dict[str, tuple[str, ...]]:
    """raw value → every name of its canonical store (id, name, aliases), for filters written in Python."""
    names = {s.store_id: (s.store_id, s.name, *s.aliases) for s in stores(con, settings)}
    return {raw: names[sid] for raw, (sid, _kind) in store_map(con, settings).items()}


def _canonical_store(con, settings, text: str) -> Store:
    wanted = _clean(text)
    mapped = store_map(con, settings).get(wanted)
    if mapped is None:
        known = ", ".join(f"{s.store_id} {s.name}" for s in stores(con, settings)) or "none yet"
        raise UsageError(_('no store {text!r} (known: {known}; add one with `siyu stores add ID --name NAME` or [stores.ID] in siyu.toml)').format(text=text, known=known))
    return next(s for s in stores(con, settings) if s.store_id == mapped[0])


def add_store(settings: "Settings", store_id: str, name: str, kind: str = "physical") -> Store:
    """Create or rename a canonical store (``siyu stores add``)."""
    from siyu_cli.store import open_store

    store_id, name = _clean(store_id), _clean(name)
    if not store_id or not name:
        raise UsageError(_('a store needs an id and a name'))
    if kind not in STORE_KINDS:
        raise UsageError(_('--kind must be physical or online, not {kind!r}').format(kind=kind))
    if any(s.store_id == store_id for s in config_stores(settings)):
        raise UsageError(_('store {store_id} is defined in {config_file}; change it there').format(store_id=store_id, config_file=settings.config_file))
    with open_store(settings) as con:
        con.execute(
            "INSERT OR REPLACE INTO dim_stores (store_id, name, kind, updated_at) VALUES (?, ?, ?, now())",
            [store_id, name, kind],
        )
        return next(s for s in stores(con, settings) if s.store_id == store_id)


def add_store_alias(settings: "Settings", alias: str, canonical: str, *, source: str = "cli") -> Store:
    """Map a raw store value to a canonical store (id, name or an existing alias) — ``siyu stores alias``."""
    from siyu_cli.store import open_store

    alias = _clean(alias)
    if not alias:
        raise UsageError(_('the alias is empty'))
    with open_store(settings) as con:
        target = _canonical_store(con, settings, canonical)
        current = store_map(con, settings).get(alias)
        if current is not None and current[0] != target.store_id:
            raise UsageError(_('{alias!r} already means store {value}; it cannot also mean {store_id}').format(alias=alias, value=current[0], store_id=target.store_id))
        if current is None:
            con.execute("INSERT INTO dim_store_aliases (alias, store_id, source, created_at) VALUES (?, ?, ?, now())",
                        [alias, target.store_id, source])
        return next(s for s in stores(con, settings) if s.store_id == target.store_id)


def _raw_values(con, columns) -> dict[str, dict[str, int]]:
    """raw value → {table.column: rows} over the columns that exist."""
    tables = table_names(con)
    out: dict[str, dict[str, int]] = {}
    for table, col in columns:
        if table not in tables:
            continue
        cols = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()}
        if col not in cols:
            continue
        for raw, n in con.execute(
            f"SELECT trim({col}), count(*) FROM {table} WHERE nullif(trim({col}), '') IS NOT NULL GROUP BY 1"
        ).fetchall():
            out.setdefault(raw, {})[f"{table}.{col}"] = int(n)
    return out


def unmatched_stores(con, settings: "Settings | None") -> list[dict[str, Any]]:
    """Raw store values no canonical store claims, with where they occur and how many rows."""
    known = store_map(con, settings)
    return [{"value": raw, "rows": sum(where.values()), "where": where}
            for raw, where in sorted(_raw_values(con, STORE_COLUMNS).items()) if raw not in known]


def _overlap(raw: str, name: str) -> str | None:
    """Why ``raw`` may name the same store as ``name`` (suffix or containment), or None."""
    if len(raw) < 2 or len(name) < 2 or raw == name:
        return None
    if name.endswith(raw) or raw.endswith(name):
        return "suffix"
    if name.startswith(raw):  # "山茶咖啡" in "山茶咖啡上海徐汇店": the brand, often the online shop
        return "prefix"
    if raw in name or name in raw:
        return "contains"
    return None


def suggest_store_aliases(con, settings: "Settings | None") -> list[dict[str, Any]]:
    """For each unmatched value, the canonical stores whose id, name or alias overlaps it.

    One candidate: a proposal (``store_id``). Several, or only a prefix match: ``ambiguous`` with every
    candidate (the brand name "山茶咖啡" starts every store's name: it is usually the online shop,
    which an operator adds with ``siyu stores add … --kind online``). Nothing is applied here.
    """
    all_stores = stores(con, settings)
    out = []
    for item in unmatched_stores(con, settings):
        raw = item["value"]
        cands = []
        for s in all_stores:
            why = next((w for w in (_overlap(raw, n) for n in (s.name, *s.aliases)) if w), None)
            if why:
                cands.append({"store_id": s.store_id, "name": s.name, "kind": s.kind, "why": why})
        if not cands:
            continue
        one = len(cands) == 1 and cands[0]["why"] != "prefix"  # a brand prefix is never proposed as a store
        out.append({"alias": raw, "rows": item["rows"], "store_id": cands[0]["store_id"] if one else None,
                    "ambiguous": not one, "candidates": cands})
    return out


# ---------------------------------------------------------------- staff

def config_staff(settings: "Settings | None") -> list[Staff]:
    """``[staff.<userid>]`` tables of siyu.toml (name, aliases, store)."""
    out = []
    for userid, body, where in _config_tables(settings, "staff", STAFF_KEYS):
        out.append(Staff(userid, body.get("name"), body.get("store"),
                         _string_list(settings, f"{where}.aliases", body.get("aliases")), "config"))
    return out


def staff(con, settings: "Settings | None") -> list[Staff]:
    """Every staff member: the ``staff`` table, completed by siyu.toml, with their aliases."""
    found: dict[str, Staff] = {}
    if "staff" in table_names(con):
        for userid, name, store in con.execute("SELECT userid, name, store FROM staff ORDER BY userid").fetchall():
            found[userid] = Staff(userid, name, store)
    for s in config_staff(settings):
        cur = found.setdefault(s.userid, Staff(s.userid, source="config"))
        cur.name = s.name or cur.name
        cur.store = s.store or cur.store
        cur.aliases.extend(a for a in s.aliases if a not in cur.aliases)
    if "dim_staff_aliases" in table_names(con):
        for alias, userid in con.execute("SELECT alias, userid FROM dim_staff_aliases ORDER BY alias").fetchall():
            if userid in found and alias not in found[userid].aliases:
                found[userid].aliases.append(alias)
    return list(found.values())


def staff_directory(con, settings: "Settings | None") -> tuple[list[Staff], dict[str, list[str]]]:
    """(every staff member, ambiguous name → its userids): `siyu dims staff list`."""
    return staff(con, settings), staff_map(con, settings)[1]


def staff_map(con, settings: "Settings | None") -> tuple[dict[str, str], dict[str, list[str]]]:
    """(raw value → userid, ambiguous name → its userids). Userids and explicit aliases first; a name
    only when exactly one userid carries it."""
    people = staff(con, settings)
    out: dict[str, str] = {}
    for s in people:
        out.setdefault(_clean(s.userid), s.userid)
    for s in people:
        for alias in s.aliases:
            out.setdefault(_clean(alias), s.userid)
    by_name: dict[str, list[str]] = {}
    for s in people:
        if _clean(s.name):
            by_name.setdefault(_clean(s.name), []).append(s.userid)
    ambiguous = {}
    for name, ids in by_name.items():
        if len(ids) == 1:
            out.setdefault(name, ids[0])
        elif name not in out:
            ambiguous[name] = sorted(ids)
    return out, ambiguous


def add_staff_alias(settings: "Settings", alias: str, userid: str) -> Staff:
    """Map a raw guide value (a name, a nickname, an old id) to a userid — ``siyu staff alias``."""
    from siyu_cli.store import open_store

    alias = _clean(alias)
    if not alias:
        raise UsageError(_('the alias is empty'))
    with open_store(settings) as con:
        people = {s.userid: s for s in staff(con, settings)}
        if userid not in people:
            raise UsageError(_('no staff member {userid!r} (see `siyu staff list`)').format(userid=userid))
        mapped, _rest = staff_map(con, settings)
        if alias in people and alias != userid:
            raise UsageError(_('{alias!r} is itself a userid').format(alias=alias))
        current = mapped.get(alias)
        if current is not None and current != userid:
            raise UsageError(_('{alias!r} already means {current}; it cannot also mean {userid}').format(alias=alias, current=current, userid=userid))
        if current is None:
            con.execute("INSERT INTO dim_staff_aliases (alias, userid, source, created_at) VALUES (?, ?, 'cli', now())",
                        [alias, userid])
        return next(s for s in staff(con, settings) if s.userid == userid)


def unmatched_staff(con, settings: "Settings | None") -> list[dict[str, Any]]:
    """Raw guide values no staff member claims: unknown, or a name several userids share."""
    mapped, ambiguous = staff_map(con, settings)
    out = []
    for raw, where in sorted(_raw_values(con, STAFF_COLUMNS).items()):
        if raw in mapped:
            continue
        reason = f"ambiguous: {', '.join(ambiguous[raw])}" if raw in ambiguous else "unknown"
        out.append({"value": raw, "rows": sum(where.values()), "where": where, "reason": reason})
    return out


# ---------------------------------------------------------------- SQL

def prepare(con: "duckdb.DuckDBPyConnection", settings: "Settings | None" = None) -> None:
    """TEMP maps and macros on ``con`` (works on read-only connections).

    ``dim_store(x)``: canonical store id of a raw value (the value itself when unknown);
    ``dim_store_kind(x)``: physical | online (unknown values count as physical);
    ``dim_physical_store(x)``: ``dim_store(x)``, or NULL for an online shop;
    ``dim_guide(x)``: the userid of a raw guide value (itself when unknown or ambiguous);
    ``dim_guide_store(userid)``: the physical store of a staff member, or NULL (also as the table
    ``dim_guide_physical``). :func:`physical_store_join`, :func:`guide_join` and :func:`guide_store_join`
    give the same as joins, for queries over many rows.
    """
    smap = store_map(con, settings)
    gmap, _rest = staff_map(con, settings)
    con.execute("CREATE OR REPLACE TEMP TABLE dim_store_map (raw VARCHAR PRIMARY KEY, store_id VARCHAR, kind VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE dim_staff_map (raw VARCHAR PRIMARY KEY, userid VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE dim_staff_store (userid VARCHAR PRIMARY KEY, raw_store VARCHAR)")
    if smap:
        con.execute("INSERT INTO dim_store_map SELECT * FROM (SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
                    "unnest(?::VARCHAR[]))", [list(smap), [v[0] for v in smap.values()], [v[1] for v in smap.values()]])
    if gmap:
        con.execute("INSERT INTO dim_staff_map SELECT * FROM (SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]))",
                    [list(gmap), list(gmap.values())])
    con.execute("CREATE OR REPLACE TEMP TABLE dim_store_names (store_id VARCHAR PRIMARY KEY, name VARCHAR, kind VARCHAR)")
    canon = stores(con, settings)
    if canon:
        con.execute("INSERT INTO dim_store_names SELECT * FROM (SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
                    "unnest(?::VARCHAR[]))", [[s.store_id for s in canon], [s.name for s in canon], [s.kind for s in canon]])
    people = [s for s in staff(con, settings) if _clean(s.store)]
    if people:
        con.execute("INSERT INTO dim_staff_store SELECT * FROM (SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]))",
                    [[s.userid for s in people], [_clean(s.store) for s in people]])
    con.execute("CREATE OR REPLACE TEMP MACRO dim_store(x) AS "
                "coalesce((SELECT store_id FROM dim_store_map WHERE raw = trim(x)), nullif(trim(x), ''))")
    con.execute("CREATE OR REPLACE TEMP MACRO dim_store_kind(x) AS CASE WHEN nullif(trim(x), '') IS NULL THEN NULL "
                "ELSE coalesce((SELECT kind FROM dim_store_map WHERE raw = trim(x)), 'physical') END")
    con.execute("CREATE OR REPLACE TEMP MACRO dim_physical_store(x) AS "
                "CASE WHEN dim_store_kind(x) = 'online' THEN NULL ELSE dim_store(x) END")
    con.execute("CREATE OR REPLACE TEMP MACRO dim_guide(x) AS "
                "coalesce((SELECT userid FROM dim_staff_map WHERE raw = trim(x)), nullif(trim(x), ''))")
    con.execute("CREATE OR REPLACE TEMP MACRO dim_guide_store(u) AS "
                "dim_physical_store((SELECT raw_store FROM dim_staff_store WHERE userid = u))")
    con.execute("CREATE OR REPLACE TEMP TABLE dim_guide_physical (userid VARCHAR PRIMARY KEY, store VARCHAR)")
    con.execute("INSERT INTO dim_guide_physical SELECT userid, dim_physical_store(raw_store) FROM dim_staff_store")


# Join forms of the macros, for scans of many rows: each macro is a correlated subquery, which DuckDB runs
# as a DISTINCT of the outer values plus a join back (per macro and per use); a LEFT JOIN on the small map
# (its key is unique) resolves a row with one hash probe. Same results as the macros, NULLs included
# (tests/core/test_dimensions.py compares them).

def physical_store_join(expr: str, alias: str) -> tuple[str, str]:
    """(LEFT JOIN clause, expression) equal to ``dim_physical_store(expr)``; ``alias`` names the joined map."""
    raw = f"nullif(trim({expr}), '')"
    return (f"LEFT JOIN dim_store_map {alias} ON {alias}.raw = trim({expr})",
            f"CASE WHEN {alias}.kind = 'online' AND {raw} IS NOT NULL THEN NULL ELSE coalesce({alias}.store_id, {raw}) END")


def guide_join(expr: str, alias: str) -> tuple[str, str]:
    """(LEFT JOIN clause, expression) equal to ``dim_guide(expr)``."""
    return (f"LEFT JOIN dim_staff_map {alias} ON {alias}.raw = trim({expr})",
            f"coalesce({alias}.userid, nullif(trim({expr}), ''))")


def guide_store_join(userid: str, alias: str) -> tuple[str, str]:
    """(LEFT JOIN clause, expression) equal to ``dim_guide_store(userid)`` (``userid`` already resolved)."""
    return f"LEFT JOIN dim_guide_physical {alias} ON {alias}.userid = {userid}", f"{alias}.store"


def ensure_prepared(con: "duckdb.DuckDBPyConnection") -> None:
    """:func:`prepare` from the store's tables alone, unless the caller already prepared with settings."""
    have = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = 'dim_store_map'"
    ).fetchone()[0]
    if not have:
        prepare(con, None)


