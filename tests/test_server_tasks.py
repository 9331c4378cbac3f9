"""What an open connection costs the server in tasks: its handler's task and its reader, both in
the server's handler nursery (no nursery per connection), and nothing left once it is closed."""

from __future__ import annotations

from functools import partial

import trio
import trio.testing
from wsproto import ConnectionType
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from wsframework import WebSocketRequest, open_websocket_url, serve_websocket
from wsframework.options import ServerOptions
from wsframework.server import serve_stream

from .peers import ScriptedPeer, stream_pair


async def test_an_open_connection_is_two_tasks_in_the_handler_nursery() -> None:
    handler_done = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            async for message in ws:
                await ws.send_message(message)
        finally:
            handler_done.set()

    async with trio.open_nursery() as outer, trio.open_nursery() as connections:
        server = await outer.start(
            partial(serve_websocket, handler, "127.0.0.1", 0, None, handler_nursery=connections)
        )
        url = f"ws://127.0.0.1:{server.port}/"
        async with open_websocket_url(url) as ws:
            await ws.send_message("hi")
            assert await ws.get_message() == "hi"
            names = sorted(task.name.rpartition(".")[2] for task in connections.child_tasks)
            assert names == ["_reader_task", "serve_stream"]
            assert not any(task.child_nurseries for task in connections.child_tasks)
        with trio.fail_after(5):
            await handler_done.wait()
        await trio.testing.wait_all_tasks_blocked()
        assert not connections.child_tasks
        outer.cancel_scope.cancel()


async def test_keepalive_pings_end_with_their_connection_not_an_interval_later() -> None:
    server_stream, client_stream = stream_pair()
    peer = ScriptedPeer(client_stream, ConnectionType.CLIENT)

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async for message in ws:
            await ws.send_message(message)

    options = ServerOptions(ping_interval=3600)  # an hour: only the close can end them
    start = trio.current_time()
    async with trio.open_nursery() as connections:
        connections.start_soon(
            partial(serve_stream, handler, server_stream, options, nursery=connections)
        )
        await peer.send(Request(host="example.com", target="/"))
        await peer.expect(AcceptConnection)
        await peer.send(TextMessage(data="hi"))
        assert (await peer.expect(TextMessage)).data == "hi"
        assert len(connections.child_tasks) == 3  # the handler's, the reader, the pings
        await peer.send(CloseConnection(code=1000))
        assert (await peer.expect(CloseConnection)).code == 1000
        with trio.fail_after(5):
            while connections.child_tasks:
                await trio.testing.wait_all_tasks_blocked()
        assert trio.current_time() - start < 3600
