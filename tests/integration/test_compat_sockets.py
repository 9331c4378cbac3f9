"""trio-websocket programs over loopback TCP, on trio-websocket 0.12.2 and on wsframework.

Each test runs the same program against BOTH implementations (the ``tw`` fixture, in
``tests/conftest.py``), client and server from the same module; the last one runs each
implementation's client against the other's server. The API surface and the behaviour over
memory streams are in ``tests/compat/test_trio_websocket.py``; wsframework's deliberate
differences over sockets are in ``test_compat_sockets_differences.py``.
"""

from __future__ import annotations

import ipaddress
import re
from functools import partial
from types import ModuleType
from typing import Any

import pytest
import trio
import trio_websocket as T
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request

from wsframework.compat import trio_websocket as W

from ..compat.helpers import TIMEOUT, Accepted, echo_handler, start_server

# Collect after each test, so a leaked socket (ResourceWarning) is blamed on its test.
pytestmark = pytest.mark.usefixtures("collect_garbage")


async def test_echo_text_and_bytes(tw: ModuleType, nursery: trio.Nursery) -> None:
    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, echo_handler(tw))
        async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            for message in ("héllo", b"\x00\xff", "", b"", "x" * 100_000, b"y" * 100_000):
                await ws.send_message(message)
                reply = await ws.get_message()
                assert type(reply) is type(message)
                assert reply == message


async def test_open_websocket_url_paths(tw: ModuleType, nursery: trio.Nursery) -> None:
    paths: list[str] = []

    async def handler(request: Any) -> None:
        paths.append(request.path)
        await echo_handler(tw)(request)

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler)
        base = f"ws://127.0.0.1:{server.port}"
        for url in (base, base + "/", base + "/a/b?x=1&y=2", base + "?q"):
            async with tw.open_websocket_url(url) as ws:
                await ws.send_message(url)
                assert await ws.get_message() == url
                assert ws.path == paths[-1]
    assert paths == ["/", "/", "/a/b?x=1&y=2", "/?q"]


async def test_handshake_attributes_on_both_sides(tw: ModuleType, nursery: trio.Nursery) -> None:
    seen: dict[str, Any] = {}
    ready = trio.Event()

    async def handler(request: Any) -> None:
        seen["request"] = (
            request.path,
            list(request.headers),
            request.proposed_subprotocols,
            request.local,
            request.remote,
        )
        ws = await request.accept(subprotocol="v2", extra_headers=[(b"x-server", b"s")])
        seen["ws"] = ws
        seen["server_closed"] = ws.closed
        ready.set()
        try:
            await ws.get_message()
        except tw.ConnectionClosed:
            seen["after"] = ws.closed

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler)
        async with tw.open_websocket(
            "127.0.0.1",
            server.port,
            "/chat?room=1",
            use_ssl=False,
            subprotocols=["v1", "v2"],
            extra_headers=[(b"x-client", b"c")],
        ) as ws:
            await ready.wait()
            # client side
            assert ws.path == "/chat?room=1"
            assert ws.subprotocol == "v2"
            assert (b"x-server", b"s") in ws.handshake_headers
            assert isinstance(ws.handshake_headers, tuple)
            assert (ws.is_client, ws.is_server) == (True, False)
            assert isinstance(ws.local, tw.Endpoint)
            assert isinstance(ws.remote, tw.Endpoint)
            assert ws.local.address == ipaddress.ip_address("127.0.0.1")
            assert (ws.remote.port, ws.remote.is_ssl) == (server.port, False)
            assert re.fullmatch(r"client-\d+", str(ws))
            assert ws.closed is None
            # server side
            path, headers, proposed, local, remote = seen["request"]
            assert path == "/chat?room=1"
            assert (b"x-client", b"c") in headers
            assert (b"upgrade", b"websocket") in headers
            assert all(name == name.lower() for name, _ in headers)
            assert proposed == ("v1", "v2")
            assert isinstance(local, tw.Endpoint)
            assert (local.port, remote.port) == (server.port, ws.local.port)
            server_ws = seen["ws"]
            assert (server_ws.path, server_ws.subprotocol) == ("/chat?room=1", "v2")
            assert (server_ws.is_client, server_ws.is_server) == (False, True)
            assert (server_ws.local.port, server_ws.remote.port) == (server.port, ws.local.port)
            assert re.fullmatch(r"server-\d+", str(server_ws))
            assert seen["server_closed"] is None
        assert ws.closed is not None
        assert ws.closed.code == 1000
    assert seen["after"].code == 1000


