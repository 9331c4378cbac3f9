"""The sans-I/O engine's closing handshake, synchronously: closes started by either side, what
is reported around a close frame (see ``test_engine.py``)."""

from __future__ import annotations

import struct

import pytest
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import CloseConnection

from wsframework.protocol.engine import CloseReceived

from ..peers import OP_CLOSE, OP_TEXT, build_frame, close_payload
from .engine_helpers import CLIENT, SERVER, engine, feed, feed_in_pieces, peer_events, peer_of

# ---------------------------------------------------------------------- closing


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_close_started_by_the_peer_is_echoed(kind: ConnectionType) -> None:
    target, peer = engine(kind), peer_of(kind)
    data = peer.send(CloseConnection(code=4001, reason="bye"))
    events = feed(target, data)
    assert events == [CloseReceived(4001, "bye", answer=True)]
    assert target.state is ConnectionState.REMOTE_CLOSING
    echo = target.close(4001, "bye")
    assert peer_events(peer, echo) == [CloseConnection(code=4001, reason="bye")]
    assert target.state is ConnectionState.CLOSED
    assert peer.state is ConnectionState.CLOSED
    assert target.close(1000) == b""  # the close frame was sent already


def test_close_without_a_code_is_1005_and_answered_with_1000() -> None:
    target = engine()
    assert feed(target, build_frame(OP_CLOSE, b"")) == [CloseReceived(1005, None, answer=True)]
    assert target.close(1005) == b"\x88\x02" + struct.pack("!H", 1000)  # 1005 is never sent


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_close_answering_ours_completes_the_handshake(kind: ConnectionType) -> None:
    target, peer = engine(kind), peer_of(kind)
    frame = target.close(4000, "done here")
    assert target.state is ConnectionState.LOCAL_CLOSING
    assert target.close(1000) == b""  # no second close frame
    (event,) = peer_events(peer, frame)
    assert event == CloseConnection(code=4000, reason="done here")
    assert feed(target, peer.send(event.response())) == [
        CloseReceived(4000, "done here", answer=False)
    ]
    assert target.state is ConnectionState.CLOSED
    assert target.close(1000) == b""


def test_messages_after_our_close_are_still_reported_until_the_answer() -> None:
    target = engine()
    target.close(1000)
    data = (
        build_frame(OP_TEXT, b"in flight")
        + build_frame(OP_CLOSE, close_payload(1000))
        + build_frame(OP_TEXT, b"after the close")
    )
    assert feed(target, data) == ["in flight", CloseReceived(1000, None, answer=False)]


def test_nothing_after_a_close_frame_is_reported() -> None:
    target = engine()
    data = build_frame(OP_CLOSE, close_payload(1000)) + build_frame(OP_TEXT, b"late")
    assert feed(target, data) == [CloseReceived(1000, None, answer=True)]


def test_close_frame_fed_one_byte_at_a_time() -> None:
    target = engine()
    frame = build_frame(OP_TEXT, b"hi") + build_frame(OP_CLOSE, close_payload(1001, b"away"))
    events = feed_in_pieces(target, frame, list(range(len(frame))))
    assert events == ["hi", CloseReceived(1001, "away", answer=True)]
