"""StreamConnection's flow control over memory streams: a full queue stops reading, writes are
serialised, and ``message_queue_size=0`` reads nothing until the handler takes a message, each
scenario against trio-websocket too (see ``test_connection.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket
from wsproto.connection import ConnectionType
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

from wsframework import CloseReason, WebSocketRequest, wrap_client_stream
from wsframework.options import ServerOptions
from wsframework.server import serve_stream

from .connection_helpers import CLIENT, SERVER, SIDES, closing_code, opened
from .peers import OP_BINARY, OP_TEXT, ScriptedPeer, parse_frame, stream_pair

# ---------------------------------------------------------------------- flow control


async def test_full_queue_stops_reading(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery, lockstep=True, message_queue_size=1)
    await peer.send(TextMessage(data="one"))  # read and queued: the queue is now full
    await peer.send(TextMessage(data="two"))  # read; the reader holds it and parks
    three_sent = trio.Event()

    async def send_three() -> None:
        await peer.send(TextMessage(data="three"))
        three_sent.set()

    nursery.start_soon(send_three)
    await trio.testing.wait_all_tasks_blocked()
    assert not three_sent.is_set()  # nobody reads the stream while the queue is full
    assert await ws.get_message() == "one"
    assert await ws.get_message() == "two"
    await three_sent.wait()
    assert await ws.get_message() == "three"


@pytest.mark.parametrize("kind", SIDES)
async def test_writes_are_serialised(nursery: trio.Nursery, kind: ConnectionType) -> None:
    """Concurrent sends, pings and pongs never interleave their bytes, even when every write
    waits for the peer to read (and large payloads go out in two writes)."""
    ws, peer = await opened(nursery, kind, lockstep=True)
    payloads = [bytes([i]) * 100_000 for i in range(4)]
    async with trio.open_nursery() as writers:
        for payload in payloads:
            writers.start_soon(ws.send_message, payload)
        writers.start_soon(ws.send_message, "small")
        writers.start_soon(ws.pong, b"beat")
        raw = bytearray()
        frames = []
        with trio.fail_after(5):
            while len(frames) < 6:
                raw += await peer.stream.receive_some(65536)
                while (frame := parse_frame(raw)) is not None:
                    frames.append(frame)
    assert sorted(f.payload for f in frames if f.opcode == OP_BINARY) == payloads
    assert [f.payload for f in frames if f.opcode == OP_TEXT] == [b"small"]
    assert all(f.masked is (kind is CLIENT) for f in frames)


async def test_send_waits_for_a_slow_reader_and_a_close_waits_its_turn(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery, lockstep=True, disconnect_timeout=5)
    sent = trio.Event()

    async def send() -> None:
        await ws.send_message(b"x" * 1000)
        sent.set()

    nursery.start_soon(send)
    await trio.testing.wait_all_tasks_blocked()
    assert not sent.is_set()  # the peer has read nothing
    nursery.start_soon(ws.aclose, 4000)
    await trio.testing.wait_all_tasks_blocked()
    assert (await peer.expect(BytesMessage)).data == b"x" * 1000  # whole, before the close
    assert await closing_code(peer) == 4000
    assert sent.is_set()
    assert ws.closed is not None and ws.closed.code == 4000


# ---------------------------------------------------------------------- message_queue_size=0
# No buffering, as in trio-websocket: the reader holds one message and reads nothing more (no
# ping, no close) until the handler takes it. Each scenario runs against trio-websocket too.

ServerSide = Callable[[trio.Nursery, trio.abc.Stream, Callable[[Any], Awaitable[None]]], Any]


async def our_server(
    nursery: trio.Nursery, stream: trio.abc.Stream, use: Callable[[Any], Awaitable[None]]
) -> None:
    async def handler(request: WebSocketRequest) -> None:
        await use(await request.accept())

    nursery.start_soon(serve_stream, handler, stream, ServerOptions(message_queue_size=0))


async def their_server(
    nursery: trio.Nursery, stream: trio.abc.Stream, use: Callable[[Any], Awaitable[None]]
) -> None:
    async def serve() -> None:
        request = await trio_websocket.wrap_server_stream(nursery, stream, message_queue_size=0)
        await use(await request.accept())

    nursery.start_soon(serve)


UNBUFFERED_SERVERS = [
    pytest.param(our_server, "plain", id="ours-plain"),
    pytest.param(our_server, "fragmented", id="ours-fragmented"),
    pytest.param(our_server, "compressed", id="ours-compressed"),
    pytest.param(their_server, "plain", id="trio_websocket-plain"),
    pytest.param(their_server, "fragmented", id="trio_websocket-fragmented"),
]


async def send_kind(peer: ScriptedPeer, kind: str) -> str:
    """Send one message the way ``kind`` says (the peer negotiated compression if asked)."""
    if kind == "fragmented":
        await peer.send(TextMessage(data="frag", message_finished=False))
        await peer.send(TextMessage(data="ment", message_finished=True))
        return "fragment"
    await peer.send(TextMessage(data="one " * 20))
    return "one " * 20


@pytest.mark.parametrize(("server", "kind"), UNBUFFERED_SERVERS)
async def test_unbuffered_server_reads_nothing_until_the_handler_takes_the_message(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    server: ServerSide,
    kind: str,
) -> None:
    release = trio.Event()
    got: list[str | bytes] = []

    async def use(ws: Any) -> None:
        await release.wait()  # the handler is busy and reads nothing
        got.append(await ws.get_message())
        with contextlib.suppress(Exception):  # ConnectionClosed, ours or trio-websocket's
            await ws.get_message()  # stay until the peer closes

    client_stream, server_stream = stream_pair()
    await server(nursery, server_stream, use)
    peer = ScriptedPeer(client_stream, CLIENT)
    extensions = [PerMessageDeflate()] if kind == "compressed" else []
    await peer.send(Request(host="example.com", target="/", extensions=extensions))
    accepted = await peer.expect(AcceptConnection)
    assert bool(accepted.extensions) is (kind == "compressed")
    sent = await send_kind(peer, kind)
    await peer.send(Ping(payload=b"anyone?"))
    await peer.send(CloseConnection(code=1000))
    with pytest.raises(trio.TooSlowError):
        await peer.next_event(timeout=120)  # no pong, no close answer
    release.set()
    assert (await peer.expect(Pong)).payload == b"anyone?"
    assert (await peer.expect(CloseConnection)).code == 1000
    assert got == [sent]


async def our_client(
    nursery: trio.Nursery, stream: trio.abc.Stream, use: Callable[[Any], Awaitable[None]]
) -> None:
    ws = await wrap_client_stream(nursery, stream, "example.com", "/", message_queue_size=0)
    nursery.start_soon(use, ws)


async def their_client(
    nursery: trio.Nursery, stream: trio.abc.Stream, use: Callable[[Any], Awaitable[None]]
) -> None:
    ws = await trio_websocket.wrap_client_stream(
        nursery,
        stream,  # type: ignore[arg-type]
        "example.com",
        "/",
        message_queue_size=0,
    )
    nursery.start_soon(use, ws)


UNBUFFERED_CLIENTS = [
    pytest.param(our_client, "plain", id="ours-plain"),
    pytest.param(our_client, "fragmented", id="ours-fragmented"),
    pytest.param(our_client, "compressed", id="ours-compressed"),
    pytest.param(their_client, "plain", id="trio_websocket-plain"),
    pytest.param(their_client, "fragmented", id="trio_websocket-fragmented"),
]


@pytest.mark.parametrize(("client", "kind"), UNBUFFERED_CLIENTS)
async def test_unbuffered_client_reads_nothing_until_the_program_takes_the_message(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    client: ServerSide,
    kind: str,
) -> None:
    release = trio.Event()
    got: list[str | bytes] = []

    async def use(ws: Any) -> None:
        await release.wait()
        got.append(await ws.get_message())

    client_stream, server_stream = stream_pair()
    peer = ScriptedPeer(server_stream, SERVER)

    async def accept() -> None:
        request = await peer.expect(Request)
        offered = bool(request.extensions)
        extensions = [PerMessageDeflate()] if kind == "compressed" and offered else []
        await peer.send(AcceptConnection(extensions=extensions))

    nursery.start_soon(accept)
    await client(nursery, client_stream, use)
    sent = await send_kind(peer, kind)
    await peer.send(Ping(payload=b"anyone?"))
    await peer.send(CloseConnection(code=1000))
    with pytest.raises(trio.TooSlowError):
        await peer.next_event(timeout=120)
    release.set()
    assert (await peer.expect(Pong)).payload == b"anyone?"
    assert (await peer.expect(CloseConnection)).code == 1000
    assert got == [sent]


@pytest.mark.parametrize(
    ("server", "queue", "waited"),
    [
        pytest.param(our_server, 0, 60, id="ours-unbuffered"),
        pytest.param(their_server, 0, 60, id="trio_websocket-unbuffered"),
        pytest.param(our_server, 1, 0, id="ours-buffered"),
    ],
)
async def test_client_close_against_a_busy_unbuffered_server_times_out(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    server: ServerSide,
    queue: int,
    waited: float,
) -> None:
    """The issue's scenario: a handler sleeps without reading; against trio-websocket and
    against us with ``message_queue_size=0``, the client's close waits out its
    ``disconnect_timeout`` (60 s); with a queue, the close is answered at once."""

    async def use(ws: Any) -> None:
        await trio.sleep(3600)

    client_stream, server_stream = stream_pair()
    if queue == 0:
        await server(nursery, server_stream, use)
    else:

        async def handler(request: WebSocketRequest) -> None:
            await use(await request.accept())

        options = ServerOptions(message_queue_size=queue)
        nursery.start_soon(serve_stream, handler, server_stream, options)
    ws = await wrap_client_stream(nursery, client_stream, "example.com", "/")
    await ws.send_message("are you listening?")
    start = trio.current_time()
    await ws.aclose()
    assert trio.current_time() - start == pytest.approx(waited)
    assert ws.closed == CloseReason(1000, None)
