"""The sans-I/O engine, synchronously and byte by byte: no trio, no streams.

Each test builds an :class:`Engine` from a bare wsproto ``Connection`` (what the opening
handshake leaves) and talks to a wsproto peer of the other kind, or feeds hand-built frames. What
the engine yields for some bytes must not depend on how the bytes are cut.

Here: ping and pong, sending, and the wsproto internals the engine relies on. Receiving
(frames, fragments, compression, limits, UTF-8, protocol errors, bytes behind the handshake,
pausing the generator) is in ``test_engine_receive.py``; closing in ``test_engine_close.py``;
the engines and feeding helpers in ``engine_helpers.py``.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

from wsframework.exceptions import MessageTypeError
from wsframework.interface import PreparedMessage
from wsframework.protocol.deflate_options import DeflateOptions
from wsframework.protocol.engine import (
    CloseReceived,
    Engine,
    PingReceived,
    PongReceived,
    _adopt_wsproto,
)

from ..peers import OP_CLOSE, OP_PONG, OP_TEXT, apply_mask, build_frame, close_payload
from .engine_helpers import (
    CLIENT,
    LIMIT,
    SERVER,
    compressed_pair,
    engine,
    feed,
    peer_events,
    peer_of,
)

# ---------------------------------------------------------------------- ping and pong


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_ping_is_reported_and_answered_with_a_pong(kind: ConnectionType) -> None:
    target, peer = engine(kind), peer_of(kind)
    assert feed(target, peer.send(Ping(payload=b"are you there"))) == [
        PingReceived(b"are you there")
    ]
    assert peer_events(peer, target.pong(b"are you there")) == [Pong(payload=b"are you there")]


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_pong_acknowledges_its_ping_and_every_earlier_one(kind: ConnectionType) -> None:
    """``acked`` hands back the tokens given to :meth:`Engine.ping`, oldest first."""
    target, peer = engine(kind), peer_of(kind)
    tokens = {b"a": object(), b"b": object(), b"c": object()}
    for payload, token in tokens.items():
        key, frame = target.ping(payload, token)
        assert key == payload
        assert peer_events(peer, frame) == [Ping(payload=payload)]
    assert target.pings() == list(tokens.values())
    assert feed(target, peer.send(Pong(payload=b"b"))) == [
        PongReceived(b"b", (tokens[b"a"], tokens[b"b"]))
    ]
    assert not target.in_flight(b"a") and target.in_flight(b"c")
    assert feed(target, peer.send(Pong(payload=b"a"))) == [PongReceived(b"a", ())]  # too late
    assert feed(target, peer.send(Pong(payload=b"c"))) == [PongReceived(b"c", (tokens[b"c"],))]
    assert target.pings() == []


def test_unsolicited_pong_acknowledges_nothing() -> None:
    target = engine()
    assert feed(target, build_frame(OP_PONG, b"early")) == [PongReceived(b"early", ())]
    target.ping(b"mine", "token")
    assert feed(target, build_frame(OP_PONG, b"beat")) == [PongReceived(b"beat", ())]
    assert feed(target, build_frame(OP_PONG, b"mine")) == [PongReceived(b"mine", ("token",))]


def test_forgotten_ping_is_not_acknowledged() -> None:
    target = engine()
    target.forget_ping(b"never sent")  # harmless, even before any ping
    assert not target.in_flight(b"x") and target.pings() == []
    target.ping(b"x", "x")
    target.ping(b"y", "y")
    target.forget_ping(b"x")
    assert not target.in_flight(b"x") and target.in_flight(b"y")
    assert feed(target, build_frame(OP_PONG, b"y")) == [PongReceived(b"y", ("y",))]


def test_ping_payloads() -> None:
    target = engine()
    key, frame = target.ping()
    assert len(key) == 4
    assert frame == b"\x89\x04" + key  # a server does not mask
    other, _ = target.ping()
    assert other != key
    with pytest.raises(ValueError, match="already in flight"):
        target.ping(key)
    with pytest.raises(ValueError, match="at most 125 bytes"):
        target.ping(b"x" * 126)
    longest, _ = target.ping(b"x" * 125)
    assert longest == b"x" * 125


def test_client_ping_is_masked() -> None:
    target, peer = engine(CLIENT), peer_of(CLIENT)
    _key, frame = target.ping(b"hi")
    assert frame[1] & 0x80
    assert peer_events(peer, frame) == [Ping(payload=b"hi")]


def test_pong_is_empty_once_not_open() -> None:
    target = engine()
    assert target.pong(b"x") == b"\x8a\x01x"
    target.close(1000)
    assert target.pong(b"x") == b""
    answering = engine()
    feed(answering, build_frame(OP_CLOSE, close_payload(1000)))
    assert answering.state is ConnectionState.REMOTE_CLOSING
    assert answering.pong(b"x") == b""


# ---------------------------------------------------------------------- sending


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70_000])
def test_sent_messages_decode(kind: ConnectionType, size: int) -> None:
    target, peer = engine(kind), peer_of(kind)
    payload = bytes(i % 256 for i in range(size))
    text = "é" * (size // 2)
    for message in (payload, bytearray(payload), memoryview(payload), text):
        head, body = target.send_message(message)
        assert bool(head[1] & 0x80) is (kind is CLIENT)  # only clients mask
        events = peer_events(peer, head + body)
        expected = bytes(message) if not isinstance(message, str) else message
        assert [e.data for e in events] == [expected]
        assert all(e.message_finished for e in events)


def test_server_payload_is_not_copied() -> None:
    payload = b"x" * 100_000
    head, body = engine().send_message(payload)
    assert body is payload
    assert head == b"\x82\x7f" + struct.pack("!Q", 100_000)


def test_client_uses_a_fresh_mask_for_each_message() -> None:
    target = engine(CLIENT)
    first, body1 = target.send_message(b"same")
    second, body2 = target.send_message(b"same")
    assert first[2:6] != second[2:6] or body1 != body2
    assert apply_mask(body1, first[2:6]) == b"same" == apply_mask(body2, second[2:6])


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_compressed_sending_and_the_per_message_opt_out(kind: ConnectionType) -> None:
    target, peer = compressed_pair(kind)
    assert target.compression
    text = "compress me " * 50
    head, body = target.send_message(text)
    assert head[0] & 0x40  # RSV1: compressed
    assert len(head + body) < len(text) // 4
    raw_head, raw_body = target.send_message(text.encode(), compress=False)
    assert not raw_head[0] & 0x40
    assert [e.data for e in peer_events(peer, head + body + raw_head + raw_body)] == [
        text,
        text.encode(),
    ]
    more = b"".join(target.send_message(b"\x00" * 500))  # the compressor context carries on
    assert [e.data for e in peer_events(peer, more)] == [b"\x00" * 500]


@pytest.mark.parametrize("message", [123, None, ["list"], 1.5])
def test_send_message_refuses_other_types(message: Any) -> None:
    with pytest.raises(MessageTypeError, match="message must be str or bytes, not ") as info:
        engine().send_message(message)
    assert type(message).__name__ in str(info.value)
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)


def test_properties() -> None:
    server, client = engine(SERVER), engine(CLIENT)
    assert not server.is_client and client.is_client
    assert not server.compression and not client.compression
    assert server.state is ConnectionState.OPEN
    assert compressed_pair(CLIENT)[0].compression


# ---------------------------------------------------------------------- wsproto internals


def test_wsproto_internals_are_where_the_fast_path_expects_them() -> None:
    """The engine reads two wsproto internals; a wsproto that moves them must fail here."""
    proto = Connection(ConnectionType.SERVER)
    frames, messages = _adopt_wsproto(proto, None)
    assert frames is not None and messages is not None
    assert frames.header is None and not frames.buffer.buffer and messages.opcode is None
    proto.receive_data(build_frame(OP_TEXT, b"abc", fin=False)[:3])
    list(proto.events())
    assert frames.buffer.buffer  # a partial header waits in wsproto's buffer
    proto.receive_data(build_frame(OP_TEXT, b"abc", fin=False)[3:])
    assert [type(e) for e in proto.events()] == [TextMessage]
    assert messages.opcode is not None  # a fragmented message is under way
    assert frames.header is None and not frames.buffer.buffer
    proto.receive_data(None)  # the transport closed: wsproto queues an event for that
    assert [(type(e), e.code) for e in proto.events()] == [(CloseConnection, 1006)]


def test_adopting_twice_keeps_the_slim_event_queue() -> None:
    proto = Connection(ConnectionType.CLIENT)
    _adopt_wsproto(proto, None)
    queue = proto._events
    _adopt_wsproto(proto, None)
    assert proto._events is queue
    assert not queue and queue.__sizeof__() < 100


def test_a_close_sent_between_two_plain_frames_hands_the_rest_to_wsproto() -> None:
    target = engine()
    data = (
        build_frame(OP_TEXT, b"first")
        + build_frame(OP_TEXT, b"second")
        + build_frame(OP_CLOSE, close_payload(1000))
    )
    events = target.receive(data)
    assert next(events) == "first"  # parsed by the fast path
    target.close(1001, "going")  # the shell closes while the generator is paused
    # wsproto now parses the rest: its state knows the close was ours.
    assert list(events) == ["second", CloseReceived(1000, None, answer=False)]
    assert target.state is ConnectionState.CLOSED


# ---------------------------------------------------------------------------- shared frames


def test_prepared_frames_are_shared_where_the_connection_allows() -> None:
    prepared = PreparedMessage("shared " * 30)
    plain = engine(SERVER)
    assert plain.prepared_frame(prepared) is prepared.frame
    assert engine(CLIENT).prepared_frame(prepared) is None  # clients mask each frame
    with_context, _ = compressed_pair(SERVER)
    assert with_context.prepared_frame(prepared) is None  # its compressor keeps context
    fresh, peer = compressed_pair(SERVER, options=DeflateOptions(server_no_context_takeover=True))
    frame = fresh.prepared_frame(prepared)
    assert frame is prepared.deflated(15)
    head, body = frame
    own_head, own_body = fresh.send_message("its own " * 30)
    events = peer_events(peer, head + body + own_head + own_body + head + body)
    assert [e.data for e in events] == ["shared " * 30, "its own " * 30, "shared " * 30]


def test_wsproto_is_made_only_when_a_frame_needs_it() -> None:
    made: list[Connection] = []

    def make() -> Connection:
        made.append(Connection(SERVER))
        return made[-1]

    target = Engine(make, max_message_size=LIMIT, max_frame_size=65536)
    client = peer_of(SERVER)
    assert target.state is ConnectionState.OPEN and not target.is_client
    assert feed(target, client.send(TextMessage(data="hi")) + client.send(BytesMessage(data=b"x")))
    head, body = target.send_message("back")
    assert not made and head + body
    assert feed(target, client.send(Ping(payload=b"p"))) == [PingReceived(b"p")]
    assert len(made) == 1
    assert target.pong(b"p") and target.close(1000) and len(made) == 1
    assert target.state is ConnectionState.LOCAL_CLOSING
