"""permessage-deflate settings and bounded inflation (wsframework.protocol.deflate), no I/O.

The extension runs inside a real wsproto ``Connection`` fed hand-built frames: what a peer
sends, byte for byte, and what wsproto reports back.
"""

from __future__ import annotations

import random
import zlib

import pytest
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.frame_protocol import CloseReason as WsprotoCode
from wsproto.frame_protocol import FrameProtocol, Opcode, RsvBits

from wsframework import DeflateOptions
from wsframework.protocol.deflate import DEFAULT_DEFLATE, LimitedDeflate, negotiate_deflate
from wsframework.protocol.engine import ProtocolError
from wsframework.protocol.frames import encode_data_frame

from ..peers import OP_BINARY, OP_TEXT, build_frame, deflate_raw, parse_frame
from .engine_helpers import compressed_pair, feed

# --- LimitedDeflate.from_options ------------------------------------------------------------


def test_deflate_options_extension() -> None:
    options = DeflateOptions(
        client_no_context_takeover=True, server_max_window_bits=10, client_max_window_bits=12
    )
    ext = LimitedDeflate.from_options(options, 1234)
    assert isinstance(ext, LimitedDeflate)
    assert ext.max_message_size == 1234
    assert ext.client_no_context_takeover is True
    assert ext.server_max_window_bits == 10
    assert ext.client_max_window_bits == 12
    assert LimitedDeflate.from_options(options, 1) is not ext  # a fresh object per connection
    assert DeflateOptions() == DEFAULT_DEFLATE


def test_negotiate_deflate() -> None:
    assert negotiate_deflate(None, ["permessage-deflate"], 100) == (None, None)
    assert negotiate_deflate(DEFAULT_DEFLATE, [], 100) == (None, None)
    assert negotiate_deflate(DEFAULT_DEFLATE, ["x-webkit-deflate-frame"], 100) == (None, None)
    ext, header = negotiate_deflate(DEFAULT_DEFLATE, ["x-foo", "permessage-deflate"], 100)
    assert isinstance(ext, LimitedDeflate) and ext.max_message_size == 100
    assert header is not None and header.startswith(b"permessage-deflate")
    ext, header = negotiate_deflate(
        DeflateOptions(server_no_context_takeover=True),
        ["permessage-deflate; client_max_window_bits=10"],
        100,
    )
    assert ext is not None and header is not None
    assert b"server_no_context_takeover" in header
    assert b"client_max_window_bits=10" in header


INVALID_OFFERS = [
    "permessage-deflate; foo=1",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; server_no_context_takeover=1",
    "permessage-deflate; client_max_window_bits=7",
    "permessage-deflate; client_max_window_bits=16",
    "permessage-deflate; client_max_window_bits=ten",
    "permessage-deflate; server_max_window_bits",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits=8",  # valid, but zlib cannot make it
]


@pytest.mark.parametrize("offer", INVALID_OFFERS)
def test_an_invalid_offer_is_declined_and_the_next_taken(offer: str) -> None:
    assert negotiate_deflate(DEFAULT_DEFLATE, [offer], 100) == (None, None)
    ext, header = negotiate_deflate(
        DEFAULT_DEFLATE, [offer, "permessage-deflate; server_no_context_takeover"], 100
    )
    assert ext is not None and ext.server_no_context_takeover
    assert header == b"permessage-deflate; server_no_context_takeover; server_max_window_bits=12"


def test_the_answer_repeats_only_checked_parameters() -> None:
    ext, header = negotiate_deflate(
        DEFAULT_DEFLATE,
        ['permessage-deflate; client_max_window_bits="12"; server_max_window_bits=10'],
        100,
    )
    assert header == b"permessage-deflate; client_max_window_bits=12; server_max_window_bits=10"
    assert ext is not None and (ext.client_max_window_bits, ext.server_max_window_bits) == (12, 10)
    # The client keeps an 8-bit window of its own; ours inflates it, and the answer is silent.
    ext, header = negotiate_deflate(
        DEFAULT_DEFLATE, ["permessage-deflate; client_max_window_bits=8"], 100
    )
    assert header == b"permessage-deflate; server_max_window_bits=12" and ext is not None
    assert ext.client_max_window_bits == 12


# --- the default windows: 12 bits where the client lets us choose ---------------------------

