"""The test client: an App's lifespan, WebSocket connections and HTTP requests over memory
streams (no socket, no TLS), served by :func:`wsframework.server.serve_stream`."""

from __future__ import annotations

import json as jsonlib
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import h11
import trio
import trio.testing

from .._groups import raise_single
from ..admission import Admission
from ..app import App
from ..client import wrap_client_stream
from ..datastructures import Headers
from ..exceptions import ConnectionTimeout
from ..interface import AddressedStream, Endpoint, WebSocketConnection
from ..options import (
    MAX_MESSAGE_SIZE,
    MESSAGE_QUEUE_SIZE,
    ClientOptions,
    ServerOptions,
    timeout_seconds,
)
from ..protocol.deflate_options import DeflateOptions
from ..server import serve_stream

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["TestClient", "TestResponse"]

HeadersArg = Mapping[str, str] | Iterable[tuple[str, str]] | None


class TestResponse:
    """The answer to a plain HTTP request of :class:`TestClient`.

    Attributes:
        status_code: the HTTP status, e.g. ``200``.
        headers: the response headers, a :class:`~wsframework.datastructures.Headers` (a list
            of byte pairs readable as a case-insensitive ``str`` mapping:
            ``response.headers["Content-Type"]``).
        content: the body, as bytes.
    """

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, status_code: int, headers: Headers, content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ValueError: the body is not JSON.
        """
        return jsonlib.loads(self.content)

    def __repr__(self) -> str:
        return f"<TestResponse [{self.status_code}]>"


class TestClient:
    """Run ``app`` in this task and talk to it without a socket.

    ``async with TestClient(app) as client:`` runs the app's lifespan (startup hooks, the
    lifespan function, ``app.rooms``) on entry and its shutdown on exit. Inside, every
    connection's server side runs in a nursery of the client's, cancelled before the shutdown
    (as a server cancels its handlers: a handler still running sees ``trio.Cancelled`` and its
    connection is closed with 1001). Entering runs the startup, which is not bounded: bound it
    with ``trio.fail_after`` around the ``async with``.

    What is real: the frames, masking, the opening handshake and its refusals, close codes,
    size limits (``server_options``), compression when asked for, and the HTTP/1.1 path
    (404, 405, 426...). What is not: there is no socket and no TLS; ``request.client`` is the
    address given as ``client`` (the server's own end is 127.0.0.1 on the port of
    ``base_url``).

    Args:
        app: the application.
        base_url: its host (sent as ``Host``) and an optional path prefix for every request;
            the scheme is only informative (no TLS either way).
        server_options: the server's settings (limits, timeouts, compression...), as given to
            ``wsframework run``; default :class:`~wsframework.options.ServerOptions`. Its
            connection limits hold across the connections of this client.
        client: the ``(ip, port)`` every request comes from, as ``request.client`` reports it
            (an IP address: the server parses it); ``None`` for a connection with no address
            (``request.client`` is then ``None``, as on a Unix socket).
    """

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(
        self,
        app: App,
        *,
        base_url: str = "http://testserver",
        server_options: ServerOptions | None = None,
        client: tuple[str, int] | None = ("127.0.0.1", 50000),
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https", "ws", "wss") or not url.netloc:
            raise ValueError(f"base_url must be like 'http://host[:port][/prefix]': {base_url!r}")
        self.app = app
        self.host = url.netloc
        self.prefix = url.path.rstrip("/")
        self.server_options = server_options if server_options is not None else ServerOptions()
        self._admission = Admission(self.server_options)
        secure = url.scheme in ("https", "wss")
        self._endpoints: tuple[Endpoint, Endpoint] | None = None
        if client is not None:
            local = Endpoint("127.0.0.1", url.port or (443 if secure else 80), secure)
            self._endpoints = (local, Endpoint(client[0], client[1], secure))
        self._stack: AsyncExitStack | None = None
        self._nursery: trio.Nursery | None = None

    async def __aenter__(self) -> TestClient:
        if self._stack is not None:
            raise RuntimeError("this TestClient is already running")
        stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            await stack.enter_async_context(self.app.lifespan_context())
            nursery = await stack.enter_async_context(trio.open_nursery())
            stack.callback(nursery.cancel_scope.cancel)
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._nursery = stack, nursery
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._stack, self._nursery = self._stack, None, None
        assert stack is not None
        try:
            return await stack.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            raise_single(group)

    @property
    def nursery(self) -> trio.Nursery:
        """The nursery of the connections: start helper tasks of a test here to have them
        cancelled before the app's shutdown."""
        if self._nursery is None:
            raise RuntimeError("use the TestClient inside 'async with TestClient(app) as client:'")
        return self._nursery

    def _serve(self, lockstep: bool = False) -> trio.abc.Stream:
        """A new connection to the app: the client's end of a pair of memory streams."""
        server_stream: trio.abc.Stream
        client_stream: trio.abc.Stream
        if lockstep:
            server_stream, client_stream = trio.testing.lockstep_stream_pair()
        else:
            server_stream, client_stream = trio.testing.memory_stream_pair()
        if self._endpoints is not None:
            assert isinstance(server_stream, trio.StapledStream)
            local, remote = self._endpoints
            server_stream = AddressedStream(server_stream, local=local, remote=remote)
        app = self.app
        self.nursery.start_soon(
            partial(serve_stream, admission=self._admission),
            app.handle_websocket,
            server_stream,
            self.server_options,
            app.handle_http,
        )
        return client_stream

    def _headers(
        self, headers: HeadersArg, cookies: Mapping[str, str] | None
    ) -> list[tuple[bytes, bytes]]:
        items = headers.items() if isinstance(headers, Mapping) else (headers or ())
        out = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in items]
        if cookies:
            cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
            out.append((b"cookie", cookie.encode("latin-1")))
        return out

    @asynccontextmanager
    async def websocket(
        self,
        path: str,
        *,
        subprotocols: Iterable[str] | None = None,
        headers: HeadersArg = None,
        cookies: Mapping[str, str] | None = None,
        options: ClientOptions | None = None,
        compression: DeflateOptions | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
        message_queue_size: int = MESSAGE_QUEUE_SIZE,
        lockstep: bool = False,
    ) -> AsyncIterator[WebSocketConnection]:
        """``async with client.websocket("/chat?room=1") as ws:`` a WebSocket connection to the
        app, closed (1000) on exit.

        The client side's settings are those of the real client
        (:func:`~wsframework.open_websocket_url`): either ``options=ClientOptions(...)``, the
        same object, or the keywords ``compression``, ``max_message_size`` and
        ``message_queue_size``. The handshake is bounded by ``connect_timeout`` (60 s unless
        set in ``options``; ``ConnectionTimeout``), the close on exit by
        ``disconnect_timeout`` (then abandoned); bound entering more tightly with
        ``trio.fail_after`` (cancelling it abandons that connection). ``ws.get_message()`` and
        the other calls of the connection are bounded the same way; under pytest-trio's
        ``autojump_clock`` such bounds cost no real time.

        Args:
            path: the path and query string, e.g. ``"/chat/lobby?user=ann"``.
            subprotocols: offered in this order; ``ws.subprotocol`` is the one picked.
            headers: extra request headers (a mapping or ``(name, value)`` pairs).
            cookies: sent as one ``Cookie`` header.
            options: all the client's settings, as the real client takes them (note that
                ``ClientOptions()`` offers compression, as the real client does); then the
                three keywords below must keep their defaults.
            compression: permessage-deflate to offer; ``None`` (the default) offers none.
            max_message_size: the client's limit on messages it receives.
            message_queue_size: messages the client buffers before it stops reading; ``0``
                reads only when the test asks for a message.
            lockstep: the client reads only when the test reads, so the server's sends to it
                wait (to test slow consumers and backpressure).

        Raises:
            ConnectionRejected: the app refused the handshake (``status_code``, ``headers``,
                ``body``), e.g. 403 from ``request.reject(...)`` or 404 for no route.
            ConnectionTimeout: the handshake took longer than ``connect_timeout``.
            ValueError: a setting is out of range, or given both in ``options`` and as a
                keyword.
        """
        settings = ClientOptions(
            compression=compression,
            max_message_size=max_message_size,
            message_queue_size=message_queue_size,
        )
        if options is None:
            options = settings
        else:
            given = sorted(
                name
                for name, value, default in [
                    ("compression", compression, None),
                    ("max_message_size", max_message_size, MAX_MESSAGE_SIZE),
                    ("message_queue_size", message_queue_size, MESSAGE_QUEUE_SIZE),
                ]
                if value != default
            )
            if given:
                raise ValueError(
                    "pass client settings either in options= or as keywords, not both: "
                    + ", ".join(given)
                )
        stream = self._serve(lockstep)
        try:
            with trio.fail_after(timeout_seconds(options.connect_timeout)):
                ws = await wrap_client_stream(
                    self.nursery,
                    stream,
                    self.host,
                    self.prefix + path,
                    subprotocols=subprotocols,
                    extra_headers=self._headers(headers, cookies),
                    message_queue_size=options.message_queue_size,
                    max_message_size=options.max_message_size,
                    receive_buffer_size=options.receive_buffer_size,
                    compression=options.compression,
                    ping_interval=options.ping_interval,
                    ping_timeout=options.ping_timeout,
                )
        except trio.TooSlowError:
            raise ConnectionTimeout(
                f"the app did not answer the opening handshake for {path} within "
                f"{options.connect_timeout:g} seconds (connect_timeout)"
            ) from None
        try:
            yield ws
        finally:
            limit = timeout_seconds(options.disconnect_timeout)
            with trio.CancelScope(shield=True), trio.move_on_after(limit):
                await ws.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: HeadersArg = None,
        cookies: Mapping[str, str] | None = None,
        content: bytes = b"",
        json: Any = None,
    ) -> TestResponse:
        """Send one HTTP/1.1 request to the app (``app.handle_http`` through the server's HTTP
        path) and read the whole response.

        No timeout of its own: bound it with ``trio.fail_after``; cancelling it abandons the
        request (the handler is cancelled when the client exits).

        Args:
            method: ``"GET"``, ``"POST"``...
            path: the path and query string.
            headers: extra request headers (a mapping or ``(name, value)`` pairs).
            cookies: sent as one ``Cookie`` header.
            content: the body.
            json: a value sent as a JSON body (``content-type: application/json``) instead.

        Raises:
            h11.RemoteProtocolError: the server closed the connection without a response.
        """
        hdrs = [(b"host", self.host.encode("latin-1")), *self._headers(headers, cookies)]
        if json is not None:
            content = jsonlib.dumps(json).encode()
            hdrs.append((b"content-type", b"application/json"))
        if content or method.upper() in ("POST", "PUT", "PATCH"):
            hdrs.append((b"content-length", str(len(content)).encode()))
        stream = self._serve()
        conn = h11.Connection(h11.CLIENT)
        data = conn.send(
            h11.Request(method=method.upper(), target=self.prefix + path, headers=hdrs)
        )
        if content:
            data += conn.send(h11.Data(data=content)) or b""
        data += conn.send(h11.EndOfMessage()) or b""
        try:
            await stream.send_all(data or b"")
            response: h11.Response | None = None
            body = bytearray()
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(bytes(await stream.receive_some(65536)))
                elif isinstance(event, h11.Response):
                    response = event
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise h11.RemoteProtocolError("the server closed the connection")
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()
        assert response is not None
        return TestResponse(response.status_code, Headers(response.headers), bytes(body))

    async def get(self, path: str, **kwargs: Any) -> TestResponse:
        """``request("GET", path, ...)``; bound it with ``trio.fail_after``."""
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> TestResponse:
        """``request("POST", path, ...)``; bound it with ``trio.fail_after``."""
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> TestResponse:
        """``request("PUT", path, ...)``; bound it with ``trio.fail_after``."""
        return await self.request("PUT", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> TestResponse:
        """``request("DELETE", path, ...)``; bound it with ``trio.fail_after``."""
        return await self.request("DELETE", path, **kwargs)
