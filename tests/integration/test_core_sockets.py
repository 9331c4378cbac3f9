"""The core over real sockets: loopback TCP, TLS, Unix sockets, third-party peers, load."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket
import websockets.sync.client
import websockets.sync.server

from wsframework import (
    CloseReason,
    ConnectionClosed,
    ConnectionTimeout,
    HandshakeError,
    InvalidHandshake,
    WebSocketRequest,
    WebSocketServer,
    connect_websocket,
    open_websocket,
    open_websocket_url,
    serve_websocket,
    wrap_client_stream,
)

from ..certs import make_certificate
from ..conftest import echo_handler
from ..peers import OP_BINARY, OP_TEXT, RawPeer, header

Serve = Callable[..., Awaitable[WebSocketServer]]


async def echo_round(ws: Any, message: str | bytes) -> None:
    await ws.send_message(message)
    assert await ws.get_message() == message


# ---------------------------------------------------------------------- echo and compression


@pytest.mark.parametrize("compression", [True, False])
async def test_echo_with_and_without_compression(serve: Serve, compression: bool) -> None:
    server_side: list[bool] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        server_side.append(ws.compression)
        async for message in ws:
            await ws.send_message(message)

    server = await serve(handler)
    options: dict[str, Any] = {} if compression else {"compression": None}
    with trio.fail_after(10):
        async with open_websocket(
            "127.0.0.1", server.port, "/echo", use_ssl=False, **options
        ) as ws:
            assert ws.compression is compression
            for message in ("hello", "héllo wörld " * 100, b"\x00\xff" * 1000, "", b""):
                await echo_round(ws, message)
            assert isinstance(ws.local, type(ws.remote))
            assert ws.remote.port == server.port  # type: ignore[union-attr]
        assert ws.closed == CloseReason(1000, None)
    assert server_side == [compression]


async def test_server_without_compression_refuses_offer(serve: Serve) -> None:
    server = await serve(compression=None)
    async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
        assert not ws.compression
        await echo_round(ws, "plain")


async def test_send_uncompressed_message_has_rsv1_clear(serve: Serve) -> None:
    payload = b"same same same " * 50

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        assert ws.compression
        await ws.send_message(payload, compress=False)
        await ws.send_message(payload)
        await ws.send_message(payload.decode(), compress=False)
        await ws.aclose()

    server = await serve(handler)
    async with await trio.open_tcp_stream("127.0.0.1", server.port) as stream:
        peer = RawPeer(stream)
        status, headers = await peer.handshake(
            extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
        )
        assert status.startswith(b"HTTP/1.1 101")
        answer = header(headers, b"sec-websocket-extensions")
        assert answer == b"permessage-deflate; server_max_window_bits=12"
        plain, packed, text = [await peer.next_frame() for _ in range(3)]
    assert plain is not None and packed is not None and text is not None
    assert (plain.opcode, plain.rsv1, plain.payload) == (OP_BINARY, False, payload)
    assert packed.opcode == OP_BINARY and packed.rsv1 and len(packed.payload) < 60
    assert (text.opcode, text.rsv1, text.payload) == (OP_TEXT, False, payload)


@pytest.mark.parametrize("compression", [True, False])
async def test_one_mebibyte_message(serve: Serve, compression: bool) -> None:
    server = await serve()
    options: dict[str, Any] = {} if compression else {"compression": None}
    blob = os.urandom(2**20)  # exactly the default max_message_size
    text = ("0123456789abcdef" * 2**16)[: 2**20]
    with trio.fail_after(20):
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False, **options) as ws:
            await echo_round(ws, blob)
            await echo_round(ws, text)
            await echo_round(ws, "after")


async def test_message_over_default_limit_is_1009(serve: Serve) -> None:
    server = await serve()
    with trio.fail_after(20):
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            await ws.send_message(b"x" * (2**20 + 1))
            with pytest.raises(ConnectionClosed) as info:
                await ws.get_message()
    assert info.value.reason is not None and info.value.reason.code == 1009


def closed_port() -> int:
    """A loopback port with no listener (bound, never listening): connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_connection_refused_is_handshake_error_naming_the_cause() -> None:
    port = closed_port()
    with trio.fail_after(10):
        with pytest.raises(HandshakeError) as info:
            async with open_websocket("127.0.0.1", port, "/", use_ssl=False):
                pass  # pragma: no cover
        assert str(info.value) == f"could not connect to 127.0.0.1:{port}: Connection refused"
        assert isinstance(info.value.__cause__, ConnectionRefusedError)
        with pytest.raises(HandshakeError) as by_url:
            async with open_websocket_url(f"ws://127.0.0.1:{port}/"):
                pass  # pragma: no cover
        assert str(by_url.value) == str(info.value)
        assert isinstance(by_url.value.__cause__, ConnectionRefusedError)


