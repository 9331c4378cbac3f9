"""Rooms: broadcast, presence, history and recovery, in one process or across many.

::

    app = App(broker="redis://127.0.0.1:6379/0")     # default: in memory, one process

    @app.websocket("/chat/{room}")
    async def chat(request: WebSocketRequest) -> None:
        ws = await request.accept()
        room = app.rooms[request.path_params["room"]]
        async with room.join(ws, presence={"user": "ann"}):
            async for message in ws:
                await room.publish(message)         # every member, on every worker

See docs/rooms.md (semantics) and docs/scale-out.md (workers, Redis, Sentinel). The layers:
:mod:`~wsframework.rooms.hub` (the process's rooms and the handler's API),
:mod:`~wsframework.rooms.member` (one member's queue and writer),
:mod:`~wsframework.rooms.broker` (the seam), :mod:`~wsframework.rooms.memory` and
:mod:`~wsframework.rooms.redis` (the brokers).
"""

from .broker import (
    Broker,
    BrokerHandler,
    HistoryPolicy,
    HistoryWindow,
    Member,
    Position,
    Publication,
    RoomEvent,
)
from .factory import BROKER_ENV, make_broker
from .hub import Membership, Room, Rooms
from .memory import MemoryBroker
from .options import Overflow, RoomOptions

__all__ = [
    "BROKER_ENV",
    "Broker",
    "BrokerHandler",
    "HistoryPolicy",
    "HistoryWindow",
    "Member",
    "MemoryBroker",
    "Membership",
    "Overflow",
    "Position",
    "Publication",
    "Room",
    "RoomEvent",
    "RoomOptions",
    "Rooms",
    "make_broker",
]
