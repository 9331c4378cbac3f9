"""wsframework.reconnect: the retry decision, the backoff, cancellation, the log line, resume.

The decisions and the timing run against a real App over memory streams (real frames, real
handshakes and refusals; no socket, so Trio's ``autojump_clock`` can skip the waits): the
``connect`` seam of :func:`reconnecting` opens each connection with ``wrap_client_stream``
over a memory stream served by the App. Refused TCP connections and resuming a chat room
after the network dropped run over loopback sockets, without the mock clock.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import socket
import warnings
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from email.utils import formatdate
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import trio
import trio.testing

from apps.chat.app import create_app as create_chat_app
from wsframework import (
    App,
    ClientOptions,
    CloseReason,
    ConnectionClosed,
    ConnectionRejected,
    ConnectionTimeout,
    HandshakeError,
    InvalidHandshake,
    Reconnecting,
    ReconnectOptions,
    Resume,
    WebSocketConnection,
    WebSocketRequest,
    open_websocket_url,
    reconnecting,
    retryable,
    serve_websocket,
    wrap_client_stream,
)
from wsframework.options import ServerOptions
from wsframework.reconnect import Connect, _retry_after
from wsframework.rooms import Position
from wsframework.server import serve_stream

URL = "ws://testserver"

# --------------------------------------------------------------------------- the app


def make_app(times: list[float] | None = None) -> App:
    """``/close/{code}``: accept, then close with ``code``; ``/refuse/{status}``: refuse
    (``?after=`` sends ``Retry-After``); ``/echo``: echo, and say its query string first.
    Every handshake's time goes into ``times``."""
    app = App()
    seen = times if times is not None else []

    @app.websocket("/close/{code:int}")
    async def close(request: WebSocketRequest) -> None:
        seen.append(trio.current_time())
        ws = await request.accept()
        await ws.aclose(request.path_params["code"], "bye")

    @app.websocket("/refuse/{status:int}")
    async def refuse(request: WebSocketRequest) -> None:
        seen.append(trio.current_time())
        after = request.query_params.get("after")
        headers = [(b"retry-after", after.encode())] if after is not None else []
        await request.reject(request.path_params["status"], extra_headers=headers, body=b"no")

    @app.websocket("/echo")
    async def echo(request: WebSocketRequest) -> None:
        seen.append(trio.current_time())
        ws = await request.accept()
        await ws.send_message(request.url.partition("?")[2])
        async for message in ws:
            await ws.send_message(message)

    return app


@asynccontextmanager
async def served(app: App) -> AsyncIterator[Connect]:
    """A ``connect`` for :func:`reconnecting` that reaches ``app`` over memory streams (the
    server side of each connection runs in a nursery of its own, as on a real server)."""
    async with app.lifespan_context(), trio.open_nursery() as server_side:

        async def connect(nursery: trio.Nursery, url: str) -> WebSocketConnection:
            parts = urlsplit(url)
            server_stream, client_stream = trio.testing.memory_stream_pair()
            server_side.start_soon(
                serve_stream, app.handle_websocket, server_stream, ServerOptions(), app.handle_http
            )
            resource = parts.path + (f"?{parts.query}" if parts.query else "")
            return await wrap_client_stream(nursery, client_stream, parts.netloc, resource)

        yield connect
        server_side.cancel_scope.cancel()


def fixed(value: float, **settings: Any) -> ReconnectOptions:
    """Options whose jitter always draws ``value``."""
    return ReconnectOptions(random=lambda: value, **settings)


# --------------------------------------------------------------------------- the decision table

RETRIED_CODES = [1000, 1001, 1005, 1006, 1011, 1012, 1013, 1014, 3000, 3499, 4000, 4499]
FINAL_CODES = [1002, 1003, 1007, 1008, 1009, 1010, 3500, 3999, 4500, 4999]


@pytest.mark.parametrize("code", RETRIED_CODES + FINAL_CODES)
def test_close_codes(code: int) -> None:
    assert retryable(ConnectionClosed(CloseReason(code, None))) is (code in RETRIED_CODES)


