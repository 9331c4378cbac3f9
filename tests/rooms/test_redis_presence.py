"""RedisBroker presence across two nodes: members, counts, join/leave events, expiry."""

from __future__ import annotations

import pytest
import trio

from wsframework.rooms.broker import Member, RoomEvent
from wsframework.rooms.redis import RedisBroker

from .broker_helpers import COREDIS_UNCLOSED_STREAMS, Recorder, running

pytestmark = pytest.mark.filterwarnings(COREDIS_UNCLOSED_STREAMS)


def kinds(recorder: Recorder) -> list[tuple[str, str]]:
    return [(e.kind, e.member.connection_id) for e in recorder.events]


async def test_members_and_counts_span_nodes(redis_url: str) -> None:
    a, b = RedisBroker(redis_url, node="node-a"), RedisBroker(redis_url, node="node-b")
    ann = Member("c-ann", "node-a", {"name": "ann"})
    bob = Member("c-bob", "node-b", None)
    async with running(a) as seen_a, running(b) as seen_b:
        await a.subscribe("room")
        await b.subscribe("room")
        await a.join("room", ann)
        await b.join("room", bob)
        assert sorted(await a.members("room"), key=lambda m: m.connection_id) == [ann, bob]
        assert await b.count("room") == 2
        for seen in (seen_a, seen_b):
            await seen.until(lambda seen=seen: len(seen.events) == 2)
            assert seen.events == [RoomEvent("join", "room", ann), RoomEvent("join", "room", bob)]
        await b.leave("room", bob)
        await b.leave("room", bob)  # twice: one leave event only
        await a.publish("room", "marker")
        await seen_a.until(lambda: seen_a.data() == ["marker"])
        assert kinds(seen_a) == [("join", "c-ann"), ("join", "c-bob"), ("leave", "c-bob")]
        assert seen_a.events[-1].member == bob
        assert await a.members("room") == [ann]
        assert await a.count("room") == 1
        assert await a.count("elsewhere") == 0 and await a.members("elsewhere") == []


async def test_events_and_publications_share_one_order(redis_url: str) -> None:
    a, b = RedisBroker(redis_url, node="node-a"), RedisBroker(redis_url, node="node-b")
    order: list[str] = []

    class Ordered(Recorder):
        def deliver(self, publication):  # type: ignore[no-untyped-def]
            order.append(f"pub {publication.data}")
            super().deliver(publication)

        def event(self, event):  # type: ignore[no-untyped-def]
            order.append(f"{event.kind} {event.member.connection_id}")
            super().event(event)

    async with running(a, Ordered()) as seen_a, running(b):
        await a.subscribe("r")
        await b.publish("r", "1")
        await b.join("r", Member("c1", "node-b"))
        await b.publish("r", "2")
        await b.leave("r", Member("c1", "node-b"))
        await b.publish("r", "3")
        await seen_a.until(lambda: len(order) == 5)
        assert order == ["pub 1", "join c1", "pub 2", "leave c1", "pub 3"]


async def test_own_members_stay_while_the_node_refreshes_them(redis_url: str) -> None:
    broker = RedisBroker(redis_url, node="node-a")
    other = RedisBroker(redis_url, node="node-b")
    async with running(broker, presence_ttl=0.3), running(other, presence_ttl=0.3) as seen:
        await other.subscribe("r")
        await broker.join("r", Member("c1", "node-a"))
        # Several refresh periods later (other's sweeps run meanwhile): still a member.
        await seen.until(lambda: len(seen.events) == 1)
        with trio.move_on_after(1.0):
            await seen.until(lambda: len(seen.events) > 1)
        assert kinds(seen) == [("join", "c1")]
        assert await other.count("r") == 1


async def test_a_dead_node_s_members_leave_once_through_the_others(redis_url: str) -> None:
    dying = RedisBroker(redis_url, node="node-dying")
    b = RedisBroker(redis_url, node="node-b")
    c = RedisBroker(redis_url, node="node-c")
    members = [Member(f"c{i}", "node-dying", {"i": i}) for i in range(3)]
    async with running(b, presence_ttl=1) as seen_b, running(c, presence_ttl=1) as seen_c:
        await b.subscribe("r")
        await c.subscribe("r")
        async with running(dying, presence_ttl=1):
            for member in members:
                await dying.join("r", member)
        # run() was cancelled without leaving: the entries expire, and b and c both sweep.
        assert await b.count("r") == 3
        for seen in (seen_b, seen_c):
            await seen.until(lambda seen=seen: len(seen.events) == 6, timeout=5)
        await b.publish("r", "marker")
        for seen in (seen_b, seen_c):
            await seen.until(lambda seen=seen: seen.data() == ["marker"])
            leaves = [e for e in seen.events if e.kind == "leave"]
            assert sorted(e.member.connection_id for e in leaves) == ["c0", "c1", "c2"]
            assert sorted((e.member for e in leaves), key=lambda m: m.connection_id) == members
        assert seen_b.events == seen_c.events
        assert await b.count("r") == 0 and await c.members("r") == []
