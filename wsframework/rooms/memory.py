"""MemoryBroker: rooms within one process, no server needed (the default broker).

Publications are delivered synchronously, inside :meth:`MemoryBroker.publish`, to the hub of
this process: the publisher's own await returns after every local member's queue has the
publication. History and recovery work as on Redis (an epoch per room stream, offsets from 1,
a window of ``size`` publications each kept ``ttl`` seconds, on Trio's clock); presence needs no
expiry, since a member's leave always runs in this same process.

Rooms on this broker do not reach other processes: under ``--workers 2`` each worker has its
own rooms. Use :class:`~wsframework.rooms.redis.RedisBroker` there.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field

import trio

from ..exceptions import BrokerUnavailable
from .broker import (
    Broker,
    BrokerHandler,
    HistoryPolicy,
    HistoryWindow,
    Member,
    Position,
    Publication,
    RoomEvent,
    make_node_id,
)

__all__ = ["MemoryBroker"]


@dataclass(slots=True)
class _Stream:
    epoch: str = field(default_factory=lambda: secrets.token_hex(4))
    offset: int = 0
    items: deque[tuple[float, Publication]] = field(default_factory=deque)
    touched: float = 0.0


class MemoryBroker(Broker):
    """Rooms in one process: publications, history and presence in this process's memory.

    Args:
        node: this process's name in presence entries (a fresh ``host:pid:random`` by default).
    """

    def __init__(self, *, node: str | None = None) -> None:
        self.node = node or make_node_id()
        self._handler: BrokerHandler | None = None
        self._subscribed: set[str] = set()
        self._streams: dict[str, _Stream] = {}
        self._presence: dict[str, dict[str, Member]] = {}

    def __repr__(self) -> str:
        return "MemoryBroker()"

    async def run(
        self,
        handler: BrokerHandler,
        *,
        presence_ttl: float,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve ``handler`` until cancelled (there is nothing to connect to).

        Raises:
            RuntimeError: the broker is running already.
        """
        if self._handler is not None:
            raise RuntimeError("this MemoryBroker is running already: one hub per broker")
        self._handler = handler
        try:
            task_status.started()
            await trio.sleep_forever()
        finally:
            self._handler = None
            self._subscribed.clear()

    def _running(self) -> BrokerHandler:
        if self._handler is None:
            raise BrokerUnavailable("the in-memory broker is not running (the app is not started)")
        return self._handler

    async def subscribe(self, room: str) -> None:
        """Deliver ``room``'s publications to this process's hub. Never blocks, so there is
        nothing to cancel or time out."""
        self._running()
        self._subscribed.add(room)
        await trio.lowlevel.checkpoint()

    async def unsubscribe(self, room: str) -> None:
        """Stop delivering ``room`` (no wait: nothing to cancel or time out)."""
        self._subscribed.discard(room)
        await trio.lowlevel.checkpoint()

    async def publish(
        self,
        room: str,
        data: str | bytes,
        *,
        exclude: tuple[str, ...] = (),
        history: HistoryPolicy | None = None,
    ) -> Position | None:
        """Deliver ``data`` to every local member now (their queues are bounded, so this never
        waits on a client). Cancelling before it ran publishes nothing; after, all of it.

        Raises:
            BrokerUnavailable: the app is not running.
        """
        handler = self._running()
        await trio.lowlevel.checkpoint_if_cancelled()
        position = None
        if history is not None:
            stream = self._stream(room, history)
            stream.offset += 1
            position = Position(stream.epoch, stream.offset)
        publication = Publication(room, data, position, self.node, exclude)
        if history is not None:
            stream.items.append((stream.touched, publication))
            while len(stream.items) > history.size:
                stream.items.popleft()
        if room in self._subscribed:
            handler.deliver(publication)
        await trio.lowlevel.cancel_shielded_checkpoint()
        return position

    def _stream(self, room: str, history: HistoryPolicy) -> _Stream:
        """The room's stream, pruned of what outlived ``ttl`` (a stream idle longer than
        ``ttl`` is gone, as a Redis key expires: a new epoch starts)."""
        now = trio.current_time()
        stream = self._streams.get(room)
        if stream is None or now - stream.touched > history.ttl:
            stream = self._streams[room] = _Stream()
        items = stream.items
        while items and now - items[0][0] > history.ttl:
            items.popleft()
        stream.touched = now
        return stream

    async def history(
        self, room: str, since: Position | None, history: HistoryPolicy
    ) -> HistoryWindow:
        """The publications after ``since`` if all are still kept (no wait: nothing to
        cancel or time out)."""
        self._running()
        await trio.lowlevel.checkpoint()
        now = trio.current_time()
        stream = self._streams.get(room)
        if stream is None or now - stream.touched > history.ttl:
            stream = self._streams[room] = _Stream(touched=now)
        else:
            stream = self._stream(room, history)
        top = Position(stream.epoch, stream.offset)
        if since is None:
            return HistoryWindow(True, top)
        if since.epoch != stream.epoch or since.offset > stream.offset:
            return HistoryWindow(False, top)
        missed = [p for _, p in stream.items if p.position and p.position.offset > since.offset]
        if len(missed) != stream.offset - since.offset:
            return HistoryWindow(False, top)
        return HistoryWindow(True, top, missed)

    async def join(self, room: str, member: Member) -> None:
        """Add ``member`` and announce it (no wait: nothing to cancel or time out)."""
        handler = self._running()
        await trio.lowlevel.checkpoint()
        self._presence.setdefault(room, {})[member.connection_id] = member
        if room in self._subscribed:
            handler.event(RoomEvent("join", room, member))

    async def leave(self, room: str, member: Member) -> None:
        """Remove ``member`` and announce it (no wait: nothing to cancel or time out)."""
        members = self._presence.get(room, {})
        if members.pop(member.connection_id, None) is None:
            return
        if not members:
            del self._presence[room]
        if self._handler is not None and room in self._subscribed:
            self._handler.event(RoomEvent("leave", room, member))
        await trio.lowlevel.checkpoint()

    async def members(self, room: str) -> list[Member]:
        """The room's members (no wait: nothing to cancel or time out)."""
        await trio.lowlevel.checkpoint()
        return list(self._presence.get(room, {}).values())

    async def count(self, room: str) -> int:
        """How many members the room has (no wait: nothing to cancel or time out)."""
        await trio.lowlevel.checkpoint()
        return len(self._presence.get(room, ()))