RETRIED_STATUSES = [500, 502, 503, 504, 408, 429]
FINAL_STATUSES = [400, 401, 403, 404, 410, 426, 301, 302]


@pytest.mark.parametrize("status", RETRIED_STATUSES + FINAL_STATUSES)
def test_refused_statuses(status: int) -> None:
    assert retryable(ConnectionRejected(status, (), None)) is (status in RETRIED_STATUSES)


def eof_during_handshake() -> InvalidHandshake:
    try:
        raise InvalidHandshake("the server closed the connection") from EOFError()
    except InvalidHandshake as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (HandshakeError("could not connect to h:1: Connection refused"), True),
        (ConnectionTimeout("could not connect to h:1 within 1 seconds"), True),
        (ConnectionRefusedError(111, "Connection refused"), True),
        (ConnectionResetError(104, "Connection reset by peer"), True),
        (trio.BrokenResourceError(), True),
        (eof_during_handshake(), True),
        (InvalidHandshake("Sec-WebSocket-Accept does not match"), False),
        (ConnectionClosed(None), True),
        (ValueError("a bug"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_errors(error: Exception, retried: bool) -> None:
    assert retryable(error) is retried


async def test_the_client_says_eof_during_the_handshake_is_worth_retrying() -> None:
    client, server = trio.testing.memory_stream_pair()

    async def hang_up() -> None:
        await server.receive_some()
        await server.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(hang_up)
        with pytest.raises(InvalidHandshake) as info:
            await wrap_client_stream(nursery, client, "example.com", "/")
    assert retryable(info.value)


@pytest.mark.parametrize("code", [1000, 1001, 1011, 1012, 4000, 1008, 1003, 4500])
async def test_a_close_code_reconnects_or_ends_the_loop(
    code: int, autojump_clock: trio.testing.MockClock
) -> None:
    times: list[float] = []
    rounds = 0
    async with (
        served(make_app(times)) as connect,
        reconnecting(f"{URL}/close/{code}", connect=connect) as connections,
    ):
        ending: AbstractContextManager[object] = (
            pytest.raises(ConnectionClosed) if code in FINAL_CODES else nullcontext()
        )
        with ending:
            async for ws in connections:
                rounds += 1
                assert [m async for m in ws] == []  # the close ends it quietly
                assert ws.closed == CloseReason(code, "bye")
                if rounds == 3:
                    break
    if code in FINAL_CODES:
        assert rounds == 1
    else:
        assert rounds == 3 and len(times) == 3


async def test_a_final_close_raises_connection_closed_with_its_reason(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        served(make_app()) as connect,
        reconnecting(f"{URL}/close/4500", connect=connect) as connections,
    ):
        with pytest.raises(ConnectionClosed) as info:
            async for ws in connections:
                assert [m async for m in ws] == []
        assert info.value.reason == CloseReason(4500, "bye")
        # Once ended, the loop stays ended.
        assert [ws async for ws in connections] == []


@pytest.mark.parametrize("status", [503, 429, 408, 500])
async def test_a_retried_refusal_gives_up_after_max_attempts(
    status: int, autojump_clock: trio.testing.MockClock
) -> None:
    times: list[float] = []
    async with served(make_app(times)) as connect:
        options = ReconnectOptions(max_attempts=3)
        async with reconnecting(f"{URL}/refuse/{status}", options, connect=connect) as connections:
            with pytest.raises(ConnectionRejected) as info:
                async for _ws in connections:
                    pytest.fail("refused connections are never yielded")
            assert connections.attempts == 3
    assert info.value.status_code == status and len(times) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_a_final_refusal_is_raised_at_once(
    status: int, autojump_clock: trio.testing.MockClock
) -> None:
    times: list[float] = []
    async with (
        served(make_app(times)) as connect,
        reconnecting(f"{URL}/refuse/{status}", connect=connect) as connections,
    ):
        with pytest.raises(ConnectionRejected) as info:
            await connections.__anext__()
    assert info.value.status_code == status and len(times) == 1
    assert trio.current_time() == 0


async def test_your_predicate_decides(autojump_clock: trio.testing.MockClock) -> None:
    times: list[float] = []

    def retry(error: Exception) -> bool:
        # 401: the token expired and the next connect sends a fresh one; else the default.
        if isinstance(error, ConnectionRejected) and error.status_code == 401:
            return True
        return retryable(error)

    options = ReconnectOptions(retry=retry, max_attempts=4)
    async with (
        served(make_app(times)) as connect,
        reconnecting(f"{URL}/refuse/401", options, connect=connect) as connections,
    ):
        with pytest.raises(ConnectionRejected):
            await connections.__anext__()
    assert len(times) == 4


# --------------------------------------------------------------------------- backoff


def test_the_largest_wait_grows_by_factor_up_to_max_delay() -> None:
    options = ReconnectOptions(initial_delay=1, factor=2, max_delay=5)
    assert [options.max_wait(n) for n in range(1, 7)] == [1, 2, 4, 5, 5, 5]
    assert options.max_wait(100_000) == 5  # no overflow after a long outage


def test_full_jitter_stays_within_zero_and_the_largest_wait() -> None:
    options = ReconnectOptions(initial_delay=0.5, factor=3, max_delay=20)
    for attempt in range(1, 12):
        delays = [options.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= options.max_wait(attempt) for d in delays)
        assert len(set(delays)) > 100  # random, not one value


async def test_waits_between_failed_attempts(autojump_clock: trio.testing.MockClock) -> None:
    times: list[float] = []
    async with served(make_app(times)) as connect:
        for draw, scale in [(1.0, 1.0), (0.25, 0.25)]:
            times.clear()
            start = trio.current_time()
            options = fixed(draw, initial_delay=1, factor=2, max_delay=5, max_attempts=6)
            async with reconnecting(f"{URL}/refuse/503", options, connect=connect) as connections:
                with pytest.raises(ConnectionRejected):
                    await connections.__anext__()
            gaps = [b - a for a, b in zip([start, *times], times, strict=False)]
            assert gaps == pytest.approx([0] + [scale * d for d in (1, 2, 4, 5, 5)])


async def test_an_open_connection_resets_the_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    times: list[float] = []
    options = fixed(1.0, initial_delay=1, factor=10, max_delay=100)
    async with (
        served(make_app(times)) as connect,
        reconnecting(f"{URL}/close/1012", options, connect=connect) as connections,
    ):
        async for ws in connections:
            assert [m async for m in ws] == []  # until the close
            if len(times) == 4:
                break
    # After every drop the first reconnect waits at most initial_delay: 1 s each time.
    assert [b - a for a, b in itertools.pairwise(times)] == pytest.approx([1, 1, 1])


async def test_retry_after_is_honoured_up_to_max_delay(
    autojump_clock: trio.testing.MockClock,
) -> None:
    times: list[float] = []
    async with served(make_app(times)) as connect:
        for after, waited in [("3", 3.0), ("100", 5.0)]:
            times.clear()
            options = fixed(1.0, initial_delay=1, max_delay=5, max_attempts=2)
            url = f"{URL}/refuse/503?after={after}"
            async with reconnecting(url, options, connect=connect) as connections:
                with pytest.raises(ConnectionRejected):
                    await connections.__anext__()
            assert times[1] - times[0] == pytest.approx(waited)


def test_retry_after_as_an_http_date() -> None:
    def refusal(value: str) -> ConnectionRejected:
        return ConnectionRejected(503, ((b"Retry-After", value.encode()),), None)

    assert _retry_after(refusal(formatdate(0, usegmt=True)), 30) == 0  # in the past
    assert _retry_after(refusal(formatdate(4e9, usegmt=True)), 30) == 30  # far away: the cap
    assert _retry_after(refusal("soon"), 30) is None  # unreadable: the backoff decides
    assert _retry_after(ConnectionRejected(503, (), None), 30) is None


async def test_a_body_that_ends_reconnects_at_once(autojump_clock: trio.testing.MockClock) -> None:
    seen: list[WebSocketConnection] = []
    async with (
        served(make_app()) as connect,
        reconnecting(f"{URL}/echo", connect=connect) as connections,
    ):
        async for ws in connections:
            seen.append(ws)
            assert await ws.get_message() == ""
            if len(seen) == 3:
                break
    assert trio.current_time() == 0
    assert [ws.closed for ws in seen] == [CloseReason(1000, None)] * 3


async def test_breaking_out_of_the_messages_leaves_nothing_to_finalize(
    autojump_clock: trio.testing.MockClock,
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with (
            served(make_app()) as connect,
            reconnecting(f"{URL}/echo", connect=connect) as connections,
        ):
            async for ws in connections:
                async for message in ws:
                    assert message == ""
                    break
                break
        gc.collect()
    assert [str(w.message) for w in caught] == []


# --------------------------------------------------------------------------- cancellation


async def test_cancelling_the_wait_ends_it(autojump_clock: trio.testing.MockClock) -> None:
    times: list[float] = []
    async with served(make_app(times)) as connect:
        with trio.move_on_after(10) as scope:
            async with reconnecting(f"{URL}/refuse/503", connect=connect) as connections:
                async for _ws in connections:
                    pytest.fail("refused connections are never yielded")
    assert scope.cancelled_caught
    assert trio.current_time() == 10
    assert len(times) > 3  # it kept trying until the deadline


async def test_cancelling_the_body_closes_the_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    held: list[WebSocketConnection] = []
    async with served(make_app()) as connect:
        with trio.move_on_after(10) as scope:
            async with reconnecting(f"{URL}/echo", connect=connect) as connections:
                async for ws in connections:
                    held.append(ws)
                    await trio.sleep_forever()
    assert scope.cancelled_caught
    assert len(held) == 1
    assert held[0].closed == CloseReason(1001, "going away")


# --------------------------------------------------------------------------- the log line


async def test_each_retry_is_one_log_line(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    caplog.set_level(logging.INFO, logger="wsframework.client")
    options = fixed(0.5, initial_delay=2, max_attempts=3)
    async with served(make_app()) as connect:
        async with reconnecting(f"{URL}/refuse/503?token=secret", options, connect=connect) as c:
            with pytest.raises(ConnectionRejected):
                await c.__anext__()
        async with reconnecting(f"{URL}/close/1012", options, connect=connect) as c:
            ws = await c.__anext__()
            assert [m async for m in ws] == []  # until the close
            await c.__anext__()
    lines = [r.getMessage() for r in caplog.records if r.name == "wsframework.client"]
    refused = 'the server refused the WebSocket handshake with HTTP 503 Service Unavailable: "no"'
    assert lines == [
        f"reconnecting to {URL}/refuse/503: attempt 1 in 1.00 s, because {refused}",
        f"reconnecting to {URL}/refuse/503: attempt 2 in 2.00 s, because {refused}",
        f"reconnecting to {URL}/close/1012: attempt 1 in 1.00 s, because the connection was "
        "closed with 1012 (SERVICE_RESTART): bye",
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records)


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"initial_delay": 0}, "initial_delay must be a number greater than 0, got 0"),
        ({"max_delay": -1}, "max_delay must be a number greater than 0, got -1"),
        ({"factor": 0.5}, "factor must be a number of at least 1, got 0.5"),
        ({"factor": "2"}, "factor must be a number of at least 1, got '2'"),
        ({"max_attempts": 0}, "max_attempts must be None or at least 1, got 0"),
        ({"client": {"connect_timeout": 1}}, "client must be a ClientOptions, got dict"),
    ],
)
def test_bad_options_are_named(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        ReconnectOptions(**settings)
    assert str(info.value) == message


async def test_a_bad_url_fails_on_entry() -> None:
    with pytest.raises(ValueError, match='scheme must be "ws:" or "wss:"'):
        async with reconnecting("http://example.com/"):
            pytest.fail("not entered")  # pragma: no cover
    with pytest.raises(TypeError, match="options must be a ReconnectOptions, got ClientOptions"):
        async with reconnecting("ws://example.com/", ClientOptions()):  # type: ignore[arg-type]
            pytest.fail("not entered")  # pragma: no cover


# --------------------------------------------------------------------------- resume


def query_of(ws: WebSocketConnection) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(ws.path).query))


