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
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from wsframework import CloseReason, ConnectionClosed, WebSocketRequest
from wsframework.options import ServerOptions
from wsframework.server import serve_stream

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


async def test_peer_close_ends_iteration_and_is_answered(nursery: trio.Nursery) -> None:
    seen: list[CloseReason | None] = []
    done = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async for _ in ws:
            pass
        seen.append(ws.closed)
        done.set()

    peer = await opened(nursery, handler)
    await peer.send(CloseConnection(code=1000, reason="bye"))
    reply = await peer.expect(CloseConnection)
    assert reply.code == 1000
    await done.wait()
    assert seen == [CloseReason(1000, "bye")]
    assert await peer.next_event() is None  # then the server closes TCP


async def test_abnormal_remote_close_code_is_raised(nursery: trio.Nursery) -> None:
    raised: list[ConnectionClosed] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            async for _ in ws:
                pass
        except ConnectionClosed as exc:
            raised.append(exc)

    peer = await opened(nursery, handler)
    await peer.send(CloseConnection(code=4001, reason="custom"))
    await peer.expect(CloseConnection)
    assert await peer.next_event() is None
    assert raised[0].reason == CloseReason(4001, "custom")
    assert raised[0].reason is not None and raised[0].reason.name == "PRIVATE_RESERVED"


async def test_local_close_sends_code_and_reason(nursery: trio.Nursery) -> None:
    closed: list[CloseReason | None] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.aclose(4000, "done here")
        closed.append(ws.closed)
        with pytest.raises(ConnectionClosed):
            await ws.send_message("late")
        with pytest.raises(ConnectionClosed):
            await ws.get_message()

    peer = await start(nursery, handler)
    await peer.send(Request(host="x", target="/"))
    await peer.expect(AcceptConnection)
    event = await peer.expect(CloseConnection)
    assert (event.code, event.reason) == (4000, "done here")
    await peer.send(event.response())
    assert await peer.next_event() is None
    assert closed == [CloseReason(4000, "done here")]


async def test_invalid_local_close_code_is_a_value_error(nursery: trio.Nursery) -> None:
    errors: list[BaseException] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        for code in (1005, 1006, 999, 5000, 1015):
            try:
                await ws.aclose(code)
            except ValueError as exc:
                errors.append(exc)
        await ws.aclose()

    peer = await opened(nursery, handler)
    await peer.expect(CloseConnection)
    assert len(errors) == 5
    assert "cannot be sent" in str(errors[0])


async def test_message_too_big_closes_1009(nursery: trio.Nursery) -> None:
    raised: list[ConnectionClosed] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            await ws.get_message()
        except ConnectionClosed as exc:
            raised.append(exc)

    peer = await opened(nursery, handler, max_message_size=10)
    await peer.send(BytesMessage(data=b"x" * 11))
    event = await peer.expect(CloseConnection)
    assert event.code == 1009
    assert await peer.next_event() is None
    assert raised[0].reason is not None and raised[0].reason.code == 1009


async def test_fragmented_message_too_big_closes_1009(nursery: trio.Nursery) -> None:
    peer = await opened(nursery, max_message_size=10)
    await peer.send(TextMessage(data="x" * 6, message_finished=False))
    await peer.send(TextMessage(data="x" * 6, message_finished=True))
    assert (await peer.expect(CloseConnection)).code == 1009


async def test_peer_ping_is_answered_while_handler_is_busy(nursery: trio.Nursery) -> None:
    release = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        await request.accept()
        await release.wait()

    peer = await opened(nursery, handler)
    await peer.send(Ping(payload=b"abc"))
    assert (await peer.expect(Pong)).payload == b"abc"
    release.set()


async def test_ping_waits_for_pong_and_measures_latency(nursery: trio.Nursery) -> None:
    latencies: list[float | None] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.ping(b"p1")
        latencies.append(ws.latency)
        with pytest.raises(ValueError, match="at most 125"):
            await ws.ping(b"x" * 126)
        await ws.aclose()

    peer = await opened(nursery, handler)
    ping = await peer.expect(Ping)
    assert ping.payload == b"p1"
    await peer.send(ping.response())
    await peer.expect(CloseConnection)
    assert latencies and latencies[0] is not None and latencies[0] >= 0


async def test_pong_answers_earlier_pings_and_duplicates_are_refused(nursery: trio.Nursery) -> None:
    done: list[str] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async with trio.open_nursery() as inner:
            inner.start_soon(ws.ping, b"a")
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(ValueError, match="already in flight"):
                await ws.ping(b"a")
            await ws.ping(b"b")  # the pong for b also answers a
        done.append("both")

    peer = await opened(nursery, handler)
    await peer.expect(Ping)
    second = await peer.expect(Ping)
    await peer.send(second.response())
    await peer.expect(CloseConnection)
    assert done == ["both"]


async def test_ping_raises_when_connection_closes(nursery: trio.Nursery) -> None:
    raised: list[BaseException] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            await ws.ping()
        except ConnectionClosed as exc:
            raised.append(exc)

    peer = await opened(nursery, handler)
    await peer.expect(Ping)
    await peer.send(CloseConnection(code=1000))
    await peer.expect(CloseConnection)
    assert len(raised) == 1


async def test_unsolicited_pong(nursery: trio.Nursery) -> None:
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.pong(b"beat")

    peer = await opened(nursery, handler)
    assert (await peer.expect(Pong)).payload == b"beat"


async def test_keepalive_closes_silent_peer_1011(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
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


async def test_keepalive_survives_answering_peer(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    peer = await opened(nursery, ping_interval=5, ping_timeout=2)
    for _ in range(3):
        ping = await peer.expect(Ping, timeout=30)
        await peer.send(ping.response())
    await peer.send(TextMessage(data="still here"))
    assert (await peer.expect(TextMessage)).data == "still here"


async def test_backpressure_stops_reading(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    release = trio.Event()
    got: list[str | bytes] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await release.wait()
        for _ in range(3):
            got.append(await ws.get_message())

    peer = await start(nursery, handler, lockstep=True, message_queue_size=1)
    await peer.send(Request(host="x", target="/"))
    await peer.expect(AcceptConnection)
    await peer.send(TextMessage(data="one"))  # read and queued: the queue is now full
    await peer.send(TextMessage(data="two"))  # read; the reader holds it and parks
    three_sent = trio.Event()

    async def send_three() -> None:
        await peer.send(TextMessage(data="three"))
        three_sent.set()

    nursery.start_soon(send_three)
    await trio.testing.wait_all_tasks_blocked()
    assert not three_sent.is_set()  # nobody reads the socket while the queue is full
    release.set()
    await three_sent.wait()
    await trio.testing.wait_all_tasks_blocked()
    assert got == ["one", "two", "three"]


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


async def test_client_leaving_mid_handshake_frees_connection(nursery: trio.Nursery) -> None:
    peer = await start(nursery)
    await peer.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n")
    await peer.stream.send_eof() if hasattr(peer.stream, "send_eof") else None
    await peer.stream.aclose()
    await trio.testing.wait_all_tasks_blocked()
