"""Fuzz targets for the sans-I/O frame and message engine, server and client side.

Each input becomes a *script* of what the peer sends: text and binary messages (whole or in
fragments, compressed by a wsproto peer or framed by hand with RSV1 clear, with control frames
between the fragments), pings, pongs answering the engine's pings, a close, a defect of a known
kind (bad opcode, reserved bits, wrong masking, non-minimal length, bad close code, invalid
UTF-8, broken deflate data...), random bytes or random edits of the stream. The stream is fed
to the :class:`~wsframework.protocol.engine.Engine` in chunks cut at arbitrary offsets, and
between chunks the engine sends messages of its own, as the connection layer drives it.

Invariants checked on every input:

* ``Engine.receive`` yields only messages and events, never raises; nothing follows a
  ``CloseReceived`` or ``ProtocolError``; a ``ProtocolError`` carries 1002, 1007 or 1009 and a
  received close a code the RFC lets a peer send (or 1005);
* the engine's events equal those of plain wsproto fed the same chunks (its fast paths are
  invisible: plain frames, and whole compressed messages read and sent with the extension's
  zlib objects while wsproto is idle), and for a script without defects or random bytes
  they are exactly the messages and control frames the script sent (the
  ``max_message_size`` limit giving 1009);
* a script with one defect ends in ``ProtocolError`` with the code the RFC asks for;
* everything the engine writes (its messages, pongs, pings and close answers) parses at the
  wsproto peer as exactly what was sent.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.extensions import Extension, PerMessageDeflate
from wsproto.frame_protocol import CloseReason

from wsframework.interface import PreparedMessage
from wsframework.protocol.deflate import LimitedDeflate, negotiate_deflate
from wsframework.protocol.deflate_options import DeflateOptions
from wsframework.protocol.engine import (
    CloseReceived,
    Engine,
    Event,
    PingReceived,
    PongReceived,
    ProtocolError,
)

from .source import Source, pieces

__all__ = ["engine_client", "engine_server"]

SERVER, CLIENT = ConnectionType.SERVER, ConnectionType.CLIENT
_ERROR_CODES = frozenset({1002, 1007, 1009})
_MASK = b"\x5a\x13\xc7\x02"


@dataclass
class _Pong:
    """A pong the model expects: its payload, and the tokens it acknowledges."""

    payload: bytes
    acked: tuple[Any, ...]


@dataclass
class _Script:
    """The peer's stream and what the engine should make of it."""

    data: bytearray = field(default_factory=bytearray)
    # The events expected, in order; an int is the code of the ProtocolError that ends it.
    expected: list[Any] = field(default_factory=list)
    exact: bool = True  # False once random bytes or edits make the outcome unpredictable
    ended: bool = False  # a close, a defect or a too-big message ends what can be predicted
    largest: int = 0  # the largest message sent, in bytes


