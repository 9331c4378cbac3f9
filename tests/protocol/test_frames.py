"""The plain-frame receive path: parse_data_frame, and the connection that uses it with wsproto.

The connection parses whole, unfragmented, uncompressed data frames itself and hands wsproto
everything else. These tests check the parser against hand-built frames of every shape, and the
connection against byte streams that mix both kinds of frame and are cut at every offset: the
handler must see exactly the messages that were sent, in order, and every protocol error must
still get its close code.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, TextMessage

from wsframework import WebSocketRequest
from wsframework.options import ServerOptions
from wsframework.protocol.frames import (
    NEED_MORE,
    NOT_PLAIN,
    encode_close_frame,
    encode_data_frame,
    parse_close_frame,
    parse_data_frame,
)
from wsframework.server import serve_stream

from ..peers import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    RawPeer,
    build_frame,
    close_payload,
    script_stream,
    scripts,
    stream_pair,
)

LIMIT = 2**20

# ---------------------------------------------------------------------- close frames


@pytest.mark.parametrize("masked", [True, False])
def test_every_cut_of_a_close_frame_needs_more(masked: bool) -> None:
    frame = build_frame(OP_CLOSE, close_payload(1001, b"away"), mask=b"abcd" if masked else None)
    assert parse_close_frame(frame, 0, masked) == (len(frame), 1001, "away")
    for cut in range(len(frame)):
        assert parse_close_frame(frame[:cut], 0, masked)[0] == NEED_MORE
    assert parse_close_frame(b"xx" + frame, 2, masked) == (len(frame) + 2, 1001, "away")


def test_a_data_frame_is_not_a_close_frame() -> None:
    assert parse_close_frame(build_frame(OP_TEXT, b"hi"), 0, True)[0] == NOT_PLAIN


@pytest.mark.parametrize("kind", [ConnectionType.SERVER, ConnectionType.CLIENT])
def test_encoded_close_frames_parse_on_the_other_side(kind: ConnectionType) -> None:
    peer = Connection(
        ConnectionType.CLIENT if kind is ConnectionType.SERVER else ConnectionType.SERVER
    )
    peer.receive_data(encode_close_frame(4000, "é" * 70, mask=kind is ConnectionType.CLIENT))
    (event,) = peer.events()
    assert (event.code, event.reason) == (4000, "é" * 61)  # cut to 123 bytes, not mid-character


# ---------------------------------------------------------------------- parse_data_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 100_000])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
@pytest.mark.parametrize("masked", [True, False])
def test_plain_frame_is_parsed(size: int, opcode: int, masked: bool) -> None:
    payload = bytes(i % 251 for i in range(size))
    frame = build_frame(opcode, payload, mask=b"\x01\x02\x03\x04" if masked else None)
    data = b"junk" + frame + b"next"
    assert parse_data_frame(data, 4, masked, LIMIT) == (4 + len(frame), opcode == OP_TEXT, payload)


def test_bytearray_input_works_too() -> None:
    frame = build_frame(OP_BINARY, b"abc")
    assert parse_data_frame(bytearray(frame), 0, True, LIMIT) == (len(frame), False, b"abc")


@pytest.mark.parametrize("size", [3, 300, 70_000])
@pytest.mark.parametrize("masked", [True, False])
def test_every_cut_of_a_plain_frame_needs_more(size: int, masked: bool) -> None:
    frame = build_frame(OP_TEXT, b"x" * size, mask=b"abcd" if masked else None)
    cuts = list(range(len(frame))) if size < 1000 else [0, 1, 2, 5, 9, 13, 14, len(frame) - 1]
    for cut in cuts:
        assert parse_data_frame(frame[:cut], 0, masked, LIMIT)[0] == NEED_MORE, cut


NOT_PLAIN_FRAMES = [
    pytest.param(build_frame(OP_TEXT, b"a", fin=False), id="not-fin"),
    pytest.param(build_frame(OP_CONT, b"a"), id="continuation"),
    pytest.param(build_frame(OP_TEXT, b"a", rsv1=True), id="rsv1-compressed"),
    pytest.param(build_frame(OP_BINARY, b"a", rsv2=True), id="rsv2"),
    pytest.param(build_frame(OP_BINARY, b"a", rsv3=True), id="rsv3"),
    pytest.param(build_frame(OP_PING, b"a"), id="ping"),
    pytest.param(build_frame(OP_PONG, b"a"), id="pong"),
    pytest.param(build_frame(OP_CLOSE, close_payload(1000)), id="close"),
    pytest.param(build_frame(0x3, b"a"), id="reserved-data-opcode"),
    pytest.param(build_frame(0xB, b"a"), id="reserved-control-opcode"),
    pytest.param(build_frame(OP_TEXT, b"a", mask=None), id="unmasked-to-server"),
    pytest.param(build_frame(OP_TEXT, b"a" * 5, length_bytes=2), id="length-16-not-minimal"),
    pytest.param(build_frame(OP_TEXT, b"a" * 200, length_bytes=8), id="length-64-not-minimal"),
    pytest.param(struct.pack("!BBQ", 0x82, 0xFF, 2**63) + b"abcd", id="length-64-msb"),
    pytest.param(build_frame(OP_BINARY, b"a" * 101), id="over-limit"),
]


@pytest.mark.parametrize("frame", NOT_PLAIN_FRAMES)
def test_other_frames_are_left_to_wsproto(frame: bytes) -> None:
    assert parse_data_frame(frame, 0, True, 100) == (NOT_PLAIN, False, b"")


def test_masked_frame_to_a_client_is_not_plain() -> None:
    assert parse_data_frame(build_frame(OP_TEXT, b"a"), 0, False, LIMIT)[0] == NOT_PLAIN


def test_limit_is_inclusive() -> None:
    frame = build_frame(OP_BINARY, b"a" * 100)
    assert parse_data_frame(frame, 0, True, 100)[0] == len(frame)


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
@pytest.mark.parametrize("text", [True, False])
def test_encoded_data_frames_parse_on_the_other_side(size: int, text: bool) -> None:
    payload = b"x" * size
    for mask, receiver in ((False, ConnectionType.CLIENT), (True, ConnectionType.SERVER)):
        header, body = encode_data_frame(payload, text, mask)
        assert (header[0], bool(header[1] & 0x80)) == (0x81 if text else 0x82, mask)
        conn = Connection(receiver)
        conn.receive_data(header + body)
        events = list(conn.events())
        assert len(events) == 1
        assert events[0].data == (payload.decode() if text else payload)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------- through a connection


async def _collecting_server(
    nursery: trio.Nursery, received: list[str | bytes], done: trio.Event, **opts: Any
) -> RawPeer:
    """A server whose handler collects every message, then records the close code."""

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            async for message in ws:
                received.append(message)
        finally:
            done.set()

    server_stream, client_stream = stream_pair()
    nursery.start_soon(serve_stream, handler, server_stream, ServerOptions(**opts))
    peer = RawPeer(client_stream)
    start, _headers = await peer.handshake()
    assert start.startswith(b"HTTP/1.1 101")
    return peer


async def _send_in_pieces(peer: RawPeer, data: bytes, cuts: list[int]) -> None:
    """Send ``data`` cut at ``cuts``, letting the server read each piece on its own."""
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        if start < cut:
            await peer.stream.send_all(data[start:cut])
            await trio.testing.wait_all_tasks_blocked()
            start = cut


def _stream_of(messages: list[tuple[str, Any]]) -> tuple[bytes, list[str | bytes]]:
    """Frames for a script of (kind, value) steps, and the messages a handler must see."""
    data, seen = script_stream(messages)
    return data, [value for kind, value in seen if kind == "message"]


MIXED = [
    ("text", "héllo"),
    ("ping", b"p1"),
    ("binary", b"\x00" * 300),
    ("fragmented", b"abcdef"),
    ("text", "x" * 70_000),  # over the receive buffer: wsproto streams it
    ("binary", b""),
    ("text", ""),
    ("ping", b""),
    ("text", "€" * 50),
]


@pytest.mark.parametrize("piece", [1, 7, 64, 1000, 100_000])
async def test_mixed_stream_cut_into_pieces_is_delivered_in_order(
    nursery: trio.Nursery, piece: int
) -> None:
    received: list[str | bytes] = []
    done = trio.Event()
    peer = await _collecting_server(nursery, received, done, receive_buffer_size=65536)
    data, expected = _stream_of(MIXED)
    data += build_frame(OP_CLOSE, close_payload(1000))
    await _send_in_pieces(peer, data, list(range(0, len(data), piece)))
    pongs = []
    while (frame := await peer.next_frame()) is not None:
        if frame.opcode == OP_PONG:
            pongs.append(frame.payload)
        else:
            assert frame.opcode == OP_CLOSE and frame.close_code == 1000
    await done.wait()
    assert received == expected
    assert pongs == [b"p1", b""]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    script=scripts(max_text=300, max_binary=3000, max_fragmented=300, max_steps=12),
    cuts=st.lists(st.integers(min_value=0, max_value=20_000), max_size=8),
    buffer_size=st.sampled_from([16, 256, 65536]),
)
def test_any_script_cut_anywhere_is_delivered(
    script: list[tuple[str, Any]], cuts: list[int], buffer_size: int
) -> None:
    async def main() -> None:
        received: list[str | bytes] = []
        done = trio.Event()
        async with trio.open_nursery() as nursery:
            peer = await _collecting_server(
                nursery, received, done, receive_buffer_size=buffer_size
            )
            data, expected = _stream_of(script)
            data += build_frame(OP_CLOSE, close_payload(1000))
            await _send_in_pieces(peer, data, [c for c in cuts if c < len(data)])
            while (frame := await peer.next_frame()) is not None:
                assert frame.opcode in (OP_PONG, OP_CLOSE)
            await done.wait()
            assert received == expected

    trio.run(main)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        pytest.param(build_frame(OP_TEXT, b"ok \xff bad"), 1007, id="invalid-utf8"),
        pytest.param(build_frame(OP_TEXT, b"\xed\xa0\x80"), 1007, id="surrogate"),
        pytest.param(build_frame(OP_TEXT, b"\xf4\x90\x80\x80"), 1007, id="above-u10ffff"),
        pytest.param(build_frame(OP_TEXT, b"a", mask=None), 1002, id="unmasked"),
        pytest.param(build_frame(OP_TEXT, b"a" * 5, length_bytes=2), 1002, id="not-minimal"),
        pytest.param(build_frame(OP_CONT, b"a"), 1002, id="stray-continuation"),
        pytest.param(build_frame(OP_BINARY, b"a" * 2000), 1009, id="too-big"),
    ],
)
async def test_bad_frame_after_plain_ones_gets_its_close_code(
    nursery: trio.Nursery, frame: bytes, code: int
) -> None:
    received: list[str | bytes] = []
    done = trio.Event()
    peer = await _collecting_server(nursery, received, done, max_message_size=1000)
    plain = build_frame(OP_TEXT, b"one") + build_frame(OP_BINARY, b"two")
    await peer.stream.send_all(plain + frame + build_frame(OP_TEXT, b"never"))
    close = await peer.next_frame()
    assert close is not None and close.opcode == OP_CLOSE
    assert close.close_code == code
    assert await peer.next_frame() is None
    await done.wait()
    assert received == ["one", b"two"]


async def test_full_queue_holds_plain_frames_and_close_still_works(
    nursery: trio.Nursery,
) -> None:
    """The reader parks mid-batch when the queue is full; a local close meanwhile drops the
    rest of the batch but still completes the closing handshake."""
    first: list[str | bytes] = []
    closed: list[Any] = []
    release = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        first.append(await ws.get_message())
        await release.wait()
        await ws.aclose(4000, "enough")
        closed.append(ws.closed)

    server_stream, client_stream = stream_pair()
    options = ServerOptions(message_queue_size=1)
    nursery.start_soon(serve_stream, handler, server_stream, options)
    peer = RawPeer(client_stream)
    await peer.handshake()
    batch = b"".join(build_frame(OP_TEXT, str(i).encode()) for i in range(10))
    await peer.stream.send_all(batch)
    await trio.testing.wait_all_tasks_blocked()
    assert first == ["0"]
    release.set()
    close = await peer.next_frame()
    assert close is not None and close.close_code == 4000
    await peer.stream.send_all(build_frame(OP_CLOSE, close_payload(4000)))
    assert await peer.next_frame() is None
    assert [c.code for c in closed] == [4000]


async def test_client_takes_plain_frames_from_a_server(nursery: trio.Nursery) -> None:
    from wsproto import WSConnection
    from wsproto.events import AcceptConnection, Request

    from wsframework.client import wrap_client_stream

    client_stream, server_stream = stream_pair()
    server = WSConnection(ConnectionType.SERVER)

    async def scripted_server() -> None:
        while True:
            data = await server_stream.receive_some(65536)
            server.receive_data(data)
            if any(isinstance(e, Request) for e in server.events()):
                break
        await server_stream.send_all(server.send(AcceptConnection()))
        # Three plain frames and a fragmented message in one write, then a frame in bits.
        frames = (
            server.send(TextMessage(data="a"))
            + server.send(BytesMessage(data=b"b" * 200))
            + server.send(TextMessage(data="c", message_finished=False))
            + server.send(TextMessage(data="d", message_finished=True))
        )
        await server_stream.send_all(frames)
        last = server.send(BytesMessage(data=b"e" * 70_000))
        for start in range(0, len(last), 30_000):
            await server_stream.send_all(last[start : start + 30_000])
            await trio.testing.wait_all_tasks_blocked()

    nursery.start_soon(scripted_server)
    ws = await wrap_client_stream(nursery, client_stream, "example.com", "/")
    got = [await ws.get_message() for _ in range(4)]
    assert got == ["a", b"b" * 200, "cd", b"e" * 70_000]


async def test_frame_trickled_byte_by_byte_is_delivered_once_whole(nursery: trio.Nursery) -> None:
    received: list[str | bytes] = []
    done = trio.Event()
    peer = await _collecting_server(nursery, received, done)
    payload = bytes(range(256)) * 8
    frame = build_frame(OP_BINARY, payload)
    data = frame + build_frame(OP_TEXT, b"after") + build_frame(OP_CLOSE, close_payload(1000))
    await _send_in_pieces(peer, data, list(range(len(frame) + 3)))  # 1-byte pieces, then the rest
    close = await peer.next_frame()
    assert close is not None and close.close_code == 1000
    await done.wait()
    assert received == [payload, "after"]
