"""Cheap process-wide counters of what the server does, read by :mod:`wsframework.metrics`.

Counting must cost the hot path nothing measurable, so nothing here takes a lock or calls
prometheus-client: the transports and the rooms bump plain integers (per connection for
messages and bytes, here for everything counted once per connection or per event), and the
metrics module reads them at scrape time and once a second. Per-message counts stay on the
object that sees the messages (the protocol engine of our own server, the ASGI connection
under an ASGI server); :func:`opened` registers that object, :func:`closed` folds its counts
into the totals when its connection ends.

Everything here is per process; under several workers the metrics module aggregates through
prometheus-client's multiprocess mode.
"""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from .protocol.close import CloseReason

__all__ = ["STATS", "Stats", "Traffic", "closed", "handshake", "opened", "record_rtt"]

#: Keep at most this many ping round-trip times between two reads (the rest are dropped).
MAX_RTT_SAMPLES = 10_000


class Traffic(Protocol):
    """What counts one connection's messages: the engine or the ASGI connection."""

    messages_in: int
    messages_out: int
    bytes_in: int
    bytes_out: int
    #: ``"local"`` or ``"remote"``: which end sent the first close frame (``None``: neither).
    closed_by: str | None


class Stats:
    """The counters. One instance per process: :data:`STATS`."""

    def __init__(self) -> None:
        #: ``(outcome, status)`` -> handshakes: accepted (101), rejected (the HTTP status
        #: the app or a drain answered with) or failed (malformed, timed out, peer left).
        self.handshakes: Counter[tuple[str, str]] = Counter()
        #: ``(code, side)`` -> closed connections; side is who sent the first close frame.
        self.closes: Counter[tuple[str, str]] = Counter()
        #: Open connections (key: the connection) and what counts their traffic.
        self.live: dict[object, Traffic] = {}
        #: Messages and bytes of the connections already closed: in, out, in, out.
        self.traffic = [0, 0, 0, 0]
        #: ``handled`` ("true"/"false") -> exceptions raised by WebSocket handlers.
        self.handler_errors: Counter[str] = Counter()
        #: Room overflow policy -> publications dropped (``close``: members closed).
        self.queue_drops: Counter[str] = Counter()
        self.room_members = 0
        self.publications = 0
        self.broker_losses = 0
        self.broker_reconnects = 0
        #: Servers of this process draining right now (``WebSocketServer.shutdown``).
        self.draining = 0
        #: Ping round-trip times (seconds) not read yet; ``None`` until metrics are enabled.
        self.rtt_samples: list[float] | None = None

    def totals(self) -> tuple[int, int, int, int]:
        """Messages in, messages out, bytes in, bytes out, of every connection so far."""
        m_in, m_out, b_in, b_out = self.traffic
        for source in list(self.live.values()):
            m_in += source.messages_in
            m_out += source.messages_out
            b_in += source.bytes_in
            b_out += source.bytes_out
        return m_in, m_out, b_in, b_out


STATS = Stats()


def handshake(outcome: str, status: int | None) -> None:
    """Count one opening handshake: ``accepted``, ``rejected`` or ``failed``."""
    STATS.handshakes[outcome, "none" if status is None else str(status)] += 1


def opened(connection: object, traffic: Traffic) -> None:
    """Count an accepted handshake; ``traffic`` counts ``connection``'s messages."""
    STATS.handshakes["accepted", "101"] += 1
    STATS.live[connection] = traffic


def closed(connection: object, reason: CloseReason | None, *, server: bool = True) -> None:
    """Fold the counts of ``connection`` (closed for ``reason``) into the totals. Once."""
    traffic = STATS.live.pop(connection, None)
    if traffic is None:
        return
    totals = STATS.traffic
    totals[0] += traffic.messages_in
    totals[1] += traffic.messages_out
    totals[2] += traffic.bytes_in
    totals[3] += traffic.bytes_out
    by = traffic.closed_by
    side = "none" if by is None else "server" if (by == "local") == server else "client"
    STATS.closes[str(1006 if reason is None else reason.code), side] += 1


def record_rtt(seconds: float) -> None:
    """Note a ping's round-trip time, when metrics are enabled."""
    samples = STATS.rtt_samples
    if samples is not None and len(samples) < MAX_RTT_SAMPLES:
        samples.append(seconds)
