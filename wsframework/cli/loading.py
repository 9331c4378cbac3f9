"""Loading ``MODULE:ATTR`` and the ``routes`` command: the app's route table."""

from __future__ import annotations

import argparse
import importlib
import json
import traceback
from typing import Any

from ..app import App
from ..request import WebSocketRoute
from .common import CLIError, _add_app_dir, _display_path


def load_app(spec: str, *, factory: bool = False) -> App:
    """Import ``MODULE:ATTR`` (``ATTR`` may be dotted) and return the App it names.

    With ``factory``, ``ATTR`` is called without arguments and must return the App.

    Raises:
        CLIError: a malformed import string, a module that is missing or fails to import, a
            missing attribute, or something that is not an App.
    """
    module_name, colon, attr = spec.partition(":")
    if not colon or not module_name or not attr:
        raise CLIError(
            f"import string {spec!r} must be in the form MODULE:ATTR (e.g. apps.echo.app:app)"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name
        if missing is not None and (
            module_name == missing or module_name.startswith(missing + ".")
        ):
            raise CLIError(f"cannot import {module_name!r}: no module named {missing!r}") from None
        raise CLIError(f"module {module_name!r} failed to import: {_describe(exc)}") from None
    except Exception as exc:
        raise CLIError(f"module {module_name!r} failed to import: {_describe(exc)}") from None
    obj: Any = module
    try:
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise CLIError(f"module {module_name!r} has no attribute {attr!r}") from None
    if factory:
        if not callable(obj):
            raise CLIError(f"--factory: {spec!r} is not callable (it is {_kind(obj)})")
        try:
            obj = obj()
        except Exception as exc:
            raise CLIError(f"app factory {spec!r} failed: {_describe(exc)}") from None
        if not isinstance(obj, App):
            raise CLIError(f"app factory {spec!r} returned {_kind(obj)}, not a wsframework App")
        return obj
    if not isinstance(obj, App):
        hint = ""
        if callable(obj) and not isinstance(obj, type):
            hint = " (pass --factory if it is a function returning the App)"
        raise CLIError(f"{spec!r} is {_kind(obj)}, not a wsframework App{hint}")
    return obj


def _kind(obj: Any) -> str:
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"a {type(obj).__name__} ({obj.__qualname__})"
    return f"an object of type {type(obj).__name__}"


def _describe(exc: BaseException) -> str:
    """``Type: message (file:line)``, on one line, where the error was raised."""
    text = " ".join(str(exc).split())
    out = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    where = None
    if isinstance(exc, SyntaxError) and exc.filename:
        where = (exc.filename, exc.lineno)
    else:
        frames = [
            f
            for f in traceback.extract_tb(exc.__traceback__)
            if not f.filename.startswith("<frozen")
        ]
        if frames:
            where = (frames[-1].filename, frames[-1].lineno)
    if where is not None:
        filename, line = where
        out += f" ({_display_path(filename)}:{line})"
    return out


# ---------------------------------------------------------------------------- routes


def route_table(app: App) -> list[dict[str, Any]]:
    """One JSON-able dict per route, in matching order: what ``wsframework routes`` prints."""
    rows: list[dict[str, Any]] = []
    for route in app.router.routes:
        websocket = route if isinstance(route, WebSocketRoute) else None
        contract = websocket.contract if websocket is not None else None
        rows.append(
            {
                "path": route.template,
                "name": route.name,
                "kind": route.kind,
                "methods": sorted(route.methods),
                "subprotocols": list(websocket.subprotocols) if websocket is not None else [],
                "subprotocol_required": websocket is not None and websocket.subprotocol_required,
                "accepts": websocket.accepts if websocket is not None else None,
                "receive": _type_label(getattr(contract, "receive", None)),
                "send": _type_label(getattr(contract, "send", None)),
                "on_invalid": getattr(contract, "on_invalid", None),
            }
        )
    return rows


def _type_label(tp: Any) -> str | None:
    if tp is None:
        return None
    try:
        from ..typed import _type_name

        return _type_name(tp)
    except Exception:  # pragma: no cover - pydantic missing or an odd type
        return getattr(tp, "__qualname__", None) or repr(tp)


def _format_routes(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no routes)"
    header = ("KIND", "PATH", "NAME", "METHODS", "SUBPROTOCOLS", "ACCEPTS", "CONTRACT")
    table = [header]
    for row in rows:
        subprotocols = ", ".join(row["subprotocols"]) or "-"
        if row["subprotocol_required"]:
            subprotocols += " (required)"
        contract = "-"
        if row["on_invalid"] is not None:
            contract = (
                f"receive={row['receive'] or 'any'} send={row['send'] or 'any'} "
                f"on_invalid={row['on_invalid']}"
            )
        table.append(
            (
                row["kind"],
                row["path"],
                row["name"],
                ",".join(row["methods"]) or "-",
                subprotocols,
                row["accepts"] or "-",
                contract,
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    )


def _cmd_routes(args: argparse.Namespace) -> int:
    _add_app_dir(args.app_dir)
    app = load_app(args.app, factory=args.factory)
    rows = route_table(app)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(_format_routes(rows))
    return 0
