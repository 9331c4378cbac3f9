"""The rooms of one process: ``app.rooms[name]``, joining, publishing, presence, fan-out.

:class:`Rooms` is the hub: it owns which local connections are in which room, subscribes the
process to a room's broker channel while it has local members (one subscription per room per
process, never one per member) and fans each publication out to them, encoded once
(:class:`~wsframework.interface.PreparedMessage`) into each member's bounded queue
(:class:`~wsframework.rooms.member.Delivery`). :class:`Room` is the handle a handler uses;
:class:`Membership` is what ``async with room.join(ws)`` gives.

The broker is chosen when the hub opens (the app's startup), first match wins:

1. ``wsframework run --broker URL`` (:meth:`Rooms.use_broker`);
2. the ``WSFRAMEWORK_BROKER`` environment variable;
3. ``App(broker=...)`` in code;
4. the in-memory broker.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

import trio

from .. import _stats as stats
from .._groups import raise_single
from ..exceptions import BrokerUnavailable
from ..interface import PreparedMessage, WebSocketConnection
from .broker import Broker, Member, Position, Publication, RoomEvent, serialise
from .factory import BROKER_ENV, make_broker
from .member import Delivery
from .options import RoomOptions

__all__ = ["Membership", "Room", "Rooms"]

logger = logging.getLogger("wsframework.rooms")

#: How long a leave may take before the member is left to expire from presence.
LEAVE_TIMEOUT = 5.0
#: Room names whose options are remembered (the table starts afresh when it is full).
RESOLVED_HELD = 4096
#: Events a membership holds for :meth:`Membership.events` before dropping the oldest.
EVENTS_HELD = 64


@dataclass(eq=False)
class _LocalRoom:
    """A room with members in this process."""

    name: str
    options: RoomOptions
    members: dict[WebSocketConnection, Delivery] = field(default_factory=dict)
    position: Position | None = None  # the last publication seen, for the gap after a reconnect
    # Joins and leaves, numbered, shared by every membership's events(): O(1) per event.
    events: deque[tuple[int, RoomEvent]] = field(default_factory=lambda: deque(maxlen=EVENTS_HELD))
    event_seq: int = 0
    event_lot: trio.lowlevel.ParkingLot = field(default_factory=trio.lowlevel.ParkingLot)


class Rooms:
    """The rooms of an app (``app.rooms``), or of a publisher that serves nothing.

    Args:
        broker: a broker URL (``"redis://127.0.0.1:6379/0"``) or a :class:`Broker`; ``None``
            for the in-memory default (the CLI and ``WSFRAMEWORK_BROKER`` take precedence: see
            the module docstring).
        presence_ttl: seconds a member's presence outlives its process (refreshed every
            ``presence_ttl / 3`` while it lives): members of a process that died disappear
            from :meth:`Room.members` within this time (30), and their leave events follow
            at the next sweep of a process in the room (every ``presence_ttl / 3``).
    """

    def __init__(self, broker: str | Broker | None = None, *, presence_ttl: float = 30.0) -> None:
        self.presence_ttl = presence_ttl
        self._from_code = broker
        self._from_cli: str | Broker | None = None
        self._patterns: list[tuple[str, RoomOptions]] = [("*", RoomOptions())]
        self._resolved: dict[str, RoomOptions] = {}  # room name -> options, bounded
        self._broker: Broker | None = None
        self._nursery: trio.Nursery | None = None
        self._local: dict[str, _LocalRoom] = {}
        self._subscribed: set[str] = set()
        self._subscribing = trio.Lock()
        self._ids: WeakKeyDictionary[WebSocketConnection, str] = WeakKeyDictionary()
        self._count = 0
        self._restored: list[Callable[[], Awaitable[None]]] = []
        #: Whether the broker is lost right now (a readiness route answers 503 meanwhile).
        self.broker_lost = False

    @property
    def presence_ttl(self) -> float:
        """Seconds a member's presence outlives its process; set it before the app starts.

        Raises:
            ValueError: (on assignment) not a positive number.
        """
        return self._presence_ttl

    @presence_ttl.setter
    def presence_ttl(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError(f"presence_ttl must be a positive number of seconds: {seconds}")
        self._presence_ttl = seconds

    def __getitem__(self, name: str) -> Room:
        if not isinstance(name, str) or not 0 < len(name) <= 256:
            raise ValueError(f"a room name is a string of 1 to 256 characters, not {name!r}")
        return Room(self, name)

    # ------------------------------------------------------------------ configuration

    def configure(
        self, pattern: str = "*", options: RoomOptions | None = None, **settings: Any
    ) -> None:
        """Set the options of the rooms whose names match ``pattern`` (``fnmatch``:
        ``"news"``, ``"chat:*"``), as a :class:`RoomOptions` or its keywords. The last
        configured pattern that matches a room wins; ``"*"`` sets the default.

        Raises:
            ValueError: invalid settings (see :class:`RoomOptions`).
            TypeError: an unknown setting, or both ``options`` and keywords.
        """
        if options is not None and settings:
            raise TypeError("give RoomOptions or keywords, not both")
        self._patterns.append((pattern, options or RoomOptions(**settings)))
        self._resolved.clear()

    @property
    def patterns(self) -> tuple[tuple[str, RoomOptions], ...]:
        """``(pattern, options)`` as configured, the default ``("*", RoomOptions())`` first."""
        return tuple(self._patterns)

    def options_for(self, name: str) -> RoomOptions:
        """The options of room ``name``: those of the last configured pattern matching it
        (matched once per name, not on every publication)."""
        options = self._resolved.get(name)
        if options is None:
            options = next(o for p, o in reversed(self._patterns) if fnmatch.fnmatchcase(name, p))
            if len(self._resolved) >= RESOLVED_HELD:
                self._resolved.clear()
            self._resolved[name] = options
        return options

    def use_broker(self, broker: str | Broker) -> None:
        """Use ``broker`` whatever the environment and the code say (``wsframework run
        --broker``). Takes effect when the hub next opens."""
        self._from_cli = broker

    def on_restored(self, func: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """Register ``async def func()``, run when the broker is reachable again after a loss
        (publications in between may not have reached this process's members: resync them).
        """
        self._restored.append(func)
        return func

    @property
    def broker(self) -> Broker:
        """The running broker.

        Raises:
            RuntimeError: the rooms are not open (the app is not running).
        """
        if self._broker is None:
            raise RuntimeError("the rooms are not open: start the app (or use rooms.open())")
        return self._broker

    def broker_choice(self) -> tuple[str | Broker, str]:
        """The broker the hub would open now, as given (a URL or a :class:`Broker`), and where
        it comes from: ``"--broker"``, ``"WSFRAMEWORK_BROKER"``, ``"App(broker=...)"`` or
        ``"default"`` (``"memory://"``); see the module docstring. Nothing is connected."""
        if self._from_cli is not None:
            return self._from_cli, "--broker"
        if os.environ.get(BROKER_ENV):
            return os.environ[BROKER_ENV], BROKER_ENV
        if self._from_code is not None:
            return self._from_code, "App(broker=...)"
        return "memory://", "default"

    def _choose(self) -> tuple[Broker, str]:
        chosen, source = self.broker_choice()
        return (make_broker(chosen) if isinstance(chosen, str) else chosen), source

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Rooms]:
        """Connect to the broker for the duration of the block (the app does this at startup;
        a script that only publishes does it itself). Cancel it like any block; the connect
        is bounded by the broker itself.

        Raises:
            BrokerUnavailable: the broker cannot be reached.
            RuntimeError: the rooms are open already.
        """
        if self._broker is not None:
            raise RuntimeError("these rooms are open already")
        broker, source = self._choose()
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(partial_run(broker, self))
                logger.info("rooms: broker %r (from %s)", broker, source)
                self._broker, self._nursery = broker, nursery
                try:
                    yield self
                finally:
                    self._broker = self._nursery = None
                    self._subscribed.clear()
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise_single(group)  # the block's own exception, or the broker's, as it is

    # ------------------------------------------------------------------ BrokerHandler

    def deliver(self, publication: Publication) -> None:
        """Fan ``publication`` out to this process's members of its room (encoded once)."""
        local = self._local.get(publication.room)
        if local is None:
            return
        if publication.position is not None:
            local.position = publication.position
        encode = local.options.encode
        try:
            data = publication.data if encode is None else encode(publication)
        except Exception:
            logger.exception("room %r: the room's encode() failed; publication skipped", local.name)
            return
        prepared = PreparedMessage(data)
        exclude = publication.exclude
        # Delivering never joins or removes a member (that takes an await): no copy needed.
        if exclude:
            for delivery in local.members.values():
                if self._ids.get(delivery.connection) not in exclude:
                    delivery.deliver(publication, prepared)
        else:
            for delivery in local.members.values():
                delivery.deliver(publication, prepared)

    def event(self, event: RoomEvent) -> None:
        """Hand a join or leave to the room's watchers, and announce it if the room says so."""
        local = self._local.get(event.room)
        if local is None:
            return
        local.event_seq += 1
        local.events.append((local.event_seq, event))
        if local.event_lot:
            local.event_lot.unpark_all()
        announce = local.options.announce
        if announce is None:
            return
        try:
            data = announce(event)
        except Exception:
            logger.exception("room %r: the room's announce() failed", local.name)
            return
        if data is not None:
            prepared = PreparedMessage(data)
            for delivery in local.members.values():  # sending never joins nor leaves
                delivery.send(prepared)

    def connection_lost(self, error: BaseException) -> None:
        """Note the loss (logged once); the broker restores its subscriptions by itself."""
        logger.warning("rooms: lost the broker (%s); serving local connections meanwhile", error)
        self.broker_lost = True
        stats.STATS.broker_losses += 1

    def connection_restored(self) -> None:
        """Fill each history room's gap from its history, then run the ``on_restored`` hooks."""
        logger.warning("rooms: the broker is back; subscriptions restored")
        self.broker_lost = False
        stats.STATS.broker_reconnects += 1
        if self._nursery is not None:
            self._nursery.start_soon(self._after_restore)

    async def _after_restore(self) -> None:
        for local in list(self._local.values()):
            history = local.options.history
            if history is None or local.position is None:
                continue
            try:
                window = await self.broker.history(local.name, local.position, history)
            except BrokerUnavailable:
                return
            for publication in window.publications:
                self.deliver(publication)
        for hook in self._restored:
            try:
                await hook()
            except Exception:
                logger.exception("rooms: on_restored hook %r failed", hook)

    # ------------------------------------------------------------------ internals

    def _start(self, task: Callable[[], Awaitable[None]]) -> None:
        if self._nursery is None:
            raise RuntimeError("the rooms are not open: start the app (or use rooms.open())")
        self._nursery.start_soon(task)

    def connection_id(self, connection: WebSocketConnection) -> str:
        """``connection``'s id in presence and ``exclude=`` (unique across processes)."""
        cid = self._ids.get(connection)
        if cid is None:
            self._count += 1
            cid = self._ids[connection] = f"{self.broker.node}/{self._count}"
        return cid

    async def _sync_subscription(self, name: str) -> None:
        """Subscribe to ``name`` while it has local members, unsubscribe when it has none;
        one change at a time, so a leave's unsubscribe never overtakes a join's subscribe."""
        async with self._subscribing:
            broker = self.broker
            wanted = name in self._local
            if wanted and name not in self._subscribed:
                await broker.subscribe(name)
                self._subscribed.add(name)
            elif not wanted and name in self._subscribed:
                self._subscribed.discard(name)
                await broker.unsubscribe(name)


class Room:
    """A room, by name: what a handler joins and publishes to (``app.rooms["lobby"]``).

    Cheap to make and hold: the room's state lives in the hub while it has local members and
    in the broker otherwise.
    """

    __slots__ = ("_hub", "name")

    def __init__(self, hub: Rooms, name: str) -> None:
        self._hub = hub
        #: The room's name.
        self.name = name

    def __repr__(self) -> str:
        return f"<Room {self.name!r}>"

    @property
    def options(self) -> RoomOptions:
        """This room's settings (see :meth:`Rooms.configure`)."""
        return self._hub.options_for(self.name)

    async def publish(
        self,
        message: Any,
        *,
        exclude: WebSocketConnection | str | Iterable[WebSocketConnection | str] | None = None,
    ) -> Position | None:
        """Send ``message`` to every member of the room, on every process.

        ``message`` is text, bytes, a pydantic model (sent as JSON text) or a ``dict``/``list``
        (JSON text); it is serialised here, once. ``exclude`` names members not to deliver to
        (connections or connection ids), e.g. the sender. Returns the publication's position
        when the room keeps history.

        Returns once the broker took it; never waits for a member (their queues are bounded).
        Cancelling may still publish it (the broker may have it already); bound it with
        ``trio.fail_after``.

        Raises:
            BrokerUnavailable: the broker cannot be reached; nothing was published.
            TypeError: ``message`` cannot be published.
        """
        hub = self._hub
        data = serialise(message)
        ids: tuple[str, ...] = ()
        if exclude is not None:
            items = [exclude] if isinstance(exclude, (str, WebSocketConnection)) else exclude
            ids = tuple(x if isinstance(x, str) else hub.connection_id(x) for x in items)
        position = await hub.broker.publish(
            self.name, data, exclude=ids, history=self.options.history
        )
        stats.STATS.publications += 1
        return position

    async def members(self) -> list[Member]:
        """Every member on every process: what each gave as ``presence=``, its connection id
        and its node. Safe to cancel; bound it with ``trio.fail_after``.

        Raises:
            BrokerUnavailable: the broker cannot be reached.
        """
        return await self._hub.broker.members(self.name)

    async def count(self) -> int:
        """How many members the room has on every process (cancel as :meth:`members`).

        Raises:
            BrokerUnavailable: the broker cannot be reached.
        """
        return await self._hub.broker.count(self.name)

    def join(
        self,
        connection: WebSocketConnection,
        *,
        presence: Any = None,
        since: Position | None = None,
    ) -> Membership:
        """Make ``connection`` a member for the duration of the block.

        Members receive every publication of the room from then on, through their own bounded
        queue (see :class:`~wsframework.rooms.options.RoomOptions` for what a full queue
        does). ``presence`` is what :meth:`members` reports for this member (JSON-able).
        ``since``, a position the client kept from an earlier connection, asks for the
        publications it missed: when the room's history still has all of them and the epoch
        matches, they are delivered first, in order, without gap or duplicate, before live
        ones, and :attr:`Membership.recovered` is ``True``; otherwise it is ``False`` and
        nothing old is delivered (the app must resync the client).

        The member leaves when the block exits: normally, by an exception (the connection
        closing ends ``async for message in ws``) or by cancellation. Entering waits for the
        broker (subscription, presence, history): cancel it or bound it with
        ``trio.fail_after``; leaving is shielded and bounded.

        Raises:
            BrokerUnavailable: the broker cannot be reached (nothing was joined).
            RuntimeError: ``connection`` is in this room already.
        """
        return Membership(self, connection, presence, since)


class Membership:
    """One connection's membership of a room, for the duration of ``async with room.join()``.

    Attributes:
        room: the room.
        member: this member's presence entry (its ``connection_id``, ``node`` and ``info``).
        recovered: ``True`` when the publications missed since ``join(since=...)`` were
            delivered, ``False`` when they could not be (resync the client), ``None`` when no
            ``since`` was given.
    """

    __slots__ = (
        "_connection",
        "_delivery",
        "_ended",
        "_joined",
        "_local",
        "_next_event",
        "_since",
        "member",
        "recovered",
        "room",
    )

    def __init__(
        self, room: Room, connection: WebSocketConnection, presence: Any, since: Position | None
    ) -> None:
        # Only what the block needs: the join itself happens on entering it.
        self.room = room
        self.member = Member("", "", presence)
        self.recovered: bool | None = None
        self._connection = connection
        self._since = since
        self._joined = False
        self._ended = False
        self._next_event = 0
        self._delivery: Delivery | None = None
        self._local: _LocalRoom | None = None

    async def __aenter__(self) -> Membership:
        hub = self.room._hub
        name = self.room.name
        connection = self._connection
        since = self._since
        if self._delivery is not None:
            raise RuntimeError("a membership is entered once: call room.join() again")
        options = self.room.options
        local = hub._local.get(name)
        if local is None:
            local = hub._local[name] = _LocalRoom(name, options)
        if connection in local.members:
            raise RuntimeError(f"{connection} is in room {name!r} already")
        broker = hub.broker
        # The writer, when one is needed, runs in the hub's nursery, so the block's exceptions
        # reach the caller as they are (no nursery of ours wraps them in a group).
        delivery = self._delivery = Delivery(
            connection,
            name,
            local.options,
            hub._start,
            recovering=since is not None and bool(options.history),
        )
        local.members[connection] = delivery
        self._local = local
        self._next_event = local.event_seq + 1
        self.member = Member(hub.connection_id(connection), broker.node, self.member.info)
        try:
            await hub._sync_subscription(name)
            await broker.join(name, self.member)
            self._joined = True
            stats.STATS.room_members += 1
            if local.options.history is not None:
                window = await broker.history(name, since, local.options.history)
                self.recovered = delivery.recover(window, since)
            elif since is not None:
                self.recovered = False
        except BaseException:
            await self._leave()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._leave()

    async def _leave(self) -> None:
        """Stop delivering, then leave (shielded: the block may be cancelled)."""
        delivery, local = self._delivery, self._local
        assert delivery is not None and local is not None
        hub = self.room._hub
        name = self.room.name
        delivery.stop()
        stats.STATS.room_members -= self._joined
        with trio.CancelScope(shield=True):
            self._end(local)
            local.members.pop(self._connection, None)
            if not local.members and hub._local.get(name) is local:
                del hub._local[name]
            with trio.move_on_after(LEAVE_TIMEOUT):
                if self._joined and hub._broker is not None:
                    await hub.broker.leave(name, self.member)
                if hub._broker is not None:
                    await hub._sync_subscription(name)

    @property
    def connection_id(self) -> str:
        """This member's connection id (what ``exclude=`` and presence use)."""
        return self.member.connection_id

    @property
    def position(self) -> Position | None:
        """The position of the last publication this member was given (rooms with history);
        at join, the stream's top (or, when recovered, the last missed publication)."""
        return self._delivery.position if self._delivery is not None else None

    @property
    def dropped(self) -> int:
        """Publications dropped because this member read too slowly (``drop_*`` policies)."""
        return self._delivery.dropped if self._delivery is not None else 0

    def events(self) -> AsyncIterator[RoomEvent]:
        """Joins and leaves in this room, on every process, from the moment of joining
        (this member's own join included), until the membership ends. Up to 64 wait
        unread; beyond that the oldest are dropped. Cancel the loop to stop; nothing is lost
        by cancelling it between events."""
        return self

    def __aiter__(self) -> AsyncIterator[RoomEvent]:
        return self

    async def __anext__(self) -> RoomEvent:
        await trio.lowlevel.checkpoint_if_cancelled()
        local = self._local
        if local is None:
            raise RuntimeError("events() is read inside the async with room.join() block")
        while True:
            for seq, event in local.events:  # at most EVENTS_HELD, oldest first
                if seq >= self._next_event:
                    self._next_event = seq + 1
                    return event
            if self._ended:
                raise StopAsyncIteration
            await local.event_lot.park()

    def _end(self, local: _LocalRoom) -> None:
        self._ended = True
        local.event_lot.unpark_all()


def partial_run(broker: Broker, rooms: Rooms) -> Callable[..., Awaitable[None]]:
    """``broker.run`` bound to the hub, for ``nursery.start``."""

    async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await broker.run(rooms, presence_ttl=rooms.presence_ttl, task_status=task_status)

    return run
