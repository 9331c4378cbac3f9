"""The header of a final, uncompressed data frame (RFC 6455 section 5.2): opcode and length.

Pure stdlib, so that code which never touches wsproto (the connection interface's
:class:`~wsframework.interface.PreparedMessage`) can frame a message.
"""

from __future__ import annotations

import struct

__all__ = ["frame_header"]

_TEXT, _BINARY = 0x81, 0x82  # FIN set, RSV clear, opcode 1 or 2
_TWO_BYTE, _EIGHT_BYTE = struct.Struct("!BBH"), struct.Struct("!BBQ")


def frame_header(length: int, text: bool, mask: bool, compressed: bool = False) -> bytes:
    """The header of a final data frame of ``length`` payload bytes, without the masking key
    (``mask`` only sets the mask bit; the caller appends the key). ``compressed`` sets RSV1,
    permessage-deflate's mark of a compressed message."""
    first = _TEXT if text else _BINARY
    if compressed:
        first |= 0x40
    mask_bit = 0x80 if mask else 0
    if length < 126:
        return bytes((first, length | mask_bit))
    if length < 65536:
        return _TWO_BYTE.pack(first, 126 | mask_bit, length)
    return _EIGHT_BYTE.pack(first, 127 | mask_bit, length)
