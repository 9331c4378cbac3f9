"""RoomOptions: how a room keeps history and what happens to a member that reads too slowly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .broker import HistoryPolicy, Publication, RoomEvent

__all__ = ["Overflow", "RoomOptions"]

#: What a member's full outgoing queue does with the next publication.
Overflow = Literal["drop_oldest", "drop_newest", "close"]


@dataclass(frozen=True, slots=True)
class RoomOptions:
    """The settings of the rooms whose names match a pattern (see ``Rooms.configure``).

    Args:
        history: keep the last publications for recovery (``HistoryPolicy(size, ttl)``);
            ``None`` (the default) keeps none, and a ``since=`` on join is then never
            recovered.
        queue_size: publications a member's outgoing queue holds while its client reads
            slowly (256).
        queue_bytes: and at most this many payload bytes (1 MiB).
        overflow: when a publication finds the queue full: ``"close"`` the member's
            connection with ``overflow_code`` (the default: the client reconnects and, with
            history, recovers what it missed), ``"drop_oldest"`` (make room by dropping the
            oldest queued publication) or ``"drop_newest"`` (drop the new one).
        overflow_code: 1013 (try again later, the default) or 1008 (policy violation).
        encode: turns a publication into what members receive, once per process for all of
            them (``None`` sends the published message as it is). Use it to tell clients the
            position of what they receive, e.g. a JSON envelope with
            ``publication.position.offset``.
        announce: turns a join or leave into a message for every member of the room, or
            ``None`` to say nothing about it (the default: no announcements).

    Raises:
        ValueError: a size below 1, an unknown policy or an overflow code other than 1008
            and 1013.
    """

    history: HistoryPolicy | None = None
    queue_size: int = 256
    queue_bytes: int = 1 << 20
    overflow: Overflow = "close"
    overflow_code: int = 1013
    encode: Callable[[Publication], str | bytes] | None = None
    announce: Callable[[RoomEvent], str | bytes | None] | None = None

    def __post_init__(self) -> None:
        if self.queue_size < 1 or self.queue_bytes < 1:
            raise ValueError(
                f"a member's queue must hold at least one publication: queue_size="
                f"{self.queue_size}, queue_bytes={self.queue_bytes}"
            )
        if self.overflow not in ("drop_oldest", "drop_newest", "close"):
            raise ValueError(
                f"overflow must be 'drop_oldest', 'drop_newest' or 'close', not {self.overflow!r}"
            )
        if self.overflow_code not in (1008, 1013):
            raise ValueError(
                f"overflow_code must be 1008 (policy violation) or 1013 (try again later), "
                f"not {self.overflow_code}"
            )
