"""``wsframework.compat.trio_websocket`` against trio-websocket 0.12.2 itself, without sockets.

* the API surface, compared with the installed ``trio_websocket`` by introspection: names,
  signatures (names, kinds, defaults), attributes, exception ancestry, ``str``/``repr`` forms,
  and the errors raised before anything connects (bad URLs, a bad ``use_ssl``);
* behaviour over memory streams (``trio.testing.memory_stream_pair`` and the scripted peers of
  ``tests/peers.py``): the same program against BOTH implementations (the ``tw`` fixture, in
  ``tests/conftest.py``), then wsframework's own behaviour where it deliberately differs from
  trio-websocket (a defect of trio-websocket that its docs do not promise; each one is a row
  in ``docs/compat.md``).

The same comparison over loopback TCP is in ``tests/integration/test_compat_sockets.py`` (both
implementations, and each one's client against the other's server) and
``tests/integration/test_compat_sockets_differences.py`` (wsframework's differences).
"""

from __future__ import annotations

import inspect
import ipaddress
import re
import ssl
from types import ModuleType
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket as T
from wsproto import ConnectionType
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)

import wsframework
from wsframework import DeflateOptions
from wsframework.compat import trio_websocket as W
from wsframework.options import SAME_AS_INTERVAL

from ..peers import ScriptedPeer
from .helpers import TIMEOUT

# Collect after each test, so a leaked socket (ResourceWarning) is blamed on its test.
pytestmark = pytest.mark.usefixtures("collect_garbage")


# trio-websocket's whole public API; tests/test_exports.py checks that it is exactly the
# installed trio_websocket's.
PUBLIC_NAMES = sorted(W.__all__)
CLASSES = [name for name in PUBLIC_NAMES if name[0].isupper()]
FUNCTIONS = [name for name in PUBLIC_NAMES if name[0].islower()]
EXCEPTIONS = [
    "HandshakeError",
    "ConnectionTimeout",
    "DisconnectionTimeout",
    "ConnectionRejected",
    "ConnectionClosed",
]

# The documented parameter differences (docs/compat.md, "Parameters").
THEIR_RECEIVE_BUFFER = 4 * 2**10
OUR_RECEIVE_BUFFER = 64 * 2**10
# Documented in docs/compat.md: the two defaults that differ from trio-websocket's.
DIFFERENT_DEFAULTS = {
    "receive_buffer_size": (THEIR_RECEIVE_BUFFER, OUR_RECEIVE_BUFFER),
    "message_queue_size": (1, 16),
}
KEEPALIVE_AND_DEFLATE = ("compression", "ping_interval", "ping_timeout")
SERVER_ADDITIONS = (*KEEPALIVE_AND_DEFLATE, "http_handler", "options")
ADDED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "connect_websocket": KEEPALIVE_AND_DEFLATE,
    "connect_websocket_url": KEEPALIVE_AND_DEFLATE,
    "open_websocket": KEEPALIVE_AND_DEFLATE,
    "open_websocket_url": KEEPALIVE_AND_DEFLATE,
    "serve_websocket": KEEPALIVE_AND_DEFLATE,
    "wrap_client_stream": KEEPALIVE_AND_DEFLATE,
    "wrap_server_stream": ("compression",),
    "WebSocketServer.__init__": SERVER_ADDITIONS,
    "WebSocketConnection.send_message": ("compress",),
}
ADDED_DEFAULTS: dict[str, Any] = {
    "compression": DeflateOptions(),
    "ping_interval": None,
    "ping_timeout": SAME_AS_INTERVAL,
    "compress": True,
    "http_handler": None,
    "options": None,
}
# Methods whose signatures are exactly trio-websocket's.
SAME_SIGNATURE = [
    "WebSocketServer.run",
    "WebSocketRequest.accept",
    "WebSocketRequest.reject",
    "WebSocketConnection.aclose",
    "WebSocketConnection.get_message",
    "WebSocketConnection.ping",
    "WebSocketConnection.pong",
    "Endpoint.__init__",
    "CloseReason.__init__",
    "ConnectionClosed.__init__",
    "ConnectionRejected.__init__",
]
PROPERTIES = {
    "WebSocketServer": ["port", "listeners"],
    "WebSocketRequest": ["headers", "path", "proposed_subprotocols", "local", "remote"],
    "WebSocketConnection": [
        "closed",
        "is_client",
        "is_server",
        "local",
        "remote",
        "path",
        "subprotocol",
        "handshake_headers",
    ],
    "Endpoint": ["url"],
    "CloseReason": ["code", "name", "reason"],
}


