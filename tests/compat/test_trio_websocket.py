"""``wsframework.compat.trio_websocket`` against trio-websocket 0.12.2 itself.

Three parts:

* the API surface, compared with the installed ``trio_websocket`` by introspection: names,
  signatures (names, kinds, defaults), attributes, exception ancestry, ``str``/``repr`` forms;
* behaviour tests that run the same trio-websocket program against BOTH implementations
  (the ``tw`` fixture), client and server from the same module, over loopback TCP or memory
  streams, plus interop of one implementation's client with the other's server;
* wsframework's own behaviour where it deliberately differs from trio-websocket (a defect of
  trio-websocket that its docs do not promise); each one is a row in ``docs/compat.md``.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import ipaddress
import logging
import re
import ssl
import warnings
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from types import ModuleType
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket as T
from wsproto import ConnectionType, WSConnection
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

from ..conftest import upgrade_request
from ..peers import ScriptedPeer

TIMEOUT = 10

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
    "ping_timeout": None,
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


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    """Collect after each test, so a leaked socket (ResourceWarning) is blamed on its test."""
    yield
    gc.collect()


@pytest.fixture(
    params=["trio_websocket", "wsframework.compat.trio_websocket"],
    ids=["trio-websocket", "wsframework"],
)
def tw(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """The module a trio-websocket program imports: the original, or ours."""
    module = importlib.import_module(request.param)
    if module is W:
        yield module  # ours must not leak: a ResourceWarning fails the test
        return
    # trio-websocket never closes the client socket when the server closes first or rejects
    # the handshake (docs/compat.md), so only it is excused from ResourceWarning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        yield module
        gc.collect()


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


def test_compat_names_are_wsframework_core_objects() -> None:
    # One exception tree: `except wsframework.ConnectionClosed` also catches the compat one.
    for name in PUBLIC_NAMES:
        assert getattr(W, name) is getattr(wsframework, name)


@pytest.mark.parametrize("name", CLASSES)
def test_classes_have_every_public_attribute(name: str) -> None:
    """KNOWN FAILURE (wsframework bug): WebSocketConnection lacks the CONNECTION_ID counter."""
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
    # Everything else is trio-websocket's: names, kinds, order and defaults; the one different
    # default is receive_buffer_size (64 KiB instead of 4 KiB).
    kept = [p for p in ours if p.name not in added]
    assert [(p.name, p.kind) for p in kept] == [(p.name, p.kind) for p in theirs]
    for mine, orig in zip(kept, theirs, strict=True):
        if mine.name == "receive_buffer_size":
            assert (orig.default, mine.default) == (THEIR_RECEIVE_BUFFER, OUR_RECEIVE_BUFFER)
        else:
            assert mine.default == orig.default, mine.name


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


Handler = Callable[[Any], Awaitable[None]]


async def start_server(
    tw: ModuleType, nursery: trio.Nursery, handler: Handler, **options: Any
) -> Any:
    server = await nursery.start(
        partial(tw.serve_websocket, handler, "127.0.0.1", 0, None, **options)
    )
    return server


def echo_handler(tw: ModuleType) -> Handler:
    """trio-websocket's own style: loop on get_message() until ConnectionClosed."""

    async def handler(request: Any) -> None:
        ws = await request.accept()
        while True:
            try:
                message = await ws.get_message()
                await ws.send_message(message)
            except tw.ConnectionClosed:
                return

    return handler


