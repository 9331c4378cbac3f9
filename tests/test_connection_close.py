"""StreamConnection's closing handshake over memory streams: closes started by either side,
their timeouts and cancellation, broken streams, and ``going_away`` (see ``test_connection.py``)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from wsproto.connection import ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

from wsframework import CloseReason, ConnectionClosed

from .connection_helpers import SIDES, Peer, closing_code, opened
from .peers import OP_TEXT, build_frame

# ---------------------------------------------------------------------- closing


@pytest.mark.parametrize("kind", SIDES)
async def test_close_started_by_the_peer_is_answered(
    nursery: trio.Nursery, kind: ConnectionType
) -> None:
    ws, peer = await opened(nursery, kind)
    await peer.send(CloseConnection(code=4002, reason="maintenance"))
    reply = await peer.expect(CloseConnection)
    assert (reply.code, reply.reason) == (4002, "maintenance")
    assert await peer.next_event() is None  # then the connection closes the stream
    with pytest.raises(ConnectionClosed) as info:
        await ws.get_message()
    assert info.value.reason == CloseReason(4002, "maintenance") == ws.closed
    with pytest.raises(ConnectionClosed):
        await ws.send_message("late")
    with pytest.raises(ConnectionClosed):
        await ws.ping()
    with pytest.raises(ConnectionClosed):
        await ws.pong()
    with trio.fail_after(1):
        await ws.aclose()  # closing already: returns at once, sends nothing


@pytest.mark.parametrize("queue", [1, 8])
@pytest.mark.parametrize("kind", SIDES)
async def test_messages_before_the_peers_close_can_still_be_read(
    nursery: trio.Nursery, kind: ConnectionType, queue: int
) -> None:
    ws, peer = await opened(nursery, kind, message_queue_size=queue)
    await peer.send(TextMessage(data="one"))
    await peer.send(BytesMessage(data=b"two"))
    await peer.send(TextMessage(data="thr", message_finished=False))
    await peer.send(TextMessage(data="ee", message_finished=True))
    await peer.send(CloseConnection(code=1000, reason="done"))
    got = [message async for message in ws]
    assert got == ["one", b"two", "three"]
    assert ws.closed == CloseReason(1000, "done")
    assert (await peer.expect(CloseConnection)).code == 1000


@pytest.mark.parametrize("kind", SIDES)
async def test_local_close_handshake(nursery: trio.Nursery, kind: ConnectionType) -> None:
    ws, peer = await opened(nursery, kind)
    await peer.send(TextMessage(data="unread"))
    await trio.testing.wait_all_tasks_blocked()

    async def answer() -> None:
        event = await peer.expect(CloseConnection)
        assert (event.code, event.reason) == (3003, "bye")
        await peer.send(event.response())

    nursery.start_soon(answer)
    with trio.fail_after(5):
        await ws.aclose(3003, "bye")
    assert ws.closed == CloseReason(3003, "bye")
    assert await peer.next_event() is None  # the stream is closed
    with pytest.raises(ConnectionClosed) as info:
        await ws.get_message()  # a local close discards what was not read
    assert info.value.reason == CloseReason(3003, "bye")
    with pytest.raises(ConnectionClosed):
        await ws.send_message("late")
    await ws.aclose()  # idempotent
    assert ws.closed == CloseReason(3003, "bye")


async def test_concurrent_closes_send_one_close_frame(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    async with trio.open_nursery() as closers:
        for code in (1000, 4000, 4001):
            closers.start_soon(ws.aclose, code)
        event = await peer.expect(CloseConnection)
        await peer.send(event.response())
    assert ws.closed is not None and ws.closed.code == event.code
    assert await peer.next_event() is None  # no second close frame


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2000, 5000])
async def test_unsendable_close_code_is_a_value_error(nursery: trio.Nursery, code: int) -> None:
    ws, peer = await opened(nursery)
    with pytest.raises(ValueError, match=str(code)):
        await ws.aclose(code)
    with pytest.raises(ValueError, match=str(code)):
        await ws.going_away(code)
    assert ws.closed is None  # nothing sent, still open
    await ws.send_message("still open")
    assert (await peer.expect(TextMessage)).data == "still open"


@pytest.mark.parametrize("kind", SIDES)
async def test_close_is_bounded_by_disconnect_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kind: ConnectionType
) -> None:
    ws, peer = await opened(nursery, kind, disconnect_timeout=7)
    start = trio.current_time()
    await ws.aclose()  # the peer never answers
    assert trio.current_time() - start == pytest.approx(7)
    assert (await peer.expect(CloseConnection)).code == 1000
    assert await peer.next_event() is None  # the stream was closed anyway


async def test_cancelled_close_still_closes_the_stream(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery)
    with trio.move_on_after(2):
        await ws.aclose(4000)
    assert await closing_code(peer) == 4000
    assert await peer.next_event() is None
    assert ws.closed == CloseReason(4000, None)


async def test_eof_without_close_frame_is_1006(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    await peer.send(TextMessage(data="last words"))
    await peer.stream.aclose()
    assert await ws.get_message() == "last words"
    with pytest.raises(ConnectionClosed) as info:
        await ws.get_message()
    assert info.value.reason == CloseReason(1006, None)
    with trio.fail_after(1):
        await ws.aclose()


def break_writes(peer: Peer) -> None:
    """Make every later write to the peer fail (its receiving side is gone) while it can still
    send: our reader notices nothing until it has to write."""
    stream = peer.stream
    assert isinstance(stream, trio.StapledStream)
    stream.receive_stream.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", SIDES)
async def test_failed_write_closes_with_1006(nursery: trio.Nursery, kind: ConnectionType) -> None:
    ws, peer = await opened(nursery, kind)
    break_writes(peer)
    with pytest.raises(ConnectionClosed) as info:
        await ws.send_message("lost")
    assert info.value.reason == CloseReason(1006, None) == ws.closed
    assert isinstance(info.value.__cause__, trio.BrokenResourceError)
    with pytest.raises(ConnectionClosed):
        await ws.send_message("after")


async def test_failed_control_frame_write_closes_with_1006(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    break_writes(peer)
    with pytest.raises(ConnectionClosed) as info:
        await ws.pong(b"beat")
    assert info.value.reason == CloseReason(1006, None) == ws.closed
    with pytest.raises(ConnectionClosed):
        await ws.ping()


@pytest.mark.parametrize(
    ("event", "closed"),
    [
        pytest.param(Ping(payload=b"answer me"), CloseReason(1006, None), id="ping"),
        pytest.param(CloseConnection(code=4000), CloseReason(4000, None), id="close"),
    ],
)
async def test_reader_whose_answer_cannot_be_written_ends_quietly(
    nursery: trio.Nursery, event: Any, closed: CloseReason
) -> None:
    ws, peer = await opened(nursery)
    break_writes(peer)
    await peer.send(event)
    await trio.testing.wait_all_tasks_blocked()  # the reader tried to answer, and finished
    with pytest.raises(ConnectionClosed) as info:
        await ws.get_message()
    assert info.value.reason == closed == ws.closed


async def test_reader_failing_a_connection_it_cannot_write_to(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    break_writes(peer)
    await peer.send_raw(build_frame(OP_TEXT, b"\xff"))
    with pytest.raises(ConnectionClosed) as info:
        await ws.get_message()
    assert info.value.reason is not None and info.value.reason.code == 1007


async def test_close_on_a_broken_stream_does_not_raise(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    break_writes(peer)
    with trio.fail_after(1):
        await ws.aclose(4000, "nobody hears this")
    assert ws.closed == CloseReason(4000, "nobody hears this")


async def test_going_away_on_a_broken_stream_does_not_raise(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    break_writes(peer)
    await ws.going_away()
    assert ws.closed == CloseReason(1001, "server shutting down")


# ---------------------------------------------------------------------- going_away


@pytest.mark.parametrize("kind", SIDES)
async def test_going_away_sends_1001_once_and_does_not_wait(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kind: ConnectionType
) -> None:
    ws, peer = await opened(nursery, kind)
    start = trio.current_time()
    await ws.going_away()
    await ws.going_away()
    assert trio.current_time() == start  # no wait for the peer's answer
    event = await peer.expect(CloseConnection)
    assert (event.code, event.reason) == (1001, "server shutting down")
    assert await peer.next_event() is None  # one close frame, then the stream is closed
    assert ws.closed == CloseReason(1001, "server shutting down")


async def test_going_away_works_inside_a_cancelled_scope(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    with trio.CancelScope() as scope:
        scope.cancel()
        await ws.going_away(4001, "restart")
    assert (await peer.expect(CloseConnection)).code == 4001
    assert await peer.next_event() is None


async def test_going_away_is_bounded_by_one_second(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    """A peer that reads nothing cannot hold a shutdown: the close frame's write gives up."""
    ws, _peer = await opened(nursery, lockstep=True)  # every write waits for the peer to read
    start = trio.current_time()
    await ws.going_away()
    assert trio.current_time() - start == pytest.approx(1)
    assert ws.closed is not None and ws.closed.code == 1001


async def test_going_away_after_the_peer_closed_sends_nothing(nursery: trio.Nursery) -> None:
    ws, peer = await opened(nursery)
    await peer.send(CloseConnection(code=1000))
    assert await closing_code(peer) == 1000
    await ws.going_away()
    assert await peer.next_event() is None
    assert ws.closed == CloseReason(1000, None)
