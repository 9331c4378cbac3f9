"""trio-websocket 0.12.2's public names over wsframework's core.

Change ``import trio_websocket`` (or ``from trio_websocket import ...``) to
``from wsframework.compat import trio_websocket`` and the program runs on wsframework. Every public
name of trio-websocket 0.12.2 is here with the same signature, defaults and exception ancestry.
The differences, each a defect of trio-websocket that its own docs do not promise, are listed in
``docs/compat.md``.

Every name is wsframework's own object but three. :class:`ConnectionRejected` is a subclass
of wsframework's whose ``str()`` is trio-websocket's (the tuple of its arguments) where
wsframework's reads as a sentence; the five client functions here raise it instead of
wsframework's, so ``except trio_websocket.ConnectionRejected`` and
``except wsframework.ConnectionRejected`` both catch what they raise. :func:`serve_websocket`
and :class:`WebSocketServer` (a subclass) keep trio-websocket's 60 s handshake timeout
(``connect_timeout``) where wsframework's own use 10 s.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
    contextmanager,
)
from typing import Any, NoReturn, ParamSpec, TypeVar

import trio

from .. import client as _client
from .. import exceptions as _exceptions
from .. import server as _server
from ..exceptions import (
    ConnectionClosed,
    ConnectionTimeout,
    DisconnectionTimeout,
    HandshakeError,
)
from ..handling import Handler
from ..http import HTTPHandler
from ..interface import Endpoint, WebSocketConnection
from ..options import (
    CONN_TIMEOUT,
    MAX_MESSAGE_SIZE,
    MESSAGE_QUEUE_SIZE,
    RECEIVE_BYTES,
    SAME_AS_INTERVAL,
    PingTimeout,
    ServerOptions,
)
from ..protocol.close import CloseReason
from ..protocol.deflate import DEFAULT_DEFLATE, DeflateOptions
from ..request import WebSocketRequest
from ..server import wrap_server_stream

__version__ = "0.12.2"

_P = ParamSpec("_P")
_T = TypeVar("_T")


class ConnectionRejected(_exceptions.ConnectionRejected):
    """wsframework's :class:`~wsframework.ConnectionRejected` with trio-websocket's ``str()``:
    the tuple of its arguments, ``(403, ((b'content-length', b'4'),), b'nope')``."""

    def __str__(self) -> str:
        return Exception.__str__(self)


@contextmanager
def _theirs() -> Iterator[None]:
    """Raise a refusal as this module's :class:`ConnectionRejected`."""
    try:
        yield
    except _exceptions.ConnectionRejected as exc:
        if isinstance(exc, ConnectionRejected):
            raise
        raise ConnectionRejected(exc.status_code, exc.headers, exc.body) from exc.__cause__


def _async(func: Callable[_P, Awaitable[_T]]) -> Callable[_P, Awaitable[_T]]:
    @functools.wraps(func)
    async def converting(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        with _theirs():
            return await func(*args, **kwargs)

    return converting


def _opening(
    func: Callable[_P, AbstractAsyncContextManager[_T]],
) -> Callable[_P, AbstractAsyncContextManager[_T]]:
    @functools.wraps(func)
    def converting(*args: _P.args, **kwargs: _P.kwargs) -> AbstractAsyncContextManager[_T]:
        return _entered(func(*args, **kwargs))  # called now: a bad URL raises here, as theirs

    return converting


@asynccontextmanager
async def _entered(manager: AbstractAsyncContextManager[_T]) -> AsyncIterator[_T]:
    async with AsyncExitStack() as stack:
        with _theirs():
            value = await stack.enter_async_context(manager)
        yield value


class WebSocketServer(_server.WebSocketServer):
    """wsframework's :class:`~wsframework.WebSocketServer` with trio-websocket's 60 s
    ``connect_timeout`` (the time a client has for its opening handshake) as the default.

    Raises:
        ValueError: no listener, a setting out of range, or both ``options`` and keywords.
    """

    def __init__(
        self,
        handler: Handler,
        listeners: Sequence[trio.abc.Listener[Any]],
        *,
        handler_nursery: trio.Nursery | None = None,
        message_queue_size: int = MESSAGE_QUEUE_SIZE,
        max_message_size: int = MAX_MESSAGE_SIZE,
        receive_buffer_size: int | None = RECEIVE_BYTES,
        connect_timeout: float | None = CONN_TIMEOUT,
        disconnect_timeout: float | None = CONN_TIMEOUT,
        compression: DeflateOptions | None = DEFAULT_DEFLATE,
        ping_interval: float | None = None,
        ping_timeout: PingTimeout = SAME_AS_INTERVAL,
        http_handler: HTTPHandler | None = None,
        options: ServerOptions | None = None,
    ) -> None:
        settings = ServerOptions.settings_in(locals())
        if options is None:
            options = ServerOptions(**settings)
        else:
            if connect_timeout == CONN_TIMEOUT:  # our default, not a setting given
                del settings["connect_timeout"]
            options = ServerOptions.build(options, **settings)
        super().__init__(
            handler,
            listeners,
            handler_nursery=handler_nursery,
            http_handler=http_handler,
            options=options,
        )


async def serve_websocket(
    handler: Handler,
    host: str | bytes | None,
    port: int,
    ssl_context: ssl.SSLContext | None,
    *,
    handler_nursery: trio.Nursery | None = None,
    message_queue_size: int = MESSAGE_QUEUE_SIZE,
    max_message_size: int = MAX_MESSAGE_SIZE,
    receive_buffer_size: int | None = RECEIVE_BYTES,
    connect_timeout: float | None = CONN_TIMEOUT,
    disconnect_timeout: float | None = CONN_TIMEOUT,
    compression: DeflateOptions | None = DEFAULT_DEFLATE,
    ping_interval: float | None = None,
    ping_timeout: PingTimeout = SAME_AS_INTERVAL,
    task_status: trio.TaskStatus[_server.WebSocketServer] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """wsframework's :func:`~wsframework.serve_websocket` with trio-websocket's 60 s
    ``connect_timeout`` as the default. Cancel the enclosing nursery to stop it."""
    options = ServerOptions(**ServerOptions.settings_in(locals()))
    address = (host, port, ssl_context)
    await _server.serve_tcp(
        WebSocketServer, handler, address, options, handler_nursery, task_status
    )


connect_websocket = _async(_client.connect_websocket)
connect_websocket_url = _async(_client.connect_websocket_url)
wrap_client_stream = _async(_client.wrap_client_stream)
open_websocket = _opening(_client.open_websocket)
open_websocket_url = _opening(_client.open_websocket_url)

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