DEFAULT_ANSWERS = [
    # (offer, answer, (client bits, server bits) of the extension)
    (
        "permessage-deflate; client_max_window_bits",  # browsers, websockets
        "permessage-deflate; client_max_window_bits=12; server_max_window_bits=12",
        (12, 12),
    ),
    # A client that does not offer client_max_window_bits may use 15 bits: we inflate them.
    ("permessage-deflate", "permessage-deflate; server_max_window_bits=12", (15, 12)),
    (  # wsproto's (and our own client's) offer: we answer with less than it allows
        "permessage-deflate; client_max_window_bits=15; server_max_window_bits=15",
        "permessage-deflate; client_max_window_bits=12; server_max_window_bits=12",
        (12, 12),
    ),
    (  # a client asking for less gets it
        "permessage-deflate; client_max_window_bits=10; server_max_window_bits=9",
        "permessage-deflate; client_max_window_bits=10; server_max_window_bits=9",
        (10, 9),
    ),
]


@pytest.mark.parametrize(("offer", "answer", "bits"), DEFAULT_ANSWERS)
def test_the_default_windows_are_12_bits(offer: str, answer: str, bits: tuple[int, int]) -> None:
    ext, header = negotiate_deflate(DEFAULT_DEFLATE, [offer], 100)
    assert header == answer.encode()
    assert ext is not None and (ext.client_max_window_bits, ext.server_max_window_bits) == bits
    assert ext.memory_level == 5


def test_15_bit_windows_can_still_be_asked_for() -> None:
    options = DeflateOptions(client_max_window_bits=15, server_max_window_bits=15, memory_level=8)
    ext, header = negotiate_deflate(options, ["permessage-deflate; client_max_window_bits"], 100)
    assert header == b"permessage-deflate; client_max_window_bits=15"
    assert ext is not None and (ext.client_max_window_bits, ext.server_max_window_bits) == (15, 15)
    ext, header = negotiate_deflate(options, ["permessage-deflate"], 100)
    assert header == b"permessage-deflate"


def test_a_client_without_client_max_window_bits_may_use_15_bits() -> None:
    """Even when the options ask for a smaller client window: a client that did not offer
    client_max_window_bits cannot be told, and its 15-bit back references must inflate."""
    ext, header = negotiate_deflate(
        DeflateOptions(client_max_window_bits=9), ["permessage-deflate"], 2**20
    )
    assert ext is not None and header == b"permessage-deflate; server_max_window_bits=12"
    conn = Connection(ConnectionType.SERVER, extensions=[ext])
    block = random.Random(7).randbytes(1000)
    message = block + b"x" * 20_000 + block  # the second block refers 21,000 bytes back
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert len(data) < 1500
    events = _events(conn, build_frame(OP_BINARY, data[:-4], rsv1=True))
    assert [e.data for e in events] == [message]  # type: ignore[attr-defined]


@pytest.mark.parametrize("level", [1, 5, 9])
def test_our_compressor_uses_the_memory_level(level: int) -> None:
    ext, _header = negotiate_deflate(
        DeflateOptions(memory_level=level), ["permessage-deflate"], 2**20
    )
    assert ext is not None
    conn = Connection(ConnectionType.SERVER, extensions=[ext])
    text = "".join(f"{i}:{i * 7919 % 1000};" for i in range(3000))
    zlib_own = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -12, level)
    expected = zlib_own.compress(text.encode()) + zlib_own.flush(zlib.Z_SYNC_FLUSH)
    frame = parse_frame(bytearray(conn.send(TextMessage(data=text))))
    assert frame is not None and frame.payload == expected[:-4]


def test_a_client_with_an_8_bit_window_is_understood() -> None:
    ext, _header = negotiate_deflate(
        DEFAULT_DEFLATE, ["permessage-deflate; client_max_window_bits=8"], 2**20
    )
    assert ext is not None
    conn = Connection(ConnectionType.SERVER, extensions=[ext])
    # zlib's smallest raw window is 9 bits; a stream made with it fits any larger window.
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -9)
    data = compressor.compress(b"abc" * 1000) + compressor.flush(zlib.Z_SYNC_FLUSH)
    events = _events(conn, build_frame(OP_BINARY, data[:-4], rsv1=True))
    assert [e.data for e in events] == [b"abc" * 1000]  # type: ignore[attr-defined]


