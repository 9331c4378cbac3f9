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
from collections.abc import Sequence

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits

from .deflate_options import DEFAULT_DEFLATE, DeflateOptions, parse_offer

__all__ = ["DEFAULT_DEFLATE", "DeflateOptions", "LimitedDeflate", "negotiate_deflate"]


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


def negotiate_deflate(
    options: DeflateOptions | None, offers: Sequence[str], max_message_size: int
) -> tuple[LimitedDeflate | None, bytes | None]:
    """Accept the first valid permessage-deflate offer of ``offers`` (the client's
    ``Sec-WebSocket-Extensions`` entries, in order); ``(extension, response header)``, or
    ``(None, None)`` to answer without the extension.

    An invalid offer (:func:`~wsframework.protocol.deflate_options.parse_offer`) is declined
    and the next one considered, as RFC 7692 section 5 asks; so is a valid offer of
    ``server_max_window_bits=8``, which zlib cannot honour (its smallest raw window is 9).
    ``client_max_window_bits=8`` is accepted and left out of the answer: the client keeps its
    8-bit window, which our larger one inflates.
    """
    if options is None:
        return None, None
    for offer in offers:
        try:
            params = parse_offer(offer)
        except ValueError:
            continue
        if params.get("server_max_window_bits") == 8:
            continue
        if params.get("client_max_window_bits") == 8:
            del params["client_max_window_bits"]
        # wsproto reads the offer loosely: hand it the checked parameters, normalised.
        normalised = "; ".join(
            ["permessage-deflate"]
            + [name if value is None else f"{name}={value}" for name, value in params.items()]
        )
        extension = LimitedDeflate.from_options(options, max_message_size)
        accepted = extension.accept(normalised)
        if not isinstance(accepted, str):  # pragma: no cover - a checked offer is accepted
            continue
        header = "permessage-deflate" + (f"; {accepted}" if accepted else "")
        return extension, header.encode()
    return None, None


#: Compression is on by default, with the RFC defaults (15-bit windows, context takeover).
