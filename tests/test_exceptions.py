"""The one exception tree (wsframework.exceptions): ancestry, constructors, forms, the drawing."""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path
from typing import Any

import pytest
import trio_websocket

from wsframework import exceptions
from wsframework.exceptions import (
    BrokerError,
    BrokerUnavailable,
    ConnectionClosed,
    ConnectionRejected,
    ConnectionTimeout,
    DisconnectionTimeout,
    HandshakeError,
    InvalidHandshake,
    InvalidMessage,
    MessageTypeError,
    NoMatchFound,
    RouteDefinitionError,
    UpgradeRequired,
    WebSocketError,
)
from wsframework.protocol.close import CloseReason

CLASSES = [getattr(exceptions, name) for name in exceptions.__all__]

# Every class's direct bases: its parent in the tree first, then the stdlib exceptions whose
# meaning it shares (so existing ``except ValueError`` code keeps catching it).
BASES: dict[type[BaseException], tuple[type[BaseException], ...]] = {
    WebSocketError: (Exception,),
    HandshakeError: (WebSocketError,),
    ConnectionRejected: (HandshakeError,),
    ConnectionTimeout: (HandshakeError,),
    DisconnectionTimeout: (HandshakeError,),
    InvalidHandshake: (HandshakeError,),
    UpgradeRequired: (InvalidHandshake,),
    ConnectionClosed: (WebSocketError,),
    InvalidMessage: (WebSocketError, ValueError),
    MessageTypeError: (WebSocketError, TypeError, ValueError),
    RouteDefinitionError: (WebSocketError, ValueError),
    NoMatchFound: (WebSocketError, LookupError),
    BrokerError: (WebSocketError,),
    BrokerUnavailable: (BrokerError, ConnectionError),
}


def test_every_exported_class_is_an_exception_with_known_bases() -> None:
    assert set(CLASSES) == set(BASES)
    for cls in CLASSES:
        assert cls.__module__ == "wsframework.exceptions", cls
        assert cls.__bases__ == BASES[cls], cls.__name__


def drawn_parents() -> dict[str, str]:
    """Parent of each class in the docstring's drawing, read from the indentation."""
    doc = exceptions.__doc__
    assert doc is not None
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []  # (column of the name, name), innermost last
    for line in doc.splitlines():
        found = re.search(r"(?:── )?\b([A-Z]\w+)\b", line)
        if found is None or not re.match(r"\s*(?:Exception|[│ ]*[└├]── )", line):
            continue
        column, name = found.start(1), found.group(1)
        while stack and stack[-1][0] >= column:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((column, name))
    return parents


def test_the_docstring_draws_the_real_tree() -> None:
    parents = drawn_parents()
    assert set(parents) == set(exceptions.__all__)
    for cls in CLASSES:
        assert parents[cls.__name__] == cls.__bases__[0].__name__, cls.__name__


def test_the_module_imports_only_the_stdlib_at_runtime() -> None:
    # The CloseReason annotation is imported under TYPE_CHECKING only; nothing else of ours.
    tree = ast.parse(Path(str(exceptions.__file__)).read_text())
    runtime: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            continue
        for child in ast.walk(node):
            if isinstance(child, ast.Import):
                runtime |= {alias.name for alias in child.names}
            elif isinstance(child, ast.ImportFrom):
                assert child.level == 0, ast.unparse(child)
                runtime.add(child.module or "")
    assert runtime == {"__future__", "http", "typing"}


# --- constructors and attributes ------------------------------------------------------------


def test_connection_closed_carries_its_reason() -> None:
    reason = CloseReason(1001, "going away")
    exc = ConnectionClosed(reason)
    assert exc.reason is reason
    assert exc.args == (reason,)
    assert ConnectionClosed(None).reason is None


def test_connection_rejected_carries_the_response() -> None:
    headers = ((b"content-type", b"text/plain"),)
    exc = ConnectionRejected(403, headers, b"no")
    assert (exc.status_code, exc.headers, exc.body) == (403, headers, b"no")
    assert exc.args == (403, headers, b"no")


def test_invalid_handshake_defaults_to_400_without_headers() -> None:
    exc = InvalidHandshake("missing Sec-WebSocket-Key header")
    assert (exc.status_code, exc.headers) == (400, ())
    assert str(exc) == "missing Sec-WebSocket-Key header"
    versioned = InvalidHandshake("unsupported", 426, ((b"sec-websocket-version", b"13"),))
    assert (versioned.status_code, versioned.headers) == (426, ((b"sec-websocket-version", b"13"),))


