"""WebSocketConnection: one open WebSocket on a trio Stream, for both clients and servers.

How it runs (the hot path is written for as few scheduler passes as possible):

* one reader task per connection reads up to ``receive_buffer_size`` bytes at a time and handles
  all of it in one pass: plain data frames (whole, unfragmented, uncompressed) are parsed here
  (:func:`~wsframework.protocol.frames.parse_data_frame`) while wsproto is idle; wsproto gets
  the rest from the first other frame on. Complete messages go into a bounded list, pings are
  answered, pongs wake :meth:`ping`, close frames are answered;
* a task waiting in :meth:`get_message` is parked on a ``ParkingLot`` and woken directly by the
  reader (no memory channel, no lock); when the queue holds ``message_queue_size`` messages and
  the reader has one more, the reader parks, so it stops reading the socket until the handler
  catches up (at most one read, ``receive_buffer_size`` bytes, waits meanwhile);
* writes are serialised by a flag, not a ``trio.Lock``: an uncontended send takes no extra
  checkpoint. On a plain TCP socket a write the kernel accepts whole does not yield again
  (cancellation is still checked first); every 16th such write yields anyway so a task that
  only sends cannot starve the others
  (``tests/integration/test_core_sockets.py::test_flooding_sender_does_not_starve_other_connection``).
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import struct
from typing import TYPE_CHECKING, Any, TypeVar

import trio
from wsproto.connection import Connection, ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage
from wsproto.utilities import LocalProtocolError

from .base import Endpoint, MessageConnection, stream_endpoint
from .exceptions import ConnectionClosed, MessageTypeError
from .protocol.close import CloseReason, check_close_code
from .protocol.deflate import DEFAULT_DEFLATE, DeflateOptions, LimitedDeflate
from .protocol.frames import NEED_MORE, encode_data_frame, parse_data_frame

if TYPE_CHECKING:
    import ssl  # noqa: F401

__all__ = [
    "CONN_TIMEOUT",
    "MessageConnection",
    "MAX_MESSAGE_SIZE",
    "MESSAGE_QUEUE_SIZE",
    "RECEIVE_BYTES",
    "ConnectionOptions",
    "Endpoint",
    "WebSocketConnection",
]

logger = logging.getLogger("wsframework")

CONN_TIMEOUT = 60.0
MESSAGE_QUEUE_SIZE = 1
MAX_MESSAGE_SIZE = 2**20
RECEIVE_BYTES = 64 * 2**10
_YIELD_EVERY = 16

Headers = list[tuple[bytes, bytes]]
_M = TypeVar("_M")


class WebSocketConnection(MessageConnection):
    """A WebSocket connection, client or server side.

    You get one from :meth:`WebSocketRequest.accept` on a server or from :func:`open_websocket`
    and friends on a client; it is not meant to be constructed directly.

    Iterating it (``async for message in ws``) yields messages until the connection closes; a
    normal closure (1000 or 1001) ends the loop quietly, any other raises
    :exc:`ConnectionClosed`.
    """

    # A connection is mostly idle memory: an instance dict this size would cost ~1.5 KiB.
    __slots__ = (
        "__weakref__",
        "_capacity",
        "_close_reason",
        "_deflate",
        "_disconnect_timeout",
        "_done",
        "_fd",
        "_finished",
        "_id",
        "_is_client",
        "_latency",
        "_local_close",
        "_lot",
        "_max_message_size",
        "_messages",
        "_part_size",
        "_parts",
        "_path",
        "_pings",
        "_proto",
        "_receive_buffer_size",
        "_request_headers",
        "_response_headers",
        "_send_busy",
        "_send_waiters",
        "_stream",
        "_stream_closed",
        "_subprotocol",
        "_tail",
        "_unyielded",
        "_wsproto_frames",
        "_wsproto_messages",
    )

    #: Numbers connections for ``str(connection)`` (``server-0``, ``client-1``, ...).
    CONNECTION_ID = itertools.count()

    def __init__(
        self,
        stream: trio.abc.Stream,
        proto: Connection,
        *,
        path: str,
        subprotocol: str | None,
        request_headers: Headers,
        response_headers: Headers,
        message_queue_size: int = MESSAGE_QUEUE_SIZE,
        max_message_size: int = MAX_MESSAGE_SIZE,
        receive_buffer_size: int | None = RECEIVE_BYTES,
        disconnect_timeout: float = CONN_TIMEOUT,
        deflate: LimitedDeflate | None = None,
    ) -> None:
        self._id = next(WebSocketConnection.CONNECTION_ID)
        self._stream = stream
        self._proto = proto
        self._is_client = proto.client
        self._path = path
        self._subprotocol = subprotocol
        self._request_headers = request_headers
        self._response_headers = response_headers
        self._capacity = max(1, message_queue_size)
        self._max_message_size = max_message_size
        self._receive_buffer_size = receive_buffer_size or RECEIVE_BYTES
        self._disconnect_timeout = disconnect_timeout
        self._deflate = deflate
        self._close_reason: CloseReason | None = None
        self._local_close = False
        self._messages: list[str | bytes] = []  # a list: an empty deque costs 760 B
        self._parts: list[Any] = []
        self._part_size = 0
        # Getters park here while the queue is empty, the reader while it is full: never both.
        self._lot = trio.lowlevel.ParkingLot()
        self._send_busy = False
        self._send_waiters: trio.lowlevel.ParkingLot | None = None  # made when contended
        self._unyielded = 0
        self._fd = -1
        if isinstance(stream, trio.SocketStream):
            self._fd = stream.socket.fileno()
        self._pings: dict[bytes, tuple[trio.Event, float]] = {}  # in sending order
        self._latency: float | None = None
        self._finished: trio.Event | None = None  # made when someone waits
        self._done = False
        self._stream_closed = False
        # The plain-frame fast path (see _take_frames); wsproto's own parser does the rest.
        self._wsproto_frames, self._wsproto_messages = _adopt_wsproto(proto)
        self._tail: bytes | bytearray = b""  # the start of a plain frame, awaiting the rest

    # ------------------------------------------------------------------ properties

    @property
    def closed(self) -> CloseReason | None:
        """(Read-only) Why the connection was or is being closed, else ``None``.

        Set as soon as closing starts, by either side; ``code`` is the code actually sent (for a
        close we started) or received (for one the peer started), 1006 for a lost connection.
        """
        return self._close_reason

    @property
    def is_client(self) -> bool:
        """(Read-only) Is this a client instance?"""
        return self._is_client

    @property
    def is_server(self) -> bool:
        """(Read-only) Is this a server instance?"""
        return not self._is_client

    @property
    def local(self) -> Endpoint | str:
        """The local endpoint of the connection."""
        return stream_endpoint(self._stream, local=True)

    @property
    def remote(self) -> Endpoint | str:
        """The remote endpoint of the connection."""
        return stream_endpoint(self._stream, local=False)

    @property
    def path(self) -> str:
        """The requested URL path (with the query string, as sent in the request line)."""
        return self._path

    @property
    def subprotocol(self) -> str | None:
        """(Read-only) The negotiated subprotocol, or ``None``."""
        return self._subprotocol

    @property
    def handshake_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The HTTP headers the remote side sent during the handshake (lower-case names)."""
        return tuple(self._response_headers if self._is_client else self._request_headers)

    @property
    def request_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The headers of the opening handshake request."""
        return tuple(self._request_headers)

    @property
    def response_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """The headers of the ``101 Switching Protocols`` response."""
        return tuple(self._response_headers)

    @property
    def compression(self) -> bool:
        """Whether permessage-deflate was negotiated on this connection."""
        return self._deflate is not None

    @property
    def latency(self) -> float | None:
        """Round-trip time in seconds of the last answered :meth:`ping`, else ``None``."""
        return self._latency

    def __str__(self) -> str:
        return f"{'client' if self._is_client else 'server'}-{self._id}"

    def __repr__(self) -> str:
        state = "open" if self._close_reason is None else f"closed {self._close_reason.code}"
        return f"<WebSocketConnection {self} {self._path!r} {state}>"

    # ------------------------------------------------------------------ public API

    async def get_message(self) -> str | bytes:
        """Receive the next message: ``str`` for a text message, ``bytes`` for a binary one.

        Messages the peer sent before it closed can still be read; after them this raises
        :exc:`ConnectionClosed`. After a local :meth:`aclose`, pending messages are discarded.

        Cancelling is safe: a message is only taken from the queue when this call returns it.
        For a timeout, wrap the call in ``with trio.move_on_after(seconds):`` or
        ``trio.fail_after``.

        Raises:
            ConnectionClosed: the connection is closed and no message is pending.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._messages:
            if self._close_reason is not None:
                raise ConnectionClosed(self._close_reason)
            await self._lot.park()
        message = self._messages.pop(0)
        if self._lot:
            self._lot.unpark()
        return message

    async def send_message(self, message: str | bytes, *, compress: bool = True) -> None:
        """Send one message: text for ``str``, binary for ``bytes``/``bytearray``/``memoryview``.

        Args:
            message: the payload.
            compress: ``False`` sends this message uncompressed even when permessage-deflate is
                on (useful for payloads that are already compressed).

        Returns once the kernel has taken all the bytes; if the peer reads slowly this waits,
        which is the backpressure. Cancelling while it waits may leave a partial frame on the
        wire, after which the connection is unusable and is closed; put a timeout on a whole
        conversation rather than on single sends (``trio.move_on_after``).

        Raises:
            ConnectionClosed: the connection is closed or closing.
            MessageTypeError: ``message`` is neither text nor bytes (a ``TypeError`` and, as in
                trio-websocket, a ``ValueError``).
        """
        # Compressed messages go through wsproto (event); the rest are framed here.
        deflating = self._deflate is not None and compress
        event: TextMessage | BytesMessage | None = None
        payload = b""
        text = isinstance(message, str)
        if isinstance(message, str):
            if deflating:
                event = TextMessage(data=message)
            else:
                payload = message.encode("utf-8")
        elif isinstance(message, (bytes, bytearray, memoryview)):
            payload = bytes(message)
            if deflating:
                event = BytesMessage(data=payload)
        else:
            raise MessageTypeError(f"message must be str or bytes, not {type(message).__name__}")
        if self._close_reason is not None:
            raise ConnectionClosed(self._close_reason)
        if event is None:
            await self._send_data_frame(payload, text)
        else:
            await self._send_event(event)

    async def ping(self, payload: bytes | None = None) -> None:
        """Send a ping and wait for the matching pong.

        A pong also answers every earlier ping still in flight (a peer may answer several
        pings with one pong). :attr:`latency` is updated from the round trip.

        Args:
            payload: at most 125 bytes, unique among pings in flight; ``None`` picks 4 random
                bytes.

        Cancelling is safe (the ping is forgotten). For a timeout use ``trio.fail_after``.

        Raises:
            ConnectionClosed: the connection is closed, or closes before the pong arrives.
            ValueError: ``payload`` is already in flight or longer than 125 bytes.
        """
        if self._close_reason is not None:
            raise ConnectionClosed(self._close_reason)
        if payload is None:
            payload = struct.pack("!I", random.getrandbits(32))
            while payload in self._pings:
                payload = struct.pack("!I", random.getrandbits(32))
        payload = bytes(payload)
        if payload in self._pings:
            raise ValueError(f"Payload value {payload!r} is already in flight.")
        if len(payload) > 125:
            raise ValueError("a ping payload is at most 125 bytes")
        event = trio.Event()
        self._pings[payload] = (event, trio.current_time())
        try:
            await self._send_event(Ping(payload=payload))
            await event.wait()
            if payload in self._pings:  # woken by the connection closing, not by a pong
                raise ConnectionClosed(self._close_reason)
        finally:
            self._pings.pop(payload, None)

    async def pong(self, payload: bytes | None = None) -> None:
        """Send an unsolicited pong (a one-way heartbeat).

        Raises:
            ConnectionClosed: the connection is closed or closing.
        """
        if self._close_reason is not None:
            raise ConnectionClosed(self._close_reason)
        await self._send_event(Pong(payload=payload or b""))

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection: send a close frame, wait for the peer's, close the stream.

        Idempotent. Afterwards :meth:`get_message` and :meth:`send_message` raise
        :exc:`ConnectionClosed` and pending messages are discarded. The wait for the peer's close
        frame is bounded by ``disconnect_timeout`` (60 s unless set), and the stream is closed
        even if this call is cancelled, so it is safe to cancel; to bound it more tightly use
        ``with trio.move_on_after(seconds):``.

        Args:
            code: 1000 (normal), 1001 (going away), 1002-1003, 1007-1014 or 3000-4999.
            reason: a short text, truncated to 123 bytes of UTF-8.

        Raises:
            ValueError: ``code`` may not be sent in a close frame.
        """
        check_close_code(code)
        if self._close_reason is not None:
            # Closing already (either side): let it finish, then make sure the stream is shut.
            try:
                await self._wait_finished()
            finally:
                await self._close_stream()
            return
        self._set_closed(CloseReason(code, reason), local=True)
        try:
            if self._proto.state is ConnectionState.OPEN:
                await self._send_event(CloseConnection(code=code, reason=reason))
            await self._wait_finished()
        except (ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await self._close_stream()

    # ------------------------------------------------------------------ internals

    async def _wait_finished(self) -> None:
        if self._done:
            await trio.lowlevel.checkpoint()
            return
        if self._finished is None:
            self._finished = trio.Event()
        with trio.move_on_after(self._disconnect_timeout):
            await self._finished.wait()

    def _mark_finished(self) -> None:
        self._done = True
        if self._finished is not None:
            self._finished.set()

    def _set_closed(self, reason: CloseReason, *, local: bool = False) -> None:
        if self._close_reason is not None:
            return
        self._close_reason = reason
        self._local_close = local
        if local:
            self._messages.clear()
        self._lot.unpark_all()
        for event, _sent_at in self._pings.values():
            event.set()

    async def _close_stream(self) -> None:
        if self._stream_closed:
            return
        self._stream_closed = True
        self._mark_finished()
        with trio.CancelScope(shield=True), trio.move_on_after(1):
            try:
                await self._stream.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass

    async def _wait_send_turn(self) -> None:
        # Writers are serialised by a flag; only a second writer parks.
        while self._send_busy:
            if self._send_waiters is None:
                self._send_waiters = trio.lowlevel.ParkingLot()
            await self._send_waiters.park()

    def _end_send_turn(self) -> None:
        self._send_busy = False
        if self._send_waiters:
            self._send_waiters.unpark()

    async def _send_event(self, event: Any) -> None:
        """Send a wsproto event (control frames, compressed messages)."""
        if self._send_busy:
            await self._wait_send_turn()
        self._send_busy = True
        try:
            await self._write(self._proto.send(event))
        except LocalProtocolError as exc:
            # The state changed (a close began) while this task waited for its turn.
            raise ConnectionClosed(self._close_reason or CloseReason(1006, None)) from exc
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._set_closed(CloseReason(1006, None))
            raise ConnectionClosed(self._close_reason) from exc
        finally:
            self._end_send_turn()

    async def _send_data_frame(self, payload: bytes, text: bool) -> None:
        """Send one uncompressed message as a single frame, without wsproto (see frames.py)."""
        if self._send_busy:
            await self._wait_send_turn()
        self._send_busy = True
        try:
            if self._proto.state is not ConnectionState.OPEN:
                raise ConnectionClosed(self._close_reason or CloseReason(1006, None))
            header, body = encode_data_frame(payload, text, self._is_client)
            await self._write(header, body)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._set_closed(CloseReason(1006, None))
            raise ConnectionClosed(self._close_reason) from exc
        finally:
            self._end_send_turn()

    async def _write(self, data: bytes | bytearray, body: bytes = b"") -> None:
        """Write ``data`` then ``body`` (a frame header and its payload, kept apart so that a
        large payload is never copied), waiting while the socket is full."""
        fd = self._fd
        total = len(data) + len(body)
        if fd >= 0 and not self._stream_closed:
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                sent = os.writev(fd, (data, body)) if body else os.write(fd, data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                raise trio.BrokenResourceError(f"socket write failed: {exc}") from exc
            if sent == total:
                self._unyielded += 1
                if self._unyielded >= _YIELD_EVERY:
                    self._unyielded = 0
                    await trio.lowlevel.cancel_shielded_checkpoint()
                return
        else:
            sent = 0
        self._unyielded = 0
        if sent < len(data):
            rest = memoryview(data)[sent:]
            if len(rest) + len(body) <= 65536:
                await self._stream.send_all(bytes(rest) + body)
                return
            await self._stream.send_all(rest)
            sent = len(data)
        if body:
            await self._stream.send_all(memoryview(body)[sent - len(data) :])

    async def _keepalive_task(self, interval: float, timeout: float) -> None:
        """Ping every ``interval`` seconds; close with 1011 when a pong takes over ``timeout``."""
        while self._close_reason is None:
            await trio.sleep(interval)
            with trio.move_on_after(timeout) as scope:
                try:
                    await self.ping()
                except ConnectionClosed:
                    return
            if not scope.cancelled_caught:
                continue
            reason = f"keepalive ping timeout: no pong within {timeout:g} s"
            logger.info("%s closing with 1011: %s", self, reason)
            self._set_closed(CloseReason(1011, reason))
            with trio.move_on_after(min(timeout, 1.0)):
                try:
                    if self._proto.state is ConnectionState.OPEN:
                        await self._send_event(CloseConnection(code=1011, reason=reason))
                except ConnectionClosed:
                    pass
            await self._close_stream()
            return

    async def _going_away(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """On cancellation: send a close frame if none was exchanged yet, then close the stream.

        Shielded and bounded (1 s), so a cancelled server still tells its clients why.
        """
        with trio.CancelScope(shield=True):
            with trio.move_on_after(1):
                self._set_closed(CloseReason(code, reason), local=True)
                if self._proto.state is ConnectionState.OPEN and not self._stream_closed:
                    try:
                        await self._send_event(CloseConnection(code=code, reason=reason))
                        self._close_reason = CloseReason(code, reason)
                    except ConnectionClosed:
                        pass
            await self._close_stream()

    async def _fail(self, code: int, reason: str | None) -> None:
        """Fail the connection after a protocol error by the peer: close frame, then EOF."""
        logger.info("%s closing with %d after a protocol error: %s", self, code, reason)
        self._set_closed(CloseReason(code, reason))
        if self._proto.state is ConnectionState.OPEN:
            try:
                await self._send_event(CloseConnection(code=code, reason=reason))
            except ConnectionClosed:
                pass

    async def _reader_task(self) -> None:
        """Read the socket until the connection ends. Never raises (but Cancelled)."""
        try:
            fed = True  # wsproto may hold events (the handshake's trailing bytes)
            while not fed or await self._handle_events():
                try:
                    data = await self._receive_some()
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    data = b""
                if not data:
                    self._set_closed(CloseReason(1006, None))
                    break
                fed = await self._take_frames(bytes(data))
        except ConnectionClosed:
            pass
        except trio.Cancelled:
            # Cancelled with its nursery: wake any waiter, but leave the stream open so the
            # handler can still say goodbye (run_handler sends 1001); nothing more will be read.
            self._set_closed(CloseReason(1006, None))
            self._mark_finished()
            raise
        except Exception:
            logger.exception("%s: internal error in the reader task", self)
            self._set_closed(CloseReason(1011, "internal error"))
        self._set_closed(CloseReason(1006, None))
        await self._close_stream()

    async def _receive_some(self) -> bytes | bytearray:
        """The next bytes from the peer (``b""`` at EOF).

        On a plain TCP socket this is trio's own ``SocketStream.receive_some`` without its three
        coroutine layers and async context manager: try ``os.read``, wait for readability only
        if nothing is there, and take a checkpoint either way. A reader parked here costs about
        1 KiB less per idle connection. The file descriptor is only read while the socket object
        still owns it (``fileno()`` is -1 once anyone closed it), so a descriptor number reused
        by another connection is never read.
        """
        fd = self._fd
        if fd < 0:
            return await self._stream.receive_some(self._receive_buffer_size)
        socket = self._stream.socket  # type: ignore[attr-defined]
        await trio.lowlevel.checkpoint_if_cancelled()
        if socket.fileno() != fd:
            raise trio.ClosedResourceError("the socket was closed")
        try:
            data = os.read(fd, self._receive_buffer_size)
        except BlockingIOError:
            pass
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return data
        while True:
            await trio.lowlevel.wait_readable(fd)
            if socket.fileno() != fd:
                raise trio.ClosedResourceError("the socket was closed")
            try:
                return os.read(fd, self._receive_buffer_size)
            except BlockingIOError:
                pass

    def _wsproto_idle(self) -> bool:
        """Whether wsproto holds nothing: no bytes, no frame or message begun, no events."""
        frames = self._wsproto_frames
        return (
            frames is not None
            and frames.header is None
            and not frames.buffer.buffer
            and self._wsproto_messages.opcode is None
            and not self._proto._events
            and self._proto.state is ConnectionState.OPEN
        )

    async def _take_frames(self, data: bytes) -> bool:
        """Queue the plain data frames at the front of ``data``, hand the rest to wsproto.

        Plain frames (whole, unfragmented, uncompressed, see
        :func:`~wsframework.protocol.frames.parse_data_frame`) are parsed here while wsproto is
        idle; from the first other frame on, or a text frame that is not valid UTF-8, wsproto
        gets the bytes and reports whatever is wrong with them. A plain frame cut off at the end
        of a read waits in ``_tail`` for the next one (at most ``receive_buffer_size`` bytes:
        bigger frames go to wsproto, which streams them).

        Returns whether wsproto was given bytes (and so may have events).
        """
        buf: bytes | bytearray = data
        if self._tail:
            # Grow the partial frame in place: a peer trickling a frame byte by byte costs
            # linear, not quadratic, copying.
            tail = self._tail
            self._tail = b""
            if isinstance(tail, bytes):
                tail = bytearray(tail)
            tail += data
            buf = tail
        elif not self._wsproto_idle():
            self._proto.receive_data(data)
            return True
        messages = self._messages
        masked = not self._is_client
        limit = min(self._max_message_size, self._receive_buffer_size)
        pos = 0
        while self._close_reason is None:
            end, text, payload = parse_data_frame(buf, pos, masked, limit)
            if end < 0:
                if end == NEED_MORE:
                    self._tail = buf[pos:] if pos else buf
                    return False
                break
            if text:
                try:
                    message: str | bytes = payload.decode("utf-8")
                except UnicodeDecodeError:
                    break  # wsproto fails the connection with 1007
            else:
                message = payload
            pos = end
            if len(messages) >= self._capacity and not await self._wait_for_room():
                break  # closing meanwhile: the message is dropped, as in _handle_events
            messages.append(message)
            if self._lot:
                self._lot.unpark()
        if pos or buf is not data:
            data = bytes(buf[pos:])
            if not data:
                return False
        self._proto.receive_data(data)
        return True

    async def _handle_events(self) -> bool:
        """Handle all events wsproto has; False when the connection is finished."""
        messages = self._messages
        for event in self._proto.events():
            if isinstance(event, Message):
                if self._close_reason is not None:
                    continue
                data = event.data
                size = len(data)
                if size * 4 > self._max_message_size and isinstance(data, str):
                    size = len(data.encode("utf-8", "surrogatepass"))  # limits count bytes
                if event.message_finished and not self._parts:
                    if size > self._max_message_size:
                        await self._too_big()
                        return False
                    if len(messages) >= self._capacity and not await self._wait_for_room():
                        continue
                    messages.append(data)
                else:
                    if isinstance(data, str) and size == len(data):
                        size = len(data.encode("utf-8", "surrogatepass"))
                    self._part_size += size
                    if self._part_size > self._max_message_size:
                        await self._too_big()
                        return False
                    self._parts.append(data)
                    if not event.message_finished:
                        continue
                    joiner = "" if isinstance(event, TextMessage) else b""
                    message = joiner.join(self._parts)
                    self._parts = []
                    self._part_size = 0
                    if len(messages) >= self._capacity and not await self._wait_for_room():
                        continue
                    messages.append(message)
                if self._lot:
                    self._lot.unpark()
            elif isinstance(event, Ping):
                if self._proto.state is ConnectionState.OPEN:
                    await self._send_event(event.response())
            elif isinstance(event, Pong):
                self._on_pong(bytes(event.payload))
            elif isinstance(event, CloseConnection):
                return await self._on_close(event)
        return True

    async def _wait_for_room(self) -> bool:
        """Backpressure: park the reader while the queue is full; False if closing meanwhile.

        The reader parks only when it holds the next message, not as soon as the queue fills,
        so a handler that keeps up never costs the reader an extra wake-up.
        """
        while len(self._messages) >= self._capacity:
            if self._close_reason is not None:
                return False
            await self._lot.park()
        return self._close_reason is None

    async def _too_big(self) -> None:
        self._parts = []
        self._part_size = 0
        await self._fail(1009, f"message exceeds {self._max_message_size} bytes")

    def _on_pong(self, payload: bytes) -> None:
        entry = self._pings.get(payload)
        if entry is None:
            return
        self._latency = trio.current_time() - entry[1]
        # A pong answers its ping and every ping sent before it.
        for key in list(self._pings):
            event, _sent_at = self._pings.pop(key)
            event.set()
            if key == payload:
                break

    async def _on_close(self, event: CloseConnection) -> bool:
        state = self._proto.state
        if state is ConnectionState.REMOTE_CLOSING:
            # The peer started the closing handshake: answer it, then end.
            self._set_closed(CloseReason(event.code, event.reason or None))
            try:
                await self._send_event(event.response())
            except ConnectionClosed:
                pass
            return False
        if state is ConnectionState.CLOSED:
            # The peer's answer to our close frame.
            return False
        # wsproto reports a frame it could not parse as a close event in state OPEN (or
        # LOCAL_CLOSING): the peer broke the protocol, so we fail the connection.
        await self._fail(int(event.code), event.reason or None)
        return False


class _EventQueue(list[Any]):
    """What wsproto needs of its event deque (``append``, ``popleft``, truth), in 56 bytes.

    wsproto queues an event there only when told the transport closed; an empty ``deque``
    costs 760 bytes per connection, more than anything else wsproto keeps for an idle one.
    """

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)


def _adopt_wsproto(proto: Connection) -> tuple[Any, Any]:
    """Slim down a new wsproto connection; return its frame and message decoders.

    The plain-frame fast path checks that the decoders are idle before it parses frames
    itself. These are wsproto internals (stable from 1.2 to 1.3); ``tests/test_frames.py``
    checks they are where this expects them, so a wsproto release that moves them fails the
    tests instead of quietly losing the fast path.
    """
    events = getattr(proto, "_events", None)
    if events is not None and not isinstance(events, _EventQueue):
        proto._events = _EventQueue(events)  # type: ignore[assignment]
    frame_protocol = getattr(proto, "_proto", None)
    frames = getattr(frame_protocol, "_frame_decoder", None)
    messages = getattr(frame_protocol, "_message_decoder", None)
    if frames is None or messages is None:  # pragma: no cover - a wsproto we do not know
        return None, None
    return frames, messages


class ConnectionOptions:
    """Settings shared by the connections of one server or client call (validated once)."""

    __slots__ = (
        "compression",
        "connect_timeout",
        "disconnect_timeout",
        "max_message_size",
        "message_queue_size",
        "ping_interval",
        "ping_timeout",
        "receive_buffer_size",
    )

    def __init__(
        self,
        *,
        message_queue_size: int = MESSAGE_QUEUE_SIZE,
        max_message_size: int = MAX_MESSAGE_SIZE,
        receive_buffer_size: int | None = RECEIVE_BYTES,
        connect_timeout: float = CONN_TIMEOUT,
        disconnect_timeout: float = CONN_TIMEOUT,
        compression: DeflateOptions | None = DEFAULT_DEFLATE,
        ping_interval: float | None = None,
        ping_timeout: float | None = None,
    ) -> None:
        if message_queue_size < 0:
            raise ValueError(f"message_queue_size must be >= 0, got {message_queue_size}")
        if max_message_size <= 0:
            raise ValueError(f"max_message_size must be > 0, got {max_message_size}")
        if receive_buffer_size is not None and receive_buffer_size <= 0:
            raise ValueError(f"receive_buffer_size must be > 0, got {receive_buffer_size}")
        if ping_interval is not None and ping_interval <= 0:
            raise ValueError(f"ping_interval must be > 0, got {ping_interval}")
        if ping_timeout is not None and ping_timeout <= 0:
            raise ValueError(f"ping_timeout must be > 0, got {ping_timeout}")
        self.message_queue_size = message_queue_size
        self.max_message_size = max_message_size
        self.receive_buffer_size = receive_buffer_size or RECEIVE_BYTES
        self.connect_timeout = connect_timeout
        self.disconnect_timeout = disconnect_timeout
        self.compression = compression
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout

    def start_connection(self, nursery: trio.Nursery, connection: WebSocketConnection) -> None:
        """Start the background tasks of a freshly opened connection."""
        nursery.start_soon(connection._reader_task)
        if self.ping_interval is not None:
            timeout = self.ping_timeout if self.ping_timeout is not None else self.ping_interval
            nursery.start_soon(connection._keepalive_task, self.ping_interval, timeout)
