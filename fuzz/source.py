"""Structured values drawn from fuzzer bytes, deterministically.

A coverage-guided fuzzer mutates bytes; the targets need requests, frame scripts and route
templates. :class:`Source` reads the bytes front to back and turns them into such values, so
every byte string is a valid input, mutations near the front change the shape of an input and
those near the back its details. Once the bytes run out every draw returns its smallest value,
so each input is finite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


class Source:
    """Draw values from ``data``, front to back."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def remaining(self) -> int:
        """How many bytes are left to draw from."""
        return len(self._data) - self._pos

    def integer(self, low: int, high: int) -> int:
        """An integer in ``[low, high]``; ``low`` once the bytes are exhausted."""
        span = high - low
        if span <= 0:
            return low
        size = (span.bit_length() + 7) // 8
        chunk = self._data[self._pos : self._pos + size]
        self._pos += len(chunk)
        return low + int.from_bytes(chunk, "big") % (span + 1)

    def flag(self) -> bool:
        """A coin toss (``False`` once exhausted)."""
        return self.integer(0, 1) == 1

    def chance(self, one_in: int) -> bool:
        """True about once in ``one_in`` draws (never once exhausted)."""
        return self.integer(0, one_in - 1) == one_in - 1

    def choice(self, options: Sequence[T]) -> T:
        """One of ``options`` (the first once exhausted)."""
        return options[self.integer(0, len(options) - 1)]

    def blob(self, max_size: int) -> bytes:
        """Up to ``max_size`` bytes, taken as they are from the input."""
        size = self.integer(0, max_size)
        chunk = self._data[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk

    def text(self, max_size: int, alphabet: str | None = None) -> str:
        """Up to ``max_size`` characters: from ``alphabet``, else mostly ASCII with some of
        the rest of Unicode (surrogates included)."""
        out = []
        for _ in range(self.integer(0, max_size)):
            if alphabet is not None:
                out.append(self.choice(alphabet))
            elif self.chance(8):
                out.append(chr(self.integer(0x80, 0x10FFFF)))
            else:
                out.append(chr(self.integer(0x20, 0x7E)))
        return "".join(out)

    def cuts(self, length: int, max_cuts: int = 8) -> list[int]:
        """Sorted offsets in ``[0, length]`` at which to split a byte string of ``length``."""
        return sorted({self.integer(0, length) for _ in range(self.integer(0, max_cuts))})


def pieces(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` split at ``cuts`` (sorted offsets); empty pieces are dropped."""
    out = []
    start = 0
    for cut in [*cuts, len(data)]:
        if cut > start:
            out.append(data[start:cut])
            start = cut
    return out
