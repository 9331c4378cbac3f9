"""wsframework's compat layer where it deliberately differs from trio-websocket, over loopback TCP.

trio-websocket's behaviour in each case is described in ``docs/compat.md`` (a row each); these
tests pin ours. The differences that need no socket are in
``tests/compat/test_trio_websocket.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio_websocket as T

from wsframework.compat import trio_websocket as W

from ..compat.helpers import TIMEOUT, Accepted, Handler, echo_handler, start_server
from ..conftest import upgrade_request

# Collect after each test, so a leaked socket (ResourceWarning) is blamed on its test.
pytestmark = pytest.mark.usefixtures("collect_garbage")


async def start_ours(nursery: trio.Nursery, handler: Handler, **options: Any) -> Any:
    return await start_server(W, nursery, handler, **options)


async def test_handler_error_closes_1011_and_the_server_keeps_serving(
    nursery: trio.Nursery, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(request: Any) -> None:
        if request.path == "/early":
            raise RuntimeError("before accept")
        ws = await request.accept()
        if request.path == "/late":
            raise RuntimeError("after accept")
        await echo_handler(W)(Accepted(ws))

    caplog.set_level(logging.ERROR, logger="wsframework")
    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, handler)
        async with W.open_websocket("127.0.0.1", server.port, "/late", use_ssl=False) as ws:
            with pytest.raises(W.ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason.code == 1011
        with pytest.raises(W.ConnectionRejected) as rejected:
            async with W.open_websocket("127.0.0.1", server.port, "/early", use_ssl=False):
                pass  # pragma: no cover
        assert rejected.value.status_code == 500
        async with W.open_websocket("127.0.0.1", server.port, "/fine", use_ssl=False) as ws:
            await ws.send_message("server still up")
            assert await ws.get_message() == "server still up"
    errors = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert len(errors) == 2


async def test_accepting_an_unoffered_subprotocol_is_a_value_error(
    nursery: trio.Nursery,
) -> None:
    errors: list[BaseException] = []

    async def handler(request: Any) -> None:
        try:
            await request.accept(subprotocol="not-offered")
        except ValueError as exc:
            errors.append(exc)
        ws = await request.accept(subprotocol="chat")  # the request is still pending
        try:
            await request.accept()
        except RuntimeError as exc:
            errors.append(exc)
        await echo_handler(W)(Accepted(ws))

    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, handler)
        async with W.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=False, subprotocols=["chat"]
        ) as ws:
            assert ws.subprotocol == "chat"
            await ws.send_message("hi")
            assert await ws.get_message() == "hi"
    assert [type(e) for e in errors] == [ValueError, RuntimeError]
    assert "not offered" in str(errors[0])


async def _raw_exchange(port: int, request: bytes, frames: bytes = b"") -> tuple[bytes, bytes]:
    """Send a handshake (and frames after its response); return (response head, rest to EOF)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        data = bytearray()
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(65536)
            if not chunk:
                break
            data += chunk
        if frames:
            await stream.send_all(frames)
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, rest = bytes(data).partition(b"\r\n\r\n")
    return head, rest


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (upgrade_request(http=b"HTTP/1.0"), b"400"),
        (upgrade_request(key=b"not-base64-16-bytes"), b"400"),
        (upgrade_request(version=b"8"), b"426"),
    ],
    ids=["http-1.0", "bad-key", "version-8"],
)
async def test_malformed_handshakes_are_refused(
    nursery: trio.Nursery, request_bytes: bytes, status: bytes
) -> None:
    called: list[Any] = []

    async def handler(request: Any) -> None:  # pragma: no cover - must not run
        called.append(request)

    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, handler)
        head, _ = await _raw_exchange(server.port, request_bytes)
    assert head.startswith(b"HTTP/1.1 " + status)
    assert called == []


def _masked(opcode_byte: int, payload: bytes) -> bytes:
    assert len(payload) < 126
    return bytes([opcode_byte, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        (b"\x81\x02hi", 1002),  # unmasked frame from a client
        (_masked(0x81, b"\xff\xfe"), 1007),  # invalid UTF-8 in a text message
        (_masked(0x82, b"a" * 16), 1009),  # larger than max_message_size=10
        (_masked(0x8B, b""), 1002),  # reserved opcode
    ],
    ids=["unmasked", "bad-utf8", "too-big", "reserved-opcode"],
)
async def test_protocol_errors_get_a_close_frame_then_eof(
    nursery: trio.Nursery, frames: bytes, code: int
) -> None:
    seen: list[int] = []
    done = trio.Event()

    async def handler(request: Any) -> None:
        ws = await request.accept()
        try:
            await ws.get_message()
        except W.ConnectionClosed as exc:
            seen.append(exc.reason.code)
        done.set()

    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, handler, max_message_size=10, compression=None)
        head, rest = await _raw_exchange(server.port, upgrade_request(), frames)
        await done.wait()
    assert head.startswith(b"HTTP/1.1 101")
    # A server frame: FIN+close opcode, unmasked short length, then the 2-byte code.
    assert rest[0] == 0x88
    assert int.from_bytes(rest[2:4], "big") == code
    assert len(rest) == 2 + rest[1]  # nothing after the close frame: then EOF
    assert seen == [code]


