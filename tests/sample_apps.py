"""Apps shared by the tests of both transports (the same App, our server and ASGI)."""

from __future__ import annotations

from wsframework import App, WebSocketRequest
from wsframework.http import HTTPRequest


def forbidding_app() -> App:
    """The sample of docs/errors.md: one exception handler for both sides of accept()."""
    app = App()

    @app.exception_handler(PermissionError)
    async def forbidden(request: WebSocketRequest, exc: Exception) -> tuple[int, str]:
        return 4403, "forbidden"

    @app.websocket("/before")
    async def before(request: WebSocketRequest) -> None:
        raise PermissionError("not a member")

    @app.websocket("/after")
    async def after(request: WebSocketRequest) -> None:
        await request.accept()
        raise PermissionError("not a member")

    return app


def echo_app(path: str = "/") -> App:
    """A WebSocket echo at ``path`` and a plain HTTP ``GET /ping`` answering ``pong``."""
    app = App()

    @app.websocket(path)
    async def echo(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async for message in ws:
            await ws.send_message(message)

    @app.http("/ping")
    async def ping(request: HTTPRequest) -> str:
        return "pong"

    return app
