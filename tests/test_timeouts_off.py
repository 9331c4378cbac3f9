"""``None`` turns each built-in timeout off (see ``docs/timeouts.md``): the handshake, the close,
the send, the keepalive pong and the drain each wait for ever, which an hour of virtual time
shows; a caller's own cancel scope still bounds them. Memory streams and autojump time, or real
loopback sockets with a clock that moves only when the test jumps it."""

from __future__ import annotations

import math
import re

import pytest
import trio
import trio.testing
from wsproto.events import CloseConnection, Ping, TextMessage

from wsframework import (
    App,
    DisconnectionTimeout,
    ServerOptions,
    WebSocketRequest,
    open_websocket,
    serve_websocket,
)
from wsframework.cli.common import seconds, seconds_text
from wsframework.compat import trio_websocket
from wsframework.options import SAME_AS_INTERVAL, ASGIOptions, ClientOptions, timeout_seconds
from wsframework.reconnect import ReconnectOptions
from wsframework.server import serve_stream
from wsframework.testing import TestClient

from .connection_helpers import SIDES, opened
from .peers import client_request, switching_response
from .sample_apps import echo_app

HOUR = 3600


def test_none_is_off_and_maps_to_infinity() -> None:
    assert timeout_seconds(None) == math.inf
    assert timeout_seconds(2.5) == 2.5
    server = ServerOptions(connect_timeout=None, disconnect_timeout=None, send_timeout=None)
    assert (server.connect_timeout, server.disconnect_timeout, server.send_timeout) == (
        None,
        None,
        None,
    )
    assert ASGIOptions(disconnect_timeout=None, receive_timeout=None).disconnect_timeout is None
    assert ClientOptions(ping_interval=5).keepalive == (5, 5)  # SAME_AS_INTERVAL
    assert ClientOptions(ping_interval=5, ping_timeout=None).keepalive == (5, math.inf)
    assert ClientOptions().ping_timeout is SAME_AS_INTERVAL
    assert repr(SAME_AS_INTERVAL) == "SAME_AS_INTERVAL"
    with pytest.raises(ValueError, match=r"^initial_delay must be a number greater than 0, got"):
        ReconnectOptions(initial_delay=None)  # a delay, not a timeout: None is no setting


@pytest.mark.parametrize("text", ["off", "OFF", " none "])
def test_a_timeout_flag_says_off(text: str) -> None:
    assert seconds(text) is None
    assert seconds("2.5") == 2.5
    assert seconds(seconds_text(None)) is None and seconds(seconds_text(7.0)) == 7.0
    with pytest.raises(ValueError):
        seconds("never")


async def test_a_stalled_handshake_is_held_without_connect_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = echo_app()
    options = ServerOptions(connect_timeout=None)
    server_end, client_end = trio.testing.memory_stream_pair()
    request = client_request("/")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_stream, app.handle_websocket, server_end, options)
        await client_end.send_all(request[:20])
        await trio.sleep(HOUR)  # with the default it would have been dropped after 10 s
        await client_end.send_all(request[20:])
        with trio.fail_after(5):
            answer = await client_end.receive_some()
        assert answer.startswith(b"HTTP/1.1 101 ")
        await client_end.aclose()


async def test_the_test_client_waits_for_a_slow_accept_without_connect_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app = App()

    @app.websocket("/slow")
    async def slow(request: WebSocketRequest) -> None:
        await trio.sleep(HOUR)
        ws = await request.accept()
        await ws.send_message("at last")

    async with TestClient(app) as client:
        started = trio.current_time()
        async with client.websocket("/slow", options=ClientOptions(connect_timeout=None)) as ws:
            assert await ws.get_message() == "at last"
        assert trio.current_time() - started >= HOUR


async def _silent_server(
    listener: trio.SocketListener,
    got_request: trio.Event,
    answer: trio.Event | None,
    closed: trio.Event,
) -> None:
    """Accept one client and read its request; answer 101 once ``answer`` is set (never when it
    is ``None``); set ``closed`` when the client closes the socket."""
    async with await listener.accept() as stream:
        request = b""
        while b"\r\n\r\n" not in request:
            request += await stream.receive_some()
        got_request.set()
        key = re.search(rb"Sec-WebSocket-Key: (\S+)", request, re.IGNORECASE)
        assert key is not None
        if answer is not None:
            await answer.wait()
            await stream.send_all(switching_response(key.group(1)))
        while await stream.receive_some():
            pass
        closed.set()