class _Accepted:
    """A request whose accept() returns an already accepted connection."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws

    async def accept(self) -> Any:
        return self._ws


async def test_echo_text_and_bytes(tw: ModuleType, nursery: trio.Nursery) -> None:
    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, echo_handler(tw))
        async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            for message in ("héllo", b"\x00\xff", "", b"", "x" * 100_000, b"y" * 100_000):
                await ws.send_message(message)
                reply = await ws.get_message()
                assert type(reply) is type(message)
                assert reply == message


async def test_open_websocket_url_paths(tw: ModuleType, nursery: trio.Nursery) -> None:
    paths: list[str] = []

    async def handler(request: Any) -> None:
        paths.append(request.path)
        await echo_handler(tw)(request)

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler)
        base = f"ws://127.0.0.1:{server.port}"
        for url in (base, base + "/", base + "/a/b?x=1&y=2", base + "?q"):
            async with tw.open_websocket_url(url) as ws:
                await ws.send_message(url)
                assert await ws.get_message() == url
                assert ws.path == paths[-1]
    assert paths == ["/", "/", "/a/b?x=1&y=2", "/?q"]


async def test_handshake_attributes_on_both_sides(tw: ModuleType, nursery: trio.Nursery) -> None:
    seen: dict[str, Any] = {}
    ready = trio.Event()

    async def handler(request: Any) -> None:
        seen["request"] = (
            request.path,
            list(request.headers),
            request.proposed_subprotocols,
            request.local,
            request.remote,
        )
        ws = await request.accept(subprotocol="v2", extra_headers=[(b"x-server", b"s")])
        seen["ws"] = ws
        seen["server_closed"] = ws.closed
        ready.set()
        try:
            await ws.get_message()
        except tw.ConnectionClosed:
            seen["after"] = ws.closed

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler)
        async with tw.open_websocket(
            "127.0.0.1",
            server.port,
            "/chat?room=1",
            use_ssl=False,
            subprotocols=["v1", "v2"],
            extra_headers=[(b"x-client", b"c")],
        ) as ws:
            await ready.wait()
            # client side
            assert ws.path == "/chat?room=1"
            assert ws.subprotocol == "v2"
            assert (b"x-server", b"s") in ws.handshake_headers
            assert isinstance(ws.handshake_headers, tuple)
            assert (ws.is_client, ws.is_server) == (True, False)
            assert isinstance(ws.local, tw.Endpoint)
            assert isinstance(ws.remote, tw.Endpoint)
            assert ws.local.address == ipaddress.ip_address("127.0.0.1")
            assert (ws.remote.port, ws.remote.is_ssl) == (server.port, False)
            assert re.fullmatch(r"client-\d+", str(ws))
            assert ws.closed is None
            # server side
            path, headers, proposed, local, remote = seen["request"]
            assert path == "/chat?room=1"
            assert (b"x-client", b"c") in headers
            assert (b"upgrade", b"websocket") in headers
            assert all(name == name.lower() for name, _ in headers)
            assert proposed == ("v1", "v2")
            assert isinstance(local, tw.Endpoint)
            assert (local.port, remote.port) == (server.port, ws.local.port)
            server_ws = seen["ws"]
            assert (server_ws.path, server_ws.subprotocol) == ("/chat?room=1", "v2")
            assert (server_ws.is_client, server_ws.is_server) == (False, True)
            assert (server_ws.local.port, server_ws.remote.port) == (server.port, ws.local.port)
            assert re.fullmatch(r"server-\d+", str(server_ws))
            assert seen["server_closed"] is None
        assert ws.closed is not None
        assert ws.closed.code == 1000
    assert seen["after"].code == 1000


async def test_no_subprotocol_when_none_is_chosen(tw: ModuleType, nursery: trio.Nursery) -> None:
    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, echo_handler(tw))
        async with tw.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=False, subprotocols=["v1"]
        ) as ws:
            assert ws.subprotocol is None
            await ws.send_message("ok")
            assert await ws.get_message() == "ok"


async def test_local_close_is_idempotent(tw: ModuleType, nursery: trio.Nursery) -> None:
    server_saw: list[Any] = []
    done = trio.Event()

    async def handler(request: Any) -> None:
        ws = await request.accept()
        try:
            await ws.get_message()
        except tw.ConnectionClosed as exc:
            server_saw.append(exc.reason)
        done.set()

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler)
        async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            await ws.aclose()
            first = ws.closed
            assert (first.code, first.name) == (1000, "NORMAL_CLOSURE")
            await ws.aclose()
            await ws.aclose(4000, "again")
            assert ws.closed is first
            for call in (ws.get_message, partial(ws.send_message, "x"), ws.ping, ws.pong):
                with pytest.raises(tw.ConnectionClosed) as info:
                    await call()
                assert info.value.reason.code == 1000
        await done.wait()
    assert [reason.code for reason in server_saw] == [1000]


async def test_remote_close_code_and_reason(tw: ModuleType, nursery: trio.Nursery) -> None:
    server_closed: list[Any] = []
    done = trio.Event()

    async def handler(request: Any) -> None:
        ws = await request.accept()
        await ws.aclose(4000, "bye")
        server_closed.append(ws.closed)
        done.set()

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler)
        async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            with pytest.raises(tw.ConnectionClosed) as info:
                await ws.get_message()
            reason = info.value.reason
            assert (reason.code, reason.name, reason.reason) == (4000, "PRIVATE_RESERVED", "bye")
            assert repr(ws.closed) == "CloseReason<code=4000, name=PRIVATE_RESERVED, reason=bye>"
            with pytest.raises(tw.ConnectionClosed):
                await ws.send_message("late")
        await done.wait()
    # The client echoed the code, so both implementations report 4000 on the server too.
    assert [(r.code, r.reason) for r in server_closed] == [(4000, "bye")]


async def test_close_without_reason_has_reason_none(tw: ModuleType, nursery: trio.Nursery) -> None:
    """KNOWN FAILURE (wsframework bug): a close frame without reason gives reason '' not None."""
    seen: list[Any] = []
    done = trio.Event()

    async def handler(request: Any) -> None:
        ws = await request.accept()
        try:
            await ws.get_message()
        except tw.ConnectionClosed as exc:
            seen.append(exc)
        done.set()

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler)
        async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
            pass  # leaving the block sends a close frame with code 1000 and no reason
        await done.wait()
    [exc] = seen
    assert exc.reason.reason is None
    assert repr(exc) == "ConnectionClosed<CloseReason<code=1000, name=NORMAL_CLOSURE, reason=None>>"


async def test_pending_messages_survive_a_remote_close(
    tw: ModuleType, nursery: trio.Nursery
) -> None:
    server_done = trio.Event()

    async def handler(request: Any) -> None:
        ws = await request.accept()
        await ws.send_message("one")
        await ws.send_message(b"two")
        await ws.aclose(1001, "leaving")
        server_done.set()

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler)
        async with tw.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=False, message_queue_size=4
        ) as ws:
            await server_done.wait()  # the closing handshake is complete
            assert ws.closed is not None
            assert ws.closed.code == 1001
            assert await ws.get_message() == "one"
            assert await ws.get_message() == b"two"
            for _ in range(2):
                with pytest.raises(tw.ConnectionClosed) as info:
                    await ws.get_message()
                assert (info.value.reason.code, info.value.reason.reason) == (1001, "leaving")


async def test_reject_raises_connection_rejected(tw: ModuleType, nursery: trio.Nursery) -> None:
    async def handler(request: Any) -> None:
        if request.path == "/empty":
            await request.reject(404)
        else:
            await request.reject(403, extra_headers=[(b"x-why", b"private")], body=b"nope")

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler)
        with pytest.raises(tw.ConnectionRejected) as info:
            async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                pass  # pragma: no cover
        exc = info.value
        assert isinstance(exc, tw.HandshakeError)
        assert exc.status_code == 403
        assert isinstance(exc.headers, tuple)
        assert (b"x-why", b"private") in exc.headers
        assert (b"content-length", b"4") in exc.headers
        assert exc.body == b"nope"
        assert repr(exc) == "ConnectionRejected<status_code=403>"

        with pytest.raises(tw.ConnectionRejected) as info:
            async with tw.open_websocket("127.0.0.1", server.port, "/empty", use_ssl=False):
                pass  # pragma: no cover
        assert (info.value.status_code, info.value.body) == (404, b"")
        assert (b"content-length", b"0") in info.value.headers


async def test_ping_and_pong(tw: ModuleType, nursery: trio.Nursery) -> None:
    server_pinged = trio.Event()

    async def handler(request: Any) -> None:
        ws = await request.accept()
        await ws.ping(b"from-server")
        server_pinged.set()
        await echo_handler(tw)(_Accepted(ws))

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler)
        async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            await ws.ping(b"abc")
            await ws.ping()
            await ws.ping(None)
            await ws.pong(b"unsolicited")
            await ws.pong()
            await server_pinged.wait()  # our reader answered the server's ping
            await ws.send_message("still open")
            assert await ws.get_message() == "still open"


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


async def test_message_too_big_closes_with_1009(tw: ModuleType, nursery: trio.Nursery) -> None:
    server_saw: list[Any] = []

    async def handler(request: Any) -> None:
        ws = await request.accept()
        try:
            await ws.get_message()
        except tw.ConnectionClosed as exc:
            server_saw.append(exc.reason.code)

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler, max_message_size=10)
        async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            await ws.send_message("x" * 11)
            with pytest.raises(tw.ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason.code == 1009
    assert server_saw == [1009]


async def test_user_exceptions_come_out_unwrapped(tw: ModuleType, nursery: trio.Nursery) -> None:
    class Boom(Exception):
        pass

    async def closing_handler(request: Any) -> None:
        ws = await request.accept()
        await ws.aclose(4001, "go away")

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, echo_handler(tw))
        with pytest.raises(Boom) as boom:
            async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                raise Boom("mine")
        assert type(boom.value) is Boom
        assert str(boom.value) == "mine"

        with pytest.raises(KeyError):
            async with tw.open_websocket_url(f"ws://127.0.0.1:{server.port}/"):
                {}["missing"]

        closing = await start_server(tw, nursery, closing_handler)
        with pytest.raises(tw.ConnectionClosed) as closed:
            async with tw.open_websocket("127.0.0.1", closing.port, "/", use_ssl=False) as ws:
                await ws.get_message()
        assert type(closed.value) is tw.ConnectionClosed
        assert closed.value.reason.code == 4001


async def test_refused_connection_is_a_handshake_error(
    tw: ModuleType, nursery: trio.Nursery
) -> None:
    # A bound socket that is not listening: connecting to it is refused.
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with trio.fail_after(TIMEOUT):
            with pytest.raises(tw.HandshakeError) as info:
                async with tw.open_websocket("127.0.0.1", port, "/", use_ssl=False):
                    pass  # pragma: no cover
            assert type(info.value) is tw.HandshakeError
            assert isinstance(info.value.__cause__, OSError)
            with pytest.raises(tw.HandshakeError):
                async with tw.open_websocket_url(f"ws://127.0.0.1:{port}/"):
                    pass  # pragma: no cover
            # connect_websocket has no wrapping: the OSError itself.
            with pytest.raises(OSError):
                await tw.connect_websocket(nursery, "127.0.0.1", port, "/", use_ssl=False)


async def test_disconnect_timeout(tw: ModuleType, nursery: trio.Nursery) -> None:
    never = trio.Event()

    async def mute_server(stream: trio.SocketStream) -> None:
        # Completes the opening handshake, then never reads again.
        ws = WSConnection(ConnectionType.SERVER)
        while True:
            ws.receive_data(await stream.receive_some(65536))
            if any(isinstance(event, Request) for event in ws.events()):
                break
        await stream.send_all(ws.send(AcceptConnection()))
        await never.wait()

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await nursery.start(trio.serve_listeners, mute_server, listeners)
    with trio.fail_after(TIMEOUT):
        with pytest.raises(tw.DisconnectionTimeout) as info:
            async with tw.open_websocket(
                "127.0.0.1", port, "/", use_ssl=False, disconnect_timeout=0.2
            ) as ws:
                await ws.send_message("unread")
        assert isinstance(info.value, tw.HandshakeError)


class _NotASocketListener(trio.abc.Listener[trio.abc.Stream]):
    async def accept(self) -> trio.abc.Stream:  # pragma: no cover - never served
        raise trio.ClosedResourceError

    async def aclose(self) -> None:  # pragma: no cover
        pass


async def test_server_port_listeners_and_run(tw: ModuleType, nursery: trio.Nursery) -> None:
    async with trio.open_nursery() as user_nursery:
        with trio.fail_after(TIMEOUT):
            server = await start_server(tw, nursery, echo_handler(tw), handler_nursery=user_nursery)
            assert isinstance(server, tw.WebSocketServer)
            assert server.port > 0
            [listener] = server.listeners
            assert isinstance(listener, tw.Endpoint)
            assert repr(listener) == (
                f'Endpoint(address="127.0.0.1", port={server.port}, is_ssl=False)'
            )
            assert listener.url == f"ws://127.0.0.1:{server.port}"
            async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
                await ws.send_message("via handler_nursery")
                assert await ws.get_message() == "via handler_nursery"

            # WebSocketServer directly, on two listeners, started with nursery.start(run).
            two = await trio.open_tcp_listeners(0, host="127.0.0.1")
            two += await trio.open_tcp_listeners(0, host="127.0.0.1")
            multi = tw.WebSocketServer(echo_handler(tw), two)
            assert await nursery.start(multi.run) is multi
            ports = [endpoint.port for endpoint in multi.listeners]
            assert len(ports) == 2
            with pytest.raises(RuntimeError, match="more than 1 listener"):
                _ = multi.port
            for port in ports:
                async with tw.open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
                    await ws.send_message(str(port))
                    assert await ws.get_message() == str(port)
        user_nursery.cancel_scope.cancel()

    other = _NotASocketListener()
    odd = tw.WebSocketServer(echo_handler(tw), [other])
    assert odd.listeners == [repr(other)]
    with pytest.raises(RuntimeError, match="This socket does not have a port"):
        _ = odd.port
    with pytest.raises(ValueError, match=r"Listeners must contain at least one item\."):
        tw.WebSocketServer(echo_handler(tw), [])


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


async def test_connect_websocket_with_a_user_nursery(tw: ModuleType, nursery: trio.Nursery) -> None:
    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, echo_handler(tw))
        async with trio.open_nursery() as user_nursery:
            ws = await tw.connect_websocket(
                user_nursery, "127.0.0.1", server.port, "/n", use_ssl=False
            )
            assert isinstance(ws, tw.WebSocketConnection)
            await ws.send_message("n")
            assert await ws.get_message() == "n"
            url_ws = await tw.connect_websocket_url(user_nursery, f"ws://127.0.0.1:{server.port}/u")
            assert url_ws.path == "/u"
            await url_ws.send_message(b"u")
            assert await url_ws.get_message() == b"u"
            await ws.aclose()
            await url_ws.aclose()
        # The user nursery exits by itself: the background tasks ended with the connections.
        assert ws.closed.code == url_ws.closed.code == 1000


async def test_send_message_rejects_other_types_with_value_error(
    tw: ModuleType, nursery: trio.Nursery
) -> None:
    """KNOWN FAILURE (wsframework bug): ours raises TypeError, trio-websocket ValueError."""
    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, echo_handler(tw))
        async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            with pytest.raises(ValueError, match="message must be str or bytes"):
                await ws.send_message(123)
            await ws.send_message("still fine")
            assert await ws.get_message() == "still fine"


@pytest.mark.parametrize(
    ("client_impl", "server_impl"),
    [(T, W), (W, T)],
    ids=["trio-websocket-client/wsframework-server", "wsframework-client/trio-websocket-server"],
)
async def test_interoperates_with_the_other_implementation(
    nursery: trio.Nursery, client_impl: ModuleType, server_impl: ModuleType
) -> None:
    with trio.fail_after(TIMEOUT):
        server = await start_server(server_impl, nursery, echo_handler(server_impl))
        async with client_impl.open_websocket(
            "127.0.0.1", server.port, "/x", use_ssl=False, subprotocols=["a"]
        ) as ws:
            for message in ("text", b"bytes", "z" * 70_000):
                await ws.send_message(message)
                assert await ws.get_message() == message
            await ws.ping(b"p")


# ============================================================================ our differences
#
# trio-websocket's behaviour in each case is described in docs/compat.md; these tests pin ours.


async def start_ours(nursery: trio.Nursery, handler: Handler, **options: Any) -> Any:
    return await start_server(W, nursery, handler, **options)


async def test_handler_error_closes_1011_and_the_server_keeps_serving(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(request: Any) -> None:
        if request.path == "/early":
            raise RuntimeError("before accept")
        ws = await request.accept()
        if request.path == "/late":
            raise RuntimeError("after accept")
        await echo_handler(W)(_Accepted(ws))

    caplog.set_level(logging.ERROR, logger="wsframework")
    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, handler)
        async with W.open_websocket("127.0.0.1", server.port, "/late", use_ssl=False) as ws:
            with pytest.raises(W.ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason.code == 1011
        with pytest.raises(W.ConnectionRejected) as rejected:
            async with W.open_websocket("127.0.0.1", server.port, "/early", use_ssl=False):
                pass  # pragma: no cover
        assert rejected.value.status_code == 500
        async with W.open_websocket("127.0.0.1", server.port, "/fine", use_ssl=False) as ws:
            await ws.send_message("server still up")
            assert await ws.get_message() == "server still up"
    errors = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert len(errors) == 2


async def test_accepting_an_unoffered_subprotocol_is_a_value_error(
    nursery: trio.Nursery,
) -> None:
    errors: list[BaseException] = []

    async def handler(request: Any) -> None:
        try:
            await request.accept(subprotocol="not-offered")
        except ValueError as exc:
            errors.append(exc)
        ws = await request.accept(subprotocol="chat")  # the request is still pending
        try:
            await request.accept()
        except RuntimeError as exc:
            errors.append(exc)
        await echo_handler(W)(_Accepted(ws))

    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, handler)
        async with W.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=False, subprotocols=["chat"]
        ) as ws:
            assert ws.subprotocol == "chat"
            await ws.send_message("hi")
            assert await ws.get_message() == "hi"
    assert [type(e) for e in errors] == [ValueError, RuntimeError]
    assert "not offered" in str(errors[0])


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


async def _raw_exchange(port: int, request: bytes, frames: bytes = b"") -> tuple[bytes, bytes]:
    """Send a handshake (and frames after its response); return (response head, rest to EOF)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        data = bytearray()
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(65536)
            if not chunk:
                break
            data += chunk
        if frames:
            await stream.send_all(frames)
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    return head, rest


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (upgrade_request(http=b"HTTP/1.0"), b"400"),
        (upgrade_request(key=b"not-base64-16-bytes"), b"400"),
        (upgrade_request(version=b"8"), b"426"),
    ],
    ids=["http-1.0", "bad-key", "version-8"],
)
async def test_malformed_handshakes_are_refused(
    nursery: trio.Nursery, request_bytes: bytes, status: bytes
) -> None:
    called: list[Any] = []

    async def handler(request: Any) -> None:  # pragma: no cover - must not run
        called.append(request)

    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, handler)
        head, _ = await _raw_exchange(server.port, request_bytes)
    assert head.startswith(b"HTTP/1.1 " + status)
    assert called == []


