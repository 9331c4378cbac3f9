"""The sans-I/O engine, synchronously and byte by byte: no trio, no streams.

Each test builds an :class:`Engine` from a bare wsproto ``Connection`` (what the opening
handshake leaves) and talks to a wsproto peer of the other kind, or feeds hand-built frames. What
the engine yields for some bytes must not depend on how the bytes are cut.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from wsframework.exceptions import MessageTypeError
from wsframework.protocol.deflate import LimitedDeflate
from wsframework.protocol.deflate_options import DeflateOptions
from wsframework.protocol.engine import (
    CloseReceived,
    Engine,
    Event,
    PingReceived,
    PongReceived,
    ProtocolError,
    _adopt_wsproto,
)

from ..peers import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    apply_mask,
    build_frame,
    close_payload,
    deflate_raw,
)

LIMIT = 1000
SERVER, CLIENT = ConnectionType.SERVER, ConnectionType.CLIENT


def engine(
    kind: ConnectionType = SERVER,
    *,
    max_message_size: int = LIMIT,
    max_frame_size: int = 65536,
    trailing: bytes = b"",
) -> Engine:
    """An engine as a handshake leaves it, without compression."""
    return Engine(
        Connection(kind, trailing_data=trailing),
        max_message_size=max_message_size,
        max_frame_size=max_frame_size,
    )


def compressed_pair(
    kind: ConnectionType = SERVER, *, max_message_size: int = LIMIT
) -> tuple[Engine, Connection]:
    """An engine with permessage-deflate negotiated, and its wsproto peer.

    The server side accepts the client's offer as ``server.negotiate_deflate`` does; the client
    side finalises the server's answer as wsproto's client handshake does.
    """
    ours = LimitedDeflate.from_options(DeflateOptions(), max_message_size)
    theirs = PerMessageDeflate()
    if kind is SERVER:
        answer = ours.accept(str(theirs.offer()))
        assert isinstance(answer, str)
        theirs.finalize(answer)
    else:
        answer = theirs.accept(str(ours.offer()))
        assert isinstance(answer, str)
        ours.finalize(answer)
    peer_kind = CLIENT if kind is SERVER else SERVER
    proto = Connection(kind, extensions=[ours])
    built = Engine(proto, max_message_size=max_message_size, max_frame_size=65536, deflate=ours)
    return built, Connection(peer_kind, extensions=[theirs])


def peer_of(kind: ConnectionType) -> Connection:
    """A plain wsproto peer for an engine of ``kind``."""
    return Connection(CLIENT if kind is SERVER else SERVER)


def feed(target: Engine, data: bytes) -> list[Event]:
    return list(target.receive(data))


def feed_in_pieces(target: Engine, data: bytes, cuts: list[int]) -> list[Event]:
    events: list[Event] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        events += feed(target, data[start:cut])
        start = cut
    return events


def mask_for(kind: ConnectionType) -> bytes | None:
    """Frames *to* a server are masked, frames to a client are not."""
    return b"\x01\x02\x03\x04" if kind is SERVER else None


def peer_events(peer: Connection, data: bytes) -> list[Any]:
    peer.receive_data(data)
    return list(peer.events())


# ---------------------------------------------------------------------- plain frames


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
@pytest.mark.parametrize(
    ("size", "header"), [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10), (70_000, 10)]
)
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_plain_frame_of_every_length_encoding(
    kind: ConnectionType, size: int, header: int, opcode: int
) -> None:
    payload = bytes(0x41 + i % 26 for i in range(size))
    frame = build_frame(opcode, payload, mask=mask_for(kind))
    assert len(frame) == header + size + (4 if kind is SERVER else 0)
    expected = payload.decode() if opcode == OP_TEXT else payload
    assert feed(engine(kind, max_message_size=2**20), frame) == [expected]


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_several_frames_in_one_chunk_come_out_in_order(kind: ConnectionType) -> None:
    mask = mask_for(kind)
    data = (
        build_frame(OP_TEXT, "héllo".encode(), mask=mask)
        + build_frame(OP_BINARY, b"\x00\xff", mask=mask)
        + build_frame(OP_TEXT, b"", mask=mask)
        + build_frame(OP_BINARY, b"", mask=mask)
    )
    assert feed(engine(kind), data) == ["héllo", b"\x00\xff", "", b""]


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_wrongly_masked_frame_is_a_protocol_error(kind: ConnectionType) -> None:
    wrong_mask = None if kind is SERVER else b"abcd"
    (event,) = feed(engine(kind), build_frame(OP_TEXT, b"hi", mask=wrong_mask))
    assert isinstance(event, ProtocolError)
    assert event.code == 1002
    assert event.reason is not None and "mask" in event.reason


MIXED_TO_SERVER = (
    build_frame(OP_TEXT, b"one")
    + build_frame(OP_BINARY, bytes(range(200)))  # 16-bit length
    + build_frame(OP_PING, b"p")
    + build_frame(OP_TEXT, b"fr", fin=False)
    + build_frame(OP_PING, b"q")  # a control frame inside a fragmented message
    + build_frame(OP_CONT, b"ag")
    + build_frame(OP_BINARY, b"x" * 300)  # plain again once the fragments are done
    + build_frame(OP_TEXT, "€uro".encode())
)
MIXED_EVENTS: list[Event] = [
    "one",
    bytes(range(200)),
    PingReceived(b"p"),
    PingReceived(b"q"),
    "frag",
    b"x" * 300,
    "€uro",
]


def test_mixed_stream_split_at_every_offset() -> None:
    """Whatever the cut, the tail of a plain frame waits for its rest and nothing is lost."""
    for cut in range(len(MIXED_TO_SERVER) + 1):
        target = engine()
        events = feed(target, MIXED_TO_SERVER[:cut]) + feed(target, MIXED_TO_SERVER[cut:])
        assert events == MIXED_EVENTS, cut


def test_mixed_stream_fed_one_byte_at_a_time() -> None:
    target = engine()
    cuts = list(range(len(MIXED_TO_SERVER)))
    assert feed_in_pieces(target, MIXED_TO_SERVER, cuts) == MIXED_EVENTS


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_frame_with_64_bit_length_fed_one_byte_at_a_time(kind: ConnectionType) -> None:
    payload = bytes(i % 256 for i in range(70_000))
    frame = build_frame(OP_BINARY, payload, mask=mask_for(kind))
    target = engine(kind, max_message_size=2**20, max_frame_size=2**20)
    events: list[Event] = []
    for i in range(len(frame)):
        events += feed(target, frame[i : i + 1])
        if i < len(frame) - 1:
            assert events == [], i  # nothing before the last byte
    assert events == [payload]


def test_frame_over_max_frame_size_is_streamed_by_wsproto_and_still_arrives() -> None:
    payload = b"z" * 5000
    data = build_frame(OP_BINARY, payload) + build_frame(OP_TEXT, b"after")
    target = engine(max_message_size=10_000, max_frame_size=100)
    assert feed_in_pieces(target, data, list(range(0, len(data), 700))) == [payload, "after"]


@settings(max_examples=80, deadline=None)
@given(
    script=st.lists(
        st.one_of(
            st.tuples(st.just("text"), st.text(max_size=200)),
            st.tuples(st.just("binary"), st.binary(max_size=400)),
            st.tuples(st.just("fragmented"), st.binary(min_size=2, max_size=200)),
            st.tuples(st.just("ping"), st.binary(max_size=125)),
        ),
        max_size=10,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=10),
)
def test_any_script_cut_anywhere_gives_the_same_events(
    script: list[tuple[str, Any]], cuts: list[int]
) -> None:
    data = bytearray()
    expected: list[Event] = []
    for kind, value in script:
        if kind == "text":
            data += build_frame(OP_TEXT, value.encode())
            expected.append(value)
        elif kind == "binary":
            data += build_frame(OP_BINARY, value)
            expected.append(value)
        elif kind == "fragmented":
            half = len(value) // 2
            data += build_frame(OP_BINARY, value[:half], fin=False)
            data += build_frame(OP_CONT, value[half:])
            expected.append(value)
        else:
            data += build_frame(OP_PING, value)
            expected.append(PingReceived(value))
    assert feed_in_pieces(engine(), bytes(data), cuts) == expected


# ---------------------------------------------------------------------- fragmented messages


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_fragments_are_assembled_into_one_message(kind: ConnectionType) -> None:
    peer = peer_of(kind)
    data = (
        peer.send(TextMessage(data="ab", message_finished=False))
        + peer.send(TextMessage(data="ç", message_finished=False))
        + peer.send(TextMessage(data="d", message_finished=True))
        + peer.send(BytesMessage(data=b"\x00", message_finished=False))
        + peer.send(BytesMessage(data=b"\x01", message_finished=True))
    )
    assert feed(engine(kind), data) == ["abçd", b"\x00\x01"]


def test_utf8_character_split_across_fragments_is_accepted() -> None:
    data = build_frame(OP_TEXT, b"\xe2\x82", fin=False) + build_frame(OP_CONT, b"\xac")
    assert feed(engine(), data) == ["€"]


def test_message_of_empty_fragments() -> None:
    data = build_frame(OP_BINARY, b"", fin=False) + build_frame(OP_CONT, b"")
    assert feed(engine(), data) == [b""]


# ---------------------------------------------------------------------- compression


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_compressed_messages_are_inflated(kind: ConnectionType) -> None:
    target, peer = compressed_pair(kind)
    text = "hello " * 100
    data = peer.send(TextMessage(data=text)) + peer.send(BytesMessage(data=b"\x00" * 900))
    assert len(data) < 100  # it really was compressed
    assert feed(target, data) == [text, b"\x00" * 900]


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_compressed_fragmented_message_fed_byte_by_byte(kind: ConnectionType) -> None:
    target, peer = compressed_pair(kind)
    data = (
        peer.send(TextMessage(data="abc" * 50, message_finished=False))
        + peer.send(TextMessage(data="def" * 50, message_finished=True))
        + peer.send(TextMessage(data="plain after"))
    )
    events = feed_in_pieces(target, data, list(range(len(data))))
    assert events == ["abc" * 50 + "def" * 50, "plain after"]


def test_hand_compressed_frame_from_a_client() -> None:
    target, _peer = compressed_pair(SERVER)
    frame = build_frame(OP_TEXT, deflate_raw(b"squeezed " * 10), rsv1=True)
    assert feed(target, frame) == ["squeezed " * 10]


def test_compressed_message_at_the_limit_is_delivered() -> None:
    target, peer = compressed_pair(SERVER)
    assert feed(target, peer.send(BytesMessage(data=b"a" * LIMIT))) == [b"a" * LIMIT]


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_compression_bomb_is_1009_without_inflating_it(kind: ConnectionType) -> None:
    target, peer = compressed_pair(kind, max_message_size=2**16)
    data = peer.send(BytesMessage(data=b"\x00" * 2**26))  # 64 MiB in about 64 KiB
    assert len(data) < 2**17
    events = feed(target, data)
    assert events == [ProtocolError(1009, "message exceeds 65536 bytes")]


def test_compressed_fragments_over_the_limit_are_1009() -> None:
    target, peer = compressed_pair(SERVER)
    data = peer.send(BytesMessage(data=b"x" * 600, message_finished=False)) + peer.send(
        BytesMessage(data=b"y" * 600, message_finished=True)
    )
    assert feed(target, data) == [ProtocolError(1009, f"message exceeds {LIMIT} bytes")]


def test_rsv1_without_negotiated_compression_is_1002() -> None:
    (event,) = feed(engine(), build_frame(OP_TEXT, deflate_raw(b"x"), rsv1=True))
    assert isinstance(event, ProtocolError) and event.code == 1002


# ---------------------------------------------------------------------- max_message_size


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_plain_frame_at_the_limit_passes_one_over_is_1009(kind: ConnectionType) -> None:
    mask = mask_for(kind)
    assert feed(engine(kind), build_frame(OP_BINARY, b"a" * LIMIT, mask=mask)) == [b"a" * LIMIT]
    events = feed(engine(kind), build_frame(OP_BINARY, b"a" * (LIMIT + 1), mask=mask))
    assert events == [ProtocolError(1009, f"message exceeds {LIMIT} bytes")]


def test_oversized_frame_is_refused_from_its_first_bytes() -> None:
    """The 1009 comes as soon as the received part passes the limit, not after the whole frame."""
    frame = build_frame(OP_BINARY, b"a" * 100_000)
    events = feed(engine(), frame[: LIMIT + 200])
    assert events == [ProtocolError(1009, f"message exceeds {LIMIT} bytes")]


def test_text_limit_counts_utf8_bytes_not_characters() -> None:
    text = "€" * 334  # 334 characters, 1002 bytes
    events = feed(engine(), build_frame(OP_TEXT, text.encode()))
    assert events == [ProtocolError(1009, f"message exceeds {LIMIT} bytes")]
    fragmented = build_frame(OP_TEXT, "€".encode() * 200, fin=False) + build_frame(
        OP_CONT, "€".encode() * 134
    )
    assert feed(engine(), fragmented) == [ProtocolError(1009, f"message exceeds {LIMIT} bytes")]


def test_fragmented_message_over_the_limit_is_1009_before_it_ends() -> None:
    first = build_frame(OP_BINARY, b"a" * 600, fin=False)
    data = first + build_frame(OP_CONT, b"b" * 600, fin=False)  # the message is not finished
    events = feed(engine(), data)
    assert events == [ProtocolError(1009, f"message exceeds {LIMIT} bytes")]


def test_fragmented_message_at_the_limit_passes() -> None:
    data = build_frame(OP_BINARY, b"a" * 500, fin=False) + build_frame(OP_CONT, b"b" * 500)
    assert feed(engine(), data) == [b"a" * 500 + b"b" * 500]


def test_limit_applies_to_each_message_not_to_the_connection() -> None:
    target = engine()
    for _ in range(5):
        data = build_frame(OP_BINARY, b"a" * 600, fin=False) + build_frame(OP_CONT, b"b" * 400)
        assert feed(target, data) == [b"a" * 600 + b"b" * 400]


# ---------------------------------------------------------------------- UTF-8


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"ok \xff bad", id="invalid-byte"),
        pytest.param(b"\xed\xa0\x80", id="surrogate"),
        pytest.param(b"\xf4\x90\x80\x80", id="above-u10ffff"),
        pytest.param(b"\xc0\xaf", id="overlong"),
        pytest.param(b"\xe2\x82", id="truncated"),
    ],
)
@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_invalid_utf8_in_a_plain_text_frame_is_1007(kind: ConnectionType, payload: bytes) -> None:
    mask = mask_for(kind)
    data = build_frame(OP_TEXT, b"fine", mask=mask) + build_frame(OP_TEXT, payload, mask=mask)
    events = feed(engine(kind), data)
    assert events[0] == "fine"
    assert isinstance(events[1], ProtocolError) and events[1].code == 1007
    assert len(events) == 2


def test_invalid_utf8_in_a_fragment_is_1007_at_once() -> None:
    data = build_frame(OP_TEXT, b"ok", fin=False) + build_frame(OP_CONT, b"\xff", fin=False)
    (event,) = feed(engine(), data)
    assert isinstance(event, ProtocolError) and event.code == 1007


def test_utf8_cut_off_at_the_end_of_a_fragmented_message_is_1007() -> None:
    data = build_frame(OP_TEXT, b"\xe2\x82", fin=False) + build_frame(OP_CONT, b"")
    (event,) = feed(engine(), data)
    assert isinstance(event, ProtocolError) and event.code == 1007


def test_invalid_utf8_in_a_close_reason_is_1007() -> None:
    (event,) = feed(engine(), build_frame(OP_CLOSE, close_payload(1000, b"\xff")))
    assert isinstance(event, ProtocolError) and event.code == 1007


# ---------------------------------------------------------------------- protocol errors


PROTOCOL_ERRORS = [
    pytest.param(build_frame(0x3, b"a"), "opcode", id="reserved-data-opcode"),
    pytest.param(build_frame(0xB, b"a"), "opcode", id="reserved-control-opcode"),
    pytest.param(build_frame(OP_BINARY, b"a", rsv2=True), "Reserved bit", id="rsv2"),
    pytest.param(build_frame(OP_BINARY, b"a", rsv3=True), "Reserved bit", id="rsv3"),
    pytest.param(build_frame(OP_CONT, b"a"), "CONTINUATION", id="stray-continuation"),
    pytest.param(
        build_frame(OP_TEXT, b"a", fin=False) + build_frame(OP_TEXT, b"b"),
        "CONTINUATION",
        id="new-message-inside-fragmented",
    ),
    pytest.param(build_frame(OP_PING, b"a", fin=False), "fragment", id="fragmented-ping"),
    pytest.param(build_frame(OP_PING, b"a" * 126), "125", id="ping-over-125"),
    pytest.param(build_frame(OP_CLOSE, b"\x03"), "1 byte", id="close-one-byte"),
    pytest.param(build_frame(OP_CLOSE, close_payload(1006)), "local-only", id="close-1006"),
    pytest.param(build_frame(OP_CLOSE, close_payload(999)), "", id="close-999"),
    pytest.param(build_frame(OP_TEXT, b"a" * 5, length_bytes=2), "2 bytes", id="length-16-long"),
    pytest.param(build_frame(OP_TEXT, b"a" * 200, length_bytes=8), "8 bytes", id="length-64-long"),
    pytest.param(
        struct.pack("!BBQ", 0x82, 0xFF, 2**63) + b"abcd", "non-zero MSB", id="length-64-msb"
    ),
]


@pytest.mark.parametrize(("frame", "words"), PROTOCOL_ERRORS)
def test_protocol_errors_are_1002_with_wsprotos_reason(frame: bytes, words: str) -> None:
    data = build_frame(OP_TEXT, b"before") + frame + build_frame(OP_TEXT, b"never")
    target = engine()
    events = feed(target, data)
    assert events[0] == "before"
    (error,) = events[1:]  # nothing after the error
    assert isinstance(error, ProtocolError)
    assert error.code == 1002
    assert error.reason is not None and words in error.reason
    assert target.state is ConnectionState.OPEN  # failing the connection is up to the caller
    assert target.close(error.code, error.reason)  # ... which may still send a close frame


@pytest.mark.parametrize(("frame", "words"), PROTOCOL_ERRORS)
def test_protocol_error_split_at_every_offset_is_still_reported(frame: bytes, words: str) -> None:
    for cut in range(len(frame) + 1):
        target = engine()
        events = feed(target, frame[:cut]) + feed(target, frame[cut:])
        assert len(events) == 1 and isinstance(events[0], ProtocolError), cut
        assert events[0].code == 1002


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


# ---------------------------------------------------------------------- closing


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_close_started_by_the_peer_is_echoed(kind: ConnectionType) -> None:
    target, peer = engine(kind), peer_of(kind)
    data = peer.send(CloseConnection(code=4001, reason="bye"))
    events = feed(target, data)
    assert events == [CloseReceived(4001, "bye", answer=True)]
    assert target.state is ConnectionState.REMOTE_CLOSING
    echo = target.close(4001, "bye")
    assert peer_events(peer, echo) == [CloseConnection(code=4001, reason="bye")]
    assert target.state is ConnectionState.CLOSED
    assert peer.state is ConnectionState.CLOSED
    assert target.close(1000) == b""  # the close frame was sent already


def test_close_without_a_code_is_1005_and_answered_with_1000() -> None:
    target = engine()
    assert feed(target, build_frame(OP_CLOSE, b"")) == [CloseReceived(1005, None, answer=True)]
    assert target.close(1005) == b"\x88\x02" + struct.pack("!H", 1000)  # 1005 is never sent


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_close_answering_ours_completes_the_handshake(kind: ConnectionType) -> None:
    target, peer = engine(kind), peer_of(kind)
    frame = target.close(4000, "done here")
    assert target.state is ConnectionState.LOCAL_CLOSING
    assert target.close(1000) == b""  # no second close frame
    (event,) = peer_events(peer, frame)
    assert event == CloseConnection(code=4000, reason="done here")
    assert feed(target, peer.send(event.response())) == [
        CloseReceived(4000, "done here", answer=False)
    ]
    assert target.state is ConnectionState.CLOSED
    assert target.close(1000) == b""


def test_messages_after_our_close_are_still_reported_until_the_answer() -> None:
    target = engine()
    target.close(1000)
    data = (
        build_frame(OP_TEXT, b"in flight")
        + build_frame(OP_CLOSE, close_payload(1000))
        + build_frame(OP_TEXT, b"after the close")
    )
    assert feed(target, data) == ["in flight", CloseReceived(1000, None, answer=False)]


def test_nothing_after_a_close_frame_is_reported() -> None:
    target = engine()
    data = build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_TEXT, b"late")
    assert feed(target, data) == [CloseReceived(1000, None, answer=True)]


def test_close_frame_fed_one_byte_at_a_time() -> None:
    target = engine()
    frame = build_frame(OP_TEXT, b"hi") + build_frame(OP_CLOSE, close_payload(1001, b"away"))
    events = feed_in_pieces(target, frame, list(range(len(frame))))
    assert events == ["hi", CloseReceived(1001, "away", answer=True)]


# ---------------------------------------------------------------------- after the handshake


def test_bytes_behind_the_handshake_are_reported_by_an_empty_receive() -> None:
    trailing = build_frame(OP_TEXT, b"early") + build_frame(OP_PING, b"p")
    target = engine(trailing=trailing)
    assert feed(target, b"") == ["early", PingReceived(b"p")]
    assert feed(target, b"") == []
    assert feed(target, build_frame(OP_BINARY, b"later")) == [b"later"]


def test_partial_frame_behind_the_handshake_is_completed_by_the_next_bytes() -> None:
    frame = build_frame(OP_TEXT, b"split")
    target = engine(trailing=frame[:4])
    assert feed(target, b"") == []
    assert feed(target, frame[4:] + build_frame(OP_TEXT, b"next")) == ["split", "next"]


def test_empty_receive_with_nothing_held_yields_nothing() -> None:
    target = engine()
    assert feed(target, b"") == []
    half = build_frame(OP_TEXT, b"abc")[:3]
    assert feed(target, half) == []
    assert feed(target, b"") == []  # a pending tail is kept, not lost
    assert feed(target, build_frame(OP_TEXT, b"abc")[3:]) == ["abc"]


# ---------------------------------------------------------------------- backpressure


def test_pausing_the_generator_leaves_later_frames_unparsed() -> None:
    target = engine()
    data = (
        build_frame(OP_TEXT, b"one")
        + build_frame(OP_TEXT, b"two")
        + build_frame(OP_CLOSE, close_payload(1000))
    )
    events = target.receive(data)
    assert next(events) == "one"
    assert target.state is ConnectionState.OPEN  # the close frame behind it is not read yet
    assert next(events) == "two"
    assert target.state is ConnectionState.OPEN
    assert next(events) == CloseReceived(1000, None, answer=True)
    assert target.state is ConnectionState.REMOTE_CLOSING
    assert list(events) == []


def test_pausing_inside_wsprotos_events_leaves_later_frames_unparsed() -> None:
    target = engine()
    data = (
        build_frame(OP_TEXT, b"frag", fin=False)
        + build_frame(OP_CONT, b"mented")
        + build_frame(OP_CLOSE, close_payload(1000))
    )
    events = target.receive(data)
    assert next(events) == "fragmented"
    assert target.state is ConnectionState.OPEN
    assert list(events) == [CloseReceived(1000, None, answer=True)]


def test_local_close_while_paused_lets_the_rest_reach_wsproto() -> None:
    """A local close while the caller holds a message: the peer's answer in the same chunk
    still completes the closing handshake."""
    target = engine()
    data = (
        build_frame(OP_TEXT, b"one")
        + build_frame(OP_TEXT, b"two")
        + build_frame(OP_CLOSE, close_payload(4000))
    )
    events = target.receive(data)
    assert next(events) == "one"
    assert target.close(4000)
    assert list(events) == ["two", CloseReceived(4000, None, answer=False)]
    assert target.state is ConnectionState.CLOSED


def test_local_close_after_the_last_message_of_a_chunk() -> None:
    target = engine()
    events = target.receive(build_frame(OP_TEXT, b"only"))
    assert next(events) == "only"
    target.close(1000)
    assert list(events) == []
    assert feed(target, build_frame(OP_CLOSE, close_payload(1000))) == [
        CloseReceived(1000, None, answer=False)
    ]


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
    assert body == b"" and head[0] & 0x40  # RSV1: compressed
    assert len(head) < len(text) // 4
    raw_head, raw_body = target.send_message(text.encode(), compress=False)
    assert not raw_head[0] & 0x40
    assert [e.data for e in peer_events(peer, head + raw_head + raw_body)] == [
        text,
        text.encode(),
    ]
    more, _ = target.send_message(b"\x00" * 500)  # the compressor context carries on
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
    frames, messages = _adopt_wsproto(proto)
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
    _adopt_wsproto(proto)
    queue = proto._events
    _adopt_wsproto(proto)
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
