"""Shared fixtures: a server on a loopback port and raw handshake bytes; for the trio-websocket
compat tests (``tests/compat/``, ``tests/integration/test_compat_sockets*.py``), ``tw`` (the
implementation under test) and ``collect_garbage``."""

from __future__ import annotations

import gc
import importlib
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
import trio

from wsframework import WebSocketRequest, WebSocketServer, converters, serve_websocket

Handler = Callable[[WebSocketRequest], Awaitable[None]]


async def echo_handler(request: WebSocketRequest) -> None:
    ws = await request.accept()
    async for message in ws:
        await ws.send_message(message)


@pytest.fixture
async def serve(nursery: trio.Nursery) -> AsyncIterator[Callable[..., Awaitable[WebSocketServer]]]:
    """``server = await serve(handler, **options)`` on 127.0.0.1 and a free port."""

    async def start(handler: Handler = echo_handler, **options: Any) -> WebSocketServer:
        server: WebSocketServer = await nursery.start(
            lambda task_status: serve_websocket(
                handler, "127.0.0.1", 0, None, task_status=task_status, **options
            )
        )
        return server

    yield start


@pytest.fixture
def collect_garbage() -> Iterator[None]:
    """Collect after the test, so a leaked socket (ResourceWarning) is blamed on its test."""
    yield
    gc.collect()


OUR_TRIO_WEBSOCKET = "wsframework.compat.trio_websocket"


@pytest.fixture(
    params=["trio_websocket", OUR_TRIO_WEBSOCKET], ids=["trio-websocket", "wsframework"]
)
def tw(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """The module a trio-websocket program imports: the original, or ours."""
    module = importlib.import_module(request.param)
    if request.param == OUR_TRIO_WEBSOCKET:
        yield module  # ours must not leak: a ResourceWarning fails the test
        return
    # trio-websocket never closes the client socket when the server closes first or rejects
    # the handshake (docs/compat.md), so only it is excused from ResourceWarning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        yield module
        gc.collect()


async def raw_request(port: int, data: bytes, *, read_all: bool = True) -> bytes:
    """Send raw bytes to a loopback port and return everything read until EOF."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(data)
        out = bytearray()
        with trio.fail_after(10):
            while True:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                out += chunk
                if not read_all:
                    break
        return bytes(out)


def upgrade_request(
    path: str = "/",
    *,
    key: bytes = b"dGhlIHNhbXBsZSBub25jZQ==",
    version: bytes = b"13",
    extra: bytes = b"",
    http: bytes = b"HTTP/1.1",
) -> bytes:
    return (
        b"GET " + path.encode() + b" " + http + b"\r\n"
        b"Host: 127.0.0.1\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\n"
        b"Sec-WebSocket-Version: " + version + b"\r\n" + extra + b"\r\n"
    )


@pytest.fixture
def restore_converter_registry() -> Iterator[None]:
    """Converters registered by a test are gone after it (``usefixtures`` in the routing and
    converter tests)."""
    saved = dict(converters._converters)
    yield
    converters._converters.clear()
    converters._converters.update(saved)