def _masked(opcode_byte: int, payload: bytes) -> bytes:
    assert len(payload) < 126
    return bytes([opcode_byte, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        (b"\x81\x02hi", 1002),  # unmasked frame from a client
        (_masked(0x81, b"\xff\xfe"), 1007),  # invalid UTF-8 in a text message
        (_masked(0x82, b"a" * 16), 1009),  # larger than max_message_size=10
        (_masked(0x8B, b""), 1002),  # reserved opcode
    ],
    ids=["unmasked", "bad-utf8", "too-big", "reserved-opcode"],
)
async def test_protocol_errors_get_a_close_frame_then_eof(
    nursery: trio.Nursery, frames: bytes, code: int
) -> None:
    seen: list[int] = []
    done = trio.Event()

    async def handler(request: Any) -> None:
        ws = await request.accept()
        try:
            await ws.get_message()
        except W.ConnectionClosed as exc:
            seen.append(exc.reason.code)
        done.set()

    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, handler, max_message_size=10, compression=None)
        head, rest = await _raw_exchange(server.port, upgrade_request(), frames)
        await done.wait()
    assert head.startswith(b"HTTP/1.1 101")
    # A server frame: FIN+close opcode, unmasked short length, then the 2-byte code.
    assert rest[0] == 0x88
    assert int.from_bytes(rest[2:4], "big") == code
    assert len(rest) == 2 + rest[1]  # nothing after the close frame: then EOF
    assert seen == [code]


