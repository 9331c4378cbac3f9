"""The handshake parser's h11-free fast path ends like h11 (wsframework.protocol.handshake).

A head that arrives whole in one read may be split without h11; a head that arrives in pieces
always goes through h11. Where the fast path takes a request, feeding the same bytes the other
way (``fuzz.handshake_targets.fast_and_h11``) must give the same request; anything unusual must
be left to h11, so that its errors are worded as before.
"""

from __future__ import annotations

from contextlib import nullcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz.handshake_targets import fast_and_h11
from wsframework.protocol.handshake import InvalidHandshake, ServerHandshake, _plain_head

from ..conftest import upgrade_request
from ..peers import OP_TEXT, build_frame

BROWSER = (
    b"GET /chat?room=lobby&user=ann HTTP/1.1\r\n"
    b"Host: 127.0.0.1:8000\r\n"
    b"Connection: Upgrade\r\n"
    b"Pragma: no-cache\r\n"
    b"Cache-Control: no-cache\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36\r\n"
    b"Upgrade: websocket\r\n"
    b"Origin: http://127.0.0.1:8000\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    b"\r\n"
)


def taken(data: bytes, max_header_size: int = 16384) -> bool:
    """Whether the fast path took ``data``; if it did, it gave what h11 gives."""
    compared = fast_and_h11(data, max_header_size)
    if compared is None:
        return False
    fast, h11_path = compared
    assert fast == h11_path
    assert fast[0] == "request"
    return True


def test_a_browser_request_takes_the_fast_path_and_matches_h11() -> None:
    assert taken(BROWSER + build_frame(OP_TEXT, b"hi"))


@pytest.mark.parametrize(
    "extra",
    [
        b"",
        b"X-Spaces:   padded value \t \r\n",
        b"X-Tab:\tinner\tvalue\r\n",
        b"X-Empty:\r\n",
        b"X-Empty-Spaces:   \r\n",
        b"X-Obs-Text: caf\xc3\xa9 \xff\r\n",
        b"Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Protocol: v3\r\n",
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
        b"UPGRADE: WebSocket\r\n",
    ],
    ids=lambda extra: repr(extra[:24]),
)
def test_valid_requests_take_the_fast_path_and_match_h11(extra: bytes) -> None:
    assert taken(upgrade_request("/x", extra=extra))


@pytest.mark.parametrize(
    "extra",
    [
        b"Content-Length: 0\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Content-Length: 5\r\n",
        b"Host: second.example\r\n",
        b"X-Control: a\x01b\r\n",
        b"X-Del: a\x7fb\r\n",
        b"X-Nul: a\x00b\r\n",
        b"Bad Name: value\r\n",
        b": no name\r\n",
        b"No-Colon\r\n",
        b"X-Fold: first\r\n second\r\n",
        b"X-Bare-LF: value\nX-After: value\r\n",
        b"X-CR: a\rb\r\n",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        b"Sec-WebSocket-Version: 13\r\n",
    ],
    ids=lambda extra: repr(extra[:24]),
)
def test_unusual_or_refused_headers_are_left_to_h11(extra: bytes) -> None:
    assert not taken(upgrade_request("/x", extra=extra))


@pytest.mark.parametrize(
    "data",
    [
        upgrade_request("/x", http=b"HTTP/1.0"),
        upgrade_request("/x", http=b"HTTP/2.0"),
        upgrade_request("/x", version=b"8"),
        upgrade_request("/x", key=b"short"),
        upgrade_request("/x").replace(b"GET", b"get", 1),
        upgrade_request("/x").replace(b"GET", b"POST", 1),
        upgrade_request("/x").replace(b"Upgrade: websocket", b"Upgrade: h2c"),
        upgrade_request("/x").replace(b"Host: 127.0.0.1\r\n", b""),
        upgrade_request("/x").replace(b"\r\n", b"\n"),
        upgrade_request("/x").replace(b"GET /x", b"GET /a\x7fb"),
        upgrade_request("/x").replace(b"GET /x", b"GET  /x"),
        upgrade_request("/x")[:-2],
        b"\r\n" + upgrade_request("/x"),
        b"GET /x HTTP/1.1\r\n\r\n",
        b"\r\n\r\n",
    ],
    ids=lambda data: repr(data[:20]),
)
def test_refused_or_odd_requests_are_left_to_h11(data: bytes) -> None:
    assert not taken(data)


@pytest.mark.parametrize(("over", "fast"), [(-1, False), (0, True), (1, True)])
def test_a_head_over_the_size_limit_is_left_to_h11(over: int, fast: bool) -> None:
    data = upgrade_request("/x")
    assert taken(data, max_header_size=len(data) + over) is fast
    with pytest.raises(InvalidHandshake, match="too large") if not fast else nullcontext():
        ServerHandshake(max_header_size=len(data) + over).receive_data(data)


def test_whitespace_runs_are_refused_in_one_pass() -> None:
    # A pattern that could backtrack took 0.6 s over a 16 KiB run of spaces before one bad byte.
    line = b"X-Pad: " + b" \t" * 8000 + b"\x01"
    assert _plain_head(b"GET / HTTP/1.1\r\nHost: x\r\n" + line) is None


def test_a_plain_post_falls_back_to_h11_and_its_body_can_be_read() -> None:
    handshake = ServerHandshake()
    data = b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    with pytest.raises(InvalidHandshake) as info:
        handshake.receive_data(data)
    assert type(info.value).__name__ == "UpgradeRequired"
    assert handshake.receive_body(None, limit=100) == b"hello"


def test_receive_body_before_a_refused_head_is_a_usage_error() -> None:
    with pytest.raises(AssertionError, match="after receive_data"):
        ServerHandshake().receive_body(None, limit=100)


_HEADER_BYTES = st.binary(min_size=0, max_size=12).map(
    lambda raw: bytes(b if b not in b"\r\n" else 0x20 for b in raw)
)


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(
        [b"X-A", b"Host", b"Upgrade", b"Connection", b"Bad Name", b"Content-Length"]
    ),
    value=_HEADER_BYTES,
    sep=st.sampled_from([b":", b": ", b":\t", b" :"]),
    trailing=st.binary(max_size=8),
)
def test_random_header_lines_end_the_same_on_both_paths(
    name: bytes, value: bytes, sep: bytes, trailing: bytes
) -> None:
    data = upgrade_request("/h", extra=name + sep + value + b"\r\n") + trailing
    compared = fast_and_h11(data)
    assert compared is None or compared[0] == compared[1]


def test_common_header_names_and_values_are_shared_between_requests() -> None:
    first, second = (ServerHandshake().receive_data(BROWSER) for _ in range(2))
    assert first is not None and second is not None
    assert first.headers == second.headers
    for (name, value), (other_name, other_value) in zip(first.headers, second.headers, strict=True):
        assert name is other_name  # every name in BROWSER is a common one
        if name in (b"upgrade", b"connection", b"sec-websocket-version"):
            assert value is other_value
    assert dict(first.headers)[b"sec-websocket-key"] == b"dGhlIHNhbXBsZSBub25jZQ=="
