"""PreparedMessage on real loopback sockets: the shared frame is written straight to the
socket when it takes it, a frame the socket takes only in part is finished by the connection,
compressed frames are shared without context takeover, and connections compressing with context
takeover or clients send their own copy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from wsframework import DeflateOptions, WebSocketRequest, open_websocket
from wsframework.interface import PreparedMessage, WebSocketConnection
from wsframework.server import WebSocketServer

Serve = Callable[..., Awaitable[WebSocketServer]]


def handler_with(
    action: Callable[[WebSocketConnection], Awaitable[Any]],
) -> Callable[[WebSocketRequest], Awaitable[None]]:
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await action(ws)
        await ws.get_message()  # until the client closes

    return handler


async def test_a_prepared_frame_goes_straight_to_the_socket(serve: Serve) -> None:
    results: list[bool] = []

    async def send(ws: WebSocketConnection) -> None:
        prepared = PreparedMessage("shared")
        results.append(ws.send_prepared_nowait(prepared))
        results.append(ws.send_prepared_nowait(PreparedMessage(b"\x00bytes")))
        await ws.send_prepared(prepared)

    server = await serve(handler_with(send), compression=None)
    async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
        with trio.fail_after(5):
            assert [await ws.get_message() for _ in range(3)] == ["shared", b"\x00bytes", "shared"]
    assert results == [True, True]


async def test_a_partly_taken_frame_is_finished_before_the_next(serve: Serve) -> None:
    big = PreparedMessage(b"x" * (8 << 20))  # more than the socket buffers hold
    after: list[bool] = []

    async def send(ws: WebSocketConnection) -> None:
        assert ws.send_prepared_nowait(big)  # taken in part, finished by the connection
        after.append(ws.send_prepared_nowait(PreparedMessage("next")))  # busy: not taken
        await ws.send_prepared(PreparedMessage("next"))  # waits for the turn

    server = await serve(handler_with(send), compression=None, max_message_size=16 << 20)
    async with open_websocket(
        "127.0.0.1", server.port, "/", use_ssl=False, max_message_size=16 << 20
    ) as ws:
        with trio.fail_after(10):
            assert await ws.get_message() == big.payload
            assert await ws.get_message() == "next"
    assert after == [False]


async def test_compressed_and_closed_connections_do_not_take_the_shared_frame(serve: Serve) -> None:
    results: list[bool] = []

    async def send(ws: WebSocketConnection) -> None:
        prepared = PreparedMessage("compressed " * 20)
        results.append(ws.send_prepared_nowait(prepared))
        await ws.send_prepared(prepared)

    server = await serve(handler_with(send))
    async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
        assert ws.compression
        with trio.fail_after(5):
            assert await ws.get_message() == "compressed " * 20
        # A client connection frames (and masks) its own copy.
        assert not ws.send_prepared_nowait(PreparedMessage("from the client"))
        await ws.send_prepared(PreparedMessage("from the client"))
    assert results == [False]
    assert not ws.send_prepared_nowait(PreparedMessage("closed"))


async def test_without_context_takeover_compressed_frames_are_shared(serve: Serve) -> None:
    results: list[bool] = []
    text = "a compressible room message " * 40

    async def send(ws: WebSocketConnection) -> None:
        prepared = PreparedMessage(text)
        results.append(ws.send_prepared_nowait(prepared))
        await ws.send_message("the handler's own, compressed by the connection " * 10)
        await ws.send_prepared(prepared)
        results.append(ws.send_prepared_nowait(PreparedMessage(b"\x00" * 1000)))

    server = await serve(
        handler_with(send), compression=DeflateOptions(server_no_context_takeover=True)
    )
    async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
        assert ws.compression
        with trio.fail_after(5):
            assert await ws.get_message() == text
            assert await ws.get_message() == "the handler's own, compressed by the connection " * 10
            assert await ws.get_message() == text
            assert await ws.get_message() == b"\x00" * 1000
    assert results == [True, True]
    shared = PreparedMessage(text)
    assert shared.deflated(15) is shared.deflated(15)
    assert len(shared.deflated(15)[1]) < len(text) // 10  # compressed once, for everyone
