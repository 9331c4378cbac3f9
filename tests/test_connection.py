"""StreamConnection, the Trio shell around the engine, over memory streams (no sockets).

Each test opens a connection as a handshake leaves it, client or server side, against a wsproto
peer of the other kind, and checks what the shell owns: queueing and backpressure, ping/pong
and latency, the closing handshake and its timeouts, ``going_away``, keepalive, the reader's
cancellation and the serialisation of writes. What bytes mean is the engine's business
(``tests/protocol/test_engine.py``); the handshakes are the server's and the client's.

Here: messages, the connection's facts, the reader, ping and pong. The closing handshake and
``going_away`` are in ``test_connection_close.py``; keepalive in
``test_connection_keepalive.py``; queueing, backpressure and ``message_queue_size=0`` in
``test_connection_backpressure.py``; the connection and its peer in ``connection_helpers.py``.
"""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing
from wsproto.connection import ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

from wsframework import CloseReason, ConnectionClosed, MessageTypeError

from .connection_helpers import CLIENT, SERVER, SIDES, Peer, closing_code, make, opened
from .peers import OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT, build_frame, close_payload

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
