"""StreamConnection: the Trio shell around the sans-I/O engine, for clients and servers.

:class:`~wsframework.protocol.engine.Engine` decides what bytes mean and what to send; this
module reads the socket, feeds the engine, queues messages, writes what the engine returns and
keeps time (keepalive, close timeouts), in as few scheduler passes as possible:

* one reader task per connection reads up to ``receive_buffer_size`` bytes at a time and hands
  them to the engine in one pass: messages go into the connection's
  :class:`~wsframework.message_queue.MessageQueue`; pings, pongs and close frames are answered;
* a task waiting in :meth:`get_message` is parked and woken directly by the reader (no memory
  channel, no lock); when the queue is full the reader parks with the next message, so it stops
  reading the socket until the handler catches up (``message_queue_size=0``: until the handler
  took each message);
* writes are serialised by a flag, not a ``trio.Lock``: an uncontended send takes no extra
  checkpoint. On a plain TCP socket a write the kernel accepts whole does not yield again
  (cancellation is still checked first), but every 16th does, so a task that only sends cannot
  starve the others (``tests/integration/test_core_sockets.py``). A write the socket does not
  take at once waits at most ``send_timeout``, then the connection is dropped.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from functools import partial

import trio

from ._parking import Waiters
from ._sockio import owns_fd, receive_some
from ._stats import record_rtt
from .accepts import UNSUPPORTED_DATA, FrameContract
from .exceptions import ConnectionClosed
from .interface import (
    Endpoint,
    Message,
    PreparedMessage,
    WebSocketConnection,
    stream_endpoint,
)
from .keepalive import keepalive as keepalive_task
from .message_queue import MessageQueue
from .options import ConnectionOptions, timeout_seconds
from .protocol.close import CloseReason, check_close_code
from .protocol.engine import (
    CloseReceived,
    ConnectionState,
    Engine,
    PingReceived,
    PongReceived,
    ProtocolError,
)

__all__ = ["StreamConnection"]

logger = logging.getLogger("wsframework")

_YIELD_EVERY = 16
_GONE = (trio.BrokenResourceError, trio.ClosedResourceError)
_OPEN = ConnectionState.OPEN
Headers = list[tuple[bytes, bytes]]


class StreamConnection(WebSocketConnection):
    """A WebSocket connection over a trio ``Stream``, client or server side.

    The :class:`~wsframework.WebSocketConnection` of our own server and of every client; see
    that class for the methods. Made by the server's accept or the client's handshake, which
    then call :meth:`start`.
    """

    # A connection is mostly idle memory: an instance dict this size would cost ~1.5 KiB.
    __slots__ = (
        "__weakref__",
        "_disconnect_timeout",
        "_done",
        "_engine",
        "_fd",
        "_finished",
        "_frames",
        "_id",
        "_keepalive",
        "_latency",
        "_nursery",
        "_path",
        "_queue",
        "_read_size",
        "_request_headers",
        "_response_headers",
        "_send_busy",
        "_send_timeout",
        "_send_waiters",
        "_stream",
        "_stream_closed",
        "_subprotocol",
        "_torn",
        "_unyielded",
    )

    def __init__(
        self,
        stream: trio.abc.Stream,
        engine: Engine,
        options: ConnectionOptions,
        *,
        path: str,
        subprotocol: str | None,
        request_headers: Headers,
        response_headers: Headers,
        frames: FrameContract | None = None,
    ) -> None:
        self._id = next(WebSocketConnection.CONNECTION_ID)
        self._stream = stream
        self._engine = engine
        self._path = path
        self._subprotocol = subprotocol
        self._request_headers = request_headers
        self._response_headers = response_headers
        self._queue = MessageQueue(options.message_queue_size)
        self._read_size = options.read_size
        self._disconnect_timeout = options.disconnect_timeout
        self._send_busy = False
        self._send_timeout = options.send_timeout
        self._send_waiters: Waiters | None = None  # made when contended
        self._unyielded = 0
        self._fd = stream.socket.fileno() if isinstance(stream, trio.SocketStream) else -1
        self._latency: float | None = None
        self._finished: trio.Event | None = None  # made when someone waits
        self._done = self._stream_closed = False
        self._nursery: trio.Nursery | None = None
        self._keepalive: trio.CancelScope | None = None  # the pings' scope, when they are on
        self._torn = False  # a cancelled write may have left a partial frame
        self._frames = frames  # the route's frame-type check (None: any message goes)

    def start(self, nursery: trio.Nursery, keepalive: tuple[float, float] | None) -> None:
        """Start the reader (and the keepalive pings: ``(interval, timeout)``) in ``nursery``,
        once, right after the handshake; both tasks end with the connection."""
        self._nursery = nursery
        nursery.start_soon(self._reader_task)
        if keepalive is not None:
            self._keepalive = trio.CancelScope()
            nursery.start_soon(self._keepalive_task, *keepalive)

    async def _keepalive_task(self, interval: float, timeout: float) -> None:
        """The keepalive pings, until the connection is finished (not one interval later)."""
        assert self._keepalive is not None
        with self._keepalive:
            await keepalive_task(self, interval, timeout)

    @property
    def closed(self) -> CloseReason | None:
        """(Read-only) Why the connection was or is being closed, else ``None``.

        Set as soon as closing starts, by either side; ``code`` is the code actually sent (for a
        close we started) or received (for one the peer started), 1006 for a lost connection.
        """
        return self._queue.reason

    @property
    def is_client(self) -> bool:
        """(Read-only) Is this a client instance?"""
        return self._engine.is_client

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
        return self._engine.compression

    @property
    def latency(self) -> float | None:
        """Round-trip time in seconds of the last answered :meth:`ping`, else ``None``."""
        return self._latency

    def __str__(self) -> str:
        return f"{'client' if self._engine.is_client else 'server'}-{self._id}"

    def __repr__(self) -> str:
        state = "open" if (reason := self._queue.reason) is None else f"closed {reason.code}"
        return f"<StreamConnection {self} {self._path!r} {state}>"

    async def get_message(self) -> Message:
        """Receive the next message (see :meth:`WebSocketConnection.get_message`).

        Cancelling is safe: a message is only taken when this returns it. For a timeout use
        ``trio.move_on_after`` or ``trio.fail_after``.

        Raises:
            ConnectionClosed: the connection is closed and no message is pending.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        queue = self._queue
        message = queue.take()
        while message is None:
            await queue.consumers.park()
            message = queue.take()
        return message

    async def send_message(self, message: Message, *, compress: bool = True) -> None:
        """Send one message (see :meth:`WebSocketConnection.send_message`).

        Returns once the kernel took all the bytes (backpressure). Cancelling while it waits may
        leave a partial frame, after which the connection is closed: bound whole exchanges
        with ``trio.move_on_after`` rather than single sends.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            MessageTypeError: ``message`` is neither text nor bytes.
        """
        if not isinstance(message, (str, bytes, bytearray, memoryview)):
            self._engine.send_message(message, compress)  # raises MessageTypeError
        await self._send_data(message, compress, None)

    async def send_prepared(self, prepared: PreparedMessage) -> None:
        """Send a message encoded once for many connections (see
        :meth:`WebSocketConnection.send_prepared`): a server writes the shared frame, unless
        its compressor keeps context between messages. Cancel and time out as for
        :meth:`send_message`.

        Raises:
            ConnectionClosed: the connection is closed or closing.
        """
        await self._send_data(prepared.message, True, prepared)

    def send_prepared_nowait(self, prepared: PreparedMessage) -> bool:
        """Write the shared frame now if the socket takes it without waiting (see
        :meth:`WebSocketConnection.send_prepared_nowait`). A frame the socket takes only in
        part is finished by a task of the connection, which holds the turn to send meanwhile.
        """
        engine = self._engine
        if (
            self._send_busy
            or self._fd < 0
            or self._stream_closed
            or engine.state is not _OPEN
            or self._nursery is None
        ):
            return False
        frame = engine.prepared_frame(prepared)
        if frame is None:
            return False
        head, body = frame
        try:
            sent = os.writev(self._fd, (head, body))
        except OSError:  # full (BlockingIOError) or failed: send_prepared waits or reports it
            return False
        engine.count(frame)
        if sent < len(head) + len(body):
            self._send_busy = True
            self._nursery.start_soon(self._finish_write, (head + body)[sent:])
        return True

    async def _send_data(
        self, message: Message, compress: bool, prepared: PreparedMessage | None
    ) -> None:
        if self._queue.reason is not None:
            raise ConnectionClosed(self._queue.reason)
        if self._send_busy:
            await self._wait_send_turn()
        self._send_busy = True
        try:
            engine = self._engine
            if engine.state is not _OPEN:
                raise ConnectionClosed(self._queue.reason or CloseReason(1006, None))
            frame = None if prepared is None else engine.prepared_frame(prepared)
            head, body = engine.count(frame) if frame else engine.send_message(message, compress)
            await self._write(head, body)
        except _GONE as exc:
            self._set_closed(CloseReason(1006, None))
            raise ConnectionClosed(self._queue.reason) from exc
        finally:
            self._end_send_turn()

    async def _finish_write(self, rest: bytes) -> None:
        # The turn to send was taken by send_prepared_nowait; it is handed back here.
        try:
            await self._send_all(rest)
        except (*_GONE, ConnectionClosed):
            self._set_closed(CloseReason(1006, None))
        finally:
            self._end_send_turn()

    async def ping(self, payload: bytes | None = None) -> None:
        """Send a ping and wait for its pong (see :meth:`WebSocketConnection.ping`).

        Cancelling is safe (the ping is forgotten). For a timeout use ``trio.fail_after``.

        Raises:
            ConnectionClosed: the connection is closed, or closes before the pong arrives.
            ValueError: ``payload`` is already in flight or longer than 125 bytes.
        """
        if self._queue.reason is not None:
            raise ConnectionClosed(self._queue.reason)
        engine = self._engine
        event = trio.Event()
        sent: list[bytes] = []

        def frame() -> bytes:
            if engine.state is not _OPEN:
                raise ConnectionClosed(self._queue.reason or CloseReason(1006, None))
            key, data = engine.ping(payload, (event, trio.current_time()))
            sent.append(key)
            return data

        try:
            await self._send_frame(frame)
            await event.wait()
            if sent and engine.in_flight(sent[0]):  # woken by the connection closing
                raise ConnectionClosed(self._queue.reason)
        finally:
            for key in sent:
                engine.forget_ping(key)

    async def pong(self, payload: bytes | None = None) -> None:
        """Send an unsolicited pong. Cancelling is as for :meth:`send_message`.

        Raises:
            ConnectionClosed: the connection is closed or closing.
        """
        if self._queue.reason is not None:
            raise ConnectionClosed(self._queue.reason)
        await self._send_frame(partial(self._engine.pong, payload or b""))

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        """Close: close frame, wait for the peer's (at most ``disconnect_timeout``), close
        the stream (see :meth:`WebSocketConnection.aclose`). Idempotent.

        Safe to cancel: the stream is closed anyway. To bound it more tightly use
        ``with trio.move_on_after(seconds):``.

        Raises:
            ValueError: ``code`` may not be sent in a close frame.
        """
        check_close_code(code)
        if self._queue.reason is not None:
            # Closing already (either side): let it finish, then make sure the stream is shut.
            try:
                await self._wait_finished()
            finally:
                await self._close_stream()
            return
        self._set_closed(CloseReason(code, reason), local=True)
        try:
            with contextlib.suppress(ConnectionClosed, *_GONE):
                if self._engine.state is _OPEN:
                    await self._send_close(code, reason)
                await self._wait_finished()
        finally:
            await self._close_stream()

    async def going_away(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Close for a shutdown: close frame unless one was exchanged, then close the
        stream without waiting. Shielded and bounded by 1 s: it needs no timeout.

        Raises:
            ValueError: ``code`` may not be sent in a close frame.
        """
        check_close_code(code)
        with trio.CancelScope(shield=True):
            with trio.move_on_after(1):
                self._set_closed(CloseReason(code, reason), local=True)
                if self._engine.state is _OPEN and not self._stream_closed:
                    with contextlib.suppress(ConnectionClosed):
                        await self._send_close(code, reason)
                        # The code sent is why it closed, even after the reader's 1006.
                        self._queue.close(CloseReason(code, reason), replace=True)
            await self._close_stream()

    # ------------------------------------------------------------------ internals

    async def _wait_finished(self) -> None:
        if self._done:
            await trio.lowlevel.checkpoint()
            return
        if self._finished is None:
            self._finished = trio.Event()
        with trio.move_on_after(timeout_seconds(self._disconnect_timeout)):
            await self._finished.wait()

    def _mark_finished(self) -> None:
        self._done = True
        if self._finished is not None:
            self._finished.set()
        if self._keepalive is not None:
            self._keepalive.cancel()

    def _set_closed(self, reason: CloseReason, *, local: bool = False) -> None:
        if self._queue.reason is not None:
            return
        self._queue.close(reason, discard=local)
        for event, _sent_at in self._engine.pings():
            event.set()

    async def _close_stream(self) -> None:
        if self._stream_closed:
            return
        self._stream_closed = True
        self._mark_finished()
        if self._fd >= 0:  # a plain socket closes at once: SocketStream.aclose, but no checkpoint
            self._stream.socket.close()  # type: ignore[attr-defined]
            return
        with trio.CancelScope(shield=True, deadline=trio.current_time() + 1):  # TLS may wait
            try:
                await self._stream.aclose()
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass

    async def _wait_send_turn(self) -> None:
        while self._send_busy:  # writers are serialised by a flag; only a second one parks
            if self._send_waiters is None:
                self._send_waiters = Waiters()
            await self._send_waiters.park()

    def _end_send_turn(self) -> None:
        self._send_busy = False
        if self._send_waiters:
            self._send_waiters.unpark()

    async def _send_frame(self, frame: Callable[[], bytes]) -> None:
        """Write the bytes ``frame()`` returns (control frames); ``frame`` is called in our
        turn to write, so engine calls and writes stay in the same order."""
        if self._send_busy:
            await self._wait_send_turn()
        self._send_busy = True
        try:
            if self._engine.state is ConnectionState.CLOSED:
                raise ConnectionClosed(self._queue.reason or CloseReason(1006, None))
            if data := frame():
                await self._write(data)
        except _GONE as exc:
            self._set_closed(CloseReason(1006, None))
            raise ConnectionClosed(self._queue.reason) from exc
        finally:
            self._end_send_turn()

    async def _send_close(self, code: int, reason: str | None) -> None:
        await self._send_frame(partial(self._engine.close, code, reason))

    async def _write(self, data: bytes | bytearray, body: bytes = b"") -> None:
        """Write ``data`` then ``body`` (a frame header and its payload, kept apart so that a
        large payload is never copied), waiting while the socket is full."""
        if self._torn:
            raise trio.ClosedResourceError("a cancelled send left a partial frame on the wire")
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
                await self._send_all(bytes(rest) + body)
                return
            await self._send_all(rest, body)
        elif body:
            await self._send_all(memoryview(body)[sent - len(data) :])

    async def _send_all(self, data: bytes | memoryview, more: bytes = b"") -> None:
        """Write what the socket did not take at once, within ``send_timeout``, else drop the
        connection (1008; no close frame can follow a partial one, nor pass a full socket)."""
        try:
            with trio.move_on_after(timeout_seconds(self._send_timeout)) as scope:
                await self._stream.send_all(data)
                if more:
                    await self._stream.send_all(more)
        except trio.Cancelled:
            # No frame may follow a partial one: drop the connection now (the peer sees EOF).
            self._torn = True
            self._set_closed(CloseReason(1006, None))
            await self._close_stream()
            raise
        if scope.cancelled_caught:
            self._torn = True
            reason = f"send timeout: the peer read nothing for {self._send_timeout:g} s"
            logger.info("%s dropped with 1008: %s", self, reason)
            self._set_closed(CloseReason(1008, reason))
            await self._close_stream()
            raise ConnectionClosed(self._queue.reason)

    async def _reader_task(self) -> None:
        """Read the socket until the connection ends. Never raises (but Cancelled)."""
        try:
            # b"": wsproto may hold events already (the bytes right behind the handshake).
            data: bytes | bytearray = b""
            while await self._receive(data):
                # Unless a read filled the buffer the socket is empty: park in this frame.
                drained, data, fd = len(data) < self._read_size, b"", self._fd
                try:
                    if drained and owns_fd(self._stream, fd):
                        await trio.lowlevel.wait_readable(fd)
                    data = await receive_some(self._stream, fd, self._read_size, drained)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    data = b""
                if not data:
                    self._set_closed(CloseReason(1006, None))
                    break
        except ConnectionClosed:
            pass
        except trio.Cancelled:
            # Wake any waiter but leave the stream open: run_handler may still send 1001.
            self._set_closed(CloseReason(1006, None))
            self._mark_finished()
            raise
        except Exception:
            logger.exception("%s: internal error in the reader task", self)
            self._set_closed(CloseReason(1011, "internal error"))
        self._set_closed(CloseReason(1006, None))
        await self._close_stream()

    async def _receive(self, data: bytes | bytearray) -> bool:
        """Hand ``data`` to the engine and act on what it yields; False once finished."""
        queue, frames = self._queue, self._frames  # frames: None for a route accepting any
        for event in self._engine.receive(bytes(data)):
            if type(event) is str or type(event) is bytes:
                if frames is not None and (refused := frames.refuses(event, self)):
                    frames = self._frames = None  # what follows is dropped: the queue is closed
                    await self._close_with(UNSUPPORTED_DATA, refused)
                elif not queue.offer(event):
                    await queue.put(event)  # False: closing, nobody will read it
            elif isinstance(event, PingReceived):
                if self._engine.state is _OPEN:
                    await self._send_frame(partial(self._engine.pong, event.payload))
            elif isinstance(event, PongReceived):
                self._on_pong(event)
            elif isinstance(event, CloseReceived):
                if event.answer:
                    # The peer started the closing handshake: answer it, then end.
                    self._set_closed(CloseReason(event.code, event.reason))
                    with contextlib.suppress(ConnectionClosed):
                        await self._send_close(event.code, event.reason)
                return False
            elif isinstance(event, ProtocolError):
                await self._fail(event.code, event.reason)
                return False
        return True

    def _on_pong(self, event: PongReceived) -> None:
        if event.acked:
            self._latency = trio.current_time() - event.acked[-1][1]
            record_rtt(self._latency)
        for waiter, _sent_at in event.acked:
            waiter.set()

    async def _fail(self, code: int, reason: str | None) -> None:
        """Fail the connection after a protocol error by the peer: close frame, then EOF."""
        logger.info("%s closing with %d after a protocol error: %s", self, code, reason)
        await self._close_with(code, reason)

    async def _close_with(self, code: int, reason: str | None) -> None:
        """Start closing with ``code``: a close frame unless one was exchanged already."""
        self._set_closed(CloseReason(code, reason))
        if self._engine.state is _OPEN:
            with contextlib.suppress(ConnectionClosed):
                await self._send_close(code, reason)
