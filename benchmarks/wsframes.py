"""Server frames (unmasked) read out of a buffer, for the asyncio benchmark clients that walk
what they received frame by frame (``roomsload.py``'s members, ``soakclient.py``)."""

from __future__ import annotations


def next_frame(data: bytes, pos: int) -> tuple[int, bytes, int] | None:
    """The frame starting at ``data[pos]`` as ``(first byte, payload, end)``, or ``None`` when
    the buffer does not hold all of it yet."""
    n = len(data)
    if n - pos < 2:
        return None
    length, head = data[pos + 1] & 0x7F, 2
    if length == 126:
        if n - pos < 4:
            return None
        length, head = int.from_bytes(data[pos + 2 : pos + 4], "big"), 4
    elif length == 127:
        if n - pos < 10:
            return None
        length, head = int.from_bytes(data[pos + 2 : pos + 10], "big"), 10
    end = pos + head + length
    if end > n:
        return None
    return data[pos], data[pos + head : end], end
