"""The sans-I/O WebSocket engine: bytes in, events out; calls in, bytes out.

One :class:`Engine` per open connection, client or server, after the opening handshake. It does
no I/O and never imports trio, so every rule below is tested synchronously, byte by byte
(``tests/protocol/test_engine.py``); :mod:`wsframework.connection` is the Trio shell that reads
the socket, feeds the engine and writes what it returns.

What it owns:

* the plain-frame fast path: whole, unfragmented, uncompressed data frames are parsed here
  (:func:`~wsframework.protocol.frames.parse_data_frame`) while wsproto holds nothing; from the
  first other frame on, wsproto parses, and reports every protocol error;
* compressed messages, while wsproto is idle (the plain frames' rule): a whole compressed
  message in one final frame is parsed here and inflated by the negotiated extension
  (:meth:`~wsframework.protocol.deflate.LimitedDeflate.inflate_message`, within its limit),
  and every compressed message we send is deflated by it and framed here, as one final frame
  (:meth:`~wsframework.protocol.deflate.LimitedDeflate.deflate_message`). Fragmented ones,
  and anything after a frame wsproto began, stay with wsproto. The invariant that keeps both
  paths' zlib contexts one: the engine's ``deflate`` *is* the extension object wsproto got
  (checked when wsproto is adopted), so a connection has one compressor and one decompressor
  whichever path used them last; the native path inflates only between messages (wsproto
  holds no frame or message, so the extension holds no half-inflated one) and sends only
  whole messages (wsproto's sending side keeps no state between those), each step the same
  as wsproto's hooks take, no_context_takeover resets included;
* close frames while wsproto was never made (:func:`~wsframework.protocol.frames.parse_close_frame`,
  :func:`~wsframework.protocol.frames.encode_close_frame`): the engine then keeps the
  connection's state itself, and hands it to wsproto if a later frame needs wsproto after all;
* message assembly from wsproto's fragments, the ``max_message_size`` limit (1009) and UTF-8
  (1007, through wsproto);
* close bookkeeping (who started, what to answer) and the pings in flight.

Calling contract:

* Feed everything read from the peer to :meth:`Engine.receive` and iterate the generator it
  returns. It yields each complete message (``str`` or ``bytes``) and each control event
  (:class:`PingReceived`, :class:`PongReceived`, :class:`CloseReceived`,
  :class:`ProtocolError`). You may pause between items (that is how backpressure works: stop
  iterating and nothing more is parsed), but iterate it to the end before calling
  :meth:`~Engine.receive` again. After a :class:`CloseReceived` or :class:`ProtocolError` it
  yields nothing more, and the connection is finished once you have answered it.
* Every method that returns bytes (:meth:`~Engine.send_message`, :meth:`~Engine.ping`,
  :meth:`~Engine.pong`, :meth:`~Engine.close`) changes what the peer must see next: after
  calling it you must write those bytes to the peer before the bytes of any later call, in call
  order. Compressed messages share a compressor context, so serialise the calls with the writes.
* Send only while :attr:`~Engine.state` is ``OPEN`` (the close answer of a
  :class:`CloseReceived` excepted): call :meth:`~Engine.close` to start or answer a close.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from wsproto.connection import Connection, ConnectionState
from wsproto.events import CloseConnection, Message, Ping, Pong, TextMessage
from wsproto.frame_protocol import CloseReason

from ..exceptions import MessageTypeError
from .deflate import LimitedDeflate
from .frames import (
    NEED_MORE,
    NOT_PLAIN,
    encode_close_frame,
    encode_data_frame,
    parse_close_frame,
    parse_data_frame,
)

_OPEN = ConnectionState.OPEN
_LOCAL_CLOSING = ConnectionState.LOCAL_CLOSING
_REMOTE_CLOSING = ConnectionState.REMOTE_CLOSING
_CLOSED = ConnectionState.CLOSED
_WSPROTO_CLOSE_CODES = (1005, 1006, 1015)  # wsproto sends no code or 1000 for these

__all__ = [
    "PreparedFrames",
    "CloseReceived",
    "ConnectionState",
    "Engine",
    "Event",
    "PingReceived",
    "PongReceived",
    "ProtocolError",
]


@dataclass(frozen=True)
class PingReceived:
    """The peer pinged: answer with :meth:`Engine.pong` (``payload``) while ``OPEN``."""

    payload: bytes


@dataclass(frozen=True)
class PongReceived:
    """The peer ponged. ``acked`` are the tokens of our pings it answers, oldest first (a pong
    answers its ping and every ping sent before it; the last is its own); empty for an
    unsolicited pong."""

    payload: bytes
    acked: tuple[Any, ...]


@dataclass(frozen=True)
class CloseReceived:
    """The peer sent a close frame.

    ``answer`` is true when the peer started the closing handshake: write
    :meth:`Engine.close` (``code``, ``reason``) back, then release the transport. When false the
    frame answered our own close and the closing handshake is complete.
    """

    code: int
    reason: str | None
    answer: bool


class PreparedFrames(Protocol):
    """A message framed once for many connections (``interface.PreparedMessage``)."""

    @property
    def frame(self) -> tuple[bytes, bytes]:
        """The uncompressed, unmasked frame as ``(head, payload)``."""
        ...

    def deflated(self, window_bits: int) -> tuple[bytes, bytes]:
        """The unmasked frame compressed on its own with a ``window_bits`` window."""
        ...


@dataclass(frozen=True)
class ProtocolError:
    """The peer broke the protocol (or sent a message over the limit): fail the connection.

    Write :meth:`Engine.close` (``code``, ``reason``) if :attr:`Engine.state` is still ``OPEN``,
    then release the transport without waiting for an answer. ``code`` is 1002 (protocol
    error), 1007 (invalid UTF-8) or 1009 (message too big).
    """

    code: int
    reason: str | None


#: What :meth:`Engine.receive` yields.
Event = str | bytes | PingReceived | PongReceived | CloseReceived | ProtocolError


class Engine:
    """A WebSocket connection's protocol state, without I/O (see the module's calling contract).

    Args:
        proto: the wsproto connection left by the opening handshake (trailing bytes included),
            or a function that makes one, called the first time wsproto is needed (a frame the
            fast path does not parse, a ping or pong, a compressed message): an idle
            connection then keeps none (about 0.9 KiB), and one that only exchanged plain
            messages and close frames never makes one.
        max_message_size: a larger incoming message fails the connection with 1009.
        max_frame_size: the largest frame the fast path parses whole (the read size); bigger
            frames go to wsproto, which streams them.
        deflate: the negotiated permessage-deflate extension, or ``None``: the object given
            to wsproto's connection, not a copy (``ValueError`` otherwise).
        client: whether this is the client end, when ``proto`` is a function (a wsproto
            connection says so itself).

    Attributes:
        messages_in, messages_out: data messages received (complete) and framed to send.
        bytes_in, bytes_out: bytes received and framed to send, every frame counted whole.
        closed_by: ``"local"`` or ``"remote"``: which end sent the first close frame.
    """

    __slots__ = (
        "_client",
        "_deflate",
        "_factory",
        "_frames",
        "_limit",
        "_max_message_size",
        "_open",
        "_part_size",
        "_parts",
        "_pings",
        "_proto",
        "_state",
        "_tail",
        "_wsproto_messages",
        "bytes_in",
        "bytes_out",
        "closed_by",
        "messages_in",
        "messages_out",
    )

    def __init__(
        self,
        proto: Connection | Callable[[], Connection],
        *,
        max_message_size: int,
        max_frame_size: int,
        deflate: LimitedDeflate | None = None,
        client: bool = False,
    ) -> None:
        self._proto: Connection | None = None
        self._factory: Callable[[], Connection] | None = None
        if isinstance(proto, Connection):
            self._proto = proto
            client = proto.client
        else:
            self._factory = proto
        self._client = client
        self._deflate = deflate
        self._max_message_size = max_message_size
        self._limit = min(max_message_size, max_frame_size)
        # False once we sent a close: our own copy of "wsproto is OPEN" for the fast path's
        # loop (only close() changes wsproto's state while the fast path runs).
        self._open = True
        # The state while there is no wsproto connection (the close frames were ours).
        self._state = _OPEN
        # Made when first needed: an idle connection keeps neither.
        self._parts: list[Any] | None = None  # fragments of the message being assembled
        self._part_size = 0
        self._pings: dict[bytes, Any] | None = None  # in flight, in sending order: token
        self._tail: bytes | bytearray = b""  # the start of a plain frame, awaiting the rest
        self._frames: Any = None
        self._wsproto_messages: Any = None
        if self._proto is not None:
            self._frames, self._wsproto_messages = _adopt_wsproto(self._proto, deflate)
        self.messages_in = self.messages_out = self.bytes_in = self.bytes_out = 0
        self.closed_by: str | None = None

    @property
    def state(self) -> ConnectionState:
        """``OPEN``, ``LOCAL_CLOSING`` (we sent a close), ``REMOTE_CLOSING`` (the peer did) or
        ``CLOSED``."""
        return self._state if self._proto is None else self._proto.state

    def _wsproto(self) -> Connection:
        """wsproto's connection, made the first time it is needed, in the engine's state."""
        proto = self._proto
        if proto is None:
            assert self._factory is not None
            proto = self._proto = self._factory()
            self._factory = None
            self._frames, self._wsproto_messages = _adopt_wsproto(proto, self._deflate)
            if self._state is not _OPEN:  # a close frame was sent or received without it
                proto._state = self._state
        return proto

    @property
    def is_client(self) -> bool:
        """Whether this is the client end (it masks what it sends)."""
        return self._client

    @property
    def compression(self) -> bool:
        """Whether permessage-deflate was negotiated."""
        return self._deflate is not None

    # ------------------------------------------------------------------ receiving

    def receive(self, data: bytes) -> Iterator[Event]:
        """Take ``data`` from the peer; yield the messages and events it completes.

        Plain frames at the front are parsed here while wsproto is idle; from the first other
        frame on, or a text frame that is not valid UTF-8, wsproto gets the bytes and reports
        whatever is wrong with them. A plain frame cut off at the end waits for the next call.
        An empty ``data`` only lets wsproto report what it already holds (the bytes that came
        right behind the opening handshake).
        """
        buf: bytes | bytearray = data
        self.bytes_in += len(data)
        if self._tail:
            # Grow the partial frame in place: a peer trickling a frame byte by byte costs
            # linear, not quadratic, copying.
            tail = self._tail
            self._tail = b""
            if isinstance(tail, bytes):
                tail = bytearray(tail)
            tail += data
            buf = tail
        elif not data or not self._wsproto_idle():
            if data:
                self._wsproto().receive_data(data)
            yield from self._wsproto_events()
            return
        masked = not self._client
        limit = self._limit
        pos = 0
        while True:
            inflated = False
            if self._open:
                end, text, payload = parse_data_frame(buf, pos, masked, limit)
                if end == NOT_PLAIN and self._deflate is not None:
                    end, text, payload = parse_data_frame(buf, pos, masked, limit, True)
                    if end >= 0:
                        result = self._deflate.inflate_message(payload, self._client)
                        if not isinstance(result, bytes):
                            yield self._inflate_failed(result)
                            return
                        payload, inflated = result, True
            else:
                end = NOT_PLAIN
            if end == NOT_PLAIN and self._proto is None and self._expects_close():
                end, code, reason = parse_close_frame(buf, pos, masked)
                if end >= 0:
                    yield self._close_received(code, reason)
                    return
            if end < 0:
                if end == NEED_MORE:
                    self._tail = buf[pos:] if pos else buf
                    return
                break
            if text:
                try:
                    message: str | bytes = payload.decode("utf-8")
                except UnicodeDecodeError as exc:
                    if inflated:  # wsproto cannot have it now: the same 1007 as its
                        yield ProtocolError(1007, str(exc))
                        return
                    break  # wsproto fails the connection with 1007
            else:
                message = payload
            pos = end
            self.messages_in += 1
            yield message
        if pos or buf is not data:
            data = bytes(buf[pos:])
            if not data:
                return
        self._wsproto().receive_data(data)
        yield from self._wsproto_events()

    def _wsproto_idle(self) -> bool:
        """Whether wsproto holds nothing: no bytes, no frame or message begun, no events."""
        proto = self._proto
        if proto is None:
            return True
        frames = self._frames
        return (
            frames is not None
            and frames.header is None
            and not frames.buffer.buffer
            and self._wsproto_messages.opcode is None
            and not proto._events
            and proto.state is ConnectionState.OPEN
        )

    def _wsproto_events(self) -> Iterator[Event]:
        """Translate wsproto's events; stop after the first close or failure."""
        if self._proto is None:
            return
        limit = self._max_message_size
        for event in self._proto.events():
            if isinstance(event, Message):
                data = event.data
                size = len(data)
                if size * 4 > limit and isinstance(data, str):
                    size = len(data.encode("utf-8", "surrogatepass"))  # limits count bytes
                if event.message_finished and not self._parts:
                    if size > limit:
                        yield self._too_big()
                        return
                    self.messages_in += 1
                    yield data
                    continue
                if isinstance(data, str) and size == len(data):
                    size = len(data.encode("utf-8", "surrogatepass"))
                self._part_size += size
                if self._part_size > limit:
                    yield self._too_big()
                    return
                if self._parts is None:
                    self._parts = []
                self._parts.append(data)
                if event.message_finished:
                    joiner = "" if isinstance(event, TextMessage) else b""
                    message = joiner.join(self._parts)
                    self._parts = None
                    self._part_size = 0
                    self.messages_in += 1
                    yield message
            elif isinstance(event, Ping):
                yield PingReceived(bytes(event.payload))
            elif isinstance(event, Pong):
                yield PongReceived(bytes(event.payload), self._acked(bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                yield self._on_close(event)
                return

    def _expects_close(self) -> bool:
        """Whether a close frame from the peer is still to come (no wsproto connection)."""
        return self._state is _OPEN or self._state is _LOCAL_CLOSING

    def _close_received(self, code: int, reason: str | None) -> CloseReceived:
        """A close frame parsed without wsproto: the state moves as wsproto's would."""
        self._open = False
        if self._state is _OPEN:
            self._state = _REMOTE_CLOSING
            self.closed_by = self.closed_by or "remote"
            return CloseReceived(code, reason, answer=True)
        self._state = _CLOSED
        return CloseReceived(code, reason, answer=False)

    def _inflate_failed(self, reason: CloseReason) -> ProtocolError:
        """The error wsproto reports for a compressed message its extension refused."""
        if reason is CloseReason.MESSAGE_TOO_BIG:
            return self._too_big()
        return ProtocolError(int(reason), "error in extension")

    def _too_big(self) -> ProtocolError:
        self._parts = None
        self._part_size = 0
        return ProtocolError(1009, f"message exceeds {self._max_message_size} bytes")

    def _on_close(self, event: CloseConnection) -> CloseReceived | ProtocolError:
        state = self._wsproto().state
        if state is ConnectionState.REMOTE_CLOSING:
            self.closed_by = self.closed_by or "remote"
            return CloseReceived(int(event.code), event.reason or None, answer=True)
        if state is ConnectionState.CLOSED:
            return CloseReceived(int(event.code), event.reason or None, answer=False)
        # wsproto reports a frame it could not parse as a close event in state OPEN (or
        # LOCAL_CLOSING): the peer broke the protocol. Its only 1009 is our inflation limit
        # (LimitedDeflate), which wsproto words "error in extension": say what happened.
        if event.code == 1009:
            return self._too_big()
        return ProtocolError(int(event.code), event.reason or None)

    def _acked(self, payload: bytes) -> tuple[Any, ...]:
        pings = self._pings
        if not pings or payload not in pings:
            return ()
        acked = []
        for key in list(pings):
            acked.append(pings.pop(key))
            if key == payload:
                break
        return tuple(acked)

    # ------------------------------------------------------------------ sending

    def send_message(self, message: str | bytes, compress: bool = True) -> tuple[bytes, bytes]:
        """The bytes of one message, as ``(head, body)``: write ``head`` then ``body``.

        Uncompressed messages are framed here, their payload kept apart (never copied, for
        servers); compressed ones too, as one final frame, through the extension's compressor.

        Raises:
            MessageTypeError: ``message`` is neither text nor bytes.
        """
        if isinstance(message, str):
            if self._deflate is not None and compress:
                data = self._deflate.deflate_message(message.encode("utf-8"), self._client)
                return self.count(encode_data_frame(data, True, self._client, True))
            frame = encode_data_frame(message.encode("utf-8"), True, self._client)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            if self._deflate is not None and compress:
                data = self._deflate.deflate_message(bytes(message), self._client)
                return self.count(encode_data_frame(data, False, self._client, True))
            frame = encode_data_frame(bytes(message), False, self._client)
        else:
            raise MessageTypeError(f"message must be str or bytes, not {type(message).__name__}")
        self.messages_out += 1  # count() inline: this is the hot path
        self.bytes_out += len(frame[0]) + len(frame[1])
        return frame

    def count(self, frame: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
        """Count ``frame`` (a data message's ``(head, body)``) as sent; return it."""
        self.messages_out += 1
        self.bytes_out += len(frame[0]) + len(frame[1])
        return frame

    def prepared_frame(self, prepared: PreparedFrames) -> tuple[bytes, bytes] | None:
        """The shared frame of a message encoded once for many connections, when this
        connection may send it as is: a server without compression (``prepared.frame``) or
        whose compressor starts afresh for each message (``server_no_context_takeover``:
        ``prepared.deflated(window_bits)``). ``None`` otherwise (a client masks its frames; a
        compressor with context takeover must compress each message itself): call
        :meth:`send_message`. Not counted as sent: pass what is sent to :meth:`count`."""
        if self._client:
            return None
        deflate = self._deflate
        if deflate is None:
            return prepared.frame
        if deflate.server_no_context_takeover:
            return prepared.deflated(int(deflate.server_max_window_bits or 15))
        return None

    def ping(self, payload: bytes | None = None, token: Any = None) -> tuple[bytes, bytes]:
        """Register a ping in flight; ``(payload, frame)``. ``None`` picks 4 random bytes.

        ``token`` is yours: :class:`PongReceived` hands it back when the pong arrives. Call
        only while :attr:`state` is ``OPEN``.

        Raises:
            ValueError: ``payload`` is already in flight or longer than 125 bytes.
        """
        if self._pings is None:
            self._pings = {}
        pings = self._pings
        if payload is None:
            payload = struct.pack("!I", random.getrandbits(32))
            while payload in pings:
                payload = struct.pack("!I", random.getrandbits(32))
        payload = bytes(payload)
        if payload in pings:
            raise ValueError(f"Payload value {payload!r} is already in flight.")
        if len(payload) > 125:
            raise ValueError("a ping payload is at most 125 bytes")
        frame = self._wsproto().send(Ping(payload=payload))
        self.bytes_out += len(frame)
        pings[payload] = token
        return payload, frame

    def in_flight(self, payload: bytes) -> bool:
        """Whether the ping of ``payload`` still waits for its pong."""
        return self._pings is not None and payload in self._pings

    def pings(self) -> list[Any]:
        """The tokens of every ping in flight, oldest first."""
        return list(self._pings.values()) if self._pings else []

    def forget_ping(self, payload: bytes) -> None:
        """Stop waiting for the pong of ``payload`` (its ping was cancelled or failed)."""
        if self._pings is not None:
            self._pings.pop(payload, None)

    def pong(self, payload: bytes = b"") -> bytes:
        """A pong frame: the answer to a :class:`PingReceived`, or unsolicited; ``b""`` once
        the connection is no longer ``OPEN``."""
        if self.state is not ConnectionState.OPEN:
            return b""
        frame = self._wsproto().send(Pong(payload=payload))
        self.bytes_out += len(frame)
        return frame

    def close(self, code: int, reason: str | None = None) -> bytes:
        """The close frame that starts (``OPEN``) or answers (``REMOTE_CLOSING``) a close;
        ``b""`` when a close frame was already sent."""
        state = self.state
        if state is not _OPEN and state is not _REMOTE_CLOSING:
            return b""
        self._open = False
        if state is _OPEN:
            self.closed_by = self.closed_by or "local"
        if self._proto is None and code not in _WSPROTO_CLOSE_CODES:
            frame = encode_close_frame(code, reason, self._client)
            self._state = _LOCAL_CLOSING if state is _OPEN else _CLOSED
        else:
            frame = self._wsproto().send(CloseConnection(code=code, reason=reason))
        self.bytes_out += len(frame)
        return frame


class _EventQueue(list[Any]):
    """What wsproto needs of its event deque (``append``, ``popleft``, truth), in 56 bytes.

    wsproto queues an event there only when told the transport closed; an empty ``deque``
    costs 760 bytes per connection, more than anything else wsproto keeps for an idle one.
    """

    __slots__ = ()

    def popleft(self) -> Any:
        return self.pop(0)


def _adopt_wsproto(proto: Connection, deflate: LimitedDeflate | None) -> tuple[Any, Any]:
    """Slim down a new wsproto connection; return its frame and message decoders.

    ``deflate`` must be the very extension wsproto was given (the module's invariant): a copy
    would keep zlib contexts of its own and corrupt the stream at the first switch of paths.

    The plain-frame fast path checks that the decoders are idle before it parses frames
    itself. These are wsproto internals (stable from 1.2 to 1.3); ``tests/protocol/`` checks
    they are where this expects them, so a wsproto release that moves them fails the tests
    instead of quietly losing the fast path.
    """
    events = getattr(proto, "_events", None)
    if events is not None and not isinstance(events, _EventQueue):
        proto._events = _EventQueue(events)  # type: ignore[assignment]
    frame_protocol = getattr(proto, "_proto", None)
    frames = getattr(frame_protocol, "_frame_decoder", None)
    messages = getattr(frame_protocol, "_message_decoder", None)
    if frames is None or messages is None:  # pragma: no cover - a wsproto we do not know
        return None, None
    extensions = getattr(frame_protocol, "extensions", ())
    if deflate is not None and all(ext is not deflate for ext in extensions):
        raise ValueError("the engine's deflate extension must be the one wsproto negotiated")
    return frames, messages
