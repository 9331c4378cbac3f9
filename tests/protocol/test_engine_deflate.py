"""The engine's native path for compressed messages, against wsproto's (see ``engine.py``).

Every test runs the same bytes through an engine and through a plain wsproto connection with an
identically negotiated extension (the reference: what the engine did before it parsed and
framed compressed messages itself), and expects the same messages and errors in, the same
bytes out. The peer is wsproto too, so fragmented compressed messages, control frames between
the fragments and plain messages all come in the same stream.
"""

from __future__ import annotations

import json
import random
from functools import partial
from typing import Any

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from wsframework.protocol.deflate import INFLATE_STEP, LimitedDeflate, negotiate_deflate
from wsframework.protocol.deflate_options import DeflateOptions
from wsframework.protocol.engine import (
    CloseReceived,
    Engine,
    Event,
    PingReceived,
    PongReceived,
    ProtocolError,
)

from ..peers import OP_BINARY, OP_TEXT, build_frame, parse_frame
from .engine_helpers import CLIENT, SERVER, feed, feed_in_pieces, mask_for

LIMIT = 1 << 20

#: (client_no_context_takeover, server_no_context_takeover): both ways, neither, each alone.
TAKEOVER = [(False, False), (True, True), (True, False), (False, True)]


class Negotiated:
    """One negotiation, three extensions with its outcome: the engine's, the reference's and
    the peer's (wsproto's own ``PerMessageDeflate``)."""

    def __init__(
        self, kind: ConnectionType, takeover: tuple[bool, bool], limit: int = LIMIT
    ) -> None:
        client_reset, server_reset = takeover
        options = DeflateOptions(
            client_no_context_takeover=client_reset, server_no_context_takeover=server_reset
        )
        self.kind = kind
        self.peer_ext = PerMessageDeflate(
            client_no_context_takeover=client_reset, server_no_context_takeover=server_reset
        )
        if kind is SERVER:  # as server.py: negotiate_deflate answers the peer's offer
            offer = f"permessage-deflate; {self.peer_ext.offer()}"
            self.ours, answer = negotiate_deflate(options, [offer], limit)
            self.reference, _ = negotiate_deflate(options, [offer], limit)
            assert answer is not None
            self.peer_ext.finalize(answer.decode())
        else:  # as client_handshake.py: wsproto finalises the server's answer
            self.ours = LimitedDeflate.from_options(options, limit)
            self.reference = LimitedDeflate.from_options(options, limit)
            answer_params = self.peer_ext.accept(f"permessage-deflate; {self.ours.offer()}")
            assert isinstance(answer_params, str)
            self.ours.finalize(f"permessage-deflate; {answer_params}")
            self.reference.finalize(f"permessage-deflate; {answer_params}")
        assert self.ours is not None and self.reference is not None
        self.limit = limit

    def engine(self, eager: bool = False) -> tuple[Engine, list[Connection]]:
        """The engine (wsproto made when first needed, or at once) and the wsproto
        connections it made."""
        made: list[Connection] = []

        def factory() -> Connection:
            made.append(Connection(self.kind, extensions=[self.ours]))
            return made[-1]

        proto: Any = factory() if eager else factory
        built = Engine(
            proto,
            max_message_size=self.limit,
            max_frame_size=65536,
            deflate=self.ours,
            client=self.kind is CLIENT,
        )
        return built, made

    def wsproto(self) -> Connection:
        return Connection(self.kind, extensions=[self.reference])

    def peer(self) -> Connection:
        return Connection(CLIENT if self.kind is SERVER else SERVER, extensions=[self.peer_ext])


def normalised(events: list[Event]) -> list[Any]:
    """The engine's events, worded as :func:`reference_events` words wsproto's."""
    out: list[Any] = []
    for event in events:
        if isinstance(event, ProtocolError):
            # The engine words the 1009 of the inflation limit itself.
            out.append(("error", event.code, None if event.code == 1009 else event.reason))
        elif isinstance(event, CloseReceived):
            out.append(("close", event.code, event.reason))
        elif isinstance(event, PongReceived):
            out.append(("pong", event.payload))
        elif isinstance(event, PingReceived):
            out.append(("ping", event.payload))
        else:
            out.append(event)
    return out


