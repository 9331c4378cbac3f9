"""The one exception tree of wsframework.

::

    Exception
     └── WebSocketError                  root of everything we raise on purpose
          ├── HandshakeError             the opening or closing handshake failed
          │    ├── ConnectionRejected    the server answered with an HTTP status, not 101
          │    ├── ConnectionTimeout     the opening handshake took too long
          │    ├── DisconnectionTimeout  the closing handshake took too long
          │    └── InvalidHandshake      a peer's handshake was malformed (carries status_code)
          │         └── UpgradeRequired  a plain HTTP request reached the server (426 unless
          │                              an HTTP route takes it)
          ├── ConnectionClosed           the connection is closed (carries a CloseReason)
          ├── InvalidMessage             a message failed validation (also a ValueError)
          ├── MessageTypeError           send_message() got neither str nor bytes (also a
          │                              TypeError and a ValueError)
          ├── RouteDefinitionError       a route, template or converter is invalid, raised when
          │                              it is defined (also a ValueError)
          ├── NoMatchFound               no URL can be built for a route name and parameters
          │                              (also a LookupError)
          └── BrokerError                a room operation failed in the broker
               └── BrokerUnavailable     the broker (Redis) cannot be reached (also a
                                         ConnectionError)

Misuse on our own side raises the stdlib exceptions whose meaning matches: ``ValueError`` for a
bad argument, ``TypeError`` for a wrong type, ``RuntimeError`` for a call in the wrong state.

The names, constructors, attributes and ``repr`` forms of ``HandshakeError``,
``ConnectionRejected``, ``ConnectionTimeout``, ``DisconnectionTimeout`` and ``ConnectionClosed``
are those of trio-websocket 0.12, so ``except trio_websocket.ConnectionClosed`` code keeps working
after switching imports.

Every class is defined here, so this module has no runtime import of anything of ours (the
``CloseReason`` annotation is imported for type checkers only). The modules that raise them
re-export them where they used to live: ``wsframework.routing`` (``RouteDefinitionError``,
``NoMatchFound``), ``wsframework.converters`` (``RouteDefinitionError``) and
``wsframework.protocol.handshake`` (``UpgradeRequired``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .protocol.close import CloseReason

__all__ = [
    "BrokerError",
    "BrokerUnavailable",
    "ConnectionClosed",
    "ConnectionRejected",
    "ConnectionTimeout",
    "DisconnectionTimeout",
    "HandshakeError",
    "InvalidHandshake",
    "InvalidMessage",
    "MessageTypeError",
    "NoMatchFound",
    "RouteDefinitionError",
    "UpgradeRequired",
    "WebSocketError",
]


class WebSocketError(Exception):
    """Base class of every exception wsframework raises on purpose."""


class HandshakeError(WebSocketError):
    """There was an error during connection or disconnection with the WebSocket server."""


class ConnectionTimeout(HandshakeError):
    """There was a timeout when connecting to the WebSocket server."""


class DisconnectionTimeout(HandshakeError):
    """There was a timeout when disconnecting from the WebSocket server."""


class ConnectionClosed(WebSocketError):
    """A WebSocket operation cannot be completed because the connection is closed or closing.

    Attributes:
        reason: the :class:`~wsframework.CloseReason` (code actually sent or received, its name
            and the reason text), or ``None`` if the connection never opened.
    """

    def __init__(self, reason: CloseReason | None) -> None:
        super().__init__(reason)
        self.reason = reason

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}<{self.reason}>"


class ConnectionRejected(HandshakeError):
    """The server refused the opening handshake with an HTTP response.

    Attributes:
        status_code: the 3 digit HTTP status code.
        headers: the response headers as a tuple of ``(name, value)`` byte pairs.
        body: the response body, or ``None`` if there was none.
    """

    def __init__(
        self,
        status_code: int,
        headers: tuple[tuple[bytes, bytes], ...],
        body: bytes | None,
    ) -> None:
        super().__init__(status_code, headers, body)
        self.status_code = status_code
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}<status_code={self.status_code}>"

    def __str__(self) -> str:
        """A sentence: ``the server refused the WebSocket handshake with HTTP 403 Forbidden:
        "Origin 'x' is not allowed."`` (status, reason phrase, the start of the body)."""
        try:
            phrase = " " + HTTPStatus(self.status_code).phrase
        except ValueError:
            phrase = ""
        text = f"the server refused the WebSocket handshake with HTTP {self.status_code}{phrase}"
        excerpt = body_excerpt(self.body)
        if not excerpt or excerpt.casefold() == phrase.strip().casefold():
            return text
        return f'{text}: "{excerpt}"'


#: The most characters of a refusal's body that ``str(ConnectionRejected)`` quotes.
EXCERPT_CHARS = 200


def body_excerpt(body: bytes | None, limit: int = EXCERPT_CHARS) -> str:
    """The start of a response body as one line of text: decoded as UTF-8 (bad bytes replaced),
    runs of whitespace made one space, cut at ``limit`` characters with an ellipsis."""
    if not body:
        return ""
    text = " ".join(body[: limit * 4].decode("utf-8", "replace").split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "\u2026"
    return text


class InvalidHandshake(HandshakeError):
    """A peer's opening handshake was malformed.

    On the server this becomes an HTTP error response (``status_code``, e.g. 400 or 426, with
    ``headers``); on the client it means the server's 101 response was not valid.

    Attributes:
        status_code: the HTTP status to answer with (server side).
        headers: extra response headers, e.g. ``Sec-WebSocket-Version: 13`` with a 426.
    """

    def __init__(
        self,
        message: str,
        status_code: int = 400,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.headers = headers


class InvalidMessage(WebSocketError, ValueError):
    """A received message is not valid JSON or does not match the expected model.

    Attributes:
        errors: pydantic's error list (``[{"loc": ..., "msg": ..., "type": ...}, ...]``), or a
            single entry describing a JSON syntax error.
        message: the raw message that failed.
    """

    def __init__(self, text: str, errors: list[dict[str, Any]], message: str | bytes) -> None:
        super().__init__(text)
        self.errors = errors
        self.message = message


class MessageTypeError(WebSocketError, TypeError, ValueError):
    """``send_message()`` got something other than ``str`` or bytes.

    A ``TypeError`` by meaning, and a ``ValueError`` because trio-websocket raised that.
    """


class UpgradeRequired(InvalidHandshake):
    """A plain HTTP request (no WebSocket upgrade): 426 unless an HTTP handler takes it.

    Raised by the server's handshake parser; the server answers it or hands the request to the
    App's HTTP routes.

    Attributes:
        method: the request method, e.g. ``"GET"``.
        target: the request target (path and query string).
        request_headers: the request headers as ``(lower-case name, value)`` byte pairs.
    """

    def __init__(self, method: str, target: str, headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__(
            "this is a WebSocket endpoint: send a WebSocket upgrade request",
            426,
            ((b"upgrade", b"websocket"), (b"connection", b"Upgrade")),
        )
        self.method = method
        self.target = target
        self.request_headers = headers


class RouteDefinitionError(WebSocketError, ValueError):
    """A template, converter, route or set of routes is invalid.

    Raised at definition time: by :class:`~wsframework.routing.Route`,
    :meth:`~wsframework.routing.Router.add` and :func:`~wsframework.register_converter`. The
    message names the offending template or route.
    """


class NoMatchFound(WebSocketError, LookupError):
    """No URL can be built: unknown route name, or missing, extra or invalid parameters."""


class BrokerError(WebSocketError):
    """A room operation failed in the message broker (base class of the rooms' errors)."""


class BrokerUnavailable(BrokerError, ConnectionError):
    """The rooms' broker (Redis) cannot be reached: nothing was published, or presence and
    history could not be read. Connections keep working locally; the broker's subscriptions
    come back by themselves once it is reachable again."""
