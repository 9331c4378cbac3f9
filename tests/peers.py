"""Scripted protocol peers (real wsproto/h11 engines) over in-memory trio streams."""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import trio
import trio.testing
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.events import Event, RejectData


class ScriptedPeer:
    """A wsproto endpoint driven step by step by a test."""

    def __init__(self, stream: trio.abc.Stream, kind: ConnectionType) -> None:
        self.stream = stream
        self.ws = WSConnection(kind)
        self._pending: list[Event] = []
        self.eof = False

    async def send(self, event: Event) -> None:
        await self.stream.send_all(self.ws.send(event))

    async def send_raw(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def next_event(self, timeout: float = 5) -> Event | None:
        """The next event, or None at EOF."""
        with trio.fail_after(timeout):
            while not self._pending:
                if self.eof:
                    return None
                data = await self.stream.receive_some(65536)
                if not data:
                    self.eof = True
                else:
                    self.ws.receive_data(data)
                self._pending.extend(self.ws.events())
            return self._pending.pop(0)

    async def expect(self, cls: type[Any], timeout: float = 5) -> Any:
        event = await self.next_event(timeout)
        assert isinstance(event, cls), f"expected {cls.__name__}, got {event!r}"
        return event

    async def rejection_body(self, event: Any) -> bytes:
        """The whole body of the refusal ``event`` (a ``RejectConnection``) announced."""
        body = b""
        if event.has_body:
            while True:
                data = await self.expect(RejectData)
                body += data.data
                if data.body_finished:
                    break
        return body

    async def read_until_eof(self, timeout: float = 5) -> bytes:
        out = bytearray()
        with trio.fail_after(timeout):
            while True:
                data = await self.stream.receive_some(65536)
                if not data:
                    return bytes(out)
                out += data


def stream_pair() -> tuple[trio.abc.Stream, trio.abc.Stream]:
    a, b = trio.testing.memory_stream_pair()
    return a, b


# ---------------------------------------------------------------------- raw frames and HTTP

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
DEFAULT_MASK = b"\x37\xfa\x21\x3d"


def build_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bytes | None = DEFAULT_MASK,
    length_bytes: int | None = None,
) -> bytes:
    """One hand-built WebSocket frame, valid or not.

    ``mask=None`` sends it unmasked (as a server would); ``length_bytes`` forces the 2 or 8 byte
    extended length encoding even where a shorter one would do (which RFC 6455 forbids).
    """
    first = (fin << 7) | (rsv1 << 6) | (rsv2 << 5) | (rsv3 << 4) | (opcode & 0x0F)
    mask_bit = 0x80 if mask is not None else 0
    n = len(payload)
    if length_bytes is None:
        length_bytes = 0 if n < 126 else 2 if n < 2**16 else 8
    if length_bytes == 0:
        head = struct.pack("!BB", first, mask_bit | n)
    elif length_bytes == 2:
        head = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, n)
    if mask is None:
        return head + payload
    return head + mask + apply_mask(payload, mask)


def apply_mask(data: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def deflate_raw(data: bytes, *, tail: bool = False) -> bytes:
    """``data`` compressed as one permessage-deflate message (RFC 7692 7.2.1).

    ``tail=True`` keeps the trailing ``00 00 ff ff`` (for all but the last fragment).
    """
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return out if tail else out[:-4]


@dataclass
class RawFrame:
    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool
    opcode: int
    masked: bool
    payload: bytes

    @property
    def close_code(self) -> int | None:
        assert self.opcode == OP_CLOSE
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self) -> str:
        return self.payload[2:].decode("utf-8")


def parse_frame(buf: bytearray) -> RawFrame | None:
    """Take one whole frame off the front of ``buf`` (unmasking it), or None if incomplete."""
    if len(buf) < 2:
        return None
    b0, b1 = buf[0], buf[1]
    n = b1 & 0x7F
    pos = 2
    if n == 126:
        if len(buf) < 4:
            return None
        (n,) = struct.unpack("!H", buf[2:4])
        pos = 4
    elif n == 127:
        if len(buf) < 10:
            return None
        (n,) = struct.unpack("!Q", buf[2:10])
        pos = 10
    masked = bool(b1 & 0x80)
    key = b""
    if masked:
        if len(buf) < pos + 4:
            return None
        key = bytes(buf[pos : pos + 4])
        pos += 4
    if len(buf) < pos + n:
        return None
    payload = bytes(buf[pos : pos + n])
    del buf[: pos + n]
    if masked:
        payload = apply_mask(payload, key)
    return RawFrame(
        fin=bool(b0 & 0x80),
        rsv1=bool(b0 & 0x40),
        rsv2=bool(b0 & 0x20),
        rsv3=bool(b0 & 0x10),
        opcode=b0 & 0x0F,
        masked=masked,
        payload=payload,
    )


