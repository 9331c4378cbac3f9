"""permessage-deflate settings (RFC 7692 section 7.1), without wsproto.

The settings are plain values that every layer may hold (the options objects, the ASGI
transport); :class:`~wsframework.protocol.deflate.LimitedDeflate` turns them into the extension
one connection uses.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_DEFLATE", "SERVER_WINDOW_BITS", "DeflateOptions", "parse_offer"]

#: The window a server uses, and asks of a client that lets it choose, when its options leave
#: the window bits unset (``None``): 4 KiB, as websockets does (see ``DeflateOptions``).
SERVER_WINDOW_BITS = 12

_FLAGS = ("server_no_context_takeover", "client_no_context_takeover")
_WINDOW_BITS = ("server_max_window_bits", "client_max_window_bits")
_BITS_VALUES = frozenset(str(bits) for bits in range(8, 16))  # decimal, no leading zero


@dataclass(frozen=True)
class DeflateOptions:
    """permessage-deflate parameters (RFC 7692 section 7.1).

    Attributes:
        client_no_context_takeover: ask the client to reset its compressor after each message.
        server_no_context_takeover: reset the server's compressor after each message.
        client_max_window_bits: LZ77 window of the client's compressor (9-15). ``None``: a
            server asks for :data:`SERVER_WINDOW_BITS` (12) when the client's offer lets it
            choose (``client_max_window_bits`` in the offer), a client offers 15.
        server_max_window_bits: LZ77 window of the server's compressor (9-15). ``None``: a
            server uses :data:`SERVER_WINDOW_BITS` (12, or less if the client asks for less)
            and says so in its answer; a client offers 15. Pass 15 to both for the RFC's
            default windows: better compression, more memory and CPU.
        memory_level: zlib's ``memLevel`` for our compressor (1-9). A compressor takes about
            ``(1 << (window_bits + 2)) + (1 << (memory_level + 9))`` bytes: 5 (the default,
            as websockets) saves 112 KiB per connection over zlib's own default, 8, and some
            CPU, for a ratio within about 1% of it.
    """

    client_no_context_takeover: bool = False
    server_no_context_takeover: bool = False
    client_max_window_bits: int | None = None
    server_max_window_bits: int | None = None
    memory_level: int = 5

    def __post_init__(self) -> None:
        for name in ("client_max_window_bits", "server_max_window_bits"):
            bits = getattr(self, name)
            if bits is not None and not 9 <= bits <= 15:
                raise ValueError(f"{name} must be between 9 and 15, got {bits}")
        level = self.memory_level
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 9:
            raise ValueError(f"memory_level must be an integer from 1 to 9, got {level!r}")


#: What every side offers and accepts unless told otherwise.
DEFAULT_DEFLATE = DeflateOptions()


def parse_offer(offer: str) -> dict[str, int | None]:
    """The parameters of one ``permessage-deflate`` offer, checked as RFC 7692 section 7.1 says.

    Returns each parameter's name and value: ``None`` for the two ``*_no_context_takeover``
    flags and for ``client_max_window_bits`` without a value, else the window bits (8-15).
    A quoted value (``client_max_window_bits="10"``) counts as the bare one.

    Raises:
        ValueError: the offer is invalid and must be declined: another extension, an unknown or
            duplicated or empty parameter, a flag with a value, ``server_max_window_bits``
            without a value, or window bits that are not a decimal from 8 to 15.
    """
    name, *params = offer.split(";")
    if name.strip().lower() != "permessage-deflate":
        raise ValueError(f"{name.strip()!r} is not permessage-deflate")
    found: dict[str, int | None] = {}
    for param in params:
        key, equals, raw = param.partition("=")
        key, value = key.strip(), raw.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if key in found:
            raise ValueError(f"the parameter {key} appears twice")
        if key in _FLAGS:
            if equals:
                raise ValueError(f"the parameter {key} takes no value, got {raw.strip()!r}")
            found[key] = None
        elif key in _WINDOW_BITS:
            if not equals:
                if key == "server_max_window_bits":
                    raise ValueError("server_max_window_bits needs a value from 8 to 15")
                found[key] = None
                continue
            if value not in _BITS_VALUES:
                raise ValueError(f"{key} must be a number from 8 to 15, got {raw.strip()!r}")
            found[key] = int(value)
        elif key:
            raise ValueError(f"unknown parameter {key!r}")
        else:
            raise ValueError("an empty parameter")
    return found
