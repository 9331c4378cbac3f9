"""A chat app over the in-memory broker and socket-less clients for it (through the test
client), shared by the ``tests/rooms/test_*.py`` files."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import trio
import trio.testing

from wsframework import App, WebSocketRequest
from wsframework.interface import WebSocketConnection
from wsframework.rooms import Position, RoomOptions
from wsframework.testing import TestClient


class Clients:
    """A running app, through the test client, and its WebSocket clients, open until the block
    of :func:`running` ends.

    Attributes:
        app: the application.
        client: its :class:`~wsframework.testing.TestClient`.
    """

    def __init__(self, client: TestClient, stack: AsyncExitStack) -> None:
        self.app = client.app
        self.client = client
        self._stack = stack

    @property
    def nursery(self) -> trio.Nursery:
        """The nursery of the connections, cancelled before the app's shutdown."""
        return self.client.nursery

    async def connect(self, target: str, **options: Any) -> WebSocketConnection:
        """A client of the app (``lockstep=True``: one that reads only when the test reads, so
        a server send to it waits), closed when the block ends."""
        return await self._stack.enter_async_context(self.client.websocket(target, **options))


@asynccontextmanager
async def running(app: App) -> AsyncIterator[Clients]:
    """``app`` started through the test client (its connections end before the app stops, as a
    server cancels its handlers before the lifespan's shutdown)."""
    async with TestClient(app, base_url="http://example.com") as client, AsyncExitStack() as stack:
        yield Clients(client, stack)


def chat_app(**options: Any) -> App:
    """``/chat/{room}?user=...&since=epoch:offset``: join with presence, publish what comes
    in (excluding the sender with ``?echo=0``), and say ``{"recovered": ...}`` first when a
    position was given."""
    app = App()
    if options:
        app.rooms.configure("*", RoomOptions(**options))

    @app.websocket("/chat/{room}")
    async def chat(request: WebSocketRequest) -> None:
        ws = await request.accept()
        room = app.rooms[request.path_params["room"]]
        query = request.query_params
        since = Position.parse(query["since"]) if "since" in query else None
        presence = {"user": query.get("user", "anon")}
        async with room.join(ws, presence=presence, since=since) as membership:
            if since is not None:
                await ws.send_message(json.dumps({"recovered": membership.recovered}))
            async for message in ws:
                exclude = ws if query.get("echo") == "0" else None
                await room.publish(message, exclude=exclude)

    return app


async def until_count(app: App, room: str, count: int) -> None:
    """Wait (bounded) until ``room`` has ``count`` members: joins complete in the server's
    tasks, after the client's handshake returned."""
    with trio.fail_after(5):
        while await app.rooms[room].count() != count:
            await trio.testing.wait_all_tasks_blocked()
