"""The reconnecting client: one open connection after another, with backoff between them.

::

    async with reconnecting("ws://127.0.0.1:8000/chat/lobby?user=ann") as connections:
        async for ws in connections:          # an open connection each time round
            async for message in ws:          # ends quietly on any close
                print(message)

Each time round the loop yields an open connection. When the body ends, or the connection is
closed or lost, the next round closes it (if it is still open), decides from how it ended
whether to go on (:func:`retryable`, or your own ``ReconnectOptions(retry=...)``), waits a
random delay (exponential backoff with full jitter, :meth:`ReconnectOptions.delay`) and
connects again. ``break`` stops; the block's exit closes the connection in hand.

The connections' reader tasks run in a nursery the ``async with`` block owns: that is why the
loop sits in a block rather than being an async generator (Trio does not let a generator
hold a nursery across ``yield``).

With :class:`Resume`, each message received is shown to a function that finds the room
position in it (``wsframework.rooms.Position``), and the next URL carries the last one as
``?since=epoch:offset``, the rooms' recovery protocol: the server replays what was missed.
"""

from __future__ import annotations

import logging
import random
import ssl
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import trio

from ._groups import raise_single
from .client import _close_bounded, _connect_bounded, _url_to_host
from .exceptions import (
    ConnectionClosed,
    ConnectionRejected,
    DisconnectionTimeout,
    HandshakeError,
    InvalidHandshake,
)
from .interface import Endpoint, Message, MessageIterator, PreparedMessage, WebSocketConnection
from .options import ClientOptions, _positive
from .protocol.close import CloseReason

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "STOP_CLOSE_CODES",
    "Connect",
    "ReconnectOptions",
    "Reconnecting",
    "Resume",
    "reconnecting",
    "retryable",
]

logger = logging.getLogger("wsframework.client")

#: How one connection is opened: ``await connect(nursery, url)``, its reader task in
#: ``nursery`` (the shape of :func:`~wsframework.connect_websocket_url`).
Connect = Callable[[trio.Nursery, str], Awaitable[WebSocketConnection]]

#: Close codes after which reconnecting would fail the same way: protocol error, unsupported
#: data, invalid payload, policy violation, message too big, missing extension.
STOP_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1009, 1010})


def _close_code_retries(code: int) -> bool:
    if code in STOP_CLOSE_CODES:
        return False
    # Registered (3000-3999) and private (4000-4999) codes: the first half of each thousand
    # means "reconnect", the second half "do not" (Centrifugo's convention).
    return not (3500 <= code <= 3999 or 4500 <= code <= 4999)


def retryable(error: Exception) -> bool:
    """The default policy: is it worth connecting again after ``error``?

    * a close (``ConnectionClosed``, also for a lost connection, 1006): yes, except for 1002,
      1003, 1007, 1008, 1009, 1010 (:data:`STOP_CLOSE_CODES`) and 3500-3999 and 4500-4999 (the
      application's "do not reconnect" codes). A normal close (1000) reconnects: servers close
      normally when they recycle connections; break out of the loop to stop;
    * a refused handshake (``ConnectionRejected``): yes for 5xx, 408 and 429, no for any other
      status (4xx: the request itself is wrong; 3xx: redirects are not followed);
    * a network failure (``HandshakeError``: refused, reset, DNS, TLS; ``ConnectionTimeout``;
      an ``OSError``): yes;
    * an invalid handshake response (``InvalidHandshake``): no, unless the server closed the
      connection during the handshake (a restart);
    * anything else: no.

    Give your own in ``ReconnectOptions(retry=...)``; it can call this one for the cases it
    does not decide itself.
    """
    if isinstance(error, ConnectionClosed):
        return error.reason is None or _close_code_retries(error.reason.code)
    if isinstance(error, ConnectionRejected):
        return error.status_code >= 500 or error.status_code in (408, 429)
    if isinstance(error, InvalidHandshake):
        return isinstance(error.__cause__, EOFError)
    return isinstance(error, (HandshakeError, OSError, trio.BrokenResourceError))


