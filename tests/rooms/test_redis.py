"""RedisBroker against a real redis-server: delivery, history and recovery across two nodes.

Two brokers with different node ids in one test stand for two processes. Presence and expiry
are in ``test_redis_presence.py``, losing Redis in ``test_redis_connection.py``.
"""

from __future__ import annotations

import coredis
import pytest
import trio

from wsframework.rooms.broker import HistoryPolicy, Position, Publication
from wsframework.rooms.redis import RedisBroker

from .broker_helpers import COREDIS_UNCLOSED_STREAMS, WAIT, running

HISTORY = HistoryPolicy(size=1000, ttl=60)

pytestmark = pytest.mark.filterwarnings(COREDIS_UNCLOSED_STREAMS)


def two_brokers(url: str) -> tuple[RedisBroker, RedisBroker]:
    return RedisBroker(url, node="node-a"), RedisBroker(url, node="node-b")


async def test_publications_reach_both_nodes_once_with_their_type(redis_url: str) -> None:
    a, b = two_brokers(redis_url)
    async with running(a) as seen_a, running(b) as seen_b:
        await a.subscribe("lobby")
        await b.subscribe("lobby")
        await a.publish("lobby", "text from a")
        await b.publish("lobby", b"\x00bytes\nfrom b\xff")
        await a.publish("lobby", "", exclude=("c1", "c2"))
        for seen in (seen_a, seen_b):
            await seen.until(lambda seen=seen: len(seen.publications) >= 3)
        assert seen_a.publications == seen_b.publications
        assert seen_a.data() == ["text from a", b"\x00bytes\nfrom b\xff", ""]
        assert [type(d) for d in seen_a.data()] == [str, bytes, str]
        assert [p.origin for p in seen_a.publications] == ["node-a", "node-b", "node-a"]
        assert seen_a.publications[2].exclude == ("c1", "c2")
        assert all(p.position is None and p.room == "lobby" for p in seen_a.publications)
        # Exactly once: nothing more arrives after a marker published last.
        await a.publish("lobby", "marker")
        await seen_b.until(lambda: seen_b.data()[-1:] == ["marker"])
        assert len(seen_b.publications) == 4


async def test_rooms_are_separate_and_unsubscribe_stops_delivery(redis_url: str) -> None:
    a, b = two_brokers(redis_url)
    async with running(a) as seen_a, running(b):
        await a.subscribe("one")
        await a.subscribe("two")
        await b.publish("two", "to two")
        await seen_a.until(lambda: len(seen_a.publications) == 1)
        await a.unsubscribe("two")
        await b.publish("two", "unheard")
        await b.publish("one", "to one")
        await seen_a.until(lambda: len(seen_a.publications) == 2)
        assert [(p.room, p.data) for p in seen_a.publications] == [
            ("two", "to two"),
            ("one", "to one"),
        ]


async def test_foreign_messages_on_a_room_channel_are_skipped(redis_url: str) -> None:
    broker = RedisBroker(redis_url)
    async with running(broker) as seen, coredis.Redis.from_url(redis_url) as client:
        await broker.subscribe("r")
        for junk in (b"junk", b"[1]\n", b'["p","n",[]]\n', b'{"c":1}\nx', b"\xff\n"):
            await client.publish("wsf:room:r", junk)
        await broker.publish("r", "real")
        await seen.until(lambda: len(seen.publications) == 1)
        assert seen.data() == ["real"] and seen.events == []


async def test_subscribing_twice_still_delivers_once(redis_url: str) -> None:
    broker = RedisBroker(redis_url)
    async with running(broker) as seen:
        await broker.subscribe("r")
        await broker.subscribe("r")
        await broker.publish("r", "one")
        await broker.publish("r", "two")
        await seen.until(lambda: seen.data()[-1:] == ["two"])
        assert seen.data() == ["one", "two"]


async def test_history_offsets_are_unique_contiguous_and_in_channel_order(
    redis_url: str,
) -> None:
    a, b = two_brokers(redis_url)
    returned: list[Position | None] = []

    async def publish_many(broker: RedisBroker, name: str) -> None:
        for i in range(200):
            returned.append(await broker.publish("busy", f"{name}{i}", history=HISTORY))

    async with running(a) as seen_a, running(b) as seen_b:
        await a.subscribe("busy")
        await b.subscribe("busy")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(publish_many, a, "a")
            nursery.start_soon(publish_many, b, "b")
        for seen in (seen_a, seen_b):
            await seen.until(lambda seen=seen: len(seen.publications) == 400)
        positions = [p.position for p in seen_a.publications]
        assert all(p is not None for p in positions)
        offsets = [p.offset for p in positions if p is not None]
        assert offsets == list(range(1, 401))  # channel order is offset order
        assert len({p.epoch for p in positions if p is not None}) == 1
        assert sorted(p.offset for p in returned if p is not None) == offsets
        assert seen_b.publications == seen_a.publications
        # Each node's own publications keep their relative order.
        assert [d for d in seen_a.data() if str(d).startswith("a")] == [f"a{i}" for i in range(200)]


