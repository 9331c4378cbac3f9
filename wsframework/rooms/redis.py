"""A :class:`~wsframework.rooms.broker.Broker` on Redis, for rooms served by many processes.

::

    broker = RedisBroker("redis://127.0.0.1:6379/0")
    broker = RedisBroker("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster/0")

Needs the ``redis`` extra (``pip install wsframework[redis]``, which brings coredis). The URL
forms are those of :mod:`wsframework.rooms.redis_url`; what is stored and sent is described in
:mod:`wsframework.rooms.redis_scripts`.

How it works: one pub/sub connection per process carries one channel per subscribed room, and
each room's channel carries its publications and its join/leave events in one order, the
publisher's own process included. Publications with history go through one Lua script that
takes the next offset, appends to the stream and publishes. Presence entries expire unless the
process that joined them refreshes them (every ``presence_ttl / 3``); every process sweeps the
rooms it is subscribed to, and a script removes expired entries and publishes their leave events,
so each expired member leaves exactly once.

Losing Redis while running: the handler's ``connection_lost`` is called once, the pub/sub
connection comes back with exponential backoff (``backoff`` doubling to ``max_backoff``, with
jitter) and every subscribed room is subscribed again before ``connection_restored``. Meanwhile
:meth:`~RedisBroker.publish`, :meth:`~RedisBroker.join`, :meth:`~RedisBroker.history`,
:meth:`~RedisBroker.members` and :meth:`~RedisBroker.count` raise
:class:`~wsframework.exceptions.BrokerUnavailable` at once, and :meth:`~RedisBroker.leave`
returns (the entry expires by itself).

Cancellation and timeouts: every coroutine here may be cancelled or wrapped in
``trio.fail_after`` by the caller; besides, each Redis command is bounded by
``command_timeout`` (a timeout raises ``BrokerUnavailable``) and connecting by
``connect_timeout``.
"""

from __future__ import annotations

import errno
import random
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar, cast

import anyio
import coredis
import trio
from coredis.connection import TCPLocation
from coredis.exceptions import ConnectionError as RedisConnectionError
from coredis.exceptions import ReadOnlyError, SentinelError
from coredis.retry import NoRetryPolicy

from .._groups import raise_single
from ..exceptions import BrokerUnavailable
from . import redis_scripts as lua
from .broker import (
    Broker,
    BrokerHandler,
    HistoryPolicy,
    HistoryWindow,
    Member,
    Position,
    Publication,
    make_node_id,
)
from .redis_url import RedisTarget, parse_redis_url

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["RedisBroker"]

T = TypeVar("T")

#: What "Redis is unreachable" looks like, from coredis, anyio and trio.
UNAVAILABLE: tuple[type[Exception], ...] = (
    RedisConnectionError,  # also BusyLoadingError (a restarting server loading its data)
    SentinelError,
    ReadOnlyError,  # a demoted primary, until Sentinel names the new one
    TimeoutError,
    OSError,
    trio.TooSlowError,
    anyio.BrokenResourceError,  # a connection closed under coredis
    anyio.ClosedResourceError,
    anyio.EndOfStream,
)
SWEEP_BATCH = 500
SCRIPTS = (
    "PUBLISH_WITH_HISTORY",
    "HISTORY",
    "JOIN",
    "REFRESH",
    "LEAVE",
    "SWEEP",
    "MEMBERS",
    "COUNT",
)


def describe(error: BaseException) -> str:
    """One line on why Redis could not be reached: the innermost cause that says something."""
    if isinstance(error, BaseExceptionGroup):
        matched = error.split(UNAVAILABLE)[0]
        error = _first_leaf(matched) if matched is not None else _first_leaf(error)
    if isinstance(error, trio.TooSlowError):
        return "no answer in time"
    cause = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, BaseExceptionGroup):
        cause = _first_leaf(cause)
    if isinstance(cause, OSError):
        if cause.errno == errno.ECONNREFUSED or "refused" in str(cause).lower():
            return "connection refused"
        return cause.strerror or str(cause) or type(cause).__name__
    text = str(cause) or str(error)
    return text or type(error).__name__


