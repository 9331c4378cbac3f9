"""Fuzz targets for the opening handshake, both sides.

:func:`server_handshake` feeds :class:`~wsframework.protocol.handshake.ServerHandshake` what
``server.read_handshake`` would (the request in arbitrary chunks, maybe an EOF), and checks the
answer the server would send: a valid request gets a parseable 101 with the right accept key,
an invalid one a parseable 4xx, and nothing else ever escapes. It also feeds the same bytes in
one read and with the head's last byte held back (:func:`fast_and_h11`): the first may take the
parser's h11-free fast path, the second never does, and where the first did both must end the
same way.

:func:`client_handshake` builds a client's request, checks that our server parser accepts it,
and answers with a valid 101, a refusal or a broken answer, in chunks;
:class:`~wsframework.protocol.client_handshake.ClientHandshake` must accept, report the refusal
or raise :class:`~wsframework.InvalidHandshake`, and nothing else.
"""

from __future__ import annotations

import base64

import h11

from wsframework.exceptions import ConnectionRejected, InvalidHandshake, UpgradeRequired
from wsframework.protocol.client_handshake import MAX_REJECT_BODY, Accepted, ClientHandshake
from wsframework.protocol.deflate import negotiate_deflate
from wsframework.protocol.deflate_options import DeflateOptions
from wsframework.protocol.handshake import (
    HandshakeRequest,
    ServerHandshake,
    accept_key,
    build_accept_response,
    build_http_response,
)

from .source import Source, pieces

__all__ = ["Outcome", "fast_and_h11", "client_handshake", "server_handshake"]

_PATH_CHARS = "abcxyz019/-._~%?=&:@+!$'()*,;"
_TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_.!#$%&'*+^`|~"
_VALUE_CHARS = " \tabcXYZ09=;,\"'/:()-_.~%*"

_EXTENSION_OFFERS = (
    "permessage-deflate",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; client_max_window_bits=10",
    "permessage-deflate; server_max_window_bits=9; client_no_context_takeover",
    "permessage-deflate; server_no_context_takeover; client_max_window_bits=15",
    "permessage-deflate; server_max_window_bits=8",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits",
    "permessage-deflate; client_max_window_bits=abc",
    "permessage-deflate; x-unknown=1",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; server_no_context_takeover=1",
    "permessage-deflate;;",
    "x-webkit-deflate-frame",
    "",
)


def _token(src: Source, max_size: int = 12) -> str:
    return src.text(max_size, _TOKEN_CHARS) or "x"


def _key(src: Source) -> tuple[bytes, bool]:
    """A ``Sec-WebSocket-Key`` and whether it is valid."""
    kind = src.integer(0, 7)
    if kind == 0:
        key = src.text(30, "ABCxyz019+/= @").encode()
        try:
            return key, len(base64.b64decode(key.strip(), validate=True)) == 16
        except ValueError:
            return key, False
    if kind == 1:
        raw = src.blob(20)
        return base64.b64encode(raw), len(raw) == 16
    raw = src.blob(16).ljust(16, b"\0")
    return base64.b64encode(raw), True


