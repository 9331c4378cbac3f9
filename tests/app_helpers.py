"""Scripted clients for an App over the native transport, socket-less, shared by the
``tests/test_app*.py`` files (and ``tests/test_middleware.py``, through ``test_app``)."""

from __future__ import annotations

from typing import Any

import h11
import trio
from wsproto import ConnectionType
from wsproto.events import Request

from wsframework import App
from wsframework.options import ServerOptions
from wsframework.server import serve_stream

from .peers import ScriptedPeer, stream_pair


def connect(nursery: trio.Nursery, app: App) -> ScriptedPeer:
    server_stream, client_stream = stream_pair()
    nursery.start_soon(
        serve_stream, app.handle_websocket, server_stream, ServerOptions(), app.handle_http
    )
    return ScriptedPeer(client_stream, ConnectionType.CLIENT)


async def open_ws(
    nursery: trio.Nursery, app: App, target: str, **request: Any
) -> tuple[ScriptedPeer, Any]:
    peer = connect(nursery, app)
    await peer.send(Request(host="example.com", target=target, **request))
    return peer, await peer.next_event()


async def http(
    nursery: trio.Nursery, app: App, method: str, target: str, body: bytes = b"", **headers: str
) -> tuple[h11.Response, bytes]:
    server_stream, client_stream = stream_pair()
    nursery.start_soon(
        serve_stream, app.handle_websocket, server_stream, ServerOptions(), app.handle_http
    )
    conn = h11.Connection(h11.CLIENT)
    hdrs = [("host", "example.com"), *headers.items()]
    if body:
        hdrs.append(("content-length", str(len(body))))
    data = conn.send(h11.Request(method=method, target=target, headers=hdrs))
    data += conn.send(h11.Data(data=body)) if body else b""
    data += conn.send(h11.EndOfMessage())
    await client_stream.send_all(data)
    response = None
    out = bytearray()
    with trio.fail_after(5):
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await client_stream.receive_some(65536))
                continue
            if isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                out += event.data
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
    assert response is not None
    return response, bytes(out)


def header(response: h11.Response, name: bytes) -> bytes | None:
    return next((v for k, v in response.headers if k == name), None)
