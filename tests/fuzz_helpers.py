"""The short, fixed-seed run of the fuzz targets (``fuzz/``) that ``make test`` includes.

``make fuzz`` runs the same target functions for a million inputs under atheris; here
hypothesis feeds each a bounded number of byte strings, derandomized (the same inputs on every
run), so the run takes a second or so per target and a failure reproduces.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def short_run(target: Callable[[bytes], None], examples: int) -> Callable[[], None]:
    """A test that feeds ``target`` ``examples`` derandomized inputs of up to 2 KiB."""

    @settings(
        derandomize=True,
        database=None,
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.binary(max_size=2048))
    def run(data: bytes) -> None:
        target(data)

    return run  # type: ignore[no-any-return]
