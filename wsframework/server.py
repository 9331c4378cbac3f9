"""The native Trio server: serve_websocket, WebSocketServer, wrap_server_stream."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from functools import partial
from typing import Any, NoReturn

import trio
from wsproto.connection import Connection, ConnectionType
from wsproto.extensions import Extension

from . import _stats as stats
from ._listen import serve_listeners
from .accepts import FrameContract
from .admission import Admission
from .connection import StreamConnection
from .exceptions import InvalidHandshake
from .handling import Handler, run_handler
from .http import HTTPHandler
from .interface import Endpoint, socket_endpoint, stream_endpoint
from .options import (
    CONN_TIMEOUT,
    HANDSHAKE_TIMEOUT,
    MAX_MESSAGE_SIZE,
    MESSAGE_QUEUE_SIZE,
    RECEIVE_BYTES,
    SAME_AS_INTERVAL,
    PingTimeout,
    ServerOptions,
    timeout_seconds,
)
from .protocol.close import check_close_code
from .protocol.deflate import DEFAULT_DEFLATE, DeflateOptions, negotiate_deflate
from .protocol.engine import Engine
from .protocol.handshake import (
    HandshakeRequest,
    ServerHandshake,
    UpgradeRequired,
    build_accept_response,
)
from .request import Compression, WebSocketRequest
from .stream_http import read_handshake, read_handshake_now, send_http_response, serve_http

__all__ = ["WebSocketServer", "serve_websocket", "wrap_server_stream"]

logger = logging.getLogger("wsframework")

Headers = list[tuple[bytes, bytes]]
# What makes wsproto for a connection without compression (the engine calls it when needed).
_PLAIN_WSPROTO = partial(Connection, ConnectionType.SERVER)


class ConnectionTracker:
    """What a server needs for a graceful drain: the open connections and a draining flag."""

    def __init__(self) -> None:
        self.draining = False
        self.connections: set[StreamConnection] = set()
        self.active = 0
        self._idle: trio.Event | None = None

    def enter(self) -> None:
        self.active += 1

    def leave(self) -> None:
        self.active -= 1
        if self.active == 0 and self._idle is not None:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no connection (in any phase) is left; cancel it (or bound it with
        ``trio.move_on_after``, as :meth:`WebSocketServer.shutdown` does) to stop waiting."""
        if self.active == 0:
            await trio.lowlevel.checkpoint()
            return
        self._idle = trio.Event()
        await self._idle.wait()


class _NativeHandshake:
    """The transport behind a :class:`WebSocketRequest` on our own server."""

    __slots__ = ("nursery", "options", "request", "stream", "tracker")

    def __init__(
        self,
        stream: trio.abc.Stream,
        request: HandshakeRequest,
        options: ServerOptions,
        nursery: trio.Nursery,
    ) -> None:
        self.stream = stream
        self.request: HandshakeRequest | None = request
        self.options = options
        self.nursery = nursery
        self.tracker: ConnectionTracker | None = None

    @property
    def local(self) -> Endpoint | str:
        return stream_endpoint(self.stream, local=True)

    @property
    def remote(self) -> Endpoint | str:
        return stream_endpoint(self.stream, local=False)

    async def accept(
        self,
        subprotocol: str | None,
        extra_headers: Headers,
        compression: Compression,
        frames: FrameContract | None,
    ) -> StreamConnection:
        options = self.options
        request = self.request
        assert request is not None, "accept() runs once"
        self.request = None  # not kept for the life of the connection
        deflate, ext_header = negotiate_deflate(
            options.compression if compression == "server" else compression,
            request.extensions,
            options.max_message_size,
        )
        data, response_headers = build_accept_response(
            request, subprotocol, ext_header, extra_headers
        )
        extensions: list[Extension] | None = [deflate] if deflate is not None else None
        # wsproto is made when first needed (an idle connection keeps none), unless bytes came
        # right behind the handshake: then it has them at once.
        proto: Connection | partial[Connection] = _PLAIN_WSPROTO
        if request.trailing_data:
            proto = Connection(
                ConnectionType.SERVER, extensions=extensions, trailing_data=request.trailing_data
            )
        elif extensions is not None:
            proto = partial(Connection, ConnectionType.SERVER, extensions=extensions)
        engine = Engine(
            proto,
            max_message_size=options.max_message_size,
            max_frame_size=options.read_size,
            deflate=deflate,
        )
        connection = StreamConnection(
            self.stream,
            engine,
            options,
            path=request.target,
            subprotocol=subprotocol,
            request_headers=request.headers,
            response_headers=response_headers,
            frames=frames,
        )
        try:
            await self.stream.send_all(data)
        except BaseException:
            await trio.aclose_forcefully(self.stream)
            raise
        connection.start(self.nursery, options.keepalive)
        stats.opened(connection, engine)
        if self.tracker is not None:
            self.tracker.connections.add(connection)
        return connection

    async def reject(self, status_code: int, extra_headers: Headers, body: bytes) -> None:
        stats.handshake("rejected", status_code)
        await send_http_response(self.stream, status_code, extra_headers, body)


