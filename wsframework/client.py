"""The client: open_websocket(_url), connect_websocket(_url), wrap_client_stream."""

from __future__ import annotations

import os
import socket
import ssl
import sys
import urllib.parse
from collections.abc import AsyncGenerator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import trio

from ._groups import raise_single
from .connection import StreamConnection
from .exceptions import ConnectionTimeout, DisconnectionTimeout, HandshakeError
from .interface import WebSocketConnection
from .options import (
    CONN_TIMEOUT,
    MAX_MESSAGE_SIZE,
    MESSAGE_QUEUE_SIZE,
    RECEIVE_BYTES,
    SAME_AS_INTERVAL,
    ClientOptions,
    PingTimeout,
    timeout_seconds,
)
from .protocol.client_handshake import ClientHandshake
from .protocol.deflate_options import DEFAULT_DEFLATE, DeflateOptions
from .protocol.engine import Engine
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
    connect_timeout: float | None = CONN_TIMEOUT,
    disconnect_timeout: float | None = CONN_TIMEOUT,
    compression: DeflateOptions | None = DEFAULT_DEFLATE,
    ping_interval: float | None = None,
    ping_timeout: PingTimeout = SAME_AS_INTERVAL,
) -> AsyncGenerator[WebSocketConnection, None]:
    """Connect on entry, close on exit: ``async with open_websocket(...) as ws:``.

    Args:
        host: the host to connect to.
        port: the TCP port.
        resource: the request target, e.g. ``/chat?room=1``.
        use_ssl: ``True`` for TLS with default settings, an ``ssl.SSLContext``, or ``False``.
        subprotocols: subprotocols to offer, in order of preference.
        extra_headers: more ``(name, value)`` request headers.
        message_queue_size: messages buffered before we stop reading the socket; ``0``: none,
            the reader waits until each message is taken (as in trio-websocket).
        max_message_size: larger incoming messages close the connection with 1009.
        receive_buffer_size: bytes per socket read (64 KiB by default).
        connect_timeout: seconds for TCP, TLS and the opening handshake together (60 s);
            ``None`` waits for ever.
        disconnect_timeout: seconds for the closing handshake on exit (60 s); ``None`` waits
            for ever.
        compression: permessage-deflate settings to offer, ``None`` to offer none.
        ping_interval: send a keepalive ping this often (seconds); ``None`` disables.
        ping_timeout: close with 1011 when a keepalive pong takes longer (by default
            ``ping_interval``); ``None`` turns the pong timeout off.

    Cancelling the block closes the connection (the close is shielded and bounded by
    ``disconnect_timeout``). Exceptions from the block come out unwrapped.

    Raises:
        ConnectionRejected: the server answered with an HTTP status instead of 101.
        ConnectionTimeout: the connection was not open within ``connect_timeout``.
        DisconnectionTimeout: the closing handshake took longer than ``disconnect_timeout``.
        HandshakeError: a network error while connecting (DNS, refused, TLS): the message names
            it (``could not connect to host:port: Connection refused``), the ``OSError`` is its
            ``__cause__``.
    """
    options = ClientOptions(**ClientOptions.settings_in(locals()))
    async with _open(
        host, port, resource, use_ssl, subprotocols, extra_headers, options
    ) as connection:
        yield connection


@asynccontextmanager
async def _open(
    host: str,
    port: int,
    resource: str,
    use_ssl: bool | ssl.SSLContext,
    subprotocols: Iterable[str] | None,
    extra_headers: list[tuple[bytes, bytes]] | None,
    options: ClientOptions,
) -> AsyncGenerator[WebSocketConnection, None]:
    try:
        async with trio.open_nursery() as nursery:
            connection = await _connect_bounded(
                nursery, host, port, resource, use_ssl, subprotocols, extra_headers, options
            )
            try:
                yield connection
            finally:
                try:
                    await _close_bounded(connection, options)
                finally:
                    nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise_single(group)


