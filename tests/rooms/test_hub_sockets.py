"""Rooms on real loopback sockets: the fan-out writes one shared frame to every member, and a
route that negotiates permessage-deflate without context takeover shares compressed frames."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from wsframework import App, DeflateOptions, WebSocketRequest, connect_websocket
from wsframework.interface import WebSocketConnection
from wsframework.request import Compression

MEMBERS = 50


def room_app(compression: Compression) -> tuple[App, list[WebSocketConnection]]:
    app = App()
    joined: list[WebSocketConnection] = []

    @app.websocket("/room", compression=compression)
    async def room(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async with app.rooms["r"].join(ws):
            joined.append(ws)
            async for message in ws:
                await app.rooms["r"].publish(message)

    return app, joined


@pytest.mark.parametrize(
    ("compression", "negotiated"),
    [
        (None, b""),
        (DeflateOptions(server_no_context_takeover=True), b"server_no_context_takeover"),
    ],
    ids=["uncompressed", "compressed-shared"],
)
async def test_every_member_gets_each_publication_once(
    compression: Compression, negotiated: bytes
) -> None:
    app, joined = room_app(compression)
    async with trio.open_nursery() as nursery:
        server = await nursery.start(app.serve, "127.0.0.1", 0)
        members = [
            await connect_websocket(nursery, "127.0.0.1", server.port, "/room", use_ssl=False)
            for _ in range(MEMBERS)
        ]
        with trio.fail_after(5):
            while len(joined) < MEMBERS:
                await trio.testing.wait_all_tasks_blocked()
        # What the server answered (a client's response_headers are wsproto's: empty).
        headers = {k.lower(): v for k, v in joined[0].response_headers}
        extension = headers.get(b"sec-websocket-extensions", b"")
        assert negotiated in extension and members[0].compression == (compression is not None)
        with trio.fail_after(5):
            for n in range(5):  # order holds per publisher
                await members[0].send_message(f"message {n} " * 20)
            for ws in members:
                got = [await ws.get_message() for _ in range(5)]
                assert got == [f"message {n} " * 20 for n in range(5)]
        for ws in members:
            await ws.aclose()
        nursery.cancel_scope.cancel()