async def test_resume_sends_the_last_position_seen(autojump_clock: trio.testing.MockClock) -> None:
    def position_of(message: str | bytes) -> Position | None:
        return Position.parse(message) if isinstance(message, str) and ":" in message else None

    resume = Resume(position_of, start=Position("e0", 3))
    queries: list[dict[str, str]] = []
    async with served(make_app()) as connect:
        url = f"{URL}/echo?room=a&since=old"
        async with reconnecting(url, resume=resume, connect=connect) as connections:
            assert isinstance(connections, Reconnecting)
            async for ws in connections:
                queries.append(query_of(ws))
                await ws.get_message()  # the server's "hello": its query string
                for text in ["e1:5", "not a position", "e1:6"]:
                    await ws.send_message(text)
                    assert await ws.get_message() == text
                if len(queries) == 2:
                    break
            assert connections.position == Position("e1", 6)
    assert queries == [{"room": "a", "since": "e0:3"}, {"room": "a", "since": "e1:6"}]


async def test_without_resume_the_url_stays(autojump_clock: trio.testing.MockClock) -> None:
    async with (
        served(make_app()) as connect,
        reconnecting(f"{URL}/echo?since=x", connect=connect) as connections,
    ):
        ws = await connections.__anext__()
        assert await ws.get_message() == "since=x"
        assert connections.url == f"{URL}/echo?since=x" and connections.position is None


