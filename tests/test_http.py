"""Plain HTTP: responses, respond_http, and the same answers from both transports.

The transports are driven socket-less: our own server through an h11 client over a memory
stream, the ASGI transport through scripted ``receive``/``send`` calls.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import pytest
import trio

from wsframework import App, BaseRequest, CallNext, WebSocketRequest
from wsframework.http import (
    HTMLResponse,
    HTTPRequest,
    JSONResponse,
    Response,
    body_too_large,
    render,
    respond_http,
    to_response,
)
from wsframework.middleware import TokenAuth
from wsframework.options import ASGIOptions, ServerOptions
from wsframework.testing import TestClient

# ---------------------------------------------------------------------------- sans I/O


def test_to_response_maps_each_return_type() -> None:
    assert to_response(None).status_code == 204
    text = to_response("hi")
    assert (text.body_bytes(), text.media_type) == (b"hi", "text/plain; charset=utf-8")
    raw = to_response(bytearray(b"\x00"))
    assert (raw.body_bytes(), raw.media_type) == (b"\x00", "application/octet-stream")
    data = to_response({"a": [1, "é"]})
    assert (data.body_bytes(), data.media_type) == ('{"a":[1,"é"]}'.encode(), "application/json")
    own = Response("x", 418)
    assert to_response(own) is own
    with pytest.raises(TypeError, match="must return str, bytes, dict, list, None or Response"):
        to_response(3.5)


def test_html_and_json_responses() -> None:
    assert HTMLResponse("<p>", 201).raw_headers() == [
        (b"content-type", b"text/html; charset=utf-8")
    ]
    assert JSONResponse([1], headers=[("X-A", "b")]).raw_headers() == [
        (b"x-a", b"b"),
        (b"content-type", b"application/json"),
    ]


def test_render_adds_length_and_drops_the_body_for_head() -> None:
    response = Response("hello", headers=[("X-Kind", "greeting")])
    answer = render(response)
    assert answer.status_code == 200
    assert answer.body == b"hello"
    assert answer.headers == [
        (b"x-kind", b"greeting"),
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"5"),
    ]
    head = render(response, head=True)
    assert head.body == b""
    assert head.headers == answer.headers


def test_render_keeps_an_explicit_content_length() -> None:
    answer = render(Response(b"", headers=[("Content-Length", "1234")]), head=True)
    assert answer.headers == [(b"content-length", b"1234")]


def test_body_too_large_names_the_limit_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wsframework")
    answer = body_too_large("POST /upload", 10)
    assert answer.status_code == 413
    assert answer.body == b"Request body too large: the limit is 10 bytes.\n"
    assert "refused POST /upload: the request body is over 10 bytes" in caplog.text


def test_request_facts() -> None:
    request = HTTPRequest(
        "POST", "/a%20b?x=1&x=2", [(b"content-type", b"application/json")], b'{"k": 1}'
    )
    assert request.url_path == "/a b"
    assert request.query_params.getlist("x") == ["1", "2"]
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {"k": 1}
    assert request.client is None
    assert repr(request) == "<HTTPRequest POST '/a%20b?x=1&x=2'>"
    with pytest.raises(ValueError):
        HTTPRequest("POST", "/", [], b"{").json()


async def test_respond_http_answers_what_the_handler_returned() -> None:
    async def handler(request: HTTPRequest) -> dict[str, Any]:
        return {"method": request.method}

    answer = await respond_http(handler, HTTPRequest("GET", "/", []))
    assert (answer.status_code, answer.body) == (200, b'{"method":"GET"}')


async def test_respond_http_head_keeps_the_length() -> None:
    async def handler(request: HTTPRequest) -> str:
        return "twelve bytes"

    answer = await respond_http(handler, HTTPRequest("HEAD", "/", []))
    assert answer.body == b""
    assert (b"content-length", b"12") in answer.headers


@pytest.mark.parametrize("failure", ["raise", "bad return"])
async def test_respond_http_turns_a_failure_into_a_logged_500(
    caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    async def handler(request: HTTPRequest) -> Any:
        if failure == "raise":
            raise RuntimeError("no database")
        return object()

    answer = await respond_http(handler, HTTPRequest("GET", "/items", [], client=("10.0.0.1", 5)))
    assert (answer.status_code, answer.body) == (500, b"Internal Server Error\n")
    record = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert record.getMessage() == "HTTP handler error on GET /items from ('10.0.0.1', 5)"


async def test_respond_http_lets_cancellation_through() -> None:
    async def handler(request: HTTPRequest) -> str:
        await trio.sleep_forever()

    with trio.CancelScope() as scope:
        scope.cancel()
        await respond_http(handler, HTTPRequest("GET", "/", []))
    assert scope.cancelled_caught


# ---------------------------------------------------------------------------- both transports

Answer = tuple[int, dict[bytes, bytes], bytes]


class Transport(Protocol):
    async def __call__(
        self,
        nursery: trio.Nursery,
        app: App,
        method: str,
        target: str,
        body: bytes,
        limit: int,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> Answer: ...


async def native(
    nursery: trio.Nursery,
    app: App,
    method: str,
    target: str,
    body: bytes,
    limit: int,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> Answer:
    """Our own server's HTTP path, through the test client."""
    async with TestClient(app, server_options=ServerOptions(max_http_body=limit)) as client:
        with trio.fail_after(5):
            response = await client.request(
                method,
                target,
                content=body,
                headers=[(k.decode(), v.decode()) for k, v in headers],
            )
    response_headers = dict(response.headers)
    response_headers.pop(b"connection", None)
    return response.status_code, response_headers, response.content