def _lookup(module: ModuleType, dotted: str) -> Any:
    obj: Any = module
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _params(func: Any) -> list[inspect.Parameter]:
    return list(inspect.signature(func).parameters.values())


# ============================================================================ the API surface


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_each_name_is_the_same_kind_of_object(name: str) -> None:
    theirs, ours = getattr(T, name), getattr(W, name)
    assert isinstance(ours, type) == isinstance(theirs, type)
    assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(theirs)
    assert callable(ours)


# The names that are not wsframework's own objects: ConnectionRejected keeps trio-websocket's
# str() (wsframework's reads as a sentence), and the client functions raise that one.
CONVERTING = [
    "connect_websocket",
    "connect_websocket_url",
    "open_websocket",
    "open_websocket_url",
    "wrap_client_stream",
]


# The server names that keep trio-websocket's 60 s handshake timeout (wsframework's: 10 s).
SIXTY_SECONDS = ["WebSocketServer", "serve_websocket"]


def test_compat_names_are_wsframework_core_objects() -> None:
    # One exception tree: `except wsframework.ConnectionClosed` also catches the compat one.
    for name in PUBLIC_NAMES:
        if name == "ConnectionRejected" or name in CONVERTING or name in SIXTY_SECONDS:
            continue
        assert getattr(W, name) is getattr(wsframework, name)
    assert issubclass(W.ConnectionRejected, wsframework.ConnectionRejected)
    for name in CONVERTING:
        assert getattr(W, name).__wrapped__ is getattr(wsframework, name)


def test_compat_servers_keep_the_sixty_second_handshake_timeout() -> None:
    assert issubclass(W.WebSocketServer, wsframework.WebSocketServer)
    for name in SIXTY_SECONDS:
        target, core = getattr(W, name), getattr(wsframework, name)
        if name[0].isupper():
            target, core = target.__init__, core.__init__
        assert inspect.signature(target).parameters["connect_timeout"].default == 60
        assert inspect.signature(core).parameters["connect_timeout"].default == 10


async def test_compat_server_built_with_options_keeps_them() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    async with listener:
        server = W.WebSocketServer(
            lambda request: request.reject(403),
            [listener],
            options=wsframework.ServerOptions(connect_timeout=3),
        )
        assert server.options.connect_timeout == 3
        default = W.WebSocketServer(lambda r: r.reject(403), [listener]).options
        assert (default.connect_timeout, default.send_timeout) == (60, 30)
        with pytest.raises(ValueError, match="not both: connect_timeout"):
            W.WebSocketServer(
                lambda r: r.reject(403),
                [listener],
                connect_timeout=5,
                options=wsframework.ServerOptions(),
            )


async def test_compat_clients_raise_the_compat_rejection() -> None:
    """A refusal through the compat functions is trio-websocket's form and still ours."""
    client, server = trio.testing.memory_stream_pair()

    async def refuse() -> None:
        await server.receive_some()
        await server.send_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 4\r\n\r\nnope")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(refuse)
        with pytest.raises(wsframework.ConnectionRejected) as info:
            await W.wrap_client_stream(nursery, client, "example.com", "/")
    assert type(info.value) is W.ConnectionRejected
    assert str(info.value) == "(403, ((b'content-length', b'4'),), b'nope')"


@pytest.mark.parametrize("name", CLASSES)
def test_classes_have_every_public_attribute(name: str) -> None:
    """Every public attribute of trio-websocket's classes exists on ours."""
    theirs = {attr for attr in dir(getattr(T, name)) if not attr.startswith("_")}
    ours = set(dir(getattr(W, name)))
    assert theirs - ours == set()


@pytest.mark.parametrize(
    ("cls", "attr"), [(cls, attr) for cls, attrs in PROPERTIES.items() for attr in attrs]
)
def test_properties_stay_properties(cls: str, attr: str) -> None:
    assert isinstance(getattr(getattr(T, cls), attr), property)
    assert isinstance(getattr(getattr(W, cls), attr), property)


