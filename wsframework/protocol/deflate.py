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

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits

from .deflate_options import DEFAULT_DEFLATE, DeflateOptions

__all__ = ["DEFAULT_DEFLATE", "DeflateOptions", "LimitedDeflate"]


class LimitedDeflate(PerMessageDeflate):
    """wsproto's permessage-deflate with an inflation limit and per-message opt-out."""

    @classmethod
    def from_options(cls, options: DeflateOptions, max_message_size: int) -> LimitedDeflate:
        """A fresh extension object for one connection, offering or accepting ``options``."""
        return cls(
            max_message_size,
            client_no_context_takeover=options.client_no_context_takeover,
            client_max_window_bits=options.client_max_window_bits,
            server_no_context_takeover=options.server_no_context_takeover,
            server_max_window_bits=options.server_max_window_bits,
        )

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
        self._control = False  # the frame being read is a control frame

    def frame_inbound_header(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        payload_length: int,
    ) -> CloseReason | RsvBits:
        # A control frame may come between the fragments of a compressed message (RFC 6455
        # 5.4). It is never compressed and must leave the message's inflation state alone:
        # wsproto's own handling forgets that the message is compressed, and its remaining
        # fragments would be delivered still deflated.
        self._control = opcode.iscontrol()
        if self._control:
            return CloseReason.PROTOCOL_ERROR if rsv.rsv1 else RsvBits(False, False, False)
        if opcode is not Opcode.CONTINUATION:
            self._inflated = 0
        return super().frame_inbound_header(proto, opcode, rsv, payload_length)

    def frame_inbound_payload_data(
        self, proto: FrameDecoder | FrameProtocol, data: bytes
    ) -> bytes | CloseReason:
        if self._control or not self._inbound_compressed or not self._inbound_is_compressible:
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

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        if self._control:
            return None
        return super().frame_inbound_complete(proto, fin)


#: Compression is on by default, with the RFC defaults (15-bit windows, context takeover).