def _frame(
    opcode: int,
    payload: bytes,
    *,
    masked: bool,
    fin: bool = True,
    rsv: int = 0,
    length_bytes: int | None = None,
) -> bytes:
    """One frame built by hand, valid or not (``rsv`` is the 3 RSV bits, RSV1 highest)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    mask_bit = 0x80 if masked else 0
    size = len(payload)
    if length_bytes is None:
        length_bytes = 0 if size < 126 else 2 if size < 65536 else 8
    if length_bytes == 0:
        head = bytes((first, mask_bit | size))
    elif length_bytes == 2:
        head = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, size)
    if not masked:
        return head + payload
    return head + _MASK + bytes(b ^ _MASK[i & 3] for i, b in enumerate(payload))


def _valid_text(src: Source, max_size: int) -> str:
    text = src.text(max_size)
    return text.encode("utf-8", "replace").decode("utf-8")


def _payload(src: Source) -> bytes:
    """A message body: usually short, now and then over 64 KiB (8-byte lengths)."""
    body = src.blob(300)
    if src.chance(24):
        body = (body or b"x") * (70_000 // max(len(body), 1) + 1)
    return body


class _Builder:
    """Writes a script for the peer of an engine."""

    def __init__(self, src: Source, kind: ConnectionType, compressed: bool, limit: int) -> None:
        self.src = src
        self.masked = kind is SERVER  # frames to a server are masked
        self.compressed = compressed
        self.limit = limit
        self.script = _Script()
        self.pings: dict[bytes, Any] = {}  # the engine's pings in flight: token

    def add(self, data: bytes, *expected: Any) -> None:
        self.script.data += data
        if not self.script.ended:
            self.script.expected.extend(expected)

    def fail(self, data: bytes, code: int) -> None:
        """A defect: the engine must answer ``code`` (unless something ended it before)."""
        self.add(data, code)
        self.script.ended = True

    def message(self, peer: Connection) -> None:
        src = self.src
        text = src.flag()
        value: str | bytes = _valid_text(src, 200) if text else _payload(src)
        if text and src.chance(24):
            value = str(value) * 300
        encoded = value.encode() if isinstance(value, str) else value
        parts = self._split(value, src.integer(1, 4))
        by_wsproto = self.compressed and src.flag()
        cumulative = 0
        self.script.largest = max(self.script.largest, len(encoded))
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            cumulative += len(part.encode() if isinstance(part, str) else part)
            if by_wsproto:
                event = (
                    TextMessage(data=part, message_finished=last)
                    if isinstance(part, str)
                    else BytesMessage(data=part, message_finished=last)
                )
                data = bytes(peer.send(event))
            else:
                body = part.encode() if isinstance(part, str) else part
                opcode = 0 if index else (1 if text else 2)
                data = _frame(opcode, body, masked=self.masked, fin=last)
            if cumulative > self.limit:
                self.fail(data, 1009)
                return
            self.add(data, *([value] if last else []))
            if not last and src.chance(3):
                self.control(peer)

    def _split(self, value: str | bytes, count: int) -> list[Any]:
        cuts = sorted(self.src.integer(0, len(value)) for _ in range(count - 1))
        return [value[a:b] for a, b in zip([0, *cuts], [*cuts, len(value)], strict=True)]

    def control(self, peer: Connection) -> None:
        src = self.src
        if self.pings and src.flag():
            payload = src.choice(list(self.pings))
            acked = []
            for key in list(self.pings):
                acked.append(self.pings.pop(key))
                if key == payload:
                    break
            self.add(bytes(peer.send(Pong(payload=payload))), _Pong(payload, tuple(acked)))
        elif src.flag():
            payload = src.blob(125)
            self.add(bytes(peer.send(Ping(payload=payload))), PingReceived(payload))
        else:
            payload = src.blob(125)
            if payload not in self.pings:  # unsolicited
                self.add(bytes(peer.send(Pong(payload=payload))), _Pong(payload, ()))

    def close(self, peer: Connection) -> None:
        src = self.src
        code = src.choice((None, 1000, 1001, 1003, 1007, 1008, 1011, 1012, 3000, 4000, 4999))
        reason = _valid_text(src, 40) if code is not None else None
        while reason and len(reason.encode()) > 123:
            reason = reason[:-1]
        data = bytes(
            peer.send(CloseConnection(code=code or CloseReason.NO_STATUS_RCVD, reason=reason))
        )
        self.add(data, CloseReceived(code or 1005, reason or None, answer=True))
        self.script.ended = True

    def defect(self) -> None:
        src = self.src
        masked = self.masked
        kind = src.integer(0, 13)
        small = src.blob(20)
        if kind == 0:
            self.fail(_frame(src.choice((3, 4, 5, 6, 7, 11, 12, 15)), small, masked=masked), 1002)
        elif kind == 1:
            self.fail(_frame(2, small, masked=masked, rsv=src.choice((1, 2, 3, 5, 7))), 1002)
        elif kind == 2 and not self.compressed:
            self.fail(_frame(2, small, masked=masked, rsv=4), 1002)
        elif kind == 2:
            self.fail(_frame(0, small, masked=masked, rsv=4), 1002)  # RSV1 on a continuation
        elif kind == 3:
            self.fail(_frame(0, small, masked=masked), 1002)  # continuation of nothing
        elif kind == 4:
            data = _frame(2, small, masked=masked, fin=False) + _frame(1, b"x", masked=masked)
            self.fail(data, 1009 if len(small) > self.limit else 1002)  # a message in a message
        elif kind == 5:
            self.fail(_frame(9, small, masked=masked, fin=False), 1002)  # fragmented ping
        elif kind == 6:
            self.fail(_frame(src.choice((8, 9, 10)), bytes(126), masked=masked), 1002)
        elif kind == 7:
            self.fail(_frame(2, small, masked=not masked), 1002)  # masking the wrong way
        elif kind == 8:
            self.fail(_frame(2, small, masked=masked, length_bytes=src.choice((2, 8))), 1002)
        elif kind == 9:
            head = bytes((0x82, (0x80 if masked else 0) | 127)) + b"\x80" + bytes(7)
            self.fail(head, 1002)  # a 64-bit length with the top bit set
        elif kind == 10:
            code = src.choice((0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535))
            payload = struct.pack("!H", code) if src.flag() else b"\x03"
            self.fail(_frame(8, payload, masked=masked), 1002)
        elif kind == 11:
            self.fail(_frame(8, b"\x03\xe8\xff\xfe", masked=masked), 1007)  # reason not UTF-8
        elif kind == 12:
            bad = small[:5] + src.choice((b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90"))
            frames = _frame(1, bad[:3], masked=masked, fin=False) + _frame(
                0, bad[3:], masked=masked
            )
            data = _frame(1, bad, masked=masked) if src.flag() else frames
            self.fail(data, 1009 if len(bad) > self.limit else 1007)
        elif self.compressed:
            self.fail(_frame(2, b"\xff\xff\xff\xff", masked=masked, rsv=4), 1007)
        else:
            self.fail(_frame(1, b"\xff", masked=masked), 1007 if self.limit else 1009)


class _Reference:
    """Plain wsproto fed the same chunks: messages assembled, the limit applied."""

    def __init__(self, kind: ConnectionType, deflate: LimitedDeflate | None, limit: int) -> None:
        self.proto = Connection(kind, extensions=[deflate] if deflate is not None else None)
        self.limit = limit
        self.events: list[Any] = []
        self.parts: list[Any] = []
        self.size = 0
        self.done = False

    def feed(self, chunk: bytes) -> None:
        if self.done:
            return
        proto = self.proto
        proto.receive_data(chunk)
        for event in proto.events():
            if isinstance(event, Message):
                data = event.data
                self.parts.append(data)
                self.size += len(
                    data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
                )
                if self.size > self.limit:
                    self.end(1009)
                    return
                if event.message_finished:
                    joiner: Any = "" if isinstance(event, TextMessage) else b""
                    self.events.append(joiner.join(self.parts))
                    self.parts, self.size = [], 0
            elif isinstance(event, Ping):
                self.events.append(PingReceived(bytes(event.payload)))
            elif isinstance(event, Pong):
                self.events.append(("pong", bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                if (
                    proto.state is ConnectionState.OPEN
                    or proto.state is ConnectionState.LOCAL_CLOSING
                ):
                    self.end(int(event.code))
                else:
                    self.end(("close", int(event.code), event.reason or None))
                return

    def end(self, last: Any) -> None:
        self.events.append(last)
        self.done = True


def _normalise(events: list[Any]) -> list[Any]:
    """Events in the model's terms: a ProtocolError is its code, a pong its payload."""
    out: list[Any] = []
    for event in events:
        if isinstance(event, ProtocolError):
            out.append(event.code)
        elif isinstance(event, (PongReceived, _Pong)):
            out.append(("pong", event.payload))
        elif isinstance(event, CloseReceived):
            out.append(("close", event.code, event.reason))
        else:
            out.append(event)
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 400 else text[:400] + "..."