# --------------------------------------------------------------------------- over loopback


def closed_port() -> int:
    """A loopback port with no listener: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_refused_connections_are_retried_then_given_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wsframework.client")
    port = closed_port()
    options = ReconnectOptions(initial_delay=0.01, max_attempts=3)
    with trio.fail_after(10):
        async with reconnecting(f"ws://127.0.0.1:{port}/", options) as connections:
            with pytest.raises(HandshakeError) as info:
                await connections.__anext__()
    assert str(info.value) == f"could not connect to 127.0.0.1:{port}: Connection refused"
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    lines = [r.getMessage() for r in caplog.records if r.name == "wsframework.client"]
    assert len(lines) == 2
    assert lines[1].startswith(f"reconnecting to ws://127.0.0.1:{port}/: attempt 2 in ")
    assert lines[1].endswith(f"because could not connect to 127.0.0.1:{port}: Connection refused")


async def test_each_connection_offers_the_subprotocols_and_headers(nursery: trio.Nursery) -> None:
    """The default connect: every attempt sends the same subprotocols and extra headers, with
    the settings of ``options.client``."""
    seen: list[tuple[tuple[str, ...], str | None]] = []

    async def handler(request: WebSocketRequest) -> None:
        seen.append((request.proposed_subprotocols, request.headers.get("x-token")))
        ws = await request.accept(subprotocol="v2")
        await ws.aclose(1012)

    server = await nursery.start(partial(serve_websocket, handler, "127.0.0.1", 0, None))
    options = ReconnectOptions(initial_delay=0.01, client=ClientOptions(max_message_size=1000))
    with trio.fail_after(10):
        async with reconnecting(
            f"ws://127.0.0.1:{server.port}/",
            options,
            subprotocols=iter(["v2", "v1"]),  # a one-shot iterable serves every attempt
            extra_headers=[(b"x-token", b"t0k")],
        ) as connections:
            async for ws in connections:
                assert ws.subprotocol == "v2"
                assert [m async for m in ws] == []
                if len(seen) == 2:
                    break
    assert seen == [(("v2", "v1"), "t0k")] * 2


class Relay:
    """A TCP relay in front of a server, standing for the network: :meth:`cut` drops every
    connection through it (no close frame: the client sees 1006) and holds new ones until
    :meth:`restore`."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.open = trio.Event()
        self.open.set()
        self.scopes: set[trio.CancelScope] = set()

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        task_status.started(listeners[0].socket.getsockname()[1])
        await trio.serve_listeners(self.relay, listeners)

    async def relay(self, client: trio.SocketStream) -> None:
        async with client:
            await self.open.wait()
            with trio.CancelScope() as scope:
                self.scopes.add(scope)
                server = await trio.open_tcp_stream("127.0.0.1", self.upstream)
                async with server, trio.open_nursery() as nursery:
                    nursery.start_soon(self.pump, client, server, scope)
                    nursery.start_soon(self.pump, server, client, scope)
            self.scopes.discard(scope)

    @staticmethod
    async def pump(source: trio.abc.Stream, sink: trio.abc.Stream, scope: trio.CancelScope) -> None:
        try:
            async for data in source:
                await sink.send_all(data)
        except trio.BrokenResourceError:
            pass
        scope.cancel()

    def cut(self) -> None:
        self.open = trio.Event()
        for scope in self.scopes:
            scope.cancel()

    def restore(self) -> None:
        self.open.set()


