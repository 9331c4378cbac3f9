"""The shared parts of the connection interface: the endpoints, PreparedMessage, iteration.

The message queue's own tests are in ``test_message_queue.py``.
"""

from __future__ import annotations

import gc
import socket
import sys
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from wsframework import App, MessageTypeError, WebSocketRequest
from wsframework.interface import (
    Endpoint,
    PreparedMessage,
    WebSocketConnection,
    socket_endpoint,
    stream_endpoint,
)
from wsframework.testing import TestClient

# ---------------------------------------------------------------------- endpoints


def test_endpoint() -> None:
    endpoint = Endpoint("::1", 8443, True)
    assert endpoint.url == "wss://[::1]:8443"
    assert repr(endpoint) == 'Endpoint(address="::1", port=8443, is_ssl=True)'
    assert Endpoint("127.0.0.1", 80, False).url == "ws://127.0.0.1"


class _Named:
    """Stands in for a socket: only the two address methods ``socket_endpoint`` calls."""

    def __init__(self, local: Any, remote: Any) -> None:
        self._local, self._remote = local, remote

    def getsockname(self) -> Any:
        return self._local

    def getpeername(self) -> Any:
        if isinstance(self._remote, OSError):
            raise self._remote
        return self._remote


def test_socket_endpoint() -> None:
    sock = _Named(("10.0.0.1", 9000), ("10.0.0.2", 50000, 0, 0))
    local = socket_endpoint(sock, False, "fallback")
    remote = socket_endpoint(sock, True, "fallback", local=False)
    assert isinstance(local, Endpoint) and local.url == "ws://10.0.0.1:9000"
    assert isinstance(remote, Endpoint) and remote.url == "wss://10.0.0.2:50000"
    unix = _Named("/tmp/ws.sock", OSError("not connected"))
    assert socket_endpoint(unix, False, "fallback") == "fallback"  # a Unix socket's path
    assert socket_endpoint(unix, False, "fallback", local=False) == "fallback"  # closed


def test_stream_endpoint_of_other_streams_is_their_repr() -> None:
    stream = trio.testing.MemorySendStream()
    assert stream_endpoint(stream, local=True) == repr(stream)
    left, right = socket.socketpair()  # AF_UNIX: no IP address
    with left, right:
        unix = trio.SocketStream(trio.socket.from_stdlib_socket(left))
        assert stream_endpoint(unix, local=False) == repr(unix)


def test_the_interface_cannot_be_instantiated() -> None:
    with pytest.raises(TypeError, match="abstract"):
        WebSocketConnection()  # type: ignore[abstract]


# ---------------------------------------------------------------------------- PreparedMessage


def test_prepared_message_encodes_once_and_frames_once() -> None:
    text = PreparedMessage("héllo")
    assert (text.text, text.payload, len(text)) == (True, "héllo".encode(), 6)
    head, body = text.frame
    assert head == bytes((0x81, 6)) and body is text.payload
    assert text.frame is text.frame  # built once, shared by every connection
    binary = PreparedMessage(bytearray(b"\x00" * 200))
    assert binary.message == b"\x00" * 200 and binary.frame[0] == bytes((0x82, 126, 0, 200))


def test_prepared_message_refuses_what_is_not_a_message() -> None:
    with pytest.raises(MessageTypeError, match="must be str or bytes, not int"):
        PreparedMessage(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("typed", [False, True], ids=["plain", "typed"])
async def test_a_break_out_of_async_for_leaves_nothing_to_finalize(
    typed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An async generator abandoned by a `break` makes Trio warn when it is collected.
    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    app = App()
    broke = trio.Event()

    @app.websocket("/", receive=dict if typed else None)
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async for _ in ws:
            break
        gc.collect()
        broke.set()
        await ws.send_message("after the break")

    async with TestClient(app) as client, client.websocket("/") as ws:
        await ws.send_message('{"n": 1}')
        await ws.send_message('{"n": 2}')
        async for message in ws:
            assert message == "after the break"
            break
        gc.collect()
        await broke.wait()
    assert unraisable == []