async def test_a_client_without_connect_timeout_waits_for_the_answer(
    mock_clock: trio.testing.MockClock,
) -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    got_request, answer, closed, opened_ws = trio.Event(), trio.Event(), trio.Event(), trio.Event()

    async def client() -> None:
        with pytest.raises(DisconnectionTimeout):  # the raw server never closes
            async with open_websocket(
                "127.0.0.1", port, "/", use_ssl=False, connect_timeout=None, disconnect_timeout=0.05
            ):
                opened_ws.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_silent_server, listener, got_request, answer, closed)
        nursery.start_soon(client)
        with trio.fail_after(5):
            await got_request.wait()
        mock_clock.jump(HOUR)  # 60 s, the default, would have expired
        await trio.testing.wait_all_tasks_blocked()
        assert not opened_ws.is_set() and not closed.is_set()
        answer.set()
        mock_clock.rate = 1  # real time from here: bounds the rest
        with trio.fail_after(5):
            await opened_ws.wait()
            await closed.wait()
    await listener.aclose()


@pytest.mark.parametrize("kind", SIDES)
async def test_a_close_without_disconnect_timeout_waits_for_the_peers_close(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kind: object
) -> None:
    ws, peer = await opened(nursery, kind, disconnect_timeout=None)  # type: ignore[arg-type]
    done = trio.Event()

    async def close() -> None:
        await ws.aclose(1000, "bye")
        done.set()

    nursery.start_soon(close)
    assert (await peer.expect(CloseConnection)).code == 1000
    await trio.sleep(HOUR)  # 60 s by default
    assert not done.is_set()
    await peer.send(CloseConnection(code=1000))
    with trio.fail_after(5):
        await done.wait()
    assert await peer.next_event() is None  # the stream is closed once the close completed


async def test_a_send_without_send_timeout_holds_a_never_reading_peer(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery, lockstep=True, send_timeout=None)
    sent = trio.Event()
    payload = "x" * 200_000

    async def send() -> None:
        await ws.send_message(payload)
        sent.set()

    nursery.start_soon(send)
    await trio.sleep(HOUR)  # ServerOptions' default would drop it after 30 s
    assert not sent.is_set() and ws.closed is None
    received = ""
    while len(received) < len(payload):  # wsproto hands the message over in pieces
        received += (await peer.expect(TextMessage)).data
    assert received == payload
    with trio.fail_after(5):
        await sent.wait()


async def test_keepalive_without_a_pong_timeout_never_closes_a_silent_peer(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery, ping_interval=5, ping_timeout=None)
    ping = await peer.expect(Ping, timeout=30)  # not answered for an hour
    await trio.sleep(HOUR)  # SAME_AS_INTERVAL would have closed it with 1011 after 5 s
    assert ws.closed is None
    await peer.send(TextMessage(data="still here"))
    assert await ws.get_message() == "still here"
    await peer.send(ping.response())  # the late pong: the pings go on
    assert isinstance(await peer.next_event(timeout=30), Ping)


async def test_a_drain_without_timeout_waits_for_every_handler(
    nursery: trio.Nursery, mock_clock: trio.testing.MockClock
) -> None:
    release, entered = trio.Event(), trio.Event()

    async def hold(request: WebSocketRequest) -> None:
        await request.accept()
        entered.set()
        with trio.CancelScope(shield=True):
            await release.wait()

    server = await nursery.start(serve_websocket, hold, "127.0.0.1", 0, None)
    results: list[bool] = []
    drained = trio.Event()

    async def drain() -> None:
        results.append(await server.shutdown(timeout=None))
        drained.set()

    async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
        with trio.fail_after(5):
            await entered.wait()
        nursery.start_soon(drain)
        await trio.testing.wait_all_tasks_blocked()
        mock_clock.jump(HOUR)  # 10 s by default
        await trio.testing.wait_all_tasks_blocked()
        assert results == []
        release.set()
        mock_clock.rate = 1  # real time from here: bounds the rest
        with trio.fail_after(5):
            await drained.wait()
    assert results == [True]


async def test_the_compat_module_takes_none_where_trio_websocket_takes_seconds() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    try:
        server = trio_websocket.WebSocketServer(
            echo_app().handle_websocket,
            listeners,
            connect_timeout=None,
            disconnect_timeout=None,
            ping_interval=5,
            ping_timeout=None,
        )
        options = server.options
        assert (options.connect_timeout, options.disconnect_timeout) == (None, None)
        assert options.keepalive == (5, math.inf)
        default = trio_websocket.WebSocketServer(echo_app().handle_websocket, listeners).options
        assert (default.connect_timeout, default.disconnect_timeout) == (60, 60)
        assert default.ping_timeout is SAME_AS_INTERVAL
    finally:
        for listener in listeners:
            await listener.aclose()
