"""The broker seam: what a room hub needs from a message broker, and the values that cross it.

A :class:`Broker` carries publications and presence between the processes that serve one app.
The hub (:mod:`wsframework.rooms.hub`) owns the local side: which connections of this process
are in which room, their outgoing queues and the fan-out. The broker owns everything shared:

* **delivery**: every publication reaches the :class:`BrokerHandler` of every process
  subscribed to its room exactly once, the publisher's own process included, in the order the
  broker accepted them (offset order for rooms with history);
* **history**: with a :class:`HistoryPolicy`, each publication gets a :class:`Position` (an
  epoch and an offset) and the broker keeps the last ``size`` of them for ``ttl`` seconds;
* **presence**: the members that joined through any process, kept with an expiry that each
  process refreshes for its own members, and join/leave events for every member that comes or
  goes, including those of a process that died (they leave when their entries expire).

Two brokers ship: :class:`~wsframework.rooms.memory.MemoryBroker` (one process, the default)
and :class:`~wsframework.rooms.redis.RedisBroker` (many processes and machines, on coredis).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import trio

__all__ = [
    "serialise",
    "Broker",
    "BrokerHandler",
    "HistoryPolicy",
    "HistoryWindow",
    "Member",
    "Position",
    "Publication",
    "RoomEvent",
    "make_node_id",
]


@dataclass(frozen=True, slots=True)
class Position:
    """Where a publication sits in its room's history stream.

    ``offset`` counts publications from 1 within one ``epoch``; the epoch changes when the
    broker lost the stream (a restart without persistence, an expired stream), so a position
    from another epoch cannot be recovered from.
    """

    epoch: str
    offset: int

    def to_json(self) -> dict[str, Any]:
        """``{"epoch": ..., "offset": ...}``, what a client keeps and sends back to recover."""
        return {"epoch": self.epoch, "offset": self.offset}

    def __str__(self) -> str:
        return f"{self.epoch}:{self.offset}"

    @classmethod
    def parse(cls, text: str) -> Position:
        """The position ``str(position)`` wrote (``"epoch:offset"``), e.g. from a query string.

        Raises:
            ValueError: ``text`` is not ``epoch:offset`` with a non-negative integer offset.
        """
        epoch, _, offset = text.rpartition(":")
        if not epoch or not offset.isdigit():
            raise ValueError(f"a position is written 'epoch:offset', not {text!r}")
        return cls(epoch, int(offset))


@dataclass(frozen=True, slots=True)
class HistoryPolicy:
    """How much history a room keeps: the last ``size`` publications, each for ``ttl`` seconds.

    The stream's epoch survives as long as publications keep coming; a room idle for longer
    than ``ttl`` starts a new epoch, and older positions no longer recover.
    """

    size: int
    ttl: float

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"history size must be at least 1, got {self.size}")
        if not self.ttl > 0:
            raise ValueError(f"history ttl must be a positive number of seconds, got {self.ttl}")


@dataclass(frozen=True, slots=True)
class Publication:
    """One message published into a room, as the broker delivers it.

    ``data`` is the serialised message (text or bytes), ``position`` its place in the room's
    history (``None`` for a room without history), ``origin`` the node that published it and
    ``exclude`` the connection ids it must not be delivered to.
    """

    room: str
    data: str | bytes
    position: Position | None = None
    origin: str = ""
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Member:
    """One member of a room as presence reports it.

    ``connection_id`` is unique across processes; ``node`` names the process it is connected
    to (``host:pid:...``); ``info`` is what was given as ``presence=`` when it joined.
    """

    connection_id: str
    node: str
    info: Any = field(default=None)

    def to_json(self) -> dict[str, Any]:
        """``{"connection_id": ..., "node": ..., "info": ...}``."""
        return {"connection_id": self.connection_id, "node": self.node, "info": self.info}


@dataclass(frozen=True, slots=True)
class RoomEvent:
    """A member joined or left a room (on any process; a leave also when its process died)."""

    kind: Literal["join", "leave"]
    room: str
    member: Member


@dataclass(frozen=True, slots=True)
class HistoryWindow:
    """What a broker answers to a recovery request.

    ``recovered`` is true only when every publication after the requested position is still
    in the window and the epoch matches; ``publications`` then holds them in order (possibly
    none). Otherwise ``publications`` is empty: the caller must resync. ``position`` is the
    stream's current top either way.
    """

    recovered: bool
    position: Position
    publications: Sequence[Publication] = ()


class BrokerHandler(Protocol):
    """What a broker calls on the hub of its process. Calls are synchronous and must not block:
    the hub only puts what it gets into bounded queues."""

    def deliver(self, publication: Publication) -> None:
        """A publication for a room this process subscribed to."""

    def event(self, event: RoomEvent) -> None:
        """A join or leave in a room this process subscribed to."""

    def connection_lost(self, error: BaseException) -> None:
        """The broker lost its connection; subscriptions are being restored with backoff."""

    def connection_restored(self) -> None:
        """Subscriptions are back after :meth:`connection_lost`; publications in between were
        not delivered."""


class Broker(ABC):
    """Carries publications, history and presence between the processes of one app.

    Lifecycle: :meth:`run` connects, reports ``task_status.started()`` and keeps the broker's
    background work going (subscriptions, presence refresh and expiry) until cancelled. Every
    other coroutine may be called only while :meth:`run` is running; each may be cancelled or
    bounded with ``trio.fail_after`` by the caller.
    """

    #: This process's name in presence entries and publications (``host:pid:random``).
    node: str

    @abstractmethod
    async def run(
        self,
        handler: BrokerHandler,
        *,
        presence_ttl: float,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Connect, call ``task_status.started()``, then serve until cancelled.

        Raises:
            BrokerUnavailable: the broker cannot be reached at startup.
        """

    @abstractmethod
    async def subscribe(self, room: str) -> None:
        """Start delivering ``room``'s publications and events to the handler. Cancelling
        leaves the room unsubscribed or subscribed, never half; bound it with
        ``trio.fail_after``."""

    @abstractmethod
    async def unsubscribe(self, room: str) -> None:
        """Stop delivering ``room``'s publications and events (cancel as for
        :meth:`subscribe`)."""

    @abstractmethod
    async def publish(
        self,
        room: str,
        data: str | bytes,
        *,
        exclude: tuple[str, ...] = (),
        history: HistoryPolicy | None = None,
    ) -> Position | None:
        """Publish ``data`` to every subscriber of ``room``; its position when ``history`` is
        given (the offset increment, the append and the delivery are one atomic step).
        Cancelling may still publish (the command may have reached the broker); bound it with
        ``trio.fail_after``.

        Raises:
            BrokerUnavailable: the broker is unreachable; nothing was published.
        """

    @abstractmethod
    async def history(
        self, room: str, since: Position | None, history: HistoryPolicy
    ) -> HistoryWindow:
        """The publications after ``since`` (none for ``None``) and the current top. Safe to
        cancel; bound it with ``trio.fail_after``.

        Raises:
            BrokerUnavailable: the broker is unreachable.
        """

    @abstractmethod
    async def join(self, room: str, member: Member) -> None:
        """Add ``member`` to presence (kept fresh by :meth:`run`) and emit its join event.
        Cancel and bound it as :meth:`publish`.

        Raises:
            BrokerUnavailable: the broker is unreachable.
        """

    @abstractmethod
    async def leave(self, room: str, member: Member) -> None:
        """Remove ``member`` from presence and emit its leave event. Never raises for an
        unreachable broker: the entry then expires by itself, and its leave event is emitted
        by whichever process sweeps it. Cancelling leaves the entry to expire the same way;
        bound it with ``trio.move_on_after``."""

    @abstractmethod
    async def members(self, room: str) -> list[Member]:
        """Every member of ``room`` on every process, in no particular order. Safe to cancel;
        bound it with ``trio.fail_after``.

        Raises:
            BrokerUnavailable: the broker is unreachable.
        """

    @abstractmethod
    async def count(self, room: str) -> int:
        """How many members ``room`` has on every process (cancel as :meth:`members`).

        Raises:
            BrokerUnavailable: the broker is unreachable.
        """


def make_node_id() -> str:
    """A name for this process, unique across machines and restarts: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def serialise(message: Any) -> str | bytes:
    """What a room publishes for ``message``: text and bytes as they are, a pydantic model as
    its JSON, a ``dict`` or ``list`` as JSON text.

    Raises:
        TypeError: anything else.
    """
    if isinstance(message, (str, bytes)):
        return message
    if isinstance(message, (bytearray, memoryview)):
        return bytes(message)
    if hasattr(message, "model_dump_json"):
        from ..typed import dump_message

        return dump_message(message)
    if isinstance(message, (dict, list)):
        return json.dumps(message, separators=(",", ":"))
    raise TypeError(
        "a room publishes str, bytes, a pydantic model, a dict or a list, "
        f"not {type(message).__name__}"
    )
