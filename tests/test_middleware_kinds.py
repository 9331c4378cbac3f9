"""Which requests a middleware runs for (App.add_middleware's ``only=``), rejections and errors
on plain HTTP requests, and the types a middleware is written against (``mypy --strict``).

Through the test client here; plain HTTP through the ASGI transport is in tests/test_http.py
(both transports), through a real Hypercorn in tests/integration/test_two_runners.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from wsframework import App, BaseRequest, CallNext, HTTPRequest, WebSocketRequest
from wsframework.testing import TestClient

from .app_helpers import handshake
from .mypy_helpers import mypy_strict
from .test_middleware import rejection

# --- which requests a middleware runs for ------------------------------------------------------


def routes_app() -> App:
    """An App with a WebSocket route, ``/ws``, and a plain HTTP one, ``/page``."""
    app = App()

    @app.websocket("/ws")
    async def ws(request: WebSocketRequest) -> None:
        await request.accept()

    @app.http("/page")
    async def page(request: HTTPRequest) -> str:
        return "page"

    return app


def both_kinds_app(seen: list[str], **add: Any) -> App:
    """:func:`routes_app` with a middleware that records the kind of each request."""
    app = routes_app()

    async def record(request: BaseRequest, call_next: CallNext) -> None:
        seen.append(type(request).__name__)
        await call_next(request)

    app.add_middleware(record, **add)
    return app


@pytest.mark.parametrize(
    ("add", "expected"),
    [
        ({}, ["WebSocketRequest", "HTTPRequest"]),
        ({"only": None}, ["WebSocketRequest", "HTTPRequest"]),
        ({"only": "websocket"}, ["WebSocketRequest"]),
        ({"only": "http"}, ["HTTPRequest"]),
    ],
)
async def test_a_middleware_runs_for_both_kinds_unless_restricted(
    add: dict[str, Any], expected: list[str]
) -> None:
    seen: list[str] = []
    async with TestClient(both_kinds_app(seen, **add)) as client:
        assert await handshake(client, "/ws") == (101, b"")
        assert (await client.get("/page")).text == "page"
    assert seen == expected


async def test_the_decorator_takes_the_same_restriction() -> None:
    app = routes_app()
    seen: list[str] = []

    @app.middleware
    async def both(request: BaseRequest, call_next: CallNext) -> None:
        seen.append("both " + request.url_path)
        await call_next(request)

    @app.middleware(only="http")
    async def http_only(request: HTTPRequest, call_next: CallNext[HTTPRequest]) -> None:
        seen.append(f"http {request.method} {request.url_path}")
        await call_next(request)

    @app.middleware(only="websocket")
    async def ws_only(request: WebSocketRequest, call_next: CallNext[WebSocketRequest]) -> None:
        seen.append(f"websocket {request.proposed_subprotocols}")
        await call_next(request)

    async with TestClient(app) as client:
        assert await handshake(client, "/ws", subprotocols=["v1"]) == (101, b"")
        assert (await client.get("/page")).status_code == 200
    assert seen == ["both /ws", "websocket ('v1',)", "both /page", "http GET /page"]


def test_a_restriction_must_be_a_kind() -> None:
    app = App()

    async def mw(request: BaseRequest, call_next: CallNext) -> None:
        await call_next(request)

    with pytest.raises(ValueError, match="only must be None, 'websocket' or 'http', not 'ws'"):
        app.add_middleware(mw, only="ws")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="not 'HTTP'"):
        app.middleware(only="HTTP")  # type: ignore[call-overload]


async def test_unmatched_requests_are_answered_before_any_middleware() -> None:
    seen: list[str] = []
    async with TestClient(both_kinds_app(seen)) as client:
        assert (await client.get("/missing")).status_code == 404
        assert (await client.delete("/page")).status_code == 405
        assert (await client.get("/ws")).status_code == 426
        assert await rejection(client, "/missing") == (404, b"Not Found\n")
    assert seen == []


# --- HTTP requests through middleware ---------------------------------------------------------


async def test_an_http_rejection_is_the_response_and_the_handler_does_not_run() -> None:
    app = App()
    handled: list[str] = []

    @app.middleware
    async def deny(request: BaseRequest, call_next: CallNext) -> None:
        if request.query_params.get("deny"):
            await request.reject(401, extra_headers=[(b"x-denied", b"yes")], body=b"no\n")
            return
        await call_next(request)

    @app.http("/page", methods=["GET", "POST"])
    async def page(request: HTTPRequest) -> str:
        handled.append(request.method)
        return "page"

    async with TestClient(app) as client:
        response = await client.get("/page?deny=1")
        assert (response.status_code, response.text) == (401, "no\n")
        assert response.headers["x-denied"] == "yes"
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        head = await client.request("HEAD", "/page?deny=1")
        assert (head.status_code, head.content, head.headers["content-length"]) == (401, b"", "3")
        assert (await client.post("/page")).text == "page"
    assert handled == ["POST"]


async def test_a_middleware_sees_and_may_change_the_http_response() -> None:
    app = App()

    @app.middleware(only="http")
    async def stamp(request: HTTPRequest, call_next: CallNext[HTTPRequest]) -> None:
        assert request.response is None
        await call_next(request)
        assert request.response is not None
        request.response.headers.append(("x-status-seen", str(request.response.status_code)))

    @app.http("/data")
    async def data(request: HTTPRequest) -> dict[str, int]:
        return {"n": 1}

    @app.http("/refused")
    async def refused(request: HTTPRequest) -> None:
        await request.reject(409, body=b"taken\n")  # a handler may answer with reject too

    async with TestClient(app) as client:
        response = await client.get("/data")
        assert (response.status_code, response.json()) == (200, {"n": 1})
        assert response.headers["x-status-seen"] == "200"
        response = await client.get("/refused")
        assert (response.status_code, response.text) == (409, "taken\n")
        assert response.headers["x-status-seen"] == "409"


async def test_http_reject_checks_its_arguments_and_answers_once() -> None:
    request = HTTPRequest("GET", "/", [])
    with pytest.raises(ValueError, match="HTTP status from 200 to 599, got 101"):
        await request.reject(101)
    with pytest.raises(ValueError, match="malformed header"):
        await request.reject(400, extra_headers=[(b"x-a", b"b\r\nc")])
    assert request.response is None
    await request.reject(403)
    assert request.response is not None and request.response.status_code == 403
    with pytest.raises(RuntimeError, match="this request was already answered"):
        await request.reject(400)


async def test_a_middleware_error_on_http_is_a_logged_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()

    @app.middleware
    async def broken(request: BaseRequest, call_next: CallNext) -> None:
        raise LookupError("middleware bug")

    @app.http("/page")
    async def page(request: HTTPRequest) -> str:
        raise AssertionError("the handler must not run")

    async with TestClient(app) as client:
        response = await client.get("/page")
    assert (response.status_code, response.text) == (500, "Internal Server Error\n")
    (record,) = [r for r in caplog.records if r.exc_info]
    assert record.getMessage().startswith("HTTP handler error on GET /page")
    assert isinstance(record.exc_info[1], LookupError)  # type: ignore[index]


async def test_an_http_request_no_middleware_answered_is_403(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()
    caplog.set_level(logging.INFO, logger="wsframework")

    @app.middleware(only="http")
    async def swallow(request: HTTPRequest, call_next: CallNext[HTTPRequest]) -> None:
        return None

    @app.http("/page")
    async def page(request: HTTPRequest) -> str:
        return "page"

    async with TestClient(app) as client:
        response = await client.get("/page")
    assert (response.status_code, response.text) == (403, "The request was not answered.\n")
    assert "refused GET /page: a middleware neither called call_next nor rejected it" in (
        caplog.text
    )


# --- typing -----------------------------------------------------------------------------------

TYPED_MIDDLEWARE = """
from wsframework import App, BaseRequest, CallNext, HTTPRequest, Middleware, WebSocketRequest
from wsframework.middleware import AccessLog, TokenAuth

