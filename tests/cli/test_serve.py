"""Serving in one process (wsframework.cli.serve): the signal bookkeeping, in process.

``serve_app`` itself listens on a socket and reacts to real signals: it is tested through real
processes in tests/integration/test_cli.py.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from wsframework.cli.serve import (
    STOP_SIGNALS,
    EarlySignals,
    Interrupted,
    _close_reason,
    _signal_name,
)


@pytest.fixture
def saved_handlers() -> Iterator[None]:
    """EarlySignals.install() replaces process-wide handlers: put them back after the test."""
    saved = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_interrupted_is_not_an_exception() -> None:
    # ``except Exception`` in the app's import or in our startup code must not swallow it.
    assert issubclass(Interrupted, BaseException)
    assert not issubclass(Interrupted, Exception)


def test_a_signal_while_starting_interrupts_then_is_only_recorded() -> None:
    early = EarlySignals()
    with pytest.raises(Interrupted) as info:
        early._record(signal.SIGTERM, None)
    assert info.value.args == (signal.SIGTERM,)
    assert early.received == []
    early.raising = False
    early._record(signal.SIGINT, None)
    early._record(signal.SIGTERM, None)
    assert early.received == [signal.SIGINT, signal.SIGTERM]


@pytest.mark.usefixtures("saved_handlers")
def test_install_handles_sigint_and_sigterm() -> None:
    early = EarlySignals()
    early.install()
    for signum in (signal.SIGINT, signal.SIGTERM):
        assert signal.getsignal(signum) == early._record
    assert STOP_SIGNALS == (signal.SIGINT, signal.SIGTERM)


def test_signal_names() -> None:
    assert [_signal_name(s) for s in STOP_SIGNALS] == ["SIGINT", "SIGTERM"]


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1012, "service restart"), (1001, "server shutting down"), (4000, "server shutting down")],
)
def test_the_drain_close_reason_follows_the_code(code: int, reason: str) -> None:
    assert _close_reason(code) == reason
