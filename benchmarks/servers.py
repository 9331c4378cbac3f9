"""Echo servers for the benchmark harness, one implementation per process.

Usage::

    python benchmarks/servers.py --impl trio-websocket --port 0
    python benchmarks/servers.py --list          # registry + availability
    python benchmarks/servers.py --check NAME    # exit 0 if NAME can run here
    python benchmarks/servers.py --impl wsframework-rooms --broker redis://127.0.0.1:6390/0

Once the server is accepting connections it prints exactly one line
``READY <port> <pid>`` on stdout (port 0 picks a free port; the real one is
printed).  Only 127.0.0.1 is ever bound.

Every WebSocket server echoes each message back with the same type, with
permessage-deflate off (the load client never offers it anyway) and a 16 MiB
message-size limit so the 1 MiB scenario fits.  ``--compression`` (the
``deflate`` row of run.py) turns permessage-deflate on, each library's default
settings, for the servers that have it (``ServerImpl.deflate``); wsframework's
servers accept it by default and Hypercorn always does, so for them the flag
changes nothing but the check that they can.  Other settings are each
library's defaults (receive buffer sizes, queue sizes, keepalive pings), since
that is what users get.

``raw-trio`` is the floor: a Trio TCP echo of length-prefixed frames
(4-byte big-endian length + payload), one ``send_all`` per echoed frame.

Adding an implementation
------------------------
Write ``def run_<name>(host, port, ready)`` that serves forever and calls
``ready(actual_port)`` once listening, then add a ``ServerImpl`` entry to
``REGISTRY`` at the bottom of this file.  ``protocol`` is "ws" or "raw" (which
load-client protocol speaks to it); ``default=True`` puts it in
``benchmarks/run.py``'s default set; ``available`` is a cheap check (usually
an import) so optional implementations are skipped when their deps are
missing.  See the commented ``wsframework-app`` template below.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import resource
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Benchmark the checkout's wsframework even when it is not pip-installed.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

HOST = "127.0.0.1"
MAX_MESSAGE = 16 * 1024 * 1024
RAW_RECV = 65536

Ready = Callable[[int], None]


def raise_nofile_limit() -> int:
    """Raise RLIMIT_NOFILE soft limit to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 16
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    except (ValueError, OSError):
        return soft


# --------------------------------------------------------------------------- #
# trio-websocket style API (trio-websocket itself, and wsframework which      #
# copies the API).                                                            #
# --------------------------------------------------------------------------- #


def _run_trio_websocket_api(
    module_name: str, host: str, port: int, ready: Ready, **options: Any
) -> None:
    import trio

    mod = importlib.import_module(module_name)
    serve_websocket = mod.serve_websocket
    connection_closed = mod.ConnectionClosed

    async def handler(request):  # type: ignore[no-untyped-def]
        ws = await request.accept()
        try:
            while True:
                message = await ws.get_message()
                await ws.send_message(message)
        except connection_closed:
            pass

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                functools.partial(
                    serve_websocket,
                    handler,
                    host,
                    port,
                    None,
                    max_message_size=MAX_MESSAGE,
                    **options,
                )
            )
            ready(server.port)

    trio.run(main)


def run_trio_websocket(host: str, port: int, ready: Ready) -> None:
    _run_trio_websocket_api("trio_websocket", host, port, ready)


def run_wsframework(host: str, port: int, ready: Ready, compression: bool = False) -> None:
    """``compression``: pass the default ``DeflateOptions()`` explicitly (it is on by default
    anyway: without the flag the call is left as it always was)."""
    _run_trio_websocket_api("wsframework", host, port, ready, **_wsframework_deflate(compression))


def _wsframework_deflate(compression: bool) -> dict[str, Any]:
    if not compression:
        return {}
    from wsframework import DeflateOptions

    return {"compression": DeflateOptions()}


def _add_echo(app: Any) -> None:
    """An echo on every path not taken by an earlier route."""
    from wsframework import ConnectionClosed

    @app.websocket("/{path:path}")
    async def echo(request):  # type: ignore[no-untyped-def]
        ws = await request.accept()
        try:
            while True:
                await ws.send_message(await ws.get_message())
        except ConnectionClosed:
            pass


