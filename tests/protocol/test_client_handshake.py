"""The client's opening handshake, sans-I/O: the request it writes and every kind of answer.

The server side here is wsproto's own handshake (for valid answers) or hand-written HTTP (for
the broken ones); no streams, no trio.
"""

from __future__ import annotations

import pytest
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import AcceptConnection, Request, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.handshake import H11Handshake

from wsframework.exceptions import ConnectionRejected, HandshakeError, InvalidHandshake
from wsframework.protocol.client_handshake import MAX_REJECT_BODY, Accepted, ClientHandshake
from wsframework.protocol.deflate import LimitedDeflate
from wsframework.protocol.deflate_options import DeflateOptions
from wsframework.protocol.engine import Engine

from ..peers import OP_TEXT, accept_token, build_frame, switching_response


def handshake(**options: object) -> ClientHandshake:
    settings: dict[str, object] = {"max_message_size": 1000}
    settings.update(options)
    return ClientHandshake("example.com:8000", "/chat?room=1", **settings)  # type: ignore[arg-type]


def server_reads(client: ClientHandshake) -> tuple[H11Handshake, Request]:
    """wsproto's server handshake, having read the client's request."""
    server = H11Handshake(ConnectionType.SERVER)
    server.receive_data(client.request)
    (request,) = server.events()
    assert isinstance(request, Request)
    return server, request


def key_of(client: ClientHandshake) -> bytes:
    for line in client.request.split(b"\r\n"):
        if line.lower().startswith(b"sec-websocket-key:"):
            return line.split(b":", 1)[1].strip()
    raise AssertionError("no key in the request")  # pragma: no cover


# ---------------------------------------------------------------------- the request


def test_request() -> None:
    client = handshake(
        subprotocols=["chat.v2", "chat.v1"],
        extra_headers=[(b"x-token", b"abc")],
        compression=DeflateOptions(),
    )
    _server, request = server_reads(client)
    assert (request.host, request.target) == ("example.com:8000", "/chat?room=1")
    assert request.subprotocols == ["chat.v2", "chat.v1"]
    assert (b"x-token", b"abc") in request.extra_headers
    (offer,) = request.extensions
    assert isinstance(offer, str) and offer.startswith("permessage-deflate;")
    assert client.request_headers == [(b"host", b"example.com:8000"), (b"x-token", b"abc")]


def test_request_without_compression_offers_no_extension() -> None:
    client = handshake()
    _server, request = server_reads(client)
    assert request.extensions == []
    assert b"sec-websocket-extensions" not in client.request.lower()


def test_each_handshake_has_its_own_key() -> None:
    assert key_of(handshake()) != key_of(handshake())


# ---------------------------------------------------------------------- accepted


def test_accept() -> None:
    client = handshake()
    server, _request = server_reads(client)
    response = server.send(AcceptConnection(extra_headers=[(b"x-server", b"yes")]))
    accepted = client.receive_data(response)
    assert isinstance(accepted, Accepted)
    assert accepted.subprotocol is None and accepted.deflate is None
    assert (b"x-server", b"yes") in accepted.response_headers
    assert accepted.connection.state is ConnectionState.OPEN
    assert accepted.connection.client


def test_accept_fed_one_byte_at_a_time() -> None:
    client = handshake()
    server, _request = server_reads(client)
    response = server.send(AcceptConnection())
    for i in range(len(response) - 1):
        assert client.receive_data(response[i : i + 1]) is None, i
    assert isinstance(client.receive_data(response[-1:]), Accepted)


def test_subprotocol_picked_by_the_server() -> None:
    client = handshake(subprotocols=["v1", "v2"])
    server, _request = server_reads(client)
    accepted = client.receive_data(server.send(AcceptConnection(subprotocol="v2")))
    assert accepted is not None and accepted.subprotocol == "v2"


