"""siyu (私域): a command-line toolkit for private-domain operations.

The library lives in the sub-packages (ingest, segment, plan, push, report, …);
``siyu_cli.cli`` is a thin Typer layer over it. Heavy modules (duckdb, polars,
jinja2, httpx) are imported inside the functions that need them so that
``siyu --help`` starts fast.
"""

__version__ = "0.1.0"
