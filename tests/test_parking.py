"""Waiters: the lean parking lot connections and room members wait on."""

from __future__ import annotations

import trio
import trio.testing

from wsframework._parking import Waiters


async def test_tasks_wake_in_the_order_they_parked() -> None:
    waiters = Waiters()
    woken: list[str] = []

    async def park(name: str) -> None:
        await waiters.park()
        woken.append(name)

    async with trio.open_nursery() as nursery:
        for name in "abc":
            nursery.start_soon(park, name)
            await trio.testing.wait_all_tasks_blocked()
        assert len(waiters) == 3 and waiters
        for _ in "abc":
            waiters.unpark()
            await trio.testing.wait_all_tasks_blocked()
    assert woken == ["a", "b", "c"]
    assert not waiters and len(waiters) == 0


async def test_unpark_all_wakes_everyone() -> None:
    waiters = Waiters()
    woken: list[int] = []

    async def park(number: int) -> None:
        await waiters.park()
        woken.append(number)

    async with trio.open_nursery() as nursery:
        for number in range(5):
            nursery.start_soon(park, number)
        await trio.testing.wait_all_tasks_blocked()
        assert len(waiters) == 5
        waiters.unpark_all()
        assert not waiters
    assert sorted(woken) == [0, 1, 2, 3, 4]


async def test_a_cancelled_task_leaves_the_line() -> None:
    waiters = Waiters()
    woken: list[str] = []

    async def park(name: str, scope: trio.CancelScope) -> None:
        with scope:
            await waiters.park()
            woken.append(name)

    first, second = trio.CancelScope(), trio.CancelScope()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(park, "first", first)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(park, "second", second)
        await trio.testing.wait_all_tasks_blocked()
        first.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert len(waiters) == 1
        waiters.unpark()
    assert first.cancelled_caught
    assert woken == ["second"]


def test_unparking_nobody_does_nothing() -> None:
    waiters = Waiters()
    waiters.unpark()
    waiters.unpark_all()
    assert not waiters