def test_deflate_negotiated_carries_our_inflation_limit() -> None:
    client = handshake(compression=DeflateOptions(), max_message_size=1000)
    server, _request = server_reads(client)
    response = server.send(AcceptConnection(extensions=[PerMessageDeflate()]))
    accepted = client.receive_data(response)
    assert accepted is not None
    assert isinstance(accepted.deflate, LimitedDeflate)
    assert accepted.deflate.max_message_size == 1000
    # The engine built from it inflates what the server compresses.
    engine = Engine(
        accepted.connection, max_message_size=1000, max_frame_size=65536, deflate=accepted.deflate
    )
    assert server.connection is not None
    data = server.connection.send(TextMessage(data="squeeze " * 100))
    assert list(engine.receive(data)) == ["squeeze " * 100]
    assert engine.compression


def test_deflate_offered_but_declined() -> None:
    client = handshake(compression=DeflateOptions())
    server, _request = server_reads(client)
    accepted = client.receive_data(server.send(AcceptConnection()))
    assert accepted is not None and accepted.deflate is None


def test_bytes_behind_the_101_stay_with_the_connection() -> None:
    client = handshake()
    server, _request = server_reads(client)
    frame = build_frame(OP_TEXT, b"early", mask=None)
    accepted = client.receive_data(server.send(AcceptConnection()) + frame)
    assert accepted is not None
    engine = Engine(accepted.connection, max_message_size=1000, max_frame_size=65536)
    assert list(engine.receive(b"")) == ["early"]


# ---------------------------------------------------------------------- rejected


def test_reject_without_body() -> None:
    """An informational answer other than 101 has no body at all (``body`` is ``None``)."""
    client = handshake()
    with pytest.raises(ConnectionRejected) as info:
        client.receive_data(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n")
    assert info.value.status_code == 103
    assert info.value.body is None
    assert info.value.headers == ((b"link", b"</style.css>"),)


def test_reject_with_an_empty_body() -> None:
    client = handshake()
    with pytest.raises(ConnectionRejected) as info:
        client.receive_data(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
    assert info.value.status_code == 401
    assert not info.value.body
    assert info.value.headers == ((b"content-length", b"0"),)
    assert isinstance(info.value, HandshakeError)


def test_reject_with_a_body_in_pieces() -> None:
    client = handshake()
    head = b"HTTP/1.1 403 Forbidden\r\nX-Why: banned\r\nContent-Length: 7\r\n\r\n"
    assert client.receive_data(head) is None
    assert client.receive_data(b"go ") is None
    with pytest.raises(ConnectionRejected) as info:
        client.receive_data(b"away")
    assert info.value.status_code == 403
    assert info.value.body == b"go away"
    assert (b"x-why", b"banned") in info.value.headers


def test_reject_body_ended_by_eof() -> None:
    client = handshake()
    assert client.receive_data(b"HTTP/1.1 503 Service Unavailable\r\n\r\nbu") is None
    assert client.receive_data(b"sy") is None
    with pytest.raises(ConnectionRejected) as info:
        client.receive_data(b"")
    assert (info.value.status_code, info.value.body) == (503, b"busy")


@pytest.mark.parametrize(
    ("head", "pieces"),
    [
        pytest.param(b"Content-Length: 10\r\n", [b"no", b""], id="eof-early"),
        pytest.param(
            b"Transfer-Encoding: chunked\r\n", [b"2\r\nno\r\n", b"zz\r\n"], id="bad-chunk-size"
        ),
    ],
)
def test_reject_whose_body_breaks_off_is_still_a_rejection(
    head: bytes, pieces: list[bytes]
) -> None:
    client = handshake()
    assert client.receive_data(b"HTTP/1.1 403 Forbidden\r\n" + head + b"\r\n") is None
    with pytest.raises(ConnectionRejected) as info:
        for piece in pieces:
            assert client.receive_data(piece) is None
    assert (info.value.status_code, info.value.body) == (403, b"no")


def test_reject_body_is_kept_up_to_the_limit() -> None:
    client = handshake()
    size = MAX_REJECT_BODY + 5000
    head = b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n" % size
    assert client.receive_data(head) is None
    assert client.receive_data(b"a" * (MAX_REJECT_BODY - 10)) is None
    with pytest.raises(ConnectionRejected) as info:  # raised once past the limit, not at the end
        client.receive_data(b"b" * 1000)
    assert info.value.body == b"a" * (MAX_REJECT_BODY - 10) + b"b" * 10


# ---------------------------------------------------------------------- broken answers


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", id="not-http"),
        pytest.param(b"HTTP/1.1 abc Nope\r\n\r\n", id="bad-status"),
        pytest.param(b"HTTP/1.1 101 Switching\r\nBad Header\r\n\r\n", id="bad-header"),
    ],
)
def test_garbage_is_an_invalid_handshake(response: bytes) -> None:
    with pytest.raises(InvalidHandshake) as info:
        handshake().receive_data(response)
    assert str(info.value).startswith("invalid handshake response from the server: ")
    assert isinstance(info.value, HandshakeError)


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        pytest.param(b"Sec-WebSocket-Protocol: evil\r\n", "subprotocol", id="unoffered-protocol"),
        pytest.param(b"Sec-WebSocket-Extensions: x-evil\r\n", "x-evil", id="unoffered-extension"),
    ],
)
def test_101_with_what_we_did_not_offer_is_invalid(extra: bytes, words: str) -> None:
    client = handshake()
    with pytest.raises(InvalidHandshake, match=words):
        client.receive_data(switching_response(key_of(client), extra=extra))


