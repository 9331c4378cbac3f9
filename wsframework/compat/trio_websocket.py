"""trio-websocket 0.12.2's public names over wsframework's core.

Change ``import trio_websocket`` (or ``from trio_websocket import ...``) to
``from wsframework.compat import trio_websocket`` and the program runs on wsframework. Every public
name of trio-websocket 0.12.2 is here with the same signature, defaults and exception ancestry.
The differences, each a defect of trio-websocket that its own docs do not promise, are listed in
``docs/compat.md``.

Every name is wsframework's own object but one: :class:`ConnectionRejected` is a subclass of
wsframework's whose ``str()`` is trio-websocket's (the tuple of its arguments) where
wsframework's reads as a sentence. The five client functions here raise it instead of
wsframework's, so ``except trio_websocket.ConnectionRejected`` and
``except wsframework.ConnectionRejected`` both catch what they raise.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
    contextmanager,
)
from typing import ParamSpec, TypeVar

from .. import client as _client
from .. import exceptions as _exceptions
from ..exceptions import (
    ConnectionClosed,
    ConnectionTimeout,
    DisconnectionTimeout,
    HandshakeError,
)
from ..interface import Endpoint, WebSocketConnection
from ..protocol.close import CloseReason
from ..request import WebSocketRequest
from ..server import WebSocketServer, serve_websocket, wrap_server_stream

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
