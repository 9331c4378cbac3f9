"""Running a WebSocket handler, whichever transport carries the connection.

Both transports (:mod:`wsframework.server`, our own wire, and :mod:`wsframework.asgi`, an ASGI
server's wire) build a :class:`~wsframework.WebSocketRequest` and hand it to
:func:`run_handler`, which owns what happens around the handler:

* a handler that raises is logged; its connection is closed with 1011, or the handshake is
  answered with HTTP 500 when it was not accepted yet;
* a handler that lets :exc:`~wsframework.ConnectionClosed` escape ended normally enough
  (logged at DEBUG);
* a cancelled handler (the server is shutting down) says so with 1001, shielded and bounded;
* whatever the handler left open is closed (1000), a handshake it neither accepted nor rejected
  is answered with 403.

Nothing here knows about wsproto, h11 or ASGI.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from .exceptions import ConnectionClosed
from .request import WebSocketRequest

__all__ = ["Handler", "run_handler"]

logger = logging.getLogger("wsframework")

#: ``async def handler(request: WebSocketRequest) -> None``, called once per connection.
Handler = Callable[[WebSocketRequest], Awaitable[None]]


async def run_handler(
    handler: Handler, request: WebSocketRequest, disconnect_timeout: float
) -> None:
    """Call ``handler(request)`` and answer for it: map a failure to 1011 or HTTP 500, close
    what it left open, reject (403) a handshake it left pending.

    Args:
        handler: the application's handler.
        request: the opening handshake, from either transport.
        disconnect_timeout: seconds each final close may wait for the peer's close frame.

    Cancelling it (a server shutting down) cancels the handler; the connection is then closed
    with 1001 (shielded and bounded by 1 s) and ``trio.Cancelled`` propagates. The final close
    is shielded and bounded by ``disconnect_timeout``, so this needs no timeout of its own.
    Exceptions from the handler are logged, never raised.
    """
    try:
        await handler(request)
    except ConnectionClosed as exc:
        # A handler that lets "the connection is closed" escape ended normally enough.
        logger.debug("handler on %s ended by its closed connection: %r", request.path, exc)
    except trio.Cancelled:
        # The server is going away: say so (1001), shielded and bounded, then go.
        connection = request.connection
        if connection is not None:
            await connection.going_away()
        raise
    except Exception:
        logger.exception("handler error on %s from %s", request.path, request.remote)
        connection = request.connection
        if connection is not None:
            with trio.move_on_after(disconnect_timeout):
                await connection.aclose(1011, "internal server error")
        elif request.handshake_state == "pending":
            await request.reject(500, body=b"Internal Server Error\n")
    finally:
        if request.handshake_state == "pending":
            with trio.CancelScope(shield=True):
                await request.reject(
                    403, body=b"The handler did not accept the WebSocket connection.\n"
                )
        connection = request.connection
        if connection is not None:
            with trio.CancelScope(shield=True), trio.move_on_after(disconnect_timeout):
                await connection.aclose()
