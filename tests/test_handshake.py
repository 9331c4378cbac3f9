"""Sans-I/O tests of wsframework.protocol: handshake checks, close codes, deflate limits."""

from __future__ import annotations

import zlib

import h11
import pytest
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import BytesMessage, CloseConnection, TextMessage
from wsproto.frame_protocol import CloseReason as WsprotoCode
from wsproto.frame_protocol import FrameProtocol, Opcode, RsvBits

from wsframework import CloseReason, DeflateOptions, HandshakeError, InvalidHandshake
from wsframework.protocol.close import check_close_code
from wsframework.protocol.deflate import DEFAULT_DEFLATE, LimitedDeflate
from wsframework.protocol.frames import encode_data_frame
from wsframework.protocol.handshake import (
    ServerHandshake,
    accept_key,
    build_accept_response,
    build_http_response,
    check_header,
    validate_request,
)
from wsframework.server import negotiate_deflate

from .conftest import upgrade_request
from .peers import (
    OP_BINARY,
    OP_TEXT,
    build_frame,
    deflate_raw,
    parse_frame,
)

# ---------------------------------------------------------------------- handshake.py


def test_accept_key_rfc_example() -> None:
    assert accept_key(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def parse(data: bytes) -> object:
    return ServerHandshake().receive_data(data)


def test_valid_request_facts() -> None:
    request = ServerHandshake().receive_data(
        upgrade_request(
            "/chat?room=1",
            extra=b"Sec-WebSocket-Protocol: a, b\r\nSec-WebSocket-Protocol: c\r\n"
            b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo\r\n"
            b"X-Custom: Value\r\n",
        )
    )
    assert request is not None
    assert request.target == "/chat?room=1"
    assert request.subprotocols == ["a", "b", "c"]
    assert request.extensions == ["permessage-deflate; client_max_window_bits", "x-foo"]
    assert request.key == b"dGhlIHNhbXBsZSBub25jZQ=="
    assert (b"x-custom", b"Value") in request.headers
    assert all(name == name.lower() for name, _ in request.headers)
    assert request.trailing_data == b""


def test_request_split_in_single_bytes() -> None:
    handshake = ServerHandshake()
    data = upgrade_request("/x")
    results = [handshake.receive_data(data[i : i + 1]) for i in range(len(data))]
    assert results[:-1] == [None] * (len(data) - 1)
    assert results[-1] is not None and results[-1].target == "/x"


def test_trailing_frame_is_kept() -> None:
    frame = build_frame(OP_TEXT, b"hi")
    request = ServerHandshake().receive_data(upgrade_request() + frame)
    assert request is not None
    assert request.trailing_data == frame


def test_tokens_are_case_insensitive_and_spaced() -> None:
    request = parse(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c, WebSocket\r\n"
        b"Connection: keep-alive,  UPGRADE \r\nSec-WebSocket-Key:  dGhlIHNhbXBsZSBub25jZQ== \r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    assert request is not None


@pytest.mark.parametrize(
    ("data", "status", "match"),
    [
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 426, "upgrade request", id="no-upgrade"),
        pytest.param(upgrade_request(version=b"8"), 426, "version 13", id="version-8"),
        pytest.param(upgrade_request(version=b"13, 8"), 426, "version 13", id="version-list"),
        pytest.param(upgrade_request(http=b"HTTP/1.0"), 400, "HTTP/1.1", id="http-1.0"),
        pytest.param(upgrade_request().replace(b"GET", b"PUT", 1), 405, "must use GET", id="put"),
        pytest.param(upgrade_request(key=b"c2hvcnQ="), 400, "16 bytes", id="key-short"),
        pytest.param(upgrade_request(key=b"@@@@"), 400, "16 bytes", id="key-not-base64"),
        pytest.param(
            upgrade_request(key=b"dGhlIHNhbXBsZSBub25jZQ"), 400, "16 bytes", id="key-no-padding"
        ),
        pytest.param(
            upgrade_request(extra=b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
            400,
            "duplicate sec-websocket-key",
            id="duplicate-key",
        ),
        pytest.param(
            upgrade_request(extra=b"Sec-WebSocket-Version: 13\r\n"),
            400,
            "duplicate sec-websocket-version",
            id="duplicate-version",
        ),
        pytest.param(
            upgrade_request().replace(b"Connection: Upgrade", b"Connection: close"),
            400,
            "Connection",
            id="connection-close",
        ),
        pytest.param(
            upgrade_request().replace(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", b""),
            400,
            "missing Sec-WebSocket-Key",
            id="missing-key",
        ),
        pytest.param(
            upgrade_request().replace(b"Sec-WebSocket-Version: 13\r\n", b""),
            400,
            "missing Sec-WebSocket-Version",
            id="missing-version",
        ),
        pytest.param(upgrade_request(extra=b"Content-Length: 5\r\n"), 400, "body", id="with-body"),
        pytest.param(
            upgrade_request().replace(b"Host: 127.0.0.1\r\n", b""), 400, "Host", id="no-host"
        ),
        pytest.param(b"NOT HTTP AT ALL\r\n\r\n", 400, "malformed", id="garbage"),
    ],
)
def test_invalid_requests(data: bytes, status: int, match: str) -> None:
    with pytest.raises(InvalidHandshake, match=match) as info:
        ServerHandshake().receive_data(data)
    assert info.value.status_code == status
    assert isinstance(info.value, HandshakeError)


def test_version_426_names_version_13() -> None:
    with pytest.raises(InvalidHandshake) as info:
        parse(upgrade_request(version=b"7"))
    assert (b"sec-websocket-version", b"13") in info.value.headers


def test_post_405_has_allow_header() -> None:
    with pytest.raises(InvalidHandshake) as info:
        parse(upgrade_request().replace(b"GET", b"POST", 1))
    assert info.value.headers == ((b"allow", b"GET"),)


def test_plain_get_426_names_websocket() -> None:
    with pytest.raises(InvalidHandshake) as info:
        parse(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (b"upgrade", b"websocket") in info.value.headers


def test_incomplete_oversized_head_is_431() -> None:
    handshake = ServerHandshake(max_header_size=1024)
    with pytest.raises(InvalidHandshake) as info:
        handshake.receive_data(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 2000)
    assert info.value.status_code == 431


def test_complete_oversized_head_is_431() -> None:
    """BUG: h11 only bounds incomplete events, so a whole oversized head in one chunk passes."""
    handshake = ServerHandshake(max_header_size=1024)
    with pytest.raises(InvalidHandshake) as info:
        handshake.receive_data(upgrade_request(extra=b"X-Big: " + b"a" * 2000 + b"\r\n"))
    assert info.value.status_code == 431


def test_head_just_under_the_limit_is_accepted() -> None:
    data = upgrade_request(extra=b"X-Pad: ")
    data = upgrade_request(extra=b"X-Pad: " + b"a" * (1024 - len(data) - 2) + b"\r\n")
    assert len(data) == 1024
    assert ServerHandshake(max_header_size=1024).receive_data(data) is not None


def test_eof_before_any_byte_is_eof_error() -> None:
    with pytest.raises(EOFError):
        ServerHandshake().receive_data(b"")


def test_eof_mid_request_is_eof_error() -> None:
    """BUG: EOF after part of a request raises InvalidHandshake(400) instead of EOFError, so the
    server logs a rejection and writes a 400 to a peer that has gone."""
    handshake = ServerHandshake()
    assert handshake.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n") is None
    with pytest.raises(EOFError):
        handshake.receive_data(b"")


def test_validate_request_takes_h11_event() -> None:
    event = h11.Request(
        method="GET",
        target="/v",
        headers=[
            ("Host", "x"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ],
    )
    assert validate_request(event).target == "/v"


def test_build_accept_response() -> None:
    request = ServerHandshake().receive_data(upgrade_request())
    assert request is not None
    data, headers = build_accept_response(
        request,
        "chat",
        b"permessage-deflate",
        [(b"X-Extra", b"1"), (b"Sec-WebSocket-Accept", b"forged"), (b"upgrade", b"other")],
    )
    assert data.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert data.endswith(b"\r\n\r\n")
    assert (b"sec-websocket-accept", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") in headers
    assert (b"sec-websocket-protocol", b"chat") in headers
    assert (b"sec-websocket-extensions", b"permessage-deflate") in headers
    assert (b"x-extra", b"1") in headers
    # Extra headers cannot override the handshake's own.
    assert [v for n, v in headers if n == b"sec-websocket-accept"] == [
        b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    ]
    assert [v for n, v in headers if n == b"upgrade"] == [b"websocket"]
    # h11 (the client side) parses it as a 101.
    client = h11.Connection(h11.CLIENT)
    client.send(
        h11.Request(
            method="GET",
            target="/",
            headers=[("Host", "x"), ("Upgrade", "websocket"), ("Connection", "Upgrade")],
        )
    )
    client.receive_data(data)
    event = client.next_event()
    assert isinstance(event, h11.InformationalResponse) and event.status_code == 101


def test_build_accept_response_without_options() -> None:
    request = ServerHandshake().receive_data(upgrade_request())
    assert request is not None
    _data, headers = build_accept_response(request, None, None, [])
    names = [n for n, _ in headers]
    assert names == [b"upgrade", b"connection", b"sec-websocket-accept"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"x-a", b"evil\r\nSet-Cookie: x=1"),
        (b"x-a", b"nul\x00"),
        (b"x-a\r\n", b"v"),
        (b"x a", b"v"),
        (b"x:a", b"v"),
        (b"", b"v"),
    ],
)
def test_header_injection_is_refused(name: bytes, value: bytes) -> None:
    with pytest.raises(ValueError, match="invalid header"):
        check_header(name, value)
    with pytest.raises(ValueError):
        build_http_response(400, [(name, value)])


def test_build_http_response_defaults() -> None:
    data = build_http_response(426, [(b"sec-websocket-version", b"13")], b"use 13\n")
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    client.receive_data(data)
    response = client.next_event()
    assert isinstance(response, h11.Response)
    assert response.status_code == 426
    assert response.reason == b"Upgrade Required"
    headers = dict(response.headers)
    assert headers[b"content-length"] == b"7"
    assert headers[b"content-type"] == b"text/plain; charset=utf-8"
    assert headers[b"connection"] == b"close"
    assert headers[b"sec-websocket-version"] == b"13"
    body = client.next_event()
    assert isinstance(body, h11.Data) and body.data == b"use 13\n"


def test_build_http_response_keeps_given_headers_and_empty_body() -> None:
    data = build_http_response(
        403, [(b"Content-Type", b"application/json"), (b"Connection", b"keep-alive")], b"{}"
    )
    assert data.count(b"content-type") + data.count(b"Content-Type") == 1
    assert b"Connection: keep-alive" in data and b"close" not in data
    empty = build_http_response(404)
    assert b"content-length: 0\r\n" in empty and b"content-type" not in empty


def test_build_http_response_unknown_status_and_range() -> None:
    assert build_http_response(599).startswith(b"HTTP/1.1 599 Unknown\r\n")
    for status in (101, 99, 600, 0):
        with pytest.raises(ValueError, match="status_code"):
            build_http_response(status)


# ---------------------------------------------------------------------- close.py


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1014, 3000, 3999, 4000, 4999]
)
def test_sendable_close_codes(code: int) -> None:
    assert check_close_code(code) is None


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, -1])
def test_unsendable_close_codes(code: int) -> None:
    with pytest.raises(ValueError, match="cannot be sent"):
        check_close_code(code)


