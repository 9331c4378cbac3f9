"""The connection interface both transports implement, and the parts they share.

* :class:`WebSocketConnection`: what a handler or a client holds, whichever transport carries
  it. :class:`~wsframework.connection.StreamConnection` (our own wire, server and client) and
  :class:`~wsframework.asgi.ASGIWebSocketConnection` (an ASGI server's wire) implement all of
  it; code written against this class runs on both.
* :class:`~wsframework.message_queue.MessageQueue` (its own module): the bounded queue between
  the task that receives from the peer and the tasks that call
  :meth:`~WebSocketConnection.get_message`.
* :class:`PreparedMessage`: a message encoded once to be sent on many connections.
* :class:`Endpoint`: one end of a TCP connection.

Nothing here knows about wsproto, h11, ASGI or pydantic.
"""

from __future__ import annotations

import itertools
import json
import zlib
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Container
from ipaddress import ip_address
from typing import Any, Generic, TypeVar

import trio

from .exceptions import ConnectionClosed, InvalidMessage, MessageTypeError
from .protocol.close import CloseReason
from .protocol.header import frame_header

__all__ = [
    "AddressedStream",
    "Endpoint",
    "Message",
    "MessageIterator",
    "NORMAL_CLOSE_CODES",
    "PreparedMessage",
    "WebSocketConnection",
    "socket_endpoint",
    "stream_endpoint",
]

#: A WebSocket message: ``str`` for text, ``bytes`` for binary.
Message = str | bytes

#: The close codes that end ``async for message in ws`` quietly: normal closure, going away.
NORMAL_CLOSE_CODES = frozenset((1000, 1001))

T = TypeVar("T")


class Endpoint:
    """One end of a TCP connection.

    Attributes:
        address: the IP address (:func:`ipaddress.ip_address`).
        port: the TCP port.
        is_ssl: whether TLS is in use.
    """

    def __init__(self, address: str | int, port: int, is_ssl: bool) -> None:
        self.address = ip_address(address)
        self.port = port
        self.is_ssl = is_ssl

    @property
    def url(self) -> str:
        """A URL for this endpoint, e.g. ``ws://127.0.0.1:8000``."""
        scheme = "wss" if self.is_ssl else "ws"
        if (self.port == 80 and not self.is_ssl) or (self.port == 443 and self.is_ssl):
            port_str = ""
        else:
            port_str = ":" + str(self.port)
        if self.address.version == 4:
            return f"{scheme}://{self.address}{port_str}"
        return f"{scheme}://[{self.address}]{port_str}"

    def __repr__(self) -> str:
        return f'Endpoint(address="{self.address}", port={self.port}, is_ssl={self.is_ssl})'


class AddressedStream(trio.abc.HalfCloseableStream):
    """A stream that states the endpoints a socket would have, around one that has none.

    :class:`~wsframework.testing.TestClient` hands one to the server, so that
    ``request.client`` is the address the test chose although no socket exists. Every call
    goes to ``stream``.
    """

    def __init__(
        self, stream: trio.StapledStream[Any, Any], *, local: Endpoint, remote: Endpoint
    ) -> None:
        self.stream = stream
        self.local = local
        self.remote = remote

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """As ``stream``'s own call; cancelling it is as safe as cancelling that one."""
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        """As ``stream``'s own call; cancelling it is as safe as cancelling that one."""
        await self.stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        """As ``stream``'s own call; cancelling it is as safe as cancelling that one."""
        await self.stream.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        """As ``stream``'s own call; cancelling it is as safe as cancelling that one."""
        return await self.stream.receive_some(max_bytes)

    async def aclose(self) -> None:
        """As ``stream``'s own call; cancelling it is as safe as cancelling that one."""
        await self.stream.aclose()


