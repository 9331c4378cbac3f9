"""What a caller's cancel scope leaves behind (see ``docs/timeouts.md``): a cancelled
``get_message`` or ``ping`` leaves the connection usable, nothing lost; a ``send_message``
cancelled mid-frame drops the connection at once (no frame can follow a partial one: the peer
sees the cut-off frame's prefix, then EOF, never bytes of another frame); a cancelled ``aclose``
still closes the stream; a cancelled client handshake closes its socket. When a caller's scope
and a built-in timeout are both set, the one that expires first wins."""

from __future__ import annotations

import re

import pytest
import trio
import trio.testing
from wsproto.connection import ConnectionType
from wsproto.events import CloseConnection, Ping, TextMessage

from wsframework import CloseReason, ConnectionClosed, open_websocket

from .connection_helpers import SIDES, opened
from .peers import build_frame, parse_frame


@pytest.mark.parametrize("kind", SIDES)
async def test_a_cancelled_get_message_loses_nothing(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kind: ConnectionType
) -> None:
    ws, peer = await opened(nursery, kind)
    with trio.move_on_after(5) as scope:
        await ws.get_message()
    assert scope.cancelled_caught and ws.closed is None
    await peer.send(TextMessage(data="next"))
    assert await ws.get_message() == "next"
    await ws.send_message("still usable")
    assert (await peer.expect(TextMessage)).data == "still usable"


async def test_a_get_message_cancelled_between_fragments_gets_the_whole_message_next(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery)
    await peer.send(TextMessage(data="first half, ", message_finished=False))
    with trio.move_on_after(5) as scope:
        await ws.get_message()
    assert scope.cancelled_caught
    await peer.send(TextMessage(data="second half"))
    assert await ws.get_message() == "first half, second half"


async def test_the_outer_scope_wins_over_a_longer_built_in_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    # disconnect_timeout 60 s, the caller's scope 2 s: the close gives up after 2 s, and the
    # stream is closed all the same.
    ws, peer = await opened(nursery, disconnect_timeout=60)
    started = trio.current_time()
    with trio.move_on_after(2):
        await ws.aclose()
    assert trio.current_time() - started == pytest.approx(2)
    assert (await peer.expect(CloseConnection)).code == 1000
    assert await peer.next_event() is None


async def test_a_shorter_built_in_timeout_fires_inside_a_longer_scope(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery, disconnect_timeout=3)
    started = trio.current_time()
    with trio.move_on_after(60) as scope:
        await ws.aclose()
    assert not scope.cancelled_caught
    assert trio.current_time() - started == pytest.approx(3)
    assert await peer.expect(CloseConnection)


@pytest.mark.parametrize("kind", SIDES)
async def test_a_send_cancelled_mid_frame_drops_the_connection_cleanly(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kind: ConnectionType
) -> None:
    ws, peer = await opened(nursery, kind, lockstep=True, send_timeout=None)
    payload = "x" * 200_000
    with trio.move_on_after(5) as scope:
        await ws.send_message(payload)
    assert scope.cancelled_caught
    assert ws.closed == CloseReason(1006, None)
    with pytest.raises(ConnectionClosed):
        await ws.send_message("after")
    with pytest.raises(ConnectionClosed):
        await ws.get_message()
    # The peer reads a prefix of that one frame, then EOF: no close frame can follow a partial
    # frame, and nothing else was written after it.
    wire = bytearray(await peer.read_until_eof())
    assert 0 < len(wire) < len(payload)
    assert parse_frame(bytearray(wire)) is None  # incomplete
    unmasked = kind is ConnectionType.SERVER
    mask = None if unmasked else bytes(wire[10:14]).ljust(4, b"\0")
    whole = build_frame(0x1, payload.encode(), mask=mask)
    assert whole.startswith(bytes(wire))
    started = trio.current_time()
    await ws.aclose()  # nothing left to wait for
    assert trio.current_time() == started


async def test_a_cancelled_ping_leaves_the_connection_usable(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery)
    with trio.move_on_after(5) as scope:
        await ws.ping(b"lost")
    assert scope.cancelled_caught and ws.closed is None
    ping = await peer.expect(Ping)
    await peer.send(ping.response())  # a late pong for a forgotten ping is ignored
    await peer.send(TextMessage(data="after the ping"))
    assert await ws.get_message() == "after the ping"
    with trio.fail_after(5):
        nursery.start_soon(ws.ping, b"again")
        answered = await peer.expect(Ping)
        assert answered.payload == b"again"
        await peer.send(answered.response())
    await ws.send_message("still usable")
    assert (await peer.expect(TextMessage)).data == "still usable"


@pytest.mark.parametrize("kind", SIDES)
async def test_a_cancelled_close_still_closes_the_stream(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, kind: ConnectionType
) -> None:
    ws, peer = await opened(nursery, kind, disconnect_timeout=None)  # only the scope ends it
    seen: list[tuple[int, str | None]] = []

    async def peer_then_cancel(scope: trio.CancelScope) -> None:
        event = await peer.expect(CloseConnection)
        seen.append((event.code, event.reason))
        await trio.sleep(3600)  # the peer never answers
        scope.cancel()

    with trio.CancelScope() as scope:
        nursery.start_soon(peer_then_cancel, scope)
        await ws.aclose(4000, "cancelled")
    assert scope.cancelled_caught
    assert seen == [(4000, "cancelled")]
    assert await peer.next_event() is None  # the stream is closed
    assert ws.closed == CloseReason(4000, "cancelled")


async def test_a_close_cancelled_before_it_starts_still_closes_the_stream(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery)
    with trio.CancelScope() as scope:
        scope.cancel()
        await ws.aclose(4000)
    assert await peer.next_event() is None  # no time for a close frame; EOF all the same
    assert ws.closed == CloseReason(4000, None)


async def test_a_cancelled_client_handshake_closes_its_socket() -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    requested, eof = trio.Event(), trio.Event()

    async def silent_server() -> None:
        async with await listener.accept() as stream:
            request = b""
            while b"\r\n\r\n" not in request:
                request += await stream.receive_some()
            assert re.search(rb"Sec-WebSocket-Key: ", request, re.IGNORECASE)
            requested.set()
            while await stream.receive_some():  # never answered
                pass
            eof.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(silent_server)
        with trio.CancelScope() as scope:
            nursery.start_soon(_cancel_when, requested, scope)
            async with open_websocket("127.0.0.1", port, "/", use_ssl=False):
                pytest.fail("the handshake was never answered")
        assert scope.cancelled_caught
        with trio.fail_after(5):
            await eof.wait()  # the client's socket was closed, not leaked
    await listener.aclose()


async def _cancel_when(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


async def test_a_message_received_while_get_message_was_cancelled_is_kept(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery, message_queue_size=0)
    got: list[str | bytes] = []

    async def read_once() -> None:
        with trio.move_on_after(1):
            got.append(await ws.get_message())

    await read_once()
    await peer.send(TextMessage(data="one"))
    await peer.send(TextMessage(data="two"))
    assert got == []
    assert await ws.get_message() == "one"
    assert await ws.get_message() == "two"