@pytest.mark.parametrize("code", [True, "1000", 1000.0, None])
def test_close_code_type(code: object) -> None:
    with pytest.raises(TypeError):
        check_close_code(code)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (1000, "NORMAL_CLOSURE"),
        (1002, "PROTOCOL_ERROR"),
        (1006, "ABNORMAL_CLOSURE"),
        (1009, "MESSAGE_TOO_BIG"),
        (1004, "RFC_RESERVED"),
        (2500, "RFC_RESERVED"),
        (3500, "IANA_RESERVED"),
        (4500, "PRIVATE_RESERVED"),
        (5000, "INVALID_CODE"),
        (999, "INVALID_CODE"),
    ],
)
def test_close_reason_names(code: int, name: str) -> None:
    assert CloseReason(code, None).name == name


def test_close_reason_value_semantics() -> None:
    a = CloseReason(1000, "bye")
    assert a == CloseReason(1000, "bye")
    assert a != CloseReason(1000, None)
    assert a != CloseReason(1001, "bye")
    assert len({a, CloseReason(1000, "bye")}) == 1
    assert (a == "x") is False
    assert (a.code, a.reason) == (1000, "bye")
    assert repr(a) == "CloseReason<code=1000, name=NORMAL_CLOSURE, reason=bye>"
    assert type(CloseReason(WsprotoCode.GOING_AWAY, None).code) is int
    with pytest.raises(AttributeError):
        a.code = 1001  # type: ignore[misc]