async def test_no_subprotocol_when_none_is_chosen(tw: ModuleType, nursery: trio.Nursery) -> None:
    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, echo_handler(tw))
        async with tw.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=False, subprotocols=["v1"]
        ) as ws:
            assert ws.subprotocol is None
            await ws.send_message("ok")
            assert await ws.get_message() == "ok"


async def test_local_close_is_idempotent(tw: ModuleType, nursery: trio.Nursery) -> None:
    server_saw: list[Any] = []
    done = trio.Event()

    async def handler(request: Any) -> None:
        ws = await request.accept()
        try:
            await ws.get_message()
        except tw.ConnectionClosed as exc:
            server_saw.append(exc.reason)
        done.set()

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler)
        async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            await ws.aclose()
            first = ws.closed
            assert (first.code, first.name) == (1000, "NORMAL_CLOSURE")
            await ws.aclose()
            await ws.aclose(4000, "again")
            assert ws.closed is first
            for call in (ws.get_message, partial(ws.send_message, "x"), ws.ping, ws.pong):
                with pytest.raises(tw.ConnectionClosed) as info:
                    await call()
                assert info.value.reason.code == 1000
        await done.wait()
    assert [reason.code for reason in server_saw] == [1000]


async def test_remote_close_code_and_reason(tw: ModuleType, nursery: trio.Nursery) -> None:
    server_closed: list[Any] = []
    done = trio.Event()

    async def handler(request: Any) -> None:
        ws = await request.accept()
        await ws.aclose(4000, "bye")
        server_closed.append(ws.closed)
        done.set()

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler)
        async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            with pytest.raises(tw.ConnectionClosed) as info:
                await ws.get_message()
            reason = info.value.reason
            assert (reason.code, reason.name, reason.reason) == (4000, "PRIVATE_RESERVED", "bye")
            assert repr(ws.closed) == "CloseReason<code=4000, name=PRIVATE_RESERVED, reason=bye>"
            with pytest.raises(tw.ConnectionClosed):
                await ws.send_message("late")
        await done.wait()
    # The client echoed the code, so both implementations report 4000 on the server too.
    assert [(r.code, r.reason) for r in server_closed] == [(4000, "bye")]


async def test_close_without_reason_has_reason_none(tw: ModuleType, nursery: trio.Nursery) -> None:
    """A close frame without a reason gives reason None, as in trio-websocket."""
    seen: list[Any] = []
    done = trio.Event()

    async def handler(request: Any) -> None:
        ws = await request.accept()
        try:
            await ws.get_message()
        except tw.ConnectionClosed as exc:
            seen.append(exc)
        done.set()

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler)
        async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
            pass  # leaving the block sends a close frame with code 1000 and no reason
        await done.wait()
    [exc] = seen
    assert exc.reason.reason is None
    assert repr(exc) == "ConnectionClosed<CloseReason<code=1000, name=NORMAL_CLOSURE, reason=None>>"


async def test_pending_messages_survive_a_remote_close(
    tw: ModuleType, nursery: trio.Nursery
) -> None:
    server_done = trio.Event()

    async def handler(request: Any) -> None:
        ws = await request.accept()
        await ws.send_message("one")
        await ws.send_message(b"two")
        await ws.aclose(1001, "leaving")
        server_done.set()

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler)
        async with tw.open_websocket(
            "127.0.0.1", server.port, "/", use_ssl=False, message_queue_size=4
        ) as ws:
            await server_done.wait()  # the closing handshake is complete
            assert ws.closed is not None
            assert ws.closed.code == 1001
            assert await ws.get_message() == "one"
            assert await ws.get_message() == b"two"
            for _ in range(2):
                with pytest.raises(tw.ConnectionClosed) as info:
                    await ws.get_message()
                assert (info.value.reason.code, info.value.reason.reason) == (1001, "leaving")


async def test_reject_raises_connection_rejected(tw: ModuleType, nursery: trio.Nursery) -> None:
    async def handler(request: Any) -> None:
        if request.path == "/empty":
            await request.reject(404)
        else:
            await request.reject(403, extra_headers=[(b"x-why", b"private")], body=b"nope")

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler)
        with pytest.raises(tw.ConnectionRejected) as info:
            async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                pass  # pragma: no cover
        exc = info.value
        assert isinstance(exc, tw.HandshakeError)
        assert exc.status_code == 403
        assert isinstance(exc.headers, tuple)
        assert (b"x-why", b"private") in exc.headers
        assert (b"content-length", b"4") in exc.headers
        assert exc.body == b"nope"
        assert repr(exc) == "ConnectionRejected<status_code=403>"

        with pytest.raises(tw.ConnectionRejected) as info:
            async with tw.open_websocket("127.0.0.1", server.port, "/empty", use_ssl=False):
                pass  # pragma: no cover
        assert (info.value.status_code, info.value.body) == (404, b"")
        assert (b"content-length", b"0") in info.value.headers


