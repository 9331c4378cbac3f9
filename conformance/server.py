"""Echo server for the Autobahn testsuite's fuzzingclient mode.

    python conformance/server.py --impl wsframework|trio_websocket [--host 127.0.0.1] [--port 9001]

Every text or binary message is sent back unchanged. ``--impl`` picks the library under test;
both expose trio-websocket's API (``serve_websocket``, ``ConnectionClosed``).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from typing import Any

import trio

# Autobahn 9.x sends messages of up to 16 MiB; keep a 1.5x margin above that.
MAX_MESSAGE_SIZE = 24 * 1024 * 1024
RECEIVE_BUFFER_SIZE = 64 * 1024


def load_impl(name: str) -> Any:
    if name not in ("wsframework", "trio_websocket"):
        raise SystemExit(f"unknown --impl {name!r} (expected wsframework or trio_websocket)")
    return importlib.import_module(name)


def only_interrupts(exc: BaseException) -> bool:
    """True for a KeyboardInterrupt, possibly wrapped in (nested) exception groups by trio."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    inner: tuple[BaseException, ...] = getattr(exc, "exceptions", ())
    return bool(inner) and all(only_interrupts(e) for e in inner)


def supported_kwargs(func: Any, **kwargs: Any) -> dict[str, Any]:
    """Keep only the keyword arguments ``func`` accepts (an implementation may lack a knob)."""
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return kwargs
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


async def main(impl_name: str, host: str, port: int) -> None:
    impl = load_impl(impl_name)
    closed_exc = impl.ConnectionClosed

    async def echo(request: Any) -> None:
        try:
            ws = await request.accept()
            while True:
                message = await ws.get_message()
                await ws.send_message(message)
        except closed_exc:
            pass
        except Exception as exc:  # keep serving the remaining cases; the report shows the failure
            print(f"echo handler error: {exc!r}", file=sys.stderr, flush=True)

    kwargs = supported_kwargs(
        impl.serve_websocket,
        max_message_size=MAX_MESSAGE_SIZE,
        receive_buffer_size=RECEIVE_BUFFER_SIZE,
        connect_timeout=10,
        disconnect_timeout=10,
    )

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: impl.serve_websocket(
                echo, host, port, None, task_status=task_status, **kwargs
            )
        )
        ports = getattr(server, "port", port)
        print(f"{impl_name} echo server listening on ws://{host}:{ports}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", default="wsframework", choices=["wsframework", "trio_websocket"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    args = parser.parse_args()
    try:
        trio.run(main, args.impl, args.host, args.port)
    except BaseException as exc:
        if only_interrupts(exc):
            sys.exit(130)
        raise
