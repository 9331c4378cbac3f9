"""The client: open_websocket(_url), connect_websocket(_url), wrap_client_stream."""

from __future__ import annotations

import ssl
import sys
import urllib.parse
from collections.abc import AsyncGenerator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import trio
from wsproto.connection import ConnectionType
from wsproto.events import AcceptConnection, RejectConnection, RejectData, Request
from wsproto.handshake import H11Handshake
from wsproto.utilities import RemoteProtocolError

from ._groups import raise_single
from .connection import (
    CONN_TIMEOUT,
    MAX_MESSAGE_SIZE,
    MESSAGE_QUEUE_SIZE,
    RECEIVE_BYTES,
    ConnectionOptions,
    WebSocketConnection,
)
from .exceptions import (
    ConnectionRejected,
    ConnectionTimeout,
    DisconnectionTimeout,
    HandshakeError,
    InvalidHandshake,
)
from .protocol.deflate import DEFAULT_DEFLATE, DeflateOptions
from .request import _copy_headers

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "connect_websocket",
    "connect_websocket_url",
    "open_websocket",
    "open_websocket_url",
    "wrap_client_stream",
]

MAX_REJECT_BODY = 64 * 1024


def _ssl_context(use_ssl: bool | ssl.SSLContext) -> ssl.SSLContext | None:
    if use_ssl is True:
        return ssl.create_default_context()
    if use_ssl is False:
        return None
    if isinstance(use_ssl, ssl.SSLContext):
        return use_ssl
    raise TypeError("`use_ssl` argument must be bool or ssl.SSLContext")