@dataclass(frozen=True)
class ReconnectOptions:
    """How :func:`reconnecting` connects, waits and gives up: one object for all of it.

    Before reconnect attempt *n* since the last open connection (*n* = 1 after a drop), it
    waits a random delay between 0 and ``min(max_delay, initial_delay * factor ** (n - 1))``
    ("full jitter": clients dropped together do not come back together). A refusal with a
    ``Retry-After`` header waits that long instead, at most ``max_delay``.

    Attributes:
        client: the settings of each connection (timeouts, limits, compression, pings).
        initial_delay: the largest first wait, in seconds.
        factor: how much the largest wait grows after each failed attempt (at least 1).
        max_delay: the largest wait ever, in seconds.
        max_attempts: give up after this many failed connection attempts in a row, raising
            the last error; ``None`` never gives up. A drop followed by one failed attempt is
            one attempt.
        retry: decides, from the error, whether to try again (default :func:`retryable`).
        random: a number in ``[0, 1)`` per wait (the jitter); give a fixed one in tests.

    Raises:
        ValueError: a setting is out of range (the message names it and the value).
    """

    client: ClientOptions = field(default_factory=ClientOptions)
    initial_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 30.0
    max_attempts: int | None = None
    retry: Callable[[Exception], bool] = field(default=retryable, compare=False)
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.client, ClientOptions):
            raise ValueError(f"client must be a ClientOptions, got {type(self.client).__name__}")
        _positive("initial_delay", self.initial_delay)
        _positive("max_delay", self.max_delay)
        if isinstance(self.factor, bool) or not isinstance(self.factor, (int, float)):
            raise ValueError(f"factor must be a number of at least 1, got {self.factor!r}")
        if not self.factor >= 1:
            raise ValueError(f"factor must be a number of at least 1, got {self.factor!r}")
        if self.max_attempts is not None and (
            isinstance(self.max_attempts, bool)
            or not isinstance(self.max_attempts, int)
            or self.max_attempts < 1
        ):
            raise ValueError(f"max_attempts must be None or at least 1, got {self.max_attempts!r}")

    def max_wait(self, attempt: int) -> float:
        """The largest wait before reconnect attempt ``attempt`` (1, 2, ...): the bound of the
        jitter."""
        try:
            grown = self.initial_delay * self.factor ** max(0, attempt - 1)
        except OverflowError:
            return self.max_delay
        return min(self.max_delay, grown)

    def delay(self, attempt: int) -> float:
        """The wait before reconnect attempt ``attempt``: ``random() * max_wait(attempt)``."""
        return self.random() * self.max_wait(attempt)


@dataclass(frozen=True)
class Resume:
    """Resume from the last position seen (the rooms' recovery protocol).

    Each message received is passed to ``position_of``, which returns the room position it
    carries, or ``None``; the last position found goes into the next connection's URL as
    ``?<parameter>=<str(position)>``, e.g. ``?since=3f2a:17`` for a
    :class:`wsframework.rooms.Position`. The server then replays the publications missed in
    between (and says so, e.g. ``membership.recovered`` in ``apps/chat``'s welcome).

    Attributes:
        position_of: finds the position in one message (called for every message received:
            keep it cheap).
        parameter: the query parameter's name.
        start: a position to resume from on the first connection (e.g. one saved on disk).
    """

    position_of: Callable[[Message], object | None]
    parameter: str = "since"
    start: object | None = None


class _Watched(WebSocketConnection):
    """A connection as :class:`Reconnecting` yields it: every call goes to the real one;
    received messages are shown to ``seen`` (for :class:`Resume`), and iterating ends quietly
    on every close, so that the loop around it decides what the close means."""

    __slots__ = ("_inner", "_seen")

    def __init__(self, inner: WebSocketConnection, seen: Callable[[Message], None] | None) -> None:
        self._inner = inner
        self._seen = seen

    def __str__(self) -> str:
        return str(self._inner)

    def __repr__(self) -> str:
        return f"<reconnecting {self._inner!r}>"

    @property
    def closed(self) -> CloseReason | None:
        return self._inner.closed

    @property
    def is_client(self) -> bool:
        return self._inner.is_client

    @property
    def local(self) -> Endpoint | str:
        return self._inner.local

    @property
    def remote(self) -> Endpoint | str:
        return self._inner.remote

    @property
    def path(self) -> str:
        return self._inner.path

    @property
    def subprotocol(self) -> str | None:
        return self._inner.subprotocol

    @property
    def request_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        return self._inner.request_headers

    @property
    def response_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        return self._inner.response_headers

    @property
    def compression(self) -> bool:
        return self._inner.compression

    @property
    def latency(self) -> float | None:
        return self._inner.latency

    async def get_message(self) -> Message:
        message = await self._inner.get_message()
        if self._seen is not None:
            self._seen(message)
        return message

    async def send_message(self, message: Message, *, compress: bool = True) -> None:
        await self._inner.send_message(message, compress=compress)

    async def send_prepared(self, prepared: PreparedMessage) -> None:
        await self._inner.send_prepared(prepared)

    def send_prepared_nowait(self, prepared: PreparedMessage) -> bool:
        return self._inner.send_prepared_nowait(prepared)

    async def ping(self, payload: bytes | None = None) -> None:
        await self._inner.ping(payload)

    async def pong(self, payload: bytes | None = None) -> None:
        await self._inner.pong(payload)

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        await self._inner.aclose(code, reason)

    async def going_away(self, code: int = 1001, reason: str = "server shutting down") -> None:
        await self._inner.going_away(code, reason)

    def __aiter__(self) -> MessageIterator[Message]:
        """``async for message in ws``: ends quietly on any close (the loop around it decides
        what the close means)."""
        return MessageIterator(self.get_message, quiet=None)


