"""One member's side of a room: its bounded outgoing queue, its writer and its position.

The hub hands every publication to :meth:`Delivery.deliver`, synchronously, for each local
member. A member whose connection can take the frame at once gets it written there and then
(:meth:`~wsframework.WebSocketConnection.send_prepared_nowait`: no task switch); otherwise the
publication waits in the member's queue for its writer, :meth:`Delivery.run`, a task of its
own. So a slow or stuck client only ever fills its own queue, and when that is full the room's
``overflow`` policy applies:

* ``"drop_oldest"`` / ``"drop_newest"``: one publication is dropped (counted in
  :attr:`Delivery.dropped`, logged once per member);
* ``"close"``: the queue is emptied and the connection closed with ``overflow_code``; a frame
  being written gets one second to finish first, so the close frame is not cut into it.

Memory per member is bounded by ``queue_size`` publications and ``queue_bytes`` bytes (the
bytes of one publication are shared by every member of the process).

For rooms with history, a member tracks the :class:`~wsframework.rooms.broker.Position` of the
last publication it was given and skips any publication at or before it: recovered
publications and live ones that raced them are delivered once, in order.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable

import trio

from .. import _stats as stats
from .._parking import Waiters
from ..exceptions import ConnectionClosed
from ..interface import PreparedMessage, WebSocketConnection
from .broker import HistoryWindow, Position, Publication
from .options import RoomOptions

__all__ = ["Delivery"]

logger = logging.getLogger("wsframework.rooms")

#: How long a member being closed for overflow may take to finish the frame it is writing.
CLOSE_GRACE = 1.0


class Delivery:
    """The outgoing side of one member of one room.

    Args:
        connection: the member's connection.
        room: the room's name (for log lines and close reasons).
        options: the room's settings (queue bounds, overflow policy).
        spawn: starts :meth:`run` in a nursery, the first time something is queued (a member
            whose socket always takes publications at once never needs a writer task).
        recovering: buffer live publications until :meth:`recover` has delivered the missed
            ones.
    """

    __slots__ = (
        "_bytes",
        "_close",
        "_left",
        "_options",
        "_pending",
        "_queue",
        "_scope",
        "_spawn",
        "_started",
        "_stopped",
        "_wake",
        "connection",
        "dropped",
        "position",
        "room",
    )

    def __init__(
        self,
        connection: WebSocketConnection,
        room: str,
        options: RoomOptions,
        spawn: Callable[[Callable[[], Awaitable[None]]], None],
        *,
        recovering: bool = False,
    ) -> None:
        self.connection = connection
        self._spawn = spawn
        self._started = False
        self.room = room
        self._options = options
        # Made when first needed (760 B): a member whose socket takes every publication at
        # once never queues one.
        self._queue: deque[PreparedMessage] | None = None
        self._bytes = 0
        self._wake = Waiters()
        self._scope: trio.CancelScope | None = None  # the writer's current send
        self._close: tuple[int, str] | None = None
        self._stopped: trio.CancelScope | None = None  # the writer's, while it runs
        self._left = False
        self._pending: list[tuple[Publication, PreparedMessage]] | None = [] if recovering else None
        #: Publications dropped because the queue was full.
        self.dropped = 0
        #: The position of the last publication given to this member (rooms with history).
        self.position: Position | None = None

    def __len__(self) -> int:
        return len(self._queue) if self._queue else 0

    # ------------------------------------------------------------------ the hub's side

    def deliver(self, publication: Publication, prepared: PreparedMessage) -> None:
        """Give this member ``publication`` (encoded as ``prepared``) unless it has it."""
        position = publication.position
        if position is not None:
            pending = self._pending
            if pending is not None:
                if len(pending) < self._options.queue_size or self._overflow(prepared, True):
                    pending.append((publication, prepared))
                return
            last = self.position
            if last is not None and last.epoch == position.epoch and position.offset <= last.offset:
                return
            self.position = position
        self.send(prepared)

    def send(self, prepared: PreparedMessage) -> None:
        """Queue ``prepared`` (or write it at once when nothing is queued), applying the
        overflow policy when the queue is full. Does nothing once the member is closing."""
        if self._close is not None:
            return
        queue = self._queue
        if not queue and self._scope is None and self.connection.send_prepared_nowait(prepared):
            return
        if queue is None:
            queue = self._queue = deque()
        options = self._options
        if len(queue) >= options.queue_size or self._bytes + len(prepared) > options.queue_bytes:
            if not queue and len(prepared) > options.queue_bytes:
                pass  # one publication larger than the byte bound still goes out alone
            elif not self._overflow(prepared):
                return
        queue.append(prepared)
        self._bytes += len(prepared)
        if not self._started:
            self._started = True
            self._spawn(self.run)
        elif self._wake:
            self._wake.unpark()

    def recover(self, window: HistoryWindow, since: Position | None) -> bool | None:
        """Deliver what the member missed after ``since`` (when the window recovered it),
        then the live publications buffered meanwhile, and go live. ``True`` recovered,
        ``False`` not recoverable (the app must resync), ``None`` nothing was asked."""
        if since is None:
            outcome = None
        elif window.recovered:
            self.position = since
            outcome = True
        else:
            outcome = False
        pending, self._pending = self._pending or [], None
        if outcome:
            for publication in window.publications:
                self.deliver(publication, PreparedMessage(self._encode(publication)))
        elif self.position is None or self.position.epoch != window.position.epoch:
            self.position = window.position
        for publication, prepared in pending:
            self.deliver(publication, prepared)
        return outcome

    def _encode(self, publication: Publication) -> str | bytes:
        encode = self._options.encode
        return publication.data if encode is None else encode(publication)

    def _overflow(self, prepared: PreparedMessage, pending: bool = False) -> bool:
        """Apply the policy to a full queue; whether ``prepared`` may still be queued."""
        options = self._options
        policy = options.overflow
        stats.STATS.queue_drops[policy] += 1
        if policy == "close":
            reason = f"room {self.room!r}: the client reads too slowly (outgoing queue full)"
            logger.warning("%s closing with %d: %s", self.connection, options.overflow_code, reason)
            self._close = (options.overflow_code, reason[:123])
            if self._queue:
                self._queue.clear()
            self._bytes = 0
            if self._pending is not None:
                self._pending.clear()
            if self._scope is not None:
                self._scope.deadline = min(self._scope.deadline, trio.current_time() + CLOSE_GRACE)
            if not self._started:
                self._started = True
                self._spawn(self.run)  # to send the close frame
            self._wake.unpark_all()
            return False
        if not self.dropped:
            logger.warning(
                "%s reads too slowly in room %r: its queue is full, dropping the %s publication",
                self.connection,
                self.room,
                "oldest" if policy == "drop_oldest" else "newest",
            )
        self.dropped += 1
        if policy == "drop_newest":
            return False
        if pending and self._pending:
            self._pending.pop(0)
            return True
        if self._queue:
            self._bytes -= len(self._queue.popleft())
        return True

    # ------------------------------------------------------------------ the writer

    def stop(self) -> None:
        """End :meth:`run` (the member left); what is still queued is not sent."""
        self._left = True
        if self._stopped is not None:
            self._stopped.cancel()
        self._close = self._close or (1006, "")

    async def run(self) -> None:
        """Write queued publications until :meth:`stop`, the connection closes or the member
        is closed for overflow. Never raises (but ``Cancelled``)."""
        scope = self._stopped = trio.CancelScope()
        if self._left:
            scope.cancel()
        with scope:
            await self._run()

    async def _run(self) -> None:
        connection = self.connection
        while True:
            queue = self._queue
            while queue and self._close is None:
                prepared = queue.popleft()
                self._bytes -= len(prepared)
                with trio.CancelScope() as scope:
                    self._scope = scope
                    try:
                        await connection.send_prepared(prepared)
                    except ConnectionClosed:
                        self._close = (1006, "")
                        queue.clear()
                        return
                    finally:
                        self._scope = None
            if self._close is not None:
                code, reason = self._close
                if code != 1006:
                    await connection.going_away(code, reason)
                return
            await self._wake.park()