async def _connect_bounded(
    nursery: trio.Nursery,
    host: str,
    port: int,
    resource: str,
    use_ssl: bool | ssl.SSLContext,
    subprotocols: Iterable[str] | None,
    extra_headers: list[tuple[bytes, bytes]] | None,
    options: ClientOptions,
) -> StreamConnection:
    """:func:`_connect` within ``connect_timeout``, a network failure raised as a
    :exc:`HandshakeError` whose message names it (its ``OSError`` is the ``__cause__``)."""
    try:
        with trio.fail_after(timeout_seconds(options.connect_timeout)):
            return await _connect(
                nursery, host, port, resource, use_ssl, subprotocols, extra_headers, options
            )
    except trio.TooSlowError:
        raise ConnectionTimeout(
            f"could not connect to {host}:{port} within {options.connect_timeout:g} seconds "
            "(connect_timeout: TCP, TLS and the opening handshake together)"
        ) from None
    except (OSError, trio.BrokenResourceError) as exc:
        # BrokenResourceError: the TLS handshake failed (its cause is the SSLError).
        cause = _network_cause(exc)
        raise HandshakeError(f"could not connect to {host}:{port}: {_describe(cause)}") from cause


async def _close_bounded(connection: WebSocketConnection, options: ClientOptions) -> None:
    """Close ``connection`` (shielded) within ``disconnect_timeout``."""
    with trio.CancelScope(shield=True):
        try:
            with trio.fail_after(timeout_seconds(options.disconnect_timeout)):
                await connection.aclose()
        except trio.TooSlowError:
            raise DisconnectionTimeout(
                "the server did not answer the closing handshake within "
                f"{options.disconnect_timeout:g} seconds (disconnect_timeout)"
            ) from None


def _network_cause(exc: BaseException) -> BaseException:
    """The first ``OSError`` with no further cause under ``exc``: trio wraps a refused connect
    in an ``OSError`` over a group of per-address failures, a TLS failure in
    ``BrokenResourceError`` over the ``SSLError``."""
    current = exc
    for _ in range(8):  # bounded: causes do not loop, but a bug elsewhere must not hang us
        if isinstance(current, BaseExceptionGroup) and current.exceptions:
            current = current.exceptions[0]
        elif current.__cause__ is not None:
            current = current.__cause__
        else:
            break
    return current if isinstance(current, OSError) else exc


def _describe(cause: BaseException) -> str:
    """What went wrong, in words: ``Connection refused`` rather than trio's wording around it,
    ``the TLS handshake failed: ...`` rather than OpenSSL's codes."""
    if isinstance(cause, ssl.SSLCertVerificationError):
        detail = cause.verify_message or _ssl_reason(cause)
        return f"the TLS handshake failed: the server's certificate is not trusted ({detail})"
    if isinstance(cause, ssl.SSLError):
        return f"the TLS handshake failed ({_ssl_reason(cause)})"
    if isinstance(cause, socket.gaierror):
        return f"the host name could not be resolved ({cause.strerror})"
    errno = getattr(cause, "errno", None)
    if isinstance(errno, int) and errno > 0:
        return os.strerror(errno)
    return str(cause) or type(cause).__name__


def _ssl_reason(error: ssl.SSLError) -> str:
    """OpenSSL's reason code in words (``WRONG_VERSION_NUMBER``: ``wrong version number``)."""
    reason = getattr(error, "reason", None)
    if isinstance(reason, str) and reason:
        return reason.replace("_", " ").lower()
    return str(error)


def open_websocket_url(
    url: str,
    ssl_context: ssl.SSLContext | None = None,
    *,
    subprotocols: Iterable[str] | None = None,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    message_queue_size: int = MESSAGE_QUEUE_SIZE,
    max_message_size: int = MAX_MESSAGE_SIZE,
    connect_timeout: float | None = CONN_TIMEOUT,
    disconnect_timeout: float | None = CONN_TIMEOUT,
    receive_buffer_size: int | None = RECEIVE_BYTES,
    compression: DeflateOptions | None = DEFAULT_DEFLATE,
    ping_interval: float | None = None,
    ping_timeout: PingTimeout = SAME_AS_INTERVAL,
) -> AbstractAsyncContextManager[WebSocketConnection]:
    """:func:`open_websocket` for a ``ws://`` or ``wss://`` URL.

    Raises:
        ValueError: the URL is not a ``ws:``/``wss:`` URL with a host, or ``ssl_context`` was
            given for a ``ws:`` URL.
    """
    host, port, resource, use_ssl = _url_to_host(url, ssl_context)
    options = ClientOptions(**ClientOptions.settings_in(locals()))
    return _open(host, port, resource, use_ssl, subprotocols, extra_headers, options)


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
    ping_timeout: PingTimeout = SAME_AS_INTERVAL,
) -> WebSocketConnection:
    """Open a client connection whose background task runs in ``nursery``; you close it.

    Has no timeout of its own: wrap it in ``trio.fail_after``, or use :func:`open_websocket`.

    Raises:
        ConnectionRejected: the server answered with an HTTP status instead of 101.
        InvalidHandshake: the server's 101 response was not valid.
        OSError: DNS or socket failure.
        trio.BrokenResourceError: the TLS handshake failed (the ``ssl.SSLError`` is its
            ``__cause__``).
    """
    options = ClientOptions(**ClientOptions.settings_in(locals()))
    return await _connect(
        nursery, host, port, resource, use_ssl, subprotocols, extra_headers, options
    )


