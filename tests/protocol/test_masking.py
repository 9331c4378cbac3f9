"""The C masker gives exactly wsproto's bytes, chunk by chunk; so does the pure-Python fallback.

The tests expect the C speedup unless ``WSFRAMEWORK_NO_EXTENSIONS=1`` is set, as it is for the
build and the run of noxfile.py's ``pure-python`` session: then they expect its absence.
"""

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


#: The checkout was built without the C speedup, on purpose (noxfile.py's pure-python session).
PURE_PYTHON = os.environ.get("WSFRAMEWORK_NO_EXTENSIONS", "") not in ("", "0")


def test_the_masker_in_use_is_the_one_built() -> None:
    # CI builds the package with a compiler on every Python, and once without the extension:
    # the masker under test is the one that build promised.
    if PURE_PYTHON:
        assert not masking.SPEEDUPS and masking.apply_mask is None
        assert masking.install() is False
        assert frame_protocol.XorMaskerSimple is not masking.FastMasker
        assert masking.xor_mask is masking._mask_in_python
    else:
        assert masking.SPEEDUPS
        assert frame_protocol.XorMaskerSimple is masking.FastMasker
        assert masking.xor_mask is masking.apply_mask


@pytest.mark.parametrize("sizes", [[0], [1], [3, 5], [8], [7, 9, 2], [100, 1, 1001], [65536]])
def test_matches_reference_across_chunks(sizes: list[int]) -> None:
    key = os.urandom(4)
    in_use = frame_protocol.XorMaskerSimple(key)  # FastMasker, or wsproto's own without C
    ref = _Reference(key)
    for size in sizes:
        data = os.urandom(size)
        assert in_use.process(data) == ref.process(data)


@pytest.mark.parametrize("key", [b"abc", b"abcde", b""])
def test_bad_key_length_is_a_value_error(key: bytes) -> None:
    for mask in (masking.xor_mask, masking._mask_in_python):
        with pytest.raises(ValueError, match="4 bytes"):
            mask(b"xyz", key)


@pytest.mark.parametrize("offset", [0, 1, 2, 3])
@pytest.mark.parametrize("size", [0, 1, 5, 1000])
def test_python_fallback_matches_the_reference_and_the_c_masker(size: int, offset: int) -> None:
    key, data = os.urandom(4), os.urandom(size)
    reference = _Reference(key)
    reference.i = offset
    expected = reference.process(data)
    assert masking.xor_mask(data, key, offset) == expected  # the C one, or the fallback
    assert masking._mask_in_python(data, key, offset) == expected
    assert masking._mask_in_python(memoryview(bytearray(data)), key, offset) == expected
