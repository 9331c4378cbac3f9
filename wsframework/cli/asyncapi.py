"""The ``asyncapi`` command: print (or write) an app's AsyncAPI 3.0.0 document as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .common import CLIError, _add_app_dir, _say
from .loading import load_app


def add_parser(commands: Any) -> None:
    """Add ``asyncapi`` to the ``wsframework`` sub-commands (``commands`` is the
    ``add_subparsers()`` object)."""
    parser = commands.add_parser(
        "asyncapi",
        help="print the app's AsyncAPI 3.0.0 document",
        description="Print the AsyncAPI 3.0.0 document of MODULE:ATTR (JSON, see "
        "docs/asyncapi.md).",
    )
    parser.add_argument("app", metavar="MODULE:ATTR")
    parser.add_argument("--factory", action="store_true", help="ATTR returns the App")
    parser.add_argument("--app-dir", default=".", help="put first on sys.path (.)")
    parser.add_argument("--output", "-o", metavar="FILE", help="write it to FILE, not stdout")
    parser.add_argument(
        "--server",
        action="append",
        metavar="URL",
        help="where the app is served, e.g. wss://chat.example.com (repeatable)",
    )
    parser.add_argument("--title", default="wsframework app", help="info.title (wsframework app)")
    parser.add_argument("--api-version", default="0.1.0", help="info.version (0.1.0)")
    parser.set_defaults(handler=_cmd_asyncapi)


def document_text(document: dict[str, Any]) -> str:
    """The JSON the command prints: indented by 2, non-ASCII kept, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _cmd_asyncapi(args: argparse.Namespace) -> int:
    _add_app_dir(args.app_dir)
    app = load_app(args.app, factory=args.factory)
    try:
        document = app.asyncapi(title=args.title, version=args.api_version, servers=args.server)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"cannot describe {args.app}: {exc}") from None
    text = document_text(document)
    if args.output is None:
        print(text, end="")
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    _say(f"wrote the AsyncAPI document of {args.app} to {args.output}")
    return 0
