"""Server-side behaviour, socket-less: our server against a scripted wsproto client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing
from wsproto import ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from wsframework import ConnectionClosed, WebSocketRequest
from wsframework.options import ServerOptions
from wsframework.server import ConnectionTracker, serve_stream

from .conftest import echo_handler
from .peers import ScriptedPeer, stream_pair

Handler = Callable[[WebSocketRequest], Awaitable[None]]


async def start(
    nursery: trio.Nursery, handler: Handler = echo_handler, *, lockstep: bool = False, **opts: Any
) -> ScriptedPeer:
    if lockstep:
        server_stream, client_stream = trio.testing.lockstep_stream_pair()
    else:
        server_stream, client_stream = stream_pair()
    nursery.start_soon(serve_stream, handler, server_stream, ServerOptions(**opts))
    return ScriptedPeer(client_stream, ConnectionType.CLIENT)


async def opened(
    nursery: trio.Nursery, handler: Handler = echo_handler, **opts: Any
) -> ScriptedPeer:
    peer = await start(nursery, handler, **opts)
    await peer.send(Request(host="example.com", target="/chat"))
    await peer.expect(AcceptConnection)
    return peer


async def test_echo_text_and_bytes(nursery: trio.Nursery) -> None:
    peer = await opened(nursery)
    await peer.send(TextMessage(data="héllo"))
    assert (await peer.expect(TextMessage)).data == "héllo"
    await peer.send(BytesMessage(data=b"\x00\xff"))
    assert (await peer.expect(BytesMessage)).data == b"\x00\xff"


async def test_fragments_are_assembled(nursery: trio.Nursery) -> None:
    peer = await opened(nursery)
    await peer.send(TextMessage(data="ab", message_finished=False))
    await peer.send(TextMessage(data="cd", message_finished=False))
    await peer.send(TextMessage(data="ef", message_finished=True))
    event = await peer.expect(TextMessage)
    assert event.data == "abcdef"
    assert event.message_finished


async def test_keepalive_closes_silent_peer_1011(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """The keepalive options reach the connection (its behaviour: test_connection_keepalive.py)."""
    raised: list[ConnectionClosed] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            await ws.get_message()
        except ConnectionClosed as exc:
            raised.append(exc)

    peer = await opened(nursery, handler, ping_interval=5, ping_timeout=2)
    await peer.expect(Ping, timeout=30)  # not answered
    event = await peer.expect(CloseConnection, timeout=30)
    assert event.code == 1011
    assert "keepalive" in event.reason
    await trio.testing.wait_all_tasks_blocked()
    assert raised and raised[0].reason is not None and raised[0].reason.code == 1011


async def test_pipelined_first_frame_is_not_lost(nursery: trio.Nursery) -> None:
    server_stream, client_stream = stream_pair()
    nursery.start_soon(serve_stream, echo_handler, server_stream, ServerOptions())
    peer = ScriptedPeer(client_stream, ConnectionType.CLIENT)
    handshake = peer.ws.send(Request(host="x", target="/"))
    # A masked text frame "hi" with an all-zero mask, sent in the same write as the request.
    frame = b"\x81\x82\x00\x00\x00\x00hi"
    await peer.send_raw(handshake + frame)
    await peer.expect(AcceptConnection)
    assert (await peer.expect(TextMessage)).data == "hi"


async def test_handler_error_after_accept_closes_1011(nursery: trio.Nursery, caplog: Any) -> None:
    async def handler(request: WebSocketRequest) -> None:
        await request.accept()
        raise RuntimeError("boom")

    peer = await opened(nursery, handler)
    event = await peer.expect(CloseConnection)
    assert event.code == 1011
    await peer.send(event.response())
    assert await peer.next_event() is None
    assert "handler error on /chat" in caplog.text
    assert "boom" in caplog.text


async def test_handler_error_before_accept_is_500(nursery: trio.Nursery) -> None:
    async def handler(request: WebSocketRequest) -> None:
        raise RuntimeError("boom")

    peer = await start(nursery, handler)
    await peer.send(Request(host="x", target="/"))
    event = await peer.expect(RejectConnection)
    assert event.status_code == 500


async def test_unaccepted_request_is_rejected_403(nursery: trio.Nursery) -> None:
    async def handler(request: WebSocketRequest) -> None:
        return None

    peer = await start(nursery, handler)
    await peer.send(Request(host="x", target="/"))
    assert (await peer.expect(RejectConnection)).status_code == 403


async def test_reject_with_status_headers_and_body(nursery: trio.Nursery) -> None:
    async def handler(request: WebSocketRequest) -> None:
        assert request.path == "/secret?x=1"
        assert (b"x-token", b"abc") in request.headers
        await request.reject(401, extra_headers=[(b"x-why", b"no token")], body=b"go away")
        with pytest.raises(RuntimeError, match="already rejected"):
            await request.accept()

    peer = await start(nursery, handler)
    await peer.send(Request(host="x", target="/secret?x=1", extra_headers=[(b"X-Token", b"abc")]))
    event = await peer.expect(RejectConnection)
    assert event.status_code == 401
    assert (b"x-why", b"no token") in event.headers
    body = await peer.expect(RejectData)
    assert body.data == b"go away"


async def test_subprotocol_must_be_offered(nursery: trio.Nursery) -> None:
    errors: list[str] = []

    async def handler(request: WebSocketRequest) -> None:
        assert request.proposed_subprotocols == ("chat.v2", "chat.v1")
        try:
            await request.accept(subprotocol="other")
        except ValueError as exc:
            errors.append(str(exc))
        ws = await request.accept(subprotocol="chat.v1")
        assert ws.subprotocol == "chat.v1"
        await ws.aclose()

    peer = await start(nursery, handler)
    await peer.send(Request(host="x", target="/", subprotocols=["chat.v2", "chat.v1"]))
    accepted = await peer.expect(AcceptConnection)
    assert accepted.subprotocol == "chat.v1"
    assert errors and "not offered" in errors[0]


async def test_connect_timeout_drops_half_handshake(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    peer = await start(nursery, connect_timeout=10)
    await peer.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n")
    with trio.fail_after(11):
        assert await peer.read_until_eof(timeout=11) == b""


async def test_client_leaving_mid_handshake_frees_connection() -> None:
    """Half a request, then the client closes: the server notices the EOF at once (not at
    ``connect_timeout``), forgets the connection (its tracker's count drops back to zero) and
    closes its end of the stream."""
    tracker = ConnectionTracker()
    server_stream, client_stream = stream_pair()
    served = trio.Event()

    async def serve() -> None:
        await serve_stream(
            echo_handler, server_stream, ServerOptions(connect_timeout=3600), tracker=tracker
        )
        served.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        await client_stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        await trio.testing.wait_all_tasks_blocked()
        assert tracker.active == 1 and not served.is_set()  # waiting for the rest of the head
        await client_stream.aclose()
        await trio.testing.wait_all_tasks_blocked()  # no clock moves: only the EOF can free it
        assert served.is_set()
    assert tracker.active == 0
    with pytest.raises(trio.ClosedResourceError):
        await server_stream.send_all(b"x")