def _serve_app(app: Any, host: str, port: int, ready: Ready, **options: Any) -> None:
    """``app.serve`` until killed, reporting the port once it listens."""
    import trio

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                functools.partial(app.serve, host, port, max_message_size=MAX_MESSAGE, **options)
            )
            ready(server.port)

    trio.run(main)


def run_wsframework_app(host: str, port: int, ready: Ready, compression: bool = False) -> None:
    """The same echo as ``wsframework``, but dispatched through ``App`` (router + middleware
    chain + request wrapping), served by ``App.serve``."""
    from wsframework import App

    app = App()
    _add_echo(app)

    _serve_app(app, host, port, ready, **_wsframework_deflate(compression))


def run_wsframework_app_metrics(host: str, port: int, ready: Ready) -> None:
    """``wsframework-app`` with the Prometheus route on (its counters flushed every second)."""
    from wsframework import App

    app = App()
    app.add_metrics_route("/metrics")
    _add_echo(app)

    _serve_app(app, host, port, ready)


def _wsframework_available() -> bool:
    try:
        mod = importlib.import_module("wsframework")
        return all(
            hasattr(mod, name)
            for name in ("serve_websocket", "open_websocket_url", "ConnectionClosed")
        )
    except Exception:
        return False


# --------------------------------------------------------------------------- #
# wsframework rooms: the server of the rooms rows (benchmarks/run.py, rooms_*) #
# --------------------------------------------------------------------------- #

#: Rooms whose name starts with this keep history (the rooms_history* rows).
HISTORY_PREFIX = "hist-"
HISTORY_SIZE = 1000
HISTORY_TTL = 300.0


def run_wsframework_rooms(host: str, port: int, ready: Ready, broker: str | None = None) -> None:
    """An ``App(broker=broker)`` (in memory when ``None``) with the routes the rooms rows use.

    * ``/join/{room}``: join the room (with a small presence entry), send ``"J"`` once joined,
      then stay a member until the client goes; receives nothing.
    * ``/pub/{room}``: publish every message received to the room (``await room.publish``).
    * ``/pubstamp/{room}``: the same, with the server's ``time.time_ns()`` (19 digits) taken
      just before ``publish`` prepended: the publish time of the latency row.
    * ``/churn/{room}``: presence churn on one connection: ``"j"`` joins (with presence) and
      is answered ``"J"`` once joined; the next message leaves and is answered ``"L"``.
    * anything else: echo (so it also serves the echo scenarios).

    Rooms named ``hist-*`` keep history (``HistoryPolicy(HISTORY_SIZE, HISTORY_TTL)``).
    """
    import itertools
    import time

    from wsframework import App, ConnectionClosed
    from wsframework.rooms import HistoryPolicy

    app = App(broker=broker)
    app.rooms.configure(
        HISTORY_PREFIX + "*", history=HistoryPolicy(size=HISTORY_SIZE, ttl=HISTORY_TTL)
    )
    ids = itertools.count()

    @app.websocket("/join/{room}")
    async def member(request):  # type: ignore[no-untyped-def]
        ws = await request.accept()
        room = app.rooms[request.path_params["room"]]
        try:
            async with room.join(ws, presence={"n": next(ids)}):
                await ws.send_message("J")
                async for _ in ws:
                    pass
        except ConnectionClosed:
            pass

    @app.websocket("/pub/{room}")
    async def publisher(request):  # type: ignore[no-untyped-def]
        ws = await request.accept()
        room = app.rooms[request.path_params["room"]]
        try:
            async for message in ws:
                await room.publish(message)
        except ConnectionClosed:
            pass

    @app.websocket("/pubstamp/{room}")
    async def stamping_publisher(request):  # type: ignore[no-untyped-def]
        ws = await request.accept()
        room = app.rooms[request.path_params["room"]]
        time_ns = time.time_ns
        try:
            async for message in ws:
                await room.publish(f"{time_ns():019d}{message}")
        except ConnectionClosed:
            pass

    @app.websocket("/churn/{room}")
    async def churn(request):  # type: ignore[no-untyped-def]
        ws = await request.accept()
        room = app.rooms[request.path_params["room"]]
        try:
            while True:
                await ws.get_message()
                async with room.join(ws, presence={"n": next(ids)}):
                    await ws.send_message("J")
                    await ws.get_message()
                await ws.send_message("L")
        except ConnectionClosed:
            pass

    _add_echo(app)

    _serve_app(app, host, port, ready)


