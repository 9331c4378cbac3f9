"""The C masker gives exactly wsproto's bytes, chunk by chunk."""

from __future__ import annotations

import os

import pytest
import wsproto.frame_protocol as frame_protocol

from wsframework.protocol import masking

from ..test_layers import GRAPH


class _Reference:
    """wsproto's own masking rule, written out: byte i is XORed with key[i % 4]."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.i = 0

    def process(self, data: bytes) -> bytes:
        out = bytes(b ^ self.key[(self.i + j) % 4] for j, b in enumerate(data))
        self.i += len(data)
        return out


def test_every_connection_loads_the_fast_masker() -> None:
    # protocol.masking installs it when imported: each transport that frames with wsproto must
    # import it (today through protocol.frames).
    for module in ("wsframework.connection", "wsframework.server", "wsframework.client"):
        assert GRAPH.path_to(module, "wsframework.protocol.masking") is not None, module


def test_speedups_are_built_here() -> None:
    # CI builds the package with a compiler: the fast path must be the one under test.
    assert masking.SPEEDUPS
    assert frame_protocol.XorMaskerSimple is masking.FastMasker


@pytest.mark.parametrize("sizes", [[0], [1], [3, 5], [8], [7, 9, 2], [100, 1, 1001], [65536]])
def test_matches_reference_across_chunks(sizes: list[int]) -> None:
    key = os.urandom(4)
    fast = masking.FastMasker(key)
    ref = _Reference(key)
    for size in sizes:
        data = os.urandom(size)
        assert fast.process(data) == ref.process(data)


def test_bad_key_length_is_a_value_error() -> None:
    assert masking.apply_mask is not None
    with pytest.raises(ValueError, match="4 bytes"):
        masking.apply_mask(b"abc", b"xyz")


@pytest.mark.parametrize("offset", [0, 1, 2, 3])
@pytest.mark.parametrize("size", [0, 1, 5, 1000])
def test_python_fallback_matches_the_c_masker(size: int, offset: int) -> None:
    assert masking.apply_mask is not None
    key, data = os.urandom(4), os.urandom(size)
    expected = masking.apply_mask(data, key, offset)
    assert masking._mask_in_python(data, key, offset) == expected
    assert masking._mask_in_python(memoryview(bytearray(data)), key, offset) == expected
    assert masking.xor_mask is masking.apply_mask  # the C one is in use here
