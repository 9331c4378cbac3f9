"""wsframework.testing.client: the TestClient over memory streams, through the real server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from wsframework import (
    App,
    ClientOptions,
    ConnectionClosed,
    ConnectionRejected,
    ConnectionTimeout,
    WebSocketRequest,
)
from wsframework.http import HTTPRequest
from wsframework.options import ServerOptions
from wsframework.testing import TestClient, TestResponse


def make_app(events: list[str] | None = None) -> App:
    log = events if events is not None else []

    @asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        log.append("startup")
        yield
        log.append("shutdown")

    app = App(lifespan=lifespan)

    @app.websocket("/echo", subprotocols=["v1", "v2"])
    async def echo(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async for message in ws:
            await ws.send_message(message)

    @app.websocket("/info")
    async def info(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message(
            json.dumps(
                {
                    "path": request.path,
                    "query": dict(request.query_params.items()),
                    "cookie": request.headers.get("cookie"),
                    "x": request.headers.get("x-token"),
                    "host": request.headers.get("host"),
                    "client": request.client,
                }
            )
        )
        await ws.get_message()

    @app.websocket("/private")
    async def private(request: WebSocketRequest) -> None:
        await request.reject(403, extra_headers=[(b"x-why", b"no")], body=b"go away")

    @app.websocket("/slow")
    async def slow(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await trio.sleep(60)
        await ws.send_message("late")

    @app.websocket("/room/{name}")
    async def room(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async with app.rooms[request.path_params["name"]].join(ws):
            async for message in ws:
                await app.rooms[request.path_params["name"]].publish(message)

    @app.websocket("/hang")
    async def hang(request: WebSocketRequest) -> None:
        await request.accept()
        try:
            await trio.sleep_forever()
        finally:
            log.append("handler cancelled")

    @app.http("/health")
    async def health(request: HTTPRequest) -> dict[str, str]:
        return {"status": "ok"}

    @app.http("/items", methods=["POST"])
    async def items(request: HTTPRequest) -> dict[str, object]:
        return {"got": request.json(), "type": request.headers.get("content-type")}

    return app


async def test_echo_with_a_subprotocol_and_http_with_the_lifespan() -> None:
    events: list[str] = []
    app = make_app(events)
    async with TestClient(app) as client:
        assert events == ["startup"]
        async with client.websocket("/echo", subprotocols=["v1"]) as ws:
            assert ws.subprotocol == "v1" and not ws.compression
            await ws.send_message("hi")
            await ws.send_message(b"\x00bytes")
            with trio.fail_after(5):
                assert await ws.get_message() == "hi"
                assert await ws.get_message() == b"\x00bytes"
        assert ws.closed is not None and ws.closed.code == 1000
        response = await client.get("/health")
        assert response.status_code == 200 and response.json() == {"status": "ok"}
        assert response.headers["Content-Type"].startswith("application/json")
        assert "content-length" in response.headers
        assert repr(response) == "<TestResponse [200]>"
    assert events == ["startup", "shutdown"]


async def test_path_query_headers_cookies_and_host() -> None:
    async with (
        TestClient(make_app(), base_url="http://example.org:8080") as client,
        client.websocket(
            "/info?a=1&b=two", headers={"X-Token": "t"}, cookies={"s": "1", "u": "ann"}
        ) as ws,
    ):
        with trio.fail_after(5):
            info = json.loads(await ws.get_message())
    assert info == {
        "path": "/info?a=1&b=two",
        "query": {"a": "1", "b": "two"},
        "cookie": "s=1; u=ann",
        "x": "t",
        "host": "example.org:8080",
        "client": ["127.0.0.1", 50000],  # the default client address
    }


@pytest.mark.parametrize(
    ("base_url", "client", "expected", "url"),
    [
        ("https://example.org", ("203.0.113.7", 41000), ["203.0.113.7", 41000], "wss://"),
        ("http://example.org", ("::1", 7), ["::1", 7], "ws://"),
        ("http://example.org", None, None, "ws://"),
    ],
)
async def test_the_client_address_and_scheme_are_the_ones_given(
    base_url: str, client: tuple[str, int] | None, expected: list[object] | None, url: str
) -> None:
    app = App()

    @app.websocket("/where")
    async def where(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.send_message(json.dumps([request.client, request.url]))

    @app.http("/where")
    async def where_http(request: HTTPRequest) -> dict[str, object]:
        return {"client": request.client}

    async with TestClient(app, base_url=base_url, client=client) as test_client:
        async with test_client.websocket("/where") as ws:
            with trio.fail_after(5):
                seen, seen_url = json.loads(await ws.get_message())
        response = await test_client.get("/where")
    assert seen == expected
    assert seen_url == f"{url}example.org/where"
    assert response.json() == {"client": expected}


async def test_a_refused_handshake_raises_connection_rejected() -> None:
    async with TestClient(make_app()) as client:
        with pytest.raises(ConnectionRejected) as caught:
            async with client.websocket("/private"):
                pytest.fail("entered")
        assert caught.value.status_code == 403
        assert (b"x-why", b"no") in caught.value.headers
        assert caught.value.body == b"go away"
        with pytest.raises(ConnectionRejected) as caught:
            async with client.websocket("/nowhere"):
                pytest.fail("entered")
        assert caught.value.status_code == 404


async def test_http_answers_of_the_real_path() -> None:
    async with TestClient(make_app()) as client:
        assert (await client.get("/nowhere")).status_code == 404
        response = await client.get("/items")
        assert response.status_code == 405 and "POST" in response.headers["allow"]
        assert (await client.get("/echo")).status_code == 426
        response = await client.post("/items", json={"n": 1})
        assert response.json() == {"got": {"n": 1}, "type": "application/json"}
        response = await client.request("post", "/items", content=b"[1]")
        assert response.json()["got"] == [1]
        assert (await client.put("/health")).status_code == 405
        assert (await client.delete("/health")).status_code == 405
        assert isinstance(response, TestResponse) and response.text == response.content.decode()


async def test_server_options_limits_are_real() -> None:
    options = ServerOptions(max_message_size=10, max_http_body=4)
    async with TestClient(make_app(), server_options=options) as client:
        async with client.websocket("/echo") as ws:
            await ws.send_message("x" * 11)
            with trio.fail_after(5), pytest.raises(ConnectionClosed) as caught:
                await ws.get_message()
            assert caught.value.reason.code == 1009
        assert (await client.post("/items", content=b"[1, 2]")).status_code == 413


async def test_compression_when_asked_for() -> None:
    from wsframework import DeflateOptions

    async with (
        TestClient(make_app()) as client,
        client.websocket("/echo", compression=DeflateOptions()) as ws,
    ):
        assert ws.compression  # negotiated
        await ws.send_message("a" * 1000)
        with trio.fail_after(5):
            assert await ws.get_message() == "a" * 1000


def sending_app(sent: list[str]) -> App:
    """:func:`make_app`, and ``/send``: sends ``a``, ``b`` and ``c``, recording each send that
    returned."""
    app = make_app()

    @app.websocket("/send")
    async def send(request: WebSocketRequest) -> None:
        ws = await request.accept()
        for text in "abc":
            await ws.send_message(text)
            sent.append(text)
        await trio.sleep_forever()

    return app


@pytest.mark.parametrize("queue_size", [0, 1, 2])
async def test_message_queue_size_bounds_what_the_client_reads(queue_size: int) -> None:
    sent: list[str] = []
    async with (
        TestClient(sending_app(sent)) as client,
        client.websocket("/send", lockstep=True, message_queue_size=queue_size) as ws,
    ):
        await trio.testing.wait_all_tasks_blocked()
        # A lockstep send returns once the client read it: it reads the messages it buffers
        # and the one its reader holds, then nothing until the test takes one.
        assert sent == list("abc"[: queue_size + 1])
        with trio.fail_after(5):
            assert await ws.get_message() == "a"
            await trio.testing.wait_all_tasks_blocked()
            assert sent == list("abc"[: queue_size + 2])


async def test_client_options_are_the_real_clients() -> None:
    sent: list[str] = []
    options = ClientOptions(message_queue_size=0, max_message_size=10, compression=None)
    async with TestClient(sending_app(sent)) as client:
        async with client.websocket("/send", lockstep=True, options=options) as ws:
            await trio.testing.wait_all_tasks_blocked()
            assert sent == ["a"] and not ws.compression  # message_queue_size=0
        async with client.websocket("/echo", options=options) as ws:
            await ws.send_message("x" * 11)
            with trio.fail_after(5), pytest.raises(ConnectionClosed) as caught:
                await ws.get_message()
            assert caught.value.reason.code == 1009  # the client's own limit
        async with client.websocket("/echo", options=ClientOptions()) as ws:
            assert ws.compression  # ClientOptions() offers it, as the real client does
        with pytest.raises(ValueError, match="not both: max_message_size, message_queue_size"):
            async with client.websocket(
                "/echo", options=options, max_message_size=5, message_queue_size=3
            ):
                pass
        with pytest.raises(ValueError, match="message_queue_size"):
            async with client.websocket("/echo", message_queue_size=-1):
                pass


async def test_the_handshake_is_bounded_by_connect_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = App()

    @app.websocket("/never")
    async def never(request: WebSocketRequest) -> None:
        await trio.sleep_forever()

    async with TestClient(app) as client:
        start = trio.current_time()
        with pytest.raises(
            ConnectionTimeout,
            match=r"^the app did not answer the opening handshake for /never within 2 seconds",
        ):
            async with client.websocket("/never", options=ClientOptions(connect_timeout=2)):
                pass
        assert trio.current_time() - start == pytest.approx(2)


async def test_several_websockets_in_one_room() -> None:
    app = make_app()
    async with (
        TestClient(app) as client,
        client.websocket("/room/lobby") as ann,
        client.websocket("/room/lobby") as bob,
    ):
        with trio.fail_after(5):
            while await app.rooms["lobby"].count() != 2:
                await trio.testing.wait_all_tasks_blocked()
            await ann.send_message("hello")
            assert await ann.get_message() == "hello"
            assert await bob.get_message() == "hello"


async def test_timeouts_cost_no_real_time_with_autojump_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with TestClient(make_app()) as client, client.websocket("/slow") as ws:
        start = trio.current_time()
        with trio.move_on_after(30) as scope:
            await ws.get_message()
        assert scope.cancelled_caught and trio.current_time() - start == pytest.approx(30)
        with trio.fail_after(60):
            assert await ws.get_message() == "late"


async def test_handlers_are_cancelled_before_the_shutdown() -> None:
    events: list[str] = []
    async with TestClient(make_app(events)) as client:
        async with client.websocket("/hang"):
            pass  # closed by the client, but the handler never reads: the exit cancels it

        async def helper() -> None:
            try:
                await trio.sleep_forever()
            finally:
                events.append("helper cancelled")

        client.nursery.start_soon(helper)
    assert events[0] == "startup" and events[-1] == "shutdown"
    assert sorted(events[1:-1]) == ["handler cancelled", "helper cancelled"]


async def test_an_error_in_the_block_is_not_wrapped() -> None:
    with pytest.raises(KeyError):
        async with TestClient(make_app()):
            raise KeyError("mine")


async def test_misuse() -> None:
    with pytest.raises(ValueError):
        TestClient(App(), base_url="testserver")
    client = TestClient(App())
    with pytest.raises(RuntimeError):
        client.nursery  # noqa: B018
    async with client:
        with pytest.raises(RuntimeError):
            await client.__aenter__()