async def test_a_request_left_pending_is_answered_403(nursery: trio.Nursery) -> None:
    async def handler(request: Any) -> None:
        return

    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, handler)
        with pytest.raises(W.ConnectionRejected) as info:
            async with W.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                pass  # pragma: no cover
    assert info.value.status_code == 403
    assert b"did not accept" in info.value.body


async def test_server_side_handshake_headers_and_full_request_headers(
    nursery: trio.Nursery,
) -> None:
    seen: dict[str, Any] = {}

    async def handler(request: Any) -> None:
        seen["request"] = list(request.headers)
        ws = await request.accept()
        seen["handshake"] = ws.handshake_headers
        await echo_handler(W)(Accepted(ws))

    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, handler)
        async with W.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=False, subprotocols=["a", "b"]
        ) as ws:
            await ws.send_message("sync")
            assert await ws.get_message() == "sync"
    names = [name for name, _ in seen["request"]]
    # trio-websocket's request.headers omit these three, and its server-side
    # handshake_headers is always ().
    assert b"host" in names
    assert (b"sec-websocket-protocol", b"a, b") in seen["request"]
    assert b"sec-websocket-extensions" in names
    assert seen["handshake"] == tuple(seen["request"])


async def test_permessage_deflate_is_on_by_default(nursery: trio.Nursery) -> None:
    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, echo_handler(W))
        async with W.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            assert ws.compression is True
            await ws.send_message("a" * 10_000)
            assert await ws.get_message() == "a" * 10_000
        async with W.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=False, compression=None
        ) as ws:
            assert ws.compression is False
        # trio-websocket never offers it, so a trio-websocket client gets none.
        async with T.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as tws:
            assert not any(name == b"sec-websocket-extensions" for name, _ in tws.handshake_headers)
            await tws.send_message("plain")
            assert await tws.get_message() == "plain"


async def test_send_message_accepts_any_bytes_like(nursery: trio.Nursery) -> None:
    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, echo_handler(W))
        async with W.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            await ws.send_message(bytearray(b"ba"))
            assert await ws.get_message() == b"ba"
            await ws.send_message(memoryview(b"mv"))
            assert await ws.get_message() == b"mv"


async def test_a_frame_pipelined_behind_the_handshake_is_delivered(
    nursery: trio.Nursery,
) -> None:
    got: list[str] = []
    done = trio.Event()

    async def handler(request: Any) -> None:
        ws = await request.accept()
        got.append(await ws.get_message())
        done.set()

    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, handler)
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with stream:
            await stream.send_all(upgrade_request() + _masked(0x81, b"early"))
            await done.wait()
    assert got == ["early"]


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2000, 5000])
async def test_aclose_with_an_unsendable_code_is_a_value_error(
    nursery: trio.Nursery, code: int
) -> None:
    with trio.fail_after(TIMEOUT):
        server = await start_ours(nursery, echo_handler(W))
        async with W.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            with pytest.raises(ValueError, match="cannot be sent"):
                await ws.aclose(code)
            assert ws.closed is None  # nothing was sent; the connection is still open
            await ws.send_message("open")
            assert await ws.get_message() == "open"


async def test_connect_timeout_covers_the_whole_handshake() -> None:
    # A listening socket nobody accepts on: TCP connects (kernel backlog), nothing answers.
    # trio-websocket waits here until the server closes the TCP connection.
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        port = sock.getsockname()[1]
        with trio.fail_after(TIMEOUT):
            with pytest.raises(W.ConnectionTimeout) as info:
                async with W.open_websocket(
                    "127.0.0.1", port, "/", use_ssl=False, connect_timeout=0.2
                ):
                    pass  # pragma: no cover
            assert isinstance(info.value, W.HandshakeError)
            assert type(info.value) is W.ConnectionTimeout
            with pytest.raises(W.ConnectionTimeout):
                async with W.open_websocket_url(f"ws://127.0.0.1:{port}/", connect_timeout=0.2):
                    pass  # pragma: no cover


async def test_handshake_error_says_where_it_failed() -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with trio.fail_after(TIMEOUT), pytest.raises(W.HandshakeError) as info:
            async with W.open_websocket("127.0.0.1", port, "/", use_ssl=False):
                pass  # pragma: no cover
    assert f"127.0.0.1:{port}" in str(info.value)  # trio-websocket: str() is ""
    assert isinstance(info.value.__cause__, OSError)