async def test_an_unresolvable_host_is_handshake_error_naming_the_cause() -> None:
    # .invalid never resolves (RFC 2606): the resolver answers at once, online or not.
    with trio.fail_after(10), pytest.raises(HandshakeError) as info:
        async with open_websocket_url("ws://nohost.invalid:8000/"):
            pass  # pragma: no cover
    cause = info.value.__cause__
    assert isinstance(cause, socket.gaierror)
    assert str(info.value) == (
        f"could not connect to nohost.invalid:8000: the host name could not be resolved "
        f"({cause.strerror})"
    )


async def test_a_connect_timeout_says_how_long_it_waited() -> None:
    # A listening socket nobody accepts on: TCP connects (kernel backlog), nothing answers.
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        port = sock.getsockname()[1]
        with trio.fail_after(10), pytest.raises(ConnectionTimeout) as info:
            async with open_websocket_url(f"ws://127.0.0.1:{port}/", connect_timeout=0.25):
                pass  # pragma: no cover
    assert str(info.value) == (
        f"could not connect to 127.0.0.1:{port} within 0.25 seconds "
        "(connect_timeout: TCP, TLS and the opening handshake together)"
    )


async def test_tls_to_a_plain_server_is_handshake_error_in_words(nursery: trio.Nursery) -> None:
    server: WebSocketServer = await nursery.start(
        partial(serve_websocket, echo_handler, "127.0.0.1", 0, None)
    )
    with trio.fail_after(10), pytest.raises(HandshakeError) as info:
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=True):
            pass  # pragma: no cover
    cause = info.value.__cause__
    assert isinstance(cause, ssl.SSLError)
    reason = (cause.reason or "").replace("_", " ").lower()
    assert reason
    assert str(info.value) == (
        f"could not connect to 127.0.0.1:{server.port}: the TLS handshake failed ({reason})"
    )


async def test_connection_refused_without_a_timeout_is_the_oserror(nursery: trio.Nursery) -> None:
    """connect_websocket, like trio-websocket's, lets trio's own OSError through."""
    port = closed_port()
    with trio.fail_after(10), pytest.raises(OSError) as info:
        await connect_websocket(nursery, "127.0.0.1", port, "/", use_ssl=False)
    assert not isinstance(info.value, HandshakeError)


# ---------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_contexts(tls_files: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert, key = tls_files
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(str(cert), str(key))
    client_ctx = ssl.create_default_context(cafile=str(cert))
    return server_ctx, client_ctx