def reference_events(proto: Connection, chunks: list[bytes]) -> list[Any]:
    """What plain wsproto reports for ``chunks``, messages joined, up to the first close."""
    out: list[Any] = []
    parts: list[Any] = []
    for chunk in chunks:
        proto.receive_data(chunk)
        for event in proto.events():
            if isinstance(event, Message):
                parts.append(event.data)
                if event.message_finished:
                    out.append(("" if isinstance(event, TextMessage) else b"").join(parts))
                    parts = []
            elif isinstance(event, Ping):
                out.append(("ping", bytes(event.payload)))
            elif isinstance(event, Pong):
                out.append(("pong", bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                if event.code == 1009:
                    out.append(("error", 1009, None))
                elif event.code in (1002, 1007):
                    out.append(("error", event.code, event.reason))
                else:
                    out.append(("close", event.code, event.reason or None))
                return out
    return out


def json_text(rng: random.Random, size: int) -> str:
    records = [
        {"id": rng.randrange(10**6), "user": rng.choice(["ann", "bob", "cy"]), "n": i}
        for i in range(size // 40)
    ]
    return json.dumps(records)


def peer_stream(peer: Connection, kind: ConnectionType, seed: int) -> bytes:
    """A conversation from the peer: whole compressed messages, fragmented ones with a ping
    between the fragments, plain (RSV1 clear) and empty messages."""
    rng = random.Random(seed)
    data = b""
    for step in range(24):
        choice = step % 6
        if choice in (0, 1):
            data += peer.send(TextMessage(data=json_text(rng, rng.randrange(10, 3000))))
        elif choice == 2:
            blob = bytes(rng.randrange(4) for _ in range(rng.randrange(0, 2000)))
            data += peer.send(BytesMessage(data=blob))
        elif choice == 3:  # fragmented, compressed as one message by the peer
            text = json_text(rng, 2000)
            data += peer.send(TextMessage(data=text[:700], message_finished=False))
            data += peer.send(Ping(payload=b"between"))
            data += peer.send(TextMessage(data=text[700:], message_finished=True))
        elif choice == 4:  # RSV1 clear: allowed by RFC 7692, the contexts untouched
            data += build_frame(OP_TEXT, b"plain %d" % step, mask=mask_for(kind))
        else:
            data += peer.send(TextMessage(data=""))
            data += peer.send(BytesMessage(data=b"\x00" * rng.randrange(1, 5000)))
    return data


def cut(data: bytes, how: str, seed: int) -> list[bytes]:
    if how == "whole":
        return [data]
    if how == "bytes":
        return [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), 40))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


# ------------------------------------------------------------------------------- receiving


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
@pytest.mark.parametrize("takeover", TAKEOVER)
@pytest.mark.parametrize("how", ["whole", "bytes", "chunks"])
@pytest.mark.parametrize("eager", [False, True], ids=["lazy", "eager"])
def test_a_compressed_conversation_reads_as_wsproto_reads_it(
    kind: ConnectionType, takeover: tuple[bool, bool], how: str, eager: bool
) -> None:
    negotiated = Negotiated(kind, takeover)
    data = peer_stream(negotiated.peer(), kind, seed=7)
    chunks = cut(data, how, seed=11)
    target, _made = negotiated.engine(eager)
    events: list[Event] = []
    for chunk in chunks:
        events += feed(target, chunk)
    expected = reference_events(negotiated.wsproto(), chunks)
    assert normalised(events) == expected
    assert len([e for e in expected if isinstance(e, (str, bytes))]) == 28


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
@pytest.mark.parametrize("takeover", TAKEOVER)
def test_whole_compressed_messages_never_make_wsproto(
    kind: ConnectionType, takeover: tuple[bool, bool]
) -> None:
    negotiated = Negotiated(kind, takeover)
    peer = negotiated.peer()
    target, made = negotiated.engine()
    texts = [json_text(random.Random(n), 4000) for n in range(5)]
    for text in texts:
        assert feed(target, peer.send(TextMessage(data=text))) == [text]
        head, body = target.send_message(text)
        assert head[0] == 0xC1  # FIN, RSV1, text
        peer.receive_data(head + body)
        (event,) = list(peer.events())
        assert isinstance(event, TextMessage) and event.data == text
    assert made == []
    assert target.messages_in == target.messages_out == 5


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_a_deflate_bomb_is_1009_on_the_native_path(kind: ConnectionType) -> None:
    limit = 100_000
    negotiated = Negotiated(kind, (False, False), limit)
    bomb = negotiated.peer().send(BytesMessage(data=b"\x00" * (50 * limit)))
    assert len(bomb) < limit // 10  # one frame, well within the frame limit: native
    target, made = negotiated.engine()
    assert feed(target, bomb) == [ProtocolError(1009, f"message exceeds {limit} bytes")]
    assert made == []
    assert negotiated.ours is not None
    assert negotiated.ours._inflated <= limit + 1 < limit + INFLATE_STEP
    assert reference_events(negotiated.wsproto(), [bomb]) == [("error", 1009, None)]


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
def test_a_message_of_exactly_the_limit_passes(kind: ConnectionType) -> None:
    limit = 100_000
    negotiated = Negotiated(kind, (False, False), limit)
    data = negotiated.peer().send(BytesMessage(data=b"\x01" * limit))
    target, _made = negotiated.engine()
    assert feed(target, data) == [b"\x01" * limit]


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"ok \xff then", id="bad-byte"),
        pytest.param(b"cut \xe2\x82", id="cut-off"),
        pytest.param(b"\xed\xa0\x80 surrogate", id="surrogate"),
    ],
)
def test_invalid_utf8_inside_compressed_text_is_wsproto_s_1007(
    kind: ConnectionType, payload: bytes
) -> None:
    negotiated = Negotiated(kind, (False, False))
    peer = negotiated.peer()
    # The peer compresses bytes; the text opcode is set by hand (RSV1 kept).
    frame = bytearray(peer.send(BytesMessage(data=payload)))
    frame[0] = (frame[0] & 0xF0) | OP_TEXT
    after = peer.send(TextMessage(data="never read"))
    data = bytes(frame) + after
    target, _made = negotiated.engine()
    events = feed(target, data)
    assert len(events) == 1 and isinstance(events[0], ProtocolError) and events[0].code == 1007
    assert normalised(events) == reference_events(negotiated.wsproto(), [data])


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
@pytest.mark.parametrize(
    "payload", [b"\xff\xff\xff\xff", b"\x06"], ids=["bad-lengths", "bad-block-type"]
)
def test_corrupt_deflate_data_is_wsproto_s_1007(kind: ConnectionType, payload: bytes) -> None:
    negotiated = Negotiated(kind, (False, False))
    data = build_frame(OP_BINARY, payload, rsv1=True, mask=mask_for(kind))
    target, _made = negotiated.engine()
    events = feed(target, data)
    expected = reference_events(negotiated.wsproto(), [data])
    assert normalised(events) == expected
    assert expected == [("error", 1007, "error in extension")]


