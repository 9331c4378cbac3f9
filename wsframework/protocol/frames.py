"""Unfragmented, uncompressed data frames and close frames (RFC 6455 5.2, 5.5.1), sans-I/O.

Sending: the connection sends every data message it does not compress through
:func:`encode_data_frame` instead of through wsproto: no event object, no intermediate
bytearrays, and the payload is handed to ``writev`` unchanged (servers do not mask), so a 1 MiB
message is never copied. Control frames still go through wsproto, whose outbound state this
never touches (it keeps state only for fragmented messages, which the engine never sends, and
the compressor, which it shares with the engine).

Receiving: while wsproto holds no partial frame or message, the connection takes the *plain*
frames (:func:`parse_data_frame`) off the front of what it reads and hands wsproto only the
rest, from the first frame that is not plain. wsproto keeps no state between whole uncompressed
messages (permessage-deflate's is reset at the end of each message), so skipping them leaves it
exactly as if it had parsed them.

Compressed messages: while wsproto holds nothing, the engine also takes a whole compressed
message in one final frame (``parse_data_frame(..., compressed=True)``) and sends every
compressed message as one (``encode_data_frame(..., compressed=True)``); the payloads go through the
negotiated extension's own zlib objects
(:meth:`~wsframework.protocol.deflate.LimitedDeflate.inflate_message`,
:meth:`~wsframework.protocol.deflate.LimitedDeflate.deflate_message`), which wsproto shares.

Close frames: every connection ends with one each way, and the engine reads and writes them
here (:func:`parse_close_frame`, :func:`encode_close_frame`) while wsproto was never needed, so
a connection that only ever exchanged plain messages never builds wsproto at all. A close frame
wsproto would refuse (bad code, bad UTF-8, a one-byte payload) is left to wsproto, which words
the error.
"""

from __future__ import annotations

import os
import struct

from .close import RECEIVABLE_CODES
from .header import frame_header
from .masking import xor_mask

__all__ = [
    "NEED_MORE",
    "NOT_PLAIN",
    "encode_close_frame",
    "encode_data_frame",
    "parse_close_frame",
    "parse_data_frame",
]

_TEXT, _BINARY = 0x81, 0x82  # FIN set, RSV clear, opcode 1 or 2
_CLOSE = 0x88  # FIN set, RSV clear, opcode 8
_RSV1 = 0x40  # permessage-deflate's mark of a compressed message
_LENGTH64 = struct.Struct("!Q")
_CODE = struct.Struct("!H")
_MAX_REASON = 123  # a control frame's payload is at most 125 bytes, 2 of them the code


def encode_data_frame(
    payload: bytes, text: bool, mask: bool, compressed: bool = False
) -> tuple[bytes, bytes]:
    """The frame header (with the masking key when ``mask``) and the body to send after it.

    Args:
        payload: the message, UTF-8 encoded for text.
        text: opcode 1 (text) rather than 2 (binary).
        mask: mask the payload with a fresh random key, as clients must.
        compressed: set RSV1: ``payload`` is a deflated message, its ``00 00 ff ff`` tail
            removed (permessage-deflate).
    """
    header = frame_header(len(payload), text, mask, compressed)
    if not mask:
        return header, payload
    key = os.urandom(4)
    return header + key, xor_mask(payload, key)


#: :func:`parse_data_frame` results other than an end offset.
NEED_MORE = -1  # the frame at ``pos`` is plain but not all of it has arrived
NOT_PLAIN = -2  # anything else: a control or fragmented or compressed or bad or too big frame

_NO_PAYLOAD = b""


