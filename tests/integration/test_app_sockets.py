"""The App on real loopback sockets, driven by a third-party client (the websockets package)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
import trio
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect

from apps.echo.app import app as echo_app
from apps.rpc.app import app as rpc_app
from wsframework import App, WebSocketRequest, WebSocketServer


async def start(nursery: trio.Nursery, app: App) -> int:
    server: WebSocketServer = await nursery.start(app.serve, "127.0.0.1", 0)
    return server.port


async def in_thread(func: Callable[[], Any]) -> Any:
    with trio.fail_after(10):
        return await trio.to_thread.run_sync(func)


async def test_echo_app_with_third_party_client(nursery: trio.Nursery) -> None:
    port = await start(nursery, echo_app)

    def talk() -> list[str | bytes]:
        with connect(f"ws://127.0.0.1:{port}/") as ws:
            ws.send("hello")
            first = ws.recv(timeout=5)
            ws.send("wsframework")
            return [first, ws.recv(timeout=5)]

    assert await in_thread(talk) == ["olleh", "krowemarfsw"]


async def test_health_route_over_plain_http(nursery: trio.Nursery) -> None:
    port = await start(nursery, echo_app)

    def get() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            out = b""
            while chunk := sock.recv(65536):
                out += chunk
            return out

    response = await in_thread(get)
    assert response.startswith(b"HTTP/1.1 200 ")
    assert response.endswith(b'{"status":"ok"}')


async def test_rpc_app_with_third_party_client(nursery: trio.Nursery) -> None:
    port = await start(nursery, rpc_app)

    def talk() -> list[Any]:
        with connect(f"ws://127.0.0.1:{port}/rpc") as ws:
            out = []
            for call in (
                {"type": "add", "id": 1, "a": 2, "b": 3},
                {"type": "nope"},
                {"type": "echo", "id": 2, "text": "hi"},
            ):
                ws.send(json.dumps(call))
                out.append(json.loads(ws.recv(timeout=5)))
            return out

    add, error, echo = await in_thread(talk)
    assert add == {"id": 1, "result": 5.0}
    assert error["type"] == "error" and error["error"] == "invalid_message"
    assert echo == {"id": 2, "result": "hi"}


async def test_routing_and_subprotocols_over_sockets(nursery: trio.Nursery) -> None:
    app = App()

    @app.websocket("/rooms/{room}", subprotocols=["chat.v2", "chat.v1"])
    async def room(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message(f"{request.path_params['room']} {ws.subprotocol}")
        await ws.aclose(4000, "done")

    port = await start(nursery, app)

    def talk() -> tuple[str | bytes, str | None, int | None]:
        with connect(
            f"ws://127.0.0.1:{port}/rooms/lobby", subprotocols=["chat.v1", "chat.v2"]
        ) as ws:
            text = ws.recv(timeout=5)
            with pytest.raises(ConnectionClosedError):
                ws.recv(timeout=5)
            return text, ws.subprotocol, ws.close_code

    text, subprotocol, code = await in_thread(talk)
    assert text == "lobby chat.v2"
    assert subprotocol == "chat.v2"
    assert code == 4000

    def missing() -> int:
        with pytest.raises(InvalidStatus) as info:
            connect(f"ws://127.0.0.1:{port}/nowhere")
        return info.value.response.status_code

    assert await in_thread(missing) == 404
