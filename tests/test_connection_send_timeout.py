"""The send timeout of a connection (wsframework.connection): a peer that stops reading while
we send is dropped with 1008 after ``send_timeout``, the sender gets ``ConnectionClosed``, and
the other connections keep being served; virtual time, lockstep streams (a send waits until
the peer reads)."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from wsframework import App, ConnectionClosed, ServerOptions, WebSocketRequest
from wsframework.protocol.close import CloseReason
from wsframework.testing import TestClient

from .sample_apps import echo_app

PAYLOAD = b"x" * 70_000  # more than the lockstep stream hands over in one go


def flood_app(ended: list[tuple[CloseReason, float]], done: trio.Event) -> App:
    """``/flood`` sends until the connection is closed, then says why and when; ``/echo``."""
    app = echo_app("/echo")

    @app.websocket("/flood")
    async def flood(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            while True:
                await ws.send_message(PAYLOAD)
        except ConnectionClosed as exc:
            ended.append((exc.reason, trio.current_time()))
            done.set()

    return app


@pytest.mark.parametrize(
    ("timeout", "options"), [(30, ServerOptions()), (2, ServerOptions(send_timeout=2))]
)
async def test_a_client_that_never_reads_is_dropped_after_the_send_timeout(
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
    timeout: float,
    options: ServerOptions,
) -> None:
    caplog.set_level(logging.INFO, logger="wsframework")
    ended: list[tuple[CloseReason, float]] = []
    done = trio.Event()
    async with (
        TestClient(flood_app(ended, done), server_options=options) as client,
        client.websocket("/flood", lockstep=True) as stuck,
    ):
        started = trio.current_time()
        async with client.websocket("/echo") as other:  # served meanwhile
            await trio.sleep(timeout / 2)
            await other.send_message("still here")
            assert await other.get_message() == "still here"
            with trio.fail_after(timeout):
                await done.wait()
            await other.send_message("and after")
            assert await other.get_message() == "and after"
        ((reason, at),) = ended
        assert reason.code == 1008
        assert reason.reason == f"send timeout: the peer read nothing for {timeout:g} s"
        assert at - started == pytest.approx(timeout)
        # What reached the client was cut off: its connection is lost (no close frame can
        # follow a partial one).
        with trio.fail_after(5), pytest.raises(ConnectionClosed) as caught:
            while True:
                await stuck.get_message()
        assert caught.value.reason.code == 1006
    assert (
        f"dropped with 1008: send timeout: the peer read nothing for {timeout:g} s" in caplog.text
    )


async def test_no_send_timeout_waits_for_a_slow_reader(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ended: list[tuple[CloseReason, float]] = []
    done = trio.Event()
    options = ServerOptions(send_timeout=None)
    async with (
        TestClient(flood_app(ended, done), server_options=options) as client,
        client.websocket("/flood", lockstep=True, max_message_size=2**20) as slow,
    ):
        await trio.sleep(3600)
        assert ended == []
        assert await slow.get_message() == PAYLOAD  # still open after an hour


async def test_a_reader_that_keeps_up_is_never_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    ended: list[tuple[CloseReason, float]] = []
    done = trio.Event()
    options = ServerOptions(send_timeout=2)
    async with (
        TestClient(flood_app(ended, done), server_options=options) as client,
        client.websocket("/flood", lockstep=True) as slow,
    ):
        for _ in range(20):  # 20 s in all, one message a second
            assert await slow.get_message() == PAYLOAD
            await trio.sleep(1)
        assert ended == []
