"""Admission control of our own server: open-connection limits and a handshake rate.

One :class:`Admission` per server object (so per worker process). A WebSocket handshake, once
its request is read, asks :meth:`Admission.admit`; over a limit it gets a :class:`Refusal`,
which the server answers with HTTP 503, a ``Retry-After`` header and a one-line body (never a
silent drop). Refusals are logged at most once per :data:`LOG_EVERY` seconds, with the count
of those not logged.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import trio

from .options import ServerOptions

__all__ = ["LOG_EVERY", "Admission", "Refusal"]

logger = logging.getLogger("wsframework")

#: Seconds between two log lines about refused handshakes.
LOG_EVERY = 10.0
#: ``Retry-After`` of a refusal for a connection limit (seconds).
RETRY_FULL = 5


@dataclass(frozen=True)
class Refusal:
    """Why a handshake is refused: the 503 body's sentence and the ``Retry-After`` seconds."""

    reason: str
    retry_after: int

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """The headers of the 503 answer."""
        return [(b"retry-after", str(self.retry_after).encode())]

    @property
    def body(self) -> bytes:
        """The body of the 503 answer."""
        return f"{self.reason}; try again in {self.retry_after} s.\n".encode()


class Admission:
    """The limits of one server: ``max_connections``, ``max_connections_per_ip``,
    ``handshake_rate`` and ``handshake_burst`` of a :class:`~wsframework.ServerOptions`.

    An admitted handshake holds its connection slot until :meth:`release`.
    """

    def __init__(self, options: ServerOptions) -> None:
        self._max = options.max_connections
        self._max_per_ip = options.max_connections_per_ip
        self._rate = options.handshake_rate
        burst = options.handshake_burst
        if burst is None and self._rate is not None:
            burst = max(1, math.ceil(self._rate))
        self._burst = float(burst or 0)
        self._tokens = self._burst
        self._refilled: float | None = None
        self.open = 0
        self.per_ip: dict[str, int] = {}
        self._logged_at: float | None = None
        self._unlogged = 0

    @property
    def active(self) -> bool:
        """Whether any limit is set (without one, :meth:`admit` always admits)."""
        return self._max is not None or self._max_per_ip is not None or self._rate is not None

    def admit(self, client: str | None) -> Refusal | None:
        """Take a slot for a handshake from ``client`` (its IP address, ``None`` when unknown:
        then only the global limits apply), or say why not (nothing is taken then)."""
        if self._max is not None and self.open >= self._max:
            return Refusal(f"The server is at its limit of {self._max} connections", RETRY_FULL)
        held = self.per_ip.get(client, 0) if client is not None else 0
        if self._max_per_ip is not None and held >= self._max_per_ip:
            return Refusal(
                f"Too many connections from {client} (limit {self._max_per_ip})", RETRY_FULL
            )
        if self._rate is not None:
            refusal = self._take_token(self._rate)
            if refusal is not None:
                return refusal
        self.open += 1
        if client is not None:
            self.per_ip[client] = held + 1
        return None

    def release(self, client: str | None) -> None:
        """Give back the slot :meth:`admit` took for ``client``."""
        self.open -= 1
        if client is not None:
            left = self.per_ip[client] - 1
            if left:
                self.per_ip[client] = left
            else:
                del self.per_ip[client]

    def _take_token(self, rate: float) -> Refusal | None:
        now = trio.current_time()
        if self._refilled is not None:
            self._tokens = min(self._burst, self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        wait = max(1, math.ceil((1 - self._tokens) / rate))
        return Refusal(f"Too many handshakes (limit {rate:g} per second)", wait)

    def log(self, refusal: Refusal, client: str | None) -> None:
        """Log a refusal, at most once per :data:`LOG_EVERY` seconds (with how many were not)."""
        now = trio.current_time()
        if self._logged_at is not None and now - self._logged_at < LOG_EVERY:
            self._unlogged += 1
            return
        more = f" ({self._unlogged} more refused since the last report)" if self._unlogged else ""
        who = client or "a client without an address"
        logger.warning("refused a handshake from %s with 503: %s%s", who, refusal.reason, more)
        self._logged_at = now
        self._unlogged = 0
