"""Requests: the facts of a handshake, accept/reject, and what accept() reads on the route.

Handshakes come from our own transport over a memory stream (``wrap_server_stream``) and a
scripted wsproto client; no sockets.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
from pydantic import BaseModel
from wsproto import ConnectionType
from wsproto.events import (
    AcceptConnection,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from wsframework import App, DeflateOptions, WebSocketRequest
from wsframework.asgi import ASGIHandshake
from wsframework.http import HTTPRequest
from wsframework.options import ASGIOptions
from wsframework.request import BaseRequest, WebSocketRoute
from wsframework.routing import RouteDefinitionError
from wsframework.server import wrap_server_stream
from wsframework.typed import MessageContract, TypedConnection

from .peers import ScriptedPeer, stream_pair


async def handshake(
    nursery: trio.Nursery,
    target: str = "/chat",
    *,
    subprotocols: list[str] | None = None,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> tuple[WebSocketRequest, ScriptedPeer]:
    server_stream, client_stream = stream_pair()
    peer = ScriptedPeer(client_stream, ConnectionType.CLIENT)
    await peer.send(
        Request(
            host="example.com",
            target=target,
            subprotocols=subprotocols or [],
            extra_headers=extra_headers or [],
        )
    )
    request = await wrap_server_stream(nursery, server_stream)
    return request, peer


async def noop(request: WebSocketRequest) -> None:
    pass


# ---------------------------------------------------------------------------- facts


async def test_facts_of_a_handshake(nursery: trio.Nursery) -> None:
    request, _ = await handshake(
        nursery,
        "/rooms/caf%C3%A9?tag=a&tag=b",
        subprotocols=["v1", "v2"],
        extra_headers=[(b"Cookie", b"sid=abc; theme=dark"), (b"Origin", b"https://x.example")],
    )
    assert request.path == "/rooms/caf%C3%A9?tag=a&tag=b"
    assert request.url_path == "/rooms/café"
    assert request.query_string == "tag=a&tag=b"
    assert request.query_params.getlist("tag") == ["a", "b"]
    assert request.headers["origin"] == "https://x.example"
    assert request.cookies == {"sid": "abc", "theme": "dark"}
    assert request.proposed_subprotocols == ("v1", "v2")
    assert request.root_path == ""
    assert request.client is None  # memory streams have no address
    assert request.scheme == "ws"
    assert request.url == "ws://example.com/rooms/caf%C3%A9?tag=a&tag=b"
    assert request.handshake_state == "pending"
    assert request.connection is None
    assert request.app is None and request.route is None and request.path_params == {}
    assert repr(request) == "<WebSocketRequest '/rooms/caf%C3%A9?tag=a&tag=b' pending>"


async def test_malformed_cookie_header_yields_none(nursery: trio.Nursery) -> None:
    request, _ = await handshake(nursery, extra_headers=[(b"Cookie", b'a="unterminated')])
    assert request.cookies == {}


async def test_state_is_per_request(nursery: trio.Nursery) -> None:
    first, _ = await handshake(nursery)
    second, _ = await handshake(nursery)
    first.state.user = "ann"
    assert first.state.user == "ann"
    with pytest.raises(AttributeError):
        _ = second.state.user


async def test_root_path_is_a_read_only_fact_of_the_transport(nursery: trio.Nursery) -> None:
    # Our own server never states a root_path; an ASGI server does, in its scope.
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("nothing is received before accept")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/api/chat", "root_path": "/api", "extensions": {}}
    transport = ASGIHandshake(scope, receive, send, nursery, ASGIOptions())
    request = WebSocketRequest(
        transport, path="/api/chat", headers=[], subprotocols=[], root_path="/api"
    )
    assert request.root_path == "/api"
    assert request.url_path == "/api/chat"  # the prefix stays in the path; the App strips it
    with pytest.raises(AttributeError):
        request.root_path = "/other"  # type: ignore[misc]


def test_http_request_shares_the_base() -> None:
    request = HTTPRequest(
        "GET",
        "/api/items?x=1",
        [(b"cookie", b"sid=1")],
        client=("10.0.0.2", 4000),
        root_path="/api",
    )
    assert isinstance(request, BaseRequest)
    assert (request.url_path, request.root_path) == ("/api/items", "/api")
    assert request.query_params.get("x") == "1"
    assert request.cookies == {"sid": "1"}
    assert request.client == ("10.0.0.2", 4000)
    request.state.seen = True
    assert request.state.seen is True
    assert request.route is None and request.app is None


# ---------------------------------------------------------------------------- accept / reject


async def test_accept_gives_the_open_connection(nursery: trio.Nursery) -> None:
    request, peer = await handshake(nursery, subprotocols=["v1"])
    ws = await request.accept(subprotocol="v1", extra_headers=[(b"x-room", b"7")])
    event = await peer.expect(AcceptConnection)
    assert event.subprotocol == "v1"
    assert (b"x-room", b"7") in event.extra_headers
    assert request.handshake_state == "accepted"
    assert request.connection is ws
    await ws.send_message("hi")
    assert (await peer.expect(TextMessage)).data == "hi"
    with pytest.raises(RuntimeError, match="this request was already accepted"):
        await request.reject(403)


async def test_unoffered_subprotocol_is_refused_before_anything_is_sent(
    nursery: trio.Nursery,
) -> None:
    request, _ = await handshake(nursery, subprotocols=["v1"])
    with pytest.raises(ValueError, match=r"'v9' was not offered by the client \(offered: v1\)"):
        await request.accept(subprotocol="v9")
    assert request.handshake_state == "pending"


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ([("x", "y")], TypeError),
        ([(b"bad name", b"v")], ValueError),
        ([(b"x", b"v\r\nInjected: 1")], ValueError),
        ([(b"", b"v")], ValueError),
    ],
)
async def test_malformed_extra_headers_are_refused(
    nursery: trio.Nursery, headers: list[tuple[bytes, bytes]], error: type[Exception]
) -> None:
    request, _ = await handshake(nursery)
    with pytest.raises(error):
        await request.accept(extra_headers=headers)
    with pytest.raises(error):
        await request.reject(400, extra_headers=headers)
    assert request.handshake_state == "pending"


async def test_reject_answers_with_status_headers_and_body(nursery: trio.Nursery) -> None:
    request, peer = await handshake(nursery)
    await request.reject(401, extra_headers=[(b"www-authenticate", b"Bearer")], body=b"no\n")
    event = await peer.expect(RejectConnection)
    assert event.status_code == 401
    assert (b"www-authenticate", b"Bearer") in event.headers
    assert (await peer.expect(RejectData)).data == b"no\n"
    assert request.handshake_state == "rejected"
    with pytest.raises(RuntimeError, match="this request was already rejected"):
        await request.accept()


@pytest.mark.parametrize("status", [101, 199, 600, "403"])
async def test_reject_status_must_be_an_http_status(nursery: trio.Nursery, status: object) -> None:
    request, _ = await handshake(nursery)
    with pytest.raises(ValueError, match="status_code must be an HTTP status from 200 to 599"):
        await request.reject(status)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- what the route says


def test_websocket_route_settings() -> None:
    route = WebSocketRoute("/chat/{room}", noop, subprotocols=["v2", "v1"])
    assert (route.kind, route.name, route.subprotocols) == ("websocket", "noop", ("v2", "v1"))
    assert not route.subprotocol_required and route.contract is None
    assert route.choose_subprotocol(["v1", "v2"]) == "v2"
    assert route.choose_subprotocol(["v1"]) == "v1"
    assert route.choose_subprotocol(["x"]) is None
    assert route.match("/chat/lobby") == {"room": "lobby"}
    with pytest.raises(ValueError, match="subprotocol_required=True needs a list"):
        WebSocketRoute("/x", noop, subprotocol_required=True)
    with pytest.raises(RouteDefinitionError):
        WebSocketRoute("no-slash", noop)


async def test_accept_picks_the_routes_preferred_subprotocol(nursery: trio.Nursery) -> None:
    request, peer = await handshake(nursery, subprotocols=["v1", "v2"])
    request.route = WebSocketRoute("/chat", noop, subprotocols=["v2", "v1"])
    ws = await request.accept()
    assert ws.subprotocol == "v2"
    assert (await peer.expect(AcceptConnection)).subprotocol == "v2"


async def test_an_explicit_subprotocol_wins_over_the_route(nursery: trio.Nursery) -> None:
    request, peer = await handshake(nursery, subprotocols=["v1", "v2"])
    request.route = WebSocketRoute("/chat", noop, subprotocols=["v2", "v1"])
    await request.accept(subprotocol="v1")
    assert (await peer.expect(AcceptConnection)).subprotocol == "v1"


class Ping(BaseModel):
    n: int


async def test_accept_wraps_the_connection_in_the_routes_contract(nursery: trio.Nursery) -> None:
    request, peer = await handshake(nursery)
    contract = MessageContract(receive=Ping, send=Ping)
    request.route = WebSocketRoute("/chat", noop, contract=contract)
    ws = await request.accept()
    assert isinstance(ws, TypedConnection)
    assert ws.contract is contract
    assert ws.connection is request.connection  # the transport's connection, wrapped
    await peer.expect(AcceptConnection)
    await peer.send(TextMessage(data='{"n": 3}'))
    assert await ws.receive() == Ping(n=3)


async def test_app_sets_app_route_and_params(nursery: trio.Nursery) -> None:
    app = App()
    seen: list[WebSocketRequest] = []

    @app.websocket("/rooms/{n:int}", subprotocols=["v1"])
    async def room(request: WebSocketRequest) -> None:
        seen.append(request)
        await request.accept()

    request, peer = await handshake(nursery, "/rooms/5", subprotocols=["v1"])
    await app.handle_websocket(request)
    assert (await peer.expect(AcceptConnection)).subprotocol == "v1"
    assert seen == [request]
    assert request.app is app
    assert isinstance(request.route, WebSocketRoute) and request.route.endpoint is room
    assert request.path_params == {"n": 5}
    assert request.connection is not None


def test_a_route_states_its_compression_or_keeps_the_servers() -> None:
    async def endpoint(request: object) -> None: ...

    assert WebSocketRoute("/a", endpoint).compression == "server"
    shared = DeflateOptions(server_no_context_takeover=True)
    assert WebSocketRoute("/b", endpoint, compression=shared).compression is shared
    assert WebSocketRoute("/c", endpoint, compression=None).compression is None
    with pytest.raises(ValueError, match="compression must be 'server', None or a DeflateOptions"):
        WebSocketRoute("/d", endpoint, compression="zlib")  # type: ignore[arg-type]
