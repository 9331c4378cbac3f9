"""The sans-I/O engine's closing handshake, synchronously: closes started by either side, what
is reported around a close frame (see ``test_engine.py``)."""

from __future__ import annotations

import struct

import pytest
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import CloseConnection, TextMessage
from wsproto.utilities import LocalProtocolError

from wsframework.protocol.engine import CloseReceived, Engine, ProtocolError

from ..peers import OP_CLOSE, OP_TEXT, build_frame, close_payload
from .engine_helpers import (
    CLIENT,
    LIMIT,
    SERVER,
    engine,
    feed,
    feed_in_pieces,
    peer_events,
    peer_of,
)

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


# ------------------------------------------------- close frames without wsproto (frames.py)


def counting_engine(kind: ConnectionType = SERVER) -> tuple[Engine, list[Connection]]:
    """A lazy engine, as our server makes it, and the wsproto connections it made."""
    made: list[Connection] = []

    def factory() -> Connection:
        made.append(Connection(kind))
        return made[-1]

    built = Engine(factory, max_message_size=LIMIT, max_frame_size=65536, client=kind is CLIENT)
    return built, made


def eager_engine(kind: ConnectionType = SERVER) -> Engine:
    """The same engine with wsproto from the start: wsproto parses and sends every close."""
    return Engine(Connection(kind), max_message_size=LIMIT, max_frame_size=65536)


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_plain_messages_and_both_close_frames_never_make_wsproto(kind: ConnectionType) -> None:
    target, made = counting_engine(kind)
    peer = peer_of(kind)
    assert feed(target, peer.send(TextMessage(data="hi"))) == ["hi"]
    frame = target.close(4000, "done")
    assert peer_events(peer, frame) == [CloseConnection(code=4000, reason="done")]
    assert feed(target, peer.send(CloseConnection(code=4000, reason="done"))) == [
        CloseReceived(4000, "done", answer=False)
    ]
    assert target.state is ConnectionState.CLOSED
    assert made == []


CLOSE_PAYLOADS = [
    b"",
    b"\x03",
    close_payload(1000),
    close_payload(1001, b"going"),
    close_payload(1000, "é".encode() * 61 + b"x"),
    close_payload(1000, b"\xff bad utf-8"),
    close_payload(999),
    close_payload(1004),
    close_payload(1005),
    close_payload(1006),
    close_payload(1014),
    close_payload(1015),
    close_payload(2999),
    close_payload(3000),
    close_payload(4999, b"last"),
    close_payload(5000),
]


@pytest.mark.parametrize("payload", CLOSE_PAYLOADS, ids=repr)
@pytest.mark.parametrize("first", ["peer", "us"])
def test_a_close_frame_is_read_as_wsproto_reads_it(payload: bytes, first: str) -> None:
    """Whatever the payload, and whoever closed first: the same events, state and answer."""
    lazy, _made = counting_engine()
    eager = eager_engine()
    sent = [each.close(4000, "ours") if first == "us" else b"" for each in (lazy, eager)]
    assert sent[0] == sent[1]
    frame = build_frame(OP_CLOSE, payload)
    assert feed(lazy, frame) == feed(eager, frame)
    assert lazy.state is eager.state
    assert lazy.close(1000, "answer") == eager.close(1000, "answer")
    assert lazy.state is eager.state


@pytest.mark.parametrize(
    "frame",
    [
        build_frame(OP_CLOSE, close_payload(1000), fin=False),
        build_frame(OP_CLOSE, close_payload(1000), rsv1=True),
        build_frame(OP_CLOSE, close_payload(1000), mask=None),
        build_frame(OP_CLOSE, b"x" * 126),
    ],
    ids=["not final", "rsv1", "unmasked", "126 bytes"],
)
def test_a_malformed_close_frame_is_left_to_wsproto(frame: bytes) -> None:
    lazy, made = counting_engine()
    events = feed(lazy, frame)
    assert events == feed(eager_engine(), frame)
    assert len(made) == 1
    assert isinstance(events[0], ProtocolError)


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1000, None), (1000, ""), (1001, "bye"), (4000, "é" * 80), (3000, "x" * 200), (1005, None)],
)
def test_our_close_frame_is_the_one_wsproto_sends(code: int, reason: str | None) -> None:
    lazy, made = counting_engine()
    assert lazy.close(code, reason) == eager_engine().close(code, reason)
    assert lazy.state is ConnectionState.LOCAL_CLOSING
    assert len(made) == (1 if code == 1005 else 0)  # wsproto sends no code for 1005


def test_after_our_close_a_frame_that_needs_wsproto_finds_it_closing() -> None:
    lazy, made = counting_engine()
    eager = eager_engine()
    data = (
        build_frame(OP_TEXT, b"frag", fin=False)
        + build_frame(0x0, b"ment")
        + build_frame(OP_CLOSE, close_payload(1000))
    )
    for each in (lazy, eager):
        each.close(1000)
    assert feed(lazy, data) == feed(eager, data) == ["fragment", CloseReceived(1000, None, False)]
    assert len(made) == 1
    assert lazy.state is eager.state is ConnectionState.CLOSED


def test_bytes_after_the_peers_close_are_ignored_as_wsproto_ignores_them() -> None:
    lazy, _made = counting_engine()
    eager = eager_engine()
    first = build_frame(OP_CLOSE, close_payload(1000))
    assert feed(lazy, first) == feed(eager, first)
    later = build_frame(OP_TEXT, b"late") + build_frame(OP_CLOSE, close_payload(1000))
    assert feed(lazy, later) == feed(eager, later) == []
    assert lazy.state is eager.state is ConnectionState.REMOTE_CLOSING


def test_bytes_after_the_close_handshake_are_refused_as_wsproto_refuses_them() -> None:
    lazy, _made = counting_engine()
    eager = eager_engine()
    close = build_frame(OP_CLOSE, close_payload(1000))
    for each in (lazy, eager):
        each.close(1000)
        assert feed(each, close) == [CloseReceived(1000, None, answer=False)]
        with pytest.raises(LocalProtocolError, match="already closed"):
            feed(each, close)
