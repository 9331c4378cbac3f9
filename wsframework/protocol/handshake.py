"""The server side of the opening handshake, sans-I/O, with strict checks.

wsproto accepts some requests RFC 6455 forbids (HTTP/1.0, a ``Sec-WebSocket-Key`` that is not
16 bytes of base64, duplicated key or version headers), so the server parses the request with h11
itself, checks it here, and only then hands the upgraded byte stream to wsproto's frame-level
``Connection``. Bytes that arrived behind the request headers are kept (``trailing_data``).

The common case skips h11: a head that arrived whole in the first read, spelled the plain way
(``GET target HTTP/1.1``, CRLF line ends, one ``Host``, no body headers, header bytes h11 would
accept), is split by :func:`_plain_head` and validated by the same checks. Anything else, and
any request those checks refuse, goes through h11 as before, so every error answer is h11's
(``tests/protocol/test_handshake_fast.py`` and the fuzz target compare the two paths).
"""

from __future__ import annotations

import ast
import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus

import h11

from ..exceptions import InvalidHandshake, UpgradeRequired

__all__ = [
    "HandshakeRequest",
    "ServerHandshake",
    "UpgradeRequired",
    "accept_key",
    "build_accept_response",
    "build_http_response",
    "check_header",
]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
Headers = list[tuple[bytes, bytes]]


def accept_key(key: bytes) -> bytes:
    """The ``Sec-WebSocket-Accept`` value for a client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key + _GUID).digest())


def _tokens(values: Iterable[bytes]) -> list[str]:
    out: list[str] = []
    for value in values:
        for part in value.decode("latin-1").split(","):
            part = part.strip()
            if part:
                out.append(part)
    return out


@dataclass
class HandshakeRequest:
    """The facts of a valid opening handshake request.

    Attributes:
        target: the request target (path and query string), e.g. ``/chat?room=1``.
        headers: every request header as ``(lower-case name, value)`` byte pairs, in order.
        subprotocols: the subprotocols the client offered, in its order of preference.
        extensions: the ``Sec-WebSocket-Extensions`` offers, one string per offer.
        key: the client's ``Sec-WebSocket-Key``.
        trailing_data: bytes that arrived after the request headers (a pipelined first frame).
    """

    target: str
    headers: Headers
    subprotocols: list[str]
    extensions: list[str]
    key: bytes
    trailing_data: bytes = field(default=b"", repr=False)


_NO_BODY = "the WebSocket handshake request must not have a body"
_OBS_FOLD = re.compile(rb"\n[ \t]")
_BYTEARRAY = re.compile(r"bytearray\((b(?:'.*'|\".*\"))\)", re.DOTALL)


def _h11_reason(exc: h11.RemoteProtocolError) -> str:
    """h11's complaint, with the offending line shown as (at most 40) bytes, not a bytearray."""

    def shorten(match: re.Match[str]) -> str:
        try:
            line = ast.literal_eval(match.group(1))
        except (ValueError, SyntaxError):  # pragma: no cover - h11 writes a bytes repr
            return match.group(1)[:80]
        return repr(line[:40]) + ("..." if len(line) > 40 else "")

    return _BYTEARRAY.sub(shorten, str(exc))


def _single(by_name: dict[bytes, list[bytes]], name: bytes) -> bytes | None:
    values = by_name.get(name)
    if values is None:
        return None
    if len(values) > 1:
        raise InvalidHandshake(f"duplicate {name.decode()} header", 400)
    return values[0]


def validate_request(event: h11.Request) -> HandshakeRequest:
    """Check an h11 request against RFC 6455 section 4.2.1.

    Raises:
        InvalidHandshake: with the status to answer: 400 for a malformed request, 405 for a
            method other than GET, 426 for a request without a WebSocket upgrade or with an
            unsupported ``Sec-WebSocket-Version``.
    """
    headers: Headers = [(bytes(n), bytes(v)) for n, v in event.headers]
    return _validate(event.method, event.target, event.http_version, headers)


