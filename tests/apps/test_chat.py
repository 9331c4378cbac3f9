"""The chat app (``apps/chat``), socket-less: the page, the welcome, messages with positions,
joins and leaves, invalid input, refused handshakes, and recovery after a reconnect.

A member's publications and announcements go through its queue and writer task while the
welcome is sent by the handler, so over memory streams they may come in either order: the
helpers read up to the welcome and this member's own join, whatever their order, and keep
what else came meanwhile.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from apps.chat.app import MAX_TEXT, MAX_USER, PAGE, create_app
from tests.rooms.room_helpers import Clients, running, until_count
from wsframework import ConnectionRejected
from wsframework.interface import WebSocketConnection
from wsframework.testing import TestClient

Message = dict[str, Any]


async def receive(client: WebSocketConnection) -> Message:
    with trio.fail_after(5):
        message: Message = json.loads(await client.get_message())
    return message


async def receive_until(client: WebSocketConnection, kind: str) -> list[Message]:
    """Messages up to and including the first of type ``kind``."""
    received = [await receive(client)]
    while received[-1]["type"] != kind:
        received.append(await receive(client))
    return received


async def receive_messages(client: WebSocketConnection, count: int) -> list[Message]:
    """The next ``count`` chat messages, skipping joins and leaves."""
    messages: list[Message] = []
    while len(messages) < count:
        message = await receive(client)
        if message["type"] == "message":
            messages.append(message)
    return messages


async def join(
    clients: Clients, room: str, user: str, since: str | None = None
) -> tuple[WebSocketConnection, Message, list[Message]]:
    """A new member of ``room``: its connection, its welcome and, in order, what else it got
    until both the welcome and its own join announcement came (e.g. recovered messages)."""
    target = f"/chat/{room}?user={user}" + (f"&since={since}" if since else "")
    client = await clients.connect(target)
    welcome: Message | None = None
    own_join: Message | None = None
    others: list[Message] = []
    pending: list[Message] = []  # joins before the welcome, when our id is not known yet
    while welcome is None or own_join is None:
        message = await receive(client)
        if message["type"] == "welcome":
            welcome = message
            for early in pending:
                if own_join is None and early == {
                    "type": "join",
                    "user": user,
                    "id": welcome["id"],
                }:
                    own_join = early
                else:
                    others.append(early)
            pending = []
        elif message["type"] == "join" and welcome is None:
            pending.append(message)
        elif message["type"] == "join" and message["id"] == welcome["id"]:
            own_join = message
        else:
            others.append(message)
    return client, welcome, others


async def say(client: WebSocketConnection, text: str) -> None:
    await client.send_message(json.dumps({"type": "say", "text": text}))


async def no_more(client: WebSocketConnection) -> None:
    with trio.move_on_after(0.05):
        extra = await client.get_message()
        pytest.fail(f"unexpected message: {extra!r}")


def texts(messages: list[Message]) -> list[str]:
    return [m["text"] for m in messages]


async def test_the_page_is_served_at_the_root() -> None:
    async with TestClient(create_app()) as client:
        answer = await client.get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.text == PAGE
    assert "window.chat" in PAGE
    assert "since=" in PAGE


async def test_welcome_lists_the_members_and_the_position() -> None:
    app = create_app()
    async with running(app) as clients:
        _, ann, others = await join(clients, "lobby", "ann")
        assert others == []
        assert ann["type"] == "welcome"
        assert ann["room"] == "lobby"
        assert ann["recovered"] is None
        assert ann["members"] == [{"user": "ann", "id": ann["id"]}]
        assert set(ann["position"]) == {"epoch", "offset"}
        assert ann["position"]["offset"] == 0

        _, bob, _ = await join(clients, "lobby", "bob")
        assert bob["members"] == [
            {"user": "ann", "id": ann["id"]},
            {"user": "bob", "id": bob["id"]},
        ]
        assert bob["id"] != ann["id"]
        assert bob["position"] == ann["position"]


async def test_messages_reach_everyone_in_order_with_their_positions() -> None:
    app = create_app()
    async with running(app) as clients:
        ann, ann_welcome, _ = await join(clients, "lobby", "ann")
        bob, _, _ = await join(clients, "lobby", "bob")
        epoch = ann_welcome["position"]["epoch"]

        await say(ann, "hello")
        assert (await receive_messages(bob, 1))[0]["text"] == "hello"
        await say(bob, "  hi ann  ")
        expected = [
            {"type": "message", "epoch": epoch, "offset": 1, "user": "ann", "text": "hello"},
            {"type": "message", "epoch": epoch, "offset": 2, "user": "bob", "text": "hi ann"},
        ]
        assert await receive_messages(ann, 2) == expected
        assert await receive_messages(bob, 1) == expected[1:]
        await no_more(bob)


async def test_joins_and_leaves_are_announced_to_the_others() -> None:
    app = create_app()
    async with running(app) as clients:
        ann, ann_welcome, _ = await join(clients, "lobby", "ann")
        bob, bob_welcome, _ = await join(clients, "lobby", "bob")
        bob_id = bob_welcome["id"]
        assert await receive(ann) == {"type": "join", "user": "bob", "id": bob_id}

        await bob.aclose()
        assert await receive(ann) == {"type": "leave", "user": "bob", "id": bob_id}
        await until_count(app, "lobby", 1)
        members = await app.rooms["lobby"].members()
        assert [m.connection_id for m in members] == [ann_welcome["id"]]
        await no_more(ann)


async def test_rooms_do_not_mix() -> None:
    app = create_app()
    async with running(app) as clients:
        ann, ann_welcome, _ = await join(clients, "lobby", "ann")
        bob, bob_welcome, _ = await join(clients, "kitchen", "bob")
        assert [m["user"] for m in bob_welcome["members"]] == ["bob"]

        await say(bob, "in the kitchen")
        assert texts(await receive_messages(bob, 1)) == ["in the kitchen"]
        await say(ann, "in the lobby")
        assert await receive(ann) == {
            "type": "message",
            "epoch": ann_welcome["position"]["epoch"],
            "offset": 1,
            "user": "ann",
            "text": "in the lobby",
        }
        await no_more(ann)
        await no_more(bob)


@pytest.mark.parametrize(
    ("message", "error_type"),
    [
        (json.dumps({"type": "say", "text": ""}), "string_too_short"),
        (json.dumps({"type": "say", "text": "   "}), "string_too_short"),
        (json.dumps({"type": "say", "text": "x" * (MAX_TEXT + 1)}), "string_too_long"),
        (json.dumps({"type": "say", "text": "hi", "user": "mallory"}), "extra_forbidden"),
        (json.dumps({"type": "shout", "text": "hi"}), "literal_error"),
        (json.dumps({"type": "say"}), "missing"),
        ("not json", "json_invalid"),
    ],
)
async def test_an_invalid_message_gets_an_error_and_the_chat_goes_on(
    message: str, error_type: str
) -> None:
    app = create_app()
    async with running(app) as clients:
        ann, _, _ = await join(clients, "lobby", "ann")
        await ann.send_message(message)
        error = await receive(ann)
        assert error["type"] == "error"
        assert error["error"] == "invalid_message"
        assert error_type in [d["type"] for d in error["detail"]]

        await say(ann, "x" * MAX_TEXT)
        assert texts(await receive_messages(ann, 1)) == ["x" * MAX_TEXT]
        assert await app.rooms["lobby"].count() == 1


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("/chat/lobby", b"user must be"),
        ("/chat/lobby?user=%20%20", b"user must be"),
        (f"/chat/lobby?user={'u' * (MAX_USER + 1)}", b"user must be"),
        ("/chat/lobby?user=a%0Ab", b"user must be"),
        (f"/chat/{'r' * 65}?user=ann", b"room name must be"),
        ("/chat/lobby?user=ann&since=12", b"since must be"),
        ("/chat/lobby?user=ann&since=e:-1", b"since must be"),
    ],
)
async def test_a_bad_handshake_is_refused_with_400(target: str, why: bytes) -> None:
    app = create_app()
    async with running(app) as clients:
        with pytest.raises(ConnectionRejected) as info:
            await clients.connect(target)
        assert info.value.status_code == 400
        assert info.value.body is not None
        assert why in info.value.body
        assert await app.rooms["lobby"].count() == 0


async def test_a_reconnect_with_since_recovers_exactly_the_missed_messages_then_live() -> None:
    app = create_app()
    async with running(app) as clients:
        ann, _, _ = await join(clients, "lobby", "ann")
        bob, _, _ = await join(clients, "lobby", "bob")
        await say(ann, "before 1")
        await say(ann, "before 2")
        seen = await receive_messages(bob, 2)
        assert texts(seen) == ["before 1", "before 2"]
        last = seen[-1]

        await bob.aclose()
        await until_count(app, "lobby", 1)
        for n in range(3):
            await say(ann, f"missed {n}")
        assert texts(await receive_messages(ann, 5))[-3:] == ["missed 0", "missed 1", "missed 2"]

        since = f"{last['epoch']}:{last['offset']}"
        bob, welcome, others = await join(clients, "lobby", "bob", since=since)
        assert welcome["recovered"] is True
        recovered = [m for m in others if m["type"] == "message"]
        recovered += await receive_messages(bob, 3 - len(recovered))
        assert texts(recovered) == ["missed 0", "missed 1", "missed 2"]
        assert [m["offset"] for m in recovered] == [3, 4, 5]
        assert {m["epoch"] for m in recovered} == {last["epoch"]}
        assert welcome["position"] == {"epoch": last["epoch"], "offset": 5}

        await say(ann, "live")
        live = await receive_messages(bob, 1)
        assert live == [{**recovered[-1], "offset": 6, "text": "live"}]
        await no_more(bob)


async def test_a_reconnect_with_nothing_missed_recovers_nothing() -> None:
    app = create_app()
    async with running(app) as clients:
        ann, welcome, _ = await join(clients, "lobby", "ann")
        await ann.aclose()
        await until_count(app, "lobby", 0)
        position = welcome["position"]
        since = f"{position['epoch']}:{position['offset']}"
        ann, welcome, others = await join(clients, "lobby", "ann", since=since)
        assert welcome["recovered"] is True
        assert others == []
        assert welcome["position"] == position
        await no_more(ann)


@pytest.mark.parametrize("stale", ["another-epoch:{offset}", "{epoch}:99"])
async def test_a_position_that_cannot_be_recovered_says_so_and_sends_nothing_old(
    stale: str,
) -> None:
    app = create_app()
    async with running(app) as clients:
        ann, _, _ = await join(clients, "lobby", "ann")
        await say(ann, "old")
        (old,) = await receive_messages(ann, 1)

        since = stale.format(epoch=old["epoch"], offset=old["offset"])
        bob, welcome, others = await join(clients, "lobby", "bob", since=since)
        assert welcome["recovered"] is False
        assert [m for m in others if m["type"] == "message"] == []
        assert welcome["position"] == {"epoch": old["epoch"], "offset": 1}

        await say(ann, "new")
        assert await receive_messages(bob, 1) == [{**old, "offset": 2, "text": "new"}]
        await no_more(bob)
