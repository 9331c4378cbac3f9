"""trio-websocket 0.12.2's public names over wsframework's core.

Change ``import trio_websocket`` (or ``from trio_websocket import ...``) to
``from wsframework.compat import trio_websocket`` and the program runs on wsframework. Every public
name of trio-websocket 0.12.2 is here with the same signature, defaults and exception ancestry.
The differences, each a defect of trio-websocket that its own docs do not promise, are listed in
``docs/compat.md``.
"""

from __future__ import annotations

from ..client import (
    connect_websocket,
    connect_websocket_url,
    open_websocket,
    open_websocket_url,
    wrap_client_stream,
)
from ..exceptions import (
    ConnectionClosed,
    ConnectionRejected,
    ConnectionTimeout,
    DisconnectionTimeout,
    HandshakeError,
)
from ..interface import Endpoint, WebSocketConnection
from ..protocol.close import CloseReason
from ..request import WebSocketRequest
from ..server import WebSocketServer, serve_websocket, wrap_server_stream

__version__ = "0.12.2"

__all__ = [
    "CloseReason",
    "ConnectionClosed",
    "ConnectionRejected",
    "ConnectionTimeout",
    "DisconnectionTimeout",
    "Endpoint",
    "HandshakeError",
    "WebSocketConnection",
    "WebSocketRequest",
    "WebSocketServer",
    "connect_websocket",
    "connect_websocket_url",
    "open_websocket",
    "open_websocket_url",
    "serve_websocket",
    "wrap_client_stream",
    "wrap_server_stream",
]