# --- LimitedDeflate: inflation stops at max_message_size ----------------------------------


def _deflate_pair(max_message_size: int) -> tuple[Connection, LimitedDeflate]:
    """A server-side wsproto Connection with a negotiated LimitedDeflate."""
    ext = LimitedDeflate.from_options(DeflateOptions(), max_message_size)
    ext.accept("permessage-deflate")
    assert ext.enabled()
    return Connection(ConnectionType.SERVER, extensions=[ext]), ext


def _events(conn: Connection, data: bytes) -> list[object]:
    conn.receive_data(data)
    return list(conn.events())


def test_deflate_roundtrip_and_context_takeover() -> None:
    conn, _ext = _deflate_pair(2**20)
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    frames = b""
    for text in ("hello hello hello", "hello hello hello"):
        data = compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)
        frames += build_frame(OP_TEXT, data[:-4], rsv1=True)
    events = _events(conn, frames)
    assert [e.data for e in events] == ["hello hello hello"] * 2  # type: ignore[attr-defined]


def test_uncompressed_message_under_deflate_passes_through() -> None:
    conn, _ext = _deflate_pair(100)
    events = _events(conn, build_frame(OP_BINARY, b"raw bytes"))
    assert isinstance(events[0], BytesMessage) and events[0].data == b"raw bytes"


def test_bomb_stops_inflating_at_the_limit() -> None:
    conn, ext = _deflate_pair(1000)
    bomb = deflate_raw(b"\x00" * 50 * 2**20)
    assert len(bomb) < 100_000
    events = _events(conn, build_frame(OP_BINARY, bomb, rsv1=True))
    assert len(events) == 1 and isinstance(events[0], CloseConnection)
    assert events[0].code == 1009
    assert ext._inflated <= 1001  # inflation stopped right after the limit


def test_bomb_limit_counts_every_frame_of_the_message() -> None:
    conn, _ext = _deflate_pair(1000)
    part = deflate_raw(b"a" * 600, tail=True)
    events = _events(
        conn,
        build_frame(OP_BINARY, part, rsv1=True, fin=False)
        + build_frame(0, deflate_raw(b"b" * 600)),
    )
    assert isinstance(events[-1], CloseConnection) and events[-1].code == 1009


def test_limit_resets_between_messages() -> None:
    conn, _ext = _deflate_pair(1000)
    frames = b"".join(
        build_frame(OP_BINARY, deflate_raw(bytes([i]) * 900), rsv1=True) for i in range(5)
    )
    events = _events(conn, frames)
    assert [len(e.data) for e in events] == [900] * 5  # type: ignore[attr-defined]


def test_message_exactly_at_limit_is_accepted() -> None:
    conn, _ext = _deflate_pair(1000)
    events = _events(conn, build_frame(OP_BINARY, deflate_raw(b"z" * 1000), rsv1=True))
    assert isinstance(events[0], BytesMessage) and len(events[0].data) == 1000


def test_one_byte_over_the_limit_is_refused_with_1009() -> None:
    conn, ext = _deflate_pair(1000)
    events = _events(conn, build_frame(OP_BINARY, deflate_raw(b"z" * 1001), rsv1=True))
    assert len(events) == 1 and isinstance(events[0], CloseConnection)
    assert events[0].code == 1009
    assert ext._inflated == 1001


def test_a_compressed_text_bomb_is_refused_like_a_binary_one() -> None:
    conn, ext = _deflate_pair(4096)
    bomb = deflate_raw(b"a" * 20 * 2**20)
    events = _events(conn, build_frame(OP_TEXT, bomb, rsv1=True))
    assert [type(e) for e in events] == [CloseConnection]
    assert events[0].code == 1009  # type: ignore[attr-defined]
    assert ext._inflated <= 4097


