"""RoomOptions: defaults and the settings it refuses."""

from __future__ import annotations

import pytest

from wsframework.rooms import RoomOptions


def test_defaults_close_slow_members_with_1013_and_keep_no_history() -> None:
    options = RoomOptions()
    assert (options.overflow, options.overflow_code, options.history) == ("close", 1013, None)
    assert (options.queue_size, options.queue_bytes) == (256, 1 << 20)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"queue_size": 0}, "at least one"),
        ({"overflow": "drop"}, "overflow must be"),
        ({"overflow_code": 1011}, "1008 .policy violation. or 1013"),
    ],
)
def test_room_options_refuse_bad_settings(settings: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        RoomOptions(**settings)  # type: ignore[arg-type]
