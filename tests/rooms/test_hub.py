"""Rooms over the in-memory broker, socket-less: fan-out, exclude, presence, events,
encode-once, broker choice and the handler's errors."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import trio
import trio.testing

from wsframework import App, WebSocketRequest
from wsframework.exceptions import BrokerUnavailable, ConnectionClosed
from wsframework.rooms import (
    BROKER_ENV,
    HistoryPolicy,
    MemoryBroker,
    Position,
    Publication,
    RoomEvent,
    RoomOptions,
    Rooms,
)

from ..redis_servers import free_port
from .broker_helpers import COREDIS_UNCLOSED_STREAMS
from .room_helpers import chat_app, running, until_count


async def test_a_publication_reaches_every_member_once_in_order() -> None:
    app = chat_app()
    async with running(app) as clients:
        clients = [await clients.connect(f"/chat/lobby?user=u{i}") for i in range(3)]
        await until_count(app, "lobby", 3)
        for n in range(5):
            await clients[n % 3].send_message(f"m{n}")
        for client in clients:
            with trio.fail_after(5):
                assert [await client.get_message() for _ in range(5)] == [f"m{n}" for n in range(5)]
        with trio.move_on_after(0.05):
            extra = await clients[0].get_message()
            pytest.fail(f"delivered twice: {extra!r}")


async def test_exclude_skips_the_sender_only() -> None:
    app = chat_app()
    async with running(app) as clients:
        sender = await clients.connect("/chat/r?echo=0")
        other = await clients.connect("/chat/r")
        await until_count(app, "r", 2)
        await sender.send_message("from sender")
        await other.send_message("from other")
        with trio.fail_after(5):
            assert await other.get_message() == "from sender"
            assert await other.get_message() == "from other"
            assert await sender.get_message() == "from other"


async def test_rooms_are_separate() -> None:
    app = chat_app()
    async with running(app) as clients:
        a = await clients.connect("/chat/a")
        b = await clients.connect("/chat/b")
        await until_count(app, "a", 1)
        await until_count(app, "b", 1)
        await a.send_message("only a")
        await b.send_message("only b")
        with trio.fail_after(5):
            assert await a.get_message() == "only a"
            assert await b.get_message() == "only b"


async def test_bytes_and_text_keep_their_type() -> None:
    app = chat_app()
    async with running(app) as clients:
        client = await clients.connect("/chat/r")
        await until_count(app, "r", 1)
        await client.send_message(b"\x00\x01")
        await client.send_message("text")
        with trio.fail_after(5):
            assert await client.get_message() == b"\x00\x01"
            assert await client.get_message() == "text"


async def test_presence_lists_members_with_info_id_and_node() -> None:
    app = chat_app()
    async with running(app) as clients:
        ann = await clients.connect("/chat/r?user=ann")
        await clients.connect("/chat/r?user=bob")
        await until_count(app, "r", 2)
        members = await app.rooms["r"].members()
        assert sorted(m.info["user"] for m in members) == ["ann", "bob"]
        assert {m.node for m in members} == {app.rooms.broker.node}
        assert len({m.connection_id for m in members}) == 2
        await ann.aclose()
        await until_count(app, "r", 1)
        assert [m.info["user"] for m in await app.rooms["r"].members()] == ["bob"]


async def test_a_cancelled_member_leaves() -> None:
    app = App()
    joined = trio.Event()

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        with trio.CancelScope() as scope:
            async with app.rooms["r"].join(ws):
                joined.set()
                scope.cancel()
                await trio.sleep_forever()
        await ws.send_message(str(await app.rooms["r"].count()))

    async with running(app) as clients:
        client = await clients.connect("/")
        with trio.fail_after(5):
            await joined.wait()
            assert await client.get_message() == "0"


async def test_membership_events_report_joins_and_leaves() -> None:
    app = App()
    seen: list[tuple[str, object]] = []
    done = trio.Event()

    @app.websocket("/watch")
    async def watch(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async with app.rooms["r"].join(ws, presence="watcher") as membership:
            async for event in membership.events():
                seen.append((event.kind, event.member.info))
                if len(seen) == 3:
                    done.set()
                    return

    @app.websocket("/visit")
    async def visit(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async with app.rooms["r"].join(ws, presence="visitor"):
            await ws.get_message()

    async with running(app) as clients:
        await clients.connect("/watch")
        await until_count(app, "r", 1)
        visitor = await clients.connect("/visit")
        await until_count(app, "r", 2)
        await visitor.send_message("bye")
        with trio.fail_after(5):
            await done.wait()
    assert seen == [("join", "watcher"), ("join", "visitor"), ("leave", "visitor")]


async def test_announce_turns_joins_and_leaves_into_messages() -> None:
    def announce(event: RoomEvent) -> str:
        return json.dumps({"type": event.kind, "user": event.member.info["user"]})

    app = chat_app(announce=announce)
    async with running(app) as clients:
        ann = await clients.connect("/chat/r?user=ann")
        with trio.fail_after(5):
            assert json.loads(await ann.get_message()) == {"type": "join", "user": "ann"}
        bob = await clients.connect("/chat/r?user=bob")
        with trio.fail_after(5):
            assert json.loads(await ann.get_message()) == {"type": "join", "user": "bob"}
            await bob.aclose()
            assert json.loads(await ann.get_message()) == {"type": "leave", "user": "bob"}


async def test_encode_runs_once_per_publication_whatever_the_members(
    nursery: trio.Nursery,
) -> None:
    calls: list[Publication] = []

    def encode(publication: Publication) -> str:
        calls.append(publication)
        return f"<{publication.data!r}>"

    app = chat_app(encode=encode)
    async with running(app) as clients:
        clients = [await clients.connect("/chat/r") for _ in range(10)]
        await until_count(app, "r", 10)
        await clients[0].send_message("hi")
        with trio.fail_after(5):
            for client in clients:
                assert await client.get_message() == "<'hi'>"
    assert len(calls) == 1


async def test_a_failing_encode_is_logged_and_the_room_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def encode(publication: Publication) -> str:
        if publication.data == "bad":
            raise ValueError("cannot encode")
        return str(publication.data)

    app = chat_app(encode=encode)
    async with running(app) as clients:
        client = await clients.connect("/chat/r")
        await until_count(app, "r", 1)
        await client.send_message("bad")
        await client.send_message("good")
        with trio.fail_after(5):
            assert await client.get_message() == "good"
    assert "encode() failed" in caplog.text


async def test_a_publisher_without_members_publishes_and_counts() -> None:
    rooms = Rooms()
    rooms.configure("news", history=HistoryPolicy(size=10, ttl=60))
    async with rooms.open():
        first = await rooms["news"].publish("nobody listens")
        assert first is not None and first.offset == 1
        assert await rooms["plain"].publish("no history") is None
        assert await rooms["news"].count() == 0


async def test_room_names_and_joins_are_checked() -> None:
    rooms = Rooms()
    with pytest.raises(ValueError, match="1 to 256 characters"):
        rooms[""]
    with pytest.raises(RuntimeError, match="not open"):
        await rooms["r"].publish("x")
    app = App()
    errors: list[str] = []

    @app.websocket("/")
    async def twice(request: WebSocketRequest) -> None:
        ws = await request.accept()
        async with app.rooms["r"].join(ws):
            try:
                async with app.rooms["r"].join(ws):
                    pass
            except RuntimeError as exc:
                errors.append(str(exc))
        await ws.aclose()

    async with running(app) as clients:
        client = await clients.connect("/")
        with trio.fail_after(5):
            with pytest.raises(Exception):  # noqa: B017 - closed by the handler
                await client.get_message()
    assert errors and "in room 'r' already" in errors[0]


async def test_a_membership_is_one_block() -> None:
    app = App()
    seen: list[Any] = []

    @app.websocket("/")
    async def handler(request: WebSocketRequest) -> None:
        ws = await request.accept()
        membership = app.rooms["r"].join(ws)
        seen.append((membership.position, membership.dropped))
        try:
            await membership.__anext__()
        except RuntimeError as exc:
            seen.append(str(exc))
        async with membership:
            seen.append(membership.connection_id)
        try:
            async with membership:
                seen.append("entered twice")
        except RuntimeError as exc:
            seen.append(str(exc))
        await ws.aclose()

    async with running(app) as clients:
        client = await clients.connect("/")
        with trio.fail_after(5):
            with pytest.raises(ConnectionClosed):
                await client.get_message()
    assert seen[0] == (None, 0)
    assert seen[1] == "events() is read inside the async with room.join() block"
    assert seen[2].endswith("/1")
    assert seen[3] == "a membership is entered once: call room.join() again"


def test_configure_last_matching_pattern_wins() -> None:
    rooms = Rooms()
    rooms.configure("chat:*", queue_size=10)
    rooms.configure("chat:vip", overflow="drop_oldest")
    assert rooms.options_for("chat:general").queue_size == 10
    assert rooms.options_for("chat:vip").overflow == "drop_oldest"
    assert rooms.options_for("news") == RoomOptions()
    with pytest.raises(TypeError, match="not both"):
        rooms.configure("x", RoomOptions(), queue_size=1)


def test_presence_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError, match="presence_ttl"):
        Rooms(presence_ttl=0)
    rooms = Rooms()
    rooms.presence_ttl = 5
    assert rooms.presence_ttl == 5
    with pytest.raises(ValueError, match="positive number of seconds: -1"):
        rooms.presence_ttl = -1


@pytest.mark.parametrize(
    ("cli", "env", "code", "source"),
    [
        (True, True, True, "--broker"),
        (False, True, True, BROKER_ENV),
        (False, False, True, "App(broker=...)"),
        (False, False, False, "default"),
    ],
)
async def test_broker_choice_cli_then_environment_then_code(
    cli: bool,
    env: bool,
    code: bool,
    source: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "wsframework.rooms")
    from_code, from_cli = MemoryBroker(node="code"), MemoryBroker(node="cli")
    monkeypatch.delenv(BROKER_ENV, raising=False)
    if env:
        monkeypatch.setenv(BROKER_ENV, "memory://")
    rooms = Rooms(from_code if code else None)
    if cli:
        rooms.use_broker(from_cli)
    async with rooms.open():
        node = rooms.broker.node
    assert f"(from {source})" in caplog.text
    expected = {"--broker": "cli", "App(broker=...)": "code"}.get(source)
    assert (node == expected) if expected else node not in ("cli", "code")


async def test_opening_twice_and_a_stopped_broker_say_so() -> None:
    rooms = Rooms()
    async with rooms.open():
        with pytest.raises(RuntimeError, match="open already"):
            async with rooms.open():
                pass
    broker = MemoryBroker()
    with pytest.raises(BrokerUnavailable, match="not running"):
        await broker.publish("r", "x")
    assert str(Position("e", 3)) == "e:3" and Position.parse("e:3") == Position("e", 3)
    with pytest.raises(ValueError, match="'epoch:offset'"):
        Position.parse("nope")


@pytest.mark.filterwarnings(COREDIS_UNCLOSED_STREAMS)
async def test_open_raises_the_brokers_error_and_the_blocks_own_as_they_are() -> None:
    with pytest.raises(BrokerUnavailable, match=r"Redis at 127\.0\.0\.1:\d+ is unreachable"):
        async with Rooms(f"redis://127.0.0.1:{free_port()}/0").open():
            pytest.fail("opened without a Redis")
    with pytest.raises(KeyError, match="mine"):
        async with Rooms().open():
            raise KeyError("mine")
