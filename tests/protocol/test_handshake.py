"""The server's opening handshake, sans-I/O (wsframework.protocol.handshake)."""

from __future__ import annotations

import h11
import pytest

from wsframework import HandshakeError, InvalidHandshake
from wsframework.protocol.handshake import (
    HandshakeRequest,
    ServerHandshake,
    accept_key,
    build_accept_response,
    build_http_response,
    check_header,
    validate_request,
)

from ..conftest import upgrade_request
from ..peers import (
    OP_TEXT,
    build_frame,
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
    assert isinstance(request, HandshakeRequest)
    assert request.key == b"dGhlIHNhbXBsZSBub25jZQ=="  # the spaces around it are not part of it


def _with_line(line: bytes) -> bytes:
    """A valid upgrade request with ``line`` added after its Upgrade header."""
    return upgrade_request().replace(b"Upgrade: websocket\r\n", b"Upgrade: websocket\r\n" + line)


#: Hostile heads: each is refused with a sentence naming the problem, never a traceback.
HOSTILE_HEADS = [
    pytest.param(
        _with_line(b"X-A: one\r\n two\r\n"), 400, "obsolete line folding", id="obs-fold-space"
    ),
    pytest.param(
        _with_line(b"X-A: one\r\n\ttwo\r\n"), 400, "obsolete line folding", id="obs-fold-tab"
    ),
    pytest.param(
        upgrade_request().replace(b"\r\n", b"\n").replace(b"13\n", b"13\n x\n"),
        400,
        "obsolete line folding",
        id="obs-fold-bare-lf",
    ),
    pytest.param(
        _with_line(b"NoColonHere\r\n"),
        400,
        "^malformed HTTP request: illegal header line: b'NoColonHere'$",
        id="no-colon",
    ),
    pytest.param(_with_line(b"X-A: a\x00b\r\n"), 400, "illegal header line", id="nul-in-value"),
    pytest.param(_with_line(b"X-A: a\rb\r\n"), 400, "illegal header line", id="cr-in-value"),
    pytest.param(
        _with_line(b"X-A: " + b"\x00" * 500 + b"\r\n"),
        400,
        r"illegal header line: b'X-A: (\\x00){35}'\.\.\.$",
        id="long-bad-line-shortened",
    ),
    pytest.param(_with_line(b"Host: evil\r\n"), 400, "multiple Host", id="duplicate-host"),
    pytest.param(
        b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n" + upgrade_request().split(b"\r\n", 1)[1],
        414,
        "^the request line is longer than 16384 bytes$",
        id="request-line-too-long",
    ),
    pytest.param(
        _with_line(b"Transfer-Encoding: chunked\r\n"), 400, "must not have a body", id="te-chunked"
    ),
    pytest.param(
        _with_line(b"Transfer-Encoding: identity\r\n"),
        400,
        "must not have a body",
        id="te-identity",
    ),
    pytest.param(
        _with_line(b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n"),
        400,
        "must not have a body",
        id="te-and-content-length",
    ),
]


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
        *HOSTILE_HEADS,
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


def test_obs_fold_fed_byte_by_byte_is_refused() -> None:
    data = _with_line(b"X-A: one\r\n two\r\n")
    handshake = ServerHandshake()
    with pytest.raises(InvalidHandshake, match="obsolete line folding") as info:
        for i in range(len(data)):
            handshake.receive_data(data[i : i + 1])
    assert info.value.status_code == 400


def test_a_long_request_line_arriving_in_pieces_is_414() -> None:
    handshake = ServerHandshake(max_header_size=1000)
    with pytest.raises(InvalidHandshake) as info:
        for _ in range(20):
            assert handshake.receive_data(b"GET /" + b"a" * 100) is None
    assert (info.value.status_code, str(info.value)) == (
        414,
        "the request line is longer than 1000 bytes",
    )


def test_spaces_and_tabs_after_the_head_are_frame_bytes() -> None:
    """Only the head is checked for folding: a first frame behind it may hold any bytes."""
    request = ServerHandshake().receive_data(upgrade_request() + b"\x81\x82\n \n\t")
    assert request is not None and request.trailing_data == b"\x81\x82\n \n\t"


def test_content_length_0_is_no_body() -> None:
    frame = build_frame(OP_TEXT, b"hi")  # pipelined behind the head: a frame, not a body
    request = ServerHandshake().receive_data(
        upgrade_request(extra=b"Content-Length: 0\r\n") + frame
    )
    assert request is not None and request.trailing_data == frame


def test_a_non_ascii_subprotocol_offered_is_echoed_back_as_sent_not_a_unicode_error() -> None:
    """Found by fuzzing (fuzz/handshake_targets.py): accepting a subprotocol the client offered
    with a byte over 0x7f raised UnicodeEncodeError while building the 101."""
    request = ServerHandshake().receive_data(
        upgrade_request(extra=b"Sec-WebSocket-Protocol: caf\xe9, v1\r\n")
    )
    assert request is not None and request.subprotocols == ["caf\u00e9", "v1"]
    data, headers = build_accept_response(request, "caf\u00e9", None, [])
    assert (b"sec-websocket-protocol", b"caf\xe9") in headers
    assert b"\r\nsec-websocket-protocol: caf\xe9\r\n" in data
