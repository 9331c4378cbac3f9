"""A member's outgoing queue: slow members get the room's overflow policy while the others
keep receiving; recovery delivers the gap once, in order, before live publications."""

from __future__ import annotations

import json
import logging

import pytest
import trio
import trio.testing

from wsframework.exceptions import ConnectionClosed
from wsframework.interface import WebSocketConnection
from wsframework.rooms import HistoryPolicy
from wsframework.rooms.member import CLOSE_GRACE

from .room_helpers import chat_app, running, until_count

QUEUE = 4


async def flood(publisher: object, count: int) -> None:
    for n in range(count):
        await publisher.send_message(f"m{n}")  # type: ignore[attr-defined]


@pytest.mark.parametrize("code", [1013, 1008])
async def test_a_slow_member_is_closed_with_the_code_and_the_others_keep_receiving(
    code: int,
) -> None:
    app = chat_app(queue_size=QUEUE, overflow="close", overflow_code=code)
    async with running(app) as clients:
        slow = await clients.connect("/chat/r", lockstep=True)
        listener = await clients.connect("/chat/r", message_queue_size=100)
        fast = await clients.connect("/chat/r?echo=0")
        await until_count(app, "r", 3)
        await flood(fast, 20)
        # It reads again within the grace: the frame in flight ends, then the close frame.
        with trio.fail_after(5), pytest.raises(ConnectionClosed) as caught:
            while True:
                await slow.get_message()
        assert caught.value.reason.code == code
        assert "reads too slowly" in (caught.value.reason.reason or "")
        await until_count(app, "r", 2)
        with trio.fail_after(5):
            assert [await listener.get_message() for _ in range(20)] == [f"m{n}" for n in range(20)]


