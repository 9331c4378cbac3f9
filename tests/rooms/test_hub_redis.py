"""The hub over a real Redis: two apps in one test stand for two worker processes."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from wsframework import App
from wsframework.interface import WebSocketConnection
from wsframework.rooms import HistoryPolicy

from .broker_helpers import COREDIS_UNCLOSED_STREAMS
from .room_helpers import chat_app, running, until_count

Connect = Callable[[App, str], Awaitable[WebSocketConnection]]


@asynccontextmanager
async def two_workers(url: str, **options: object) -> AsyncIterator[tuple[App, App, Connect]]:
    """Two apps on one Redis, each through its test client, and ``connect(app, target)``."""
    one, two = chat_app(**options), chat_app(**options)
    one.rooms.use_broker(url)
    two.rooms.use_broker(url)
    async with running(one) as one_clients, running(two) as two_clients:
        by_app = {one: one_clients, two: two_clients}

        async def connect(app: App, target: str) -> WebSocketConnection:
            return await by_app[app].connect(target)

        yield one, two, connect


async def test_a_publication_reaches_every_member_of_both_workers_once(redis_url: str) -> None:
    async with two_workers(redis_url) as (one, two, connect):
        a = await connect(one, "/chat/r?user=a")
        b = await connect(two, "/chat/r?user=b")
        c = await connect(two, "/chat/r?user=c&echo=0")
        await until_count(one, "r", 3)
        assert one.rooms.broker.node != two.rooms.broker.node
        members = await two.rooms["r"].members()
        assert sorted(m.info["user"] for m in members) == ["a", "b", "c"]
        assert {m.node for m in members} == {one.rooms.broker.node, two.rooms.broker.node}
        await a.send_message("from one")
        await c.send_message("from two")
        with trio.fail_after(5):
            for client in (a, b):
                got = {await client.get_message(), await client.get_message()}
                assert got == {"from one", "from two"}
            assert await c.get_message() == "from one"  # its own was excluded on its worker
        for client in (a, b, c):
            with trio.move_on_after(0.1):
                pytest.fail(f"delivered twice: {await client.get_message()!r}")


async def test_recovery_across_workers(redis_url: str) -> None:
    async with two_workers(redis_url, history=HistoryPolicy(size=50, ttl=60)) as (
        one,
        two,
        connect,
    ):
        writer = await connect(one, "/chat/r?echo=0")
        reader = await connect(two, "/chat/r")
        await until_count(one, "r", 2)
        await writer.send_message("seen")
        with trio.fail_after(5):
            assert await reader.get_message() == "seen"
        position = (await two.rooms.broker.history("r", None, HistoryPolicy(50, 60))).position
        await reader.aclose()
        await until_count(one, "r", 1)
        for n in range(3):
            await writer.send_message(f"missed {n}")
        back = await connect(two, f"/chat/r?since={position}")
        with trio.fail_after(5):
            got = [await back.get_message() for _ in range(4)]
        assert json.loads(got[0]) == {"recovered": True} or json.loads(got[-1]) == {
            "recovered": True
        }
        assert [m for m in got if not m.startswith("{")] == [f"missed {n}" for n in range(3)]


@pytest.mark.filterwarnings(COREDIS_UNCLOSED_STREAMS)
async def test_a_restarted_redis_resubscribes_and_delivery_resumes(redis_server: object) -> None:
    server = redis_server
    url = server.url  # type: ignore[attr-defined]
    async with two_workers(url) as (one, two, connect):
        restored = {one: trio.Event(), two: trio.Event()}
        for app, event in restored.items():
            app.rooms.on_restored(event_setter(event))
        a = await connect(one, "/chat/r?echo=0")
        b = await connect(two, "/chat/r")
        await until_count(one, "r", 2)
        await trio.to_thread.run_sync(server.restart)  # type: ignore[attr-defined]
        with trio.fail_after(20):
            for event in restored.values():
                await event.wait()
            await one.rooms["r"].publish("after the restart")
            assert await b.get_message() == "after the restart"
        assert a.closed is None and b.closed is None
        assert await two.rooms["r"].count() == 2  # presence was written again


def event_setter(event: trio.Event) -> Callable[[], Awaitable[None]]:
    async def hook() -> None:
        event.set()

    return hook


class OnLog(logging.Handler):
    """Sets ``event`` when a record containing ``text`` is logged (the hub logs its broker
    loss from the broker's task, in the test's thread)."""

    def __init__(self, text: str, event: trio.Event) -> None:
        super().__init__()
        self.text = text
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


def reconnects(exposition: str) -> float:
    families = text_string_to_metric_families(exposition)
    return next(f for f in families if f.name == "wsframework_broker_reconnects").samples[0].value


@pytest.mark.filterwarnings(COREDIS_UNCLOSED_STREAMS)
async def test_readiness_is_503_while_the_broker_is_lost_and_a_reconnect_is_counted(
    redis_server: object,
) -> None:
    server = redis_server
    app = chat_app()
    app.rooms.use_broker(server.url)  # type: ignore[attr-defined]
    app.add_health_route()
    app.add_metrics_route()
    restored = trio.Event()
    app.rooms.on_restored(event_setter(restored))
    async with running(app) as clients:
        client = clients.client
        assert (await client.get("/ready")).text == "ready\n"
        before = reconnects((await client.get("/metrics")).text)
        lost = trio.Event()
        watcher = OnLog("lost the broker", lost)
        logging.getLogger("wsframework.rooms").addHandler(watcher)
        try:
            await trio.to_thread.run_sync(server.stop)  # type: ignore[attr-defined]
            with trio.fail_after(20):
                await lost.wait()
        finally:
            logging.getLogger("wsframework.rooms").removeHandler(watcher)
        assert app.rooms.broker_lost
        answer = await client.get("/ready")
        assert (answer.status_code, answer.text) == (503, "not ready: the rooms broker is lost\n")
        await trio.to_thread.run_sync(server.start)  # type: ignore[attr-defined]
        with trio.fail_after(20):
            await restored.wait()
        assert (await client.get("/ready")).status_code == 200
        assert reconnects((await client.get("/metrics")).text) == before + 1
