"""The ASGI transport against a scripted ASGI server (the way Hypercorn's trio worker behaves)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from wsframework import App, ConnectionClosed, WebSocketRequest
from wsframework.middleware import TokenAuth
from wsframework.options import ASGIOptions

from .sample_apps import forbidding_app

Message = dict[str, Any]


class ScriptedServer:
    """Plays the server side of one ASGI call through memory channels.

    Like Hypercorn 0.18's trio worker, ``send`` after a disconnect returns at once without a
    checkpoint.
    """

    def __init__(self, scope: Message) -> None:
        self.scope = scope
        self.to_app, self._app_in = trio.open_memory_channel[Message](100)
        self._app_out, self.from_app = trio.open_memory_channel[Message](0)
        self.disconnected = False
        self.sends_after_disconnect = 0

    async def receive(self) -> Message:
        return await self._app_in.receive()

    async def send(self, message: Message) -> None:
        if self.disconnected:
            self.sends_after_disconnect += 1
            return  # no checkpoint, like the worker
        try:
            await self._app_out.send(message)
        except trio.BrokenResourceError:  # disconnected while this send waited
            self.sends_after_disconnect += 1

    def disconnect(self) -> None:
        self.disconnected = True
        self.from_app.close()

    async def next(self) -> Message:
        with trio.fail_after(5):
            return await self.from_app.receive()


def ws_scope(path: str = "/", **extra: Any) -> Message:
    scope: Message = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"example.com")],
        "subprotocols": [],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "extensions": {"websocket.http.response": {}},
    }
    scope.update(extra)
    return scope


async def start(nursery: trio.Nursery, app: App, scope: Message) -> ScriptedServer:
    server = ScriptedServer(scope)
    nursery.start_soon(app, scope, server.receive, server.send)
    await server.to_app.send({"type": "websocket.connect"})
    return server


async def test_echo_and_accept_headers(nursery: trio.Nursery) -> None:
    app = App()

    @app.websocket("/chat/{room}", subprotocols=["v2", "v1"])
    async def chat(request: WebSocketRequest) -> None:
        ws = await request.accept(extra_headers=[(b"x-room", request.path_params["room"].encode())])
        assert ws.remote is not None and str(ws.remote).startswith("Endpoint")
        async for message in ws:
            await ws.send_message(message)

    server = await start(nursery, app, ws_scope("/chat/a", subprotocols=["v1", "v2"]))
    accept = await server.next()
    assert accept == {
        "type": "websocket.accept",
        "subprotocol": "v2",
        "headers": [(b"x-room", b"a")],
    }
    await server.to_app.send({"type": "websocket.receive", "text": "hi"})
    assert await server.next() == {"type": "websocket.send", "text": "hi"}
    await server.to_app.send({"type": "websocket.receive", "bytes": b"\x01"})
    assert await server.next() == {"type": "websocket.send", "bytes": b"\x01"}
    await server.to_app.send({"type": "websocket.disconnect", "code": 1000})
    await trio.testing.wait_all_tasks_blocked()


async def test_reject_uses_http_response_extension(nursery: trio.Nursery) -> None:
    app = App()
    server = await start(nursery, app, ws_scope("/missing"))
    start_msg = await server.next()
    assert start_msg["type"] == "websocket.http.response.start"
    assert start_msg["status"] == 404
    body = await server.next()
    assert body == {"type": "websocket.http.response.body", "body": b"Not Found\n"}


async def test_a_middleware_rejection_of_a_handshake_uses_the_extension(
    nursery: trio.Nursery,
) -> None:
    app = App(middleware=[TokenAuth({"secret": "ann"}.get)])
    users: list[str] = []

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        users.append(request.state.user)
        await request.accept()

    server = await start(nursery, app, ws_scope("/"))
    start_msg = await server.next()
    assert (start_msg["type"], start_msg["status"]) == ("websocket.http.response.start", 401)
    assert (b"www-authenticate", b"Bearer") in start_msg["headers"]
    body = await server.next()
    assert body["body"] == b"Authentication required: send a bearer token.\n"
    server = await start(nursery, app, ws_scope("/", query_string=b"token=secret"))
    assert (await server.next())["type"] == "websocket.accept"
    assert users == ["ann"]


async def test_reject_without_extension_closes_before_accept(nursery: trio.Nursery) -> None:
    app = App()
    server = await start(nursery, app, ws_scope("/missing", extensions={}))
    assert await server.next() == {"type": "websocket.close", "code": 1000}


async def test_unoffered_subprotocol_is_never_accepted(nursery: trio.Nursery) -> None:
    app = App()
    errors: list[str] = []

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        try:
            await request.accept(subprotocol="evil")
        except ValueError as exc:
            errors.append(str(exc))
            raise

    server = await start(nursery, app, ws_scope(subprotocols=["good"]))
    response = await server.next()
    assert response["type"] == "websocket.http.response.start"
    assert response["status"] == 500
    assert "not offered" in errors[0]


async def test_send_after_disconnect_raises_instead_of_spinning(nursery: trio.Nursery) -> None:
    app = App()
    outcome: list[BaseException] = []
    sent = 0

    @app.websocket("/")
    async def flood(request: WebSocketRequest) -> None:
        nonlocal sent
        ws = await request.accept()
        try:
            while True:
                await ws.send_message("x")
                sent += 1
        except ConnectionClosed as exc:
            outcome.append(exc)

    server = await start(nursery, app, ws_scope())
    await server.next()  # accept
    for _ in range(5):
        await server.next()
    server.disconnect()
    await server.to_app.send({"type": "websocket.disconnect", "code": 1006})
    with trio.fail_after(5):
        while not outcome:
            await trio.lowlevel.checkpoint()
    assert isinstance(outcome[0], ConnectionClosed)
    assert outcome[0].reason is not None and outcome[0].reason.code == 1006
    # The 16th send without a receive starts a reader task; every 16th unblocked send yields,
    # and the reader may need two such turns to run: at most 3 x 16 sends go nowhere.
    assert server.sends_after_disconnect <= 48


async def test_cancellation_sends_1001_shielded(nursery: trio.Nursery) -> None:
    app = App()
    ready = trio.Event()

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        ready.set()
        await ws.get_message()

    server = ScriptedServer(ws_scope())
    scope = trio.CancelScope()

    async def call() -> None:
        with scope:
            await app(server.scope, server.receive, server.send)

    nursery.start_soon(call)
    await server.to_app.send({"type": "websocket.connect"})
    await server.next()  # accept
    await ready.wait()
    scope.cancel()
    close = await server.next()
    assert close == {"type": "websocket.close", "code": 1001, "reason": "server shutting down"}


async def test_receive_timeout_closes_1011(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    app = App(asgi_options=ASGIOptions(receive_timeout=3))
    raised: list[ConnectionClosed] = []

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            await ws.get_message()
        except ConnectionClosed as exc:
            raised.append(exc)

    server = await start(nursery, app, ws_scope())
    await server.next()
    close = await server.next()
    assert close["type"] == "websocket.close" and close["code"] == 1011
    assert "no message for 3 s" in close["reason"]
    await trio.testing.wait_all_tasks_blocked()
    assert raised[0].reason is not None and raised[0].reason.code == 1011


async def test_oversized_message_closes_1009(nursery: trio.Nursery) -> None:
    app = App(asgi_options=ASGIOptions(max_message_size=4))

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        with pytest.raises(ConnectionClosed):
            await ws.get_message()

    server = await start(nursery, app, ws_scope())
    await server.next()
    await server.to_app.send({"type": "websocket.receive", "bytes": b"12345"})
    close = await server.next()
    assert close["code"] == 1009


async def test_ping_is_not_available(nursery: trio.Nursery) -> None:
    app = App()
    errors: list[str] = []

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        for call in (ws.ping, ws.pong):
            try:
                await call()
            except RuntimeError as exc:
                errors.append(str(exc))
        await ws.aclose(4000, "done")

    server = await start(nursery, app, ws_scope())
    await server.next()
    assert await server.next() == {"type": "websocket.close", "code": 4000, "reason": "done"}
    assert len(errors) == 2 and "ASGI" in errors[0]


async def test_root_path_is_stripped(nursery: trio.Nursery) -> None:
    app = App()

    @app.websocket("/echo")
    async def echo(request: WebSocketRequest) -> None:
        await request.accept()

    server = await start(nursery, app, ws_scope("/api/echo", root_path="/api"))
    assert (await server.next())["type"] == "websocket.accept"
    assert (await server.next())["type"] == "websocket.close"


async def test_http_scope(nursery: trio.Nursery) -> None:
    app = App()

    @app.http("/items/{n:int}", methods=["POST"])
    async def items(request: Any) -> dict[str, Any]:
        return {"n": request.path_params["n"], "body": request.json()}

    sent: list[Message] = []
    bodies = iter(
        [
            {"type": "http.request", "body": b'{"a":', "more_body": True},
            {"type": "http.request", "body": b"1}", "more_body": False},
        ]
    )

    async def receive() -> Message:
        return next(bodies)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/items/3",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 1),
        "root_path": "",
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b'{"n":3,"body":{"a":1}}'


async def test_lifespan_startup_and_shutdown() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        events.append("enter")
        yield
        events.append("exit")

    app = App(lifespan=lifespan)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[Message] = []

    async def receive() -> Message:
        return next(messages)

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "lifespan", "state": {}}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == ["enter", "exit"]


async def test_lifespan_startup_failure_is_reported() -> None:
    app = App()

    @app.on_startup
    async def broken() -> None:
        raise RuntimeError("database unreachable")

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "database unreachable" in sent[0]["message"]


async def test_unknown_scope_type_is_a_value_error() -> None:
    app = App()

    async def receive() -> Message:
        raise AssertionError("not called")

    async def send(message: Message) -> None:
        raise AssertionError("not called")

    with pytest.raises(ValueError, match="unsupported ASGI scope"):
        await app({"type": "webtransport"}, receive, send)


async def test_exception_handler_before_accept_is_http_403(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wsframework")
    server = await start(nursery, forbidding_app(), ws_scope("/before"))
    response = await server.next()
    assert response["type"] == "websocket.http.response.start"
    assert response["status"] == 403
    body = await server.next()
    assert body == {"type": "websocket.http.response.body", "body": b"forbidden\n"}
    assert "PermissionError on /before before accept(): answered HTTP 403" in caplog.text


async def test_exception_handler_after_accept_closes_4403(nursery: trio.Nursery) -> None:
    server = await start(nursery, forbidding_app(), ws_scope("/after"))
    assert (await server.next())["type"] == "websocket.accept"
    close = await server.next()
    assert close == {"type": "websocket.close", "code": 4403, "reason": "forbidden"}


@pytest.mark.parametrize(("queue_size", "left_with_server"), [(0, 3), (1, 2), (2, 1)])
async def test_message_queue_size_bounds_what_the_reader_takes(
    nursery: trio.Nursery, queue_size: int, left_with_server: int
) -> None:
    # The reader task (started by 16 sends without a receive) takes events from the server
    # only while the queue has room; with size 0 it holds one message until the handler takes
    # it, and reads nothing more, not even the disconnect.
    app = App(asgi_options=ASGIOptions(message_queue_size=queue_size))
    take = trio.Semaphore(0)
    got: list[str | bytes] = []
    took = trio.Event()

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        nonlocal took
        ws = await request.accept()
        for _ in range(16):
            await ws.send_message("x")
        while True:
            await take.acquire()
            got.append(await ws.get_message())
            took.set()

    server = await start(nursery, app, ws_scope())
    assert (await server.next())["type"] == "websocket.accept"
    for _ in range(16):
        await server.next()
    for text in ("m1", "m2", "m3"):
        await server.to_app.send({"type": "websocket.receive", "text": text})
    await server.to_app.send({"type": "websocket.disconnect", "code": 1000})
    await trio.testing.wait_all_tasks_blocked()
    assert server.to_app.statistics().current_buffer_used == left_with_server

    take.release()
    await took.wait()
    took = trio.Event()
    await trio.testing.wait_all_tasks_blocked()
    assert got == ["m1"]
    # Taking one message lets the reader take exactly one more event.
    assert server.to_app.statistics().current_buffer_used == max(left_with_server - 1, 0)
    server.disconnect()  # the 1001 at teardown must not wait for a reader


async def test_message_queue_size_0_without_a_reader_task(nursery: trio.Nursery) -> None:
    # A handler that receives does so itself: nothing is taken from the server before it asks.
    app = App(asgi_options=ASGIOptions(message_queue_size=0))
    take = trio.Event()
    got: list[str | bytes] = []

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await take.wait()
        got.append(await ws.get_message())

    server = await start(nursery, app, ws_scope())
    assert (await server.next())["type"] == "websocket.accept"
    await server.to_app.send({"type": "websocket.receive", "text": "m1"})
    await server.to_app.send({"type": "websocket.receive", "text": "m2"})
    await trio.testing.wait_all_tasks_blocked()
    assert server.to_app.statistics().current_buffer_used == 2
    take.set()
    await trio.testing.wait_all_tasks_blocked()
    assert got == ["m1"]
    assert server.to_app.statistics().current_buffer_used == 1
    server.disconnect()


@pytest.mark.parametrize(
    ("offers", "reason"),
    [
        (b"permessage-deflate; client_max_window_bits=abc", b"from 8 to 15, got 'abc'"),
        (b"permessage-deflate; foo=1", b"unknown parameter 'foo'"),
        (b"x-custom, permessage-deflate; server_no_context_takeover=1", b"takes no value"),
        (b"permessage-deflate; server_max_window_bits, permessage-deflate", b"needs a value"),
    ],
)
async def test_an_invalid_deflate_offer_is_refused_with_400(
    nursery: trio.Nursery, offers: bytes, reason: bytes
) -> None:
    """The ASGI server negotiates, and would accept (or crash on) these: refused before the
    application runs."""
    app = App()
    handled: list[str] = []

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        handled.append(request.path)
        await request.accept()

    headers = [(b"host", b"example.com"), (b"sec-websocket-extensions", offers)]
    server = await start(nursery, app, ws_scope("/", headers=headers))
    start_msg = await server.next()
    assert (start_msg["type"], start_msg["status"]) == ("websocket.http.response.start", 400)
    body = (await server.next())["body"]
    assert body.startswith(b"invalid permessage-deflate offer: ") and reason in body
    assert handled == []
    # A valid offer (or another extension) is left to the server, as before.
    headers[1] = (
        b"sec-websocket-extensions",
        b"x-custom; a=b, permessage-deflate; client_max_window_bits",
    )
    server = await start(nursery, app, ws_scope("/", headers=headers))
    assert (await server.next())["type"] == "websocket.accept"
    assert handled == ["/"]