async def test_ping_and_pong(tw: ModuleType, nursery: trio.Nursery) -> None:
    server_pinged = trio.Event()

    async def handler(request: Any) -> None:
        ws = await request.accept()
        await ws.ping(b"from-server")
        server_pinged.set()
        await echo_handler(tw)(Accepted(ws))

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler)
        async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            await ws.ping(b"abc")
            await ws.ping()
            await ws.ping(None)
            await ws.pong(b"unsolicited")
            await ws.pong()
            await server_pinged.wait()  # our reader answered the server's ping
            await ws.send_message("still open")
            assert await ws.get_message() == "still open"


async def test_message_too_big_closes_with_1009(tw: ModuleType, nursery: trio.Nursery) -> None:
    server_saw: list[Any] = []

    async def handler(request: Any) -> None:
        ws = await request.accept()
        try:
            await ws.get_message()
        except tw.ConnectionClosed as exc:
            server_saw.append(exc.reason.code)

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, handler, max_message_size=10)
        async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            await ws.send_message("x" * 11)
            with pytest.raises(tw.ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason.code == 1009
    assert server_saw == [1009]


async def test_user_exceptions_come_out_unwrapped(tw: ModuleType, nursery: trio.Nursery) -> None:
    class Boom(Exception):
        pass

    async def closing_handler(request: Any) -> None:
        ws = await request.accept()
        await ws.aclose(4001, "go away")

    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, echo_handler(tw))
        with pytest.raises(Boom) as boom:
            async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False):
                raise Boom("mine")
        assert type(boom.value) is Boom
        assert str(boom.value) == "mine"

        with pytest.raises(KeyError):
            async with tw.open_websocket_url(f"ws://127.0.0.1:{server.port}/"):
                {}["missing"]

        closing = await start_server(tw, nursery, closing_handler)
        with pytest.raises(tw.ConnectionClosed) as closed:
            async with tw.open_websocket("127.0.0.1", closing.port, "/", use_ssl=False) as ws:
                await ws.get_message()
        assert type(closed.value) is tw.ConnectionClosed
        assert closed.value.reason.code == 4001


async def test_refused_connection_is_a_handshake_error(
    tw: ModuleType, nursery: trio.Nursery
) -> None:
    # A bound socket that is not listening: connecting to it is refused.
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with trio.fail_after(TIMEOUT):
            with pytest.raises(tw.HandshakeError) as info:
                async with tw.open_websocket("127.0.0.1", port, "/", use_ssl=False):
                    pass  # pragma: no cover
            assert type(info.value) is tw.HandshakeError
            assert isinstance(info.value.__cause__, OSError)
            with pytest.raises(tw.HandshakeError):
                async with tw.open_websocket_url(f"ws://127.0.0.1:{port}/"):
                    pass  # pragma: no cover
            # connect_websocket has no wrapping: the OSError itself.
            with pytest.raises(OSError):
                await tw.connect_websocket(nursery, "127.0.0.1", port, "/", use_ssl=False)


async def test_disconnect_timeout(tw: ModuleType, nursery: trio.Nursery) -> None:
    never = trio.Event()

    async def mute_server(stream: trio.SocketStream) -> None:
        # Completes the opening handshake, then never reads again.
        ws = WSConnection(ConnectionType.SERVER)
        while True:
            ws.receive_data(await stream.receive_some(65536))
            if any(isinstance(event, Request) for event in ws.events()):
                break
        await stream.send_all(ws.send(AcceptConnection()))
        await never.wait()

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    await nursery.start(trio.serve_listeners, mute_server, listeners)
    with trio.fail_after(TIMEOUT):
        with pytest.raises(tw.DisconnectionTimeout) as info:
            async with tw.open_websocket(
                "127.0.0.1", port, "/", use_ssl=False, disconnect_timeout=0.2
            ) as ws:
                await ws.send_message("unread")
        assert isinstance(info.value, tw.HandshakeError)
        # trio-websocket's is empty; ours says what it waited for (docs/compat.md).
        ours = "the server did not answer the closing handshake within 0.2 seconds"
        assert str(info.value) == ("" if tw is T else f"{ours} (disconnect_timeout)")


