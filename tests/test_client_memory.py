"""Client-side behaviour, socket-less: our client against a scripted wsproto/h11 server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio
import trio.testing
from wsproto import ConnectionType
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
)
from wsproto.extensions import PerMessageDeflate

from wsframework import (
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    InvalidHandshake,
    WebSocketConnection,
    wrap_client_stream,
)

from .peers import (
    OP_TEXT,
    RawPeer,
    ScriptedPeer,
    build_frame,
    header,
    parse_frame,
    stream_pair,
    switching_response,
)

Script = Callable[[ScriptedPeer], Awaitable[None]]


async def connect(
    nursery: trio.Nursery, script: Script, **options: Any
) -> tuple[WebSocketConnection, ScriptedPeer]:
    """Run ``script`` as the server while our client handshakes; return both ends."""
    client_stream, server_stream = stream_pair()
    peer = ScriptedPeer(server_stream, ConnectionType.SERVER)
    nursery.start_soon(script, peer)
    with trio.fail_after(5):
        ws = await wrap_client_stream(nursery, client_stream, "example.com", "/chat", **options)
    return ws, peer


async def accept(peer: ScriptedPeer) -> None:
    await peer.expect(Request)
    await peer.send(AcceptConnection())


async def opened(nursery: trio.Nursery, **options: Any) -> tuple[WebSocketConnection, ScriptedPeer]:
    return await connect(nursery, accept, **options)


async def raw_server(
    nursery: trio.Nursery, respond: Callable[[bytes, list[tuple[bytes, bytes]]], bytes], **opts: Any
) -> tuple[WebSocketConnection, RawPeer]:
    """A byte-level server: ``respond(request_line, headers)`` gives the response bytes."""
    client_stream, server_stream = stream_pair()
    peer = RawPeer(server_stream)

    async def script() -> None:
        line, headers = await peer.read_head()
        await server_stream.send_all(respond(line, headers))

    nursery.start_soon(script)
    with trio.fail_after(5):
        ws = await wrap_client_stream(nursery, client_stream, "example.com", "/", **opts)
    return ws, peer


def key_of(headers: list[tuple[bytes, bytes]]) -> bytes:
    key = header(headers, b"sec-websocket-key")
    assert key is not None
    return key


# ---------------------------------------------------------------------- handshake


async def test_request_and_accept(nursery: trio.Nursery) -> None:
    seen: list[Request] = []

    async def script(peer: ScriptedPeer) -> None:
        request = await peer.expect(Request)
        seen.append(request)
        await peer.send(
            AcceptConnection(subprotocol="v2", extra_headers=[(b"x-server", b"scripted")])
        )

    ws, _peer = await connect(
        nursery, script, subprotocols=["v1", "v2"], extra_headers=[(b"x-token", b"t")]
    )
    assert seen[0].host == "example.com"
    assert seen[0].target == "/chat"
    assert seen[0].subprotocols == ["v1", "v2"]
    assert (b"x-token", b"t") in seen[0].extra_headers
    assert ws.is_client and ws.subprotocol == "v2" and ws.path == "/chat"
    assert (b"x-server", b"scripted") in ws.response_headers
    assert ws.compression is False  # the scripted server accepted no extension


async def test_reject_403_with_headers_and_body(nursery: trio.Nursery) -> None:
    async def script(peer: ScriptedPeer) -> None:
        await peer.expect(Request)
        await peer.send(
            RejectConnection(status_code=403, headers=[(b"x-why", b"banned")], has_body=True)
        )
        await peer.send(RejectData(data=b"go ", body_finished=False))
        await peer.send(RejectData(data=b"away", body_finished=True))

    with pytest.raises(ConnectionRejected) as info:
        await connect(nursery, script)
    exc = info.value
    assert isinstance(exc, HandshakeError)
    assert exc.status_code == 403
    assert (b"x-why", b"banned") in exc.headers
    assert exc.body == b"go away"
    assert repr(exc) == "ConnectionRejected<status_code=403>"


async def test_reject_without_body(nursery: trio.Nursery) -> None:
    async def script(peer: ScriptedPeer) -> None:
        await peer.expect(Request)
        await peer.send(RejectConnection(status_code=401, has_body=False))

    with pytest.raises(ConnectionRejected) as info:
        await connect(nursery, script)
    assert info.value.status_code == 401
    assert not info.value.body


async def test_reject_with_content_length_body(nursery: trio.Nursery) -> None:
    def respond(line: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
        return b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\nContent-Length: 4\r\n\r\nslow"

    with pytest.raises(ConnectionRejected) as info:
        await raw_server(nursery, respond)
    assert info.value.status_code == 429
    assert info.value.body == b"slow"
    assert (b"retry-after", b"5") in info.value.headers


async def test_reject_body_cut_by_eof(nursery: trio.Nursery) -> None:
    def respond(line: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
        return b"HTTP/1.1 503 Service Unavailable\r\n\r\nbusy"

    client_stream, server_stream = stream_pair()
    peer = RawPeer(server_stream)

    async def script() -> None:
        await peer.read_head()
        await server_stream.send_all(respond(b"", []))
        await server_stream.aclose()

    nursery.start_soon(script)
    with pytest.raises(ConnectionRejected) as info, trio.fail_after(5):
        await wrap_client_stream(nursery, client_stream, "example.com", "/")
    assert info.value.status_code == 503
    assert info.value.body == b"busy"


@pytest.mark.parametrize(
    ("respond", "match"),
    [
        pytest.param(
            lambda key: switching_response(key, accept=b"AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            "accept",
            id="bad-accept",
        ),
        pytest.param(
            lambda key: switching_response(key, extra=b"Sec-WebSocket-Protocol: evil\r\n"),
            "subprotocol",
            id="unoffered-subprotocol",
        ),
        pytest.param(
            lambda key: switching_response(key, extra=b"Sec-WebSocket-Extensions: x-evil\r\n"),
            "x-evil",
            id="unoffered-extension",
        ),
        pytest.param(
            lambda key: switching_response(key).replace(b"Upgrade: websocket\r\n", b""),
            "Upgrade",
            id="missing-upgrade",
        ),
        pytest.param(
            lambda key: switching_response(key).replace(b"Connection: Upgrade\r\n", b""),
            "Connection",
            id="missing-connection",
        ),
        pytest.param(lambda key: b"SSH-2.0-OpenSSH\r\n\r\n", "invalid handshake", id="not-http"),
    ],
)
async def test_invalid_server_handshake(
    nursery: trio.Nursery, respond: Callable[[bytes], bytes], match: str
) -> None:
    with pytest.raises(InvalidHandshake, match=match) as info:
        await raw_server(nursery, lambda line, headers: respond(key_of(headers)))
    assert isinstance(info.value, HandshakeError)


async def test_unoffered_subprotocol_with_offer_list(nursery: trio.Nursery) -> None:
    def respond(line: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
        assert header(headers, b"sec-websocket-protocol") == b"a, b"
        return switching_response(key_of(headers), extra=b"Sec-WebSocket-Protocol: c\r\n")

    with pytest.raises(InvalidHandshake, match="subprotocol"):
        await raw_server(nursery, respond, subprotocols=["a", "b"])


async def test_server_closes_during_handshake(nursery: trio.Nursery) -> None:
    client_stream, server_stream = stream_pair()

    async def script() -> None:
        await RawPeer(server_stream).read_head()
        await server_stream.aclose()

    nursery.start_soon(script)
    with pytest.raises(InvalidHandshake) as info, trio.fail_after(5):
        await wrap_client_stream(nursery, client_stream, "example.com", "/")
    assert "invalid handshake" in str(info.value) or "closed" in str(info.value)


async def test_frame_pipelined_with_101_is_received(nursery: trio.Nursery) -> None:
    def respond(line: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
        return switching_response(key_of(headers)) + build_frame(OP_TEXT, b"early", mask=None)

    ws, _peer = await raw_server(nursery, respond)
    with trio.fail_after(5):
        assert await ws.get_message() == "early"


# ---------------------------------------------------------------------- options
# The keepalive options reach the connection (its behaviour, both sides:
# test_connection_keepalive.py).


async def test_client_keepalive_closes_silent_server_1011(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    ws, peer = await opened(nursery, ping_interval=5, ping_timeout=2)
    await peer.expect(Ping, timeout=30)
    event = await peer.expect(CloseConnection, timeout=30)
    assert event.code == 1011 and "keepalive" in event.reason
    with pytest.raises(ConnectionClosed) as info:
        await ws.get_message()
    assert info.value.reason is not None and info.value.reason.code == 1011


# ---------------------------------------------------------------------- compression


async def test_client_compression_and_per_message_opt_out(nursery: trio.Nursery) -> None:
    async def script(peer: ScriptedPeer) -> None:
        await peer.expect(Request)
        await peer.send(AcceptConnection(extensions=[PerMessageDeflate()]))

    ws, peer = await connect(nursery, script)
    assert ws.compression
    payload = b"abc" * 100
    await ws.send_message(payload, compress=False)
    await ws.send_message(payload)
    raw = b""
    frames: list[Any] = []
    with trio.fail_after(5):
        while len(frames) < 2:
            raw += await peer.stream.receive_some(65536)
            work = bytearray(raw)
            frames = []
            while (frame := parse_frame(work)) is not None:
                frames.append(frame)
    first, second = frames
    assert first is not None and second is not None
    assert first.masked and not first.rsv1 and first.payload == payload
    assert second.masked and second.rsv1 and len(second.payload) < 50
    # The scripted server's wsproto reads both.
    peer.ws.receive_data(raw)
    events = list(peer.ws.events())
    assert [e.data for e in events] == [payload, payload]


async def test_client_without_compression_offers_none(nursery: trio.Nursery) -> None:
    seen: list[Request] = []

    async def script(peer: ScriptedPeer) -> None:
        seen.append(await peer.expect(Request))
        await peer.send(AcceptConnection())

    ws, _peer = await connect(nursery, script, compression=None)
    assert seen[0].extensions == []
    assert not ws.compression
