"""permessage-deflate (RFC 7692) settings, on top of wsproto's extension.

What wsproto's :class:`~wsproto.extensions.PerMessageDeflate` does not do and we need: bound
inflation. A small compressed frame can inflate to gigabytes, so inflation stops as soon as the
message would exceed ``max_message_size`` and the connection is closed with 1009.

(A message sent with ``send_message(data, compress=False)`` does not pass through here at all:
RFC 7692 lets any message go out with RSV1 clear, and ``protocol/frames.py`` encodes it without
touching the compressor's context.)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits

__all__ = ["DEFAULT_DEFLATE", "DeflateOptions", "LimitedDeflate"]


@dataclass(frozen=True)
class DeflateOptions:
    """permessage-deflate parameters (RFC 7692 section 7.1).

    Attributes:
        client_no_context_takeover: ask the client to reset its compressor after each message.
        server_no_context_takeover: reset the server's compressor after each message.
        client_max_window_bits: LZ77 window of the client's compressor (9-15).
        server_max_window_bits: LZ77 window of the server's compressor (9-15).
    """

    client_no_context_takeover: bool = False
    server_no_context_takeover: bool = False
    client_max_window_bits: int | None = None
    server_max_window_bits: int | None = None

    def __post_init__(self) -> None:
        for name in ("client_max_window_bits", "server_max_window_bits"):
            bits = getattr(self, name)
            if bits is not None and not 9 <= bits <= 15:
                raise ValueError(f"{name} must be between 9 and 15, got {bits}")

    def extension(self, max_message_size: int) -> LimitedDeflate:
        """A fresh extension object for one connection."""
        return LimitedDeflate(
            max_message_size,
            client_no_context_takeover=self.client_no_context_takeover,
            client_max_window_bits=self.client_max_window_bits,
            server_no_context_takeover=self.server_no_context_takeover,
            server_max_window_bits=self.server_max_window_bits,
        )


class LimitedDeflate(PerMessageDeflate):
    """wsproto's permessage-deflate with an inflation limit and per-message opt-out."""

    def __init__(
        self,
        max_message_size: int,
        *,
        client_no_context_takeover: bool = False,
        client_max_window_bits: int | None = None,
        server_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
    ) -> None:
        super().__init__(
            client_no_context_takeover=client_no_context_takeover,
            client_max_window_bits=client_max_window_bits,
            server_no_context_takeover=server_no_context_takeover,
            server_max_window_bits=server_max_window_bits,
        )
        self.max_message_size = max_message_size
        self._inflated = 0

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        if opcode is not Opcode.CONTINUATION and not opcode.iscontrol():
            self._inflated = 0
        return super().frame_inbound_header(proto, opcode, rsv, payload_length)

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if not self._inbound_compressed or not self._inbound_is_compressible:
            return data
        assert self._decompressor is not None
        budget = self.max_message_size - self._inflated + 1
        try:
            out = self._decompressor.decompress(bytes(data), budget)
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        self._inflated += len(out)
        if self._decompressor.unconsumed_tail or self._inflated > self.max_message_size:
            return CloseReason.MESSAGE_TOO_BIG
        return out


#: Compression is on by default, with the RFC defaults (15-bit windows, context takeover).
DEFAULT_DEFLATE = DeflateOptions()