async def serve_stream(
    handler: Handler,
    stream: trio.abc.Stream,
    options: ServerOptions,
    http_handler: HTTPHandler | None = None,
    tracker: ConnectionTracker | None = None,
    admission: Admission | None = None,
    nursery: trio.Nursery | None = None,
) -> None:
    """Run the whole life of one server-side connection: handshake, handler, close.

    A plain HTTP request goes to ``http_handler`` when there is one, else gets 426. With a
    ``tracker`` that is draining, a completed handshake gets 503, and so does one over a limit
    of ``admission`` (with ``Retry-After``). The handshake (and a plain HTTP exchange) is
    bounded by ``options.connect_timeout``; cancelling this (a server stopping) closes an accepted
    connection with 1001 (see :func:`~wsframework.handling.run_handler`). The stream is closed
    when this returns.

    The connection's reader (and keepalive) tasks run in ``nursery``: a server passes the one
    its connections run in, so an open connection costs no nursery of its own; without one,
    this opens a nursery for them and returns once they are done.
    """
    if nursery is None:
        async with trio.open_nursery() as own:
            await serve_stream(handler, stream, options, http_handler, tracker, admission, own)
        return
    if tracker is not None:
        tracker.enter()
    try:
        request: HandshakeRequest | None = None
        handshake = ServerHandshake()
        deadline = trio.current_time() + timeout_seconds(options.connect_timeout)
        try:
            # A request that came with the connection costs no timeout scope.
            request = read_handshake_now(stream, options.read_size, handshake)
            if request is None:
                with trio.move_on_at(deadline):
                    request = await read_handshake(stream, options.read_size, handshake)
        except UpgradeRequired as plain:
            with trio.move_on_at(deadline):
                if http_handler is not None:
                    await serve_http(http_handler, stream, handshake, plain, options)
                    return
                stats.handshake("failed", 426)
                body = (str(plain) + "\n").encode()
                await send_http_response(stream, 426, list(plain.headers), body)
            return
        except InvalidHandshake as exc:
            logger.info(
                "rejected a handshake from %s with %d: %s",
                stream_endpoint(stream, local=False),
                exc.status_code,
                exc,
            )
            stats.handshake("failed", exc.status_code)
            body = (str(exc) + "\n").encode()
            await send_http_response(stream, exc.status_code, list(exc.headers), body)
            return
        except EOFError:
            stats.handshake("failed", None)
            await trio.aclose_forcefully(stream)
            return
        if request is None:
            stats.handshake("failed", None)
            logger.info(
                "dropped %s: no complete handshake within %g s",
                stream_endpoint(stream, local=False),
                options.connect_timeout,
            )
            await trio.aclose_forcefully(stream)
            return
        del handshake  # the h11 parser is not needed once the request is read
        if tracker is not None and tracker.draining:
            stats.handshake("rejected", 503)
            await send_http_response(
                stream,
                503,
                [(b"retry-after", b"5")],
                b"The server is shutting down; try again shortly.\n",
            )
            return
        client: str | None = None
        if admission is not None and admission.active:
            remote = stream_endpoint(stream, local=False)
            client = None if isinstance(remote, str) else str(remote.address)
            refusal = admission.admit(client)
            if refusal is not None:
                admission.log(refusal, client)
                await send_http_response(stream, 503, refusal.headers, refusal.body)
                return
        else:
            admission = None
        transport = _NativeHandshake(stream, request, options, nursery)
        transport.tracker = tracker
        ws_request = WebSocketRequest(
            transport,
            path=request.target,
            headers=request.headers,
            subprotocols=request.subprotocols,
        )
        request.headers = ws_request.headers  # one list of them per connection, not two
        del request  # the transport holds it until accept(), then lets it go
        try:
            await run_handler(handler, ws_request, options.disconnect_timeout)
        finally:
            if tracker is not None and ws_request.connection is not None:
                tracker.connections.discard(ws_request.connection)
            if admission is not None:
                admission.release(client)
    finally:
        if tracker is not None:
            tracker.leave()
        # Most connections closed their socket already: skip aclose_forcefully's checkpoint.
        if not isinstance(stream, trio.SocketStream) or stream.socket.fileno() >= 0:
            await trio.aclose_forcefully(stream)