def chat_position(message: str | bytes) -> Position | None:
    """Where apps/chat's messages put the room position: each message's epoch and offset, and
    the welcome's last position."""
    data = json.loads(message)
    if data["type"] == "message" and data["epoch"] is not None:
        return Position(data["epoch"], data["offset"])
    if data["type"] == "welcome" and data["position"] is not None:
        return Position(data["position"]["epoch"], data["position"]["offset"])
    return None


async def test_a_chat_client_resumes_after_the_network_drops(nursery: trio.Nursery) -> None:
    """apps/chat on a real server behind a relay: ann's connection drops, bob says two things
    while she is away, she reconnects with since= and gets exactly those two, in order, once,
    then the live ones."""
    server = await nursery.start(create_chat_app().serve, "127.0.0.1", 0)
    relay = Relay(server.port)
    relay_port = await nursery.start(relay.serve)
    events_in, events = trio.open_memory_channel[tuple[str, Any]](100)
    options = ReconnectOptions(initial_delay=0.01, max_delay=0.05)

    async def ann() -> None:
        url = f"ws://127.0.0.1:{relay_port}/chat/lobby?user=ann"
        async with reconnecting(url, options, resume=Resume(chat_position)) as connections:
            async for ws in connections:
                await events_in.send(("open", query_of(ws).get("since")))
                async for message in ws:
                    await events_in.send(("message", json.loads(message)))
                await events_in.send(("dropped", ws.closed.code if ws.closed else None))

    async def next_of(*types: str) -> Any:
        while True:
            kind, value = await events.receive()
            if kind != "message":
                return kind, value
            if value["type"] in types:
                return kind, value

    with trio.fail_after(20):
        nursery.start_soon(ann)
        assert await next_of() == ("open", None)
        bob_url = f"ws://127.0.0.1:{server.port}/chat/lobby?user=bob"
        async with open_websocket_url(bob_url) as bob:

            async def say(text: str) -> None:
                await bob.send_json({"type": "say", "text": text})
                while True:  # bob's own message comes back once the room has published it
                    data = await bob.receive_json()
                    if data["type"] == "message" and data["text"] == text:
                        return

            welcome = await next_of("welcome")
            assert welcome[1]["recovered"] is None
            await say("m1")
            _kind, m1 = await next_of("message")
            assert m1["text"] == "m1"

            relay.cut()
            assert await next_of() == ("dropped", 1006)
            await say("m2")
            await say("m3")
            relay.restore()

            assert await next_of() == ("open", f"{m1['epoch']}:{m1['offset']}")
            texts: list[str] = []
            recovered: list[Any] = []
            await say("m4")
            while len(texts) < 3 or not recovered:  # the replay may come before the welcome
                _, data = await next_of("welcome", "message")
                if data["type"] == "welcome":
                    recovered.append(data["recovered"])
                else:
                    texts.append(data["text"])
            assert texts == ["m2", "m3", "m4"]
            assert recovered == [True]
            await say("m5")
            _, data = await next_of("welcome", "message")
            assert data["text"] == "m5"  # and nothing else came in between: no duplicate
        nursery.cancel_scope.cancel()


def test_the_chat_position_reader() -> None:
    message = {"type": "message", "epoch": "e", "offset": 4, "user": "u", "text": "t"}
    assert chat_position(json.dumps(message)) == Position("e", 4)
    assert chat_position(json.dumps({"type": "join", "user": "u", "id": "1"})) is None