def test_a_bomb_in_many_small_frames_stops_at_the_limit() -> None:
    conn, ext = _deflate_pair(10_000)
    compressed = deflate_raw(b"\x00" * 2**20)
    pieces = [compressed[i : i + 16] for i in range(0, len(compressed), 16)]
    frames = build_frame(OP_BINARY, pieces[0], rsv1=True, fin=False)
    frames += b"".join(build_frame(0, piece, fin=False) for piece in pieces[1:-1])
    frames += build_frame(0, pieces[-1])
    events = _events(conn, frames)
    assert isinstance(events[-1], CloseConnection) and events[-1].code == 1009
    # wsproto hands fragments on as they arrive; never more than the limit in all.
    delivered = [e for e in events if isinstance(e, BytesMessage)]
    assert not any(e.message_finished for e in delivered)
    assert sum(len(e.data) for e in delivered) <= 10_000
    assert ext._inflated <= 10_001


def test_corrupt_deflate_is_1007() -> None:
    conn, _ext = _deflate_pair(1000)
    events = _events(conn, build_frame(OP_BINARY, b"\xff\xff\xff\xff", rsv1=True))
    assert isinstance(events[0], CloseConnection) and events[0].code == 1007


def test_uncompressed_frame_keeps_compressor_context_valid() -> None:
    """An uncompressed message between compressed ones leaves the peer's inflater in step."""
    server_ext = LimitedDeflate.from_options(DeflateOptions(), 2**20)
    server_ext.accept("permessage-deflate")
    server = Connection(ConnectionType.SERVER, extensions=[server_ext])
    client_ext = LimitedDeflate.from_options(DeflateOptions(), 2**20)
    client_ext.finalize("permessage-deflate")
    client = Connection(ConnectionType.CLIENT, extensions=[client_ext])
    out = server.send(TextMessage(data="abc" * 50))
    header, body = encode_data_frame(b"plain", True, False)
    out += header + body
    out += server.send(TextMessage(data="abc" * 50))
    buf = bytearray(out)
    frames = [parse_frame(buf) for _ in range(3)]
    assert [f.rsv1 for f in frames if f is not None] == [True, False, True]
    events = _events(client, out)
    assert [e.data for e in events] == ["abc" * 50, "plain", "abc" * 50]  # type: ignore[attr-defined]


def test_rsv1_on_control_or_continuation_is_protocol_error() -> None:
    ext = LimitedDeflate(100)
    proto = FrameProtocol(False, [])
    assert ext.frame_inbound_header(proto, Opcode.PING, RsvBits(True, False, False), 1) == (
        WsprotoCode.PROTOCOL_ERROR
    )
    assert ext.frame_inbound_header(proto, Opcode.CONTINUATION, RsvBits(True, False, False), 1) == (
        WsprotoCode.PROTOCOL_ERROR
    )


# --- found by fuzzing (fuzz/engine_targets.py) ----------------------------------------------


@pytest.mark.parametrize("kind", [ConnectionType.SERVER, ConnectionType.CLIENT])
@pytest.mark.parametrize("control", [Ping(payload=b"p"), Pong(payload=b"q")])
def test_a_control_frame_between_compressed_fragments_leaves_the_message_inflated(
    kind: ConnectionType, control: Ping | Pong
) -> None:
    """RFC 6455 5.4 allows control frames between fragments; wsproto's own extension forgot
    the message was compressed after one, and delivered the rest still deflated (1007 for
    text, corrupt bytes for binary)."""
    target, peer = compressed_pair(kind)
    data = (
        peer.send(TextMessage(data="hello " * 20, message_finished=False))
        + peer.send(control)
        + peer.send(TextMessage(data="world " * 20, message_finished=True))
        + peer.send(BytesMessage(data=b"abc" * 50, message_finished=False))
        + peer.send(control)
        + peer.send(BytesMessage(data=b"def" * 50, message_finished=True))
        + peer.send(TextMessage(data="next, with the context taken over"))
    )
    events = feed(target, data)
    messages = [e for e in events if isinstance(e, (str, bytes))]
    assert messages == [
        "hello " * 20 + "world " * 20,
        b"abc" * 50 + b"def" * 50,
        "next, with the context taken over",
    ]
    assert len(events) == 5  # and the two control frames


def test_a_compressed_control_frame_between_fragments_is_still_a_protocol_error() -> None:
    target, peer = compressed_pair(ConnectionType.SERVER)
    ping = build_frame(0x9, b"p", rsv1=True)
    data = peer.send(TextMessage(data="a", message_finished=False)) + ping
    (event,) = feed(target, data)
    assert isinstance(event, ProtocolError) and event.code == 1002