# --------------------------------------------------------------------------- #
# websockets                                                                  #
# --------------------------------------------------------------------------- #


def run_websockets_trio(host: str, port: int, ready: Ready, compression: bool = False) -> None:
    import trio
    from websockets.exceptions import ConnectionClosed
    from websockets.trio.server import serve

    async def handler(ws):  # type: ignore[no-untyped-def]
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                functools.partial(
                    serve,
                    handler,
                    port,
                    host=host,
                    compression="deflate" if compression else None,
                    max_size=MAX_MESSAGE,
                )
            )
            ready(server.listeners[0].socket.getsockname()[1])

    trio.run(main)


def run_websockets_asyncio(host: str, port: int, ready: Ready, compression: bool = False) -> None:
    import asyncio

    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    async def handler(ws):  # type: ignore[no-untyped-def]
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass

    async def main() -> None:
        async with serve(
            handler,
            host,
            port,
            compression="deflate" if compression else None,
            max_size=MAX_MESSAGE,
        ) as server:
            ready(next(iter(server.sockets)).getsockname()[1])
            await server.serve_forever()

    asyncio.run(main())


# --------------------------------------------------------------------------- #
# raw Trio TCP: the floor                                                     #
# --------------------------------------------------------------------------- #


def run_raw_trio(host: str, port: int, ready: Ready) -> None:
    import trio

    async def handler(stream: trio.SocketStream) -> None:
        buf = bytearray()
        try:
            while True:
                data = await stream.receive_some(RAW_RECV)
                if not data:
                    return
                buf += data
                while len(buf) >= 4:
                    end = 4 + int.from_bytes(buf[:4], "big")
                    if len(buf) < end:
                        break
                    frame = bytes(buf[:end])
                    del buf[:end]
                    await stream.send_all(frame)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await stream.aclose()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, handler, port, host=host)
            )
            ready(listeners[0].socket.getsockname()[1])

    trio.run(main)


# --------------------------------------------------------------------------- #
# Hypercorn (ASGI over wsproto, trio worker) -- optional, not in the default  #
# set; doubles as a worked example of an ASGI-app implementation.             #
# --------------------------------------------------------------------------- #


def _serve_hypercorn(app: Any, host: str, port: int, ready: Ready) -> None:
    import trio
    from hypercorn.config import Config
    from hypercorn.trio import serve

    if port == 0:
        import socket

        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.websocket_max_message_size = MAX_MESSAGE
    config.accesslog = None
    config.errorlog = None

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(functools.partial(serve, app, config))
            ready(port)

    trio.run(main)


def run_wsframework_hypercorn(
    host: str, port: int, ready: Ready, compression: bool = False
) -> None:
    """The wsframework App (same echo as ``wsframework-app``) as an ASGI app under Hypercorn.
    (Hypercorn accepts permessage-deflate whenever it is offered: ``compression`` is moot.)"""
    from wsframework import App
    from wsframework.asgi import ASGIOptions

    app = App(asgi_options=ASGIOptions(max_message_size=MAX_MESSAGE))

    _add_echo(app)

    _serve_hypercorn(app, host, port, ready)


def run_hypercorn_asgi(host: str, port: int, ready: Ready, compression: bool = False) -> None:
    """A minimal ASGI echo under Hypercorn (which always accepts permessage-deflate)."""

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            event = await receive()
            if event["type"] == "websocket.receive":
                if event.get("bytes") is not None:
                    await send({"type": "websocket.send", "bytes": event["bytes"]})
                else:
                    await send({"type": "websocket.send", "text": event["text"]})
            else:
                return

    _serve_hypercorn(app, host, port, ready)


# --------------------------------------------------------------------------- #
# Registry                                                                    #
# --------------------------------------------------------------------------- #


