"""run_handler: what happens around a handler, seen by a scripted wsproto client.

The request comes from our own transport over a memory stream (``wrap_server_stream``); the
ASGI transport calls the same function (tests/test_asgi.py covers its side).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.testing
from wsproto import ConnectionType
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    RejectConnection,
    Request,
    TextMessage,
)

from wsframework import ConnectionClosed, WebSocketRequest
from wsframework.handling import (
    ExceptionAnswer,
    Handler,
    close_answer,
    http_answer,
    run_handler,
)
from wsframework.http import Response
from wsframework.server import wrap_server_stream

from .peers import ScriptedPeer, stream_pair


async def start(
    nursery: trio.Nursery, handler: Handler, *, scope: trio.CancelScope | None = None
) -> tuple[ScriptedPeer, trio.Event]:
    """A scripted client that has sent its handshake, and an event set when run_handler
    returned (or raised)."""
    server_stream, client_stream = stream_pair()
    peer = ScriptedPeer(client_stream, ConnectionType.CLIENT)
    await peer.send(Request(host="example.com", target="/chat"))
    finished = trio.Event()

    async def serve() -> None:
        try:
            with scope or trio.CancelScope():
                request = await wrap_server_stream(nursery, server_stream)
                await run_handler(handler, request, disconnect_timeout=5)
        finally:
            finished.set()

    nursery.start_soon(serve)
    return peer, finished


async def rejection(peer: ScriptedPeer) -> tuple[int, bytes]:
    event = await peer.expect(RejectConnection)
    return event.status_code, await peer.rejection_body(event)


async def test_error_before_accept_is_500_with_a_body_and_logged(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(request: WebSocketRequest) -> None:
        raise RuntimeError("database unreachable")

    peer, finished = await start(nursery, handler)
    assert await rejection(peer) == (500, b"Internal Server Error\n")
    await finished.wait()
    record = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert "handler error on /chat" in record.getMessage()
    assert record.exc_info is not None and "database unreachable" in str(record.exc_info[1])


async def test_error_after_accept_closes_1011_and_is_logged(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(request: WebSocketRequest) -> None:
        await request.accept()
        raise RuntimeError("bug")

    peer, finished = await start(nursery, handler)
    await peer.expect(AcceptConnection)
    close = await peer.expect(CloseConnection)
    assert (close.code, close.reason) == (1011, "internal server error")
    await peer.send(close.response())
    await finished.wait()
    assert any("handler error on /chat" in r.getMessage() for r in caplog.records)


async def test_connection_closed_escaping_is_a_normal_end(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        while True:
            await ws.get_message()  # raises ConnectionClosed(4000) once the client closed

    caplog.set_level(logging.DEBUG, logger="wsframework")
    peer, finished = await start(nursery, handler)
    await peer.expect(AcceptConnection)
    await peer.send(CloseConnection(code=4000, reason="bye"))
    assert (await peer.expect(CloseConnection)).code == 4000
    await finished.wait()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("ended by its closed connection" in r.getMessage() for r in caplog.records)


async def test_cancellation_says_1001_and_propagates(nursery: trio.Nursery) -> None:
    waiting = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        waiting.set()
        await ws.get_message()

    scope = trio.CancelScope()
    peer, finished = await start(nursery, handler, scope=scope)
    await peer.expect(AcceptConnection)
    await waiting.wait()
    scope.cancel()
    close = await peer.expect(CloseConnection)
    assert (close.code, close.reason) == (1001, "server shutting down")
    await finished.wait()
    assert scope.cancelled_caught  # trio.Cancelled went through run_handler


async def test_pending_handshake_is_refused_with_403(nursery: trio.Nursery) -> None:
    async def handler(request: WebSocketRequest) -> None:
        pass

    peer, _ = await start(nursery, handler)
    status, body = await rejection(peer)
    assert status == 403
    assert body == b"The handler did not accept the WebSocket connection.\n"


async def test_own_rejection_is_kept(nursery: trio.Nursery) -> None:
    async def handler(request: WebSocketRequest) -> None:
        await request.reject(401, body=b"log in first\n")

    peer, finished = await start(nursery, handler)
    assert await rejection(peer) == (401, b"log in first\n")
    await finished.wait()


async def test_open_connection_is_closed_1000_when_the_handler_returns(
    nursery: trio.Nursery,
) -> None:
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message("last words")

    peer, finished = await start(nursery, handler)
    await peer.expect(AcceptConnection)
    assert (await peer.expect(TextMessage)).data == "last words"
    close = await peer.expect(CloseConnection)
    assert close.code == 1000
    await peer.send(close.response())
    await finished.wait()


async def test_final_close_is_bounded_by_disconnect_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def handler(request: WebSocketRequest) -> None:
        await request.accept()

    peer, finished = await start(nursery, handler)
    await peer.expect(AcceptConnection)
    started = trio.current_time()
    assert (await peer.expect(CloseConnection, timeout=60)).code == 1000
    # The client never answers the close: run_handler gives up after disconnect_timeout.
    await finished.wait()
    assert 5 <= trio.current_time() - started < 6


async def test_errors_after_a_close_do_not_reach_the_caller(nursery: trio.Nursery) -> None:
    outcome: list[BaseException] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.aclose(4001, "done")
        try:
            await ws.send_message("too late")
        except ConnectionClosed as exc:
            outcome.append(exc)
            raise

    peer, finished = await start(nursery, handler)
    await peer.expect(AcceptConnection)
    close = await peer.expect(CloseConnection)
    assert close.code == 4001
    await peer.send(close.response())
    await finished.wait()
    assert isinstance(outcome[0], ConnectionClosed)


# ---------------------------------------------------------------------------- exception answers


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (403, (403, [], b"Forbidden\n")),
        ((404, "no such room"), (404, [], b"no such room\n")),
        (4403, (403, [], b"Forbidden\n")),
        ((4429, "slow down"), (429, [], b"slow down\n")),
        (
            Response("gone", 410, headers=[("x-why", "moved")]),
            (410, [(b"x-why", b"moved"), (b"content-type", b"text/plain; charset=utf-8")], b"gone"),
        ),
    ],
)
def test_http_answer_before_accept(answer: ExceptionAnswer, expected: object) -> None:
    assert http_answer(answer) == expected


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (1008, "close code 1008 has no HTTP equivalent before accept()"),
        ((4000, "custom"), "close code 4000 has no HTTP equivalent before accept()"),
        (None, "it returned None without answering the handshake"),
        ("nope", "it returned 'nope'; return (code, reason), a code, a Response or None"),
        (True, "it returned True"),
        ((403, b"bytes"), "the reason must be a str or None, got bytes"),
        (Response("x", 700), "its Response has status 700; use 200-599"),
        (700, "700 is neither an HTTP status (200-599) nor a close code"),
    ],
)
def test_http_answer_refuses_what_has_no_http_form(answer: Any, message: str) -> None:
    with pytest.raises((TypeError, ValueError)) as info:
        http_answer(answer)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ((4403, "forbidden"), (4403, "forbidden")),
        (1008, (1008, None)),
        (403, (4403, "Forbidden")),
        ((503, "maintenance"), (4503, "maintenance")),
        (Response("x", 429), (4429, "Too Many Requests")),
    ],
)
def test_close_answer_after_accept(answer: ExceptionAnswer, expected: object) -> None:
    assert close_answer(answer) == expected


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (200, "HTTP status 200 has no close code after accept()"),
        (1006, "close code 1006 cannot be sent"),
        (5000, "5000 is neither an HTTP status (200-599) nor a close code"),
        (None, "it returned None and left the connection open"),
        ((4000, 5), "the reason must be a str or None, got int"),
    ],
)
def test_close_answer_refuses_what_has_no_close_form(answer: Any, message: str) -> None:
    with pytest.raises((TypeError, ValueError)) as info:
        close_answer(answer)
    assert message in str(info.value)
