"""The connection under test and its peer, shared by the ``tests/test_connection*.py`` files:
a :class:`StreamConnection` as a handshake leaves it, over memory streams, against a bare
wsproto peer of the other kind."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection

from wsframework.connection import StreamConnection
from wsframework.options import ClientOptions, ServerOptions
from wsframework.protocol.engine import Engine

from .peers import ScriptedPeer

SERVER, CLIENT = ConnectionType.SERVER, ConnectionType.CLIENT
SIDES = [pytest.param(SERVER, id="server"), pytest.param(CLIENT, id="client")]


class Peer(ScriptedPeer):
    """The other end, past the handshake: a bare wsproto connection of the other kind."""

    def __init__(self, stream: trio.abc.Stream, kind: ConnectionType) -> None:
        super().__init__(stream, kind)
        self.ws = Connection(kind)  # type: ignore[assignment]


def make(
    kind: ConnectionType,
    stream: trio.abc.Stream,
    *,
    trailing: bytes = b"",
    **settings: Any,
) -> tuple[StreamConnection, ClientOptions | ServerOptions]:
    """A connection as the server's accept or the client's handshake makes it (not started)."""
    options = ServerOptions(**settings) if kind is SERVER else ClientOptions(**settings)
    engine = Engine(
        Connection(kind, trailing_data=trailing),
        max_message_size=options.max_message_size,
        max_frame_size=options.read_size,
    )
    connection = StreamConnection(
        stream,
        engine,
        options,
        path="/chat?room=1",
        subprotocol="chat.v1",
        request_headers=[(b"host", b"example.com")],
        response_headers=[(b"x-server", b"yes")],
    )
    return connection, options


async def opened(
    nursery: trio.Nursery,
    kind: ConnectionType = SERVER,
    *,
    lockstep: bool = False,
    **settings: Any,
) -> tuple[StreamConnection, Peer]:
    """A started connection of ``kind`` in ``nursery``, and its peer."""
    if lockstep:
        ours, theirs = trio.testing.lockstep_stream_pair()
    else:
        ours, theirs = trio.testing.memory_stream_pair()
    connection, options = make(kind, ours, **settings)
    connection.start(nursery, options.keepalive)
    return connection, Peer(theirs, CLIENT if kind is SERVER else SERVER)


async def closing_code(peer: Peer) -> int:
    """The code of the peer's next event, which must be a close frame."""
    event = await peer.expect(CloseConnection)
    return int(event.code)
