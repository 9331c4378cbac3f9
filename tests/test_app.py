"""The App over the native transport, socket-less: through the test client (real frames and
HTTP/1.1 over memory streams).

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

from wsframework import App, BaseRequest, CallNext, ConnectionClosed, WebSocketRequest
from wsframework.http import HTTPRequest, Response
from wsframework.options import ServerOptions
from wsframework.routing import Route
from wsframework.testing import TestClient

from .app_helpers import closing, handshake, refusal


async def test_echo_route_with_typed_path_params() -> None:
    app = App()
    seen: dict[str, Any] = {}

    @app.websocket("/rooms/{room}/{user_id:int}")
    async def room(request: WebSocketRequest) -> None:
        seen.update(request.path_params)
        seen["app"] = request.app
        ws = await request.accept()
        async for message in ws:
            await ws.send_message(message)

    async with TestClient(app) as client, client.websocket("/rooms/lobby/7") as ws:
        await ws.send_message("hi")
        with trio.fail_after(5):
            assert await ws.get_message() == "hi"
    assert seen == {"room": "lobby", "user_id": 7, "app": app}


async def test_request_facts() -> None:
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
    async with TestClient(app, base_url="http://example.com") as client:
        headers = [("Origin", "https://example.com"), ("Cookie", "sid=abc; theme=dark")]
        closed = await closing(client, f"/items/{uid}?tag=a&tag=b", headers=headers)
    assert closed.code == 1000  # the handler returned after accept()
    assert facts["id"] == UUID(uid)
    assert facts["tags"] == ["a", "b"]
    assert facts["origin"] == "https://example.com"
    assert facts["cookies"] == {"sid": "abc", "theme": "dark"}
    assert facts["url"] == f"ws://example.com/items/{uid}?tag=a&tag=b"
    assert facts["state"] is True
    assert facts["client"] == ("127.0.0.1", 50000)  # the TestClient's default client address


async def test_unknown_path_is_404() -> None:
    app = App()
    async with TestClient(app) as client:
        assert await handshake(client, "/nowhere") == (404, b"Not Found\n")


async def test_websocket_route_hit_by_plain_http_is_426() -> None:
    app = App()

    @app.websocket("/ws")
    async def ws(request: WebSocketRequest) -> None:
        await request.accept()

    async with TestClient(app) as client:
        response = await client.get("/ws")
    assert response.status_code == 426
    assert response.headers["upgrade"] == "websocket"
    assert "WebSocket" in response.text


async def test_http_route_hit_by_websocket_is_404() -> None:
    app = App()

    @app.http("/health")
    async def health(request: HTTPRequest) -> str:
        return "ok"

    async with TestClient(app) as client:
        assert (await handshake(client, "/health"))[0] == 404


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [(["chat.v1", "chat.v2"], "chat.v2"), (["chat.v1"], "chat.v1"), ([], None), (["x"], None)],
)
async def test_subprotocol_selection_by_server_preference(
    offered: list[str], chosen: str | None
) -> None:
    app = App()

    @app.websocket("/chat", subprotocols=["chat.v2", "chat.v1"])
    async def chat(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message(str(ws.subprotocol))

    async with TestClient(app) as client, client.websocket("/chat", subprotocols=offered) as ws:
        assert ws.subprotocol == chosen
        with trio.fail_after(5):
            assert await ws.get_message() == str(chosen)


async def test_subprotocol_required_refuses_with_400_naming_them() -> None:
    app = App()
    called = []

    @app.websocket("/chat", subprotocols=["chat.v2", "chat.v1"], subprotocol_required=True)
    async def chat(request: WebSocketRequest) -> None:
        called.append(1)

    async with TestClient(app) as client:
        status, body = await handshake(client, "/chat", subprotocols=["other"])
    assert status == 400
    assert b"chat.v2, chat.v1" in body
    assert called == []
    with pytest.raises(ValueError, match="needs a list"):
        app.websocket("/x", subprotocol_required=True)


async def test_accepting_unoffered_subprotocol_is_a_value_error() -> None:
    app = App()
    errors: list[str] = []

    @app.websocket("/chat", subprotocols=["chat.v1"])
    async def chat(request: WebSocketRequest) -> None:
        try:
            await request.accept(subprotocol="chat.v9")
        except ValueError as exc:
            errors.append(str(exc))
            await request.accept()

    async with TestClient(app) as client, client.websocket("/chat", subprotocols=["chat.v1"]) as ws:
        assert ws.subprotocol == "chat.v1"
    assert "not offered" in errors[0]


async def test_middleware_order_state_and_wrapping() -> None:
    order: list[str] = []
    app = App()

    @app.middleware
    async def outer(request: BaseRequest, call_next: CallNext) -> None:
        order.append("outer in")
        request.state.user = "alice"
        await call_next(request)
        order.append("outer out")

    async def inner(request: BaseRequest, call_next: CallNext) -> None:
        order.append("inner in")
        await call_next(request)
        order.append("inner out")

    app.add_middleware(inner)

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        order.append(f"handler {request.state.user}")
        ws = await request.accept()
        await ws.aclose()

    async with TestClient(app) as client:
        assert (await closing(client, "/")).code == 1000
        await trio.testing.wait_all_tasks_blocked()
    assert order == ["outer in", "inner in", "handler alice", "inner out", "outer out"]


async def test_middleware_can_reject() -> None:
    app = App()
    called = []

    @app.middleware
    async def deny(request: BaseRequest, call_next: CallNext) -> None:
        await request.reject(401, extra_headers=[(b"x-why", b"no")], body=b"who are you")

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        called.append(1)

    async with TestClient(app) as client:
        refused = await refusal(client, "/")
    assert refused.status_code == 401
    assert (b"x-why", b"no") in refused.headers
    assert refused.body == b"who are you"
    assert called == []


async def test_http_routes() -> None:
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

    async with TestClient(app) as client:
        response = await client.get("/text")
        assert (response.status_code, response.content) == (200, b"hello")
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        response = await client.get("/json/3?q=x")
        assert (response.status_code, response.content) == (200, b'{"n":3,"q":"x"}')
        assert response.headers["content-type"] == "application/json"
        response = await client.get("/bytes")
        assert response.content == b"\x00\x01"
        response = await client.post("/empty", content=b'{"a": 1}')
        assert (response.status_code, response.content) == (204, b"")
        response = await client.get("/custom")
        assert (response.status_code, response.content) == (418, b"teapot")
        assert response.headers["x-kind"] == "tea"
        response = await client.request("HEAD", "/text")
        assert response.status_code == 200 and response.content == b""
        assert response.headers["content-length"] == "5"
        response = await client.get("/empty")
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert (await client.get("/missing")).status_code == 404
        assert (await client.get("/boom")).status_code == 500


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


async def test_typed_route_contract() -> None:
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

    async with TestClient(app) as client, client.websocket("/rpc") as ws:
        with trio.fail_after(5):
            await ws.send_message('{"type": "join", "room": "a"}')
            assert await ws.get_message() == '{"text":"Join"}'
            await ws.send_message('{"type": "shout"}')
            reply = await ws.get_message()
            assert isinstance(reply, str) and '"invalid_message"' in reply
            await ws.send_message('{"type": "say", "text": "hi"}')
            assert await ws.get_message() == '{"text":"Say"}'
    assert ws.closed is not None and ws.closed.code == 1000
    assert got == [Join(type="join", room="a"), Say(type="say", text="hi")]


async def test_typed_route_default_policy_closes_1007() -> None:
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

    async with TestClient(app) as client, client.websocket("/rpc") as ws:
        await ws.send_message("{}")
        with trio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
        assert closed.value.reason is not None and closed.value.reason.code == 1007
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


async def test_app_root_path_on_our_own_server() -> None:
    app = App(root_path="/api")

    @app.websocket("/echo")
    async def echo(request: WebSocketRequest) -> None:
        await request.accept()

    @app.http("/health")
    async def health(request: HTTPRequest) -> str:
        return "ok"

    async with TestClient(app) as client:
        assert await handshake(client, "/api/echo") == (101, b"")
        response = await client.get("/api/health")
    assert (response.status_code, response.content) == (200, b"ok")


async def test_plain_route_added_by_hand_is_a_logged_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()

    async def handler(request: WebSocketRequest) -> None:
        await request.accept()

    app.router.add(Route("/raw", handler))
    async with TestClient(app) as client:
        assert (await handshake(client, "/raw"))[0] == 500
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