async def asgi(
    nursery: trio.Nursery,
    app: App,
    method: str,
    target: str,
    body: bytes,
    limit: int,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> Answer:
    app.asgi_options = ASGIOptions(max_http_body=limit)
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"example.com"), *headers],
        "client": ("127.0.0.1", 1),
        "root_path": "",
    }
    chunks = [body[i : i + 4] for i in range(0, len(body), 4)] or [b""]
    events = iter(
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(events)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start, body_message = sent
    assert start["type"] == "http.response.start"
    assert body_message["type"] == "http.response.body"
    return start["status"], dict(start["headers"]), body_message["body"]


def sample_app() -> App:
    app = App()

    @app.http("/text", methods=["GET", "POST"])
    async def text(request: HTTPRequest) -> str:
        return "hello " + request.body.decode()

    @app.http("/boom")
    async def boom(request: HTTPRequest) -> str:
        raise RuntimeError("boom")

    @app.websocket("/ws")
    async def ws(request: WebSocketRequest) -> None:
        await request.accept()

    return app


@pytest.fixture(params=[native, asgi], ids=["native", "asgi"])
def transport(request: pytest.FixtureRequest) -> Transport:
    fn: Transport = request.param
    return fn


def guarded_app() -> App:
    """:func:`sample_app` behind a token check and a middleware that stamps each answer."""
    app = sample_app()
    app.add_middleware(TokenAuth({"secret": "ann"}.get))

    @app.middleware
    async def stamp(request: BaseRequest, call_next: CallNext) -> None:
        if request.query_params.get("fail"):
            raise LookupError("middleware bug")
        await call_next(request)
        if isinstance(request, HTTPRequest) and request.response is not None:
            request.response.headers.append(("x-user", request.state.user))

    return app


async def test_get_and_head(nursery: trio.Nursery, transport: Transport) -> None:
    app = sample_app()
    status, headers, body = await transport(nursery, app, "GET", "/text", b"", 100)
    assert (status, body) == (200, b"hello ")
    assert headers[b"content-length"] == b"6"
    assert headers[b"content-type"] == b"text/plain; charset=utf-8"
    status, head_headers, body = await transport(nursery, app, "HEAD", "/text", b"", 100)
    assert (status, body) == (200, b"")
    assert head_headers == headers


async def test_handler_error_is_a_logged_500(
    nursery: trio.Nursery, transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    status, _, body = await transport(nursery, sample_app(), "GET", "/boom", b"", 100)
    assert (status, body) == (500, b"Internal Server Error\n")
    assert "HTTP handler error on GET /boom" in caplog.text


async def test_body_limit_comes_from_the_options(
    nursery: trio.Nursery, transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wsframework")
    app = sample_app()
    status, _, body = await transport(nursery, app, "POST", "/text", b"x" * 10, 10)
    assert (status, body) == (200, b"hello " + b"x" * 10)
    status, _, body = await transport(nursery, app, "POST", "/text", b"x" * 11, 10)
    assert (status, body) == (413, b"Request body too large: the limit is 10 bytes.\n")
    assert "refused POST /text: the request body is over 10 bytes" in caplog.text


async def test_not_found_wrong_method_and_websocket_path(
    nursery: trio.Nursery, transport: Transport
) -> None:
    app = sample_app()
    status, _, body = await transport(nursery, app, "GET", "/missing", b"", 100)
    assert (status, body) == (404, b"Not Found\n")
    status, headers, _ = await transport(nursery, app, "DELETE", "/text", b"", 100)
    assert (status, headers[b"allow"]) == (405, b"GET, HEAD, POST")
    status, headers, _ = await transport(nursery, app, "GET", "/ws", b"", 100)
    assert (status, headers[b"upgrade"]) == (426, b"websocket")


async def test_middleware_runs_for_plain_http(nursery: trio.Nursery, transport: Transport) -> None:
    app = guarded_app()
    status, headers, body = await transport(nursery, app, "GET", "/text", b"", 100)
    assert (status, headers[b"www-authenticate"]) == (401, b"Bearer")
    assert body == b"Authentication required: send a bearer token.\n"
    bearer = [(b"authorization", b"Bearer nope")]
    status, _, body = await transport(nursery, app, "GET", "/text", b"", 100, bearer)
    assert (status, body) == (403, b"Invalid token.\n")
    status, headers, body = await transport(nursery, app, "GET", "/text?token=secret", b"", 100)
    assert (status, body, headers[b"x-user"]) == (200, b"hello ", b"ann")
    status, headers, body = await transport(nursery, app, "HEAD", "/text?token=secret", b"", 100)
    assert (status, body, headers[b"x-user"]) == (200, b"", b"ann")
    assert headers[b"content-length"] == b"6"


async def test_a_middleware_error_on_plain_http_is_a_logged_500(
    nursery: trio.Nursery, transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    app = guarded_app()
    target = "/text?token=secret&fail=1"
    status, _, body = await transport(nursery, app, "GET", target, b"", 100)
    assert (status, body) == (500, b"Internal Server Error\n")
    (record,) = [r for r in caplog.records if r.exc_info]
    assert record.getMessage().startswith(f"HTTP handler error on GET {target}")
    assert "middleware bug" in str(record.exc_info[1])  # type: ignore[index]