@pytest.mark.parametrize("name", sorted(ADDED_PARAMETERS))
def test_signature_is_theirs_plus_documented_additions(name: str) -> None:
    theirs = _params(_lookup(T, name))
    ours = _params(_lookup(W, name))
    added = ADDED_PARAMETERS[name]
    # The additions are keyword-only, with the documented defaults ...
    extra = [p for p in ours if p.name in added]
    assert [p.name for p in extra] == list(added)
    for p in extra:
        assert p.kind is inspect.Parameter.KEYWORD_ONLY
        assert p.default == ADDED_DEFAULTS[p.name]
    # ... and come right after trio-websocket's parameters (before task_status, which the
    # nursery.start protocol passes by name).
    their_names = [p.name for p in theirs]
    tail = ["task_status"] if their_names[-1:] == ["task_status"] else []
    head = their_names[: len(their_names) - len(tail)]
    assert [p.name for p in ours] == head + list(added) + tail
    # Everything else is trio-websocket's: names, kinds, order and defaults, but for the two
    # documented different defaults (a 64 KiB read instead of 4 KiB, 16 queued messages not 1).
    kept = [p for p in ours if p.name not in added]
    assert [(p.name, p.kind) for p in kept] == [(p.name, p.kind) for p in theirs]
    for mine, orig in zip(kept, theirs, strict=True):
        expected = DIFFERENT_DEFAULTS.get(mine.name, (orig.default, orig.default))
        assert (orig.default, mine.default) == expected, mine.name


@pytest.mark.parametrize("name", SAME_SIGNATURE)
def test_method_signature_is_identical(name: str) -> None:
    theirs, ours = _lookup(T, name), _lookup(W, name)
    assert [(p.name, p.kind, p.default) for p in _params(ours)] == [
        (p.name, p.kind, p.default) for p in _params(theirs)
    ]
    assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(theirs)


def test_connection_class_is_the_interface_and_cannot_be_built() -> None:
    # Documented difference: connections come from accept()/open_websocket()/wrap_*; nobody
    # is meant to build one (trio-websocket's docstring discourages it too). Ours is the
    # interface both transports implement, so building it directly fails.
    theirs = [p.name for p in _params(T.WebSocketConnection)]
    assert "ws_connection" in theirs
    assert inspect.isabstract(W.WebSocketConnection)
    with pytest.raises(TypeError, match="abstract"):
        W.WebSocketConnection()


def test_receive_buffer_default_is_64_kib() -> None:
    for name in FUNCTIONS:
        default = inspect.signature(getattr(W, name)).parameters["receive_buffer_size"].default
        assert default == OUR_RECEIVE_BUFFER == 65536


# ------------------------------------------------------------------ exception ancestry


def test_exception_ancestry_matches() -> None:
    for sub in EXCEPTIONS:
        for base in [*EXCEPTIONS, "Exception"]:
            theirs_base = Exception if base == "Exception" else getattr(T, base)
            ours_base = Exception if base == "Exception" else getattr(W, base)
            assert issubclass(getattr(W, sub), ours_base) == issubclass(
                getattr(T, sub), theirs_base
            ), (sub, base)


@pytest.mark.parametrize(
    "name", ["ConnectionTimeout", "DisconnectionTimeout", "ConnectionRejected"]
)
def test_handshake_failures_are_handshake_errors(tw: ModuleType, name: str) -> None:
    cls = getattr(tw, name)
    assert issubclass(cls, tw.HandshakeError)
    assert issubclass(cls, Exception)
    assert not issubclass(cls, tw.ConnectionClosed)


def test_connection_closed_is_not_a_handshake_error(tw: ModuleType) -> None:
    assert issubclass(tw.ConnectionClosed, Exception)
    assert not issubclass(tw.ConnectionClosed, tw.HandshakeError)
    assert issubclass(tw.HandshakeError, Exception)


# ------------------------------------------------------------------ str and repr forms


@pytest.mark.parametrize(
    ("code", "reason", "name"),
    [
        (1000, None, "NORMAL_CLOSURE"),
        (1001, "bye", "GOING_AWAY"),
        (1006, None, "ABNORMAL_CLOSURE"),
        (1009, "big", "MESSAGE_TOO_BIG"),
        (1011, "oops", "INTERNAL_ERROR"),
        (1014, None, "RFC_RESERVED"),
        (2999, None, "RFC_RESERVED"),
        (3000, "x", "IANA_RESERVED"),
        (4999, "y", "PRIVATE_RESERVED"),
        (999, None, "INVALID_CODE"),
        (5000, None, "INVALID_CODE"),
    ],
)
def test_close_reason_forms(tw: ModuleType, code: int, reason: str | None, name: str) -> None:
    value = tw.CloseReason(code, reason)
    assert (value.code, value.name, value.reason) == (code, name, reason)
    expected = f"CloseReason<code={code}, name={name}, reason={reason}>"
    assert repr(value) == str(value) == expected
    with pytest.raises(AttributeError):
        value.code = 1000  # read-only


