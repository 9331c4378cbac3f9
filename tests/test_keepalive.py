"""StreamConnection's keepalive over memory streams: the pings it sends, the 1011 for a silent
peer, and stopping when the connection closes (see ``test_connection.py``)."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing
from wsproto.connection import ConnectionType
from wsproto.events import CloseConnection, Ping

from wsframework import CloseReason, ConnectionClosed

from .connection_helpers import SIDES, closing_code, opened

# ---------------------------------------------------------------------- keepalive


@pytest.mark.parametrize("kind", SIDES)
async def test_keepalive_closes_a_silent_peer_with_1011(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    kind: ConnectionType,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ws, peer = await opened(nursery, kind, ping_interval=5, ping_timeout=2)
    start = trio.current_time()
    with caplog.at_level(logging.INFO, logger="wsframework"):
        await peer.expect(Ping, timeout=30)  # not answered
        assert trio.current_time() - start == pytest.approx(5)
        event = await peer.expect(CloseConnection, timeout=30)
    assert trio.current_time() - start == pytest.approx(7)
    assert (event.code, event.reason) == (1011, "keepalive ping timeout: no pong within 2 s")
    assert await peer.next_event() is None
    with pytest.raises(ConnectionClosed) as info:
        await ws.get_message()
    assert info.value.reason == CloseReason(1011, "keepalive ping timeout: no pong within 2 s")
    assert "closing with 1011: keepalive ping timeout" in caplog.text


@pytest.mark.parametrize("kind", SIDES)
async def test_keepalive_survives_an_answering_peer(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kind: ConnectionType
) -> None:
    ws, peer = await opened(nursery, kind, ping_interval=5)  # ping_timeout: the interval
    start = trio.current_time()
    for _ in range(3):
        ping = await peer.expect(Ping, timeout=30)
        await trio.sleep(4)  # late, but within the timeout
        await peer.send(ping.response())
    assert trio.current_time() - start == pytest.approx(3 * 9)
    assert ws.closed is None and ws.latency == pytest.approx(4)


async def test_keepalive_stops_when_the_connection_closes(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery, ping_interval=5, ping_timeout=2)
    await peer.send(CloseConnection(code=1000))
    assert await closing_code(peer) == 1000
    assert await peer.next_event(timeout=60) is None  # no ping after the close
    assert ws.closed == CloseReason(1000, None)


async def test_keepalive_stops_when_the_connection_closes_during_its_ping(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery, ping_interval=5, ping_timeout=10)
    await peer.expect(Ping, timeout=30)
    await peer.send(CloseConnection(code=4000, reason="instead of a pong"))
    assert await closing_code(peer) == 4000
    assert await peer.next_event(timeout=60) is None  # no 1011, no second ping
    assert ws.closed == CloseReason(4000, "instead of a pong")
