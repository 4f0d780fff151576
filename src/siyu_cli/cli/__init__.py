"""The Typer command-line layer: parse arguments, call the library, print results."""