def test_a_frame_over_the_frame_limit_goes_to_wsproto_and_still_inflates() -> None:
    negotiated = Negotiated(SERVER, (False, False))
    peer = negotiated.peer()
    text = json_text(random.Random(3), 400_000)
    data = peer.send(TextMessage(data=text)) + peer.send(TextMessage(data=text[:5000]))
    assert len(data) > 65536  # the first frame is bigger than max_frame_size: wsproto streams it
    target, made = negotiated.engine()
    assert feed_in_pieces(target, data, list(range(0, len(data), 8192))) == [text, text[:5000]]
    assert len(made) == 1


# --------------------------------------------------------------------------------- sending


def frames_of(data: bytes) -> list[tuple[int, bytes]]:
    """``(first byte, unmasked payload)`` of every frame in ``data``."""
    buf = bytearray(data)
    out = []
    while buf:
        frame = parse_frame(buf)
        assert frame is not None
        first = frame.fin << 7 | frame.rsv1 << 6 | frame.rsv2 << 5 | frame.rsv3 << 4
        out.append((first | frame.opcode, frame.payload))
    return out


@pytest.mark.parametrize("kind", [SERVER, CLIENT])
@pytest.mark.parametrize("takeover", TAKEOVER)
@pytest.mark.parametrize("eager", [False, True], ids=["lazy", "eager"])
def test_compressed_messages_are_framed_as_wsproto_frames_them(
    kind: ConnectionType, takeover: tuple[bool, bool], eager: bool
) -> None:
    negotiated = Negotiated(kind, takeover)
    target, _made = negotiated.engine(eager)
    reference = negotiated.wsproto()
    rng = random.Random(5)
    ours = theirs = b""
    sent: list[Any] = []
    for step in range(30):
        message: str | bytes = json_text(rng, rng.randrange(0, 6000))
        if step % 3 == 1:
            message = message.encode()[: rng.randrange(0, 3000)]
        if step % 7 == 3:  # a ping in between: it goes through wsproto
            payload, frame = target.ping(b"p%d" % step)
            ours += frame
            theirs += reference.send(Ping(payload=payload))
        if step % 5 == 4:  # an uncompressed one: neither context moves
            ours += b"".join(target.send_message(message, compress=False))
            sent.append(message)
            continue
        ours += b"".join(target.send_message(message))
        if isinstance(message, str):
            theirs += reference.send(TextMessage(data=message))
        else:
            theirs += reference.send(BytesMessage(data=message))
        sent.append(message)
    # Frame by frame (unmasked, for a client), the compressed messages and pings are wsproto's.
    mine = frames_of(ours)
    assert [frame for frame in mine if frame[0] & 0x40 or frame[0] == 0x89] == frames_of(theirs)
    assert len(mine) == 30 + 4  # and 4 pings
    assert [frame[0] & 0x40 for frame in mine].count(0) == 6 + 4  # 6 uncompressed, 4 pings
    peer = negotiated.peer()
    peer.receive_data(ours)
    got: list[Any] = [e.data for e in peer.events() if isinstance(e, Message)]
    assert got == sent


def test_the_engine_refuses_a_deflate_extension_wsproto_does_not_share() -> None:
    """Two extension objects would keep two zlib contexts: refused when wsproto is adopted."""
    negotiated = Negotiated(SERVER, (False, False))
    proto = Connection(SERVER, extensions=[negotiated.reference])
    with pytest.raises(ValueError, match="must be the one wsproto negotiated"):
        Engine(proto, max_message_size=LIMIT, max_frame_size=65536, deflate=negotiated.ours)
    lazy = Engine(
        partial(Connection, SERVER, extensions=[negotiated.reference]),
        max_message_size=LIMIT,
        max_frame_size=65536,
        deflate=negotiated.ours,
    )
    with pytest.raises(ValueError, match="must be the one wsproto negotiated"):
        lazy.ping(b"x")  # makes wsproto
    shared = Engine(
        Connection(SERVER, extensions=[negotiated.ours]),
        max_message_size=LIMIT,
        max_frame_size=65536,
        deflate=negotiated.ours,
    )
    assert shared.compression
