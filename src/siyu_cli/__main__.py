"""``python -m siyu_cli`` runs the CLI."""

from siyu_cli.cli.main import main

if __name__ == "__main__":
    main()