def _importable(*modules: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            for m in modules:
                importlib.import_module(m)
            return True
        except Exception:
            return False

    return check


@dataclass(frozen=True)
class ServerImpl:
    run: Callable[[str, int, Ready], None]
    protocol: str  # "ws" or "raw"
    available: Callable[[], bool]
    default: bool
    description: str
    #: ``run`` takes ``compression=True`` (``--compression``): the server negotiates
    #: permessage-deflate.  ``False``: it cannot (the ``deflate`` row shows n/a).
    deflate: bool = False


REGISTRY: dict[str, ServerImpl] = {
    "raw-trio": ServerImpl(
        run_raw_trio,
        "raw",
        _importable("trio"),
        True,
        "raw Trio TCP echo, 4-byte BE length prefix (the floor)",
    ),
    "trio-websocket": ServerImpl(
        run_trio_websocket,
        "ws",
        _importable("trio_websocket"),
        True,
        "trio_websocket.serve_websocket",
    ),
    "websockets-trio": ServerImpl(
        run_websockets_trio,
        "ws",
        _importable("websockets.trio.server"),
        True,
        'websockets.trio.server.serve (compression=None; --compression: "deflate")',
        deflate=True,
    ),
    "wsframework": ServerImpl(
        run_wsframework,
        "ws",
        _wsframework_available,
        True,
        "wsframework.serve_websocket",
        deflate=True,
    ),
    # ---- optional (run with --impls ...) ------------------------------------
    "websockets-asyncio": ServerImpl(
        run_websockets_asyncio,
        "ws",
        _importable("websockets.asyncio.server"),
        True,
        'websockets.asyncio.server.serve (compression=None; --compression: "deflate"); '
        "fixed server of the client bench",
        deflate=True,
    ),
    "hypercorn-asgi": ServerImpl(
        run_hypercorn_asgi,
        "ws",
        _importable("hypercorn.trio"),
        True,
        "Hypercorn trio worker + minimal ASGI echo app",
        deflate=True,
    ),
    "wsframework-hypercorn": ServerImpl(
        run_wsframework_hypercorn,
        "ws",
        _importable("hypercorn.trio"),
        True,
        "wsframework App as an ASGI app under Hypercorn's trio worker",
        deflate=True,
    ),
    "wsframework-app": ServerImpl(
        run_wsframework_app,
        "ws",
        _importable("wsframework.app"),
        True,
        "wsframework App (router, middleware chain) with the same echo endpoint",
        deflate=True,
    ),
    "wsframework-app-metrics": ServerImpl(
        run_wsframework_app_metrics,
        "ws",
        _importable("prometheus_client"),
        False,
        "wsframework-app with app.add_metrics_route() (docs/metrics.md)",
    ),
    "wsframework-rooms": ServerImpl(
        run_wsframework_rooms,
        "ws",
        _importable("wsframework.rooms"),
        False,
        "the rooms rows' server: App(broker=--broker) with /join, /pub, /pubstamp, /churn "
        "routes (echo elsewhere)",
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", choices=sorted(REGISTRY))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--broker", help="wsframework-rooms only: App(broker=URL)")
    parser.add_argument(
        "--compression", action="store_true", help="permessage-deflate on (ServerImpl.deflate)"
    )
    parser.add_argument("--list", action="store_true", help="list implementations")
    parser.add_argument("--check", metavar="IMPL", help="exit 0 iff IMPL is available")
    args = parser.parse_args(argv)

    if args.list:
        for name, impl in REGISTRY.items():
            status = "ok" if impl.available() else "unavailable"
            dflt = "default" if impl.default else "optional"
            print(f"{name:20} {impl.protocol:4} {dflt:9} {status:12} {impl.description}")
        return 0
    if args.check:
        impl = REGISTRY.get(args.check)
        return 0 if impl is not None and impl.available() else 1
    if not args.impl:
        parser.error("--impl is required")

    raise_nofile_limit()
    impl = REGISTRY[args.impl]
    run = impl.run
    if args.broker:
        if args.impl != "wsframework-rooms":
            parser.error("--broker is for --impl wsframework-rooms")
        run = functools.partial(run_wsframework_rooms, broker=args.broker)
    if args.compression:
        if not impl.deflate:
            parser.error(f"--compression: {args.impl} cannot negotiate permessage-deflate")
        run = functools.partial(run, compression=True)

    def ready(port: int) -> None:
        print(f"READY {port} {os.getpid()}", flush=True)

    try:
        run(HOST, args.port, ready)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
