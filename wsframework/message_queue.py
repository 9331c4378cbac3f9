"""The bounded queue between a connection's receiving task and ``get_message``.

Both transports use it: :class:`~wsframework.connection.StreamConnection` (our reader task is
the producer) and :class:`~wsframework.asgi.ASGIWebSocketConnection` (its ``receive`` loop is).
Park/unpark (:class:`~wsframework._parking.Waiters`) instead of a channel and a lock: a message
handed to a parked consumer costs one reschedule, and an idle queue a list and two slots.
"""

from __future__ import annotations

import trio

from ._parking import Waiters
from .exceptions import ConnectionClosed
from .protocol.close import CloseReason

__all__ = ["BATCH_BYTES", "MessageQueue"]

Message = str | bytes

#: A :class:`MessageQueue` holding more than one message holds at most this many bytes
#: (characters, for text): many small messages are batched, but a large one is held alone.
BATCH_BYTES = 64 * 2**10


class MessageQueue:
    """Received messages waiting for :meth:`WebSocketConnection.get_message`.

    One producer (the task that receives from the peer) and any number of consumers. Consumers
    park while the queue is empty; the producer parks while it is full, so it stops receiving
    from the peer until a consumer catches up (backpressure). Full means ``capacity`` messages,
    or a message that would take what the queue holds beyond :data:`BATCH_BYTES` (a message
    that would be the only one is taken whatever its size): a queue holds at most ``capacity``
    messages of at most 64 KiB in all, or one large message. Nothing is ever dropped for lack
    of room; :meth:`close` discards what is held only when asked to (a local close).

    Why batch: the messages of one socket read reach a waiting consumer in one scheduler pass,
    not one pass each (``get_message`` only yields when the queue is empty).

    Args:
        capacity: messages held before :meth:`put` waits. ``0`` means no buffering: :meth:`put`
            returns only once a consumer has taken the message.
    """

    __slots__ = (
        "_capacity",
        "_handoff",
        "_held",
        "_messages",
        "_producer",
        "_room",
        "consumers",
        "reason",
    )

    def __init__(self, capacity: int) -> None:
        self._handoff = capacity == 0
        self._capacity = max(1, capacity)
        self._room = capacity  # what offer() may fill: nothing in hand-off mode
        self._messages: list[Message] = []  # a list: an empty deque costs 760 B
        self._held = 0  # the size of what _messages holds
        #: Where consumers park while the queue is empty (woken by a message or the close).
        self.consumers = Waiters()
        self._producer: Waiters | None = None  # made when the producer waits
        #: Why the queue was closed, else ``None``.
        self.reason: CloseReason | None = None

    def __len__(self) -> int:
        return len(self._messages)

    def offer(self, message: Message) -> bool:
        """Add a message if that needs no wait: the queue is open and below capacity (never in
        hand-off mode). ``False`` means nothing was added: call :meth:`put`."""
        messages = self._messages
        size = len(message)
        if (
            len(messages) >= self._room
            or self.reason is not None
            or (messages and self._held + size > BATCH_BYTES)
        ):
            return False
        messages.append(message)
        self._held += size
        if self.consumers:
            self.consumers.unpark()
        return True

    async def put(self, message: Message) -> bool:
        """Add a message, waiting while the queue is full (and, with capacity 0, until a
        consumer has taken it). Returns ``False``, dropping the message, if the queue closes
        meanwhile: the connection is closing and nobody would read it.

        Cancelling is safe: the message is then not queued.
        """
        messages = self._messages
        size = len(message)
        while len(messages) >= self._capacity or (messages and self._held + size > BATCH_BYTES):
            if self.reason is not None:
                return False
            await self._wait_for_consumer()
        if self.reason is not None:
            return False
        messages.append(message)
        self._held += size
        if self.consumers:
            self.consumers.unpark()
        if self._handoff:
            while messages and self.reason is None:
                await self._wait_for_consumer()
        return True

    async def _wait_for_consumer(self) -> None:
        # Only when the queue is full: the park costs a scheduler pass, the frame nothing.
        if self._producer is None:
            self._producer = Waiters()
        await self._producer.park()

    def take(self) -> Message | None:
        """The next message without waiting, or ``None`` while there is none (then park on
        :attr:`consumers` and try again: ``get_message`` does so in its own frame, one less
        coroutine per parked handler).

        Raises:
            ConnectionClosed: the queue is closed and empty.
        """
        messages = self._messages
        if not messages:
            if self.reason is not None:
                raise ConnectionClosed(self.reason)
            return None
        message = messages.pop(0)
        self._held -= len(message)
        if self._producer:
            self._producer.unpark()
        return message

    async def get(self) -> Message:
        """The next message, waiting while there is none.

        Cancelling is safe: a message is only taken when this returns it. Bound it with
        ``trio.move_on_after``.

        Raises:
            ConnectionClosed: the queue is closed and empty.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        message = self.take()
        while message is None:
            await self.consumers.park()
            message = self.take()
        return message

    def close(self, reason: CloseReason, *, discard: bool = False, replace: bool = False) -> None:
        """Record why the connection closed and wake everyone; a second call does nothing
        unless ``replace`` (a shutdown's 1001 replaces the 1006 of a cancelled reader).

        Args:
            reason: for :class:`~wsframework.ConnectionClosed` once the queue is empty.
            discard: drop the messages still held (after a local close nobody reads them).
            replace: record ``reason`` even if the queue was closed already.
        """
        if self.reason is not None and not replace:
            return
        self.reason = reason
        if discard:
            self._messages.clear()
            self._held = 0
        self.consumers.unpark_all()
        if self._producer:
            self._producer.unpark_all()