def stream_endpoint(stream: trio.abc.Stream, *, local: bool) -> Endpoint | str:
    """The local or remote :class:`Endpoint` of a stream, or ``repr(stream)`` when it has none."""
    if isinstance(stream, AddressedStream):
        return stream.local if local else stream.remote
    if isinstance(stream, trio.SocketStream):
        return socket_endpoint(stream.socket, False, repr(stream), local=local)
    if isinstance(stream, trio.SSLStream) and isinstance(
        stream.transport_stream, trio.SocketStream
    ):
        return socket_endpoint(stream.transport_stream.socket, True, repr(stream), local=local)
    return repr(stream)


def socket_endpoint(
    sock: Any, is_ssl: bool, fallback: str, *, local: bool = True
) -> Endpoint | str:
    """An :class:`Endpoint` for an IP socket's local or peer address, else ``fallback``
    (Unix sockets, closed sockets)."""
    try:
        name = sock.getsockname() if local else sock.getpeername()
    except OSError:
        return fallback
    if isinstance(name, tuple) and len(name) >= 2:
        return Endpoint(name[0], name[1], is_ssl)
    return fallback


class MessageIterator(Generic[T]):
    """``async for`` over a connection: each step awaits ``receive()``. The loop ends quietly
    when the connection closes with one of the ``quiet`` close codes (any code when ``None``)
    and raises :class:`~wsframework.ConnectionClosed` on the others.

    An iterator object, not an async generator: a ``break`` out of the loop leaves nothing for
    the garbage collector to finalize (Trio warns about abandoned async generators).
    """

    __slots__ = ("_quiet", "_receive")

    def __init__(
        self,
        receive: Callable[[], Awaitable[T]],
        quiet: Container[int] | None = NORMAL_CLOSE_CODES,
    ) -> None:
        self._receive = receive
        self._quiet = quiet

    def __aiter__(self) -> MessageIterator[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self._receive()
        except ConnectionClosed as exc:
            quiet = self._quiet
            if quiet is None or (exc.reason is not None and exc.reason.code in quiet):
                raise StopAsyncIteration from None
            raise


class PreparedMessage:
    """One message encoded once, to be sent on many connections (a room's fan-out).

    The text is UTF-8 encoded once, here; a server connection without compression writes
    :attr:`frame` (built on first use, then shared by every such connection) instead of framing
    the message again, and one whose permessage-deflate has ``server_no_context_takeover``
    writes :meth:`deflated` (compressed once per window size). Other connections (clients,
    compression with context takeover) send :attr:`message` as
    :meth:`WebSocketConnection.send_message` would.

    Args:
        message: the message: ``str`` for text, ``bytes`` for binary.

    Raises:
        MessageTypeError: ``message`` is neither text nor bytes.
    """

    __slots__ = ("_deflated", "_frame", "message", "payload", "text")

    def __init__(self, message: Message) -> None:
        if isinstance(message, str):
            self.payload = message.encode("utf-8")
            self.text = True
        elif isinstance(message, (bytes, bytearray, memoryview)):
            message = self.payload = bytes(message)
            self.text = False
        else:
            raise MessageTypeError(f"message must be str or bytes, not {type(message).__name__}")
        #: The message as given (``bytes`` for any binary type).
        self.message: Message = message
        self._frame: tuple[bytes, bytes] | None = None
        self._deflated: dict[int, tuple[bytes, bytes]] | None = None

    def __len__(self) -> int:
        return len(self.payload)

    @property
    def frame(self) -> tuple[bytes, bytes]:
        """The unmasked frame a server writes, as ``(head, payload)``."""
        frame = self._frame
        if frame is None:
            frame = self._frame = (frame_header(len(self.payload), self.text, False), self.payload)
        return frame

    def deflated(self, window_bits: int) -> tuple[bytes, bytes]:
        """The unmasked frame compressed on its own (permessage-deflate without context
        takeover, a ``window_bits`` LZ77 window), as ``(head, payload)``; built once per
        window size."""
        cache = self._deflated
        if cache is None:
            cache = self._deflated = {}
        frame = cache.get(window_bits)
        if frame is None:
            compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -window_bits)
            body = compressor.compress(self.payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
            body = body[:-4]  # RFC 7692 7.2.1: drop the empty block's 00 00 ff ff
            frame = cache[window_bits] = (frame_header(len(body), self.text, False, True), body)
        return frame


class WebSocketConnection(trio.abc.AsyncResource):
    """An open WebSocket connection: what handlers and clients hold.

    You get one from :meth:`WebSocketRequest.accept() <wsframework.WebSocketRequest.accept>`
    on a server or from :func:`~wsframework.open_websocket` and friends on a client; it is not
    constructed directly. Two transports implement it completely: our own
    (:class:`~wsframework.connection.StreamConnection`) and ASGI
    (:class:`~wsframework.asgi.ASGIWebSocketConnection`, where the ASGI server owns pings).

    Iterating it (``async for message in ws``) yields messages until the connection closes; a
    normal closure (1000 or 1001) ends the loop quietly, any other raises
    :exc:`ConnectionClosed`. Cancelling the loop is as safe as cancelling :meth:`get_message`.
    """

    __slots__ = ()

    #: Numbers connections for ``str(connection)`` (``server-0``, ``client-1``, ...).
    CONNECTION_ID = itertools.count()

    # ------------------------------------------------------------------ facts

    @property
    @abstractmethod
    def closed(self) -> CloseReason | None:
        """(Read-only) Why the connection was or is being closed, else ``None``.

        Set as soon as closing starts, by either side; ``code`` is the code actually sent (for a
        close we started) or received (for one the peer started), 1006 for a lost connection.
        """

    @property
    @abstractmethod
    def is_client(self) -> bool:
        """(Read-only) Is this a client instance?"""

    @property
    def is_server(self) -> bool:
        """(Read-only) Is this a server instance?"""
        return not self.is_client

    @property
    @abstractmethod
    def local(self) -> Endpoint | str:
        """The local endpoint of the connection (``repr`` of the transport if not TCP)."""

    @property
    @abstractmethod
    def remote(self) -> Endpoint | str:
        """The remote endpoint of the connection (``repr`` of the transport if not TCP)."""

    @property
    @abstractmethod
    def path(self) -> str:
        """The requested URL path (with the query string, as sent in the request line)."""

    @property
    @abstractmethod
    def subprotocol(self) -> str | None:
        """(Read-only) The negotiated subprotocol, or ``None``."""

    @property
    def handshake_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The HTTP headers the remote side sent during the handshake (lower-case names)."""
        return self.response_headers if self.is_client else self.request_headers

    @property
    @abstractmethod
    def request_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The headers of the opening handshake request."""

    @property
    @abstractmethod
    def response_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The headers of the ``101 Switching Protocols`` response (under ASGI: the extra
        headers we asked the server to send)."""

    @property
    @abstractmethod
    def compression(self) -> bool:
        """Whether permessage-deflate was negotiated (``False`` when unknown, under ASGI)."""

    @property
    @abstractmethod
    def latency(self) -> float | None:
        """Round-trip time in seconds of the last answered :meth:`ping`, else ``None``."""

    # ------------------------------------------------------------------ messages

    @abstractmethod
    async def get_message(self) -> Message:
        """Receive the next message: ``str`` for a text message, ``bytes`` for a binary one.

        Messages the peer sent before it closed can still be read; after them this raises
        :exc:`ConnectionClosed`. After a local :meth:`aclose`, pending messages are discarded.

        Cancelling is safe: a message is only taken from the queue when this call returns it.
        For a timeout, wrap the call in ``with trio.move_on_after(seconds):`` or
        ``trio.fail_after``.

        Raises:
            ConnectionClosed: the connection is closed and no message is pending.
        """

    @abstractmethod
    async def send_message(self, message: Message, *, compress: bool = True) -> None:
        """Send one message: text for ``str``, binary for ``bytes``/``bytearray``/``memoryview``.

        Args:
            message: the payload.
            compress: ``False`` sends this message uncompressed even when permessage-deflate is
                on (useful for payloads that are already compressed).

        Returns once the transport has taken all the bytes; if the peer reads slowly this
        waits, which is the backpressure. Cancelling while it waits may leave a partial frame
        on the wire, after which the connection is unusable and is closed; put a timeout on a
        whole conversation rather than on single sends (``trio.move_on_after``).

        Raises:
            ConnectionClosed: the connection is closed or closing.
            MessageTypeError: ``message`` is neither text nor bytes (a ``TypeError`` and, as in
                trio-websocket, a ``ValueError``).
        """

    async def send_prepared(self, prepared: PreparedMessage) -> None:
        """Send a message encoded once for many connections (see :class:`PreparedMessage`).

        The same as ``send_message(prepared.message)``, which is what this default does; our
        own transport writes the shared frame when it can. Cancel and time out as for
        :meth:`send_message`.

        Raises:
            ConnectionClosed: the connection is closed or closing.
        """
        await self.send_message(prepared.message)

    def send_prepared_nowait(self, prepared: PreparedMessage) -> bool:
        """Hand ``prepared`` to the transport at once if that needs no wait; ``False`` means
        nothing was sent (busy, closed, a full socket or a transport that cannot): call
        :meth:`send_prepared`. Never raises for a closed connection; this default always
        answers ``False``."""
        return False

    @abstractmethod
    async def ping(self, payload: bytes | None = None) -> None:
        """Send a ping and wait for the matching pong.

        A pong also answers every earlier ping still in flight. :attr:`latency` is updated.

        Args:
            payload: at most 125 bytes, unique among pings in flight; ``None`` picks 4 random
                bytes.

        Cancelling is safe (the ping is forgotten). For a timeout use ``trio.fail_after``.

        Raises:
            ConnectionClosed: the connection is closed, or closes before the pong arrives.
            ValueError: ``payload`` is already in flight or longer than 125 bytes.
            RuntimeError: the transport does not let us ping (ASGI).
        """

    @abstractmethod
    async def pong(self, payload: bytes | None = None) -> None:
        """Send an unsolicited pong (a one-way heartbeat).

        Cancelling is as for :meth:`send_message`.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            RuntimeError: the transport does not let us pong (ASGI).
        """

    @abstractmethod
    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection: send a close frame, wait for the peer's, release the transport.

        Idempotent. Afterwards :meth:`get_message` and :meth:`send_message` raise
        :exc:`ConnectionClosed` and pending messages are discarded. The wait for the peer's
        close frame is bounded by ``disconnect_timeout``, and the transport is released even if
        this call is cancelled, so it is safe to cancel; to bound it more tightly use
        ``with trio.move_on_after(seconds):``.

        Args:
            code: 1000 (normal), 1001 (going away), 1002-1003, 1007-1014 or 3000-4999.
            reason: a short text, truncated to 123 bytes of UTF-8.

        Raises:
            ValueError: ``code`` may not be sent in a close frame.
        """

    @abstractmethod
    async def going_away(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Close at once for a shutdown: send a close frame unless one was exchanged already,
        then release the transport without waiting for the peer's answer.

        Shielded and bounded by 1 s, so it works inside a cancelled scope (a server being
        cancelled still tells its clients why) and needs no timeout of its own.

        Raises:
            ValueError: ``code`` may not be sent in a close frame.
        """

    # ------------------------------------------------------------------ helpers

    def __aiter__(self) -> MessageIterator[Message]:
        return MessageIterator(self.get_message)

    async def receive_json(self) -> Any:
        """Receive one message and decode it as JSON (text or UTF-8 bytes).

        Cancellation and timeouts as for :meth:`get_message`.

        Raises:
            ConnectionClosed: the connection is closed.
            InvalidMessage: the message is not valid JSON (also a ``ValueError``).
        """
        message = await self.get_message()
        try:
            return json.loads(message)
        except ValueError as exc:
            error = {"type": "json_invalid", "loc": (), "msg": str(exc)}
            raise InvalidMessage(f"message is not valid JSON: {exc}", [error], message) from None

    async def send_json(self, obj: Any) -> None:
        """Send ``obj`` encoded as JSON in one text message.

        Cancellation and timeouts as for :meth:`send_message`.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TypeError: ``obj`` is not JSON-serialisable.
        """
        await self.send_message(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))
