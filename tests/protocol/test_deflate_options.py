"""permessage-deflate settings (wsframework.protocol.deflate_options): plain, validated values."""

from __future__ import annotations

import dataclasses

import pytest

from wsframework import DeflateOptions
from wsframework.protocol.deflate_options import DEFAULT_DEFLATE


@pytest.mark.parametrize("bits", [8, 16, 0])
def test_deflate_options_window_bits_range(bits: int) -> None:
    with pytest.raises(ValueError, match="between 9 and 15"):
        DeflateOptions(client_max_window_bits=bits)
    with pytest.raises(ValueError, match="between 9 and 15"):
        DeflateOptions(server_max_window_bits=bits)


@pytest.mark.parametrize("bits", [9, 15, None])
def test_deflate_options_window_bits_bounds_are_accepted(bits: int | None) -> None:
    options = DeflateOptions(client_max_window_bits=bits, server_max_window_bits=bits)
    assert (options.client_max_window_bits, options.server_max_window_bits) == (bits, bits)


def test_deflate_options_are_a_frozen_value() -> None:
    options = DeflateOptions(server_no_context_takeover=True)
    assert options == DeflateOptions(server_no_context_takeover=True)
    assert hash(options) == hash(DeflateOptions(server_no_context_takeover=True))
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.server_no_context_takeover = False  # type: ignore[misc]
    assert DeflateOptions(False, False, None, None) == DEFAULT_DEFLATE


def test_the_default_offers_every_parameter_at_its_default() -> None:
    assert DeflateOptions() == DEFAULT_DEFLATE
    assert not DEFAULT_DEFLATE.client_no_context_takeover
    assert not DEFAULT_DEFLATE.server_no_context_takeover
    assert DEFAULT_DEFLATE.client_max_window_bits is None
    assert DEFAULT_DEFLATE.server_max_window_bits is None
