"""The app behind the two-runner suite: one of every framework behaviour.

Served by our runner and by ``hypercorn --worker-class trio`` alike
(``tests/integration/test_two_runners.py``).
"""

from __future__ import annotations

import os
from typing import Literal

import trio
from pydantic import BaseModel

from wsframework import App, BaseRequest, CallNext, ConnectionClosed, WebSocketRequest
from wsframework.http import HTTPRequest, Response

app = App()
events: list[str] = []


@app.on_startup
async def started() -> None:
    app.state.started = "yes"
    events.append("startup")


@app.on_shutdown
async def stopped() -> None:
    marker = os.environ.get("BEHAVIOUR_SHUTDOWN_MARKER")
    if marker:
        await trio.to_thread.run_sync(_write, marker, "shutdown ran\n")


@app.middleware
async def outer(request: BaseRequest, call_next: CallNext) -> None:
    request.state.order = ["outer"]
    if request.query_params.get("deny") == "1":
        await request.reject(
            401, extra_headers=[(b"x-denied", b"yes")], body=b"denied by middleware"
        )
        return
    await call_next(request)


@app.middleware
async def inner(request: BaseRequest, call_next: CallNext) -> None:
    request.state.order.append("inner")
    await call_next(request)
    if isinstance(request, HTTPRequest) and request.response is not None:
        request.response.headers.append(("x-middleware", ", ".join(request.state.order)))


@app.websocket("/echo")
async def echo(request: WebSocketRequest) -> None:
    ws = await request.accept()
    async for message in ws:
        await ws.send_message(message)


@app.websocket("/params/{name}/{n:int}")
async def params(request: WebSocketRequest) -> None:
    ws = await request.accept()
    await ws.send_json(
        {
            "name": request.path_params["name"],
            "n": request.path_params["n"],
            "q": request.query_params.getlist("q"),
            "order": request.state.order,
            "started": request.app.state.started,
        }
    )
    await ws.aclose()


@app.websocket("/proto", subprotocols=["chat.v2", "chat.v1"])
async def proto(request: WebSocketRequest) -> None:
    ws = await request.accept()
    await ws.send_message(str(ws.subprotocol))
    await ws.aclose()


@app.websocket("/proto-required", subprotocols=["chat.v2"], subprotocol_required=True)
async def proto_required(request: WebSocketRequest) -> None:
    ws = await request.accept()
    await ws.aclose()


class Join(BaseModel):
    type: Literal["join"]
    room: str


class Joined(BaseModel):
    room: str


def typed_route(path: str, policy: Literal["close", "reply", "ignore"]) -> None:
    @app.websocket(path, name=f"typed_{policy}", receive=Join, send=Joined, on_invalid=policy)
    async def typed(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async for message in ws:
            await ws.send(Joined(room=message.room))


for _policy in ("close", "reply", "ignore"):
    typed_route(f"/typed/{_policy}", _policy)  # type: ignore[arg-type]


def contract_route(accepts: Literal["text", "bytes", "json"]) -> None:
    @app.websocket(f"/accepts/{accepts}", name=f"accepts_{accepts}", accepts=accepts)
    async def echo_accepted(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async for message in ws:
            await ws.send_message(message)


for _accepts in ("text", "bytes", "json"):
    contract_route(_accepts)  # type: ignore[arg-type]


@app.websocket("/error-after-accept")
async def error_after(request: WebSocketRequest) -> None:
    await request.accept()
    raise RuntimeError("boom after accept")


@app.websocket("/error-before-accept")
async def error_before(request: WebSocketRequest) -> None:
    raise RuntimeError("boom before accept")


@app.websocket("/close-with")
async def close_with(request: WebSocketRequest) -> None:
    ws = await request.accept()
    await ws.aclose(4000, "server says bye")


@app.websocket("/report-close")
async def report_close(request: WebSocketRequest) -> None:
    ws = await request.accept()
    try:
        await ws.get_message()
    except ConnectionClosed as exc:
        assert exc.reason is not None
        reason = f"{exc.reason.code} {exc.reason.reason}"
        await trio.to_thread.run_sync(_write, request.query_params["out"], reason)


@app.websocket("/flood")
async def flood(request: WebSocketRequest) -> None:
    ws = await request.accept()
    sent = 0
    try:
        while True:
            await ws.send_message("x" * 100)
            sent += 1
    except ConnectionClosed:
        await trio.to_thread.run_sync(_write, request.query_params["out"], f"stopped {sent > 0}")


@app.websocket("/wait")
async def wait(request: WebSocketRequest) -> None:
    ws = await request.accept()
    await ws.send_message("waiting")
    await trio.sleep_forever()


def _write(path: str, text: str) -> None:
    # Write then rename, so a reader never sees a half-written file.
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


@app.http("/health")
async def health(request: HTTPRequest) -> dict[str, str]:
    return {"status": "ok", "started": app.state.started}


@app.http("/teapot")
async def teapot(request: HTTPRequest) -> Response:
    return Response("short and stout", 418, headers=[("x-tea", "earl grey")])