async def test_tls_echo(
    nursery: trio.Nursery, tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ctx, client_ctx = tls_contexts
    seen: list[tuple[str, str]] = []

    async def handler(request: WebSocketRequest) -> None:
        seen.append((request.scheme, request.url))
        ws = await request.accept()
        assert ws.local.is_ssl  # type: ignore[union-attr]
        async for message in ws:
            await ws.send_message(message)

    server: WebSocketServer = await nursery.start(
        partial(serve_websocket, handler, "127.0.0.1", 0, server_ctx)
    )
    assert server.listeners[0].is_ssl  # type: ignore[union-attr]
    with trio.fail_after(10):
        async with open_websocket(
            "127.0.0.1", server.port, "/secure?x=1", use_ssl=client_ctx
        ) as ws:
            assert ws.remote.is_ssl and ws.compression  # type: ignore[union-attr]
            await echo_round(ws, "over tls")
            await echo_round(ws, os.urandom(200_000))
    assert seen == [("wss", f"wss://127.0.0.1:{server.port}/secure?x=1")]


async def test_tls_untrusted_certificate_is_handshake_error_naming_the_cause(
    nursery: trio.Nursery, tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ctx, client_ctx = tls_contexts
    server: WebSocketServer = await nursery.start(
        partial(serve_websocket, echo_handler, "127.0.0.1", 0, server_ctx)
    )
    untrusting = ssl.create_default_context()  # system CAs only: our cert is unknown
    with trio.fail_after(10):
        with pytest.raises(HandshakeError) as info:
            async with open_websocket("127.0.0.1", server.port, "/", use_ssl=untrusting):
                pass  # pragma: no cover
        cause = info.value.__cause__
        assert isinstance(cause, ssl.SSLCertVerificationError)
        assert str(info.value) == (
            f"could not connect to 127.0.0.1:{server.port}: the TLS handshake failed: the "
            f"server's certificate is not trusted ({cause.verify_message})"
        )
        assert cause.verify_message == "self-signed certificate"
        # connect_websocket lets trio's error through, as trio-websocket's does.
        with pytest.raises(trio.BrokenResourceError) as raw:
            await connect_websocket(nursery, "127.0.0.1", server.port, "/", use_ssl=untrusting)
        assert isinstance(raw.value.__cause__, ssl.SSLCertVerificationError)
        # The server survived the failed TLS handshakes.
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=client_ctx) as ws:
            await echo_round(ws, "still serving")


async def test_plain_client_on_tls_server_does_not_hurt_it(
    nursery: trio.Nursery, tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    server_ctx, client_ctx = tls_contexts
    server: WebSocketServer = await nursery.start(
        partial(serve_websocket, echo_handler, "127.0.0.1", 0, server_ctx, connect_timeout=2)
    )
    with trio.fail_after(10):
        # The server reads no TLS hello and closes: no ssl error reaches the client (docs/core.md).
        with pytest.raises(InvalidHandshake):
            async with open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                pass  # pragma: no cover
        async with open_websocket("127.0.0.1", server.port, "/", use_ssl=client_ctx) as ws:
            await echo_round(ws, "ok")


async def test_tls_client_on_plain_server_is_handshake_error_caused_by_ssl_error(
    nursery: trio.Nursery, tls_contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    _, client_ctx = tls_contexts
    server: WebSocketServer = await nursery.start(
        partial(serve_websocket, echo_handler, "127.0.0.1", 0, None)
    )
    with trio.fail_after(10):
        with pytest.raises(HandshakeError) as info:
            async with open_websocket("127.0.0.1", server.port, "/", use_ssl=client_ctx):
                pass  # pragma: no cover
        assert type(info.value) is HandshakeError
        assert isinstance(info.value.__cause__, ssl.SSLError)
        with pytest.raises(trio.BrokenResourceError) as raw:
            await connect_websocket(nursery, "127.0.0.1", server.port, "/", use_ssl=client_ctx)
        assert isinstance(raw.value.__cause__, ssl.SSLError)


# ---------------------------------------------------------------------- Unix socket


@pytest.fixture
def unix_path() -> Iterator[str]:
    # A short path: AF_UNIX paths are limited to about 100 bytes.
    with tempfile.TemporaryDirectory(prefix="wsf", dir="/tmp") as folder:
        yield os.path.join(folder, "ws.sock")


async def test_unix_socket_listener(nursery: trio.Nursery, unix_path: str) -> None:
    remotes: list[tuple[object, object]] = []

    async def handler(request: WebSocketRequest) -> None:
        remotes.append((request.remote, request.client))
        ws = await request.accept()
        async for message in ws:
            await ws.send_message(message)

    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    await sock.bind(unix_path)
    sock.listen(16)
    server = WebSocketServer(handler, [trio.SocketListener(sock)])
    assert await nursery.start(server.run) is server
    assert isinstance(server.listeners[0], str)
    with pytest.raises(RuntimeError, match="port"):
        _ = server.port
    with trio.fail_after(10):
        async with trio.open_nursery() as client_nursery:
            stream = await trio.open_unix_socket(unix_path)
            ws = await wrap_client_stream(client_nursery, stream, "localhost", "/unix")
            assert ws.path == "/unix" and ws.compression
            await echo_round(ws, "via unix")
            await echo_round(ws, b"\x00" * 100_000)
            await ws.aclose()
            assert ws.closed == CloseReason(1000, None)
    assert len(remotes) == 1
    assert isinstance(remotes[0][0], str) and remotes[0][1] is None


# ---------------------------------------------------------------------- third-party peers


async def test_websockets_sync_client_against_our_server(serve: Serve) -> None:
    closes: list[CloseReason | None] = []
    handler_done = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept(subprotocol="chat")
        try:
            async for message in ws:
                await ws.send_message(message)
        except ConnectionClosed as exc:  # 4001 is not a normal closure: iteration raises
            closes.append(exc.reason)
        handler_done.set()

    server = await serve(handler)
    url = f"ws://127.0.0.1:{server.port}/third-party"

    def client() -> tuple[Any, ...]:
        with websockets.sync.client.connect(url, subprotocols=["chat"], proxy=None) as conn:
            conn.send("héllo")
            text = conn.recv(timeout=5)
            conn.send(b"\x00\x01" * 40_000)
            data = conn.recv(timeout=5)
            conn.ping().wait(5)
            extensions = conn.response.headers.get("Sec-WebSocket-Extensions")
            subprotocol = conn.subprotocol
            conn.close(4001, "thanks")
        return text, data, extensions, subprotocol

    with trio.fail_after(20):
        text, data, extensions, subprotocol = await trio.to_thread.run_sync(client)
        await handler_done.wait()
    assert text == "héllo"
    assert data == b"\x00\x01" * 40_000
    assert extensions is not None and extensions.startswith("permessage-deflate")
    assert subprotocol == "chat"
    assert closes == [CloseReason(4001, "thanks")]


async def test_trio_websocket_client_against_our_server(serve: Serve) -> None:
    server = await serve()
    with trio.fail_after(10):
        async with trio_websocket.open_websocket_url(f"ws://127.0.0.1:{server.port}/tw") as ws:
            await ws.send_message("from trio-websocket")
            assert await ws.get_message() == "from trio-websocket"
            await ws.send_message(b"\xff" * 10_000)
            assert await ws.get_message() == b"\xff" * 10_000


async def test_our_client_against_websockets_sync_server() -> None:
    def handler(conn: websockets.sync.server.ServerConnection) -> None:
        assert conn.request is not None
        conn.send(f"path={conn.request.path}")
        for message in conn:
            conn.send(message)

    server = websockets.sync.server.serve(handler, "127.0.0.1", 0, subprotocols=["v1"])
    port = server.socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(trio.to_thread.run_sync, server.serve_forever))
        try:
            with trio.fail_after(20):
                async with open_websocket(
                    "127.0.0.1", port, "/their?q=1", use_ssl=False, subprotocols=["v1"]
                ) as ws:
                    assert ws.compression and ws.subprotocol == "v1"
                    assert await ws.get_message() == "path=/their?q=1"
                    await echo_round(ws, "hello websockets")
                    await echo_round(ws, os.urandom(300_000))
                    await ws.send_message("x" * 50_000, compress=False)
                    assert await ws.get_message() == "x" * 50_000
                    await ws.ping(b"hb")
                    assert ws.latency is not None
                assert ws.closed == CloseReason(1000, None)
        finally:
            await trio.to_thread.run_sync(server.shutdown)


async def test_websockets_server_close_reaches_our_client() -> None:
    def handler(conn: websockets.sync.server.ServerConnection) -> None:
        conn.send("last words")
        conn.close(4100, "server says bye")

    server = websockets.sync.server.serve(handler, "127.0.0.1", 0)
    port = server.socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(trio.to_thread.run_sync, server.serve_forever))
        try:
            with trio.fail_after(20):
                async with open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
                    assert await ws.get_message() == "last words"
                    with pytest.raises(ConnectionClosed) as info:
                        await ws.get_message()
            assert info.value.reason == CloseReason(4100, "server says bye")
        finally:
            await trio.to_thread.run_sync(server.shutdown)


# ---------------------------------------------------------------------- robustness and load


async def test_handler_error_is_logged_and_server_carries_on(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wsframework")

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        if request.path == "/boom":
            raise RuntimeError("kaboom")
        async for message in ws:
            await ws.send_message(message)

    server = await serve(handler)
    with trio.fail_after(10):
        async with open_websocket("127.0.0.1", server.port, "/ok", use_ssl=False) as steady:
            await echo_round(steady, "one")
            async with open_websocket("127.0.0.1", server.port, "/boom", use_ssl=False) as ws:
                boom_port = ws.local.port  # type: ignore[union-attr]
                with pytest.raises(ConnectionClosed) as info:
                    await ws.get_message()
            assert info.value.reason == CloseReason(1011, "internal server error")
            await echo_round(steady, "two")
            async with open_websocket("127.0.0.1", server.port, "/ok", use_ssl=False) as fresh:
                await echo_round(fresh, "three")
    records = [r for r in caplog.records if "handler error" in r.getMessage()]
    assert len(records) == 1
    message = records[0].getMessage()
    assert "/boom" in message
    assert "127.0.0.1" in message and str(boom_port) in message
    assert records[0].levelno == logging.ERROR
    assert records[0].exc_info is not None and isinstance(records[0].exc_info[1], RuntimeError)


async def test_hundred_concurrent_connections(serve: Serve) -> None:
    server = await serve()
    done: set[int] = set()

    async def client(i: int) -> None:
        async with open_websocket("127.0.0.1", server.port, f"/c{i}", use_ssl=False) as ws:
            for j in range(5):
                await echo_round(ws, f"{i}:{j}")
            await echo_round(ws, bytes([i]) * 1000)
        done.add(i)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for i in range(100):
                nursery.start_soon(client, i)
    assert done == set(range(100))


async def test_a_flooding_peer_does_not_starve_other_connections(serve: Serve) -> None:
    """The receiving side: a handler that only reads a peer that never stops sending gets up
    to a queue's worth of messages per scheduler pass (get_message yields when the queue is
    empty), so another connection's round trips still go through."""
    consumed = 0
    flooding = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        nonlocal consumed
        ws = await request.accept()
        if request.path == "/sink":
            async for _message in ws:  # reads only: never sends, never sleeps
                consumed += 1
                if consumed == 1000:
                    flooding.set()
            return
        async for message in ws:
            await ws.send_message(message)

    server = await serve(handler)
    stop = trio.Event()

    async def flood(ws: Any) -> None:
        while not stop.is_set():
            await ws.send_message(b"x" * 100)

    with trio.fail_after(15):
        async with (
            open_websocket("127.0.0.1", server.port, "/sink", use_ssl=False) as sink,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(flood, sink)
            await flooding.wait()
            async with open_websocket("127.0.0.1", server.port, "/echo", use_ssl=False) as ws:
                before = consumed
                for i in range(50):
                    await echo_round(ws, f"round {i}")
                during = consumed - before
            stop.set()
    assert during > 0  # the flood was being read while the round trips went through


async def test_flooding_sender_does_not_starve_other_connection(serve: Serve) -> None:
    flood_started = trio.Event()

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        if request.path == "/flood":
            flood_started.set()
            try:
                while True:  # a tight loop of small messages
                    await ws.send_message("f")
            except ConnectionClosed:
                return
        async for message in ws:
            await ws.send_message(message)

    server = await serve(handler)
    received = 0
    rounds_done = trio.Event()

    async def drain(ws: Any) -> None:
        nonlocal received
        while not rounds_done.is_set():
            await ws.get_message()
            received += 1

    with trio.fail_after(15):
        async with (
            open_websocket("127.0.0.1", server.port, "/flood", use_ssl=False) as flood,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(drain, flood)
            await flood_started.wait()
            async with open_websocket("127.0.0.1", server.port, "/echo", use_ssl=False) as ws:
                before = received
                for i in range(50):
                    await echo_round(ws, f"round {i}")
                during = received - before
            rounds_done.set()
    assert during > 0  # the flood really ran while the round trips went through
