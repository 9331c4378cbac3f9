"""The handshake timeout of our own server (wsframework.server): a client that sends half a
request and nothing more is dropped at ``connect_timeout`` (10 s by default), while others are
served meanwhile; virtual time, memory streams."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from wsframework import ServerOptions
from wsframework.server import serve_stream
from wsframework.testing import TestClient

from .sample_apps import echo_app


@pytest.mark.parametrize(
    ("timeout", "options"), [(10, ServerOptions()), (3, ServerOptions(connect_timeout=3))]
)
async def test_a_stalled_handshake_is_dropped_at_the_timeout(
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
    timeout: float,
    options: ServerOptions,
) -> None:
    caplog.set_level(logging.INFO, logger="wsframework")
    app = echo_app()
    server_end, stalled = trio.testing.memory_stream_pair()
    async with TestClient(app, server_options=options) as client:
        client.nursery.start_soon(serve_stream, app.handle_websocket, server_end, options)
        await stalled.send_all(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        started = trio.current_time()
        await trio.sleep(timeout - 1)
        async with client.websocket("/") as ws:  # served while the other one stalls
            await ws.send_message("meanwhile")
            assert await ws.get_message() == "meanwhile"
        assert await stalled.receive_some() == b""  # closed without an answer
    assert trio.current_time() - started == pytest.approx(timeout)
    assert f"no complete handshake within {timeout:g} s" in caplog.text
