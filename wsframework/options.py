"""Validated settings: one object per side, built once where a server or client starts.

* :class:`ServerOptions`: our own Trio server (:class:`~wsframework.WebSocketServer`,
  :func:`~wsframework.serve_websocket`, :meth:`App.serve <wsframework.App.serve>`,
  ``wsframework run``);
* :class:`ClientOptions`: :func:`~wsframework.open_websocket` and the other client calls;
* :class:`ASGIOptions`: the same App under an ASGI server (Hypercorn), where the server owns the
  wire and only the limits that are ours remain.

The public functions keep their keyword arguments (the compat module pins trio-websocket's
signatures); each builds its options object once and passes that one value down. Defaults are
the same on every side; where a setting means something different on one side its docstring
says so.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Literal, TypeAlias

from typing_extensions import Self

from .protocol.deflate_options import DEFAULT_DEFLATE, DeflateOptions

__all__ = [
    "CONN_TIMEOUT",
    "HANDSHAKE_TIMEOUT",
    "MAX_HTTP_BODY",
    "MAX_MESSAGE_SIZE",
    "MESSAGE_QUEUE_SIZE",
    "RECEIVE_BYTES",
    "SAME_AS_INTERVAL",
    "SEND_TIMEOUT",
    "ASGIOptions",
    "ClientOptions",
    "ConnectionOptions",
    "PingTimeout",
    "ServerOptions",
    "timeout_seconds",
]

CONN_TIMEOUT = 60.0
HANDSHAKE_TIMEOUT = 10.0
SEND_TIMEOUT = 30.0
MESSAGE_QUEUE_SIZE = 16
MAX_MESSAGE_SIZE = 2**20
RECEIVE_BYTES = 64 * 2**10
MAX_HTTP_BODY = 2**20


class _Default(enum.Enum):
    SAME_AS_INTERVAL = "same as ping_interval"

    def __repr__(self) -> str:
        return self.name


#: ``ping_timeout``'s default: a pong may take as long as ``ping_interval``. ``None`` turns the
#: pong timeout off (pings are still sent); ``ping_interval=None`` turns keepalive off.
SAME_AS_INTERVAL: Final = _Default.SAME_AS_INTERVAL

#: What ``ping_timeout`` accepts: seconds, ``None`` (no pong timeout) or :data:`SAME_AS_INTERVAL`.
PingTimeout: TypeAlias = float | Literal[_Default.SAME_AS_INTERVAL] | None


def timeout_seconds(timeout: float | None) -> float:
    """``timeout`` as ``trio.move_on_after`` and ``trio.fail_after`` take it: ``None`` (the
    timeout is off) becomes ``math.inf``, which never expires."""
    return math.inf if timeout is None else timeout


def _positive(name: str, value: Any, *, optional: bool = False, unit: str = "a number") -> None:
    """Check a setting that is a number greater than 0 (or ``None``, off, when ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        off = " or None (off)" if optional else ""
        raise ValueError(f"{name} must be {unit} greater than 0{off}, got {value!r}")


def _timeout(name: str, value: Any) -> None:
    """Check a timeout: seconds greater than 0, or ``None`` (off)."""
    _positive(name, value, optional=True, unit="a number of seconds")


def _check_queue(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"message_queue_size must be an integer >= 0, got {value!r}")


def _check_size(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be an integer greater than 0, got {value!r}")


@dataclass(frozen=True)
class ConnectionOptions:
    """What every WebSocket connection of one server or client call shares.

    Attributes:
        message_queue_size: received messages held for the handler before the connection stops
            reading the peer (backpressure): 16 messages of at most 64 KiB in all
            (:data:`~wsframework.message_queue.BATCH_BYTES`), or one larger message. ``0`` means
            no buffering: the reader waits until the handler has taken each message, so nothing
            more is read (not even a close frame) meanwhile, as in trio-websocket.
        max_message_size: a larger incoming message closes the connection with 1009.
        receive_buffer_size: bytes per socket read (64 KiB); ``None`` means the default.
        connect_timeout: seconds for the opening handshake (on a client: TCP, TLS and the
            handshake together); ``None`` waits for ever.
        disconnect_timeout: seconds to wait for the peer's close frame when closing; ``None``
            waits for ever.
        compression: permessage-deflate settings, ``None`` for no compression.
        ping_interval: send a keepalive ping this often (seconds); ``None`` disables keepalive.
        ping_timeout: close with 1011 when a keepalive pong takes longer than this; the
            default, :data:`SAME_AS_INTERVAL`, is ``ping_interval``; ``None`` turns the pong
            timeout off (pings are still sent).
        send_timeout: seconds one send may wait for a peer that does not read (a full socket)
            before the connection is dropped with 1008; ``None`` (a client's default) waits
            for ever.

    Every timeout here is off with ``None`` (``math.inf`` works too); a caller's own
    ``trio.move_on_after`` or ``trio.fail_after`` around a call still applies, and whichever
    expires first wins (see ``docs/timeouts.md``).

    Raises:
        ValueError: a setting is out of range (the message names it and the value).
    """

    message_queue_size: int = MESSAGE_QUEUE_SIZE
    max_message_size: int = MAX_MESSAGE_SIZE
    receive_buffer_size: int | None = RECEIVE_BYTES
    connect_timeout: float | None = CONN_TIMEOUT
    disconnect_timeout: float | None = CONN_TIMEOUT
    compression: DeflateOptions | None = DEFAULT_DEFLATE
    ping_interval: float | None = None
    ping_timeout: PingTimeout = SAME_AS_INTERVAL
    send_timeout: float | None = None

    def __post_init__(self) -> None:
        _check_queue(self.message_queue_size)
        _check_size("max_message_size", self.max_message_size)
        if self.receive_buffer_size is None:
            object.__setattr__(self, "receive_buffer_size", RECEIVE_BYTES)
        _check_size("receive_buffer_size", self.receive_buffer_size)
        _timeout("connect_timeout", self.connect_timeout)
        _timeout("disconnect_timeout", self.disconnect_timeout)
        _timeout("ping_interval", self.ping_interval)
        if self.ping_timeout is not SAME_AS_INTERVAL:
            _timeout("ping_timeout", self.ping_timeout)
        _timeout("send_timeout", self.send_timeout)
        if self.compression is not None and not isinstance(self.compression, DeflateOptions):
            raise ValueError(
                "compression must be a DeflateOptions or None, "
                f"got {type(self.compression).__name__}"
            )

    @property
    def read_size(self) -> int:
        """:attr:`receive_buffer_size` as an ``int`` (``None`` was replaced by the default)."""
        size = self.receive_buffer_size
        return size if size is not None else RECEIVE_BYTES

    @property
    def keepalive(self) -> tuple[float, float] | None:
        """``(interval, timeout)`` of the keepalive pings, or ``None`` when they are off; a
        timeout that is off is ``math.inf``."""
        if self.ping_interval is None:
            return None
        if self.ping_timeout is SAME_AS_INTERVAL:
            return self.ping_interval, self.ping_interval
        return self.ping_interval, timeout_seconds(self.ping_timeout)

    @classmethod
    def settings_in(cls, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The entries of ``arguments`` that are settings of this class.

        For the public entry points, which keep their keyword signatures: each passes its own
        ``locals()``, taken first thing, and builds its options object once from the result.
        """
        names = {f.name for f in fields(cls)}
        return {name: value for name, value in arguments.items() if name in names}

    @classmethod
    def build(cls, options: Any = None, **settings: Any) -> Self:
        """``options`` if given (then ``settings`` must hold only defaults), else
        ``cls(**settings)``.

        Raises:
            ValueError: both an options object and non-default keyword settings were given.
        """
        if options is None:
            return cls(**settings)
        if not isinstance(options, cls):
            raise TypeError(f"options must be a {cls.__name__}, got {type(options).__name__}")
        defaults = {f.name: f.default for f in fields(cls)}
        changed = sorted(k for k, v in settings.items() if defaults.get(k, v) != v)
        if changed:
            raise ValueError(
                f"pass settings either in options= or as keywords, not both: {', '.join(changed)}"
            )
        return options


@dataclass(frozen=True)
class ServerOptions(ConnectionOptions):
    """Settings of our own server (see :class:`ConnectionOptions` for the shared ones).

    The limits hold per server object, so per worker process under ``wsframework run
    --workers N``. A WebSocket handshake over a limit is answered with HTTP 503 and a
    ``Retry-After`` header (see ``docs/security.md``).

    Attributes:
        connect_timeout: seconds a client has to send its whole opening handshake (10 s here;
            the compat module's ``serve_websocket`` keeps trio-websocket's 60 s).
        send_timeout: 30 s here (see :class:`ConnectionOptions`).
        max_http_body: a plain HTTP request with a larger body is answered with 413.
        max_connections: WebSocket connections open at once (handshake read, until the
            handler ends); ``None`` for no limit.
        max_connections_per_ip: the same for one client IP address; ``None`` for no limit.
        handshake_rate: WebSocket handshakes accepted per second (a token bucket);
            ``None`` for no limit.
        handshake_burst: handshakes accepted at once before the rate applies (the bucket's
            size); ``None``: the rate rounded up.
    """

    connect_timeout: float | None = HANDSHAKE_TIMEOUT
    send_timeout: float | None = SEND_TIMEOUT
    max_http_body: int = MAX_HTTP_BODY
    max_connections: int | None = None
    max_connections_per_ip: int | None = None
    handshake_rate: float | None = None
    handshake_burst: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_size("max_http_body", self.max_http_body)
        for name in ("max_connections", "max_connections_per_ip", "handshake_burst"):
            if getattr(self, name) is not None:
                _check_size(name, getattr(self, name))
        _positive("handshake_rate", self.handshake_rate, optional=True)


@dataclass(frozen=True)
class ClientOptions(ConnectionOptions):
    """Settings of a client connection (see :class:`ConnectionOptions`).

    ``connect_timeout`` bounds DNS, TCP, TLS and the opening handshake together.
    """


@dataclass(frozen=True)
class ASGIOptions:
    """Settings of the ASGI transport (the App under Hypercorn or another ASGI server).

    The ASGI server owns pings, compression, read sizes and the handshake timeout; these are the
    limits left to us. Defaults are those of :class:`ServerOptions`.

    Attributes:
        message_queue_size: as in :class:`ConnectionOptions`; ``0`` means the handler's
            ``get_message`` receives from the server itself, with nothing buffered.
        max_message_size: a larger incoming message closes the connection with 1009.
        receive_timeout: close with 1011 a connection that sent nothing for this many seconds
            (the ASGI server pings but never notices a missing pong); ``None`` disables.
        disconnect_timeout: seconds a handler's final close may take; ``None`` waits for ever.
        max_http_body: a plain HTTP request with a larger body is answered with 413.

    Raises:
        ValueError: a setting is out of range.
    """

    message_queue_size: int = MESSAGE_QUEUE_SIZE
    max_message_size: int = MAX_MESSAGE_SIZE
    receive_timeout: float | None = None
    disconnect_timeout: float | None = CONN_TIMEOUT
    max_http_body: int = MAX_HTTP_BODY

    def __post_init__(self) -> None:
        _check_queue(self.message_queue_size)
        _check_size("max_message_size", self.max_message_size)
        _timeout("receive_timeout", self.receive_timeout)
        _timeout("disconnect_timeout", self.disconnect_timeout)
        _check_size("max_http_body", self.max_http_body)
