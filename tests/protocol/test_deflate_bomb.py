"""Deflate bombs against the engine, both roles: a small compressed message that would inflate
to 64 times ``max_message_size`` is refused with 1009 after inflating at most the limit and one
byte (``LimitedDeflate`` counts what zlib produced), and costs little more than the limit in
memory (tracemalloc's peak while the engine takes it)."""

from __future__ import annotations

import tracemalloc
import zlib
from collections.abc import Callable

import pytest
from wsproto.connection import ConnectionType

from wsframework.protocol.deflate import INFLATE_STEP, LimitedDeflate
from wsframework.protocol.engine import Engine, Event, ProtocolError

from ..peers import OP_BINARY, OP_CONT, OP_TEXT, build_frame
from .engine_helpers import CLIENT, SERVER, compressed_pair, feed, mask_for

LIMIT = 16 * INFLATE_STEP  # 1 MiB: many steps to a full message
BOMB = 64 * LIMIT


def _compressor() -> zlib._Compress:
    return zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)


def _compress(compressor: zlib._Compress, fill: bytes, size: int, *, last: bool) -> bytes:
    """``size`` bytes of ``fill`` through ``compressor``, a chunk at a time (the test never
    holds the inflated bomb), sync-flushed; the final 4 bytes cut off on the last fragment."""
    chunk = fill * (2**20 // len(fill))
    out = bytearray()
    for _ in range(size // len(chunk)):
        out += compressor.compress(chunk)
    out += compressor.compress(fill * ((size % len(chunk)) // len(fill)))
    out += compressor.flush(zlib.Z_SYNC_FLUSH)
    return bytes(out[:-4] if last else out)


def single(kind: ConnectionType) -> bytes:
    return build_frame(
        OP_BINARY,
        _compress(_compressor(), b"\x00", BOMB, last=True),
        rsv1=True,
        mask=mask_for(kind),
    )


def after_a_legal_fragment(kind: ConnectionType) -> bytes:
    compressor = _compressor()
    first = _compress(compressor, b"ab", LIMIT // 2, last=False)
    rest = _compress(compressor, b"\x00", BOMB, last=True)
    return build_frame(OP_TEXT, first, rsv1=True, fin=False, mask=mask_for(kind)) + build_frame(
        OP_CONT, rest, mask=mask_for(kind)
    )


def in_small_frames(kind: ConnectionType) -> bytes:
    data = _compress(_compressor(), b"\x00", BOMB, last=True)
    pieces = [data[i : i + 64] for i in range(0, len(data), 64)]
    mask = mask_for(kind)
    frames = [build_frame(OP_BINARY, pieces[0], rsv1=True, fin=False, mask=mask)]
    frames += [build_frame(OP_CONT, piece, fin=False, mask=mask) for piece in pieces[1:-1]]
    frames.append(build_frame(OP_CONT, pieces[-1], mask=mask))
    return b"".join(frames)


SHAPES = [single, after_a_legal_fragment, in_small_frames]


def _take(target: Engine, data: bytes) -> tuple[list[Event], int]:
    """The engine's events for ``data`` and the peak memory allocated meanwhile (after a
    warm-up on another engine, so that first-call allocations do not count)."""
    twin, _peer = compressed_pair(
        CLIENT if target.is_client else SERVER, max_message_size=target._max_message_size
    )
    feed(twin, data)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        events = feed(target, data)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return events, peak


@pytest.mark.parametrize("kind", [SERVER, CLIENT], ids=["server", "client"])
@pytest.mark.parametrize("shape", SHAPES, ids=[shape.__name__ for shape in SHAPES])
def test_a_bomb_is_1009_after_inflating_at_most_the_limit(
    kind: ConnectionType, shape: Callable[[ConnectionType], bytes]
) -> None:
    target, _peer = compressed_pair(kind, max_message_size=LIMIT)
    data = shape(kind)
    assert len(data) < BOMB // 500  # small on the wire
    events, peak = _take(target, data)
    assert events == [ProtocolError(1009, f"message exceeds {LIMIT} bytes")]
    deflate = target._deflate
    assert isinstance(deflate, LimitedDeflate)
    assert LIMIT < deflate._inflated <= LIMIT + 1  # inflation stopped at the first byte over
    # The limit, one step and zlib's buffer for it, and wsproto's copies of the compressed bytes;
    # a legal first fragment costs what any message does (wsproto copies each frame's output
    # twice on its way to the engine: 3 x LIMIT / 2).
    budget = LIMIT + 2 * INFLATE_STEP + 6 * len(data)
    if shape is after_a_legal_fragment:
        budget = 2 * LIMIT
    assert peak <= budget, f"{peak / LIMIT:.2f} times the limit"


def test_the_bomb_of_issue_11_costs_at_most_1_25_times_the_limit() -> None:
    """64 MiB in one compressed frame against a 16 MiB limit (it cost 2 times the limit
    before): under 1.25 times the limit, all of it included."""
    limit = 16 * 2**20
    target, _peer = compressed_pair(SERVER, max_message_size=limit)
    frame = build_frame(
        OP_BINARY, _compress(_compressor(), b"\x00", 4 * limit, last=True), rsv1=True
    )
    events, peak = _take(target, frame)
    assert events == [ProtocolError(1009, f"message exceeds {limit} bytes")]
    assert peak <= 1.25 * limit, f"{peak / limit:.3f} times the limit"


@pytest.mark.parametrize("size", [INFLATE_STEP - 1, INFLATE_STEP, 2 * INFLATE_STEP, LIMIT])
def test_messages_of_several_steps_inflate_whole(size: int) -> None:
    """A step that fills up may leave output inside zlib with no input left: none is lost."""
    target, _peer = compressed_pair(SERVER, max_message_size=LIMIT)
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    frame = build_frame(
        OP_BINARY, _compress(_compressor(), payload, len(payload), last=True), rsv1=True
    )
    assert feed(target, frame) == [payload]
    assert feed(target, frame) == [payload]  # the context carries over, still whole