async def test_a_request_left_pending_is_answered_403(nursery: trio.Nursery) -> None:
    async def handler(request: Any) -> None:
        return

    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, handler)
        with pytest.raises(W.ConnectionRejected) as info:
            async with W.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                pass  # pragma: no cover
    assert info.value.status_code == 403
    assert b"did not accept" in info.value.body


async def test_server_side_handshake_headers_and_full_request_headers(
    nursery: trio.Nursery,
) -> None:
    seen: dict[str, Any] = {}

    async def handler(request: Any) -> None:
        seen["request"] = list(request.headers)
        ws = await request.accept()
        seen["handshake"] = ws.handshake_headers
        await echo_handler(W)(_Accepted(ws))

    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, handler)
        async with W.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=False, subprotocols=["a", "b"]
        ) as ws:
            await ws.send_message("sync")
            assert await ws.get_message() == "sync"
    names = [name for name, _ in seen["request"]]
    # trio-websocket's request.headers omit these three, and its server-side
    # handshake_headers is always ().
    assert b"host" in names
    assert (b"sec-websocket-protocol", b"a, b") in seen["request"]
    assert b"sec-websocket-extensions" in names
    assert seen["handshake"] == tuple(seen["request"])


async def test_permessage_deflate_is_on_by_default(nursery: trio.Nursery) -> None:
    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, echo_handler(W))
        async with W.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            assert ws.compression is True
            await ws.send_message("a" * 10_000)
            assert await ws.get_message() == "a" * 10_000
        async with W.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=False, compression=None
        ) as ws:
            assert ws.compression is False
        # trio-websocket never offers it, so a trio-websocket client gets none.
        async with T.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as tws:
            assert not any(name == b"sec-websocket-extensions" for name, _ in tws.handshake_headers)
            await tws.send_message("plain")
            assert await tws.get_message() == "plain"


