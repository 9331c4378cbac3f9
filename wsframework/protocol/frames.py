"""Encoding of unfragmented, uncompressed data frames (RFC 6455 section 5.2), sans-I/O.

The connection sends every data message it does not compress through here instead of through
wsproto: no event object, no intermediate bytearrays, and the payload is handed to ``writev``
unchanged (servers do not mask), so a 1 MiB message is never copied. Control frames and
compressed messages still go through wsproto, whose outbound state this never touches (it keeps
state only for fragmented or compressed messages, which are not sent here).
"""

from __future__ import annotations

import os
import struct

from .masking import apply_mask

__all__ = ["encode_data_frame"]

_TEXT, _BINARY = 0x81, 0x82  # FIN set, RSV clear, opcode 1 or 2
_TWO_BYTE, _EIGHT_BYTE = struct.Struct("!BBH"), struct.Struct("!BBQ")


def encode_data_frame(payload: bytes, text: bool, mask: bool) -> tuple[bytes, bytes]:
    """The frame header (with the masking key when ``mask``) and the body to send after it.

    Args:
        payload: the message, UTF-8 encoded for text.
        text: opcode 1 (text) rather than 2 (binary).
        mask: mask the payload with a fresh random key, as clients must.
    """
    first = _TEXT if text else _BINARY
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        header = bytes((first, length | mask_bit))
    elif length < 65536:
        header = _TWO_BYTE.pack(first, 126 | mask_bit, length)
    else:
        header = _EIGHT_BYTE.pack(first, 127 | mask_bit, length)
    if not mask:
        return header, payload
    key = os.urandom(4)
    if apply_mask is None:  # pragma: no cover - only without the C speedup
        body = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    else:
        body = apply_mask(payload, key)
    return header + key, body
