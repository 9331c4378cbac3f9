"""HTTP/1.1 on a raw stream before the upgrade: read the handshake, answer, serve a request."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from wsframework.http import HTTPRequest
from wsframework.options import ServerOptions
from wsframework.protocol.handshake import ServerHandshake, UpgradeRequired
from wsframework.stream_http import (
    read_handshake,
    read_handshake_now,
    send_http_response,
    serve_http,
)

HANDSHAKE = (
    b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def test_a_handshake_read_in_pieces_keeps_the_bytes_behind_it() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    for piece in (HANDSHAKE[:10], HANDSHAKE[10:] + b"\x81\x00"):
        await theirs.send_all(piece)
    request = await read_handshake(ours, 1024)
    assert request.target == "/chat" and request.trailing_data == b"\x81\x00"


async def test_a_request_already_there_is_read_without_waiting() -> None:
    a, b = trio.socket.socketpair()
    ours, theirs = trio.SocketStream(a), trio.SocketStream(b)
    async with ours, theirs:
        handshake = ServerHandshake()
        assert read_handshake_now(ours, 1024, handshake) is None  # nothing yet
        await theirs.send_all(HANDSHAKE[:30])
        assert read_handshake_now(ours, 1024, handshake) is None  # not all of it
        await theirs.send_all(HANDSHAKE[30:] + b"\x81\x00")
        request = read_handshake_now(ours, 1024, handshake)
        assert request is not None
        assert request.target == "/chat" and request.trailing_data == b"\x81\x00"


async def test_a_request_on_another_stream_is_left_to_read_handshake() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    await theirs.send_all(HANDSHAKE)
    handshake = ServerHandshake()
    assert read_handshake_now(ours, 1024, handshake) is None
    assert (await read_handshake(ours, 1024, handshake)).target == "/chat"


async def test_a_peer_leaving_mid_request_is_an_eof() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    await theirs.send_all(HANDSHAKE[:20])
    await theirs.aclose()
    with pytest.raises(EOFError):
        await read_handshake(ours, 1024)


async def test_a_response_is_written_whole_then_the_stream_closed() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    await send_http_response(ours, 503, [(b"retry-after", b"5")], b"busy\n")
    received = b""
    while chunk := await theirs.receive_some():
        received += chunk
    assert received.startswith(b"HTTP/1.1 503 ") and received.endswith(b"\r\n\r\nbusy\n")
    assert b"retry-after: 5\r\n" in received.lower()


async def test_a_response_to_a_peer_that_left_is_dropped_quietly() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    await theirs.aclose()
    await send_http_response(ours, 400, [], b"bad\n")
    with pytest.raises(trio.ClosedResourceError):
        await ours.send_all(b"x")


async def test_a_plain_request_over_the_body_limit_gets_413_without_the_handler() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    handshake = ServerHandshake()
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    with pytest.raises(UpgradeRequired) as plain:
        handshake.receive_data(head)
    called: list[HTTPRequest] = []

    async def handler(request: HTTPRequest) -> str:  # pragma: no cover - never called
        called.append(request)
        return "no"

    await theirs.send_all(b"x" * 100)
    await serve_http(handler, ours, handshake, plain.value, ServerOptions(max_http_body=10))
    received = b""
    while chunk := await theirs.receive_some():
        received += chunk
    assert received.startswith(b"HTTP/1.1 413 ") and not called


async def test_a_body_arriving_after_its_head_reaches_the_handler() -> None:
    # Regression: the first look at the body fed h11 b"", which h11 takes for EOF, so a body
    # that came in a later segment than its head was answered 400.
    ours, theirs = trio.testing.memory_stream_pair()
    handshake = ServerHandshake()
    with pytest.raises(UpgradeRequired) as plain:
        handshake.receive_data(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
    bodies: list[bytes] = []

    async def handler(request: HTTPRequest) -> str:
        bodies.append(request.body)
        return "ok"

    await theirs.send_all(b"hello")
    await serve_http(handler, ours, handshake, plain.value, ServerOptions())
    received = b""
    while chunk := await theirs.receive_some():
        received += chunk
    assert bodies == [b"hello"] and received.startswith(b"HTTP/1.1 200 ")
