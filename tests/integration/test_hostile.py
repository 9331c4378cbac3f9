"""Hostile peers over real loopback sockets: malformed handshakes and protocol violations.

Every bad request is answered with the right HTTP status and never disturbs another open
connection; every protocol violation is answered with the matching close frame (1002, 1007,
1009) before the server closes TCP, and the handler sees ``ConnectionClosed`` with that code.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

from wsframework import (
    CloseReason,
    ConnectionClosed,
    WebSocketRequest,
    WebSocketServer,
    open_websocket,
)

from ..conftest import raw_request, upgrade_request
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
    deflate_raw,
    header,
)

Serve = Callable[..., Awaitable[WebSocketServer]]

# ---------------------------------------------------------------------- malformed handshakes

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
BASE = b"Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"

BAD_REQUESTS = [
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        426,
        b"WebSocket upgrade",
        id="plain-get",
    ),
    pytest.param(upgrade_request(version=b"8"), 426, b"version 13", id="version-8"),
    pytest.param(upgrade_request(version=b"14"), 426, b"version 13", id="version-14"),
    pytest.param(upgrade_request(http=b"HTTP/1.0"), 400, b"HTTP/1.1", id="http-1.0"),
    pytest.param(upgrade_request(key=b"c2hvcnQ="), 400, b"16 bytes", id="key-short"),
    pytest.param(upgrade_request(key=b"not base64!!!!!!!!!!!!=="), 400, b"16 bytes", id="key-junk"),
    pytest.param(
        upgrade_request(key=b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        400,
        b"16 bytes",
        id="key-24-bytes",
    ),
    pytest.param(
        upgrade_request(extra=b"Sec-WebSocket-Key: " + KEY + b"\r\n"),
        400,
        b"duplicate",
        id="duplicate-key",
    ),
    pytest.param(
        upgrade_request(extra=b"Sec-WebSocket-Version: 13\r\n"),
        400,
        b"duplicate",
        id="duplicate-version",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\n" + BASE + b"Sec-WebSocket-Version: 13\r\n\r\n",
        400,
        b"Sec-WebSocket-Key",
        id="missing-key",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\n" + BASE + b"Sec-WebSocket-Key: " + KEY + b"\r\n\r\n",
        400,
        b"Sec-WebSocket-Version",
        id="missing-version",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
        b"Sec-WebSocket-Key: " + KEY + b"\r\nSec-WebSocket-Version: 13\r\n\r\n",
        400,
        b"Connection",
        id="connection-not-upgrade",
    ),
    pytest.param(upgrade_request().replace(b"GET ", b"POST ", 1), 405, b"GET", id="post"),
    pytest.param(
        upgrade_request().replace(b"Host: 127.0.0.1\r\n", b""), 400, b"Host", id="missing-host"
    ),
    pytest.param(
        upgrade_request().replace(b"\r\n\r\n", b"\r\nX-Big: " + b"a" * 20000 + b"\r\n"),
        431,
        b"too large",
        id="oversized-incomplete-head",
    ),
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, b"", id="tls-hello"),
    pytest.param(b"GARBAGE\r\n\r\n", 400, b"malformed", id="garbage"),
    pytest.param(
        upgrade_request(extra=b"X-A: one\r\n two\r\n"),
        400,
        b"obsolete line folding",
        id="obs-fold",
    ),
    pytest.param(upgrade_request(extra=b"NoColon\r\n"), 400, b"illegal header", id="no-colon"),
    pytest.param(upgrade_request(extra=b"X-A: \x00\r\n"), 400, b"illegal header", id="nul"),
    pytest.param(upgrade_request(extra=b"Host: evil\r\n"), 400, b"multiple Host", id="two-hosts"),
    pytest.param(
        b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n" + BASE + b"\r\n",
        414,
        b"request line is longer",
        id="long-request-line",
    ),
    pytest.param(
        upgrade_request(extra=b"Content-Length: 5\r\n") + b"hello",
        400,
        b"must not have a body",
        id="content-length",
    ),
    pytest.param(
        upgrade_request(extra=b"Transfer-Encoding: identity\r\n"),
        400,
        b"must not have a body",
        id="transfer-encoding",
    ),
]


async def _echo_once(ws: Any, text: str) -> None:
    with trio.fail_after(5):
        await ws.send_message(text)
        assert await ws.get_message() == text


@pytest.mark.parametrize(("request_bytes", "status", "body_part"), BAD_REQUESTS)
async def test_bad_handshake_is_answered_and_other_connection_lives(
    serve: Serve, request_bytes: bytes, status: int, body_part: bytes
) -> None:
    server = await serve()
    async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
        await _echo_once(ws, "before")
        response = await raw_request(server.port, request_bytes)
        head, _, body = response.partition(b"\r\n\r\n")
        status_line, *lines = head.split(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 %d " % status), response[:200]
        headers = {n.strip().lower(): v.strip() for n, _, v in (x.partition(b":") for x in lines)}
        if b"upgrade" in headers:  # 426 for a plain GET names the protocol to upgrade to
            assert (status, headers[b"upgrade"]) == (426, b"websocket")
        else:
            assert headers[b"connection"] == b"close"
        assert int(headers[b"content-length"]) == len(body)
        assert body_part in body
        if status == 426 and b"version" in body_part:
            assert headers[b"sec-websocket-version"] == b"13"
        if status == 405:
            assert headers[b"allow"] == b"GET"
        await _echo_once(ws, "after")


async def test_oversized_complete_head_is_431(serve: Serve) -> None:
    """BUG: a complete request head over ``max_header_size`` (16 KiB) that arrives in one read
    is accepted, because h11 only limits *incomplete* events."""
    handled: list[str] = []

    async def handler(request: WebSocketRequest) -> None:
        handled.append(request.path)
        await request.reject(404)

    server = await serve(handler)
    response = await raw_request(
        server.port, upgrade_request(extra=b"X-Big: " + b"a" * 20000 + b"\r\n")
    )
    assert response.startswith(b"HTTP/1.1 431 "), response[:100]
    assert handled == []


async def test_half_handshake_then_close_frees_socket_at_once(serve: Serve) -> None:
    calls: list[str] = []

    async def handler(request: WebSocketRequest) -> None:
        calls.append(request.path)
        await request.accept()

    server = await serve(handler)  # connect_timeout stays at 60 s
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    await stream.send_all(b"GET /half HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webs")
    await stream.send_eof()
    with trio.fail_after(2):  # well below connect_timeout: freed because of the EOF
        while await stream.receive_some(65536):
            pass
    await stream.aclose()
    # The server still works, and the handler never ran for the half request.
    async with open_websocket("127.0.0.1", server.port, "/full", use_ssl=False) as ws:
        assert ws.path == "/full"
    assert calls == ["/full"]


async def test_stalled_handshake_is_dropped_after_connect_timeout(serve: Serve) -> None:
    calls: list[str] = []

    async def handler(request: WebSocketRequest) -> None:
        calls.append(request.path)
        await request.accept()

    server = await serve(handler, connect_timeout=0.5)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    await stream.send_all(b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    start = trio.current_time()
    with trio.fail_after(5):
        data = await stream.receive_some(65536)
    elapsed = trio.current_time() - start
    assert data == b""
    assert 0.4 <= elapsed < 4
    await stream.aclose()
    assert calls == []


async def test_silent_client_is_dropped_after_connect_timeout(serve: Serve) -> None:
    server = await serve(connect_timeout=0.5)
    async with await trio.open_tcp_stream("127.0.0.1", server.port) as stream:
        with trio.fail_after(5):
            assert await stream.receive_some(65536) == b""


# ---------------------------------------------------------------------- protocol violations


def _bomb(size: int) -> bytes:
    return deflate_raw(b"\x00" * size)


def _case(data: bytes, code: int, *, deflate: bool = False, id: str, **server_options: Any) -> Any:
    return pytest.param(data, code, deflate, server_options, id=id)


TEXT_HI = build_frame(OP_TEXT, b"hi", fin=False)

VIOLATIONS = [
    # framing (1002)
    _case(build_frame(OP_TEXT, b"hello", mask=None), 1002, id="unmasked-text"),
    _case(build_frame(OP_BINARY, b"", mask=None), 1002, id="unmasked-empty-binary"),
    _case(build_frame(OP_PING, b"p", mask=None), 1002, id="unmasked-ping"),
    _case(build_frame(OP_TEXT, b"x", rsv1=True), 1002, id="rsv1-no-extension"),
    _case(build_frame(OP_TEXT, b"x", rsv2=True), 1002, id="rsv2"),
    _case(build_frame(OP_TEXT, b"x", rsv3=True), 1002, id="rsv3"),
    _case(build_frame(OP_PING, b"x", rsv2=True), 1002, id="rsv2-on-ping"),
    *[_case(build_frame(op, b"x"), 1002, id=f"opcode-{op:#x}") for op in (3, 4, 5, 6, 7)],
    *[_case(build_frame(op, b"x"), 1002, id=f"opcode-{op:#x}") for op in range(0xB, 0x10)],
    _case(build_frame(OP_PING, b"p" * 126), 1002, id="ping-126-bytes"),
    _case(build_frame(OP_PONG, b"p" * 126), 1002, id="pong-126-bytes"),
    _case(build_frame(OP_CLOSE, close_payload(1000, b"r" * 124)), 1002, id="close-126-bytes"),
    _case(build_frame(OP_PING, b"p", fin=False), 1002, id="fragmented-ping"),
    _case(build_frame(OP_PONG, b"p", fin=False), 1002, id="fragmented-pong"),
    _case(build_frame(OP_CLOSE, close_payload(1000), fin=False), 1002, id="fragmented-close"),
    _case(build_frame(OP_CONT, b"orphan"), 1002, id="continuation-without-start"),
    _case(TEXT_HI + build_frame(OP_TEXT, b"again"), 1002, id="text-inside-fragmented-text"),
    _case(TEXT_HI + build_frame(OP_BINARY, b"\x00"), 1002, id="binary-inside-fragmented-text"),
    _case(build_frame(OP_TEXT, b"x" * 10, length_bytes=2), 1002, id="non-minimal-length-2"),
    _case(build_frame(OP_TEXT, b"x" * 200, length_bytes=8), 1002, id="non-minimal-length-8"),
    # close frames (1002, 1007)
    *[
        _case(build_frame(OP_CLOSE, close_payload(code)), 1002, id=f"close-code-{code}")
        for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535)
    ],
    _case(build_frame(OP_CLOSE, b"\x03"), 1002, id="close-1-byte"),
    _case(build_frame(OP_CLOSE, close_payload(1000, b"\xff\xfe")), 1007, id="close-bad-utf8"),
    # UTF-8 (1007)
    _case(build_frame(OP_TEXT, b"ok \xff"), 1007, id="text-invalid-utf8"),
    _case(build_frame(OP_TEXT, b"\xed\xa0\x80"), 1007, id="text-utf8-surrogate"),
    _case(build_frame(OP_TEXT, b"\xc0\xaf"), 1007, id="text-overlong-utf8"),
    _case(build_frame(OP_TEXT, b"abc\xe2\x82"), 1007, id="text-truncated-utf8"),
    _case(
        build_frame(OP_TEXT, b"caf\xc3", fin=False) + build_frame(OP_CONT, b"\x28"),
        1007,
        id="text-invalid-utf8-across-fragments",
    ),
    _case(
        build_frame(OP_TEXT, b"ok", fin=False) + build_frame(OP_CONT, b"\xff", fin=False),
        1007,
        id="text-invalid-utf8-in-middle-fragment",
    ),
    # size (1009)
    _case(build_frame(OP_BINARY, b"x" * 101), 1009, id="too-big", max_message_size=100),
    _case(
        build_frame(OP_TEXT, b"x" * 60, fin=False) + build_frame(OP_CONT, b"x" * 60),
        1009,
        id="too-big-fragmented",
        max_message_size=100,
    ),
    _case(
        build_frame(OP_BINARY, b"\x00" * 1025, length_bytes=8),
        1002,  # the non-minimal length is seen before the size
        id="non-minimal-before-size",
        max_message_size=100,
    ),
    # compression
    _case(
        build_frame(OP_TEXT, deflate_raw(b"hello hello"), rsv1=True),
        1002,
        id="compressed-without-negotiation",
    ),
    _case(
        build_frame(OP_BINARY, _bomb(10 * 2**20), rsv1=True),
        1009,
        deflate=True,
        id="zlib-bomb-default-limit",
    ),
    _case(
        build_frame(OP_BINARY, _bomb(2**20), rsv1=True),
        1009,
        deflate=True,
        id="zlib-bomb-small-limit",
        max_message_size=1000,
    ),
    _case(
        build_frame(OP_BINARY, deflate_raw(b"\x00" * 800, tail=True), rsv1=True, fin=False)
        + build_frame(OP_CONT, deflate_raw(b"\x01" * 800)),
        1009,
        deflate=True,
        id="zlib-bomb-fragmented",
        max_message_size=1000,
    ),
    _case(
        build_frame(OP_TEXT, b"\xff\xff\xff\xff", rsv1=True),
        1007,
        deflate=True,
        id="corrupt-deflate-data",
    ),
    _case(
        build_frame(OP_TEXT, deflate_raw(b"bad \xff utf8"), rsv1=True),
        1007,
        deflate=True,
        id="compressed-invalid-utf8",
    ),
    _case(
        build_frame(OP_TEXT, deflate_raw(b"ab", tail=True), rsv1=True, fin=False)
        + build_frame(OP_CONT, deflate_raw(b"cd"), rsv1=True),
        1002,
        deflate=True,
        id="rsv1-on-continuation",
    ),
    _case(build_frame(OP_PING, b"p", rsv1=True), 1002, deflate=True, id="rsv1-on-ping"),
    _case(build_frame(OP_TEXT, b"x", rsv2=True), 1002, deflate=True, id="rsv2-with-deflate"),
]


@pytest.mark.parametrize(("data", "code", "deflate", "options"), VIOLATIONS)
async def test_protocol_violation_gets_close_frame_then_eof(
    serve: Serve, data: bytes, code: int, deflate: bool, options: dict[str, Any]
) -> None:
    seen: list[CloseReason | None] = []
    messages: list[str | bytes] = []
    done = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            while True:
                messages.append(await ws.get_message())
        except ConnectionClosed as exc:
            seen.append(exc.reason)
        finally:
            done.set()

    server = await serve(handler, **options)
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with stream:
        peer = RawPeer(stream)
        offer = b"Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else b""
        status, headers = await peer.handshake(extra=offer)
        assert status.startswith(b"HTTP/1.1 101 ")
        assert (header(headers, b"sec-websocket-extensions") is not None) == deflate
        await stream.send_all(data)
        frame = await peer.next_frame()
        assert frame is not None, "the server closed TCP without a close frame"
        assert frame.opcode == OP_CLOSE
        assert not frame.masked
        assert frame.close_code == code, frame.close_reason
        assert await peer.next_frame() is None  # then EOF, nothing else
    with trio.fail_after(5):
        await done.wait()
    assert messages == []
    assert len(seen) == 1 and seen[0] is not None
    assert seen[0].code == code


async def test_violation_on_one_connection_leaves_others_alone(serve: Serve) -> None:
    server = await serve()
    async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
        await _echo_once(ws, "before")
        async with await trio.open_tcp_stream("127.0.0.1", server.port) as stream:
            peer = RawPeer(stream)
            await peer.handshake()
            await stream.send_all(build_frame(7, b"?"))
            frame = await peer.next_frame()
            assert frame is not None and frame.close_code == 1002
        await _echo_once(ws, "after")


async def test_valid_traffic_before_violation_is_delivered(serve: Serve) -> None:
    got: list[str | bytes] = []
    codes: list[int] = []
    done = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            async for message in ws:
                got.append(message)
        except ConnectionClosed as exc:
            assert exc.reason is not None
            codes.append(exc.reason.code)
        done.set()

    server = await serve(handler, message_queue_size=8)
    async with await trio.open_tcp_stream("127.0.0.1", server.port) as stream:
        peer = RawPeer(stream)
        await peer.handshake()
        await stream.send_all(
            build_frame(OP_TEXT, "héllo".encode())
            + build_frame(OP_PING, b"pp")
            + build_frame(OP_BINARY, b"\x00\x01", fin=False)
            + build_frame(OP_CONT, b"\x02")
            + build_frame(OP_TEXT, b"\xff")
        )
        pong = await peer.next_frame()
        assert pong is not None and (pong.opcode, pong.payload) == (OP_PONG, b"pp")
        close = await peer.next_frame()
        assert close is not None and close.close_code == 1007
        assert await peer.next_frame() is None
    with trio.fail_after(5):
        await done.wait()
    assert got == ["héllo", b"\x00\x01\x02"]
    assert codes == [1007]


async def test_close_frame_payload_is_parsed(serve: Serve) -> None:
    """A valid close from the raw client is echoed with its code; reason reaches the handler."""
    seen: list[CloseReason | None] = []
    done = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            await ws.get_message()
        except ConnectionClosed as exc:
            seen.append(exc.reason)
        done.set()

    server = await serve(handler)
    async with await trio.open_tcp_stream("127.0.0.1", server.port) as stream:
        peer = RawPeer(stream)
        await peer.handshake()
        await stream.send_all(build_frame(OP_CLOSE, close_payload(3001, "é".encode())))
        frame = await peer.next_frame()
        assert frame is not None and frame.close_code == 3001
        assert await peer.next_frame() is None
    with trio.fail_after(5):
        await done.wait()
    assert seen == [CloseReason(3001, "é")]


def test_violation_case_count() -> None:
    assert len(VIOLATIONS) >= 40
    assert {p.values[1] for p in VIOLATIONS} == {1002, 1007, 1009}
    assert all(isinstance(p.values[0], bytes) and p.values[0] for p in VIOLATIONS)


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "compressed"])
async def test_text_size_limit_counts_utf8_bytes(serve: Serve, deflate: bool) -> None:
    """BUG (plain case): a text message's size is measured in characters (``len(str)``) on the
    uncompressed path but in bytes on the compressed path, so 16 bytes of "é" pass a 10-byte
    limit only when sent uncompressed."""
    server = await serve(max_message_size=10)
    text = "é" * 8  # 8 characters, 16 bytes of UTF-8
    frame = (
        build_frame(OP_TEXT, deflate_raw(text.encode()), rsv1=True)
        if deflate
        else build_frame(OP_TEXT, text.encode())
    )
    async with await trio.open_tcp_stream("127.0.0.1", server.port) as stream:
        peer = RawPeer(stream)
        offer = b"Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else b""
        await peer.handshake(extra=offer)
        await stream.send_all(frame)
        reply = await peer.next_frame()
    assert reply is not None
    assert reply.opcode == OP_CLOSE, f"the {len(text.encode())}-byte message was accepted: {reply}"
    assert reply.close_code == 1009


# ---------------------------------------------------------------------- permessage-deflate offers

BAD_OFFERS = [
    pytest.param(b"permessage-deflate; foo=1", id="unknown-parameter"),
    pytest.param(
        b"permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        id="duplicate-parameter",
    ),
    pytest.param(b"permessage-deflate; server_no_context_takeover=1", id="flag-with-value"),
    pytest.param(b"permessage-deflate; client_max_window_bits=16", id="client-bits-16"),
    pytest.param(b"permessage-deflate; client_max_window_bits=x", id="client-bits-not-a-number"),
    pytest.param(b"permessage-deflate; server_max_window_bits", id="server-bits-no-value"),
    pytest.param(b"permessage-deflate; server_max_window_bits=7", id="server-bits-7"),
]


@pytest.mark.parametrize("offer", BAD_OFFERS)
@pytest.mark.parametrize("then_valid", [False, True], ids=["alone", "then-valid"])
async def test_an_invalid_deflate_offer_is_declined(
    serve: Serve, offer: bytes, then_valid: bool
) -> None:
    """RFC 7692 section 5: the server declines an invalid offer (101 without it) and takes the
    client's next offer, if valid. Without the extension a compressed frame is a violation."""
    server = await serve()
    offers = offer + (b", permessage-deflate" if then_valid else b"")
    async with await trio.open_tcp_stream("127.0.0.1", server.port) as stream:
        peer = RawPeer(stream)
        status, headers = await peer.handshake(
            extra=b"Sec-WebSocket-Extensions: " + offers + b"\r\n"
        )
        assert status.startswith(b"HTTP/1.1 101 ")
        answer = header(headers, b"sec-websocket-extensions")
        # The valid offer's answer: our default 12-bit window, named unasked (RFC 7692 7.1.2.1).
        assert answer == (b"permessage-deflate; server_max_window_bits=12" if then_valid else None)
        await stream.send_all(build_frame(OP_TEXT, deflate_raw(b"squeezed"), rsv1=True))
        reply = await peer.next_frame()
    assert reply is not None
    if then_valid:
        assert (reply.opcode, reply.rsv1) == (OP_TEXT, True)
        assert zlib.decompressobj(-15).decompress(reply.payload + b"\x00\x00\xff\xff") == (
            b"squeezed"
        )
    else:
        assert (reply.opcode, reply.close_code) == (OP_CLOSE, 1002)
