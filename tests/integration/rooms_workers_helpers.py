"""The harness of the two-worker rooms tests (``test_rooms_workers*.py``).

``workers`` (a fixture, once per runner) is a real ``redis-server`` of the test's own and
``rooms_app`` served by two worker processes sharing it: ``wsframework run --workers 2 --broker
URL`` or ``hypercorn --worker-class trio --workers 2`` with ``WSFRAMEWORK_BROKER=URL`` in its
environment. Each worker prints ``rooms_app: ready NODE`` (its presence node, ``host:pid:...``),
which gives the test the worker PIDs; at teardown the server is stopped and every worker still
alive is killed by its PID.

Clients are our own (``open_websocket_url``); every wait is bounded by ``trio.fail_after`` on an
observed message. The test itself is a third node: an ``observer`` (a ``RedisBroker`` with a
recording handler) publishes, reads presence, and sees join and leave events of the rooms it
subscribes to.
"""

from __future__ import annotations

import gc
import json
import os
import re
import signal
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from wsframework import connect_websocket_url, open_websocket_url
from wsframework.interface import WebSocketConnection
from wsframework.rooms import Publication, RoomEvent
from wsframework.rooms.redis import RedisBroker

from ..redis_servers import RedisProcess, running_redis
from ..rooms.broker_helpers import COREDIS_UNCLOSED_STREAMS
from .cli_helpers import ROOT, Server
from .processes import free_port
from .rooms_app import HISTORY, PRESENCE_TTL

APP = "tests.integration.rooms_app:app"
READY = re.compile(r"rooms_app: ready (\S+)")
#: Seconds any one expected message or event may take.
TIMEOUT = 10.0
#: Clients a test may open to get members on both workers.
MAX_CLIENTS = 40
BURST = 4
RUNNERS = ["native", "hypercorn"]


def node_pid(node: str) -> int:
    """The PID in a node name (``host:pid:random``)."""
    return int(node.rsplit(":", 2)[1])


@dataclass
class Workers:
    """Two worker processes serving ``rooms_app`` on ``port`` through ``redis``."""

    runner: str
    server: Server
    port: int
    redis: RedisProcess
    nodes: list[str] = field(default_factory=list)  # in the order they got ready

    def url(self, room: str, user: str, since: str | None = None) -> str:
        query = f"user={user}" + (f"&since={since}" if since is not None else "")
        return f"ws://127.0.0.1:{self.port}/chat/{room}?{query}"

    def wait_ready(self, count: int) -> list[str]:
        """Block until ``count`` workers have printed their ready line (restarts included)."""
        index = 0
        nodes: list[str] = []
        while len(nodes) < count:
            index, found = self.server.find(READY, after=index)
            nodes.append(found.group(1))
            index += 1
        self.nodes = nodes
        return nodes

    def kill_leftovers(self) -> None:
        """SIGKILL every worker still alive, by the PID its node name gives."""
        for node in self.nodes:
            pid = node_pid(node)
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue  # gone
            if b"python" in cmdline:
                os.kill(pid, signal.SIGKILL)


def start_workers(runner: str, redis: RedisProcess) -> Workers:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    env.pop("WSFRAMEWORK_BROKER", None)
    if runner == "native":
        args = ["run", APP, "--workers", "2", "--port", "0", "--broker", redis.url]
        server = Server([*args, "--graceful-timeout", "2"], env)
        port = server.started()[1]
    else:
        port = free_port()
        env["WSFRAMEWORK_BROKER"] = redis.url
        args = ["--worker-class", "trio", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
        server = Server([*args, "--graceful-timeout", "2", APP], env, module="hypercorn")
    workers = Workers(runner, server, port, redis)
    try:
        nodes = workers.wait_ready(2)
    except BaseException:
        server.cleanup()
        raise
    assert len({node_pid(node) for node in nodes}) == 2
    return workers


@pytest.fixture(params=RUNNERS)
def workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workers]:
    """A Redis and ``rooms_app`` on two workers of ``request.param``, stopped by PID after."""
    with running_redis(tmp_path) as redis:
        served = start_workers(request.param, redis)
        try:
            yield served
        finally:
            served.server.cleanup()
            served.kill_leftovers()
            gc.collect()  # what coredis left for the collector warns within this test


#: coredis leaves a refused connection's anyio streams to the garbage collector (see
#: tests/rooms/broker_helpers.py): the tests where Redis goes away ignore that warning.
IGNORE_COREDIS_STREAMS = pytest.mark.filterwarnings(COREDIS_UNCLOSED_STREAMS)


# ---------------------------------------------------------------------------- clients


