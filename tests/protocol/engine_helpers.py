"""Engines as a handshake leaves them, their wsproto peers and feeding helpers, shared by the
``tests/protocol/test_engine*.py`` files."""

from __future__ import annotations

from functools import partial
from typing import Any

from wsproto.connection import Connection, ConnectionType
from wsproto.extensions import PerMessageDeflate

from wsframework.protocol.deflate import LimitedDeflate
from wsframework.protocol.deflate_options import DeflateOptions
from wsframework.protocol.engine import Engine, Event

LIMIT = 1000
SERVER, CLIENT = ConnectionType.SERVER, ConnectionType.CLIENT


def engine(
    kind: ConnectionType = SERVER,
    *,
    max_message_size: int = LIMIT,
    max_frame_size: int = 65536,
    trailing: bytes = b"",
) -> Engine:
    """An engine as a handshake leaves it, without compression: with wsproto made when first
    needed, as our server makes it, unless bytes came behind the handshake."""
    if trailing:
        return Engine(
            Connection(kind, trailing_data=trailing),
            max_message_size=max_message_size,
            max_frame_size=max_frame_size,
        )
    return Engine(
        partial(Connection, kind),
        max_message_size=max_message_size,
        max_frame_size=max_frame_size,
        client=kind is CLIENT,
    )


def compressed_pair(
    kind: ConnectionType = SERVER,
    *,
    max_message_size: int = LIMIT,
    options: DeflateOptions = DeflateOptions(),  # noqa: B008 - frozen, never mutated
) -> tuple[Engine, Connection]:
    """An engine with permessage-deflate negotiated, and its wsproto peer.

    The server side accepts the client's offer as ``server.negotiate_deflate`` does; the client
    side finalises the server's answer as wsproto's client handshake does.
    """
    ours = LimitedDeflate.from_options(options, max_message_size)
    theirs = PerMessageDeflate()
    if kind is SERVER:
        answer = ours.accept(str(theirs.offer()))
        assert isinstance(answer, str)
        theirs.finalize(answer)
    else:
        answer = theirs.accept(str(ours.offer()))
        assert isinstance(answer, str)
        ours.finalize(answer)
    peer_kind = CLIENT if kind is SERVER else SERVER
    proto = Connection(kind, extensions=[ours])
    built = Engine(proto, max_message_size=max_message_size, max_frame_size=65536, deflate=ours)
    return built, Connection(peer_kind, extensions=[theirs])


def peer_of(kind: ConnectionType) -> Connection:
    """A plain wsproto peer for an engine of ``kind``."""
    return Connection(CLIENT if kind is SERVER else SERVER)


def feed(target: Engine, data: bytes) -> list[Event]:
    return list(target.receive(data))


def feed_in_pieces(target: Engine, data: bytes, cuts: list[int]) -> list[Event]:
    events: list[Event] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        events += feed(target, data[start:cut])
        start = cut
    return events


def mask_for(kind: ConnectionType) -> bytes | None:
    """Frames *to* a server are masked, frames to a client are not."""
    return b"\x01\x02\x03\x04" if kind is SERVER else None


def peer_events(peer: Connection, data: bytes) -> list[Any]:
    peer.receive_data(data)
    return list(peer.events())
