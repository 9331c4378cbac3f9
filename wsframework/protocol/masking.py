"""Fast payload masking for wsproto.

wsproto unmasks every client frame with pure-Python code (about 2.5 ms per MiB here, four times
the cost of a raw Trio echo of the same MiB). ``wsframework._speedups`` does it a machine word at a
time in C (about 17 µs per MiB). :func:`install` swaps wsproto's masker class for ours; the
result is byte-for-byte identical (``tests/protocol/test_masking.py`` compares them), so any other
wsproto user in the process only gets faster. Importing this module installs it: every
connection does, through ``protocol/frames.py``.

The C module is built by ``pip install``. Where no compiler was available it is missing, and
wsproto's own masker stays in place: slower, equally correct, and reported by
:data:`SPEEDUPS`.
"""

from __future__ import annotations

import wsproto.frame_protocol as _frame_protocol

try:
    from .._speedups import apply_mask
except ImportError:  # pragma: no cover - exercised only on machines without a C compiler
    apply_mask = None  # type: ignore[assignment]

__all__ = ["SPEEDUPS", "FastMasker", "apply_mask", "install", "xor_mask"]

#: Whether the C masking code is in use.
SPEEDUPS = apply_mask is not None


def _mask_in_python(data: bytes | bytearray | memoryview, key: bytes, offset: int = 0, /) -> bytes:
    """What the C ``apply_mask`` does, byte by byte (a key of another length is refused alike)."""
    if len(key) != 4:
        raise ValueError("the masking key must be 4 bytes")
    return bytes(b ^ key[(i + offset) & 3] for i, b in enumerate(bytes(data)))


#: ``xor_mask(data, key, offset=0)``: ``data`` XOR the 4-byte ``key`` (starting at key byte
#: ``offset``), in C where it was built, else in Python.
xor_mask = apply_mask if apply_mask is not None else _mask_in_python


class FastMasker:
    """Drop-in replacement for ``wsproto.frame_protocol.XorMaskerSimple``."""

    __slots__ = ("_key", "_offset")

    def __init__(self, masking_key: bytes | bytearray) -> None:
        self._key = bytes(masking_key)
        self._offset = 0

    def process(self, data: bytes | bytearray) -> bytes:
        """XOR ``data`` with the key, continuing where the previous chunk ended."""
        assert apply_mask is not None
        out: bytes = apply_mask(data, self._key, self._offset)
        self._offset = (self._offset + len(data)) & 3
        return out


def install() -> bool:
    """Make wsproto use :class:`FastMasker`; returns whether it did."""
    if apply_mask is None:  # pragma: no cover
        return False
    _frame_protocol.XorMaskerSimple = FastMasker  # type: ignore[misc,assignment]
    return True


install()