class WebSocketServer:
    """A WebSocket server on one or more trio ``Listener`` objects (TCP, TLS, Unix sockets).

    Each accepted connection runs in its own task: handshake (bounded by ``connect_timeout``),
    then ``handler(request)``. A handler that raises never stops the server: its connection
    is closed with 1011 (or answered with HTTP 500 before accept) and the error is logged.

    Settings come either as keywords (those of :func:`serve_websocket`) or as one
    :class:`~wsframework.options.ServerOptions` in ``options``, not both; the connection limits,
    the handshake rate and the send timeout only in ``options``. Limits hold per server object.

    Raises:
        ValueError: no listener, a setting out of range, or both ``options`` and keywords.
    """

    def __init__(
        self,
        handler: Handler,
        listeners: Sequence[trio.abc.Listener[Any]],
        *,
        handler_nursery: trio.Nursery | None = None,
        message_queue_size: int = MESSAGE_QUEUE_SIZE,
        max_message_size: int = MAX_MESSAGE_SIZE,
        receive_buffer_size: int | None = RECEIVE_BYTES,
        connect_timeout: float | None = HANDSHAKE_TIMEOUT,
        disconnect_timeout: float | None = CONN_TIMEOUT,
        compression: DeflateOptions | None = DEFAULT_DEFLATE,
        ping_interval: float | None = None,
        ping_timeout: PingTimeout = SAME_AS_INTERVAL,
        http_handler: HTTPHandler | None = None,
        options: ServerOptions | None = None,
    ) -> None:
        if len(listeners) == 0:
            raise ValueError("Listeners must contain at least one item.")
        self._handler = handler
        self._handler_nursery = handler_nursery
        self._listeners = list(listeners)
        self._http_handler = http_handler
        self._tracker = ConnectionTracker()
        self._listen_scope = trio.CancelScope()
        self.options = ServerOptions.build(options, **ServerOptions.settings_in(locals()))
        self._admission = Admission(self.options)

    @property
    def port(self) -> int:
        """The listening port; only for a server with exactly one socket-based listener.

        Raises:
            RuntimeError: more than one listener, or a listener without a port.
        """
        if len(self._listeners) > 1:
            raise RuntimeError("Cannot get port because this server has more than 1 listener.")
        listener = self.listeners[0]
        if isinstance(listener, Endpoint):
            return listener.port
        raise RuntimeError(f"This socket does not have a port: {listener!r}")

    @property
    def listeners(self) -> list[Endpoint | str]:
        """Each listener as an :class:`Endpoint` (TCP) or its ``repr`` (anything else)."""
        out: list[Endpoint | str] = []
        for listener in self._listeners:
            if isinstance(listener, trio.SocketListener):
                out.append(socket_endpoint(listener.socket, False, repr(listener)))
            elif isinstance(listener, trio.SSLListener) and isinstance(
                listener.transport_listener, trio.SocketListener
            ):
                sock = listener.transport_listener.socket
                out.append(socket_endpoint(sock, True, repr(listener)))
            else:
                out.append(repr(listener))
        return out

    async def run(
        self, *, task_status: trio.TaskStatus[WebSocketServer] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Serve until cancelled.

        Supports ``server = await nursery.start(server.run)``, which returns once the server is
        accepting connections. Cancel the enclosing scope to stop it; open connections are
        cancelled with it.
        """
        async with trio.open_nursery() as nursery:
            handler_nursery = self._handler_nursery or nursery

            async def listen(task_status: trio.TaskStatus[Any]) -> None:
                with self._listen_scope:
                    await serve_listeners(
                        partial(
                            serve_stream,
                            self._handler,
                            options=self.options,
                            http_handler=self._http_handler,
                            tracker=self._tracker,
                            admission=self._admission,
                            nursery=handler_nursery,
                        ),
                        self._listeners,
                        handler_nursery=handler_nursery,
                        task_status=task_status,
                    )

            await nursery.start(listen)
            logger.debug("listening on %s", ", ".join(str(x) for x in self.listeners))
            task_status.started(self)
            await trio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def connection_count(self) -> int:
        """Connections open right now, in any phase (handshake, open, closing)."""
        return self._tracker.active

    async def shutdown(
        self,
        *,
        code: int = 1001,
        reason: str = "server shutting down",
        timeout: float | None = 10.0,
    ) -> bool:
        """Drain gracefully: stop accepting, refuse new handshakes (503), close every open
        connection with ``code``, and wait up to ``timeout`` seconds for all handlers to end
        (``None``: wait for ever; a caller's ``trio.move_on_after`` around it still applies).

        Returns whether everything ended in time; then cancel :meth:`run` to finish (handlers
        still running are cancelled). Messages handlers sent before the close frame are
        delivered: the close frame goes after them on the same stream.

        Raises:
            ValueError: ``code`` cannot be sent in a close frame.
        """
        check_close_code(code)
        self._tracker.draining = True
        stats.STATS.draining += 1
        try:
            return await self._drain(code, reason, timeout)
        finally:
            stats.STATS.draining -= 1

    async def _drain(self, code: int, reason: str, timeout: float | None) -> bool:
        self._listen_scope.cancel()
        for listener in self._listeners:  # refuse new clients now, not after the drain
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(listener)
        logger.info("draining %d connection(s) with close code %d", self._tracker.active, code)
        with trio.move_on_after(timeout_seconds(timeout)) as scope:
            async with trio.open_nursery() as nursery:
                for connection in list(self._tracker.connections):
                    nursery.start_soon(connection.aclose, code, reason)
            await self._tracker.wait_idle()
        return not scope.cancelled_caught


async def serve_websocket(
    handler: Handler,
    host: str | bytes | None,
    port: int,
    ssl_context: ssl.SSLContext | None,
    *,
    handler_nursery: trio.Nursery | None = None,
    message_queue_size: int = MESSAGE_QUEUE_SIZE,
    max_message_size: int = MAX_MESSAGE_SIZE,
    receive_buffer_size: int | None = RECEIVE_BYTES,
    connect_timeout: float | None = HANDSHAKE_TIMEOUT,
    disconnect_timeout: float | None = CONN_TIMEOUT,
    compression: DeflateOptions | None = DEFAULT_DEFLATE,
    ping_interval: float | None = None,
    ping_timeout: PingTimeout = SAME_AS_INTERVAL,
    task_status: trio.TaskStatus[WebSocketServer] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Serve WebSockets over TCP (TLS when ``ssl_context`` is given) until cancelled.

    Use ``server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)`` to get
    the :class:`WebSocketServer` once it listens (``server.port`` for a port chosen by the OS).
    Cancel the nursery to stop.

    Args:
        handler: ``async def handler(request: WebSocketRequest)``, called once per connection.
        host: interface to bind (``None`` binds all).
        port: TCP port, 0 for any free port.
        ssl_context: TLS settings, or ``None`` for plain TCP.
        handler_nursery: where connection tasks run; a nursery of our own if ``None``.
        message_queue_size: messages buffered before we stop reading the socket; 0 means
            none (the reader waits until the handler took each message).
        max_message_size: larger incoming messages close the connection with 1009.
        receive_buffer_size: bytes per socket read (64 KiB by default).
        connect_timeout: seconds a client has to send its whole opening handshake (10 s;
            a stalled one is dropped); ``None`` waits for ever.
        disconnect_timeout: seconds to wait for the peer's close frame when closing (60 s);
            ``None`` waits for ever.
        compression: permessage-deflate settings, ``None`` to refuse compression.
        ping_interval: send a keepalive ping this often (seconds); ``None`` disables.
        ping_timeout: close with 1011 when a keepalive pong takes longer (by default
            ``ping_interval``); ``None`` turns the pong timeout off.
    """
    options = ServerOptions(**ServerOptions.settings_in(locals()))
    address = (host, port, ssl_context)
    await serve_tcp(WebSocketServer, handler, address, options, handler_nursery, task_status)


async def serve_tcp(
    server_class: type[WebSocketServer],
    handler: Handler,
    address: tuple[str | bytes | None, int, ssl.SSLContext | None],
    options: ServerOptions,
    handler_nursery: trio.Nursery | None,
    task_status: trio.TaskStatus[WebSocketServer],
) -> NoReturn:
    """:func:`serve_websocket` with a server class of one's own; cancel it to stop."""
    host, port, ssl_context = address
    listeners: Sequence[trio.abc.Listener[Any]]
    if ssl_context is None:
        listeners = await trio.open_tcp_listeners(port, host=host)
    else:
        listeners = await trio.open_ssl_over_tcp_listeners(
            port, ssl_context, host=host, https_compatible=True
        )
    server = server_class(handler, listeners, handler_nursery=handler_nursery, options=options)
    await server.run(task_status=task_status)


async def wrap_server_stream(
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    message_queue_size: int = MESSAGE_QUEUE_SIZE,
    max_message_size: int = MAX_MESSAGE_SIZE,
    receive_buffer_size: int | None = RECEIVE_BYTES,
    *,
    compression: DeflateOptions | None = DEFAULT_DEFLATE,
) -> WebSocketRequest:
    """Read the opening handshake from any stream and return the request.

    The connection's background task runs in ``nursery``. A malformed handshake is answered
    (400/426) and raises. Put a timeout around this call with ``trio.fail_after``.

    Raises:
        InvalidHandshake: the request was malformed; it has already been answered.
        EOFError: the peer left before completing its request.
    """
    options = ServerOptions(**ServerOptions.settings_in(locals()))
    try:
        request = await read_handshake(stream, options.read_size)
    except InvalidHandshake as exc:
        await send_http_response(stream, exc.status_code, list(exc.headers), str(exc).encode())
        raise
    transport = _NativeHandshake(stream, request, options, nursery)
    return WebSocketRequest(
        transport, path=request.target, headers=request.headers, subprotocols=request.subprotocols
    )