# ---------------------------------------------------------------------- deflate.py


@pytest.mark.parametrize("bits", [8, 16, 0])
def test_deflate_options_window_bits_range(bits: int) -> None:
    with pytest.raises(ValueError, match="between 9 and 15"):
        DeflateOptions(client_max_window_bits=bits)
    with pytest.raises(ValueError, match="between 9 and 15"):
        DeflateOptions(server_max_window_bits=bits)


def test_deflate_options_extension() -> None:
    options = DeflateOptions(
        client_no_context_takeover=True, server_max_window_bits=10, client_max_window_bits=12
    )
    ext = options.extension(1234)
    assert isinstance(ext, LimitedDeflate)
    assert ext.max_message_size == 1234
    assert ext.client_no_context_takeover is True
    assert ext.server_max_window_bits == 10
    assert ext.client_max_window_bits == 12
    assert options.extension(1) is not ext  # a fresh object per connection
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


def _deflate_pair(max_message_size: int) -> tuple[Connection, LimitedDeflate]:
    """A server-side wsproto Connection with a negotiated LimitedDeflate."""
    ext = DeflateOptions().extension(max_message_size)
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


def test_corrupt_deflate_is_1007() -> None:
    conn, _ext = _deflate_pair(1000)
    events = _events(conn, build_frame(OP_BINARY, b"\xff\xff\xff\xff", rsv1=True))
    assert isinstance(events[0], CloseConnection) and events[0].code == 1007


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
@pytest.mark.parametrize("text", [True, False])
def test_encoded_data_frames_parse_on_the_other_side(size: int, text: bool) -> None:
    payload = b"x" * size
    for mask, receiver in ((False, ConnectionType.CLIENT), (True, ConnectionType.SERVER)):
        header, body = encode_data_frame(payload, text, mask)
        assert (header[0], bool(header[1] & 0x80)) == (0x81 if text else 0x82, mask)
        events = _events(Connection(receiver), header + body)
        assert len(events) == 1
        assert events[0].data == (payload.decode() if text else payload)  # type: ignore[attr-defined]


def test_uncompressed_frame_keeps_compressor_context_valid() -> None:
    """An uncompressed message between compressed ones leaves the peer's inflater in step."""
    server_ext = DeflateOptions().extension(2**20)
    server_ext.accept("permessage-deflate")
    server = Connection(ConnectionType.SERVER, extensions=[server_ext])
    client_ext = DeflateOptions().extension(2**20)
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