def _host_header(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return host if port in (80, 443) else f"{host}:{port}"


@asynccontextmanager
async def open_websocket(
    host: str,
    port: int,
    resource: str,
    *,
    use_ssl: bool | ssl.SSLContext,
    subprotocols: Iterable[str] | None = None,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    message_queue_size: int = MESSAGE_QUEUE_SIZE,
    max_message_size: int = MAX_MESSAGE_SIZE,
    receive_buffer_size: int | None = RECEIVE_BYTES,
    connect_timeout: float = CONN_TIMEOUT,
    disconnect_timeout: float = CONN_TIMEOUT,
    compression: DeflateOptions | None = DEFAULT_DEFLATE,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
) -> AsyncGenerator[WebSocketConnection, None]:
    """Connect on entry, close on exit: ``async with open_websocket(...) as ws:``.

    Args:
        host: the host to connect to.
        port: the TCP port.
        resource: the request target, e.g. ``/chat?room=1``.
        use_ssl: ``True`` for TLS with default settings, an ``ssl.SSLContext``, or ``False``.
        subprotocols: subprotocols to offer, in order of preference.
        extra_headers: more ``(name, value)`` request headers.
        message_queue_size: messages buffered before we stop reading the socket (min 1).
        max_message_size: larger incoming messages close the connection with 1009.
        receive_buffer_size: bytes per socket read (64 KiB by default).
        connect_timeout: seconds for TCP, TLS and the opening handshake together.
        disconnect_timeout: seconds for the closing handshake on exit.
        compression: permessage-deflate settings to offer, ``None`` to offer none.
        ping_interval: send a keepalive ping this often (seconds); ``None`` disables.
        ping_timeout: close with 1011 when a keepalive pong takes longer.

    Cancelling the block closes the connection (the close is shielded and bounded by
    ``disconnect_timeout``). Exceptions from the block come out unwrapped.

    Raises:
        ConnectionRejected: the server answered with an HTTP status instead of 101.
        ConnectionTimeout: the connection was not open within ``connect_timeout``.
        DisconnectionTimeout: the closing handshake took longer than ``disconnect_timeout``.
        HandshakeError: any network error while connecting (DNS, refused, TLS), as its cause.
    """
    connection: WebSocketConnection | None = None
    try:
        async with trio.open_nursery() as nursery:
            try:
                with trio.fail_after(connect_timeout):
                    connection = await connect_websocket(
                        nursery,
                        host,
                        port,
                        resource,
                        use_ssl=use_ssl,
                        subprotocols=subprotocols,
                        extra_headers=extra_headers,
                        message_queue_size=message_queue_size,
                        max_message_size=max_message_size,
                        receive_buffer_size=receive_buffer_size,
                        compression=compression,
                        ping_interval=ping_interval,
                        ping_timeout=ping_timeout,
                    )
            except trio.TooSlowError:
                raise ConnectionTimeout from None
            except (OSError, trio.BrokenResourceError) as exc:
                # BrokenResourceError: the TLS handshake failed (its cause is the SSLError).
                cause = exc.__cause__ or exc
                raise HandshakeError(f"could not connect to {host}:{port}: {cause}") from exc
            try:
                yield connection
            finally:
                with trio.CancelScope(shield=True):
                    try:
                        with trio.fail_after(disconnect_timeout):
                            await connection.aclose()
                    except trio.TooSlowError:
                        raise DisconnectionTimeout from None
                    finally:
                        nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise_single(group)


def open_websocket_url(
    url: str,
    ssl_context: ssl.SSLContext | None = None,
    *,
    subprotocols: Iterable[str] | None = None,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    message_queue_size: int = MESSAGE_QUEUE_SIZE,
    max_message_size: int = MAX_MESSAGE_SIZE,
    connect_timeout: float = CONN_TIMEOUT,
    disconnect_timeout: float = CONN_TIMEOUT,
    receive_buffer_size: int | None = RECEIVE_BYTES,
    compression: DeflateOptions | None = DEFAULT_DEFLATE,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
) -> AbstractAsyncContextManager[WebSocketConnection]:
    """:func:`open_websocket` for a ``ws://`` or ``wss://`` URL.

    Raises:
        ValueError: the URL is not a ``ws:``/``wss:`` URL with a host, or ``ssl_context`` was
            given for a ``ws:`` URL.
    """
    host, port, resource, use_ssl = _url_to_host(url, ssl_context)
    return open_websocket(
        host,
        port,
        resource,
        use_ssl=use_ssl,
        subprotocols=subprotocols,
        extra_headers=extra_headers,
        message_queue_size=message_queue_size,
        max_message_size=max_message_size,
        receive_buffer_size=receive_buffer_size,
        connect_timeout=connect_timeout,
        disconnect_timeout=disconnect_timeout,
        compression=compression,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
    )


def _url_to_host(
    url: str, ssl_context: ssl.SSLContext | None
) -> tuple[str, int, str, ssl.SSLContext | bool]:
    url = str(url)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError('WebSocket URL scheme must be "ws:" or "wss:"')
    use_ssl: ssl.SSLContext | bool
    if ssl_context is None:
        use_ssl = parts.scheme == "wss"
    elif parts.scheme == "ws":
        raise ValueError("SSL context must be None for ws: URL scheme")
    else:
        use_ssl = ssl_context
    host = parts.hostname
    if host is None:
        raise ValueError("URL host must not be None")
    port = parts.port if parts.port is not None else (443 if use_ssl else 80)
    resource = parts.path or "/"
    if "?" in url:
        resource += "?" + parts.query
    return host, port, resource, use_ssl


async def connect_websocket(
    nursery: trio.Nursery,
    host: str,
    port: int,
    resource: str,
    *,
    use_ssl: bool | ssl.SSLContext,
    subprotocols: Iterable[str] | None = None,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    message_queue_size: int = MESSAGE_QUEUE_SIZE,
    max_message_size: int = MAX_MESSAGE_SIZE,
    receive_buffer_size: int | None = RECEIVE_BYTES,
    compression: DeflateOptions | None = DEFAULT_DEFLATE,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
) -> WebSocketConnection:
    """Open a client connection whose background task runs in ``nursery``; you close it.

    Has no timeout of its own: wrap it in ``trio.fail_after``, or use :func:`open_websocket`.

    Raises:
        ConnectionRejected: the server answered with an HTTP status instead of 101.
        InvalidHandshake: the server's 101 response was not valid.
        OSError: DNS or socket failure.
    """
    context = _ssl_context(use_ssl)
    stream: trio.abc.Stream
    if context is None:
        stream = await trio.open_tcp_stream(host, port)
    else:
        stream = await trio.open_ssl_over_tcp_stream(
            host, port, ssl_context=context, https_compatible=True
        )
    try:
        return await wrap_client_stream(
            nursery,
            stream,
            _host_header(host, port),
            resource,
            subprotocols=subprotocols,
            extra_headers=extra_headers,
            message_queue_size=message_queue_size,
            max_message_size=max_message_size,
            receive_buffer_size=receive_buffer_size,
            compression=compression,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
        )
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise


async def connect_websocket_url(
    nursery: trio.Nursery,
    url: str,
    ssl_context: ssl.SSLContext | None = None,
    *,
    subprotocols: Iterable[str] | None = None,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    message_queue_size: int = MESSAGE_QUEUE_SIZE,
    max_message_size: int = MAX_MESSAGE_SIZE,
    receive_buffer_size: int | None = RECEIVE_BYTES,
    compression: DeflateOptions | None = DEFAULT_DEFLATE,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
) -> WebSocketConnection:
    """:func:`connect_websocket` for a ``ws://`` or ``wss://`` URL."""
    host, port, resource, use_ssl = _url_to_host(url, ssl_context)
    return await connect_websocket(
        nursery,
        host,
        port,
        resource,
        use_ssl=use_ssl,
        subprotocols=subprotocols,
        extra_headers=extra_headers,
        message_queue_size=message_queue_size,
        max_message_size=max_message_size,
        receive_buffer_size=receive_buffer_size,
        compression=compression,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
    )


async def wrap_client_stream(
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    host: str,
    resource: str,
    *,
    subprotocols: Iterable[str] | None = None,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    message_queue_size: int = MESSAGE_QUEUE_SIZE,
    max_message_size: int = MAX_MESSAGE_SIZE,
    receive_buffer_size: int | None = RECEIVE_BYTES,
    compression: DeflateOptions | None = DEFAULT_DEFLATE,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
) -> WebSocketConnection:
    """Run the client handshake over any trio stream; the reader task runs in ``nursery``.

    ``host`` is sent as the ``Host`` header. No timeout of its own: use ``trio.fail_after``.

    Raises:
        ConnectionRejected: the server answered with an HTTP status instead of 101.
        InvalidHandshake: the server's response was not a valid WebSocket handshake.
    """
    options = ConnectionOptions(
        message_queue_size=message_queue_size,
        max_message_size=max_message_size,
        receive_buffer_size=receive_buffer_size,
        compression=compression,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
    )
    deflate = compression.extension(max_message_size) if compression is not None else None
    handshake = H11Handshake(ConnectionType.CLIENT)
    request = Request(
        host=host,
        target=resource,
        subprotocols=list(subprotocols or ()),
        extensions=[deflate] if deflate is not None else [],
        extra_headers=_copy_headers(extra_headers),
    )
    request_headers = [(b"host", host.encode()), *list(request.extra_headers)]
    await stream.send_all(handshake.send(request))
    reject: RejectConnection | None = None
    body = bytearray()
    while True:
        data = await stream.receive_some(options.receive_buffer_size)
        if not data and reject is None:
            raise InvalidHandshake("the server closed the connection during the handshake")
        try:
            handshake.receive_data(bytes(data))
            for event in handshake.events():
                if isinstance(event, AcceptConnection):
                    proto = handshake.connection
                    assert proto is not None
                    negotiated = deflate if deflate is not None and deflate.enabled() else None
                    connection = WebSocketConnection(
                        stream,
                        proto,
                        path=resource,
                        subprotocol=event.subprotocol,
                        request_headers=request_headers,
                        response_headers=list(event.extra_headers),
                        message_queue_size=options.message_queue_size,
                        max_message_size=options.max_message_size,
                        receive_buffer_size=options.receive_buffer_size,
                        deflate=negotiated,
                    )
                    options.start_connection(nursery, connection)
                    return connection
                if isinstance(event, RejectConnection):
                    reject = event
                    if not event.has_body:
                        raise ConnectionRejected(event.status_code, tuple(event.headers), None)
                elif isinstance(event, RejectData) and reject is not None:
                    body += event.data
                    if len(body) > MAX_REJECT_BODY:
                        raise ConnectionRejected(
                            reject.status_code, tuple(reject.headers), bytes(body)
                        )
                    if event.body_finished:
                        raise ConnectionRejected(
                            reject.status_code, tuple(reject.headers), bytes(body)
                        )
        except RemoteProtocolError as exc:
            raise InvalidHandshake(f"invalid handshake response from the server: {exc}") from None
        if not data:
            if reject is not None:
                raise ConnectionRejected(reject.status_code, tuple(reject.headers), bytes(body))
            raise InvalidHandshake("the server closed the connection during the handshake")
