"""Graceful drain of the native server over real sockets."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from wsframework import (
    ConnectionClosed,
    HandshakeError,
    WebSocketRequest,
    WebSocketServer,
    open_websocket_url,
    serve_websocket,
)

from ..conftest import raw_request, upgrade_request


async def test_drain_closes_1001_after_pending_messages(nursery: trio.Nursery) -> None:
    finished: list[int] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message("sent before the drain")
        try:
            await ws.get_message()
        except ConnectionClosed as exc:
            assert exc.reason is not None
            finished.append(exc.reason.code)

    server: WebSocketServer = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
    url = f"ws://127.0.0.1:{server.port}/"
    async with open_websocket_url(url) as first, open_websocket_url(url) as second:
        await trio.testing.wait_all_tasks_blocked()
        assert server.connection_count == 2
        with trio.fail_after(10):
            assert await server.shutdown(timeout=5) is True
        for ws in (first, second):
            assert await ws.get_message() == "sent before the drain"
            with pytest.raises(ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason is not None
            assert (info.value.reason.code, info.value.reason.reason) == (
                1001,
                "server shutting down",
            )
    assert finished == [1001, 1001]
    assert server.connection_count == 0
    with pytest.raises(HandshakeError):
        async with open_websocket_url(url, connect_timeout=5):
            pass


async def test_handshake_completing_during_drain_gets_503(nursery: trio.Nursery) -> None:
    server: WebSocketServer = await nursery.start(
        serve_websocket, lambda r: r.accept(), "127.0.0.1", 0, None
    )
    port = server.port
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    request = upgrade_request()
    response = bytearray()
    async with stream:
        await stream.send_all(request[:20])
        await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(10):
            async with trio.open_nursery() as inner:
                inner.start_soon(server.shutdown)
                await trio.testing.wait_all_tasks_blocked()
                await stream.send_all(request[20:])
                while chunk := await stream.receive_some(65536):
                    response += chunk
    assert response.startswith(b"HTTP/1.1 503 ")
    assert b"retry-after: 5" in response
    assert await raw_request_refused(port)


async def raw_request_refused(port: int) -> bool:
    try:
        await raw_request(port, upgrade_request())
    except OSError:
        return True
    return False


async def test_drain_reports_handlers_that_do_not_end(nursery: trio.Nursery) -> None:
    release = trio.Event()

    async def stubborn(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            await ws.get_message()
        except ConnectionClosed:
            await release.wait()  # ignores the close for a while

    server: WebSocketServer = await nursery.start(serve_websocket, stubborn, "127.0.0.1", 0, None)
    async with open_websocket_url(f"ws://127.0.0.1:{server.port}/"):
        await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(10):
            assert await server.shutdown(timeout=0.2) is False
        release.set()
    with pytest.raises(ValueError, match="cannot be sent"):
        await server.shutdown(code=1006)
