"""Keepalive pings for a connection: a ping every ``interval`` seconds; a pong that takes
longer than ``timeout`` means the peer or the path to it is gone, and the connection is closed
with 1011 (internal error, the code RFC 6455 leaves for an endpoint that cannot go on).

It uses only the public :class:`~wsframework.interface.WebSocketConnection` calls: ``ping()``
(which waits for the matching pong) and ``going_away()`` (a close frame, then the transport
released without waiting for the peer, which is not answering).
"""

from __future__ import annotations

import logging

import trio

from .exceptions import ConnectionClosed
from .interface import WebSocketConnection

__all__ = ["keepalive"]

logger = logging.getLogger("wsframework")


async def keepalive(connection: WebSocketConnection, interval: float, timeout: float) -> None:
    """Ping ``connection`` every ``interval`` seconds until it closes; close it with 1011 when a
    pong takes longer than ``timeout``. Runs until then: cancel it to stop the pings."""
    while connection.closed is None:
        await trio.sleep(interval)
        with trio.move_on_after(timeout) as scope:
            try:
                await connection.ping()
            except ConnectionClosed:
                return
        if scope.cancelled_caught:
            reason = f"keepalive ping timeout: no pong within {timeout:g} s"
            logger.info("%s closing with 1011: %s", connection, reason)
            await connection.going_away(1011, reason)
            return
