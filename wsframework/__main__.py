"""``python -m wsframework``: the command line (``run``, ``routes``; see docs/cli.md)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