def _request(src: Source) -> tuple[bytes, str, bytes]:
    """A request head, what it should get (``valid``, ``plain``, ``bad`` or ``any``), its key.

    ``plain`` is a request without a WebSocket upgrade (:class:`UpgradeRequired`), ``bad`` one
    with a known defect (a 4xx), ``any`` one mutated beyond prediction.
    """
    if src.chance(24):
        return src.blob(400), "any", b""
    expect = "valid"
    method = b"GET"
    if src.chance(12):
        method = src.choice((b"PUT", b"POST", b"HEAD", b"OPTIONS", b"get"))
        expect = "bad"
    target = ("/" + src.text(24, _PATH_CHARS)).encode()
    version = b"HTTP/1.1"
    if src.chance(16):
        version = src.choice((b"HTTP/1.0", b"HTTP/2.0", b"HTTP/0.9"))
        expect = "bad"
    headers: list[tuple[bytes, bytes]] = []
    if not src.chance(24):
        headers.append((b"Host", src.choice((b"127.0.0.1", b"example.com:8000", b"[::1]"))))
    else:
        expect = "bad"
    upgrade = src.choice((b"websocket", b"websocket", b"WebSocket", b"h2c, websocket", b"h2c", b""))
    if upgrade in (b"h2c", b"") or src.chance(16):
        expect = "plain"
    else:
        headers.append((b"Upgrade", upgrade))
    connection = src.choice((b"Upgrade", b"upgrade", b"keep-alive, Upgrade", b"close", b""))
    if connection in (b"close", b""):
        expect = "bad" if expect == "valid" else expect
    if connection:
        headers.append((b"Connection", connection))
    key, key_ok = _key(src)
    if src.chance(16):
        key_ok = False  # missing
    else:
        headers.append((b"Sec-WebSocket-Key", key))
        if src.chance(16):
            headers.append((b"Sec-WebSocket-Key", key))
            key_ok = False
    if not key_ok and expect == "valid":
        expect = "bad"
    ws_version = src.choice((b"13", b"13", b"13", b" 13 ", b"8", b"13, 8", b""))
    missing = src.chance(16)
    if ws_version.strip() != b"13" or missing:
        expect = "bad" if expect == "valid" else expect
    if not missing:
        headers.append((b"Sec-WebSocket-Version", ws_version))
        if src.chance(24):
            headers.append((b"Sec-WebSocket-Version", b"13"))
            expect = "bad" if expect == "valid" else expect
    for _ in range(src.integer(0, 2)):
        protocols = ", ".join(_token(src) for _ in range(src.integer(1, 3)))
        headers.append((b"Sec-WebSocket-Protocol", protocols.encode()))
    for _ in range(src.integer(0, 2)):
        headers.append((b"Sec-WebSocket-Extensions", src.choice(_EXTENSION_OFFERS).encode()))
    if src.chance(16):
        headers.append(src.choice(((b"Content-Length", b"5"), (b"Transfer-Encoding", b"chunked"))))
        expect = "bad" if expect == "valid" else expect
    for _ in range(src.integer(0, 3)):
        headers.append((("X-" + _token(src)).encode(), src.text(20, _VALUE_CHARS).strip().encode()))
    head = method + b" " + target + b" " + version + b"\r\n"
    head += b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n"
    if src.chance(8):
        head = _mutate(src, head)
        expect = "any"
    return head, expect, key


def _mutate(src: Source, data: bytes) -> bytes:
    """A few random edits: byte changes, insertions, deletions, folded or bare-LF lines."""
    out = bytearray(data)
    for _ in range(src.integer(1, 4)):
        at = src.integer(0, len(out))
        edit = src.integer(0, 4)
        if edit == 0 and at < len(out):
            out[at] = src.integer(0, 255)
        elif edit == 1:
            out[at:at] = src.blob(8)
        elif edit == 2:
            del out[at : at + src.integer(1, 8)]
        elif edit == 3:
            out[at:at] = b"\r\n " + src.text(8, _VALUE_CHARS).encode()  # obs-fold
        else:
            out[:] = out.replace(b"\r\n", b"\n", src.integer(1, 3))
    return bytes(out)


def _check_response_to_valid(request: HandshakeRequest, key: bytes) -> None:
    """Answer ``request`` as the server does; the 101 must parse and carry the right key."""
    subprotocol = request.subprotocols[0] if request.subprotocols else None
    _extension, ext_header = negotiate_deflate(DeflateOptions(), request.extensions, 1 << 20)
    if ext_header is not None:
        params = [p.strip().split("=", 1)[0] for p in ext_header.decode().split(";")[1:]]
        assert len(params) == len(set(params)), f"duplicated parameter in {ext_header!r}"
    data, _headers = build_accept_response(request, subprotocol, ext_header, [])
    client = h11.Connection(h11.CLIENT)
    upgrade = [("Host", "x"), ("Upgrade", "websocket"), ("Connection", "Upgrade")]
    client.send(h11.Request(method="GET", target="/", headers=upgrade))
    client.receive_data(data)
    event = client.next_event()
    assert isinstance(event, h11.InformationalResponse), event
    assert event.status_code == 101
    assert (b"sec-websocket-accept", accept_key(key)) in list(event.headers)


def _check_error_response(exc: InvalidHandshake) -> None:
    """The error answer ``server._serve_stream`` sends for ``exc`` must parse as that status."""
    # 4xx; or 501 for a transfer coding h11 does not implement, as RFC 9112 6.1 says.
    assert 400 <= exc.status_code <= 499 or exc.status_code == 501, (
        f"{exc!r} answers {exc.status_code}"
    )
    assert str(exc), "the answer's body is empty"
    body = (str(exc) + "\n").encode()
    data = build_http_response(exc.status_code, list(exc.headers), body)
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    client.receive_data(data)
    event = client.next_event()
    assert isinstance(event, h11.Response), event
    assert event.status_code == exc.status_code
    received = b""
    while True:
        event = client.next_event()
        if isinstance(event, h11.Data):
            received += event.data
        else:
            break
    assert isinstance(event, h11.EndOfMessage), event
    assert received == body