def _validate(
    method: bytes, target: bytes, http_version: bytes, headers: Headers
) -> HandshakeRequest:
    by_name: dict[bytes, list[bytes]] = {}
    for header, header_value in headers:
        if header in by_name:
            by_name[header].append(header_value)
        else:
            by_name[header] = [header_value]
    upgrade = [t.lower() for t in _tokens(by_name.get(b"upgrade", ()))]
    if "websocket" not in upgrade:
        raise UpgradeRequired(method.decode("latin-1"), target.decode("latin-1"), headers)
    if method != b"GET":
        raise InvalidHandshake(
            f"the WebSocket handshake must use GET, not {method.decode('latin-1')}",
            405,
            ((b"allow", b"GET"),),
        )
    if http_version != b"1.1":
        raise InvalidHandshake(
            f"the WebSocket handshake needs HTTP/1.1, not HTTP/{http_version.decode()}", 400
        )
    connection = [t.lower() for t in _tokens(by_name.get(b"connection", ()))]
    if "upgrade" not in connection:
        raise InvalidHandshake("the Connection header must contain 'Upgrade'", 400)
    version = _single(by_name, b"sec-websocket-version")
    if version is None:
        raise InvalidHandshake("missing Sec-WebSocket-Version header", 400)
    if version.strip() != b"13":
        raise InvalidHandshake(
            f"unsupported WebSocket version {version.decode('latin-1')!r}: "
            "this server supports version 13",
            426,
            ((b"sec-websocket-version", b"13"),),
        )
    key = _single(by_name, b"sec-websocket-key")
    if key is None:
        raise InvalidHandshake("missing Sec-WebSocket-Key header", 400)
    key = key.strip()
    try:
        raw = base64.b64decode(key, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 16:
        raise InvalidHandshake("Sec-WebSocket-Key must be 16 bytes encoded in base64", 400)
    for name in (b"content-length", b"transfer-encoding"):
        value = _single(by_name, name)
        if value is not None and value.strip() not in (b"0", b""):
            raise InvalidHandshake(_NO_BODY, 400)
    subprotocols = _tokens(by_name.get(b"sec-websocket-protocol", ()))
    extensions = _tokens(by_name.get(b"sec-websocket-extensions", ()))
    return HandshakeRequest(
        target=target.decode("latin-1"),
        headers=headers,
        subprotocols=subprotocols,
        extensions=extensions,
        key=key,
    )


# A subset of what h11 accepts (its _abnf.py), so that whatever matches here h11 would parse to
# the same request: the request line of a GET over HTTP/1.1, and header lines whose value bytes
# are visible ASCII, obs-text, spaces or tabs (h11 also takes some control bytes; a head with
# one goes through h11). No pattern can backtrack: each is one character class repeated.
_PLAIN_REQUEST_LINE = re.compile(rb"GET ([\x21-\x7e]+) HTTP/1\.1")
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_FIELD_VALUE = re.compile(rb"[\x21-\x7e\x80-\xff \t]*")
_BODY_HEADERS = (b"content-length", b"transfer-encoding")

# The headers of nearly every request are kept for the connection's life (request.headers):
# their common names and values are shared objects instead of a copy per connection.
_COMMON_NAMES = (
    b"host",
    b"upgrade",
    b"connection",
    b"origin",
    b"user-agent",
    b"pragma",
    b"cache-control",
    b"accept-encoding",
    b"accept-language",
    b"sec-websocket-key",
    b"sec-websocket-version",
    b"sec-websocket-extensions",
    b"sec-websocket-protocol",
)
_SHARED_NAMES = {
    spelling: name
    for name in _COMMON_NAMES
    for spelling in (name, name.title(), name.title().replace(b"Websocket", b"WebSocket"))
}
_SHARED_VALUES = {
    value: value
    for value in (
        b"websocket",
        b"Upgrade",
        b"upgrade",
        b"keep-alive, Upgrade",
        b"13",
        b"no-cache",
        b"gzip, deflate",
        b"gzip, deflate, br",
        b"gzip, deflate, br, zstd",
        b"permessage-deflate; client_max_window_bits",
    )
}


def _plain_head(head: bytes) -> tuple[bytes, Headers] | None:
    """The target and headers of a plainly spelled GET head (without its blank line), or None.

    No pattern matches a CR or LF, so a head with a bare LF (a line end for h11) is not plain.

    None means "let h11 decide": the head may still be valid, or it may be an error that h11
    words. A match here is what h11 would return for the same bytes (header names lower-cased,
    values without surrounding whitespace).
    """
    lines = head.split(b"\r\n")
    request_line = _PLAIN_REQUEST_LINE.fullmatch(lines[0])
    if request_line is None:
        return None
    headers: Headers = []
    hosts = 0
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        value = value.strip(b" \t")  # h11 drops the whitespace around a value
        if not colon or not _TOKEN.fullmatch(name) or not _FIELD_VALUE.fullmatch(value):
            return None
        name = _SHARED_NAMES.get(name) or name.lower()
        value = _SHARED_VALUES.get(value, value)
        if name == b"host":
            hosts += 1
        elif name in _BODY_HEADERS:
            return None
        headers.append((name, value))
    if hosts != 1:
        return None
    return request_line[1], headers


class ServerHandshake:
    """Feed bytes in, get a validated :class:`HandshakeRequest` out.

    Usage: call :meth:`receive_data` with each chunk read from the socket (``b""`` at EOF); it
    returns ``None`` until the request headers are complete, then the request.

    Raises:
        InvalidHandshake: from :meth:`receive_data` for any malformed or unsupported request,
            including one whose headers exceed ``max_header_size``.
        EOFError: when the peer closed the connection before finishing its request.
    """

    def __init__(self, max_header_size: int = 16384) -> None:
        self._h11: h11.Connection | None = None
        self._max_header_size = max_header_size
        self._received = 0
        self._eof = False
        self._body = bytearray()
        # The head as received (h11 keeps no copy of the raw lines): what obs-fold is seen in.
        self._head = bytearray()

    def receive_data(self, data: bytes) -> HandshakeRequest | None:
        if self._h11 is None:
            request = self._plain_request(data)
            if request is not None:
                return request
            self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=self._max_header_size)
        self._received += len(data)
        self._eof = self._eof or not data
        self._head += data
        self._h11.receive_data(data)
        try:
            event = self._h11.next_event()
        except h11.RemoteProtocolError as exc:
            if self._eof:
                raise EOFError("the client closed the connection mid-request") from None
            status = exc.error_status_hint
            if status == 431 or "exceeds" in str(exc):
                raise self._too_large() from None
            if status == 501:  # h11: a Transfer-Encoding other than chunked
                raise InvalidHandshake(_NO_BODY, 400) from None
            raise InvalidHandshake(f"malformed HTTP request: {_h11_reason(exc)}", status) from None
        if event is h11.NEED_DATA:
            return None
        if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            raise EOFError("the client closed the connection during the opening handshake")
        if not isinstance(event, h11.Request):  # pragma: no cover - h11 yields Request first
            raise InvalidHandshake("malformed HTTP request", 400)
        # h11 bounds only an incomplete head; a complete one that arrived in one read is
        # measured here: everything received minus what follows the head.
        head_size = self._received - len(self._h11.trailing_data[0])
        if head_size > self._max_header_size:
            raise self._too_large()
        # h11 unfolds obsolete line folding; RFC 9112 section 5.2 lets a server refuse it.
        if _OBS_FOLD.search(self._head, 0, head_size):
            raise InvalidHandshake(
                "obsolete line folding (a header line starting with a space or tab) is not allowed",
                400,
            )
        self._head = bytearray()
        request = validate_request(event)
        request.trailing_data = self._trailing()
        return request

    def _plain_request(self, data: bytes) -> HandshakeRequest | None:
        """The fast path: a valid request whose whole head is in the first read, else None."""
        end = data.find(b"\r\n\r\n")
        if end < 0 or end + 4 > self._max_header_size:
            return None
        head = data[:end]
        parsed = _plain_head(head)
        if parsed is None:
            return None
        try:
            request = _validate(b"GET", parsed[0], b"1.1", parsed[1])
        except InvalidHandshake:  # h11 parses it again: UpgradeRequired needs it for the body
            return None
        request.trailing_data = data[end + 4 :]
        return request

    def _too_large(self) -> InvalidHandshake:
        """414 for a request line over the limit, 431 for a head over it."""
        line_end = self._head.find(b"\n")
        if line_end < 0 or line_end > self._max_header_size:
            return InvalidHandshake(
                f"the request line is longer than {self._max_header_size} bytes", 414
            )
        return InvalidHandshake("request headers are too large", 431)

    def receive_body(self, data: bytes | None, limit: int) -> bytes | None:
        """After :class:`UpgradeRequired`: feed bytes, get the whole body once it is complete.

        ``None`` feeds nothing (first call: the body may have come with the head); ``b""``
        means the peer closed its side.

        Raises:
            InvalidHandshake: 413 when the body exceeds ``limit``, 400 when it is malformed.
            EOFError: the peer left mid-body.
        """
        assert self._h11 is not None, "receive_body() is for after receive_data() raised"
        if data is not None:
            self._h11.receive_data(data)
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise InvalidHandshake(f"malformed HTTP request body: {exc}", 400) from None
            if event is h11.NEED_DATA:
                return None
            if isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > limit:
                    raise InvalidHandshake(f"request body over {limit} bytes", 413)
            elif isinstance(event, h11.EndOfMessage):
                return bytes(self._body)
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                raise EOFError("the client closed the connection mid-request")

    def _trailing(self) -> bytes:
        # With an Upgrade header, h11 pauses right after the request and keeps what follows.
        assert self._h11 is not None
        data, _closed = self._h11.trailing_data
        if data:
            return bytes(data)
        # Without one (rejected anyway) the body machinery would own the bytes: none kept.
        return b""