def test_connection_closed_forms(tw: ModuleType) -> None:
    reason = tw.CloseReason(1001, "going")
    exc = tw.ConnectionClosed(reason)
    assert exc.reason is reason
    assert exc.args == (reason,)
    assert repr(exc) == "ConnectionClosed<CloseReason<code=1001, name=GOING_AWAY, reason=going>>"
    assert str(exc) == "CloseReason<code=1001, name=GOING_AWAY, reason=going>"
    none = tw.ConnectionClosed(None)
    assert none.reason is None
    assert (repr(none), str(none)) == ("ConnectionClosed<None>", "None")


def test_connection_rejected_forms(tw: ModuleType) -> None:
    headers = ((b"content-type", b"text/plain"),)
    exc = tw.ConnectionRejected(404, headers, b"gone")
    assert (exc.status_code, exc.headers, exc.body) == (404, headers, b"gone")
    assert exc.args == (404, headers, b"gone")
    assert repr(exc) == "ConnectionRejected<status_code=404>"
    assert str(exc) == "(404, ((b'content-type', b'text/plain'),), b'gone')"
    assert tw.ConnectionRejected(500, (), None).body is None


def test_bare_handshake_exceptions_forms(tw: ModuleType) -> None:
    for name in ("HandshakeError", "ConnectionTimeout", "DisconnectionTimeout"):
        exc = getattr(tw, name)()
        assert (str(exc), repr(exc)) == ("", f"{name}()")


@pytest.mark.parametrize(
    ("address", "port", "is_ssl", "url", "shown"),
    [
        ("127.0.0.1", 80, False, "ws://127.0.0.1", "127.0.0.1"),
        ("127.0.0.1", 443, True, "wss://127.0.0.1", "127.0.0.1"),
        ("127.0.0.1", 443, False, "ws://127.0.0.1:443", "127.0.0.1"),
        ("127.0.0.1", 80, True, "wss://127.0.0.1:80", "127.0.0.1"),
        ("10.0.0.1", 8000, False, "ws://10.0.0.1:8000", "10.0.0.1"),
        ("::1", 8000, False, "ws://[::1]:8000", "::1"),
        ("::1", 443, True, "wss://[::1]", "::1"),
        ("2001:db8::1", 80, False, "ws://[2001:db8::1]", "2001:db8::1"),
        (2130706433, 8080, False, "ws://127.0.0.1:8080", "127.0.0.1"),
    ],
)
def test_endpoint_forms(
    tw: ModuleType, address: str | int, port: int, is_ssl: bool, url: str, shown: str
) -> None:
    endpoint = tw.Endpoint(address, port, is_ssl)
    assert endpoint.address == ipaddress.ip_address(address)
    assert (endpoint.port, endpoint.is_ssl) == (port, is_ssl)
    assert endpoint.url == url
    assert repr(endpoint) == f'Endpoint(address="{shown}", port={port}, is_ssl={is_ssl})'


def test_endpoint_rejects_a_non_ip_address(tw: ModuleType) -> None:
    with pytest.raises(ValueError):
        tw.Endpoint("localhost", 80, False)


# ------------------------------------------------------------------ URL handling


@pytest.mark.parametrize(
    ("url", "with_context", "message"),
    [
        ("http://127.0.0.1/", False, 'WebSocket URL scheme must be "ws:" or "wss:"'),
        ("https://127.0.0.1/", True, 'WebSocket URL scheme must be "ws:" or "wss:"'),
        ("127.0.0.1:8000", False, 'WebSocket URL scheme must be "ws:" or "wss:"'),
        ("ws://127.0.0.1/", True, "SSL context must be None for ws: URL scheme"),
        ("ws:///path", False, "URL host must not be None"),
    ],
)
async def test_bad_urls_raise_value_error(
    tw: ModuleType, nursery: trio.Nursery, url: str, with_context: bool, message: str
) -> None:
    context = ssl.create_default_context() if with_context else None
    with pytest.raises(ValueError, match=re.escape(message)):
        tw.open_websocket_url(url, context)  # raised by the call, before entering
    with pytest.raises(ValueError, match=re.escape(message)):
        await tw.connect_websocket_url(nursery, url, context)


async def test_bad_use_ssl_is_a_type_error(tw: ModuleType) -> None:
    with (
        trio.fail_after(TIMEOUT),
        pytest.raises(TypeError, match=r"must be bool or ssl\.SSLContext"),
    ):
        async with tw.open_websocket("127.0.0.1", 1, "/", use_ssl="yes"):
            pass  # pragma: no cover