Outcome = tuple[object, ...]


def _outcome(handshake: ServerHandshake, chunks: list[bytes]) -> Outcome:
    """What feeding ``chunks`` gives: the request's facts, or the error's type, status, words."""
    request: HandshakeRequest | None = None
    try:
        for chunk in chunks:
            request = handshake.receive_data(chunk)
            if request is not None:
                break
    except InvalidHandshake as exc:
        return (type(exc).__name__, exc.status_code, str(exc), tuple(exc.headers))
    except EOFError as exc:
        return ("EOFError", str(exc))
    if request is None:
        return ("incomplete",)
    facts = (request.target, request.headers, request.subprotocols, request.extensions)
    return ("request", *facts, request.key, request.trailing_data)


def fast_and_h11(data: bytes, max_header_size: int = 16384) -> tuple[Outcome, Outcome] | None:
    """What the h11-free fast path and h11 make of ``data``; None if the fast path passes.

    ``data`` is fed in one read, where the fast path may take it (it then makes no h11
    connection), and again with the head's last byte held back, which always goes through h11.
    Where the fast path took it, the two outcomes must be equal.
    """
    fast = ServerHandshake(max_header_size)
    whole = _outcome(fast, [data])
    if fast._h11 is not None:
        return None
    cut = data.find(b"\r\n\r\n") + 3
    return whole, _outcome(ServerHandshake(max_header_size), [data[:cut], data[cut:]])


def server_handshake(data: bytes) -> None:
    """Fuzz target: the server's handshake parser as ``server.read_handshake`` feeds it."""
    src = Source(data)
    max_header_size = src.choice((16384, 16384, 200))
    head, expect, key = _request(src)
    trailing = src.blob(40)
    stream = head + trailing
    compared = fast_and_h11(stream, max_header_size)
    if compared is not None:
        assert compared[0] == compared[1], (
            f"the fast path gave {compared[0]!r}, h11 {compared[1]!r}"
        )
    chunks = pieces(stream, src.cuts(len(stream)))
    eof = src.flag()
    handshake = ServerHandshake(max_header_size=max_header_size)
    fed = b""
    request: HandshakeRequest | None = None
    try:
        for chunk in chunks:
            fed += chunk
            request = handshake.receive_data(chunk)
            if request is not None:
                break
        else:
            if eof:
                request = handshake.receive_data(b"")
                raise AssertionError(f"EOF mid-request returned {request!r}")
    except UpgradeRequired as exc:
        assert expect in ("plain", "any", "bad"), f"{expect} request got {exc!r}"
        _check_error_response(exc)
        _read_body(src, handshake, chunks[len(chunks) - src.integer(0, len(chunks)) :], eof)
        return
    except InvalidHandshake as exc:
        assert expect != "valid" or len(head) > max_header_size, f"valid request got {exc!r}"
        if expect == "valid":
            assert exc.status_code == 431, f"{len(head)}-byte head got {exc!r}"
        _check_error_response(exc)
        return
    except EOFError:
        assert eof, "EOFError without an EOF"
        assert expect == "any" or len(fed) < len(head), "EOFError after a complete request"
        return
    if request is None:
        assert len(fed) < len(head) or expect == "any", f"complete {expect} request not parsed"
        return
    assert expect in ("valid", "any"), f"{expect} request accepted: {head!r}"
    if expect == "valid":
        assert len(head) <= max_header_size, f"a {len(head)}-byte head passed the limit"
        assert request.key == key
        assert request.trailing_data == fed[len(head) :]
        assert request.target == head.split(b" ", 2)[1].decode("latin-1")
    _check_response_to_valid(request, request.key)


def _read_body(src: Source, handshake: ServerHandshake, chunks: list[bytes], eof: bool) -> None:
    """After :class:`UpgradeRequired`, read the body as ``server.serve_http`` does."""
    limit = src.choice((0, 10, 1 << 20))
    try:
        body = handshake.receive_body(None, limit)
        for chunk in [*chunks, *([b""] if eof else [])]:
            if body is not None:
                break
            body = handshake.receive_body(chunk, limit)
    except InvalidHandshake as exc:
        assert exc.status_code in (400, 413), exc
        _check_error_response(exc)
        return
    except EOFError:
        assert eof, "EOFError without an EOF"
        return
    assert body is None or (isinstance(body, bytes) and len(body) <= limit)