app = App(middleware=[AccessLog()])

@app.middleware
async def both(request: BaseRequest, call_next: CallNext) -> None:
    if request.headers.get("x-deny"):
        await request.reject(403, body=b"denied")
        return
    await call_next(request)

@app.middleware(only="websocket")
async def ws_only(request: WebSocketRequest, call_next: CallNext[WebSocketRequest]) -> None:
    reveal_type(request.proposed_subprotocols)
    await call_next(request)

async def http_only(request: HTTPRequest, call_next: CallNext[HTTPRequest]) -> None:
    await call_next(request)
    reveal_type(request.response)

app.add_middleware(http_only, only="http")
app.add_middleware(TokenAuth(lambda token: token), only="websocket")
listed: list[Middleware] = [both, AccessLog()]
app.add_middleware(ws_only)
"""


def test_a_typed_middleware_passes_mypy_strict(tmp_path: Path) -> None:
    lines, output = mypy_strict(tmp_path, TYPED_MIDDLEWARE)
    # The one error is the last line's: a WebSocket-only middleware added for both kinds.
    assert lines == [
        'note: Revealed type is "tuple[str, ...]"',
        'note: Revealed type is "wsframework.http.Response | None"',
        'error: Argument 1 to "add_middleware" of "App" has incompatible type '
        '"Callable[[WebSocketRequest[WebSocketConnection], Callable[[WebSocketRequest['
        'WebSocketConnection]], Awaitable[None]]], Coroutine[Any, Any, None]]"; expected '
        '"Callable[[BaseRequest, Callable[[BaseRequest], Awaitable[None]]], Awaitable[None]]"'
        "  [arg-type]",
    ], output
