"""The sans-I/O engine receiving, synchronously and byte by byte: plain and fragmented frames,
compression, ``max_message_size``, UTF-8, protocol errors, bytes behind the handshake and
pausing the event generator. Whatever the cut, the events are the same (see
``test_engine.py``)."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import BytesMessage, TextMessage

from wsframework.protocol.engine import CloseReceived, Event, PingReceived, ProtocolError

from ..peers import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    build_frame,
    close_payload,
    deflate_raw,
    script_stream,
    scripts,
)
from .engine_helpers import (
    CLIENT,
    LIMIT,
    SERVER,
    compressed_pair,
    engine,
    feed,
    feed_in_pieces,
    mask_for,
    peer_of,
)

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
    script=scripts(max_text=200, max_binary=400, max_fragmented=200, max_steps=10),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=10),
)
def test_any_script_cut_anywhere_gives_the_same_events(
    script: list[tuple[str, Any]], cuts: list[int]
) -> None:
    data, seen = script_stream(script)
    expected: list[Event] = [PingReceived(v) if k == "ping" else v for k, v in seen]
    assert feed_in_pieces(engine(), data, cuts) == expected


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
