"""permessage-deflate settings (wsframework.protocol.deflate_options): plain, validated values."""

from __future__ import annotations

import dataclasses

import pytest

from wsframework import DeflateOptions
from wsframework.protocol.deflate_options import DEFAULT_DEFLATE, parse_offer


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
    assert DeflateOptions(False, False, None, None, 5) == DEFAULT_DEFLATE


@pytest.mark.parametrize("level", [0, 10, -1, 5.0, True, "5"])
def test_deflate_options_memory_level_range(level: object) -> None:
    with pytest.raises(ValueError, match="memory_level must be an integer from 1 to 9"):
        DeflateOptions(memory_level=level)  # type: ignore[arg-type]


@pytest.mark.parametrize("level", [1, 9])
def test_deflate_options_memory_level_bounds_are_accepted(level: int) -> None:
    assert DeflateOptions(memory_level=level).memory_level == level


def test_the_default_offers_every_parameter_at_its_default() -> None:
    assert DeflateOptions() == DEFAULT_DEFLATE
    assert not DEFAULT_DEFLATE.client_no_context_takeover
    assert not DEFAULT_DEFLATE.server_no_context_takeover
    assert DEFAULT_DEFLATE.client_max_window_bits is None
    assert DEFAULT_DEFLATE.server_max_window_bits is None


# --- parse_offer: RFC 7692 section 7.1, checked strictly ---------------------------------------


@pytest.mark.parametrize(
    ("offer", "params"),
    [
        ("permessage-deflate", {}),
        ("Permessage-Deflate", {}),
        (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            {"server_no_context_takeover": None, "client_no_context_takeover": None},
        ),
        ("permessage-deflate; client_max_window_bits", {"client_max_window_bits": None}),
        ("permessage-deflate;client_max_window_bits=8", {"client_max_window_bits": 8}),
        ('permessage-deflate; client_max_window_bits="10"', {"client_max_window_bits": 10}),
        ("permessage-deflate; server_max_window_bits = 15", {"server_max_window_bits": 15}),
    ],
)
def test_valid_offers_are_read(offer: str, params: dict[str, int | None]) -> None:
    assert parse_offer(offer) == params


@pytest.mark.parametrize(
    ("offer", "message"),
    [
        ("permessage-deflate; foo", "unknown parameter 'foo'"),
        ("permessage-deflate; x=1", "unknown parameter 'x'"),
        (
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "the parameter server_no_context_takeover appears twice",
        ),
        (
            "permessage-deflate; client_max_window_bits=10; client_max_window_bits=11",
            "the parameter client_max_window_bits appears twice",
        ),
        (
            "permessage-deflate; server_no_context_takeover=1",
            "the parameter server_no_context_takeover takes no value, got '1'",
        ),
        (
            "permessage-deflate; client_no_context_takeover=",
            "the parameter client_no_context_takeover takes no value, got ''",
        ),
        (
            "permessage-deflate; client_max_window_bits=7",
            "client_max_window_bits must be a number from 8 to 15, got '7'",
        ),
        (
            "permessage-deflate; client_max_window_bits=16",
            "client_max_window_bits must be a number from 8 to 15, got '16'",
        ),
        (
            "permessage-deflate; client_max_window_bits=abc",
            "client_max_window_bits must be a number from 8 to 15, got 'abc'",
        ),
        (
            "permessage-deflate; client_max_window_bits=010",
            "client_max_window_bits must be a number from 8 to 15, got '010'",
        ),
        (
            "permessage-deflate; server_max_window_bits",
            "server_max_window_bits needs a value from 8 to 15",
        ),
        (
            "permessage-deflate; server_max_window_bits=99999999999999999999",
            "server_max_window_bits must be a number from 8 to 15, got '99999999999999999999'",
        ),
        ("permessage-deflate;", "an empty parameter"),
        ("x-webkit-deflate-frame", "'x-webkit-deflate-frame' is not permessage-deflate"),
    ],
)
def test_invalid_offers_say_why(offer: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_offer(offer)
    assert str(info.value) == message