def _first_leaf(group: BaseExceptionGroup[Any]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _only_unavailable(error: BaseException) -> bool:
    if isinstance(error, BaseExceptionGroup):
        return error.split(UNAVAILABLE)[1] is None
    return isinstance(error, UNAVAILABLE)


class RedisBroker(Broker):
    """Rooms across processes through Redis (see the module's docstring).

    Args:
        url: ``redis://host:port/db``, ``rediss://...`` or
            ``redis+sentinel://host:port[,host:port...]/service_name[/db]``.
        node: this process's name in presence and publications (default:
            :func:`~wsframework.rooms.broker.make_node_id`).
        prefix: the start of every key and channel name, to share a Redis between apps.
        connect_timeout: seconds to establish a connection (startup included).
        command_timeout: seconds any one command may take before ``BrokerUnavailable``.
        backoff: the first delay (seconds) between reconnection attempts; it doubles...
        max_backoff: ...up to this.

    Raises:
        ValueError: the URL is not valid, or names Redis Cluster (not supported).
    """

    def __init__(
        self,
        url: str,
        *,
        node: str | None = None,
        prefix: str = "wsf",
        connect_timeout: float = 2.0,
        command_timeout: float = 2.0,
        backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        self.target: RedisTarget = parse_redis_url(url)
        self.node = node if node is not None else make_node_id()
        self.prefix = prefix
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._client: coredis.Redis[bytes] | None = None
        self._scripts: dict[str, coredis.commands.Script[bytes]] = {}
        self._handler: BrokerHandler | None = None
        self._presence_ttl = 0.0
        self._pubsub: coredis.patterns.pubsub.PubSub[bytes] | None = None
        self._connected = False  # the pub/sub connection is up and every room subscribed
        self._rooms: dict[bytes, str] = {}  # channel -> room, for the rooms subscribed
        self._local: dict[str, dict[str, bytes]] = {}  # room -> connection id -> member JSON

    def __repr__(self) -> str:
        return f"RedisBroker({self.target.location}, node={self.node!r})"

    # --- lifecycle ---------------------------------------------------------------------------

    async def run(
        self,
        handler: BrokerHandler,
        *,
        presence_ttl: float,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Connect, call ``task_status.started()``, then serve until cancelled.

        Cancel it (its nursery's scope) to stop; connecting at startup is bounded by
        ``connect_timeout``. Members joined through this broker are not removed when it stops:
        they expire ``presence_ttl`` seconds later, and another process emits their leaves.

        Raises:
            BrokerUnavailable: Redis cannot be reached at startup.
            RuntimeError: this broker is already running.
        """
        if self._handler is not None:
            raise RuntimeError("this RedisBroker is already running")
        if not presence_ttl > 0:
            raise ValueError(f"presence_ttl must be a positive number, got {presence_ttl}")
        self._handler = handler
        self._presence_ttl = presence_ttl
        started = False
        try:
            async with self._open() as client:
                self._client = client
                self._scripts = {
                    name: client.register_script(getattr(lua, name)) for name in SCRIPTS
                }
                async with trio.open_nursery() as nursery:
                    await nursery.start(self._subscriber, client)
                    nursery.start_soon(self._presence)
                    started = True
                    task_status.started()
        except BaseExceptionGroup as group:
            if not started:
                raise_single(group)
            raise
        finally:
            self._handler = self._client = self._pubsub = None
            self._connected = False
            self._scripts = {}

    @asynccontextmanager
    async def _open(self) -> AsyncIterator[coredis.Redis[bytes]]:
        """A connected client, or BrokerUnavailable."""
        target = self.target
        options: dict[str, Any] = {
            "connect_timeout": self.connect_timeout,
            "stream_timeout": self.command_timeout,
            "retry_policy": NoRetryPolicy(),
        }
        async with AsyncExitStack() as stack:
            client: coredis.Redis[bytes]
            if target.sentinel:
                sentinel = coredis.Sentinel(
                    [TCPLocation(host, port) for host, port in target.hosts],
                    sentinel_kwargs={
                        "connect_timeout": self.connect_timeout,
                        "stream_timeout": self.command_timeout,
                    },
                    retry_policy=NoRetryPolicy(),
                )
                await stack.enter_async_context(sentinel)
                assert target.service is not None
                client = sentinel.primary_for(
                    target.service,
                    db=target.db,
                    username=target.username,
                    password=target.password,
                    connect_timeout=self.connect_timeout,
                    stream_timeout=self.command_timeout,
                )
            else:
                host, port = target.hosts[0]
                client = coredis.Redis(
                    host,
                    port,
                    target.db,
                    username=target.username,
                    password=target.password,
                    ssl=target.ssl,
                    **options,
                )
            await stack.enter_async_context(client)  # no I/O yet: starts the pool's tasks
            try:
                with trio.fail_after(self.connect_timeout + self.command_timeout):
                    await client.ping()
            except Exception as exc:
                if not _only_unavailable(exc):
                    raise
                raise BrokerUnavailable(
                    f"Redis at {target.location} is unreachable: {describe(exc)}."
                ) from exc
            yield client

    async def _subscriber(
        self,
        client: coredis.Redis[bytes],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """The pub/sub connection: subscribe every room, read, and reconnect when lost."""
        assert self._handler is not None
        handler = self._handler
        first, lost, attempt = True, False, 0
        while True:
            try:
                async with client.pubsub(
                    retry_policy=None,
                    ignore_subscribe_messages=True,
                    subscription_timeout=self.command_timeout,
                ) as pubsub:
                    self._pubsub = pubsub
                    if self._rooms:
                        await pubsub.subscribe(*self._rooms)
                    self._connected = True
                    attempt = 0
                    if first:
                        first = False
                        task_status.started()
                    if lost:
                        lost = False
                        # Entries lost with Redis's data come back before the hub hears of it.
                        await self._refresh_all()
                        handler.connection_restored()
                    while True:
                        message = await pubsub.get_message()
                        if message is not None and message["type"] == "message":
                            self._dispatch(cast(bytes, message["channel"]), message["data"])
            except BaseException as exc:
                self._pubsub = None
                self._connected = False
                # Being cancelled (run() stops): coredis's pub/sub cleanup may then fail on the
                # connection being closed at the same time; that is no failure to report.
                await trio.lowlevel.checkpoint_if_cancelled()
                if not isinstance(exc, Exception) or not _only_unavailable(exc):
                    raise
                if first:
                    raise BrokerUnavailable(
                        f"Redis at {self.target.location} is unreachable: {describe(exc)}."
                    ) from exc
                if not lost:
                    lost = True
                    handler.connection_lost(exc)
            delay = min(self.max_backoff, self.backoff * 2**attempt)
            attempt += 1
            await trio.sleep(delay * random.uniform(0.5, 1.0))

    def _dispatch(self, channel: bytes, data: Any) -> None:
        room = self._rooms.get(channel)
        if room is None or self._handler is None:
            return  # unsubscribed meanwhile
        try:
            item = lua.decode_envelope(room, bytes(data))
        except (ValueError, TypeError, KeyError, IndexError):
            return  # not ours (someone else PUBLISHed on the channel): nothing to deliver
        if isinstance(item, Publication):
            self._handler.deliver(item)
        else:
            self._handler.event(item)

    async def _presence(self) -> None:
        """Every ``presence_ttl / 3``: refresh our members, sweep the expired of our rooms."""
        while True:
            await trio.sleep(self._presence_ttl / 3)
            if not self._connected:
                continue
            await self._refresh_all()
            try:
                for room in list(self._rooms.values()):
                    await self._sweep(room)
            except BrokerUnavailable:
                continue  # the subscriber notices and reconnects; the next round retries

    async def _refresh_all(self) -> None:
        try:
            for room, members in list(self._local.items()):
                if members:
                    await self._refresh(room, dict(members))
        except BrokerUnavailable:
            pass  # the subscriber notices and reconnects; the next round retries

    async def _refresh(self, room: str, members: dict[str, bytes]) -> None:
        keys = lua.RoomKeys.of(self.prefix, room)
        args: list[str | bytes | int] = [
            self._ttl_ms(self._presence_ttl),
            keys.channel,
            lua.event_head("j", self.node),
        ]
        for connection_id, member in members.items():
            args += [connection_id, member]
        await self._run_script("REFRESH", [keys.presence, keys.expiry], args)

    async def _sweep(self, room: str) -> int:
        keys = lua.RoomKeys.of(self.prefix, room)
        head = lua.event_head("l", self.node)
        args = [keys.channel, head, SWEEP_BATCH]
        return int(cast(int, await self._run_script("SWEEP", [keys.presence, keys.expiry], args)))

    # --- commands ----------------------------------------------------------------------------

    def _available(self) -> coredis.Redis[bytes]:
        if self._client is None:
            raise RuntimeError("the RedisBroker is not running: start its run() first")
        if not self._connected:
            raise BrokerUnavailable(
                f"Redis at {self.target.location} is unreachable: reconnecting."
            )
        return self._client

    async def _command(self, request: Awaitable[T]) -> T:
        try:
            with trio.fail_after(self.command_timeout):
                return await request
        except Exception as exc:
            if not _only_unavailable(exc):
                raise
            raise BrokerUnavailable(
                f"Redis at {self.target.location} is unreachable: {describe(exc)}."
            ) from exc

    async def _run_script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        self._available()
        return await self._command(self._scripts[name](keys=keys, args=args))

    @staticmethod
    def _ttl_ms(seconds: float) -> int:
        return max(1, round(seconds * 1000))

    async def subscribe(self, room: str) -> None:
        """Deliver ``room``'s publications and events from now on.

        Waits for Redis to acknowledge (at most ``command_timeout``); while Redis is
        unreachable it returns at once and the room is subscribed on reconnection. Never raises
        ``BrokerUnavailable``.
        """
        channel = lua.RoomKeys.of(self.prefix, room).channel.encode()
        self._rooms[channel] = room
        pubsub = self._pubsub
        if pubsub is not None:
            try:
                with trio.fail_after(self.command_timeout):
                    await pubsub.subscribe(channel)
            except Exception as exc:
                if not _only_unavailable(exc):
                    raise
                # The subscriber reconnects and subscribes the room again.

    async def unsubscribe(self, room: str) -> None:
        """Stop delivering ``room`` (at once: what is still in flight is dropped).

        Waits for Redis to acknowledge for at most ``command_timeout``; safe to cancel. Never
        raises ``BrokerUnavailable``.
        """
        channel = lua.RoomKeys.of(self.prefix, room).channel.encode()
        if self._rooms.pop(channel, None) is None:
            return
        pubsub = self._pubsub
        if pubsub is not None:
            try:
                with trio.fail_after(self.command_timeout):
                    await pubsub.unsubscribe(channel)
            except Exception as exc:
                if not _only_unavailable(exc):
                    raise

    async def publish(
        self,
        room: str,
        data: str | bytes,
        *,
        exclude: tuple[str, ...] = (),
        history: HistoryPolicy | None = None,
    ) -> Position | None:
        """Publish ``data`` to ``room`` on every process; its position if ``history`` is given.

        Bounded by ``command_timeout``. After a timeout the publication may have happened.

        Raises:
            BrokerUnavailable: Redis is unreachable.
            TypeError: ``data`` is neither str nor bytes.
        """
        keys = lua.RoomKeys.of(self.prefix, room)
        if history is None:
            envelope = lua.publication_envelope(self.node, exclude, data)
            client = self._available()
            await self._command(client.publish(keys.channel, envelope))
            return None
        head = lua.publication_head(self.node, exclude, data)
        payload = data.encode() if isinstance(data, str) else data
        args = [keys.channel, head, payload, history.size, self._ttl_ms(history.ttl)]
        reply = await self._run_script(
            "PUBLISH_WITH_HISTORY", [keys.meta, keys.stream], [*args, secrets.token_hex(6)]
        )
        epoch, offset = reply
        return Position(_text(epoch), int(offset))

    async def history(
        self, room: str, since: Position | None, history: HistoryPolicy
    ) -> HistoryWindow:
        """The publications after ``since`` if all are still kept (see ``HistoryWindow``).

        ``since=None`` answers ``recovered=True``, no publications and the current top; a room
        without a stream gets its epoch minted here, so a client that starts from this top
        recovers the first publications. Bounded by ``command_timeout``.

        Raises:
            BrokerUnavailable: Redis is unreachable.
        """
        keys = lua.RoomKeys.of(self.prefix, room)
        args = [
            since.epoch if since is not None else "",
            since.offset if since is not None else 0,
            secrets.token_hex(6),
            self._ttl_ms(history.ttl),
        ]
        reply = list(await self._run_script("HISTORY", [keys.meta, keys.stream], args))
        position = Position(_text(reply[0]), int(reply[1]))
        if not int(reply[2]):
            return HistoryWindow(False, position)
        publications = []
        for raw in reply[3:]:
            item = lua.decode_envelope(room, bytes(raw))
            assert isinstance(item, Publication)
            publications.append(item)
        return HistoryWindow(True, position, publications)

    async def join(self, room: str, member: Member) -> None:
        """Add ``member`` to ``room``'s presence and publish its join event.

        This broker refreshes the entry until :meth:`leave`. Bounded by ``command_timeout``.

        Raises:
            BrokerUnavailable: Redis is unreachable.
        """
        keys = lua.RoomKeys.of(self.prefix, room)
        encoded = lua.member_json(member)
        args = [
            member.connection_id,
            encoded,
            self._ttl_ms(self._presence_ttl),
            keys.channel,
            lua.event_head("j", self.node),
        ]
        await self._run_script("JOIN", [keys.presence, keys.expiry], args)
        self._local.setdefault(room, {})[member.connection_id] = encoded

    async def leave(self, room: str, member: Member) -> None:
        """Remove ``member`` from ``room``'s presence and publish its leave event.

        Never raises ``BrokerUnavailable``: if Redis is unreachable, the entry expires by
        itself and whichever process sweeps it emits the leave. Bounded by
        ``command_timeout``.
        """
        members = self._local.get(room, {})
        members.pop(member.connection_id, None)
        if not members:
            self._local.pop(room, None)
        if self._client is None or not self._connected:
            return
        keys = lua.RoomKeys.of(self.prefix, room)
        args = [member.connection_id, keys.channel, lua.event_head("l", self.node)]
        try:
            await self._run_script("LEAVE", [keys.presence, keys.expiry], args)
        except BrokerUnavailable:
            pass

    async def members(self, room: str) -> list[Member]:
        """Every unexpired member of ``room``, from every process. Bounded by
        ``command_timeout``.

        Raises:
            BrokerUnavailable: Redis is unreachable.
        """
        keys = lua.RoomKeys.of(self.prefix, room)
        reply = await self._run_script("MEMBERS", [keys.presence, keys.expiry], [])
        return [lua.decode_member(bytes(raw)) for raw in reply]

    async def count(self, room: str) -> int:
        """How many unexpired members ``room`` has. Bounded by ``command_timeout``.

        Raises:
            BrokerUnavailable: Redis is unreachable.
        """
        keys = lua.RoomKeys.of(self.prefix, room)
        return int(await self._run_script("COUNT", [keys.expiry], []))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
