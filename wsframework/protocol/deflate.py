"""permessage-deflate (RFC 7692) settings, on top of wsproto's extension.

What wsproto's :class:`~wsproto.extensions.PerMessageDeflate` does not do and we need: bound
inflation. A small compressed frame can inflate to gigabytes, so it is inflated in steps of
:data:`INFLATE_STEP` bytes, inflation stops at the first byte over ``max_message_size`` (counted
across the frames of a message) and the connection is closed with 1009: a bomb costs at most
the limit and one step. Also here: :func:`negotiate_deflate`, which declines invalid offers
and picks the windows (12 bits by default, see ``DeflateOptions``), and our compressor's zlib
``memLevel`` (``DeflateOptions.memory_level``; wsproto's would be zlib's default, 8).

The engine reads and sends whole compressed messages without wsproto, through
:meth:`LimitedDeflate.inflate_message` and :meth:`LimitedDeflate.deflate_message`: the same
steps as the frame hooks take for one final frame, on the same zlib objects (the engine and
wsproto hold this one extension object; see ``engine.py`` for the invariant).

(A message sent with ``send_message(data, compress=False)`` does not pass through here at all:
RFC 7692 lets any message go out with RSV1 clear, and ``protocol/frames.py`` encodes it without
touching the compressor's context.)
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import CloseReason, FrameDecoder, FrameProtocol, Opcode, RsvBits

from .deflate_options import DEFAULT_DEFLATE, SERVER_WINDOW_BITS, DeflateOptions, parse_offer

__all__ = [
    "DEFAULT_DEFLATE",
    "INFLATE_STEP",
    "DeflateOptions",
    "LimitedDeflate",
    "negotiate_deflate",
]

#: The most one inflation step produces: a compressed message is inflated this much at a time,
#: and the limit checked after each step.
INFLATE_STEP = 64 * 1024


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
            memory_level=options.memory_level,
        )

    def __init__(
        self,
        max_message_size: int,
        *,
        client_no_context_takeover: bool = False,
        client_max_window_bits: int | None = None,
        server_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        memory_level: int = DEFAULT_DEFLATE.memory_level,
    ) -> None:
        super().__init__(
            client_no_context_takeover=client_no_context_takeover,
            client_max_window_bits=client_max_window_bits,
            server_no_context_takeover=server_no_context_takeover,
            server_max_window_bits=server_max_window_bits,
        )
        self.max_message_size = max_message_size
        self.memory_level = memory_level
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
        return self._inflate(self._decompressor, bytes(data))

    def frame_inbound_complete(
        self, proto: FrameDecoder | FrameProtocol, fin: bool
    ) -> bytes | CloseReason | None:
        if self._control:
            return None
        # wsproto inflates the 4 bytes of RFC 7692's tail here, unbounded; nothing is pending
        # after _inflate, so this yields nothing, but it is counted all the same.
        result = super().frame_inbound_complete(proto, fin)
        if isinstance(result, bytes) and result:
            self._inflated += len(result)
            if self._inflated > self.max_message_size:
                return CloseReason.MESSAGE_TOO_BIG
        return result

    def frame_outbound(
        self,
        proto: FrameDecoder | FrameProtocol,
        opcode: Opcode,
        rsv: RsvBits,
        data: bytes,
        fin: bool,
    ) -> tuple[RsvBits, bytes]:
        # wsproto makes its compressor with zlib's default memLevel: make ours first.
        if self._compressor is None and (opcode is Opcode.TEXT or opcode is Opcode.BINARY):
            self._compressor = self._new_compressor(proto.client)
        return super().frame_outbound(proto, opcode, rsv, data, fin)

    # The engine's native path: one whole message at a time, the same steps as the hooks above
    # (wsproto's and ours) take for a single final frame, on the same zlib objects.

    def deflate_message(self, data: bytes, client: bool) -> bytes:
        """The payload of one compressed message (RSV1 set, one final frame): ``data``
        deflated with the connection's compressor, the ``00 00 ff ff`` tail removed; the
        compressor is dropped afterwards under no_context_takeover, as wsproto does."""
        compressor = self._compressor
        if compressor is None:
            compressor = self._compressor = self._new_compressor(client)
        out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if self.client_no_context_takeover if client else self.server_no_context_takeover:
            self._compressor = None
        return out[:-4]

    def inflate_message(self, payload: bytes, client: bool) -> bytes | CloseReason:
        """The message of one compressed final frame (the peer's ``payload``), inflated with
        the connection's decompressor within ``max_message_size``; ``MESSAGE_TOO_BIG`` past
        it, ``INVALID_FRAME_PAYLOAD_DATA`` for data zlib cannot inflate. Call only between
        messages (no fragmented message begun)."""
        self._inflated = 0
        decompressor = self._decompressor
        if decompressor is None:
            bits = self.server_max_window_bits if client else self.client_max_window_bits
            decompressor = self._decompressor = zlib.decompressobj(-int(bits))
        data = self._inflate(decompressor, payload)
        if not isinstance(data, bytes):
            return data
        try:  # as wsproto's frame_inbound_complete
            tail = decompressor.decompress(b"\x00\x00\xff\xff") + decompressor.flush()
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        if tail:
            self._inflated += len(tail)
            if self._inflated > self.max_message_size:
                return CloseReason.MESSAGE_TOO_BIG
            data += tail
        if self.server_no_context_takeover if client else self.client_no_context_takeover:
            self._decompressor = None
        return data

    def _new_compressor(self, client: bool) -> zlib._Compress:
        bits = self.client_max_window_bits if client else self.server_max_window_bits
        return zlib.compressobj(
            zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -int(bits), self.memory_level
        )

    def _inflate(self, decompressor: zlib._Decompress, data: bytes) -> bytes | CloseReason:
        """Inflate ``data`` in steps of at most :data:`INFLATE_STEP` bytes, stopping as soon as
        the message passes ``max_message_size``: a bomb leaves at most that many bytes plus
        one step behind (dropped with the 1009), never its whole output."""
        limit = self.max_message_size
        size = self._inflated
        chunks: list[bytes] = []
        try:
            while True:
                room = min(INFLATE_STEP, limit - size + 1)
                out = decompressor.decompress(data, room)
                size += len(out)
                if size > limit:
                    self._inflated = size  # what was inflated in all: limit + 1 at most
                    return CloseReason.MESSAGE_TOO_BIG
                chunks.append(out)
                data = decompressor.unconsumed_tail
                # A full step may leave output pending inside zlib even with no input left.
                if not data and len(out) < room:
                    break
        except zlib.error:
            return CloseReason.INVALID_FRAME_PAYLOAD_DATA
        self._inflated = size
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def negotiate_deflate(
    options: DeflateOptions | None, offers: Sequence[str], max_message_size: int
) -> tuple[LimitedDeflate | None, bytes | None]:
    """Accept the first valid permessage-deflate offer of ``offers`` (the client's
    ``Sec-WebSocket-Extensions`` entries, in order); ``(extension, response header)``, or
    ``(None, None)`` to answer without the extension.

    Windows: ours is ``options.server_max_window_bits`` (``None``:
    :data:`~wsframework.protocol.deflate_options.SERVER_WINDOW_BITS`), or the client's
    ``server_max_window_bits`` if smaller; the answer names it whenever it is under 15 or was
    offered (RFC 7692 section 7.1.2.1 lets a server name it unasked, so the client may inflate
    with a smaller window). The client's is ``options.client_max_window_bits`` (``None``: the
    same default), or the offered value if smaller, and is named in the answer only when the
    offer has ``client_max_window_bits``: a client whose offer lacks it may use 15 bits, which
    we then inflate.

    An invalid offer (:func:`~wsframework.protocol.deflate_options.parse_offer`) is declined
    and the next one considered, as RFC 7692 section 5 asks; so is a valid offer of
    ``server_max_window_bits=8``, which zlib cannot honour (its smallest raw window is 9).
    ``client_max_window_bits=8`` is accepted and left out of the answer: the client keeps its
    8-bit window, which our larger one inflates.
    """
    if options is None:
        return None, None
    server_bits = options.server_max_window_bits or SERVER_WINDOW_BITS
    client_bits = options.client_max_window_bits or SERVER_WINDOW_BITS
    for offer in offers:
        try:
            params = parse_offer(offer)
        except ValueError:
            continue
        offered_server = params.get("server_max_window_bits")
        if offered_server == 8:
            continue
        server = min(server_bits, offered_server or 15)
        if server < 15 or offered_server is not None:
            params["server_max_window_bits"] = server
        if "client_max_window_bits" not in params:
            client = 15  # the client may use any window
        elif params["client_max_window_bits"] == 8:
            client = client_bits  # it uses 8 bits, which a larger window inflates
            del params["client_max_window_bits"]
        else:
            client = params["client_max_window_bits"] = min(
                client_bits, params["client_max_window_bits"] or 15
            )
        # wsproto reads the offer loosely: hand it the checked parameters, normalised, with
        # the window bits of our answer.
        normalised = "; ".join(
            ["permessage-deflate"]
            + [name if value is None else f"{name}={value}" for name, value in params.items()]
        )
        extension = LimitedDeflate(
            max_message_size,
            client_no_context_takeover=options.client_no_context_takeover,
            client_max_window_bits=client,
            server_no_context_takeover=options.server_no_context_takeover,
            server_max_window_bits=server,
            memory_level=options.memory_level,
        )
        accepted = extension.accept(normalised)
        if not isinstance(accepted, str):  # pragma: no cover - a checked offer is accepted
            continue
        header = "permessage-deflate" + (f"; {accepted}" if accepted else "")
        return extension, header.encode()
    return None, None
