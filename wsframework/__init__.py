"""wsframework: WebSockets on Trio and wsproto.

The public API is re-exported here: every name in ``__all__`` is importable from
``wsframework``. The framework's extras live in ``wsframework.rooms``, ``wsframework.testing``,
``wsframework.middleware``, ``wsframework.typed`` and ``wsframework.compat``.

PYTEST_DONT_REWRITE: the package's ``pytest11`` entry point (``wsframework.testing.plugin``)
makes pytest rewrite the asserts of the whole distribution; this marker keeps pytest's helpers
out of this namespace.
"""

from ._version import __version__
from .app import App
from .client import (
    connect_websocket,
    connect_websocket_url,
    open_websocket,
    open_websocket_url,
    wrap_client_stream,
)
from .datastructures import Headers, QueryParams, State
from .exceptions import (
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
from .http import HTMLResponse, HTTPRequest, JSONResponse, Response
from .interface import Endpoint, WebSocketConnection
from .middleware import CallNext, Middleware
from .options import ASGIOptions, ClientOptions, ServerOptions
from .protocol.close import CloseReason
from .protocol.deflate_options import DeflateOptions
from .reconnect import Reconnecting, ReconnectOptions, Resume, reconnecting, retryable
from .request import BaseRequest, WebSocketRequest
from .routing import register_converter
from .server import WebSocketServer, serve_websocket, wrap_server_stream
from .tls import server_ssl_context

__all__ = [
    "ASGIOptions",
    "App",
    "BaseRequest",
    "BrokerError",
    "BrokerUnavailable",
    "CallNext",
    "ClientOptions",
    "CloseReason",
    "ConnectionClosed",
    "ConnectionRejected",
    "ConnectionTimeout",
    "DeflateOptions",
    "DisconnectionTimeout",
    "Endpoint",
    "HTMLResponse",
    "HTTPRequest",
    "HandshakeError",
    "Headers",
    "InvalidHandshake",
    "InvalidMessage",
    "JSONResponse",
    "MessageTypeError",
    "Middleware",
    "NoMatchFound",
    "QueryParams",
    "ReconnectOptions",
    "Reconnecting",
    "Response",
    "Resume",
    "RouteDefinitionError",
    "ServerOptions",
    "State",
    "UpgradeRequired",
    "WebSocketConnection",
    "WebSocketError",
    "WebSocketRequest",
    "WebSocketServer",
    "__version__",
    "connect_websocket",
    "connect_websocket_url",
    "open_websocket",
    "open_websocket_url",
    "reconnecting",
    "register_converter",
    "retryable",
    "serve_websocket",
    "server_ssl_context",
    "wrap_client_stream",
    "wrap_server_stream",
]
