"""MemoryBroker: delivery to its hub, history windows and epochs, presence and events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from wsframework.exceptions import BrokerUnavailable
from wsframework.rooms import HistoryPolicy, Member, MemoryBroker, Position, Publication

from .broker_helpers import Recorder, running

POLICY = HistoryPolicy(size=3, ttl=10)


@asynccontextmanager
async def started() -> AsyncIterator[tuple[MemoryBroker, Recorder]]:
    broker = MemoryBroker(node="n1")
    async with running(broker, presence_ttl=1) as recorder:
        yield broker, recorder
    assert recorder.calls == []  # a memory broker is never lost


async def test_only_subscribed_rooms_are_delivered_with_origin_and_exclude() -> None:
    async with started() as (broker, recorder):
        await broker.publish("r", "before")
        await broker.subscribe("r")
        await broker.publish("r", b"bytes", exclude=("n1/1",))
        await broker.unsubscribe("r")
        await broker.publish("r", "after")
        assert recorder.publications == [Publication("r", b"bytes", None, "n1", ("n1/1",))]


async def test_offsets_count_from_one_and_the_window_recovers_exactly() -> None:
    async with started() as (broker, _):
        top = (await broker.history("r", None, POLICY)).position
        assert top.offset == 0
        positions = [await broker.publish("r", f"m{n}", history=POLICY) for n in range(5)]
        assert [p.offset for p in positions if p] == [1, 2, 3, 4, 5]
        assert {p.epoch for p in positions if p} == {top.epoch}
        window = await broker.history("r", Position(top.epoch, 2), POLICY)
        assert window.recovered and [p.data for p in window.publications] == ["m2", "m3", "m4"]
        assert window.position == Position(top.epoch, 5)
        assert not (await broker.history("r", Position(top.epoch, 5), POLICY)).publications
        # m1 left the window of 3: a client at offset 1 cannot be recovered, not even in part.
        partial = await broker.history("r", Position(top.epoch, 1), POLICY)
        assert not partial.recovered and not partial.publications
        for wrong in (Position("other", 4), Position(top.epoch, 9)):
            assert not (await broker.history("r", wrong, POLICY)).recovered


async def test_an_idle_stream_expires_and_a_new_epoch_starts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with started() as (broker, _):
        first = await broker.publish("r", "old", history=POLICY)
        assert first is not None
        await trio.sleep(POLICY.ttl + 1)
        window = await broker.history("r", first, POLICY)
        assert not window.recovered and window.position.epoch != first.epoch
        second = await broker.publish("r", "new", history=POLICY)
        assert second == Position(window.position.epoch, 1)


async def test_presence_and_events() -> None:
    async with started() as (broker, recorder):
        await broker.subscribe("r")
        ann, bob = Member("n1/1", "n1", {"user": "ann"}), Member("n1/2", "n1", None)
        await broker.join("r", ann)
        await broker.join("r", bob)
        assert await broker.count("r") == 2 and await broker.members("r") == [ann, bob]
        await broker.leave("r", ann)
        await broker.leave("r", ann)  # twice: nothing more happens
        assert await broker.members("r") == [bob]
        assert [(e.kind, e.member) for e in recorder.events] == [
            ("join", ann),
            ("join", bob),
            ("leave", ann),
        ]


async def test_one_hub_per_broker_and_nothing_before_it_runs() -> None:
    async with started() as (broker, recorder):
        with pytest.raises(RuntimeError, match="running already"):
            await broker.run(recorder, presence_ttl=1)
        idle = MemoryBroker()
        with pytest.raises(BrokerUnavailable, match="not running"):
            await idle.join("r", Member("a", "b"))
        assert repr(idle) == "MemoryBroker()"
