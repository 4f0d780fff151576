"""The architecture rules (ARCHITECTURE.md), checked on the source as text (tests/archscan.py).

- no import cycles between modules (lazy and TYPE_CHECKING imports count: they are cycles a reader
  has to untangle all the same);
- no module imports a higher layer (archscan.LAYERS, lowest first);
- no SQL in cli/: commands parse, call a library function, render;
- each table is written by one package (its owner), apart from the cross-cutting writers (the
  store's migrations, `siyu forget`) and the shared writes listed as debt in archscan.SHARED_WRITES.

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


def test_the_scan_sees_what_it_should():
    """The rules cannot pass by seeing nothing: known facts of the code base are found."""
    graph = A.import_graph()
    assert "siyu_cli.runner.model" in graph["siyu_cli.runner.pipeline"]
    assert A.layer_of("cli") > A.layer_of("push") > A.layer_of("store")
    owners = A.owners()
    assert owners["push_recipients"] == "push" and owners["segment_members"] == "segment"
    assert owners["members"] == "ingest" and owners["erasures"] == "forget"
    assert len(A.migration_tables()) >= 40
    # a cycle, an upward import and SQL in cli/ are found when they exist
    assert A.cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert A.upward_imports({"siyu_cli.store": {"siyu_cli.push.due"}}) == ["siyu_cli.store -> siyu_cli.push.due"]
    assert A._SQL.search("SELECT reason, count(*) FROM push_recipients")
    assert not A._SQL.search("Select the rows to show from the list")