class RawPeer:
    """A byte-level endpoint: HTTP heads and hand-built frames, no protocol engine."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buffer = bytearray()
        self.eof = False

    async def _fill(self) -> bool:
        data = await self.stream.receive_some(65536)
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    async def read_head(self, timeout: float = 5) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """Read an HTTP request or response head: (start line, [(lower name, value)])."""
        with trio.fail_after(timeout):
            while b"\r\n\r\n" not in self.buffer:
                if not await self._fill():
                    raise EOFError(f"EOF inside an HTTP head: {bytes(self.buffer)!r}")
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        self.buffer = bytearray(rest)
        start, *lines = head.split(b"\r\n")
        headers = []
        for line in lines:
            name, _, value = line.partition(b":")
            headers.append((name.strip().lower(), value.strip()))
        return start, headers

    async def handshake(
        self, path: str = "/", extra: bytes = b"", timeout: float = 5
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """Send a valid client upgrade request and read the response head."""
        await self.stream.send_all(client_request(path, extra=extra))
        return await self.read_head(timeout)

    async def next_frame(self, timeout: float = 5) -> RawFrame | None:
        """The next frame, or None at a clean EOF."""
        with trio.fail_after(timeout):
            while True:
                frame = parse_frame(self.buffer)
                if frame is not None:
                    return frame
                if self.eof or not await self._fill():
                    assert not self.buffer, f"EOF inside a frame: {bytes(self.buffer)!r}"
                    return None

    async def read_to_eof(self, timeout: float = 5) -> bytes:
        with trio.fail_after(timeout):
            while not self.eof and await self._fill():
                pass
        out, self.buffer = bytes(self.buffer), bytearray()
        return out


SAMPLE_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def client_request(path: str = "/", *, key: bytes = SAMPLE_KEY, extra: bytes = b"") -> bytes:
    return (
        b"GET " + path.encode() + b" HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\n" + extra + b"\r\n"
    )


def accept_token(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())


def switching_response(key: bytes, *, accept: bytes | None = None, extra: bytes = b"") -> bytes:
    """A raw ``101`` response for the client key (``accept`` overrides the token)."""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: "
        + (accept if accept is not None else accept_token(key))
        + b"\r\n"
        + extra
        + b"\r\n"
    )


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for n, v in headers:
        if n == name:
            return v
    return None


def script_stream(script: list[tuple[str, Any]]) -> tuple[bytes, list[tuple[str, Any]]]:
    """Client frames for a script of ``(kind, value)`` steps (``"text"``, ``"binary"``,
    ``"fragmented"`` binary in two frames, ``"ping"``), and what a receiver must report, in
    order: ``("message", value)`` or ``("ping", payload)``."""
    out = bytearray()
    seen: list[tuple[str, Any]] = []
    for kind, value in script:
        if kind == "text":
            out += build_frame(OP_TEXT, value.encode())
        elif kind == "binary":
            out += build_frame(OP_BINARY, value)
        elif kind == "fragmented":
            half = len(value) // 2
            out += build_frame(OP_BINARY, value[:half], fin=False)
            out += build_frame(OP_CONT, value[half:])
        else:
            assert kind == "ping", kind
            out += build_frame(OP_PING, value)
            seen.append(("ping", value))
            continue
        seen.append(("message", value))
    return bytes(out), seen


def scripts(
    *, max_text: int, max_binary: int, max_fragmented: int, max_steps: int
) -> st.SearchStrategy[list[tuple[str, Any]]]:
    """Hypothesis scripts for :func:`script_stream`."""
    return st.lists(
        st.one_of(
            st.tuples(st.just("text"), st.text(max_size=max_text)),
            st.tuples(st.just("binary"), st.binary(max_size=max_binary)),
            st.tuples(st.just("fragmented"), st.binary(min_size=2, max_size=max_fragmented)),
            st.tuples(st.just("ping"), st.binary(max_size=125)),
        ),
        max_size=max_steps,
    )
