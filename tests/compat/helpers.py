"""What the trio-websocket compat tests share: handlers in trio-websocket's style, a server.

The ``tw`` fixture (trio-websocket or ours) is in ``tests/conftest.py``. ``start_server`` opens
a loopback socket: only the tests under ``tests/integration/`` use it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from types import ModuleType
from typing import Any

import trio

TIMEOUT = 10

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


class Accepted:
    """A request whose accept() returns an already accepted connection."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws

    async def accept(self) -> Any:
        return self._ws