class Client:
    """One of our clients in a room: what it received, as JSON objects (a publication's
    ``data`` cut to its label, what precedes ``|``: the tests' long payloads are not kept)."""

    def __init__(self, ws: WebSocketConnection, user: str) -> None:
        self.ws = ws
        self.user = user
        self.seen: list[dict[str, Any]] = []
        self.hello: dict[str, Any] = {}
        self._changed = trio.lowlevel.ParkingLot()

    def __repr__(self) -> str:
        return f"<Client {self.user} on {self.hello.get('node')}>"

    @property
    def node(self) -> str:
        return str(self.hello["node"])

    @property
    def connection_id(self) -> str:
        return str(self.hello["connection_id"])

    @property
    def data(self) -> list[str]:
        """The labels of the publications received so far."""
        return [m["data"] for m in self.seen if m["type"] == "message"]

    def left(self) -> list[str]:
        """The connection ids of the leave events received so far."""
        return [m["connection_id"] for m in self.seen if m["type"] == "leave"]

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT
    ) -> dict[str, Any]:
        """Receive until a message matches ``predicate`` (kept in ``seen`` with the others)."""
        with trio.fail_after(timeout):
            while True:
                item = json.loads(await self.ws.get_message())
                if item["type"] == "message":
                    item["data"] = item["data"].partition("|")[0]
                self.seen.append(item)
                self._changed.unpark_all()
                if predicate(item):
                    return item

    async def until_data(self, label: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Receive until the publication labelled ``label``."""
        return await self.until(lambda m: m["type"] == "message" and m["data"] == label, timeout)

    async def received(self, label: str) -> None:
        """Wait until another task's :meth:`until` received the publication ``label``."""
        while not any(m["type"] == "message" and m["data"] == label for m in self.seen[-64:]):
            await self._changed.park()


async def connect(
    stack: AsyncExitStack, workers: Workers, room: str, user: str, since: str | None = None
) -> Client:
    """A client joined to ``room`` (its hello received), closed with ``stack``."""
    # Without permessage-deflate the wire carries the payloads as they are, so a client that
    # stops reading fills the kernel's buffers after a few large publications.
    url = workers.url(room, user, since)
    ws = await stack.enter_async_context(
        open_websocket_url(url, max_message_size=2**22, compression=None)
    )
    client = Client(ws, user)
    client.hello = await client.until(lambda m: m["type"] == "hello")
    return client


async def connect_on_both(
    stack: AsyncExitStack, workers: Workers, room: str, *, on_one: int = 1, on_other: int = 1
) -> list[Client]:
    """Connect clients until one worker has ``on_one`` of them and the other ``on_other``.

    Which worker accepts is the kernel's choice, and clients connecting one after the other
    tend to land on the same worker: they connect ``BURST`` at a time, at once, so that one
    worker is still busy with a handshake while the other accepts.
    """
    clients: list[Client] = []
    wanted = sorted((on_one, on_other), reverse=True)
    nursery = await stack.enter_async_context(trio.open_nursery())

    async def one(user: str) -> None:
        url = workers.url(room, user)
        ws = await connect_websocket_url(nursery, url, max_message_size=2**22, compression=None)
        stack.push_async_callback(ws.aclose)
        client = Client(ws, user)
        client.hello = await client.until(lambda m: m["type"] == "hello")
        clients.append(client)

    while True:
        counts = sorted(Counter(c.node for c in clients).values(), reverse=True)
        if len(counts) == 2 and counts[0] >= wanted[0] and counts[1] >= wanted[1]:
            clients.sort(key=lambda c: int(c.user[4:]))
            return clients
        assert len(clients) < MAX_CLIENTS, f"the workers took {counts} of {len(clients)} clients"
        async with trio.open_nursery() as burst:
            for i in range(len(clients), len(clients) + BURST):
                burst.start_soon(one, f"user{i}")


# ---------------------------------------------------------------------------- the observer


class Recorder:
    """A ``BrokerHandler`` that keeps what it is given and wakes whoever waits on it."""

    def __init__(self) -> None:
        self.publications: list[Publication] = []
        self.events: list[RoomEvent] = []
        self.lost = 0
        self.restored = 0
        self._wake = trio.lowlevel.ParkingLot()

    def deliver(self, publication: Publication) -> None:
        self.publications.append(publication)
        self._wake.unpark_all()

    def event(self, event: RoomEvent) -> None:
        self.events.append(event)
        self._wake.unpark_all()

    def connection_lost(self, error: BaseException) -> None:
        self.lost += 1
        self._wake.unpark_all()

    def connection_restored(self) -> None:
        self.restored += 1
        self._wake.unpark_all()

    def left(self) -> list[str]:
        return [e.member.connection_id for e in self.events if e.kind == "leave"]

    async def wait(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        with trio.fail_after(timeout):
            while not predicate():
                await self._wake.park()


@asynccontextmanager
async def observer(url: str) -> AsyncIterator[tuple[RedisBroker, Recorder]]:
    """The test's own node: a running ``RedisBroker`` and what its handler was given."""
    broker = RedisBroker(url, backoff=0.05, max_backoff=0.5)
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        await nursery.start(partial(broker.run, recorder, presence_ttl=PRESENCE_TTL))
        yield broker, recorder
        nursery.cancel_scope.cancel()


async def publish(broker: RedisBroker, room: str, data: str) -> None:
    """Publish as ``app.rooms[room].publish(data)`` would (with history in ``history:*``)."""
    history = HISTORY if room.startswith("history:") else None
    with trio.fail_after(TIMEOUT):
        await broker.publish(room, data, history=history)
