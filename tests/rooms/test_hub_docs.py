"""The Python samples of docs/rooms.md and docs/scale-out.md do what the text says (that each
runs is checked with every other sample by ``tests/docs/test_samples.py``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import trio

from wsframework import App, DeflateOptions, WebSocketRequest
from wsframework.request import WebSocketRoute

from .room_helpers import running, until_count

DOCS = Path(__file__).parents[2] / "docs"


def samples(name: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), re.S)


def load(code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "doc_sample"}
    exec(compile(code, "<doc sample>", "exec"), namespace)
    return namespace


def test_the_samples_are_the_ones_tested_here() -> None:
    assert len(samples("rooms.md")) == 4 and len(samples("scale-out.md")) == 1


async def test_the_first_chat_reaches_every_member() -> None:
    app: App = load(samples("rooms.md")[0])["app"]
    async with running(app) as clients:
        ann = await clients.connect("/chat/lobby?user=ann")
        bob = await clients.connect("/chat/lobby?user=bob")
        await until_count(app, "lobby", 2)
        assert sorted(m.info["user"] for m in await app.rooms["lobby"].members()) == ["ann", "bob"]
        await ann.send_message("hello")
        with trio.fail_after(5):
            assert await ann.get_message() == "hello"
            assert await bob.get_message() == "hello"


async def test_the_news_envelope_carries_positions_that_recover() -> None:
    app: App = load(samples("rooms.md")[2])["app"]
    async with running(app) as clients:
        first = await clients.connect("/news/sport")
        with trio.fail_after(5):
            assert json.loads(await first.get_message()) == {"recovered": None}
            await first.send_message("goal")
            received = json.loads(await first.get_message())
        assert received["data"] == "goal"
        await first.aclose()
        await until_count(app, "news:sport", 0)
        await app.rooms["news:sport"].publish("missed")
        back = await clients.connect(f"/news/sport?since={received['position']}")
        with trio.fail_after(5):
            got = [json.loads(await back.get_message()) for _ in range(2)]
        assert {"recovered": True} in got
        assert [m["data"] for m in got if "data" in m] == ["missed"]


def test_the_shared_compression_route_negotiates_no_context_takeover() -> None:
    app: App = load(samples("rooms.md")[1])["app"]
    route = app.router.match("/chat/lobby", "websocket").route
    assert isinstance(route, WebSocketRoute)
    assert route.compression == DeflateOptions(server_no_context_takeover=True)


async def test_the_restored_hook_tells_the_lobby_to_resync() -> None:
    namespace = load(samples("scale-out.md")[0])
    app: App = namespace["app"]
    assert app.rooms._restored == [namespace["resync"]]

    @app.websocket("/lobby")
    async def lobby(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async with app.rooms["lobby"].join(ws):
            await ws.get_message()

    async with running(app) as clients:
        client = await clients.connect("/lobby")
        await until_count(app, "lobby", 1)
        await namespace["resync"]()  # what the hub runs once the broker is back
        with trio.fail_after(5):
            assert json.loads(await client.get_message()) == {"type": "resync"}
