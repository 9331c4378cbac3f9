"""MessageQueue (wsframework.message_queue), the queue between a connection's reader and
``get_message``.

The queue sits between one producer (the task reading from the peer) and any number of
consumers (tasks in ``get_message``). Its promises: first in, first out; the producer waits
while the queue is full (``capacity`` messages, or more than ``BATCH_BYTES`` unless it would hold
just the one message),
and with capacity 0 until a consumer took the message; nothing is lost to a cancelled consumer;
closing wakes everyone; and no mix of consumers and producer ever deadlocks.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from wsframework import CloseReason, ConnectionClosed
from wsframework.message_queue import BATCH_BYTES, MessageQueue

NORMAL = CloseReason(1000, None)
GONE = CloseReason(1006, None)


async def put_in_background(
    nursery: trio.Nursery, queue: MessageQueue, message: str, results: list[bool]
) -> None:
    async def put() -> None:
        results.append(await queue.put(message))

    nursery.start_soon(put)
    await trio.testing.wait_all_tasks_blocked()


# ---------------------------------------------------------------------- order and room


async def test_first_in_first_out() -> None:
    queue = MessageQueue(3)
    for message in ("a", b"b", "c"):
        assert queue.offer(message)
    assert not queue.offer("d")  # full: nothing added, the producer must put()
    assert len(queue) == 3
    assert [await queue.get(), queue.take(), await queue.get()] == ["a", b"b", "c"]
    assert len(queue) == 0
    assert queue.take() is None  # empty and open: nothing yet


async def test_put_returns_at_once_while_there_is_room() -> None:
    queue = MessageQueue(2)
    with trio.fail_after(1):
        assert await queue.put("a") and await queue.put("b")
    assert len(queue) == 2 and not queue.offer("c")


async def test_put_waits_while_the_queue_is_full(nursery: trio.Nursery) -> None:
    queue = MessageQueue(1)
    assert queue.offer("first")
    results: list[bool] = []
    await put_in_background(nursery, queue, "second", results)
    assert results == [] and len(queue) == 1  # waiting for room
    assert await queue.get() == "first"
    await trio.testing.wait_all_tasks_blocked()
    assert results == [True]
    assert queue.take() == "second"


async def test_take_makes_room_too(nursery: trio.Nursery) -> None:
    queue = MessageQueue(1)
    assert queue.offer("first")
    results: list[bool] = []
    await put_in_background(nursery, queue, "second", results)
    assert queue.take() == "first"
    await trio.testing.wait_all_tasks_blocked()
    assert results == [True] and queue.take() == "second"


# ---------------------------------------------------------------------- the byte budget


async def test_a_first_message_of_any_size_is_taken() -> None:
    queue = MessageQueue(16)
    assert queue.offer(b"x" * (4 * BATCH_BYTES))
    assert not queue.offer(b"y")  # beyond the first message the budget is spent
    assert queue.take() == b"x" * (4 * BATCH_BYTES)
    assert queue.offer(b"y")


async def test_small_messages_fill_the_queue_up_to_the_budget() -> None:
    queue = MessageQueue(100)
    size = BATCH_BYTES // 8
    taken = 0
    while queue.offer("t" * size):
        taken += 1
    assert taken == 8  # 64 KiB in all
    assert [len(queue.take() or "") for _ in range(taken)] == [size] * taken
    assert queue.take() is None


async def test_put_waits_for_the_budget_and_the_queue_empties_for_a_large_one(
    nursery: trio.Nursery,
) -> None:
    queue = MessageQueue(16)
    assert queue.offer(b"a" * 10) and queue.offer(b"b" * 10)
    results: list[bool] = []
    await put_in_background(nursery, queue, "c" * BATCH_BYTES, results)
    assert results == []  # 20 bytes held: a 64 KiB message must wait
    assert queue.take() == b"a" * 10
    await trio.testing.wait_all_tasks_blocked()
    assert results == []  # still 10 bytes held
    assert queue.take() == b"b" * 10
    await trio.testing.wait_all_tasks_blocked()
    assert results == [True] and queue.take() == "c" * BATCH_BYTES


async def test_offer_wakes_a_parked_consumer(nursery: trio.Nursery) -> None:
    queue = MessageQueue(1)
    woken: list[int] = []

    async def consumer() -> None:
        await queue.consumers.park()  # as get_message parks, in its own frame
        woken.append(len(queue))

    nursery.start_soon(consumer)
    await trio.testing.wait_all_tasks_blocked()
    assert woken == []
    assert queue.offer("x")
    await trio.testing.wait_all_tasks_blocked()
    assert woken == [1]


# ---------------------------------------------------------------------- capacity 0


async def test_capacity_zero_hands_each_message_over(nursery: trio.Nursery) -> None:
    queue = MessageQueue(0)
    assert not queue.offer("never")  # nothing is ever added without a wait
    assert len(queue) == 0
    results: list[bool] = []
    await put_in_background(nursery, queue, "one", results)
    assert results == []  # put waits until a consumer took it...
    assert len(queue) == 1
    assert await queue.get() == "one"
    await trio.testing.wait_all_tasks_blocked()
    assert results == [True]  # ... and not a moment longer
    assert len(queue) == 0


async def test_capacity_zero_put_returns_when_a_waiting_consumer_takes_it(
    nursery: trio.Nursery,
) -> None:
    queue = MessageQueue(0)
    got: list[Any] = []

    async def consume() -> None:
        got.append(await queue.get())

    nursery.start_soon(consume)
    await trio.testing.wait_all_tasks_blocked()
    with trio.fail_after(1):
        assert await queue.put("one")
    assert got == ["one"]


# ---------------------------------------------------------------------- cancellation


async def park_then_cancel(nursery: trio.Nursery, call: Any) -> None:
    """Run ``call()`` until it parks, then cancel it."""
    scope = trio.CancelScope()

    async def run() -> None:
        with scope:
            await call()

    nursery.start_soon(run)
    await trio.testing.wait_all_tasks_blocked()
    scope.cancel()
    await trio.testing.wait_all_tasks_blocked()


async def test_cancelled_get_takes_nothing(nursery: trio.Nursery) -> None:
    queue = MessageQueue(1)
    await park_then_cancel(nursery, queue.get)  # waits, then is cancelled
    assert queue.offer("kept")
    with trio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(trio.Cancelled):
            await queue.get()  # cancelled before it takes the message
    assert len(queue) == 1
    assert await queue.get() == "kept"


async def test_cancelled_put_queues_nothing(nursery: trio.Nursery) -> None:
    queue = MessageQueue(1)
    assert queue.offer("first")
    await park_then_cancel(nursery, lambda: queue.put("never"))
    assert queue.take() == "first"
    assert len(queue) == 0


# ---------------------------------------------------------------------- closing


async def test_close_wakes_consumers_with_the_reason(nursery: trio.Nursery) -> None:
    queue = MessageQueue(1)
    raised: list[CloseReason | None] = []

    async def consume() -> None:
        try:
            await queue.get()
        except ConnectionClosed as exc:
            raised.append(exc.reason)

    for _ in range(3):
        nursery.start_soon(consume)
    await trio.testing.wait_all_tasks_blocked()
    queue.close(NORMAL)
    await trio.testing.wait_all_tasks_blocked()
    assert raised == [NORMAL] * 3


async def test_messages_before_a_close_can_still_be_read() -> None:
    queue = MessageQueue(2)
    assert queue.offer("a") and queue.offer("b")
    queue.close(NORMAL)
    assert queue.reason == NORMAL
    assert not queue.offer("late")  # closed: nothing more is added
    assert [await queue.get(), queue.take()] == ["a", "b"]
    with pytest.raises(ConnectionClosed) as info:
        await queue.get()
    assert info.value.reason == NORMAL
    with pytest.raises(ConnectionClosed):
        queue.take()


async def test_close_with_discard_drops_what_is_held() -> None:
    queue = MessageQueue(2)
    assert queue.offer("a")
    queue.close(NORMAL, discard=True)
    assert len(queue) == 0
    with pytest.raises(ConnectionClosed):
        await queue.get()


async def test_a_second_close_is_ignored_unless_it_replaces() -> None:
    queue = MessageQueue(2)
    assert queue.offer("a")
    queue.close(GONE)
    queue.close(NORMAL, discard=True)  # ignored entirely
    assert queue.reason == GONE and len(queue) == 1
    going_away = CloseReason(1001, "server shutting down")
    queue.close(going_away, replace=True)
    assert queue.reason == going_away and len(queue) == 1
    queue.close(NORMAL, discard=True, replace=True)
    assert queue.reason == NORMAL and len(queue) == 0


async def test_close_releases_a_producer_waiting_for_room(nursery: trio.Nursery) -> None:
    queue = MessageQueue(1)
    assert queue.offer("held")
    results: list[bool] = []
    await put_in_background(nursery, queue, "dropped", results)
    queue.close(NORMAL)
    await trio.testing.wait_all_tasks_blocked()
    assert results == [False]  # nobody will read it: dropped
    assert await queue.get() == "held"
    with pytest.raises(ConnectionClosed):
        await queue.get()
    assert await queue.put("after") is False


async def test_close_releases_a_producer_handing_over(nursery: trio.Nursery) -> None:
    queue = MessageQueue(0)
    results: list[bool] = []
    await put_in_background(nursery, queue, "last", results)
    queue.close(NORMAL)
    await trio.testing.wait_all_tasks_blocked()
    assert len(results) == 1  # the producer is free again
    assert await queue.get() == "last"  # a remote close keeps it readable


async def test_close_wakes_a_consumer_parked_on_its_own(nursery: trio.Nursery) -> None:
    queue = MessageQueue(1)
    woken = trio.Event()

    async def consumer() -> None:
        await queue.consumers.park()
        woken.set()

    nursery.start_soon(consumer)
    await trio.testing.wait_all_tasks_blocked()
    assert not woken.is_set()
    queue.close(NORMAL)
    await trio.testing.wait_all_tasks_blocked()
    assert woken.is_set()


# ---------------------------------------------------------------------- no deadlock


@pytest.mark.parametrize("capacity", [0, 1])
async def test_producer_parked_behind_consumers_is_woken(
    capacity: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Regression: with one parking lot for everyone, a consumer taking a message woke the next
    parked consumer instead of the producer waiting for room, and everything stopped."""
    queue = MessageQueue(capacity)
    got: list[Any] = []

    async def consume_one() -> None:
        got.append(await queue.get())

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(consume_one)
            await trio.testing.wait_all_tasks_blocked()  # three consumers parked first
            for message in ("a", "b", "c"):
                assert await queue.put(message)
    assert sorted(got) == ["a", "b", "c"]


@pytest.mark.parametrize("capacity", [0, 1, 4])
@pytest.mark.parametrize("consumers", [1, 3, 8])
async def test_many_consumers_one_producer_never_deadlock(
    capacity: int, consumers: int, autojump_clock: trio.testing.MockClock
) -> None:
    queue = MessageQueue(capacity)
    messages = [f"m{i}" for i in range(300)]
    got: list[list[Any]] = [[] for _ in range(consumers)]

    async def consume(mine: list[Any]) -> None:
        while True:
            try:
                mine.append(await queue.get())
            except ConnectionClosed:
                return
            if len(mine) % 7 == 0:
                await trio.lowlevel.checkpoint()  # let the others in

    async def produce() -> None:
        for message in messages:
            if not queue.offer(message):  # as the connection's reader does
                assert await queue.put(message)
        await trio.testing.wait_all_tasks_blocked()  # the consumers took everything
        assert len(queue) == 0
        queue.close(NORMAL)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for mine in got:
                nursery.start_soon(consume, mine)
            nursery.start_soon(produce)
    assert sorted(m for mine in got for m in mine) == sorted(messages)
    for mine in got:
        assert mine == sorted(mine, key=messages.index)  # each consumer sees them in order
