"""A deflate bomb against a real server over loopback: 64 MiB in one small compressed frame
against a 16 MiB ``max_message_size``, as in issue 11. The server answers 1009 and its memory (every
allocation of this process, the server's and the client's, traced while the bomb is handled)
grows by less than 1.25 times the limit."""

from __future__ import annotations

import tracemalloc
import zlib
from functools import partial

import trio

from wsframework import ConnectionClosed, WebSocketRequest, serve_websocket

from ..peers import OP_BINARY, OP_CLOSE, RawPeer, build_frame


def _bomb(size: int) -> bytes:
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    chunk = b"\x00" * 2**20
    data = b"".join(compressor.compress(chunk) for _ in range(size // len(chunk)))
    return (data + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


async def test_a_bomb_costs_the_server_under_1_25_times_the_limit(nursery: trio.Nursery) -> None:
    limit = 16 * 2**20
    frame = build_frame(OP_BINARY, _bomb(4 * limit), rsv1=True)
    assert len(frame) < 2**17  # about 64 KiB
    closed = trio.Event()
    codes: list[int] = []

    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            await ws.get_message()
        except ConnectionClosed as exc:
            codes.append(exc.reason.code)
        closed.set()

    server = await nursery.start(
        partial(serve_websocket, handler, "127.0.0.1", 0, None, max_message_size=limit)
    )
    async with await trio.open_tcp_stream("127.0.0.1", server.port) as stream:
        peer = RawPeer(stream)
        status, _headers = await peer.handshake(
            extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
        )
        assert status.startswith(b"HTTP/1.1 101 ")
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            await stream.send_all(frame)
            reply = await peer.next_frame(timeout=30)
            with trio.fail_after(10):
                await closed.wait()
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    assert reply is not None and (reply.opcode, reply.close_code) == (OP_CLOSE, 1009)
    assert codes == [1009]
    assert peak <= 1.25 * limit, f"{peak / limit:.3f} times the limit"
