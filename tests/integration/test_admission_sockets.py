"""Limits of our own server over loopback sockets: the global connection limit of App.serve,
a stalled handshake dropped at the handshake timeout while a normal client is served, and the
limit flags of ``wsframework run``."""

from __future__ import annotations

import socket
from collections.abc import Callable
from functools import partial

import pytest
import trio
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from wsframework import (
    ConnectionRejected,
    ServerOptions,
    WebSocketServer,
    open_websocket_url,
)

from ..sample_apps import echo_app
from . import cli_helpers
from .cli_helpers import Server

app_dir = cli_helpers.app_dir
marker = cli_helpers.marker
env = cli_helpers.env
run = cli_helpers.run


async def test_the_global_limit_answers_503_until_a_slot_is_free(nursery: trio.Nursery) -> None:
    options = ServerOptions(max_connections=2)
    serve = partial(echo_app().serve, options=options)
    server: WebSocketServer = await nursery.start(serve, "127.0.0.1", 0)
    url = f"ws://127.0.0.1:{server.port}/"
    with trio.fail_after(10):
        async with open_websocket_url(url) as first, open_websocket_url(url):
            with pytest.raises(ConnectionRejected) as caught:
                async with open_websocket_url(url):
                    pytest.fail("a third connection was accepted")
            assert caught.value.status_code == 503
            assert (b"retry-after", b"5") in caught.value.headers
            assert caught.value.body == (
                b"The server is at its limit of 2 connections; try again in 5 s.\n"
            )
            await first.send_message("still served")
            assert await first.get_message() == "still served"
        async with open_websocket_url(url) as again:
            await again.send_message("a slot again")
            assert await again.get_message() == "a slot again"


async def test_a_stalled_handshake_is_dropped_while_others_are_served(
    nursery: trio.Nursery,
) -> None:
    serve = partial(echo_app().serve, options=ServerOptions(connect_timeout=0.5))
    server: WebSocketServer = await nursery.start(serve, "127.0.0.1", 0)
    stalled = trio.socket.socket()
    with stalled, trio.fail_after(10):
        await stalled.connect(("127.0.0.1", server.port))
        await stalled.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        started = trio.current_time()
        async with open_websocket_url(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send_message("served meanwhile")
            assert await ws.get_message() == "served meanwhile"
        assert trio.current_time() - started < 0.5
        assert await stalled.recv(100) == b""  # dropped without an answer
        assert trio.current_time() - started >= 0.5


def test_run_limit_flags(run: Callable[..., Server]) -> None:
    server = run(
        "cliapp:app", "--port", "0", "--max-connections-per-ip", "1", "--handshake-timeout", "1"
    )
    _scheme, port = server.started()
    with connect(f"ws://127.0.0.1:{port}/pid", open_timeout=10, proxy=None):
        with pytest.raises(InvalidStatus) as caught:
            connect(f"ws://127.0.0.1:{port}/pid", open_timeout=10, proxy=None)
        assert caught.value.response.status_code == 503
        assert caught.value.response.headers["Retry-After"] == "5"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
        stalled.sendall(b"GET /pid HTTP/1.1\r\n")
        assert stalled.recv(100) == b""  # dropped after --handshake-timeout
    server.wait_for(r"refused a handshake from 127\.0\.0\.1 with 503: Too many connections")
    assert server.stop() == 0
