"""Client-side benchmark: one WebSocket *client* library per process.

Each run connects to a fixed echo server (run.py uses the websockets asyncio
server), does a short warm-up, then ``--count`` round trips of a 32-byte
binary message, and prints one JSON line with this process's CPU time
(``time.process_time()``: user+sys of the whole client process, all threads)
spent on the timed round trips.

    python benchmarks/clients.py --impl trio-websocket --port P --count 5000

To add a client, write ``async def client_<name>(url, payload, warmup, count)``
returning ``(cpu_seconds, wall_seconds)`` and register it in ``CLIENTS``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import HOST


class _Span:
    def __enter__(self) -> _Span:
        self.cpu0 = time.process_time()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self.cpu0
        self.wall = time.perf_counter() - self.t0


def _trio_websocket_api(module_name: str) -> Callable[..., Any]:
    def run(url: str, payload: bytes, warmup: int, count: int) -> tuple[float, float]:
        import trio

        mod = importlib.import_module(module_name)

        async def main() -> tuple[float, float]:
            async with mod.open_websocket_url(url) as ws:
                for _ in range(warmup):
                    await ws.send_message(payload)
                    await ws.get_message()
                with _Span() as s:
                    for _ in range(count):
                        await ws.send_message(payload)
                        if await ws.get_message() != payload:
                            raise RuntimeError("echo mismatch")
            return s.cpu, s.wall

        return trio.run(main)

    return run


def client_websockets_trio(
    url: str, payload: bytes, warmup: int, count: int
) -> tuple[float, float]:
    import trio
    from websockets.trio.client import connect

    async def main() -> tuple[float, float]:
        async with connect(url, compression=None) as ws:
            for _ in range(warmup):
                await ws.send(payload)
                await ws.recv()
            with _Span() as s:
                for _ in range(count):
                    await ws.send(payload)
                    if await ws.recv() != payload:
                        raise RuntimeError("echo mismatch")
        return s.cpu, s.wall

    return trio.run(main)


def client_websockets_asyncio(
    url: str, payload: bytes, warmup: int, count: int
) -> tuple[float, float]:
    import asyncio

    from websockets.asyncio.client import connect

    async def main() -> tuple[float, float]:
        async with connect(url, compression=None) as ws:
            for _ in range(warmup):
                await ws.send(payload)
                await ws.recv()
            with _Span() as s:
                for _ in range(count):
                    await ws.send(payload)
                    if await ws.recv() != payload:
                        raise RuntimeError("echo mismatch")
        return s.cpu, s.wall

    return asyncio.run(main())


def _importable(*modules: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            for m in modules:
                importlib.import_module(m)
            return True
        except Exception:
            return False

    return check


def _wsframework_available() -> bool:
    try:
        mod = importlib.import_module("wsframework")
        return hasattr(mod, "open_websocket_url")
    except Exception:
        return False


@dataclass(frozen=True)
class ClientImpl:
    run: Callable[[str, bytes, int, int], tuple[float, float]]
    available: Callable[[], bool]
    default: bool
    description: str


CLIENTS: dict[str, ClientImpl] = {
    "trio-websocket": ClientImpl(
        _trio_websocket_api("trio_websocket"),
        _importable("trio_websocket"),
        True,
        "trio_websocket.open_websocket_url",
    ),
    "websockets-trio": ClientImpl(
        client_websockets_trio,
        _importable("websockets.trio.client"),
        True,
        "websockets.trio.client.connect (compression=None)",
    ),
    "websockets-asyncio": ClientImpl(
        client_websockets_asyncio,
        _importable("websockets.asyncio.client"),
        True,
        "websockets.asyncio.client.connect (compression=None)",
    ),
    "wsframework": ClientImpl(
        _trio_websocket_api("wsframework"),
        _wsframework_available,
        True,
        "wsframework.open_websocket_url",
    ),
}


def main() -> int:
    p = argparse.ArgumentParser(description="client-side ping-pong benchmark (one client lib)")
    p.add_argument("--impl", choices=sorted(CLIENTS))
    p.add_argument("--port", type=int)
    p.add_argument("--count", type=int, default=5000)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--check", metavar="IMPL", help="exit 0 iff IMPL is available")
    args = p.parse_args()
    if args.check:
        impl = CLIENTS.get(args.check)
        return 0 if impl is not None and impl.available() else 1
    if not args.impl or not args.port:
        p.error("--impl and --port are required")
    url = f"ws://{HOST}:{args.port}/"
    payload = os.urandom(args.size)
    try:
        cpu, wall = CLIENTS[args.impl].run(url, payload, args.warmup, args.count)
        print(json.dumps({"units": args.count, "cpu_s": cpu, "wall_s": wall}))
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