async def test_recovery_returns_exactly_what_was_missed(redis_url: str) -> None:
    a, b = two_brokers(redis_url)
    async with running(a), running(b):
        start = await b.history("news", None, HISTORY)
        assert start.recovered and start.position.offset == 0 and not start.publications
        positions = [await a.publish("news", f"n{i}", history=HISTORY) for i in range(5)]
        assert [p.offset for p in positions if p] == [1, 2, 3, 4, 5]
        assert {p.epoch for p in positions if p} == {start.position.epoch}

        window = await b.history("news", Position(start.position.epoch, 2), HISTORY)
        assert window.recovered
        assert window.position == positions[-1]
        assert [p.data for p in window.publications] == ["n2", "n3", "n4"]
        assert [p.position for p in window.publications] == positions[2:]
        assert all(isinstance(p, Publication) and p.origin == "node-a" for p in window.publications)

        up_to_date = await b.history("news", positions[-1], HISTORY)
        assert up_to_date.recovered and up_to_date.publications == []
        from_zero = await b.history("news", Position(start.position.epoch, 0), HISTORY)
        assert [p.data for p in from_zero.publications] == [f"n{i}" for i in range(5)]


async def test_bytes_survive_history(redis_url: str) -> None:
    broker = RedisBroker(redis_url)
    async with running(broker):
        first = await broker.publish("bin", b"\x00\x01\n", history=HISTORY)
        await broker.publish("bin", "caf\u00e9\n", history=HISTORY)
        assert first is not None
        window = await broker.history("bin", Position(first.epoch, 0), HISTORY)
        assert [p.data for p in window.publications] == [b"\x00\x01\n", "caf\u00e9\n"]


async def test_not_recovered_once_the_window_has_passed(redis_url: str) -> None:
    broker = RedisBroker(redis_url)
    small = HistoryPolicy(size=3, ttl=60)
    async with running(broker):
        positions = [await broker.publish("r", f"m{i}", history=small) for i in range(6)]
        top = positions[-1]
        assert top is not None and top.offset == 6
        # Offsets 4..6 are kept: from 3 on recovers, from 2 (5 is needed... 3 is gone) does not.
        kept = await broker.history("r", Position(top.epoch, 3), small)
        assert kept.recovered and [p.data for p in kept.publications] == ["m3", "m4", "m5"]
        gone = await broker.history("r", Position(top.epoch, 2), small)
        assert gone == type(gone)(False, top, ())
        ahead = await broker.history("r", Position(top.epoch, 9), small)
        assert not ahead.recovered and ahead.position == top


async def test_a_lost_stream_starts_a_new_epoch(redis_url: str) -> None:
    broker = RedisBroker(redis_url, prefix="app")
    async with running(broker):
        old = await broker.publish("r", "before", history=HISTORY)
        assert old is not None
        async with coredis.Redis.from_url(redis_url) as client:
            await client.delete(["app:history-meta:r"])
        new = await broker.publish("r", "after", history=HISTORY)
        assert new is not None and new.epoch != old.epoch and new.offset == 1
        window = await broker.history("r", old, HISTORY)
        assert not window.recovered and window.publications == ()
        assert window.position == new
        # The old stream was dropped with the epoch: only the new publication is there.
        fresh = await broker.history("r", Position(new.epoch, 0), HISTORY)
        assert [p.data for p in fresh.publications] == ["after"]


async def test_history_ttl_expires_the_epoch(redis_url: str) -> None:
    broker = RedisBroker(redis_url)
    brief = HistoryPolicy(size=10, ttl=0.2)
    async with running(broker), coredis.Redis.from_url(redis_url) as client:
        await client.config_set({"notify-keyspace-events": "Ex"})
        async with client.pubsub(channels=["__keyevent@0__:expired"]) as expirations:
            old = await broker.publish("r", "x", history=brief)
            assert old is not None
            assert 0 < await client.pttl("wsf:history:r") <= 200
            expired: set[bytes] = set()
            with trio.fail_after(WAIT):
                async for message in expirations:
                    if message["type"] == "message":
                        expired.add(bytes(message["data"]))
                    if {b"wsf:history:r", b"wsf:history-meta:r"} <= expired:
                        break
        window = await broker.history("r", old, brief)
        assert not window.recovered and window.position.epoch != old.epoch


@pytest.mark.parametrize("data", [1, None, ["x"]])
async def test_publishing_other_than_str_or_bytes_is_refused(redis_url: str, data: object) -> None:
    broker = RedisBroker(redis_url)
    async with running(broker):
        with pytest.raises(TypeError, match="str or bytes"):
            await broker.publish("r", data, history=HISTORY)  # type: ignore[arg-type]


def test_the_broker_names_where_it_connects() -> None:
    broker = RedisBroker("redis://10.1.2.3:6380/2", node="n1")
    assert repr(broker) == "RedisBroker(10.1.2.3:6380, node='n1')"
    assert RedisBroker("redis://h").node.count(":") == 2


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("redis+cluster://h:7000", "Redis Cluster is not supported"),
        ("http://h:6379", "is not valid"),
        ("redis://h:99999", "port"),
    ],
)
def test_bad_urls_are_refused_with_a_sentence(url: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as caught:
        RedisBroker(url)
    assert str(caught.value).endswith(".")


async def test_calls_before_run_are_a_usage_error(redis_url: str) -> None:
    broker = RedisBroker(redis_url)
    with pytest.raises(RuntimeError, match="run"):
        await broker.publish("r", "x")