def test_101_with_the_wrong_accept_token_is_invalid() -> None:
    client = handshake()
    wrong = accept_token(b"not our key")
    with pytest.raises(InvalidHandshake, match="accept"):
        client.receive_data(switching_response(key_of(client), accept=wrong))


def test_the_right_accept_token_is_accepted() -> None:
    client = handshake()
    assert isinstance(client.receive_data(switching_response(key_of(client))), Accepted)


@pytest.mark.parametrize("received", [b"", b"HTTP/1.1 101 Swi", b"HTTP/1.1 101 Switching\r\n"])
def test_eof_before_the_answer_is_complete(received: bytes) -> None:
    client = handshake()
    if received:
        assert client.receive_data(received) is None
    with pytest.raises(InvalidHandshake) as info:
        client.receive_data(b"")
    assert str(info.value) == "the server closed the connection during the handshake"


# ---------------------------------------------------------------------- found by fuzzing
# (fuzz/handshake_targets.py: client_handshake): each answer below once escaped
# ClientHandshake.receive_data as an exception other than HandshakeError, or lost a refusal.


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(b"Connection: Upgrade, \xd7\x90\r\n", id="connection"),
        pytest.param(b"Sec-WebSocket-Protocol: \xa1\r\n", id="protocol"),
    ],
)
def test_a_101_with_a_non_ascii_header_value_is_an_invalid_handshake_not_a_unicode_error(
    extra: bytes,
) -> None:
    client = handshake(subprotocols=["v1"])
    with pytest.raises(InvalidHandshake, match="invalid handshake response from the server"):
        client.receive_data(switching_response(key_of(client), extra=extra))


@pytest.mark.parametrize(
    "parameters",
    [
        pytest.param(b"; server_max_window_bits", id="missing-value"),
        pytest.param(b"; client_max_window_bits=12S", id="not-a-number"),
        pytest.param(b"; server_max_window_bits=8", id="out-of-range"),
    ],
)
def test_a_101_with_a_broken_deflate_parameter_is_an_invalid_handshake_not_a_value_error(
    parameters: bytes,
) -> None:
    client = handshake(compression=DeflateOptions())
    extra = b"Sec-WebSocket-Extensions: permessage-deflate" + parameters + b"\r\n"
    with pytest.raises(InvalidHandshake, match="invalid handshake response from the server"):
        client.receive_data(switching_response(key_of(client), extra=extra))


def test_a_refusal_followed_by_junk_is_still_a_refusal_with_its_status() -> None:
    client = handshake()
    refusal = b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\ngone"
    with pytest.raises(ConnectionRejected) as info:
        client.receive_data(refusal + b"\x18R\xe9 junk after the response")
    assert (info.value.status_code, info.value.body) == (404, b"gone")
