"""permessage-deflate settings (RFC 7692 section 7.1), without wsproto.

The settings are plain values that every layer may hold (the options objects, the ASGI
transport); :class:`~wsframework.protocol.deflate.LimitedDeflate` turns them into the extension
one connection uses.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_DEFLATE", "DeflateOptions"]


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


#: What every side offers and accepts unless told otherwise.
DEFAULT_DEFLATE = DeflateOptions()
