"""A chat app over the in-memory broker and socket-less clients for it, shared by the
``tests/rooms/test_*.py`` files."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio.testing

from wsframework import App, WebSocketRequest, wrap_client_stream
from wsframework.interface import WebSocketConnection
from wsframework.options import ServerOptions
from wsframework.rooms import Position, RoomOptions
from wsframework.server import serve_stream


@asynccontextmanager
async def running(app: App) -> AsyncIterator[trio.Nursery]:
    """``app`` started, and a nursery for its connections that ends before the app stops (as
    a server cancels its handlers before the lifespan's shutdown)."""
    async with app.lifespan_context(), trio.open_nursery() as nursery:
        yield nursery
        nursery.cancel_scope.cancel()


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


async def connect(
    nursery: trio.Nursery,
    app: App,
    target: str,
    *,
    lockstep: bool = False,
    **client: Any,
) -> WebSocketConnection:
    """A client of ``app`` over memory streams (``lockstep``: a client that reads only when
    the test reads, so a server send to it waits)."""
    if lockstep:
        server_stream, client_stream = trio.testing.lockstep_stream_pair()
    else:
        server_stream, client_stream = trio.testing.memory_stream_pair()
    nursery.start_soon(
        serve_stream, app.handle_websocket, server_stream, ServerOptions(), app.handle_http
    )
    client.setdefault("compression", None)
    return await wrap_client_stream(nursery, client_stream, "example.com", target, **client)


async def until_count(app: App, room: str, count: int) -> None:
    """Wait (bounded) until ``room`` has ``count`` members: joins complete in the server's
    tasks, after the client's handshake returned."""
    with trio.fail_after(5):
        while await app.rooms[room].count() != count:
            await trio.testing.wait_all_tasks_blocked()
