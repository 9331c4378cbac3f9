"""The App over the native transport, socket-less: scripted wsproto/h11 clients.

Exception handlers and unhandled errors are in ``test_app_exception_handlers.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal
from uuid import UUID

import pytest
import trio
import trio.testing
from pydantic import BaseModel
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    RejectConnection,
    RejectData,
    TextMessage,
)

from wsframework import App, ConnectionClosed, WebSocketRequest
from wsframework.http import HTTPRequest, Response
from wsframework.options import ServerOptions
from wsframework.routing import Route

from .app_helpers import header, http, open_ws


async def test_echo_route_with_typed_path_params(nursery: trio.Nursery) -> None:
    app = App()
    seen: dict[str, Any] = {}

    @app.websocket("/rooms/{room}/{user_id:int}")
    async def room(request: WebSocketRequest) -> None:
        seen.update(request.path_params)
        seen["app"] = request.app
        ws = await request.accept()
        async for message in ws:
            await ws.send_message(message)

    peer, event = await open_ws(nursery, app, "/rooms/lobby/7")
    assert isinstance(event, AcceptConnection)
    await peer.send(TextMessage(data="hi"))
    assert (await peer.expect(TextMessage)).data == "hi"
    assert seen == {"room": "lobby", "user_id": 7, "app": app}


async def test_request_facts(nursery: trio.Nursery) -> None:
    app = App()
    facts: dict[str, Any] = {}

    @app.websocket("/items/{item_id:uuid}")
    async def item(request: WebSocketRequest) -> None:
        facts["id"] = request.path_params["item_id"]
        facts["tags"] = request.query_params.getlist("tag")
        facts["origin"] = request.headers["ORIGIN"]
        facts["cookies"] = request.cookies
        facts["url"] = request.url
        request.state.seen = True
        facts["state"] = request.state.seen
        facts["client"] = request.client
        await request.accept()

    uid = "12345678-1234-5678-1234-567812345678"
    peer, event = await open_ws(
        nursery,
        app,
        f"/items/{uid}?tag=a&tag=b",
        extra_headers=[(b"Origin", b"https://example.com"), (b"Cookie", b"sid=abc; theme=dark")],
    )
    assert isinstance(event, AcceptConnection)
    await peer.expect(CloseConnection)
    assert facts["id"] == UUID(uid)
    assert facts["tags"] == ["a", "b"]
    assert facts["origin"] == "https://example.com"
    assert facts["cookies"] == {"sid": "abc", "theme": "dark"}
    assert facts["url"] == f"ws://example.com/items/{uid}?tag=a&tag=b"
    assert facts["state"] is True
    assert facts["client"] is None  # memory streams have no address


async def test_unknown_path_is_404(nursery: trio.Nursery) -> None:
    app = App()
    _, event = await open_ws(nursery, app, "/nowhere")
    assert isinstance(event, RejectConnection)
    assert event.status_code == 404


async def test_websocket_route_hit_by_plain_http_is_426(nursery: trio.Nursery) -> None:
    app = App()

    @app.websocket("/ws")
    async def ws(request: WebSocketRequest) -> None:
        await request.accept()

    response, body = await http(nursery, app, "GET", "/ws")
    assert response.status_code == 426
    assert header(response, b"upgrade") == b"websocket"
    assert b"WebSocket" in body


async def test_http_route_hit_by_websocket_is_404(nursery: trio.Nursery) -> None:
    app = App()

    @app.http("/health")
    async def health(request: HTTPRequest) -> str:
        return "ok"

    _, event = await open_ws(nursery, app, "/health")
    assert isinstance(event, RejectConnection)
    assert event.status_code == 404


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [(["chat.v1", "chat.v2"], "chat.v2"), (["chat.v1"], "chat.v1"), ([], None), (["x"], None)],
)
async def test_subprotocol_selection_by_server_preference(
    nursery: trio.Nursery, offered: list[str], chosen: str | None
) -> None:
    app = App()

    @app.websocket("/chat", subprotocols=["chat.v2", "chat.v1"])
    async def chat(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message(str(ws.subprotocol))

    peer, event = await open_ws(nursery, app, "/chat", subprotocols=offered)
    assert isinstance(event, AcceptConnection)
    assert event.subprotocol == chosen
    assert (await peer.expect(TextMessage)).data == str(chosen)


async def test_subprotocol_required_refuses_with_400_naming_them(nursery: trio.Nursery) -> None:
    app = App()
    called = []

    @app.websocket("/chat", subprotocols=["chat.v2", "chat.v1"], subprotocol_required=True)
    async def chat(request: WebSocketRequest) -> None:
        called.append(1)

    peer, event = await open_ws(nursery, app, "/chat", subprotocols=["other"])
    assert isinstance(event, RejectConnection)
    assert event.status_code == 400
    body = await peer.expect(RejectData)
    assert b"chat.v2, chat.v1" in body.data
    assert called == []
    with pytest.raises(ValueError, match="needs a list"):
        app.websocket("/x", subprotocol_required=True)


async def test_accepting_unoffered_subprotocol_is_a_value_error(nursery: trio.Nursery) -> None:
    app = App()
    errors: list[str] = []

    @app.websocket("/chat", subprotocols=["chat.v1"])
    async def chat(request: WebSocketRequest) -> None:
        try:
            await request.accept(subprotocol="chat.v9")
        except ValueError as exc:
            errors.append(str(exc))
            await request.accept()

    _, event = await open_ws(nursery, app, "/chat", subprotocols=["chat.v1"])
    assert isinstance(event, AcceptConnection)
    assert "not offered" in errors[0]


async def test_middleware_order_state_and_wrapping(nursery: trio.Nursery) -> None:
    order: list[str] = []
    app = App()

    @app.middleware
    async def outer(request: WebSocketRequest, call_next: Any) -> None:
        order.append("outer in")
        request.state.user = "alice"
        await call_next(request)
        order.append("outer out")

    async def inner(request: WebSocketRequest, call_next: Any) -> None:
        order.append("inner in")
        await call_next(request)
        order.append("inner out")

    app.add_middleware(inner)

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        order.append(f"handler {request.state.user}")
        ws = await request.accept()
        await ws.aclose()

    peer, event = await open_ws(nursery, app, "/")
    assert isinstance(event, AcceptConnection)
    close = await peer.expect(CloseConnection)
    await peer.send(close.response())
    await peer.read_until_eof()
    await trio.testing.wait_all_tasks_blocked()
    assert order == ["outer in", "inner in", "handler alice", "inner out", "outer out"]


async def test_middleware_can_reject(nursery: trio.Nursery) -> None:
    app = App()
    called = []

    @app.middleware
    async def deny(request: WebSocketRequest, call_next: Any) -> None:
        await request.reject(401, extra_headers=[(b"x-why", b"no")], body=b"who are you")

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        called.append(1)

    peer, event = await open_ws(nursery, app, "/")
    assert isinstance(event, RejectConnection)
    assert event.status_code == 401
    assert (b"x-why", b"no") in event.headers
    assert (await peer.expect(RejectData)).data == b"who are you"
    assert called == []


async def test_http_routes(nursery: trio.Nursery) -> None:
    app = App()

    @app.http("/text")
    async def text(request: HTTPRequest) -> str:
        return "hello"

    @app.http("/json/{n:int}")
    async def as_json(request: HTTPRequest) -> dict[str, Any]:
        return {"n": request.path_params["n"], "q": request.query_params.get("q")}

    @app.http("/bytes")
    async def raw(request: HTTPRequest) -> bytes:
        return b"\x00\x01"

    @app.http("/empty", methods=["POST"])
    async def empty(request: HTTPRequest) -> None:
        assert request.json() == {"a": 1}

    @app.http("/custom")
    async def custom(request: HTTPRequest) -> Response:
        return Response("teapot", 418, headers=[("x-kind", "tea")])

    @app.http("/boom")
    async def boom(request: HTTPRequest) -> str:
        raise RuntimeError("http boom")

    response, body = await http(nursery, app, "GET", "/text")
    assert (response.status_code, body) == (200, b"hello")
    assert header(response, b"content-type") == b"text/plain; charset=utf-8"
    response, body = await http(nursery, app, "GET", "/json/3?q=x")
    assert (response.status_code, body) == (200, b'{"n":3,"q":"x"}')
    assert header(response, b"content-type") == b"application/json"
    response, body = await http(nursery, app, "GET", "/bytes")
    assert body == b"\x00\x01"
    response, body = await http(nursery, app, "POST", "/empty", b'{"a": 1}')
    assert (response.status_code, body) == (204, b"")
    response, body = await http(nursery, app, "GET", "/custom")
    assert (response.status_code, body) == (418, b"teapot")
    assert header(response, b"x-kind") == b"tea"
    response, body = await http(nursery, app, "HEAD", "/text")
    assert response.status_code == 200 and body == b""
    assert header(response, b"content-length") == b"5"
    response, _ = await http(nursery, app, "GET", "/empty")
    assert response.status_code == 405
    assert header(response, b"allow") == b"POST"
    response, _ = await http(nursery, app, "GET", "/missing")
    assert response.status_code == 404
    response, _ = await http(nursery, app, "GET", "/boom")
    assert response.status_code == 500


async def test_url_path_for() -> None:
    app = App()

    @app.websocket("/rooms/{room}/{user_id:int}", name="room")
    async def room(request: WebSocketRequest) -> None:
        pass

    assert app.url_path_for("room", room="a b", user_id=7) == "/rooms/a%20b/7"
    with pytest.raises(LookupError):
        app.url_path_for("nope")


async def test_lifespan_hooks_state_and_background_tasks(caplog: pytest.LogCaptureFixture) -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        app.state.db = "connected"
        events.append("lifespan enter")
        yield
        events.append("lifespan exit")

    app = App(lifespan=lifespan)

    @app.on_startup
    async def start() -> None:
        events.append("startup")

    @app.on_shutdown
    async def stop() -> None:
        events.append("shutdown")

    async def failing() -> None:
        raise RuntimeError("background failure")

    ticked = trio.Event()

    async def ticking() -> None:
        ticked.set()
        await trio.sleep_forever()

    with pytest.raises(RuntimeError, match="not running"):
        _ = app.nursery
    async with app.lifespan_context():
        assert app.state.db == "connected"
        app.start_background_task(failing)
        app.start_background_task(ticking)
        await ticked.wait()
        await trio.testing.wait_all_tasks_blocked()
    assert events == ["startup", "lifespan enter", "lifespan exit", "shutdown"]
    assert "background failure" in caplog.text


class Join(BaseModel):
    type: Literal["join"]
    room: str


class Say(BaseModel):
    type: Literal["say"]
    text: str


class Event(BaseModel):
    text: str


async def test_typed_route_contract(nursery: trio.Nursery) -> None:
    app = App()
    got: list[BaseModel] = []

    @app.websocket("/rpc", receive=Join | Say, send=Event, on_invalid="reply")
    async def rpc(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async for message in ws:
            got.append(message)
            await ws.send(Event(text=type(message).__name__))
            with pytest.raises(TypeError):
                await ws.send({"text": "not a model"})

    peer, _ = await open_ws(nursery, app, "/rpc")
    await peer.send(TextMessage(data='{"type": "join", "room": "a"}'))
    assert (await peer.expect(TextMessage)).data == '{"text":"Join"}'
    await peer.send(TextMessage(data='{"type": "shout"}'))
    assert '"invalid_message"' in (await peer.expect(TextMessage)).data
    await peer.send(TextMessage(data='{"type": "say", "text": "hi"}'))
    assert (await peer.expect(TextMessage)).data == '{"text":"Say"}'
    await peer.send(CloseConnection(code=1000))
    await peer.expect(CloseConnection)
    assert got == [Join(type="join", room="a"), Say(type="say", text="hi")]


async def test_typed_route_default_policy_closes_1007(nursery: trio.Nursery) -> None:
    app = App()
    raised: list[ConnectionClosed] = []
    done = trio.Event()

    @app.websocket("/rpc", receive=Join)
    async def rpc(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            async for _ in ws:
                pass
        except ConnectionClosed as exc:
            raised.append(exc)
        done.set()

    peer, _ = await open_ws(nursery, app, "/rpc")
    await peer.send(TextMessage(data="{}"))
    close = await peer.expect(CloseConnection)
    assert close.code == 1007
    await peer.send(close.response())
    with trio.fail_after(5):
        await done.wait()
    assert raised and raised[0].reason is not None and raised[0].reason.code == 1007


@pytest.mark.parametrize(
    ("app_root", "request_root", "url", "routed"),
    [
        ("", "", "/api/echo", "/api/echo"),
        ("/api", "", "/api/echo", "/echo"),
        ("/api", "", "/api", "/"),
        ("/api", "", "/apix/echo", "/apix/echo"),  # not under the prefix: routed as it is
        ("/api", "/v2", "/v2/echo", "/echo"),  # the server's root_path wins
        ("", "/v2", "/v2/echo", "/echo"),
    ],
)
def test_route_path_strips_the_mount_prefix(
    app_root: str, request_root: str, url: str, routed: str
) -> None:
    app = App(root_path=app_root)
    request = HTTPRequest("GET", url + "?q=1", [], root_path=request_root)
    assert app.route_path(request) == routed


async def test_app_root_path_on_our_own_server(nursery: trio.Nursery) -> None:
    app = App(root_path="/api")

    @app.websocket("/echo")
    async def echo(request: WebSocketRequest) -> None:
        await request.accept()

    @app.http("/health")
    async def health(request: HTTPRequest) -> str:
        return "ok"

    _, event = await open_ws(nursery, app, "/api/echo")
    assert isinstance(event, AcceptConnection)
    response, body = await http(nursery, app, "GET", "/api/health")
    assert (response.status_code, body) == (200, b"ok")


async def test_plain_route_added_by_hand_is_a_logged_500(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    app = App()

    async def handler(request: WebSocketRequest) -> None:
        await request.accept()

    app.router.add(Route("/raw", handler))
    _, event = await open_ws(nursery, app, "/raw")
    assert isinstance(event, RejectConnection) and event.status_code == 500
    assert "route '/raw' is a plain Route: add WebSocket routes with" in caplog.text


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"max_message_size": 0}, ValueError, "max_message_size must be an integer greater"),
        ({"ping_timout": 5}, TypeError, "unknown keyword arguments: ping_timout"),
        (
            {"options": ServerOptions(), "ping_interval": 5},
            ValueError,
            "not both: ping_interval",
        ),
    ],
)
async def test_serve_checks_its_options_before_startup(
    options: dict[str, Any], error: type[Exception], text: str
) -> None:
    started: list[str] = []
    app = App()

    @app.on_startup
    async def startup() -> None:
        started.append("startup")

    with pytest.raises(error, match=text):
        await app.serve("127.0.0.1", 0, **options)
    assert started == []  # nothing started, nothing listened