class Reconnecting:
    """The connections of one :func:`reconnecting` block: ``async for ws in connections``.

    Each ``__anext__`` closes the previous connection if it is still open, decides whether to
    go on, waits, and connects; it returns the open connection, or raises:

    * the connection error that :attr:`ReconnectOptions.retry` does not retry (e.g.
      ``ConnectionRejected`` for a 403), or the last one once ``max_attempts`` failed in a row;
    * ``ConnectionClosed`` when a connection closed with a code that is not retried (e.g.
      1008, 4500-4999): its ``reason`` says which.

    Attributes:
        position: the last position :class:`Resume` found (``None`` without it).
        attempts: failed connection attempts since the last open connection.
    """

    def __init__(
        self,
        nursery: trio.Nursery,
        url: str,
        options: ReconnectOptions,
        connect: Connect,
        resume: Resume | None,
    ) -> None:
        self._nursery = nursery
        self._url = url
        self._options = options
        self._connect = connect
        self._resume = resume
        self.position: object | None = resume.start if resume is not None else None
        self.attempts = 0
        self._waits = 0  # waits since the last open connection: the backoff's exponent
        self._current: _Watched | None = None
        self._stopped = False

    def __aiter__(self) -> Reconnecting:
        return self

    async def __anext__(self) -> WebSocketConnection:
        """The next open connection; see the class for what ends the loop.

        Cancel it like any Trio call (the caller's cancel scope); ``trio.move_on_after`` around
        the whole ``async with`` bounds the session.
        """
        if self._stopped:
            raise StopAsyncIteration
        previous = await self._close_current()
        if previous is not None:
            await self._wait(ConnectionClosed(previous))
        while True:
            try:
                connection = await self._connect(self._nursery, self.url)
            except Exception as error:
                self.attempts += 1
                limit = self._options.max_attempts
                if limit is not None and self.attempts >= limit:
                    self._stopped = True
                    raise
                await self._wait(error)
                continue
            self.attempts = self._waits = 0
            seen = self._see if self._resume is not None else None
            self._current = _Watched(connection, seen)
            return self._current

    @property
    def url(self) -> str:
        """The URL the next connection goes to (with the resume position, if there is one)."""
        if self._resume is None or self.position is None:
            return self._url
        parts = urllib.parse.urlsplit(self._url)
        name = self._resume.parameter
        query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, True) if k != name]
        query.append((name, str(self.position)))
        return parts._replace(query=urllib.parse.urlencode(query)).geturl()

    async def _close_current(self) -> CloseReason | None:
        """Close the connection in hand, if any (shielded, within ``disconnect_timeout``);
        the close reason it had before we closed it (``None``: it was open)."""
        current, self._current = self._current, None
        if current is None:
            return None
        reason = current.closed
        try:
            await _close_bounded(current._inner, self._options.client)
        except DisconnectionTimeout as exc:  # released anyway; we are moving on
            logger.debug("%s", exc)
        return reason

    async def _leave(self) -> None:
        """Close the connection in hand at once (the block is left by an exception or a
        cancellation): a 1001 close frame, no wait for the answer."""
        current, self._current = self._current, None
        if current is not None:
            await current._inner.going_away(1001, "going away")

    def _see(self, message: Message) -> None:
        assert self._resume is not None
        position = self._resume.position_of(message)
        if position is not None:
            self.position = position

    async def _wait(self, error: Exception) -> None:
        """Raise ``error`` unless the policy retries it; else log and wait."""
        if not self._options.retry(error):
            self._stopped = True
            raise error
        self._waits += 1
        delay = _retry_after(error, self._options.max_delay)
        if delay is None:
            delay = self._options.delay(self._waits)
        where = urllib.parse.urlsplit(self._url)._replace(query="", fragment="").geturl()
        logger.info(
            "reconnecting to %s: attempt %d in %.2f s, because %s",
            where,
            self._waits,
            delay,
            _reason_text(error),
        )
        await trio.sleep(delay)