def check_header(name: bytes, value: bytes) -> None:
    """Raise ``ValueError`` for a header that would break the HTTP response framing."""
    if not name or any(c in name for c in b"\r\n:\x00 \t"):
        raise ValueError(f"invalid header name {name!r}")
    if any(c in value for c in b"\r\n\x00"):
        raise ValueError(f"invalid header value {value!r} for {name!r}")


def _header_lines(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    out = bytearray()
    for name, value in headers:
        check_header(name, value)
        out += name + b": " + value + b"\r\n"
    return bytes(out)


def build_accept_response(
    request: HandshakeRequest,
    subprotocol: str | None,
    extensions_header: bytes | None,
    extra_headers: Sequence[tuple[bytes, bytes]],
) -> tuple[bytes, Headers]:
    """The bytes of the ``101 Switching Protocols`` response, and its headers."""
    headers: Headers = [
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-accept", accept_key(request.key)),
    ]
    if subprotocol is not None:
        # Offered subprotocols are decoded as latin-1: echo the one picked as it was sent (it
        # may hold bytes that are not ASCII).
        headers.append((b"sec-websocket-protocol", subprotocol.encode("latin-1")))
    if extensions_header:
        headers.append((b"sec-websocket-extensions", extensions_header))
    protected = {n for n, _ in headers}
    headers.extend((n.lower(), v) for n, v in extra_headers if n.lower() not in protected)
    data = b"HTTP/1.1 101 Switching Protocols\r\n" + _header_lines(headers) + b"\r\n"
    return data, headers


def build_http_response(
    status_code: int,
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes = b"",
) -> bytes:
    """The bytes of a complete HTTP/1.1 response that ends the connection."""
    if not 100 <= status_code <= 599 or status_code == 101:
        raise ValueError(f"status_code must be an HTTP status from 200 to 599, got {status_code}")
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        phrase = "Unknown"
    lower = {n.lower() for n, _ in headers}
    all_headers = list(headers)
    if b"content-length" not in lower:
        all_headers.append((b"content-length", str(len(body)).encode()))
    if b"content-type" not in lower and body:
        all_headers.append((b"content-type", b"text/plain; charset=utf-8"))
    if b"connection" not in lower:
        all_headers.append((b"connection", b"close"))
    head = f"HTTP/1.1 {status_code} {phrase}\r\n".encode() + _header_lines(all_headers)
    return head + b"\r\n" + body
