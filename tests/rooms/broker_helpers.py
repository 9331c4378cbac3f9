"""A recording :class:`~wsframework.rooms.broker.BrokerHandler` and a way to run brokers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from wsframework.rooms.broker import Broker, Publication, RoomEvent

WAIT = 10.0  # seconds any single wait may take before the test fails

# coredis 6.9 creates a connection's anyio memory streams before connecting and closes them
# only once connected: each refused attempt (a broker starting or reconnecting while Redis is
# down) leaves four for the garbage collector, which warns. Not ours to fix; the rooms'
# conftest collects garbage after each test so the warnings land (ignored) in the right test.
COREDIS_UNCLOSED_STREAMS = "ignore:Unclosed <MemoryObject:ResourceWarning"


class Recorder:
    """Keeps everything a broker hands over; ``await until(predicate)`` waits for a state."""

    def __init__(self) -> None:
        self.publications: list[Publication] = []
        self.events: list[RoomEvent] = []
        self.calls: list[str] = []  # "lost" / "restored", in order
        self.errors: list[BaseException] = []
        self._changed = trio.Event()

    def _touch(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def deliver(self, publication: Publication) -> None:
        self.publications.append(publication)
        self._touch()

    def event(self, event: RoomEvent) -> None:
        self.events.append(event)
        self._touch()

    def connection_lost(self, error: BaseException) -> None:
        self.calls.append("lost")
        self.errors.append(error)
        self._touch()

    def connection_restored(self) -> None:
        self.calls.append("restored")
        self._touch()

    async def until(self, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
        """Return once ``predicate()`` holds; fail the test after ``timeout`` seconds."""
        with trio.fail_after(timeout):
            while not predicate():
                await self._changed.wait()

    def data(self, room: str | None = None) -> list[str | bytes]:
        return [p.data for p in self.publications if room is None or p.room == room]


@asynccontextmanager
async def running(
    broker: Broker, recorder: Recorder | None = None, *, presence_ttl: float = 30.0
) -> AsyncIterator[Recorder]:
    """Run ``broker`` for the duration of the block (cancelled at its end)."""
    recorder = recorder or Recorder()
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: broker.run(
                recorder, presence_ttl=presence_ttl, task_status=task_status
            )
        )
        yield recorder
        nursery.cancel_scope.cancel()