async def test_a_stuck_member_is_dropped_after_the_grace(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    app = chat_app(queue_size=QUEUE)
    async with running(app) as clients:
        await clients.connect("/chat/r", lockstep=True, message_queue_size=1)  # reads no more
        fast = await clients.connect("/chat/r")
        await until_count(app, "r", 2)
        await flood(fast, 20)
        await trio.sleep(CLOSE_GRACE + 1)  # the mock clock jumps past the grace
        assert await app.rooms["r"].count() == 1
        with trio.fail_after(5):
            assert [await fast.get_message() for _ in range(20)] == [f"m{n}" for n in range(20)]
    assert "closing with 1013: room 'r': the client reads too slowly" in caplog.text


async def read_into(client: WebSocketConnection, got: list[str]) -> None:
    async for message in client:
        got.append(str(message))


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
async def test_drop_policies_keep_the_member_and_bound_its_queue(policy: str) -> None:
    app = chat_app(queue_size=QUEUE, overflow=policy)
    async with running(app) as clients:
        slow = await clients.connect("/chat/r", lockstep=True, message_queue_size=1)
        fast = await clients.connect("/chat/r?echo=0")
        await until_count(app, "r", 2)
        await flood(fast, 20)
        await trio.testing.wait_all_tasks_blocked()  # every publication met the full queue
        got: list[str] = []
        clients.nursery.start_soon(read_into, slow, got)
        await trio.testing.wait_all_tasks_blocked()  # it read all it will ever get
        await fast.send_message("after")  # the member is still in the room: it gets this
        with trio.fail_after(5):
            while "after" not in got:
                await trio.testing.wait_all_tasks_blocked()
        numbers = [int(m[1:]) for m in got[:-1]]
        # Bounded: QUEUE queued, at most two frames in the lockstep stream, the client's
        # queue of 1 and the message its reader holds.
        assert len(numbers) <= QUEUE + 4, numbers
        assert numbers == sorted(numbers)
        if policy == "drop_oldest":
            assert numbers[-1] == 19  # the newest survive
        else:
            assert numbers[: QUEUE + 1] == list(range(QUEUE + 1))  # the oldest survive
        assert await app.rooms["r"].count() == 2


async def test_queue_bytes_bound_the_queue_too() -> None:
    app = chat_app(queue_size=1000, queue_bytes=100, overflow="drop_newest")
    async with running(app) as clients:
        slow = await clients.connect("/chat/r", lockstep=True, message_queue_size=1)
        fast = await clients.connect("/chat/r?echo=0")
        await until_count(app, "r", 2)
        for n in range(20):
            await fast.send_message(f"{n % 10}" * 40)
        await trio.testing.wait_all_tasks_blocked()  # every publication met the full queue
        got: list[str] = []
        clients.nursery.start_soon(read_into, slow, got)
        await trio.testing.wait_all_tasks_blocked()
        await fast.send_message("x")
        with trio.fail_after(5):
            while "x" not in got:
                await trio.testing.wait_all_tasks_blocked()
        # 2 x 40 bytes fit the 100-byte queue; the rest is the stream's and the client's.
        assert len(got) - 1 <= 2 + 4, got


async def test_the_send_timeout_drops_a_stuck_member_the_drop_policies_keep(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The room's policy answers a full queue; the connection's send timeout (30 s) answers a
    writer that waits on a full socket: a member whose publications are only ever dropped is
    still let go, with 1008, once one write has waited that long."""
    caplog.set_level(logging.INFO, logger="wsframework")
    app = chat_app(queue_size=QUEUE, overflow="drop_newest")
    async with running(app) as clients:
        await clients.connect("/chat/r", lockstep=True, message_queue_size=1)  # reads no more
        fast = await clients.connect("/chat/r?echo=0", message_queue_size=100)
        await until_count(app, "r", 2)
        await flood(fast, 20)
        await trio.sleep(29)
        assert await app.rooms["r"].count() == 2  # the drop policy keeps it ...
        await trio.sleep(2)
        assert await app.rooms["r"].count() == 1  # ... until the send timeout
        await fast.send_message("after")
        assert await app.rooms["r"].count() == 1
    assert "dropped with 1008: send timeout: the peer read nothing for 30 s" in caplog.text


HISTORY = {"history": HistoryPolicy(size=100, ttl=60)}


async def position_of_last(app: object, room: str) -> str:
    rooms = app.rooms  # type: ignore[attr-defined]
    window = await rooms.broker.history(room, None, rooms.options_for(room).history)
    return str(window.position)


async def test_recovery_delivers_exactly_the_missed_publications_before_live_ones(
    nursery: trio.Nursery,
) -> None:
    app = chat_app(**HISTORY)
    async with running(app) as clients:
        writer = await clients.connect("/chat/r?echo=0")
        await until_count(app, "r", 1)
        await flood(writer, 3)
        await trio.testing.wait_all_tasks_blocked()
        since = await position_of_last(app, "r")  # after m0..m2
        await flood(writer, 6)  # m0..m5 again: offsets 4..9
        await trio.testing.wait_all_tasks_blocked()
        back = await clients.connect(f"/chat/r?since={since}")
        await until_count(app, "r", 2)
        await writer.send_message("live")
        with trio.fail_after(5):
            got = [await back.get_message() for _ in range(8)]
        missed = [f"m{n}" for n in range(6)]
        assert got[:6] == missed or got[1:7] == missed
        assert json.loads(next(m for m in got if m.startswith("{"))) == {"recovered": True}
        assert got[-1] == "live"
        with trio.move_on_after(0.05):
            pytest.fail(f"delivered twice: {await back.get_message()!r}")


@pytest.mark.parametrize("since", ["other-epoch:1", "{epoch}:0"])
async def test_a_gap_outside_the_window_is_not_recovered(since: str) -> None:
    app = chat_app(history=HistoryPolicy(size=2, ttl=60))
    async with running(app) as clients:
        writer = await clients.connect("/chat/r?echo=0")
        await until_count(app, "r", 1)
        await flood(writer, 5)
        await trio.testing.wait_all_tasks_blocked()
        epoch = (await position_of_last(app, "r")).split(":")[0]
        back = await clients.connect("/chat/r?since=" + since.format(epoch=epoch))
        with trio.fail_after(5):
            assert json.loads(await back.get_message()) == {"recovered": False}
        await writer.send_message("live")
        with trio.fail_after(5):
            assert await back.get_message() == "live"


async def test_history_expires_with_its_ttl(autojump_clock: trio.testing.MockClock) -> None:
    app = chat_app(history=HistoryPolicy(size=10, ttl=30))
    async with running(app) as clients:
        writer = await clients.connect("/chat/r?echo=0")
        await until_count(app, "r", 1)
        since = await position_of_last(app, "r")
        await flood(writer, 2)
        await trio.sleep(31)  # the mock clock jumps: the stream outlived its ttl
        back = await clients.connect(f"/chat/r?since={since}")
        with trio.fail_after(5):
            assert json.loads(await back.get_message()) == {"recovered": False}
