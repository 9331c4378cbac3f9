"""RedisBroker when Redis is not there: at startup, lost while running, and through Sentinel."""

from __future__ import annotations

import time

import pytest
import trio

from wsframework.exceptions import BrokerUnavailable
from wsframework.rooms.broker import HistoryPolicy, Member
from wsframework.rooms.redis import RedisBroker

from ..redis_servers import RedisProcess, free_port
from .broker_helpers import COREDIS_UNCLOSED_STREAMS, Recorder, running

HISTORY = HistoryPolicy(size=100, ttl=60)

pytestmark = pytest.mark.filterwarnings(COREDIS_UNCLOSED_STREAMS)


async def test_startup_against_a_closed_port_fails_fast_and_says_where(
    redis_server: RedisProcess,
) -> None:
    port = free_port()
    broker = RedisBroker(f"redis://127.0.0.1:{port}/0")
    started = time.monotonic()
    with trio.fail_after(5), pytest.raises(BrokerUnavailable) as caught:
        await broker.run(Recorder(), presence_ttl=1)
    assert time.monotonic() - started < 3
    message = str(caught.value)
    assert message == f"Redis at 127.0.0.1:{port} is unreachable: connection refused."
    assert "\n" not in message


async def test_startup_against_a_silent_server_times_out() -> None:
    # A listening socket that never answers: connecting works, the PING gets no reply.
    with trio.socket.socket() as listener:
        await listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        broker = RedisBroker(f"redis://127.0.0.1:{port}", connect_timeout=0.2, command_timeout=0.2)
        with trio.fail_after(5), pytest.raises(BrokerUnavailable, match=f"127.0.0.1:{port}"):
            await broker.run(Recorder(), presence_ttl=1)


async def test_losing_redis_reports_once_then_resubscribes_every_room(
    redis_server: RedisProcess,
) -> None:
    a = RedisBroker(redis_server.url, node="node-a", backoff=0.05, max_backoff=0.2)
    b = RedisBroker(redis_server.url, node="node-b", backoff=0.05, max_backoff=0.2)
    async with running(a) as seen_a, running(b) as seen_b:
        for room in ("one", "two"):
            await a.subscribe(room)
        await b.publish("one", "before")
        await seen_a.until(lambda: seen_a.data() == ["before"])

        redis_server.stop()
        await seen_a.until(lambda: seen_a.calls == ["lost"])
        await seen_b.until(lambda: seen_b.calls == ["lost"])
        assert isinstance(seen_a.errors[0], Exception)
        # While down: fast BrokerUnavailable, and leave does not raise.
        for call in (
            a.publish("one", "x"),
            a.publish("one", "x", history=HISTORY),
            a.history("one", None, HISTORY),
            a.join("one", Member("c1", "node-a")),
            a.members("one"),
            a.count("one"),
        ):
            started = time.monotonic()
            with pytest.raises(BrokerUnavailable, match="unreachable"):
                await call
            assert time.monotonic() - started < 0.5
        await a.leave("one", Member("c1", "node-a"))

        redis_server.start()
        await seen_a.until(lambda: seen_a.calls == ["lost", "restored"])
        await seen_b.until(lambda: seen_b.calls == ["lost", "restored"])
        await b.publish("two", "after")
        await b.publish("one", "again", history=HISTORY)
        await seen_a.until(lambda: len(seen_a.publications) == 3)
        assert [(p.room, p.data) for p in seen_a.publications] == [
            ("one", "before"),
            ("two", "after"),
            ("one", "again"),
        ]
        assert seen_a.calls == ["lost", "restored"]  # once each


async def test_history_after_a_restart_is_a_new_epoch(redis_server: RedisProcess) -> None:
    broker = RedisBroker(redis_server.url, backoff=0.05, max_backoff=0.2)
    async with running(broker) as seen:
        old = await broker.publish("r", "kept?", history=HISTORY)
        assert old is not None
        redis_server.restart()
        await seen.until(lambda: seen.calls == ["lost", "restored"])
        window = await broker.history("r", old, HISTORY)
        assert not window.recovered and window.publications == ()
        assert window.position.epoch != old.epoch and window.position.offset == 0


async def test_presence_comes_back_after_a_restart(redis_server: RedisProcess) -> None:
    broker = RedisBroker(redis_server.url, backoff=0.05, max_backoff=0.2)
    member = Member("c1", broker.node, {"n": 1})
    async with running(broker, presence_ttl=0.3) as seen:
        await broker.subscribe("r")
        await broker.join("r", member)
        await seen.until(lambda: len(seen.events) == 1)
        redis_server.restart()
        # The entry was lost with Redis's data: it is back before connection_restored, with a
        # join event (which this node sees unless a refresh ran before it resubscribed).
        await seen.until(lambda: seen.calls == ["lost", "restored"])
        assert await broker.members("r") == [member]
        assert await broker.count("r") == 1
        assert {e.kind for e in seen.events} == {"join"} and len(seen.events) <= 2


async def test_sentinel_url_works_end_to_end(sentinel_url: str) -> None:
    a = RedisBroker(sentinel_url, node="node-a")
    b = RedisBroker(sentinel_url, node="node-b")
    async with running(a) as seen_a, running(b):
        await a.subscribe("r")
        await b.join("r", Member("c1", "node-b"))
        position = await b.publish("r", b"via sentinel", history=HISTORY)
        await seen_a.until(lambda: len(seen_a.publications) == 1 and len(seen_a.events) == 1)
        assert seen_a.publications[0].data == b"via sentinel"
        assert seen_a.publications[0].position == position
        assert await a.count("r") == 1


async def test_sentinel_without_the_service_is_unavailable(sentinel_url: str) -> None:
    broker = RedisBroker(sentinel_url.replace("/mymaster/", "/nosuch/"))
    with trio.fail_after(5), pytest.raises(BrokerUnavailable, match="nosuch"):
        await broker.run(Recorder(), presence_ttl=1)


async def test_a_broker_runs_once_at_a_time(redis_url: str) -> None:
    broker = RedisBroker(redis_url)
    async with running(broker):
        with pytest.raises(RuntimeError, match="already running"):
            await broker.run(Recorder(), presence_ttl=1)
    with pytest.raises(ValueError, match="presence_ttl"):
        await broker.run(Recorder(), presence_ttl=0)
