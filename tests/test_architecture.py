"""The architecture rules (ARCHITECTURE.md), checked on the source as text (tests/archscan.py).

- no import cycles between modules (lazy and TYPE_CHECKING imports count: they are cycles a reader
  has to untangle all the same);
- no module imports a higher layer (archscan.LAYERS, lowest first);
- no SQL in cli/: commands parse, call a library function, render;
- each table is written by one package (its owner), apart from the cross-cutting writers (the
  store's migrations, `siyu forget`) and the shared writes listed as debt in archscan.SHARED_WRITES;
- store access: no function takes ``settings`` and an optional ``con`` (an entry point takes settings and
  opens one session; an inner function takes the connection), and no command in cli/ opens the store
  (it calls an entry point, or ``store.read(settings, fn, …)`` for an inner function);
- no Rich layout in cli/ (rich imports, tables, panels, console prints): it lives in render modules;
- each table is read with its own SQL only by its owner: another package calls the owner's functions
  (which may hand back SQL to compose), apart from the loaded facts (archscan.FACT_TABLES), the report's
  analytical queries (sql/report/*.sql, run on DuckDB and Spark) and the debt in archscan.FOREIGN_READS.

``SIYU_ARCH_SRC=/path/to/src/siyu_cli pytest tests/test_architecture.py`` checks another checkout.
"""

from __future__ import annotations

import archscan as A


def test_no_import_cycles():
    assert A.cycles(A.import_graph()) == []


def test_every_module_is_in_a_layer():
    units = {A.unit_of(m) for m in A.import_graph()}
    assert sorted(u for u in units if not any(u in names for _n, names in A.LAYERS)) == []


def test_no_layer_imports_a_higher_one():
    assert A.upward_imports(A.import_graph()) == []


def test_no_sql_in_cli():
    assert A.cli_sql() == []


def test_no_function_takes_settings_and_an_optional_connection():
    assert A.settings_or_session() == []


def test_no_command_opens_the_store():
    assert A.cli_sessions() == []


def test_the_session_scans_see_what_they_should():
    """Both session rules find what they look for in a made-up module, and only that."""
    import ast

    tree = ast.parse("def f(settings, x, *, con=None): pass\ndef g(settings, con): pass\n"
                     "def h(con, settings=None): pass\ndef k(settings, con=None): pass\n"
                     "def c(s):\n    with store.open_store(s) as con: pass\n    with open_store(s): pass\n")
    assert A.settings_or_session([("m.py", tree)]) == ["m.py:1 f", "m.py:4 k"]
    assert A.cli_sessions([("cli/x.py", tree)]) == ["cli/x.py:6", "cli/x.py:7"]


def test_no_layout_in_cli():
    assert A.cli_layout() == []


def test_the_layout_scan_sees_what_it_should():
    import ast

    tree = ast.parse("from rich.table import Table\nimport rich.panel\ndef f(c):\n    c.print(rows_table([], []))\n"
                     "    print('x')\n    emit_rows([], [], 'table')\n")
    assert A.cli_layout([("cli/x.py", tree)]) == ["cli/x.py:1 rich", "cli/x.py:2 rich", "cli/x.py:4 print",
                                                  "cli/x.py:4 rows_table"]


def test_placeholder_writes_are_declared():
    """A write to ``{table}`` cannot be read by a scan: its module must say which tables it passes."""
    _writes, dynamic = A.table_writes()
    assert sorted(set(dynamic) - set(A.DYNAMIC_WRITES)) == []


def test_each_table_has_one_writing_package():
    owners = A.owners()
    assert {t: o for t, o in owners.items() if "," in o} == {}
    assert set(owners) == set(A.migration_tables())


def test_shared_writes_are_still_needed():
    """An exception that no code needs any more is removed, so the list only shrinks."""
    writes, _dynamic = A.table_writes()
    for table, extra in A.SHARED_WRITES.items():
        writers = {A.package_of(f) for f in writes.get(table, ())}
        writers |= {A.package_of(p) for p, tables in A.DYNAMIC_WRITES.items() if table in tables}
        assert set(extra) <= writers, (table, extra, writers)


def test_tables_are_read_through_their_owner():
    assert A.foreign_reads() == {}


def test_foreign_read_allowances_are_still_needed():
    """An allowance no code needs any more is removed, so the list only shrinks."""
    reads = A.table_reads()
    for path, tables in A.FOREIGN_READS.items():
        for table in tables:
            assert any(p.rsplit(":", 1)[0] == path for p in reads.get(table, ())), (path, table)


def test_the_read_scan_tells_owners_from_foreign_readers():
    """On a made-up scan: the owner, a fact table and the report's SQL pass; another package's SQL does not."""
    reads = {"segment_members": {"segment/run.py:5", "sql/report/mix.sql:3", "sync/tags.py:103", "sql/plan/x.sql:1"},
             "members": {"plan/sop.py:1"}, "push_recipients": {"forget.py:9", "plan/sop.py:7"}}
    owners = {"segment_members": "segment", "members": "ingest", "push_recipients": "push"}
    assert A.foreign_reads(reads, owners) == {"segment_members": ["sql/plan/x.sql:1", "sync/tags.py:103"],
                                              "push_recipients": ["plan/sop.py:7"]}
    assert A.reader_of("sql/report/campaigns.sql") == "report" and A.reader_of("push/ledger.py") == "push"
    assert A._READ.findall("SELECT 1 FROM push_recipients r JOIN segment_members s ON true") == [
        "push_recipients", "segment_members"]


def test_the_scan_sees_what_it_should():
    """The rules cannot pass by seeing nothing: known facts of the code base are found."""
    graph = A.import_graph()
    assert "siyu_cli.runner.model" in graph["siyu_cli.runner.pipeline"]
    assert A.layer_of("cli") > A.layer_of("push") > A.layer_of("store")
    owners = A.owners()
    assert owners["push_recipients"] == "push" and owners["segment_members"] == "segment"
    assert owners["members"] == "ingest" and owners["erasures"] == "forget"
    assert len(A.migration_tables()) >= 40
    reads = A.table_reads()
    assert any(p.startswith("sql/report/") for p in reads["segment_members"])  # the .sql files are read too
    assert any(p.startswith("push/") for p in reads["push_recipients"])
    # a cycle, an upward import and SQL in cli/ are found when they exist
    assert A.cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert A.upward_imports({"siyu_cli.store": {"siyu_cli.push.due"}}) == ["siyu_cli.store -> siyu_cli.push.due"]
    assert A._SQL.search("SELECT reason, count(*) FROM push_recipients")
    assert not A._SQL.search("Select the rows to show from the list")