def _same_outcome(got: list[Any], want: list[Any]) -> bool:
    if got == want:
        return True
    # A message both too big and invalid UTF-8 may be caught by either check first.
    return len(got) == len(want) and got[:-1] == want[:-1] and {got[-1], want[-1]} == {1007, 1009}


def _check_event(event: Event, limit: int) -> None:
    if isinstance(event, str):
        assert len(event.encode("utf-8")) <= limit, "a text message over the limit"
    elif isinstance(event, bytes):
        assert len(event) <= limit, "a binary message over the limit"
    elif isinstance(event, ProtocolError):
        assert event.code in _ERROR_CODES, f"ProtocolError with code {event.code}"
        assert event.reason is None or isinstance(event.reason, str)
    elif isinstance(event, CloseReceived):
        code = event.code
        assert code == 1005 or (1000 <= code <= 4999 and code not in (1004, 1006, 1015)), code
        assert code != 1005 or event.reason is None
    else:
        assert isinstance(event, (PingReceived, PongReceived)), f"unexpected event {event!r}"
        assert len(event.payload) <= 125


class _Outbound:
    """The engine's writes, parsed by the peer, against what was sent."""

    def __init__(self, peer: Connection) -> None:
        self.peer = peer
        self.expected: list[Any] = []

    def write(self, data: bytes, *expected: Any) -> None:
        self.peer.receive_data(data)
        self.expected.extend(expected)

    def check(self) -> None:
        got: list[Any] = []
        parts: list[Any] = []
        for event in self.peer.events():
            if isinstance(event, Message):
                parts.append(event.data)
                if event.message_finished:
                    got.append(("" if isinstance(event, TextMessage) else b"").join(parts))
                    parts = []
            elif isinstance(event, Ping):
                got.append(("ping", bytes(event.payload)))
            elif isinstance(event, Pong):
                got.append(("pong", bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                got.append(("close", int(event.code)))
        assert got == self.expected, (
            f"the peer read {_short(got)}, the engine sent {_short(self.expected)}"
        )


def _engine_target(data: bytes, kind: ConnectionType) -> None:
    src = Source(data)
    compressed = src.chance(3)
    limit = src.choice((16, 200, 1000, 1 << 20))
    max_frame_size = src.choice((4, 64, 65536))
    options = DeflateOptions(
        client_no_context_takeover=src.flag(),
        server_no_context_takeover=src.flag(),
        client_max_window_bits=src.choice((None, 9, 15)),
        server_max_window_bits=src.choice((None, 9, 15)),
        memory_level=src.choice((5, 1, 9)),
    )
    ours = reference = theirs = None
    if compressed:
        ours = LimitedDeflate.from_options(options, limit)
        reference = LimitedDeflate.from_options(options, limit)
        theirs = PerMessageDeflate()
        if kind is SERVER:  # as our server negotiates (12-bit windows by default)
            offer = f"permessage-deflate; {theirs.offer()}"
            ours, header = negotiate_deflate(options, [offer], limit)
            reference, _ = negotiate_deflate(options, [offer], limit)
            assert ours is not None and reference is not None and header is not None
            theirs.finalize(header.decode())
        else:
            answer = theirs.accept(str(ours.offer()))
            assert isinstance(answer, str)
            ours.finalize("permessage-deflate; " + answer)
            reference.finalize("permessage-deflate; " + answer)
    peer_kind = CLIENT if kind is SERVER else SERVER
    peer = Connection(peer_kind, extensions=[theirs] if theirs is not None else None)
    outbound = _Outbound(Connection(peer_kind, extensions=[theirs] if theirs else None))
    extensions: list[Extension] | None = [ours] if ours is not None else None
    # Half the time wsproto is made when first needed, as our server makes it.
    proto = partial(Connection, kind, extensions=extensions)
    engine = Engine(
        proto if src.chance(2) else proto(),
        max_message_size=limit,
        max_frame_size=max_frame_size,
        deflate=ours,
        client=kind is CLIENT,
    )
    builder = _Builder(src, kind, compressed, limit)
    for number in range(src.integer(0, 3)):  # the engine's pings, for the peer's pongs to answer
        payload = src.blob(8)
        if payload in builder.pings:
            continue
        payload, frame = engine.ping(payload, token=number)
        builder.pings[payload] = number
        outbound.write(frame, ("ping", payload))
    pings = dict(builder.pings)
    script = builder.script
    for _ in range(src.integer(1, 10)):
        action = src.integer(0, 15)
        if action <= 7:
            builder.message(peer)
        elif action <= 10:
            builder.control(peer)
        elif action == 11:
            builder.close(peer)
        elif action == 12:
            builder.defect()
        elif action == 13:
            script.data += src.blob(64)
            script.exact = False
        else:
            at = src.integer(0, len(script.data))
            script.data[at : at + 1] = src.blob(3)
            script.exact = False
        if script.ended:
            break
    stream = bytes(script.data)
    chunks = pieces(stream, src.cuts(len(stream), 12))
    oracle = _Reference(kind, reference, limit)
    if chunks and src.chance(4):
        # The first bytes came right behind the opening handshake: wsproto holds them and the
        # first receive(b"") reports them.
        engine = Engine(
            Connection(kind, extensions=[ours] if ours else None, trailing_data=chunks[0]),
            max_message_size=limit,
            max_frame_size=max_frame_size,
            deflate=ours,
        )
        for payload, number in pings.items():  # pings are sent after the handshake
            engine.ping(payload, token=number)
        chunks[0] = b""
        oracle.proto.receive_data(stream[: len(stream) - sum(map(len, chunks))])
    events: list[Event] = []
    finished = closed = False
    for chunk in chunks:
        oracle.feed(chunk)
        for event in engine.receive(chunk):
            assert not finished, f"{event!r} after the end"
            _check_event(event, limit)
            events.append(event)
            finished = isinstance(event, (CloseReceived, ProtocolError))
            if isinstance(event, CloseReceived):
                assert event.answer is not closed, f"{event!r} after our close: {closed}"
            _answer(engine, event, outbound)
        if finished:
            break
        if engine.state is ConnectionState.OPEN and src.chance(3):
            _send(src, engine, outbound)
        if engine.state is ConnectionState.OPEN and src.chance(12):
            outbound.write(engine.close(1000, "bye"), ("close", 1000))
            oracle.proto.send(CloseConnection(code=1000, reason="bye"))
            closed = True
    _check_api(engine, kind, compressed, outbound)
    outbound.check()
    got = _normalise(events)
    wsproto_events = oracle.events
    if not finished and wsproto_events and wsproto_events[-1] == 1007:
        # wsproto finds invalid UTF-8 in a text frame still arriving; the fast path decodes a
        # plain frame once it is complete: a frame cut off by the end of the input is undecided.
        wsproto_events = wsproto_events[: len(got)]
    assert _same_outcome(got, wsproto_events), (
        f"the engine's events differ from wsproto's: {_short(got)} != {_short(oracle.events)}"
    )
    if script.exact:
        want = _normalise(script.expected)
        if not finished:
            # The stream may end inside what the model expected: compare what arrived.
            want = want[: len(got)]
        assert _same_outcome(got, want), f"expected {_short(want)}, got {_short(got)}"
        for event, model in zip(events, script.expected, strict=False):
            if isinstance(model, _Pong):
                assert isinstance(event, PongReceived), f"{event!r} for {model!r}"
                assert event.acked == model.acked, f"{event!r} for {model!r}"


def _check_api(engine: Engine, kind: ConnectionType, compressed: bool, outbound: _Outbound) -> None:
    """The rest of the engine's calls, in whatever state the input left it."""
    assert engine.is_client is (kind is CLIENT)
    assert engine.compression is compressed
    if engine.state is ConnectionState.OPEN:
        payload, frame = engine.ping(None, token="last")
        outbound.write(frame, ("ping", payload))
        assert engine.in_flight(payload) and engine.pings()[-1] == "last"
        for bad in (payload, bytes(126)):
            try:
                engine.ping(bad)
            except ValueError:
                pass
            else:
                raise AssertionError(f"ping({_short(bad)}) was sent")
        engine.forget_ping(payload)
        assert not engine.in_flight(payload) and "last" not in engine.pings()
    else:
        assert engine.pong(b"late") == b"", "a pong after the close"
    if engine.state in (ConnectionState.LOCAL_CLOSING, ConnectionState.CLOSED):
        assert engine.close(1000) == b"", "a second close frame"


def _answer(engine: Engine, event: Event, outbound: _Outbound) -> None:
    """Answer ``event`` as :mod:`wsframework.connection` does."""
    if isinstance(event, PingReceived) and engine.state is ConnectionState.OPEN:
        outbound.write(engine.pong(event.payload), ("pong", event.payload))
    elif isinstance(event, CloseReceived) and event.answer:
        data = engine.close(event.code, event.reason)
        assert data, "no close frame to answer the peer's close"
        outbound.write(data, ("close", 1000 if event.code == 1005 else event.code))
    elif isinstance(event, ProtocolError) and engine.state is ConnectionState.OPEN:
        outbound.write(engine.close(event.code, event.reason), ("close", event.code))


def _send(src: Source, engine: Engine, outbound: _Outbound) -> None:
    """Send a message (or a prepared one) as the connection layer would."""
    message: str | bytes = _valid_text(src, 100) if src.flag() else _payload(src)
    if src.chance(3):
        frame = engine.prepared_frame(PreparedMessage(message))
        if frame is not None:
            outbound.write(frame[0] + frame[1], message)
            return
    head, body = engine.send_message(message, compress=src.flag())
    outbound.write(head + body, message)


def engine_server(data: bytes) -> None:
    """Fuzz target: a server engine reading a client's frames."""
    _engine_target(data, SERVER)


def engine_client(data: bytes) -> None:
    """Fuzz target: a client engine reading a server's frames."""
    _engine_target(data, CLIENT)