async def test_send_message_accepts_any_bytes_like(nursery: trio.Nursery) -> None:
    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, echo_handler(W))
        async with W.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            await ws.send_message(bytearray(b"ba"))
            assert await ws.get_message() == b"ba"
            await ws.send_message(memoryview(b"mv"))
            assert await ws.get_message() == b"mv"


async def test_a_frame_pipelined_behind_the_handshake_is_delivered(
    nursery: trio.Nursery,
) -> None:
    got: list[str] = []
    done = trio.Event()

    async def handler(request: Any) -> None:
        ws = await request.accept()
        got.append(await ws.get_message())
        done.set()

    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, handler)
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with stream:
            await stream.send_all(upgrade_request() + _masked(0x81, b"early"))
            await done.wait()
    assert got == ["early"]


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2000, 5000])
async def test_aclose_with_an_unsendable_code_is_a_value_error(
    nursery: trio.Nursery, code: int
) -> None:
    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, echo_handler(W))
        async with W.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            with pytest.raises(ValueError, match="cannot be sent"):
                await ws.aclose(code)
            assert ws.closed is None  # nothing was sent; the connection is still open
            await ws.send_message("open")
            assert await ws.get_message() == "open"


async def test_connect_timeout_covers_the_whole_handshake() -> None:
    # A listening socket nobody accepts on: TCP connects (kernel backlog), nothing answers.
    # trio-websocket waits here until the server closes the TCP connection.
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        port = sock.getsockname()[1]
        with trio.fail_after(TIMEOUT):
            with pytest.raises(W.ConnectionTimeout) as info:
                async with W.open_websocket(
                    "127.0.0.1", port, "/", use_ssl=False, connect_timeout=0.2
                ):
                    pass  # pragma: no cover
            assert isinstance(info.value, W.HandshakeError)
            assert type(info.value) is W.ConnectionTimeout
            with pytest.raises(W.ConnectionTimeout):
                async with W.open_websocket_url(f"ws://127.0.0.1:{port}/", connect_timeout=0.2):
                    pass  # pragma: no cover


async def test_handshake_error_says_where_it_failed() -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with trio.fail_after(TIMEOUT), pytest.raises(W.HandshakeError) as info:
            async with W.open_websocket("127.0.0.1", port, "/", use_ssl=False):
                pass  # pragma: no cover
    assert f"127.0.0.1:{port}" in str(info.value)  # trio-websocket: str() is ""
    assert isinstance(info.value.__cause__, OSError)