# ---------------------------------------------------------------------- client side


def _client_request(src: Source) -> tuple[ClientHandshake, list[str], DeflateOptions | None]:
    protocols = [_token(src) for _ in range(src.integer(0, 3))]
    compression = (
        DeflateOptions(
            client_no_context_takeover=src.flag(),
            server_no_context_takeover=src.flag(),
            client_max_window_bits=src.choice((None, 9, 12, 15)),
            server_max_window_bits=src.choice((None, 9, 12, 15)),
        )
        if src.flag()
        else None
    )
    resource = "/" + src.text(20, _PATH_CHARS)
    host = src.choice(("127.0.0.1", "example.com:8000", "[::1]:1"))
    extra = [(("x-" + _token(src)).encode(), src.text(10, "abc 123").strip().encode())]
    handshake = ClientHandshake(
        host,
        resource,
        subprotocols=protocols,
        extra_headers=extra if src.flag() else [],
        compression=compression,
        max_message_size=1 << 20,
    )
    return handshake, protocols, compression


def _answer(src: Source, request: HandshakeRequest, protocols: list[str]) -> tuple[bytes, str]:
    """The server's answer and what the client should make of it: ``accept``, ``reject`` or
    ``any``."""
    kind = src.integer(0, 7)
    if kind <= 3:
        subprotocol = src.choice([None, *protocols])
        _ext, header = negotiate_deflate(DeflateOptions(), request.extensions, 1 << 20)
        if src.chance(4):
            header = None
        extra = [(b"x-" + _token(src).encode(), b"1")] if src.flag() else []
        data, _headers = build_accept_response(request, subprotocol, header, extra)
        return data, "accept"
    if kind <= 5:
        status = src.choice((400, 401, 403, 404, 426, 429, 500, 503, 200, 302))
        body = src.blob(200) * src.choice((1, 1, 400))
        headers = [(b"x-" + _token(src).encode(), b"v")] if src.flag() else []
        return build_http_response(status, headers, body), "reject"
    data = src.blob(300)
    if src.flag():
        data = b"HTTP/1.1 101 Switching Protocols\r\n" + data
    return data, "any"


def client_handshake(data: bytes) -> None:
    """Fuzz target: the client's handshake against valid, refusing and broken answers."""
    src = Source(data)
    handshake, protocols, compression = _client_request(src)
    # Our client's request must pass our server's checks.
    request = ServerHandshake().receive_data(handshake.request)
    assert request is not None, "the client's request is incomplete"
    assert request.subprotocols == protocols
    assert bool(request.extensions) == (compression is not None)
    answer, expect = _answer(src, request, protocols)
    if src.chance(8):
        answer = _mutate(src, answer)
        expect = "any"
    truncate = src.chance(6)
    if truncate:
        answer = answer[: src.integer(0, len(answer))]
    trailing = src.blob(20)
    chunks = pieces(answer + trailing, src.cuts(len(answer) + len(trailing)))
    try:
        for chunk in [*chunks, b""]:
            result = handshake.receive_data(chunk)
            if result is not None:
                break
        else:
            raise AssertionError("the client returned None after EOF")
    except ConnectionRejected as exc:
        assert expect in ("reject", "any"), f"{expect} answer refused: {exc!r}"
        assert exc.body is None or len(exc.body) <= MAX_REJECT_BODY
        return
    except InvalidHandshake as exc:
        assert expect == "any" or truncate, f"{expect} answer broke the handshake: {exc!r}"
        assert str(exc)
        return
    assert isinstance(result, Accepted)
    assert expect in ("accept", "any"), f"{expect} answer accepted"
    assert result.subprotocol is None or result.subprotocol in protocols
    if expect == "accept" and not truncate:
        offered = answer.split(b"\r\n")
        chosen = [line for line in offered if line.startswith(b"sec-websocket-protocol: ")]
        assert result.subprotocol == (chosen[0].split(b": ", 1)[1].decode() if chosen else None)
        negotiated = any(line.startswith(b"sec-websocket-extensions: ") for line in offered)
        assert (result.deflate is not None) == negotiated
