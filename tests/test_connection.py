"""StreamConnection, the Trio shell around the engine, over memory streams (no sockets).

Each test opens a connection as a handshake leaves it, client or server side, against a wsproto
peer of the other kind, and checks what the shell owns: queueing and backpressure, ping/pong
and latency, the closing handshake and its timeouts, ``going_away``, keepalive, the reader's
cancellation and the serialisation of writes. What bytes mean is the engine's business
(``tests/protocol/test_engine.py``); the handshakes are the server's and the client's.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket
from wsproto.connection import Connection, ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from wsframework import (
    CloseReason,
    ConnectionClosed,
    MessageTypeError,
    WebSocketRequest,
    wrap_client_stream,
)
from wsframework.connection import StreamConnection
from wsframework.options import ClientOptions, ServerOptions
from wsframework.protocol.engine import Engine
from wsframework.server import serve_stream

from .peers import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_TEXT,
    ScriptedPeer,
    build_frame,
    close_payload,
    parse_frame,
    stream_pair,
)

SERVER, CLIENT = ConnectionType.SERVER, ConnectionType.CLIENT
SIDES = [pytest.param(SERVER, id="server"), pytest.param(CLIENT, id="client")]


class Peer(ScriptedPeer):
    """The other end, past the handshake: a bare wsproto connection of the other kind."""

    def __init__(self, stream: trio.abc.Stream, kind: ConnectionType) -> None:
        super().__init__(stream, kind)
        self.ws = Connection(kind)  # type: ignore[assignment]


def make(
    kind: ConnectionType,
    stream: trio.abc.Stream,
    *,
    trailing: bytes = b"",
    **settings: Any,
) -> tuple[StreamConnection, ClientOptions | ServerOptions]:
    """A connection as the server's accept or the client's handshake makes it (not started)."""
    options = ServerOptions(**settings) if kind is SERVER else ClientOptions(**settings)
    engine = Engine(
        Connection(kind, trailing_data=trailing),
        max_message_size=options.max_message_size,
        max_frame_size=options.read_size,
    )
    connection = StreamConnection(
        stream,
        engine,
        options,
        path="/chat?room=1",
        subprotocol="chat.v1",
        request_headers=[(b"host", b"example.com")],
        response_headers=[(b"x-server", b"yes")],
    )
    return connection, options


async def opened(
    nursery: trio.Nursery,
    kind: ConnectionType = SERVER,
    *,
    lockstep: bool = False,
    **settings: Any,
) -> tuple[StreamConnection, Peer]:
    """A started connection of ``kind`` in ``nursery``, and its peer."""
    if lockstep:
        ours, theirs = trio.testing.lockstep_stream_pair()
    else:
        ours, theirs = trio.testing.memory_stream_pair()
    connection, options = make(kind, ours, **settings)
    connection.start(nursery, options.keepalive)
    return connection, Peer(theirs, CLIENT if kind is SERVER else SERVER)


async def closing_code(peer: Peer) -> int:
    """The code of the peer's next event, which must be a close frame."""
    event = await peer.expect(CloseConnection)
    return int(event.code)


# ---------------------------------------------------------------------- messages


@pytest.mark.parametrize("kind", SIDES)
async def test_messages_both_ways(nursery: trio.Nursery, kind: ConnectionType) -> None:
    ws, peer = await opened(nursery, kind)
    await peer.send(TextMessage(data="héllo"))
    await peer.send(BytesMessage(data=b"\x00\xff"))
    assert await ws.get_message() == "héllo"
    assert await ws.get_message() == b"\x00\xff"
    for message in ("text", b"bytes", bytearray(b"array"), memoryview(b"view")):
        await ws.send_message(message)
        event = await peer.next_event()  # the peer's wsproto insists on (no) masking
        expected = message if isinstance(message, str) else bytes(message)
        assert event is not None and event.data == expected


@pytest.mark.parametrize("kind", SIDES)
async def test_fragments_are_assembled(nursery: trio.Nursery, kind: ConnectionType) -> None:
    ws, peer = await opened(nursery, kind)
    await peer.send(TextMessage(data="ab", message_finished=False))
    await peer.send(Ping(payload=b"between"))
    await peer.send(TextMessage(data="cd", message_finished=True))
    assert await ws.get_message() == "abcd"
    assert (await peer.expect(Pong)).payload == b"between"