async def _connect(
    nursery: trio.Nursery,
    host: str,
    port: int,
    resource: str,
    use_ssl: bool | ssl.SSLContext,
    subprotocols: Iterable[str] | None,
    extra_headers: list[tuple[bytes, bytes]] | None,
    options: ClientOptions,
) -> StreamConnection:
    context = _ssl_context(use_ssl)
    stream: trio.abc.Stream
    if context is None:
        stream = await trio.open_tcp_stream(host, port)
    else:
        stream = await trio.open_ssl_over_tcp_stream(
            host, port, ssl_context=context, https_compatible=True
        )
    try:
        return await _handshake(
            nursery,
            stream,
            _host_header(host, port),
            resource,
            subprotocols,
            extra_headers,
            options,
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
    ping_timeout: PingTimeout = SAME_AS_INTERVAL,
) -> WebSocketConnection:
    """:func:`connect_websocket` for a ``ws://`` or ``wss://`` URL.

    Has no timeout of its own: wrap it in ``trio.fail_after``, or use
    :func:`open_websocket_url`. Cancelling it closes the half-open stream.

    Raises:
        ValueError: the URL is not a ``ws:``/``wss:`` URL with a host.
        ConnectionRejected: the server answered with an HTTP status instead of 101.
        InvalidHandshake: the server's 101 response was not valid.
        OSError: DNS or socket failure.
    """
    host, port, resource, use_ssl = _url_to_host(url, ssl_context)
    options = ClientOptions(**ClientOptions.settings_in(locals()))
    return await _connect(
        nursery, host, port, resource, use_ssl, subprotocols, extra_headers, options
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
    ping_timeout: PingTimeout = SAME_AS_INTERVAL,
) -> WebSocketConnection:
    """Run the client handshake over any trio stream; the reader task runs in ``nursery``.

    ``host`` is sent as the ``Host`` header. No timeout of its own: use ``trio.fail_after``.

    Raises:
        ConnectionRejected: the server answered with an HTTP status instead of 101.
        InvalidHandshake: the server's response was not a valid WebSocket handshake.
    """
    options = ClientOptions(**ClientOptions.settings_in(locals()))
    return await _handshake(nursery, stream, host, resource, subprotocols, extra_headers, options)


async def _handshake(
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    host: str,
    resource: str,
    subprotocols: Iterable[str] | None,
    extra_headers: list[tuple[bytes, bytes]] | None,
    options: ClientOptions,
) -> StreamConnection:
    handshake = ClientHandshake(
        host,
        resource,
        subprotocols=subprotocols or (),
        extra_headers=_copy_headers(extra_headers),
        compression=options.compression,
        max_message_size=options.max_message_size,
    )
    await stream.send_all(handshake.request)
    while True:
        data = await stream.receive_some(options.read_size)
        accepted = handshake.receive_data(bytes(data))
        if accepted is None:
            continue
        engine = Engine(
            accepted.connection,
            max_message_size=options.max_message_size,
            max_frame_size=options.read_size,
            deflate=accepted.deflate,
        )
        connection = StreamConnection(
            stream,
            engine,
            options,
            path=resource,
            subprotocol=accepted.subprotocol,
            request_headers=handshake.request_headers,
            response_headers=accepted.response_headers,
        )
        connection.start(nursery, options.keepalive)
        return connection
