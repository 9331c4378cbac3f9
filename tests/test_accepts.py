"""Frame-type contracts per route (``accepts=``): the check, the route, the wire, the AsyncAPI
document (the ``wsframework routes`` table is checked in tests/cli).

On the wire this runs the App through the TestClient (which goes through our own server's
``serve_stream``) and through the ASGI transport under a scripted ASGI server;
``tests/integration/test_two_runners.py`` runs it over real sockets, on our runner and under
Hypercorn.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import pytest
import trio
import trio.testing
from pydantic import BaseModel

from wsframework import App, ConnectionClosed, WebSocketRequest
from wsframework._stats import STATS
from wsframework.accepts import ACCEPTS, REASONS, FrameContract, frame_contract
from wsframework.request import WebSocketRoute
from wsframework.routing import RouteDefinitionError
from wsframework.testing import TestClient

from .asyncapi_helpers import asyncapi_errors, dangling_refs
from .test_asgi import start, ws_scope

Accepts = Literal["any", "text", "bytes", "json"]

# (contract, message, accepted?)
CASES: list[tuple[Accepts, str | bytes, bool]] = [
    ("any", "hi", True),
    ("any", b"\xff\x00", True),
    ("text", "hi", True),
    ("text", "", True),
    ("text", b"hi", False),
    ("bytes", b"\xff\x00", True),
    ("bytes", b"", True),
    ("bytes", "hi", False),
    ("json", '{"a": [1, 2.5, null]}', True),
    ("json", b'{"caf\xc3\xa9": true}', True),  # UTF-8 bytes holding JSON
    ("json", "3", True),
    ("json", "not json", False),
    ("json", "", False),
    ("json", b"\xff", False),  # not UTF-8
    ("json", '{"x": NaN}', False),  # Python's json takes it; RFC 8259 does not
    ("json", "Infinity", False),
    ("json", '"\\ud800"', True),  # a lone surrogate escape is valid JSON text
    ("json", "[" * 100_000 + "]" * 100_000, False),  # too deep to parse: refused, not crashed
]


def noop() -> None: ...


# ---------------------------------------------------------------------------- the check


@pytest.mark.parametrize(("accepts", "message", "accepted"), CASES)
def test_the_check(accepts: Accepts, message: str | bytes, accepted: bool) -> None:
    contract = frame_contract(accepts, "/r")
    if accepts == "any":
        assert contract is None  # no check at all: the connection tests `is None` and goes on
        return
    assert contract is not None
    refused = contract.refuses(message, "conn")
    assert refused == (None if accepted else REASONS[accepts])


def test_reasons_fit_a_close_frame_and_name_what_the_route_accepts() -> None:
    assert set(REASONS) == set(ACCEPTS) - {"any"}
    for reason in REASONS.values():
        assert len(reason.encode()) <= 123
        assert reason.startswith("this endpoint accepts ")
    assert REASONS["text"] == "this endpoint accepts text messages only"
    assert REASONS["bytes"] == "this endpoint accepts binary messages only"
    assert REASONS["json"] == "this endpoint accepts JSON messages only"


def test_a_refusal_is_logged_naming_the_route_and_what_arrived(
    caplog: pytest.LogCaptureFixture,
) -> None:
    contract = FrameContract("json", "/rooms/{room}")
    with caplog.at_level(logging.INFO, logger="wsframework"):
        assert contract.refuses(b"\xffab", "server-7") is not None
        assert contract.refuses("[1", "server-7") is not None
    assert [r.getMessage() for r in caplog.records] == [
        "server-7 closing with 1003: route /rooms/{room} accepts JSON messages only and a "
        "binary message of 3 bytes that is not UTF-8 arrived",
        "server-7 closing with 1003: route /rooms/{room} accepts JSON messages only and a "
        "text message of 2 characters that is not JSON arrived",
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records)


# ---------------------------------------------------------------------------- the route


def test_a_route_states_what_it_accepts() -> None:
    route = WebSocketRoute("/chat", noop)
    assert (route.accepts, route.frame_contract) == ("any", None)
    route = WebSocketRoute("/chat", noop, accepts="text")
    assert route.accepts == "text"
    assert route.frame_contract is not None and route.frame_contract.route == "/chat"


@pytest.mark.parametrize("bad", ["txt", "TEXT", "", None, 1, "binary"])
def test_an_unknown_contract_is_a_definition_error_naming_the_route(bad: Any) -> None:
    with pytest.raises(RouteDefinitionError) as info:
        WebSocketRoute("/chat/{room}", noop, accepts=bad)
    assert str(info.value) == (
        f"websocket route '/chat/{{room}}' cannot accept {bad!r}: accepts must be one of "
        "'any', 'text', 'bytes', 'json'"
    )
    app = App()
    with pytest.raises(RouteDefinitionError, match="websocket route '/x' cannot accept"):
        app.websocket("/x", accepts=bad)(noop)
    assert app.router.routes == ()


class Join(BaseModel):
    room: str


@pytest.mark.parametrize("accepts", ACCEPTS)
def test_a_typed_route_takes_any_contract(accepts: Accepts) -> None:
    # A typed route parses JSON from text or bytes alike: no contract contradicts it.
    app = App()
    app.websocket("/t", receive=Join, accepts=accepts)(noop)
    (route,) = app.router.routes
    assert isinstance(route, WebSocketRoute)
    assert (route.accepts, route.contract is not None) == (accepts, True)


# ---------------------------------------------------------------------------- on the wire


def recording_app(accepts: Accepts, **route: Any) -> tuple[App, list[Any], trio.Event]:
    """An app whose handler records what it got, then the close code, then sets the event."""
    app = App()
    got: list[Any] = []
    done = trio.Event()

    @app.websocket("/r", accepts=accepts, **route)
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            while True:
                got.append(await ws.get_message())
        except ConnectionClosed as exc:
            got.append(exc.reason.code if exc.reason is not None else None)
        finally:
            done.set()

    return app, got, done


FIRST: dict[str, str | bytes] = {"any": "first", "text": "first", "bytes": b"1", "json": "[1]"}


@pytest.mark.parametrize(("accepts", "message", "accepted"), CASES[:14])
async def test_test_client(accepts: Accepts, message: str | bytes, accepted: bool) -> None:
    app, got, done = recording_app(accepts)
    with trio.fail_after(10):
        await exchange(app, accepts, message, accepted)
        await done.wait()
    # What came before the refused message reaches the handler; the refused one never does.
    assert got == ([FIRST[accepts], message, 1000] if accepted else [FIRST[accepts], 1003])


async def exchange(app: App, accepts: Accepts, message: str | bytes, accepted: bool) -> None:
    async with TestClient(app) as client, client.websocket("/r") as ws:
        await ws.send_message(FIRST[accepts])
        await ws.send_message(message)
        if accepted:
            await ws.aclose()
        else:
            with pytest.raises(ConnectionClosed) as info:
                await ws.get_message()
            assert info.value.reason is not None
            assert (info.value.reason.code, info.value.reason.reason) == (
                1003,
                REASONS[accepts],
            )


async def test_messages_after_the_refused_one_are_dropped_and_counted_as_a_1003() -> None:
    app, got, done = recording_app("text")
    before = STATS.closes["1003", "server"]
    with trio.fail_after(10):
        async with TestClient(app) as client:
            async with client.websocket("/r") as ws:
                for message in ("a", "b", b"bad", "c", b"worse"):
                    await ws.send_message(message)
                with pytest.raises(ConnectionClosed):
                    await ws.get_message()
            await done.wait()
    assert got == ["a", "b", 1003]
    assert STATS.closes["1003", "server"] == before + 1


async def test_a_typed_json_route_closes_1003_before_its_own_policy() -> None:
    # Malformed JSON breaks the wire contract (1003); valid JSON of the wrong shape is the
    # typed route's business (on_invalid, 1007 by default).
    app = App()

    @app.websocket("/t", receive=Join, send=Join, accepts="json")
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async for join in ws:
            await ws.send(join)

    with trio.fail_after(10):
        async with TestClient(app) as client:
            async with client.websocket("/t") as ws:
                await ws.send_message(b'{"room": "lobby"}')
                assert await ws.get_message() == '{"room":"lobby"}'
                await ws.send_message("{")
                with pytest.raises(ConnectionClosed) as info:
                    await ws.get_message()
                assert info.value.reason is not None and info.value.reason.code == 1003
            async with client.websocket("/t") as ws:
                await ws.send_message('{"room": 1}')
                with pytest.raises(ConnectionClosed) as info:
                    await ws.get_message()
                assert info.value.reason is not None and info.value.reason.code == 1007


@pytest.mark.parametrize("reader_task", [False, True])
async def test_asgi(nursery: trio.Nursery, reader_task: bool) -> None:
    # Without a reader task the handler receives from the server itself; after 16 sends
    # without a receive a reader task does. Both check the contract the same way.
    app = App()
    got: list[Any] = []
    done = trio.Event()

    @app.websocket("/r", accepts="bytes")
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        for _ in range(16 if reader_task else 0):
            await ws.send_message(b"x")
        try:
            while True:
                got.append(await ws.get_message())
        except ConnectionClosed as exc:
            got.append(exc.reason.code if exc.reason is not None else None)
        done.set()

    server = await start(nursery, app, ws_scope("/r"))
    assert (await server.next())["type"] == "websocket.accept"
    for _ in range(16 if reader_task else 0):
        await server.next()
    await server.to_app.send({"type": "websocket.receive", "bytes": b"ok"})
    await server.to_app.send({"type": "websocket.receive", "text": "no"})
    await server.to_app.send({"type": "websocket.receive", "bytes": b"dropped"})
    close = await server.next()
    assert close == {"type": "websocket.close", "code": 1003, "reason": REASONS["bytes"]}
    await server.to_app.send({"type": "websocket.disconnect", "code": 1003})
    with trio.fail_after(5):
        await done.wait()
    assert got == [b"ok", 1003]


# ---------------------------------------------------------------------------- the AsyncAPI document


def test_the_asyncapi_document_shows_each_contract() -> None:
    app = App()
    for accepts in ACCEPTS:
        app.websocket(f"/{accepts}", name=accepts, accepts=accepts)(noop)
    app.websocket("/typed", name="typed", receive=Join, accepts="json")(noop)
    document = app.asyncapi()
    assert asyncapi_errors(document) == []
    assert dangling_refs(document) == []
    channels, operations = document["channels"], document["operations"]
    received = {
        name: [ref["$ref"].rpartition("/")[2] for ref in operations[f"{name}.receive"]["messages"]]
        for name in channels
    }
    assert received == {
        "any": ["raw-text", "raw-binary"],
        "text": ["raw-text"],
        "bytes": ["raw-binary"],
        "json": ["raw-json"],
        "typed": ["Join"],
    }
    # What the app sends is not narrowed.
    assert all(len(operations[f"{name}.send"]["messages"]) == 2 for name in channels)
    assert "x-wsframework-accepts" not in channels["any"]  # the default: documents unchanged
    assert "description" not in channels["any"]
    assert {name: channels[name].get("x-wsframework-accepts") for name in channels} == {
        "any": None,
        "text": "text",
        "bytes": "bytes",
        "json": "json",
        "typed": "json",
    }
    assert channels["text"]["description"] == (
        'Clients may send text messages only (`accepts="text"`); a binary message closes the '
        "connection with code 1003 (unsupported data)."
    )
    assert operations["bytes.receive"]["description"] == (
        "The route declares no `receive=` type. Clients may send binary messages only: a text "
        "message closes the connection with code 1003 before the handler sees it."
    )
    # On a typed JSON route, what is not JSON is the contract's (1003), not on_invalid's (1007).
    assert operations["typed.receive"]["description"] == (
        "A message that does not validate closes the connection with code 1007. Clients may "
        "send JSON only, as text or as UTF-8 bytes: any other message closes the connection "
        "with code 1003 before the handler sees it."
    )
    raw_json = document["components"]["messages"]["raw-json"]
    assert (raw_json["contentType"], "payload" in raw_json) == ("application/json", False)