def test_upgrade_required_is_a_426_naming_the_upgrade() -> None:
    request_headers = [(b"host", b"example.com")]
    exc = UpgradeRequired("POST", "/items?x=1", request_headers)
    assert (exc.method, exc.target, exc.request_headers) == ("POST", "/items?x=1", request_headers)
    assert exc.status_code == 426
    assert exc.headers == ((b"upgrade", b"websocket"), (b"connection", b"Upgrade"))
    assert str(exc) == "this is a WebSocket endpoint: send a WebSocket upgrade request"


def test_invalid_message_carries_errors_and_the_raw_message() -> None:
    errors = [{"loc": ("x",), "msg": "field required", "type": "missing"}]
    exc = InvalidMessage("message does not match Join", errors, b"{}")
    assert (str(exc), exc.errors, exc.message) == ("message does not match Join", errors, b"{}")


@pytest.mark.parametrize(
    ("exc", "stdlib"),
    [
        (MessageTypeError("send_message() takes str or bytes, not int"), TypeError),
        (MessageTypeError("send_message() takes str or bytes, not int"), ValueError),
        (InvalidMessage("message is not valid JSON", [], "{"), ValueError),
        (RouteDefinitionError("invalid route template 'x': it must start with '/'"), ValueError),
        (NoMatchFound("no route named 'x'; route names: none"), LookupError),
    ],
    ids=lambda value: getattr(value, "__name__", type(value).__name__),
)
def test_stdlib_handlers_still_catch_them(exc: Exception, stdlib: type[Exception]) -> None:
    with pytest.raises(stdlib) as info:
        raise exc
    assert isinstance(info.value, WebSocketError)


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionClosed(CloseReason(1000, "bye")),
        ConnectionRejected(404, ((b"a", b"b"),), None),
        InvalidHandshake("bad", 405, ((b"allow", b"GET"),)),
        RouteDefinitionError("invalid route template 'x': it must start with '/'"),
        NoMatchFound("no route named 'x'; route names: none"),
        HandshakeError(),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_pickles_by_module_and_name(exc: Exception) -> None:
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is type(exc)
    assert copy.args == exc.args
    assert repr(copy) == repr(exc)


# --- forms shared with trio-websocket -------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("HandshakeError", ()),
        ("HandshakeError", ("could not connect",)),
        ("ConnectionTimeout", ()),
        ("DisconnectionTimeout", ("the closing handshake took too long",)),
    ],
)
def test_str_repr_and_args_are_trio_websockets(name: str, values: tuple[object, ...]) -> None:
    ours, theirs = getattr(exceptions, name)(*values), getattr(trio_websocket, name)(*values)
    assert (str(ours), repr(ours), ours.args) == (str(theirs), repr(theirs), theirs.args)


@pytest.mark.parametrize(
    "values", [(404, ((b"content-type", b"text/plain"),), b"gone"), (500, (), None)]
)
def test_connection_rejected_repr_and_args_are_trio_websockets(values: tuple[Any, ...]) -> None:
    ours, theirs = ConnectionRejected(*values), trio_websocket.ConnectionRejected(*values)
    assert (repr(ours), ours.args) == (repr(theirs), theirs.args)
    assert (ours.status_code, ours.headers, ours.body) == values


@pytest.mark.parametrize(
    ("status", "body", "text"),
    [
        (
            403,
            b"Origin 'x' is not allowed.\n",
            "the server refused the WebSocket handshake with HTTP 403 Forbidden: "
            "\"Origin 'x' is not allowed.\"",
        ),
        (404, b"Not Found\n", "the server refused the WebSocket handshake with HTTP 404 Not Found"),
        (
            500,
            None,
            "the server refused the WebSocket handshake with HTTP 500 Internal Server Error",
        ),
        (599, b"", "the server refused the WebSocket handshake with HTTP 599"),
        (
            400,
            b"  line one\r\n\tline two \xff ",
            "the server refused the WebSocket handshake with HTTP 400 Bad Request: "
            '"line one line two \ufffd"',
        ),
    ],
)
def test_connection_rejected_reads_as_a_sentence(
    status: int, body: bytes | None, text: str
) -> None:
    assert str(ConnectionRejected(status, (), body)) == text


def test_connection_rejected_quotes_only_the_start_of_a_long_body() -> None:
    text = str(ConnectionRejected(503, (), b"x" * 5000))
    quoted = text.split(": ", 1)[1]
    assert quoted == '"' + "x" * (exceptions.EXCERPT_CHARS - 1) + '\u2026"'


@pytest.mark.parametrize("close", [(1000, "bye"), (4000, None), None])
def test_connection_closed_str_and_repr_are_trio_websockets(
    close: tuple[int, str | None] | None,
) -> None:
    ours = ConnectionClosed(None if close is None else CloseReason(*close))
    theirs = trio_websocket.ConnectionClosed(
        None if close is None else trio_websocket.CloseReason(*close)
    )
    assert (str(ours), repr(ours)) == (str(theirs), repr(theirs))