class _NotASocketListener(trio.abc.Listener[trio.abc.Stream]):
    async def accept(self) -> trio.abc.Stream:  # pragma: no cover - never served
        raise trio.ClosedResourceError

    async def aclose(self) -> None:  # pragma: no cover
        pass


async def test_server_port_listeners_and_run(tw: ModuleType, nursery: trio.Nursery) -> None:
    async with trio.open_nursery() as user_nursery:
        with trio.fail_after(TIMEOUT):
            server = await start_server(tw, nursery, echo_handler(tw), handler_nursery=user_nursery)
            assert isinstance(server, tw.WebSocketServer)
            assert server.port > 0
            [listener] = server.listeners
            assert isinstance(listener, tw.Endpoint)
            assert repr(listener) == (
                f'Endpoint(address="127.0.0.1", port={server.port}, is_ssl=False)'
            )
            assert listener.url == f"ws://127.0.0.1:{server.port}"
            async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
                await ws.send_message("via handler_nursery")
                assert await ws.get_message() == "via handler_nursery"

            # WebSocketServer directly, on two listeners, started with nursery.start(run).
            two = await trio.open_tcp_listeners(0, host="127.0.0.1")
            two += await trio.open_tcp_listeners(0, host="127.0.0.1")
            multi = tw.WebSocketServer(echo_handler(tw), two)
            assert await nursery.start(multi.run) is multi
            ports = [endpoint.port for endpoint in multi.listeners]
            assert len(ports) == 2
            with pytest.raises(RuntimeError, match="more than 1 listener"):
                _ = multi.port
            for port in ports:
                async with tw.open_websocket("127.0.0.1", port, "/", use_ssl=False) as ws:
                    await ws.send_message(str(port))
                    assert await ws.get_message() == str(port)
        user_nursery.cancel_scope.cancel()

    other = _NotASocketListener()
    odd = tw.WebSocketServer(echo_handler(tw), [other])
    assert odd.listeners == [repr(other)]
    with pytest.raises(RuntimeError, match="This socket does not have a port"):
        _ = odd.port
    with pytest.raises(ValueError, match=r"Listeners must contain at least one item\."):
        tw.WebSocketServer(echo_handler(tw), [])


async def test_connect_websocket_with_a_user_nursery(tw: ModuleType, nursery: trio.Nursery) -> None:
    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, echo_handler(tw))
        async with trio.open_nursery() as user_nursery:
            ws = await tw.connect_websocket(
                user_nursery, "127.0.0.1", server.port, "/n", use_ssl=False
            )
            assert isinstance(ws, tw.WebSocketConnection)
            await ws.send_message("n")
            assert await ws.get_message() == "n"
            url_ws = await tw.connect_websocket_url(user_nursery, f"ws://127.0.0.1:{server.port}/u")
            assert url_ws.path == "/u"
            await url_ws.send_message(b"u")
            assert await url_ws.get_message() == b"u"
            await ws.aclose()
            await url_ws.aclose()
        # The user nursery exits by itself: the background tasks ended with the connections.
        assert ws.closed.code == url_ws.closed.code == 1000


async def test_send_message_rejects_other_types_with_value_error(
    tw: ModuleType, nursery: trio.Nursery
) -> None:
    """A wrong message type is a ValueError in both (ours is also a TypeError)."""
    with trio.fail_after(TIMEOUT):
        server = await start_server(tw, nursery, echo_handler(tw))
        async with tw.open_websocket("127.0.0.1", server.port, "/", use_ssl=False) as ws:
            with pytest.raises(ValueError, match="message must be str or bytes"):
                await ws.send_message(123)
            await ws.send_message("still fine")
            assert await ws.get_message() == "still fine"


@pytest.mark.parametrize(
    ("client_impl", "server_impl"),
    [(T, W), (W, T)],
    ids=["trio-websocket-client/wsframework-server", "wsframework-client/trio-websocket-server"],
)
async def test_interoperates_with_the_other_implementation(
    nursery: trio.Nursery, client_impl: ModuleType, server_impl: ModuleType
) -> None:
    with trio.fail_after(TIMEOUT):
        server = await start_server(server_impl, nursery, echo_handler(server_impl))
        async with client_impl.open_websocket(
            "127.0.0.1", server.port, "/x", use_ssl=False, subprotocols=["a"]
        ) as ws:
            for message in ("text", b"bytes", "z" * 70_000):
                await ws.send_message(message)
                assert await ws.get_message() == message
            await ws.ping(b"p")