async def test_bytes_behind_the_handshake_are_delivered(nursery: trio.Nursery) -> None:
    ours, _theirs = trio.testing.memory_stream_pair()
    early = build_frame(OP_TEXT, b"early") + build_frame(OP_BINARY, b"too")
    ws, options = make(SERVER, ours, trailing=early)
    ws.start(nursery, options.keepalive)
    with trio.fail_after(5):
        assert [await ws.get_message(), await ws.get_message()] == ["early", b"too"]


async def test_iteration_ends_quietly_on_1000_and_1001(nursery: trio.Nursery) -> None:
    for code in (1000, 1001):
        ws, peer = await opened(nursery)
        await peer.send(TextMessage(data="last"))
        await peer.send(CloseConnection(code=code))
        assert [message async for message in ws] == ["last"]


async def test_iteration_raises_on_other_codes(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    await peer.send(CloseConnection(code=4001, reason="custom"))
    with pytest.raises(ConnectionClosed) as info:
        async for _ in ws:
            pass  # pragma: no cover
    assert info.value.reason == CloseReason(4001, "custom")
    assert info.value.reason is not None and info.value.reason.name == "PRIVATE_RESERVED"


async def test_json_helpers(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    await ws.send_json({"a": [1, "é"]})
    assert (await peer.expect(TextMessage)).data == '{"a":[1,"é"]}'
    await peer.send(BytesMessage(data=b'{"b": null}'))
    assert await ws.receive_json() == {"b": None}
    await peer.send(TextMessage(data="{not json"))
    with pytest.raises(ValueError, match="message is not valid JSON: ") as info:
        await ws.receive_json()
    assert info.value.message == "{not json"  # type: ignore[attr-defined]


async def test_send_message_refuses_other_types_even_when_closed(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    with pytest.raises(MessageTypeError, match="message must be str or bytes, not int"):
        await ws.send_message(123)  # type: ignore[arg-type]
    await peer.send(CloseConnection(code=1000))
    await peer.expect(CloseConnection)
    with pytest.raises(MessageTypeError, match="not dict"):
        await ws.send_message({})  # type: ignore[arg-type]
    with pytest.raises(ConnectionClosed):
        await ws.send_message("late")


# ---------------------------------------------------------------------- facts


@pytest.mark.parametrize("kind", SIDES)
async def test_properties(nursery: trio.Nursery, kind: ConnectionType) -> None:
    ws, peer = await opened(nursery, kind)
    assert ws.is_client is (kind is CLIENT) and ws.is_server is (kind is SERVER)
    assert ws.path == "/chat?room=1" and ws.subprotocol == "chat.v1"
    assert ws.request_headers == ((b"host", b"example.com"),)
    assert ws.response_headers == ((b"x-server", b"yes"),)
    # What the other side sent: the response for a client, the request for a server.
    expected = ws.response_headers if kind is CLIENT else ws.request_headers
    assert ws.handshake_headers == expected
    assert not ws.compression and ws.latency is None and ws.closed is None
    assert isinstance(ws.local, str) and isinstance(ws.remote, str)  # no socket: the repr
    side = "client" if kind is CLIENT else "server"
    assert str(ws).startswith(f"{side}-")
    assert repr(ws) == f"<StreamConnection {ws} '/chat?room=1' open>"
    await peer.send(CloseConnection(code=1000))
    await peer.expect(CloseConnection)
    assert repr(ws) == f"<StreamConnection {ws} '/chat?room=1' closed 1000>"


# ---------------------------------------------------------------------- closing


@pytest.mark.parametrize("kind", SIDES)
async def test_close_started_by_the_peer_is_answered(
    nursery: trio.Nursery, kind: ConnectionType
) -> None:
    ws, peer = await opened(nursery, kind)
    await peer.send(CloseConnection(code=4002, reason="maintenance"))
    reply = await peer.expect(CloseConnection)
    assert (reply.code, reply.reason) == (4002, "maintenance")
    assert await peer.next_event() is None  # then the connection closes the stream
    with pytest.raises(ConnectionClosed) as info:
        await ws.get_message()
    assert info.value.reason == CloseReason(4002, "maintenance") == ws.closed
    with pytest.raises(ConnectionClosed):
        await ws.send_message("late")
    with pytest.raises(ConnectionClosed):
        await ws.ping()
    with pytest.raises(ConnectionClosed):
        await ws.pong()
    with trio.fail_after(1):
        await ws.aclose()  # closing already: returns at once, sends nothing


@pytest.mark.parametrize("queue", [1, 8])
@pytest.mark.parametrize("kind", SIDES)
async def test_messages_before_the_peers_close_can_still_be_read(
    nursery: trio.Nursery, kind: ConnectionType, queue: int
) -> None:
    ws, peer = await opened(nursery, kind, message_queue_size=queue)
    await peer.send(TextMessage(data="one"))
    await peer.send(BytesMessage(data=b"two"))
    await peer.send(TextMessage(data="thr", message_finished=False))
    await peer.send(TextMessage(data="ee", message_finished=True))
    await peer.send(CloseConnection(code=1000, reason="done"))
    got = [message async for message in ws]
    assert got == ["one", b"two", "three"]
    assert ws.closed == CloseReason(1000, "done")
    assert (await peer.expect(CloseConnection)).code == 1000


@pytest.mark.parametrize("kind", SIDES)
async def test_local_close_handshake(nursery: trio.Nursery, kind: ConnectionType) -> None:
    ws, peer = await opened(nursery, kind)
    await peer.send(TextMessage(data="unread"))
    await trio.testing.wait_all_tasks_blocked()

    async def answer() -> None:
        event = await peer.expect(CloseConnection)
        assert (event.code, event.reason) == (3003, "bye")
        await peer.send(event.response())

    nursery.start_soon(answer)
    with trio.fail_after(5):
        await ws.aclose(3003, "bye")
    assert ws.closed == CloseReason(3003, "bye")
    assert await peer.next_event() is None  # the stream is closed
    with pytest.raises(ConnectionClosed) as info:
        await ws.get_message()  # a local close discards what was not read
    assert info.value.reason == CloseReason(3003, "bye")
    with pytest.raises(ConnectionClosed):
        await ws.send_message("late")
    await ws.aclose()  # idempotent
    assert ws.closed == CloseReason(3003, "bye")


async def test_concurrent_closes_send_one_close_frame(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    async with trio.open_nursery() as closers:
        for code in (1000, 4000, 4001):
            closers.start_soon(ws.aclose, code)
        event = await peer.expect(CloseConnection)
        await peer.send(event.response())
    assert ws.closed is not None and ws.closed.code == event.code
    assert await peer.next_event() is None  # no second close frame


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2000, 5000])
async def test_unsendable_close_code_is_a_value_error(nursery: trio.Nursery, code: int) -> None:
    ws, peer = await opened(nursery)
    with pytest.raises(ValueError, match=str(code)):
        await ws.aclose(code)
    with pytest.raises(ValueError, match=str(code)):
        await ws.going_away(code)
    assert ws.closed is None  # nothing sent, still open
    await ws.send_message("still open")
    assert (await peer.expect(TextMessage)).data == "still open"


@pytest.mark.parametrize("kind", SIDES)
async def test_close_is_bounded_by_disconnect_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kind: ConnectionType
) -> None:
    ws, peer = await opened(nursery, kind, disconnect_timeout=7)
    start = trio.current_time()
    await ws.aclose()  # the peer never answers
    assert trio.current_time() - start == pytest.approx(7)
    assert (await peer.expect(CloseConnection)).code == 1000
    assert await peer.next_event() is None  # the stream was closed anyway


async def test_cancelled_close_still_closes_the_stream(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery)
    with trio.move_on_after(2):
        await ws.aclose(4000)
    assert await closing_code(peer) == 4000
    assert await peer.next_event() is None
    assert ws.closed == CloseReason(4000, None)


async def test_eof_without_close_frame_is_1006(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    await peer.send(TextMessage(data="last words"))
    await peer.stream.aclose()
    assert await ws.get_message() == "last words"
    with pytest.raises(ConnectionClosed) as info:
        await ws.get_message()
    assert info.value.reason == CloseReason(1006, None)
    with trio.fail_after(1):
        await ws.aclose()


def break_writes(peer: Peer) -> None:
    """Make every later write to the peer fail (its receiving side is gone) while it can still
    send: our reader notices nothing until it has to write."""
    stream = peer.stream
    assert isinstance(stream, trio.StapledStream)
    stream.receive_stream.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", SIDES)
async def test_failed_write_closes_with_1006(nursery: trio.Nursery, kind: ConnectionType) -> None:
    ws, peer = await opened(nursery, kind)
    break_writes(peer)
    with pytest.raises(ConnectionClosed) as info:
        await ws.send_message("lost")
    assert info.value.reason == CloseReason(1006, None) == ws.closed
    assert isinstance(info.value.__cause__, trio.BrokenResourceError)
    with pytest.raises(ConnectionClosed):
        await ws.send_message("after")


async def test_failed_control_frame_write_closes_with_1006(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    break_writes(peer)
    with pytest.raises(ConnectionClosed) as info:
        await ws.pong(b"beat")
    assert info.value.reason == CloseReason(1006, None) == ws.closed
    with pytest.raises(ConnectionClosed):
        await ws.ping()


@pytest.mark.parametrize(
    ("event", "closed"),
    [
        pytest.param(Ping(payload=b"answer me"), CloseReason(1006, None), id="ping"),
        pytest.param(CloseConnection(code=4000), CloseReason(4000, None), id="close"),
    ],
)
async def test_reader_whose_answer_cannot_be_written_ends_quietly(
    nursery: trio.Nursery, event: Any, closed: CloseReason
) -> None:
    ws, peer = await opened(nursery)
    break_writes(peer)
    await peer.send(event)
    await trio.testing.wait_all_tasks_blocked()  # the reader tried to answer, and finished
    with pytest.raises(ConnectionClosed) as info:
        await ws.get_message()
    assert info.value.reason == closed == ws.closed


async def test_reader_failing_a_connection_it_cannot_write_to(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    break_writes(peer)
    await peer.send_raw(build_frame(OP_TEXT, b"\xff"))
    with pytest.raises(ConnectionClosed) as info:
        await ws.get_message()
    assert info.value.reason is not None and info.value.reason.code == 1007


async def test_close_on_a_broken_stream_does_not_raise(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    break_writes(peer)
    with trio.fail_after(1):
        await ws.aclose(4000, "nobody hears this")
    assert ws.closed == CloseReason(4000, "nobody hears this")


async def test_going_away_on_a_broken_stream_does_not_raise(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    break_writes(peer)
    await ws.going_away()
    assert ws.closed == CloseReason(1001, "server shutting down")


# ---------------------------------------------------------------------- going_away


@pytest.mark.parametrize("kind", SIDES)
async def test_going_away_sends_1001_once_and_does_not_wait(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kind: ConnectionType
) -> None:
    ws, peer = await opened(nursery, kind)
    start = trio.current_time()
    await ws.going_away()
    await ws.going_away()
    assert trio.current_time() == start  # no wait for the peer's answer
    event = await peer.expect(CloseConnection)
    assert (event.code, event.reason) == (1001, "server shutting down")
    assert await peer.next_event() is None  # one close frame, then the stream is closed
    assert ws.closed == CloseReason(1001, "server shutting down")


async def test_going_away_works_inside_a_cancelled_scope(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    with trio.CancelScope() as scope:
        scope.cancel()
        await ws.going_away(4001, "restart")
    assert (await peer.expect(CloseConnection)).code == 4001
    assert await peer.next_event() is None


async def test_going_away_is_bounded_by_one_second(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """A peer that reads nothing cannot hold a shutdown: the close frame's write gives up."""
    ws, _peer = await opened(nursery, lockstep=True)  # every write waits for the peer to read
    start = trio.current_time()
    await ws.going_away()
    assert trio.current_time() - start == pytest.approx(1)
    assert ws.closed is not None and ws.closed.code == 1001


async def test_going_away_after_the_peer_closed_sends_nothing(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    await peer.send(CloseConnection(code=1000))
    assert await closing_code(peer) == 1000
    await ws.going_away()
    assert await peer.next_event() is None
    assert ws.closed == CloseReason(1000, None)


# ---------------------------------------------------------------------- the reader


async def test_cancelled_reader_leaves_the_stream_for_a_goodbye(nursery: trio.Nursery) -> None:
    """Cancelled with its nursery (a server shutting down), the reader wakes the handler with
    1006 but leaves the stream open, so ``going_away`` can still tell the peer why."""
    ours, theirs = trio.testing.memory_stream_pair()
    ws, options = make(SERVER, ours)
    peer = Peer(theirs, CLIENT)
    errors: list[ConnectionClosed] = []

    async def handler() -> None:
        try:
            await ws.get_message()
        except ConnectionClosed as exc:
            errors.append(exc)

    async with trio.open_nursery() as readers:
        ws.start(readers, options.keepalive)
        nursery.start_soon(handler)
        await trio.testing.wait_all_tasks_blocked()
        readers.cancel_scope.cancel()
    await trio.testing.wait_all_tasks_blocked()
    assert [exc.reason for exc in errors] == [CloseReason(1006, None)]
    await ws.going_away()
    assert (await peer.expect(CloseConnection)).code == 1001
    assert ws.closed == CloseReason(1001, "server shutting down")  # replaces the 1006
    with trio.fail_after(1):
        await ws.aclose()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param(build_frame(OP_TEXT, b"\xff\xfe", mask=None), 1007, id="invalid-utf8"),
        pytest.param(build_frame(OP_TEXT, b"hi", mask=b"abcd"), 1002, id="masked"),
        pytest.param(build_frame(0xB, b"", mask=None), 1002, id="reserved-opcode"),
        pytest.param(build_frame(OP_CONT, b"a", mask=None), 1002, id="stray-continuation"),
        pytest.param(build_frame(OP_CLOSE, close_payload(1006), mask=None), 1002, id="bad-code"),
        pytest.param(build_frame(OP_BINARY, b"x" * 65, mask=None), 1009, id="too-big"),
    ],
)
async def test_protocol_error_from_a_server_fails_the_client(
    nursery: trio.Nursery, frame: bytes, code: int
) -> None:
    ws, peer = await opened(nursery, CLIENT, max_message_size=64)
    await peer.send_raw(frame)
    assert await closing_code(peer) == code
    assert await peer.next_event() is None  # closed at once, without waiting for an answer
    with pytest.raises(ConnectionClosed) as info:
        await ws.get_message()
    assert info.value.reason is not None and info.value.reason.code == code


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param(build_frame(OP_TEXT, b"\xff\xfe"), 1007, id="invalid-utf8"),
        pytest.param(build_frame(OP_TEXT, b"hi", mask=None), 1002, id="unmasked"),
        pytest.param(build_frame(OP_BINARY, b"x" * 65), 1009, id="too-big"),
        pytest.param(
            build_frame(OP_TEXT, b"x" * 40, fin=False) + build_frame(OP_CONT, b"x" * 40),
            1009,
            id="fragmented-too-big",
        ),
    ],
)
async def test_protocol_error_from_a_client_fails_the_server(
    nursery: trio.Nursery, frame: bytes, code: int, caplog: pytest.LogCaptureFixture
) -> None:
    ws, peer = await opened(nursery, SERVER, max_message_size=64)
    with caplog.at_level(logging.INFO, logger="wsframework"):
        await peer.send_raw(frame)
        event = await peer.expect(CloseConnection)
        assert event.code == code
        assert await peer.next_event() is None
    with pytest.raises(ConnectionClosed) as info:
        await ws.get_message()
    assert info.value.reason is not None and info.value.reason.code == code
    assert f"closing with {code} after a protocol error" in caplog.text
    if code == 1009:
        assert event.reason == "message exceeds 64 bytes"


# ---------------------------------------------------------------------- ping and pong


@pytest.mark.parametrize("kind", SIDES)
async def test_ping_waits_for_its_pong_and_measures_latency(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kind: ConnectionType
) -> None:
    ws, peer = await opened(nursery, kind)

    async def answer_late() -> None:
        for delay in (3, 1):
            ping = await peer.expect(Ping)
            assert ping.payload == b"p1"
            await trio.sleep(delay)
            await peer.send(ping.response())

    nursery.start_soon(answer_late)
    with trio.fail_after(10):
        await ws.ping(b"p1")
        assert ws.latency == pytest.approx(3)
        await ws.ping(b"p1")  # answered, so the payload is free again
    assert ws.latency == pytest.approx(1)
    with pytest.raises(ValueError, match="at most 125 bytes"):
        await ws.ping(b"x" * 126)


@pytest.mark.parametrize("kind", SIDES)
async def test_a_pong_answers_earlier_pings_and_duplicates_are_refused(
    nursery: trio.Nursery, kind: ConnectionType
) -> None:
    ws, peer = await opened(nursery, kind)
    done: list[bytes] = []

    async def ping(payload: bytes) -> None:
        await ws.ping(payload)
        done.append(payload)

    async with trio.open_nursery() as pings:
        pings.start_soon(ping, b"a")
        await peer.expect(Ping)
        with pytest.raises(ValueError, match="already in flight"):
            await ws.ping(b"a")
        pings.start_soon(ping, b"b")
        second = await peer.expect(Ping)
        await peer.send(second.response())  # the pong for b also answers a
    assert sorted(done) == [b"a", b"b"]


async def test_cancelled_ping_is_forgotten(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    with trio.move_on_after(0.1):
        await ws.ping(b"gone")
    assert (await peer.expect(Ping)).payload == b"gone"
    await peer.send(Pong(payload=b"gone"))  # a late pong is harmless
    await trio.testing.wait_all_tasks_blocked()
    assert ws.latency is None  # it answered nothing
    async with trio.open_nursery() as pings:
        pings.start_soon(ws.ping, b"gone")  # the payload can be used again
        await peer.send((await peer.expect(Ping)).response())
    assert ws.latency is not None


@pytest.mark.parametrize("kind", SIDES)
async def test_ping_raises_when_the_connection_closes(
    nursery: trio.Nursery, kind: ConnectionType
) -> None:
    ws, peer = await opened(nursery, kind)
    raised: list[ConnectionClosed] = []

    async def ping() -> None:
        try:
            await ws.ping()
        except ConnectionClosed as exc:
            raised.append(exc)

    nursery.start_soon(ping)
    await peer.expect(Ping)
    await peer.send(CloseConnection(code=1000))
    await peer.expect(CloseConnection)
    await trio.testing.wait_all_tasks_blocked()
    assert [exc.reason for exc in raised] == [CloseReason(1000, None)]


@pytest.mark.parametrize("kind", SIDES)
async def test_peer_ping_is_answered_while_nobody_reads(
    nursery: trio.Nursery, kind: ConnectionType
) -> None:
    _ws, peer = await opened(nursery, kind)
    await peer.send(Ping(payload=b"abc"))
    assert (await peer.expect(Pong)).payload == b"abc"


@pytest.mark.parametrize("kind", SIDES)
async def test_unsolicited_pong(nursery: trio.Nursery, kind: ConnectionType) -> None:
    ws, peer = await opened(nursery, kind)
    await ws.pong(b"beat")
    await ws.pong()
    assert (await peer.expect(Pong)).payload == b"beat"
    assert (await peer.expect(Pong)).payload == b""


async def test_ping_and_pong_after_our_close_raise(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery, disconnect_timeout=1)
    await ws.aclose()
    with pytest.raises(ConnectionClosed):
        await ws.ping()
    with pytest.raises(ConnectionClosed):
        await ws.pong()
    assert await closing_code(peer) == 1000


# ---------------------------------------------------------------------- keepalive


@pytest.mark.parametrize("kind", SIDES)
async def test_keepalive_closes_a_silent_peer_with_1011(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    kind: ConnectionType,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ws, peer = await opened(nursery, kind, ping_interval=5, ping_timeout=2)
    start = trio.current_time()
    with caplog.at_level(logging.INFO, logger="wsframework"):
        await peer.expect(Ping, timeout=30)  # not answered
        assert trio.current_time() - start == pytest.approx(5)
        event = await peer.expect(CloseConnection, timeout=30)
    assert trio.current_time() - start == pytest.approx(7)
    assert (event.code, event.reason) == (1011, "keepalive ping timeout: no pong within 2 s")
    assert await peer.next_event() is None
    with pytest.raises(ConnectionClosed) as info:
        await ws.get_message()
    assert info.value.reason == CloseReason(1011, "keepalive ping timeout: no pong within 2 s")
    assert "closing with 1011: keepalive ping timeout" in caplog.text


@pytest.mark.parametrize("kind", SIDES)
async def test_keepalive_survives_an_answering_peer(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kind: ConnectionType
) -> None:
    ws, peer = await opened(nursery, kind, ping_interval=5)  # ping_timeout: the interval
    start = trio.current_time()
    for _ in range(3):
        ping = await peer.expect(Ping, timeout=30)
        await trio.sleep(4)  # late, but within the timeout
        await peer.send(ping.response())
    assert trio.current_time() - start == pytest.approx(3 * 9)
    assert ws.closed is None and ws.latency == pytest.approx(4)


async def test_keepalive_stops_when_the_connection_closes(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery, ping_interval=5, ping_timeout=2)
    await peer.send(CloseConnection(code=1000))
    assert await closing_code(peer) == 1000
    assert await peer.next_event(timeout=60) is None  # no ping after the close
    assert ws.closed == CloseReason(1000, None)


async def test_keepalive_stops_when_the_connection_closes_during_its_ping(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery, ping_interval=5, ping_timeout=10)
    await peer.expect(Ping, timeout=30)
    await peer.send(CloseConnection(code=4000, reason="instead of a pong"))
    assert await closing_code(peer) == 4000
    assert await peer.next_event(timeout=60) is None  # no 1011, no second ping
    assert ws.closed == CloseReason(4000, "instead of a pong")


# ---------------------------------------------------------------------- flow control


async def test_full_queue_stops_reading(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery, lockstep=True, message_queue_size=1)
    await peer.send(TextMessage(data="one"))  # read and queued: the queue is now full
    await peer.send(TextMessage(data="two"))  # read; the reader holds it and parks
    three_sent = trio.Event()

    async def send_three() -> None:
        await peer.send(TextMessage(data="three"))
        three_sent.set()

    nursery.start_soon(send_three)
    await trio.testing.wait_all_tasks_blocked()
    assert not three_sent.is_set()  # nobody reads the stream while the queue is full
    assert await ws.get_message() == "one"
    assert await ws.get_message() == "two"
    await three_sent.wait()
    assert await ws.get_message() == "three"


@pytest.mark.parametrize("kind", SIDES)
async def test_writes_are_serialised(nursery: trio.Nursery, kind: ConnectionType) -> None:
    """Concurrent sends, pings and pongs never interleave their bytes, even when every write
    waits for the peer to read (and large payloads go out in two writes)."""
    ws, peer = await opened(nursery, kind, lockstep=True)
    payloads = [bytes([i]) * 100_000 for i in range(4)]
    async with trio.open_nursery() as writers:
        for payload in payloads:
            writers.start_soon(ws.send_message, payload)
        writers.start_soon(ws.send_message, "small")
        writers.start_soon(ws.pong, b"beat")
        raw = bytearray()
        frames = []
        with trio.fail_after(5):
            while len(frames) < 6:
                raw += await peer.stream.receive_some(65536)
                while (frame := parse_frame(raw)) is not None:
                    frames.append(frame)
    assert sorted(f.payload for f in frames if f.opcode == OP_BINARY) == payloads
    assert [f.payload for f in frames if f.opcode == OP_TEXT] == [b"small"]
    assert all(f.masked is (kind is CLIENT) for f in frames)


async def test_send_waits_for_a_slow_reader_and_a_close_waits_its_turn(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery, lockstep=True, disconnect_timeout=5)
    sent = trio.Event()

    async def send() -> None:
        await ws.send_message(b"x" * 1000)
        sent.set()

    nursery.start_soon(send)
    await trio.testing.wait_all_tasks_blocked()
    assert not sent.is_set()  # the peer has read nothing
    nursery.start_soon(ws.aclose, 4000)
    await trio.testing.wait_all_tasks_blocked()
    assert (await peer.expect(BytesMessage)).data == b"x" * 1000  # whole, before the close
    assert await closing_code(peer) == 4000
    assert sent.is_set()
    assert ws.closed is not None and ws.closed.code == 4000


# ---------------------------------------------------------------------- message_queue_size=0
# No buffering, as in trio-websocket: the reader holds one message and reads nothing more (no
# ping, no close) until the handler takes it. Each scenario runs against trio-websocket too.

ServerSide = Callable[[trio.Nursery, trio.abc.Stream, Callable[[Any], Awaitable[None]]], Any]


async def our_server(
    nursery: trio.Nursery, stream: trio.abc.Stream, use: Callable[[Any], Awaitable[None]]
) -> None:
    async def handler(request: WebSocketRequest) -> None:
        await use(await request.accept())

    nursery.start_soon(serve_stream, handler, stream, ServerOptions(message_queue_size=0))


async def their_server(
    nursery: trio.Nursery, stream: trio.abc.Stream, use: Callable[[Any], Awaitable[None]]
) -> None:
    async def serve() -> None:
        request = await trio_websocket.wrap_server_stream(nursery, stream, message_queue_size=0)
        await use(await request.accept())

    nursery.start_soon(serve)


UNBUFFERED_SERVERS = [
    pytest.param(our_server, "plain", id="ours-plain"),
    pytest.param(our_server, "fragmented", id="ours-fragmented"),
    pytest.param(our_server, "compressed", id="ours-compressed"),
    pytest.param(their_server, "plain", id="trio_websocket-plain"),
    pytest.param(their_server, "fragmented", id="trio_websocket-fragmented"),
]


async def send_kind(peer: ScriptedPeer, kind: str) -> str:
    """Send one message the way ``kind`` says (the peer negotiated compression if asked)."""
    if kind == "fragmented":
        await peer.send(TextMessage(data="frag", message_finished=False))
        await peer.send(TextMessage(data="ment", message_finished=True))
        return "fragment"
    await peer.send(TextMessage(data="one " * 20))
    return "one " * 20


@pytest.mark.parametrize(("server", "kind"), UNBUFFERED_SERVERS)
async def test_unbuffered_server_reads_nothing_until_the_handler_takes_the_message(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    server: ServerSide,
    kind: str,
) -> None:
    release = trio.Event()
    got: list[str | bytes] = []

    async def use(ws: Any) -> None:
        await release.wait()  # the handler is busy and reads nothing
        got.append(await ws.get_message())
        with contextlib.suppress(Exception):  # ConnectionClosed, ours or trio-websocket's
            await ws.get_message()  # stay until the peer closes

    client_stream, server_stream = stream_pair()
    await server(nursery, server_stream, use)
    peer = ScriptedPeer(client_stream, CLIENT)
    extensions = [PerMessageDeflate()] if kind == "compressed" else []
    await peer.send(Request(host="example.com", target="/", extensions=extensions))
    accepted = await peer.expect(AcceptConnection)
    assert bool(accepted.extensions) is (kind == "compressed")
    sent = await send_kind(peer, kind)
    await peer.send(Ping(payload=b"anyone?"))
    await peer.send(CloseConnection(code=1000))
    with pytest.raises(trio.TooSlowError):
        await peer.next_event(timeout=120)  # no pong, no close answer
    release.set()
    assert (await peer.expect(Pong)).payload == b"anyone?"
    assert (await peer.expect(CloseConnection)).code == 1000
    assert got == [sent]


async def our_client(
    nursery: trio.Nursery, stream: trio.abc.Stream, use: Callable[[Any], Awaitable[None]]
) -> None:
    ws = await wrap_client_stream(nursery, stream, "example.com", "/", message_queue_size=0)
    nursery.start_soon(use, ws)


async def their_client(
    nursery: trio.Nursery, stream: trio.abc.Stream, use: Callable[[Any], Awaitable[None]]
) -> None:
    ws = await trio_websocket.wrap_client_stream(
        nursery,
        stream,  # type: ignore[arg-type]
        "example.com",
        "/",
        message_queue_size=0,
    )
    nursery.start_soon(use, ws)


UNBUFFERED_CLIENTS = [
    pytest.param(our_client, "plain", id="ours-plain"),
    pytest.param(our_client, "fragmented", id="ours-fragmented"),
    pytest.param(our_client, "compressed", id="ours-compressed"),
    pytest.param(their_client, "plain", id="trio_websocket-plain"),
    pytest.param(their_client, "fragmented", id="trio_websocket-fragmented"),
]


@pytest.mark.parametrize(("client", "kind"), UNBUFFERED_CLIENTS)
async def test_unbuffered_client_reads_nothing_until_the_program_takes_the_message(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    client: ServerSide,
    kind: str,
) -> None:
    release = trio.Event()
    got: list[str | bytes] = []

    async def use(ws: Any) -> None:
        await release.wait()
        got.append(await ws.get_message())

    client_stream, server_stream = stream_pair()
    peer = ScriptedPeer(server_stream, SERVER)

    async def accept() -> None:
        request = await peer.expect(Request)
        offered = bool(request.extensions)
        extensions = [PerMessageDeflate()] if kind == "compressed" and offered else []
        await peer.send(AcceptConnection(extensions=extensions))

    nursery.start_soon(accept)
    await client(nursery, client_stream, use)
    sent = await send_kind(peer, kind)
    await peer.send(Ping(payload=b"anyone?"))
    await peer.send(CloseConnection(code=1000))
    with pytest.raises(trio.TooSlowError):
        await peer.next_event(timeout=120)
    release.set()
    assert (await peer.expect(Pong)).payload == b"anyone?"
    assert (await peer.expect(CloseConnection)).code == 1000
    assert got == [sent]


@pytest.mark.parametrize(
    ("server", "queue", "waited"),
    [
        pytest.param(our_server, 0, 60, id="ours-unbuffered"),
        pytest.param(their_server, 0, 60, id="trio_websocket-unbuffered"),
        pytest.param(our_server, 1, 0, id="ours-buffered"),
    ],
)
async def test_client_close_against_a_busy_unbuffered_server_times_out(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    server: ServerSide,
    queue: int,
    waited: float,
) -> None:
    """The issue's scenario: a handler sleeps without reading; against trio-websocket and
    against us with ``message_queue_size=0``, the client's close waits out its
    ``disconnect_timeout`` (60 s); with a queue, the close is answered at once."""

    async def use(ws: Any) -> None:
        await trio.sleep(3600)

    client_stream, server_stream = stream_pair()
    if queue == 0:
        await server(nursery, server_stream, use)
    else:

        async def handler(request: WebSocketRequest) -> None:
            await use(await request.accept())

        options = ServerOptions(message_queue_size=queue)
        nursery.start_soon(serve_stream, handler, server_stream, options)
    ws = await wrap_client_stream(nursery, client_stream, "example.com", "/")
    await ws.send_message("are you listening?")
    start = trio.current_time()
    await ws.aclose()
    assert trio.current_time() - start == pytest.approx(waited)
    assert ws.closed == CloseReason(1000, None)
