"""The App's exception handlers and unhandled errors, before and after accept(), over the
native transport, socket-less: through the test client."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from wsframework import App, WebSocketRequest
from wsframework.http import Response
from wsframework.testing import TestClient

from .app_helpers import closing, refusal, rejection
from .sample_apps import forbidding_app


async def test_exception_handler_maps_to_close_code() -> None:
    class Forbidden(Exception):
        pass

    app = App()

    @app.exception_handler(Forbidden)
    async def forbidden(request: WebSocketRequest, exc: Exception) -> tuple[int, str]:
        return 4403, f"forbidden: {exc}"

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        await request.accept()
        raise Forbidden("room is private")

    async with TestClient(app) as client:
        close = await closing(client, "/")
    assert (close.code, close.reason) == (4403, "forbidden: room is private")


async def test_exception_handler_before_accept_gives_status() -> None:
    app = App()

    @app.exception_handler(LookupError)
    async def missing(request: WebSocketRequest, exc: Exception) -> int:
        return 404

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        raise KeyError("no such room")

    async with TestClient(app) as client:
        assert (await rejection(client, "/"))[0] == 404


async def test_unhandled_errors_close_1011_or_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()

    @app.websocket("/after")
    async def after(request: WebSocketRequest) -> None:
        await request.accept()
        raise RuntimeError("after accept")

    @app.websocket("/before")
    async def before(request: WebSocketRequest) -> None:
        raise RuntimeError("before accept")

    async with TestClient(app) as client:
        assert (await closing(client, "/after")).code == 1011
        assert (await rejection(client, "/before"))[0] == 500
    assert "after accept" in caplog.text and "before accept" in caplog.text


async def test_docs_exception_handler_before_accept_is_http_403(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wsframework")
    async with TestClient(forbidding_app()) as client:
        assert await rejection(client, "/before") == (403, b"forbidden\n")
    assert (
        "PermissionError on /before before accept(): answered HTTP 403 "
        "(exception handler forbidding_app.<locals>.forbidden)" in caplog.text
    )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_docs_exception_handler_after_accept_closes_4403(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wsframework")
    async with TestClient(forbidding_app()) as client:
        close = await closing(client, "/after")  # accepted, then closed
    assert (close.code, close.reason) == (4403, "forbidden")
    assert "PermissionError on /after: closing with 4403 'forbidden'" in caplog.text


async def test_exception_handler_can_answer_each_side_its_own_way() -> None:
    app = App()

    @app.exception_handler(LookupError)
    async def missing(request: WebSocketRequest, exc: Exception) -> Any:
        if request.handshake_state == "pending":
            return Response(f"no room {exc}\n", 404, headers=[("x-hint", "try /rooms")])
        return 4004, "room closed"

    @app.websocket("/rooms/{name}")
    async def room(request: WebSocketRequest) -> None:
        if request.path_params["name"] == "gone":
            raise LookupError("gone")
        await request.accept()
        raise LookupError("closed meanwhile")

    async with TestClient(app) as client:
        refused = await refusal(client, "/rooms/gone")
        assert refused.status_code == 404
        assert (b"x-hint", b"try /rooms") in refused.headers
        assert refused.body == b"no room gone\n"
        close = await closing(client, "/rooms/open")
    assert (close.code, close.reason) == (4004, "room closed")


async def test_close_code_without_http_form_before_accept_is_a_logged_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()

    @app.exception_handler(PermissionError)
    async def policy(request: WebSocketRequest, exc: Exception) -> int:
        return 1008

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        raise PermissionError("no")

    async with TestClient(app) as client:
        assert await rejection(client, "/") == (500, b"Internal Server Error\n")
    record = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert record.getMessage().startswith(
        "PermissionError on / before accept(): exception handler "
        "test_close_code_without_http_form_before_accept_is_a_logged_500.<locals>.policy "
        "cannot answer: close code 1008 has no HTTP equivalent before accept()"
    )
    assert record.getMessage().endswith("; answering HTTP 500")


async def test_http_status_without_close_form_after_accept_is_a_logged_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()

    @app.exception_handler(ValueError)
    async def ok(request: WebSocketRequest, exc: Exception) -> int:
        return 200

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        await request.accept()
        raise ValueError("no")

    async with TestClient(app) as client:
        close = await closing(client, "/")
    assert (close.code, close.reason) == (1011, "internal server error")
    assert "HTTP status 200 has no close code after accept()" in caplog.text


async def test_exception_handler_that_answered_itself_returns_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()

    @app.exception_handler(KeyError)
    async def own(request: WebSocketRequest, exc: Exception) -> None:
        if request.path == "/answers":
            await request.reject(409, body=b"conflict\n")

    @app.websocket("/{mode}")
    async def handler(request: WebSocketRequest) -> None:
        raise KeyError("x")

    async with TestClient(app) as client:
        assert await rejection(client, "/answers") == (409, b"conflict\n")
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert (await rejection(client, "/forgets"))[0] == 500
    assert "it returned None without answering the handshake" in caplog.text