def _reason_text(error: Exception) -> str:
    """Why a connection ended or failed, as a sentence for the log."""
    if isinstance(error, ConnectionClosed):
        reason = error.reason
        if reason is None:
            return "the connection was closed"
        if reason.code == 1006:
            return "the connection was lost without a closing handshake (1006)"
        text = f"the connection was closed with {reason.code} ({reason.name})"
        return f"{text}: {reason.reason}" if reason.reason else text
    return str(error) or type(error).__name__


def _retry_after(error: Exception, limit: float) -> float | None:
    """The seconds a refusal's ``Retry-After`` asks for (at most ``limit``), else ``None``."""
    if not isinstance(error, ConnectionRejected):
        return None
    value = next((v for k, v in error.headers if k.lower() == b"retry-after"), None)
    if value is None:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(limit, max(0.0, seconds))


def _opener(
    ssl_context: ssl.SSLContext | None,
    subprotocols: Iterable[str] | None,
    extra_headers: list[tuple[bytes, bytes]] | None,
    options: ClientOptions,
) -> Connect:
    offered = tuple(subprotocols) if subprotocols is not None else None
    headers = list(extra_headers) if extra_headers is not None else None

    async def connect(nursery: trio.Nursery, url: str) -> WebSocketConnection:
        host, port, resource, use_ssl = _url_to_host(url, ssl_context)
        return await _connect_bounded(
            nursery, host, port, resource, use_ssl, offered, headers, options
        )

    return connect


@asynccontextmanager
async def reconnecting(
    url: str,
    options: ReconnectOptions | None = None,
    *,
    ssl_context: ssl.SSLContext | None = None,
    subprotocols: Iterable[str] | None = None,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    resume: Resume | None = None,
    connect: Connect | None = None,
) -> AsyncIterator[Reconnecting]:
    """Connect to ``url`` again and again: ``async with reconnecting(url) as connections:``
    then ``async for ws in connections:``.

    Each round yields an open connection (it was connected with ``options.client``, as
    :func:`~wsframework.open_websocket_url` would). Iterating it (``async for message in ws``)
    ends quietly on any close; ``get_message``/``send_message`` raise ``ConnectionClosed`` as
    usual: catch it and ``continue`` to reconnect. The next round closes the connection if it
    is still open, and reconnects unless how it ended is not retried (see :func:`retryable`).
    ``break`` stops; leaving the block closes the connection in hand (shielded, bounded by
    ``disconnect_timeout``), or, when an exception or a cancellation leaves it, sends it a 1001
    close frame without waiting for the answer.

    Each failed attempt and each drop is logged on ``wsframework.client`` at INFO, one line:
    the attempt number, the delay and the reason.

    Cancel it as any Trio code: the caller's cancel scope ends the wait, the connect or the
    body; to bound a whole session, ``with trio.move_on_after(seconds):`` around the block.

    Args:
        url: a ``ws://`` or ``wss://`` URL (or, with ``connect``, whatever it takes).
        options: backoff, attempts, the retry policy and the connections' settings.
        ssl_context: for a ``wss://`` URL, as in :func:`~wsframework.open_websocket_url`.
        subprotocols: offered on each connection, in order of preference.
        extra_headers: more request headers, sent on each connection.
        resume: resume from the last room position seen (see :class:`Resume`).
        connect: how to open one connection, ``await connect(nursery, url)``; by default a
            client connection as above. For tests, one over memory streams to an app.

    Raises:
        ValueError: ``url`` is not a ``ws:``/``wss:`` URL with a host (on entry).
        ConnectionRejected, HandshakeError, ConnectionTimeout, ...: from the loop, the error
            that is not retried, or the last one once ``max_attempts`` failed in a row.
        ConnectionClosed: from the loop, a close code that is not retried.
    """
    options = options if options is not None else ReconnectOptions()
    if not isinstance(options, ReconnectOptions):
        raise TypeError(f"options must be a ReconnectOptions, got {type(options).__name__}")
    if connect is None:
        _url_to_host(url, ssl_context)  # a bad URL fails now
        connect = _opener(ssl_context, subprotocols, extra_headers, options.client)
    try:
        async with trio.open_nursery() as nursery:
            connections = Reconnecting(nursery, url, options, connect, resume)
            try:
                yield connections
            except BaseException:
                await connections._leave()
                raise
            else:
                await connections._close_current()
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise_single(group)
