"""Reads siyu's source as text to find its architecture: imports, table writes and SQL in cli/.

Shared by tests/test_architecture.py (the rules) and the generated tables of ARCHITECTURE.md (cog).
Nothing here imports siyu_cli: it parses the files, so it sees lazy imports inside functions and
TYPE_CHECKING blocks too.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import os

#: the package scanned; SIYU_ARCH_SRC points elsewhere (e.g. another checkout's src/siyu_cli) to check it
SRC = Path(os.environ.get("SIYU_ARCH_SRC") or Path(__file__).resolve().parent.parent / "src" / "siyu_cli")
MIGRATIONS = SRC / "store" / "migrations"

#: Layers, lowest first. A module may import its own layer and the layers below, never one above.
#: Units are the top-level modules and packages of siyu_cli ("siyu_cli" itself: __version__).
LAYERS: list[tuple[str, frozenset[str]]] = [
    ("base", frozenset({"siyu_cli", "errors", "clock", "secrets", "render_budget", "privacy", "config", "output",
                        "templating", "scratch", "formatting", "progress", "sql", "engine", "i18n", "i18n_tools"})),
    ("store", frozenset({"store"})),
    ("services", frozenset({"wecom", "sandbox", "dimensions", "analyst", "forget", "workspace", "lake", "members"})),
    ("ingest", frozenset({"ingest"})),
    ("segment", frozenset({"segment"})),
    ("clv", frozenset({"clv"})),
    ("plan", frozenset({"plan"})),
    ("push", frozenset({"push"})),
    ("sync and report", frozenset({"sync", "report"})),
    ("orchestrators", frozenset({"runner", "demo", "doctor"})),
    ("cli", frozenset({"cli", "__main__"})),
]

#: Packages that may write every table, and why.
CROSS_CUTTING_WRITERS = {
    "store": "the migrations create and rewrite tables (store/migrations/)",
    "forget": "an erasure (`siyu forget`) must reach every row that names the person",
    "members": "a merge or split of two members (`siyu members`, a linking load row) must move every row that names them",
}

#: Tables a second package writes besides the owner, and why: known debt, listed so it cannot grow.
SHARED_WRITES: dict[str, dict[str, str]] = {
    "wecom_contacts": {"sync": "the WeCom API merge (sync/merge.py) replaces the relations an export load made"},
    "groups": {"sync": "the WeCom API merge (sync/merge.py) replaces the groups an export load made"},
    "group_members": {"sync": "the WeCom API merge (sync/merge.py) replaces the members an export load made"},
}

#: Writes whose table name is a placeholder (``INSERT INTO {table}``): the tables each module may
#: pass, declared here because a scan cannot see them.
DYNAMIC_WRITES: dict[str, frozenset[str]] = {
    "ingest/merge.py": frozenset({"members", "orders", "order_lines", "groups", "group_members", "wecom_contacts",
                                  "member_tags", "staff"}),  # the loader's upsert of a file's rows
    "ingest/readers.py": frozenset(),  # temp tables of a read
    "report/kpis.py": frozenset(),  # temp tables of a report
    "sync/linking.py": frozenset(),  # temp tables of the linking
    "sync/wecom.py": frozenset({"wecom_sync_contacts", "wecom_sync_groups", "wecom_sync_tags"}),  # staged pages
    "sync/merge.py": frozenset({"wecom_contacts", "wecom_customers", "wecom_corp_tags", "groups", "group_members",
                                "wecom_sync_contacts", "wecom_sync_groups", "wecom_sync_tags"}),
    "forget.py": frozenset(),  # the tables it erases from: any (cross-cutting)
    "members.py": frozenset(),  # the tables a merge repoints: any member_id table (cross-cutting)
    "ingest/identity.py": frozenset(),  # temp tables of a batch's resolution
    "store/migrations/005_pseudonymous_ids.py": frozenset(),  # a migration (cross-cutting)
}

#: Tables every package may read (read-only): the facts `siyu load` brings in from the exports (and the sync
#: merges). They are what every area analyses; their columns are the contract (docs/schema.md), and a
#: function per question would only rename the SQL. Writes still belong to their owner.
FACT_TABLES: dict[str, str] = {t: "a loaded fact every area analyses" for t in (
    "members", "orders", "order_lines", "groups", "group_members", "wecom_contacts", "member_identities",
    "member_tags", "staff")}

#: Analytical query files (``sql/<area>/*.sql``) count as their area's code. The report's queries may read
#: any table: they run on DuckDB and on Spark over the lake (issue 19), where no owner's Python function
#: exists, and they only read.
ANALYTICAL_SQL_READERS = {"report": "the report's queries run on DuckDB and Spark (sql/report/*.sql): "
                                    "analytical SQL over the whole store, read-only"}

#: Reads of another package's table outside its functions: file -> table -> why (known debt, listed
#: so that it cannot grow; the test fails on an entry no code needs any more).
FOREIGN_READS: dict[str, dict[str, str]] = {
    "plan/sop.py": {
        "optouts": "plan sits below push: the SOP preview marks opted-out members inside its one query",
        "contact_events": "plan sits below sync: a contact-event SOP anchors on the events inside its one query",
    },
    "segment/snapshots.py": {
        "clv_fits": "segment sits below clv: `siyu segment show`/export pick the newest fit for the CLV columns",
        "clv_members": "segment sits below clv: `siyu segment show`/export join the members' CLV predictions",
    },
    "segment/prune.py": {
        "push_campaigns": "segment sits below push: pruning keeps the snapshots a campaign's control group reads",
    },
}

_WRITE = re.compile(
    r"\b(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?|ALTER\s+TABLE|"
    r"DROP\s+TABLE(?:\s+IF\s+EXISTS)?|COPY)\s+(\{[^}]*\}|[A-Za-z_][\w.]*)"
)
_GONE = re.compile(r"\b(?:ALTER\s+TABLE\s+([A-Za-z_]\w*)\s+RENAME\s+TO|DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?([A-Za-z_]\w*))",
                   re.I)
_CREATE = re.compile(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_]\w*)|"
                     r"\bRENAME\s+TO\s+([A-Za-z_]\w*)", re.I)
_SQL = re.compile(r"\b(?:SELECT\b[\s\S]*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
                  r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\s+)?(?:TABLE|VIEW|INDEX)|DROP\s+TABLE|COPY\s+\w+\s+(?:TO|FROM))\b")


def rel(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def unit_of(module: str) -> str:
    """``siyu_cli.push.ledger`` -> ``push``; ``siyu_cli`` -> ``siyu_cli``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def package_of(path: str) -> str:
    """``push/ledger.py`` -> ``push``; ``forget.py`` -> ``forget``."""
    return path.split("/")[0].removesuffix(".py")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def source_files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _tree(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def import_graph() -> dict[str, set[str]]:
    """Module -> the siyu_cli modules it imports (anywhere in the file), resolved to real modules."""
    files = {module_name(p): p for p in source_files()}

    def resolve(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        deps: set[str] = set()
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "siyu_cli":
                for alias in node.names:
                    target = resolve(f"{node.module}.{alias.name}")
                    if target:
                        deps.add(target)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "siyu_cli":
                        target = resolve(alias.name)
                        if target:
                            deps.add(target)
        deps.discard(mod)
        graph[mod] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def layer_of(unit: str) -> int:
    for i, (_name, units) in enumerate(LAYERS):
        if unit in units:
            return i
    raise KeyError(f"{unit} is in no layer: add it to LAYERS in tests/archscan.py")


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """``a -> b`` for every import of a module in a higher layer."""
    bad = []
    for mod, deps in sorted(graph.items()):
        for dep in sorted(deps):
            if layer_of(unit_of(dep)) > layer_of(unit_of(mod)):
                bad.append(f"{mod} -> {dep}")
    return bad


def strings(tree: ast.AST):
    """Every string constant and f-string of a module (f-string values as ``{}``), with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)


def _fstring_parts(tree: ast.AST) -> set[int]:
    return {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}


def migration_tables() -> dict[str, str]:
    """Every table a migration creates -> the migration's file name."""
    out: dict[str, str] = {}
    gone: set[str] = set()
    for path in sorted(MIGRATIONS.iterdir()):
        if path.suffix not in (".sql", ".py"):
            continue
        text = path.read_text(encoding="utf-8")
        for m in _CREATE.finditer(text):  # a table, or a rename's new name
            out.setdefault((m.group(1) or m.group(2)).lower(), path.name)
        gone |= {(m.group(1) or m.group(2)).lower() for m in _GONE.finditer(text)}
    # a table a later migration renamed away or dropped (members__new -> members) is not a table
    return {t: f for t, f in out.items() if t not in gone or _recreated(t)}


def _recreated(table: str) -> bool:
    """A table that is dropped and created again, replaced by a view of its name (segment_members, migration
    101), or is the target of a rename, still exists."""
    for path in sorted(MIGRATIONS.iterdir()):
        if path.suffix in (".sql", ".py") and re.search(rf"RENAME\s+TO\s+{table}\b|CREATE\s+VIEW\s+{table}\b",
                                                         path.read_text(encoding="utf-8"), re.I):
            return True
    return False


def table_writes() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(table -> files writing it, file -> placeholder writes) over the source, migrations excluded
    (they are the store's). Only tables a migration creates count (not temp or staging tables)."""
    tables = migration_tables()
    writes: dict[str, set[str]] = defaultdict(set)
    dynamic: dict[str, set[str]] = defaultdict(set)
    for path in source_files():
        name = rel(path)
        tree = _tree(path)
        parts = _fstring_parts(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) in parts:
                continue  # a piece of an f-string: read whole below
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            elif isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            else:
                continue
            for m in _WRITE.finditer(text):
                target = m.group(1)
                if target.startswith("{"):
                    dynamic[name].add(text[m.start():m.end()])
                elif target.lower() in tables:
                    writes[target.lower()].add(name)
    return writes, dynamic


def owners() -> dict[str, str]:
    """Table -> the one package that writes it (cross-cutting and declared shared writers aside).

    A table no code writes besides the cross-cutting packages is owned by the store (a migration
    fills it). A table with two owners left maps to "a, b" (the architecture test fails on it).
    """
    writes, _dynamic = table_writes()
    out = {}
    for table in sorted(migration_tables()):
        pkgs = {package_of(f) for f in writes.get(table, ())} - set(CROSS_CUTTING_WRITERS)
        for path, declared in DYNAMIC_WRITES.items():
            if table in declared:
                pkgs.add(package_of(path))
        pkgs -= set(SHARED_WRITES.get(table, {}))
        if not pkgs:  # only cross-cutting packages write it: forget's own log, else a migration's table
            pkgs = {package_of(f) for f in writes.get(table, ())} - {"store"} or {"store"}
            if len(pkgs) > 1:  # forget erases from every table: the other cross-cutting writer owns it
                pkgs -= {"forget"}
        out[table] = ", ".join(sorted(pkgs))
    for view, sources in migration_views().items():  # nobody writes a view: it is its tables' owner's
        pkgs = {out[t] for t in sources if t in out}
        if view in out and len(pkgs) == 1:  # (a view that never was a table, e.g. wecom_relation_tags, is not one)
            out[view] = pkgs.pop()
    return out


_VIEW = re.compile(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+([A-Za-z_]\w*)\s+AS\b(.*?);", re.I | re.S)


def migration_views() -> dict[str, set[str]]:
    """View a migration creates -> the migration tables its definition reads."""
    tables = migration_tables()
    out: dict[str, set[str]] = {}
    for path in sorted(MIGRATIONS.iterdir()):
        if path.suffix in (".sql", ".py"):
            for m in _VIEW.finditer(path.read_text(encoding="utf-8")):
                out[m.group(1).lower()] = {r.lower() for r in _READ.findall(m.group(2)) if r.lower() in tables}
    return out


_READ = re.compile(r"\b(?:FROM|JOIN)\s+([A-Za-z_]\w*)", re.I)


def reader_of(path: str) -> str:
    """The package a file's reads count for: ``sql/report/x.sql`` -> ``report``, ``push/ledger.py`` -> ``push``."""
    parts = path.split("/")
    return parts[1] if parts[0] == "sql" and len(parts) > 2 else package_of(path)


def _read_sources():
    """(file, line, text) of every string of the source and every analytical ``.sql`` file (migrations aside)."""
    for path in source_files():
        if not rel(path).startswith("store/migrations/"):
            for line, text in strings(_tree(path)):
                yield rel(path), line, text
    for path in sorted(SRC.rglob("*.sql")):
        if not rel(path).startswith("store/migrations/"):
            yield rel(path), 1, path.read_text(encoding="utf-8")


def table_reads() -> dict[str, set[str]]:
    """Table -> ``file:line`` of every ``FROM``/``JOIN`` of it (a table a migration creates)."""
    tables = migration_tables()
    out: dict[str, set[str]] = defaultdict(set)
    for name, line, text in _read_sources():
        for m in _READ.finditer(text):
            if m.group(1).lower() in tables:
                out[m.group(1).lower()].add(f"{name}:{line + text.count(chr(10), 0, m.start()) if name.endswith('.sql') else line}")
    return out


def foreign_reads(reads: dict[str, set[str]] | None = None, table_owners: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Table -> the places another package reads it with its own SQL, outside the allowances:
    its owner, the cross-cutting writers, a fact table, the report's analytical SQL, FOREIGN_READS."""
    reads = table_reads() if reads is None else reads
    table_owners = owners() if table_owners is None else table_owners
    out: dict[str, list[str]] = {}
    for table, places in sorted(reads.items()):
        if table in FACT_TABLES:
            continue
        bad = []
        for place in sorted(places):
            path = place.rsplit(":", 1)[0]
            pkg = reader_of(path)
            if pkg == table_owners.get(table) or pkg in CROSS_CUTTING_WRITERS or pkg == "store":
                continue
            if path.startswith("sql/") and pkg in ANALYTICAL_SQL_READERS:
                continue
            if table in FOREIGN_READS.get(path, {}):
                continue
            bad.append(place)
        if bad:
            out[table] = bad
    return out


def cli_sql() -> list[str]:
    """``file:line`` of every SQL string and every ``.execute(`` / ``.sql(`` call in cli/."""
    found = []
    for path in sorted((SRC / "cli").rglob("*.py")):
        tree = _tree(path)
        for line, text in strings(tree):
            if _SQL.search(text):
                found.append(f"{rel(path)}:{line}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("execute", "sql"):
                found.append(f"{rel(path)}:{node.lineno} .{node.func.attr}(")
    return found


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, bool]:
    """A function's parameter names -> whether each has a default."""
    args = fn.args
    positional = args.posonlyargs + args.args
    out = {a.arg: i >= len(positional) - len(args.defaults) for i, a in enumerate(positional)}
    out.update({a.arg: d is not None for a, d in zip(args.kwonlyargs, args.kw_defaults)})
    return out


def _trees(under: Path | None = None):
    return ((rel(p), _tree(p)) for p in (sorted(under.rglob("*.py")) if under else source_files()))


def settings_or_session(trees=None) -> list[str]:
    """``file:line name`` of every function taking ``settings`` and an optional ``con``: it would open the
    store itself or use the caller's session, two ways of working in one function. ``trees``: (name, ast)
    pairs to scan instead of the source."""
    found = []
    for name, tree in (_trees() if trees is None else trees):
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                params = _params(node)
                if "settings" in params and params.get("con"):
                    found.append(f"{name}:{node.lineno} {node.name}")
    return found


def cli_sessions(trees=None) -> list[str]:
    """``file:line`` of every ``open_store(`` call in cli/: a command holds no connection."""
    found = []
    for name, tree in (_trees(SRC / "cli") if trees is None else trees):
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "open_store":
                found.append(f"{name}:{node.lineno}")
    return found


def cli_layout(trees=None) -> list[str]:
    """``file:line what`` of Rich layout in cli/: an import of rich, a table or panel built, a console's
    ``.print(``. Layout for people lives in the areas' render modules (push/render.py, segment/render.py, …)."""
    found = []
    for name, tree in (_trees(SRC / "cli") if trees is None else trees):
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "rich":
                found.append(f"{name}:{node.lineno} rich")
            elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "rich" for a in node.names):
                found.append(f"{name}:{node.lineno} rich")
            elif isinstance(node, ast.Call):
                what = getattr(node.func, "id", getattr(node.func, "attr", None))
                if what in ("rows_table", "Table", "Panel", "print") and isinstance(node.func, ast.Attribute) == (what == "print"):
                    found.append(f"{name}:{node.lineno} {what}")
    return sorted(found, key=lambda f: (f.split(":")[0], int(f.split(":")[1].split()[0]), f))


def owner_table_markdown() -> str:
    """The owner map as a Markdown table (ARCHITECTURE.md)."""
    tables = migration_tables()
    by_owner: dict[str, list[str]] = defaultdict(list)
    for table, owner in owners().items():
        by_owner[owner].append(table)
    lines = ["| package | tables it writes (others read them through its functions) |", "|---|---|"]
    for owner in sorted(by_owner):
        lines.append(f"| `{owner}` | {', '.join(f'`{t}`' for t in sorted(by_owner[owner]))} |")
    shared = [f"`{t}` also by `{p}` ({why})" for t, d in sorted(SHARED_WRITES.items()) for p, why in d.items()]
    lines += ["", "Cross-cutting writers: " + "; ".join(f"`{p}` — {why}" for p, why in CROSS_CUTTING_WRITERS.items())
              + ".", "", "Known shared writes (debt; the test keeps the list from growing): " + "; ".join(shared) + "."]
    lines += ["", "Reads of another package's table with SQL of one's own, allowed (the test fails on any other):", "",
              "- the facts, read by everyone: " + ", ".join(f"`{t}`" for t in sorted(FACT_TABLES)) + " (" +
              "a loaded fact every area analyses; their columns are the contract, docs/schema.md);"]
    lines += [f"- `{p}` — {why};" for p, why in ANALYTICAL_SQL_READERS.items()]
    lines += [f"- `{f}` reads `{t}`: {why} (debt);" for f, d in sorted(FOREIGN_READS.items()) for t, why in sorted(d.items())]
    lines[-1] = lines[-1][:-1] + "."
    assert tables  # the table is derived from the migrations: never empty
    return "\n".join(lines)


def layers_markdown() -> str:
    lines = ["| layer (lowest first) | modules |", "|---|---|"]
    for name, units in LAYERS:
        lines.append(f"| {name} | {', '.join(f'`{u}`' for u in sorted(units))} |")
    return "\n".join(lines)
