"""The engine counts what it parses and frames (messages, bytes) and notes which end closed
first: what the metrics read, at no cost beyond a few integer additions."""

from __future__ import annotations

import pytest
from wsproto.connection import ConnectionType
from wsproto.events import CloseConnection, TextMessage

from .engine_helpers import CLIENT, SERVER, engine, feed, peer_events, peer_of


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_messages_and_bytes_are_counted_both_ways(kind: ConnectionType) -> None:
    target, peer = engine(kind), peer_of(kind)
    data = peer.send(TextMessage(data="hello")) + peer.send(TextMessage(data="world"))
    assert feed(target, data) == ["hello", "world"]
    assert (target.messages_in, target.bytes_in) == (2, len(data))
    head, body = target.send_message("hi")
    sent = len(head) + len(body)
    assert (target.messages_out, target.bytes_out) == (1, sent)
    pong = target.pong(b"x")  # control frames are bytes, not messages
    assert (target.messages_out, target.bytes_out) == (1, sent + len(pong))


def test_a_fragmented_message_is_one_message() -> None:
    target, peer = engine(SERVER), peer_of(SERVER)
    data = peer.send(TextMessage(data="ab", message_finished=False))
    data += peer.send(TextMessage(data="cd"))
    assert feed(target, data) == ["abcd"]
    assert (target.messages_in, target.bytes_in) == (1, len(data))


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_the_end_that_closed_first_is_noted(kind: ConnectionType) -> None:
    ours, peer = engine(kind), peer_of(kind)
    assert ours.closed_by is None
    assert peer_events(peer, ours.close(1000)) == [CloseConnection(code=1000, reason="")]
    feed(ours, peer.send(CloseConnection(code=1000)))  # the peer's answer
    assert ours.closed_by == "local"

    theirs, peer = engine(kind), peer_of(kind)
    feed(theirs, peer.send(CloseConnection(code=1001)))
    theirs.close(1001)  # the answer
    assert theirs.closed_by == "remote"