def parse_data_frame(
    data: bytes | bytearray, pos: int, masked: bool, limit: int, compressed: bool = False
) -> tuple[int, bool, bytes]:
    """Parse the frame at ``data[pos:]`` if it is a *plain* data frame (``compressed``: a
    plain one but for RSV1, which must then be set: a whole permessage-deflate message, whose
    payload is returned still compressed).

    Plain means: FIN set, RSV bits clear, opcode text or binary, masked exactly when ``masked``
    (frames from clients are, frames from servers are not), a minimally encoded length of at
    most ``limit`` bytes. Those frames, unfragmented and uncompressed messages, are nearly all
    the traffic, and parsing them here costs a fraction of what wsproto's general parser does.
    Everything else is left to wsproto, which also reports every protocol error, so this
    function never has to decide what is an error.

    Returns:
        ``(end, text, payload)``: the offset just past the frame, whether it is a text frame,
        and the unmasked payload (not yet UTF-8 decoded). Instead of an offset, ``end`` is
        :data:`NEED_MORE` when a plain frame has only partly arrived, or :data:`NOT_PLAIN`.
    """
    available = len(data) - pos
    if available < 2:
        return NEED_MORE, False, _NO_PAYLOAD
    first = data[pos]
    if compressed:
        first ^= _RSV1  # set: cleared, and checked as a plain frame's; clear: refused
    if first != _TEXT and first != _BINARY:
        return NOT_PLAIN, False, _NO_PAYLOAD
    second = data[pos + 1]
    if bool(second & 0x80) is not masked:
        return NOT_PLAIN, False, _NO_PAYLOAD
    length = second & 0x7F
    head = pos + 2
    if length == 126:
        if available < 4:
            return NEED_MORE, False, _NO_PAYLOAD
        length = (data[head] << 8) | data[head + 1]
        if length < 126:
            return NOT_PLAIN, False, _NO_PAYLOAD
        head += 2
    elif length == 127:
        if available < 10:
            return NEED_MORE, False, _NO_PAYLOAD
        length = _LENGTH64.unpack_from(data, head)[0]
        if length < 65536 or length >> 63:
            return NOT_PLAIN, False, _NO_PAYLOAD
        head += 8
    if length > limit:
        return NOT_PLAIN, False, _NO_PAYLOAD
    end = head + length + (4 if masked else 0)
    if end > pos + available:
        return NEED_MORE, False, _NO_PAYLOAD
    if masked:
        key = bytes(data[head : head + 4])
        payload = xor_mask(memoryview(data)[head + 4 : end], key)
    else:
        payload = bytes(data[head:end])
    return end, first == _TEXT, payload


def parse_close_frame(
    data: bytes | bytearray, pos: int, masked: bool
) -> tuple[int, int, str | None]:
    """Parse the frame at ``data[pos:]`` if it is a close frame wsproto would accept.

    That is: FIN set, RSV bits clear, masked exactly when ``masked``, a payload of at most 125
    bytes that is empty or a receivable code (:data:`~wsframework.protocol.close.RECEIVABLE_CODES`
    or 3000-4999) followed by valid UTF-8.

    Returns:
        ``(end, code, reason)``: the offset just past the frame, the code (1005 for an empty
        payload, as wsproto reports it) and the reason (``None`` when empty). Instead of an
        offset, ``end`` is :data:`NEED_MORE` when such a frame has only partly arrived, or
        :data:`NOT_PLAIN` for any other frame.
    """
    available = len(data) - pos
    if available < 2:
        return NEED_MORE, 0, None
    second = data[pos + 1]
    length = second & 0x7F
    if data[pos] != _CLOSE or bool(second & 0x80) is not masked or length > 125 or length == 1:
        return NOT_PLAIN, 0, None
    head = pos + 2
    end = head + length + (4 if masked else 0)
    if end > pos + available:
        return NEED_MORE, 0, None
    if not length:
        return end, 1005, None
    if masked:
        payload = xor_mask(memoryview(data)[head + 4 : end], bytes(data[head : head + 4]))
    else:
        payload = bytes(data[head:end])
    code = _CODE.unpack_from(payload)[0]
    if code not in RECEIVABLE_CODES and not 3000 <= code <= 4999:
        return NOT_PLAIN, 0, None
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        return NOT_PLAIN, 0, None
    return end, code, reason or None


def encode_close_frame(code: int, reason: str | None, mask: bool) -> bytes:
    """The close frame wsproto would send for ``code`` and ``reason``: the reason cut to 123
    bytes at a character boundary, masked with a fresh key when ``mask``.

    ``code`` must be one wsproto sends as given: not 1005, 1006 or 1015 (wsproto sends no code
    or 1000 for those; :meth:`Engine.close <wsframework.protocol.engine.Engine.close>` leaves
    them to wsproto).
    """
    payload = _CODE.pack(code)
    if reason:
        text = reason.encode("utf-8")
        if len(text) > _MAX_REASON:
            text = text[:_MAX_REASON].decode("utf-8", "ignore").encode("utf-8")
        payload += text
    if not mask:
        return bytes((_CLOSE, len(payload))) + payload
    key = os.urandom(4)
    return bytes((_CLOSE, 0x80 | len(payload))) + key + xor_mask(payload, key)