# ============================================================================ behaviour, both


async def test_ping_payload_in_flight_and_skipped_pongs(
    tw: ModuleType, nursery: trio.Nursery
) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    peer = ScriptedPeer(server_stream, ConnectionType.SERVER)

    async def accept_peer() -> None:
        await peer.expect(Request)
        await peer.send(AcceptConnection())

    with trio.fail_after(TIMEOUT):
        nursery.start_soon(accept_peer)
        ws = await tw.wrap_client_stream(nursery, client_stream, "example.com", "/")
        done: list[bytes] = []

        async def ping(payload: bytes) -> None:
            await ws.ping(payload)
            done.append(payload)

        nursery.start_soon(ping, b"first")
        assert (await peer.expect(Ping)).payload == b"first"
        with pytest.raises(ValueError, match="already in flight"):
            await ws.ping(b"first")
        nursery.start_soon(ping, b"second")
        assert (await peer.expect(Ping)).payload == b"second"
        # One pong for the later ping also answers the earlier one.
        await peer.send(Pong(payload=b"second"))
        while len(done) < 2:
            await trio.testing.wait_all_tasks_blocked()
        assert sorted(done) == [b"first", b"second"]


async def test_wrap_streams_over_memory(tw: ModuleType, nursery: trio.Nursery) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    seen: dict[str, Any] = {}

    async def server_side() -> None:
        request = await tw.wrap_server_stream(nursery, server_stream)
        seen["request"] = (request.path, request.proposed_subprotocols, request.local)
        ws = await request.accept(subprotocol="rev")
        seen["server"] = ws
        while True:
            try:
                message = await ws.get_message()
            except tw.ConnectionClosed:
                break
            await ws.send_message(message[::-1])

    with trio.fail_after(TIMEOUT):
        nursery.start_soon(server_side)
        ws = await tw.wrap_client_stream(
            nursery, client_stream, "example.com", "/mem?x", subprotocols=["rev"]
        )
        assert (ws.path, ws.subprotocol, ws.is_client) == ("/mem?x", "rev", True)
        await ws.send_message("abc")
        assert await ws.get_message() == "cba"
        # A stream without a socket has no Endpoint: local/remote are its repr.
        assert isinstance(ws.local, str)
        assert isinstance(ws.remote, str)
        await ws.aclose()
        assert ws.closed.code == 1000
    path, proposed, local = seen["request"]
    assert (path, proposed) == ("/mem?x", ("rev",))
    assert isinstance(local, str)
    assert seen["server"].is_server


# ============================================================================ our differences
#
# trio-websocket's behaviour in each case is described in docs/compat.md; these tests pin ours.


async def test_closed_is_the_code_sent_by_a_local_close(nursery: trio.Nursery) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    peer = ScriptedPeer(server_stream, ConnectionType.SERVER)
    in_flight: list[Any] = []
    ws: Any = None

    async def peer_side() -> None:
        await peer.expect(Request)
        await peer.send(AcceptConnection())
        event = await peer.expect(CloseConnection)
        in_flight.append((event.code, event.reason, ws.closed))
        await peer.send(CloseConnection(code=1000))  # answers with a different code

    with trio.fail_after(TIMEOUT):
        nursery.start_soon(peer_side)
        ws = await W.wrap_client_stream(nursery, client_stream, "example.com", "/")
        await ws.aclose(4000, "bye")
    [(code, reason, closed_then)] = in_flight
    assert (code, reason) == (4000, "bye")
    assert closed_then == W.CloseReason(4000, "bye")  # trio-websocket: CloseReason(1000, None)
    assert ws.closed == W.CloseReason(4000, "bye")  # trio-websocket: the peer's 1000


async def test_ping_raises_when_the_connection_closes_first(nursery: trio.Nursery) -> None:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    peer = ScriptedPeer(server_stream, ConnectionType.SERVER)

    async def peer_side() -> None:
        await peer.expect(Request)
        await peer.send(AcceptConnection())
        await peer.expect(Ping)  # never answered
        await peer.send(TextMessage(data="pending"))
        await peer.send(CloseConnection(code=4001, reason="gone"))

    with trio.fail_after(TIMEOUT):
        nursery.start_soon(peer_side)
        ws = await W.wrap_client_stream(nursery, client_stream, "example.com", "/")
        with pytest.raises(W.ConnectionClosed) as info:
            await ws.ping(b"unanswered")  # trio-websocket waits here forever
        assert info.value.reason == W.CloseReason(4001, "gone")
        assert await ws.get_message() == "pending"
