"""The chat (``apps/chat``) end to end: two headless Chromium pages, each its own user in its
own browser context, in one room over a real socket.

They see each other's presence and messages; then one drops its connection, reconnects by
itself while the other keeps talking and shows exactly what it missed (no gap, no duplicate,
in order), then live messages again. The server holds the dropped page's reconnection (the
handshake only: a middleware waits before the route) until the other page has said what it
is to miss, so the test knows those messages were sent while the page was away.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

from apps.chat.app import create_app
from tests.browser import Browser, Page, launch_browser
from wsframework import App, CallNext, WebSocketRequest, WebSocketServer

MESSAGES = "chat.messages.map((m) => `${m.user}: ${m.text}`)"
MEMBERS = "chat.members.map((m) => m.user).join(',')"
SHOWN_MESSAGES = "[...document.querySelectorAll('#log p')].map((p) => p.textContent)"
SHOWN_MEMBERS = "[...document.querySelectorAll('#members li')].map((li) => li.textContent)"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with launch_browser() as running:
        yield running


async def serve(nursery: trio.Nursery, app: App) -> str:
    server: WebSocketServer = await nursery.start(app.serve, "127.0.0.1", 0)
    return f"http://127.0.0.1:{server.port}"


async def open_chat(browser: Browser, base_url: str, user: str) -> Page:
    page = await browser.new_page(isolated=True)
    await page.navigate(f"{base_url}/?room=lobby&user={user}")
    await page.wait_for("window.chat && chat.connected")
    assert await page.evaluate(displayed("app")) is True
    assert await page.evaluate(displayed("join")) is False
    return page


def displayed(element_id: str) -> str:
    """JS: is the element with this id laid out (not ``display: none``)?"""
    return f"getComputedStyle(document.getElementById('{element_id}')).display !== 'none'"


async def type_and_send(page: Page, text: str) -> None:
    """Say ``text`` the way a person does: type it into the box and submit the form."""
    await page.evaluate(
        f"document.getElementById('text').value = {json.dumps(text)};"
        "document.getElementById('say').requestSubmit()"
    )


async def wait_for_messages(page: Page, count: int) -> list[dict[str, Any]]:
    await page.wait_for(f"chat.messages.length >= {count}")
    messages: list[dict[str, Any]] = await page.evaluate("chat.messages")
    return messages


async def test_two_pages_chat_and_one_recovers_what_it_missed_while_away(
    nursery: trio.Nursery, browser: Browser
) -> None:
    app = create_app()
    bob_knocks = trio.Event()  # bob's page is reconnecting
    bob_may_reconnect = trio.Event()
    bob_connections = 0

    @app.middleware(only="websocket")  # not the page's GET, which has the same query string
    async def hold_bobs_reconnection(
        request: WebSocketRequest, call_next: CallNext[WebSocketRequest]
    ) -> None:
        nonlocal bob_connections
        if request.query_params.get("user") == "bob":
            bob_connections += 1
            if bob_connections > 1:
                bob_knocks.set()
                await bob_may_reconnect.wait()
        await call_next(request)

    with trio.fail_after(60):
        base_url = await serve(nursery, app)
        ann = await open_chat(browser, base_url, "ann")
        bob = await open_chat(browser, base_url, "bob")

        # Presence: each page lists both, itself marked.
        for page in (ann, bob):
            await page.wait_for(f"{MEMBERS} === 'ann,bob'")
            assert await page.evaluate(SHOWN_MEMBERS) == ["ann", "bob"]
        assert await ann.evaluate("document.querySelector('#members li.me').textContent") == "ann"
        assert await bob.evaluate("document.querySelector('#members li.me').textContent") == "bob"

        # Messages, typed into the page, reach both in one order.
        await type_and_send(ann, "hi bob")
        await ann.wait_for("chat.messages.length === 1")
        await type_and_send(bob, "hi ann")
        before = await wait_for_messages(ann, 2)
        assert await wait_for_messages(bob, 2) == before
        assert [(m["user"], m["text"], m["offset"]) for m in before] == [
            ("ann", "hi bob", 1),
            ("bob", "hi ann", 2),
        ]
        assert await bob.evaluate(SHOWN_MESSAGES) == ["annhi bob", "bobhi ann"]
        assert await ann.evaluate("document.getElementById('text').value") == ""

        # Bob's connection drops; his page reconnects by itself, held at the server meanwhile.
        await bob.evaluate("chat.disconnect()")
        await ann.wait_for(f"{MEMBERS} === 'ann'")
        with trio.fail_after(10):
            await bob_knocks.wait()
        assert await bob.evaluate("chat.connected") is False
        missed = ["are you there?", "you are missing this", "and this"]
        for text in missed:
            await ann.evaluate(f"chat.send({json.dumps(text)})")
        with_missed = await wait_for_messages(ann, 5)
        assert [m["text"] for m in with_missed[2:]] == missed
        assert await bob.evaluate("chat.messages.length") == 2

        # Bob is let in: exactly the missed messages, in order, no gap, no duplicate.
        bob_may_reconnect.set()
        await bob.wait_for("chat.connected")
        assert await bob.evaluate("chat.recovered") is True
        assert await wait_for_messages(bob, 5) == with_missed
        assert [m["offset"] for m in with_missed] == [1, 2, 3, 4, 5]
        assert len({m["epoch"] for m in with_missed}) == 1
        assert await bob.evaluate("chat.connections") == bob_connections == 2
        assert await bob.evaluate("chat.notices") == []
        assert await bob.evaluate("chat.lastPosition") == {
            "epoch": with_missed[-1]["epoch"],
            "offset": 5,
        }
        for page in (ann, bob):
            await page.wait_for(f"{MEMBERS} === 'ann,bob'")

        # Then live again, both ways.
        await type_and_send(bob, "back")
        await ann.wait_for("chat.messages.length === 6")
        await type_and_send(ann, "welcome back")
        everything = await wait_for_messages(ann, 7)
        assert await wait_for_messages(bob, 7) == everything
        assert [f"{m['user']}: {m['text']}" for m in everything[5:]] == [
            "bob: back",
            "ann: welcome back",
        ]
        assert [m["offset"] for m in everything] == list(range(1, 8))
        assert await bob.evaluate(f"{MESSAGES}.length") == 7
        assert len(await bob.evaluate(SHOWN_MESSAGES)) == 7
        assert ann.console == []
        assert bob.console == []


async def test_a_page_whose_position_cannot_be_recovered_starts_over_and_says_so(
    nursery: trio.Nursery, browser: Browser
) -> None:
    app = create_app()
    with trio.fail_after(60):
        base_url = await serve(nursery, app)
        ann = await open_chat(browser, base_url, "ann")
        await type_and_send(ann, "old news")
        await ann.wait_for("chat.messages.length === 1")

        # As after a broker that lost the room's history: the page's epoch is gone.
        await ann.evaluate("chat.lastPosition = {epoch: 'gone', offset: 1}; chat.disconnect()")
        await ann.wait_for("chat.connections === 2 && chat.connected")
        assert await ann.evaluate("chat.recovered") is False
        assert await ann.evaluate("chat.messages") == []
        assert await ann.evaluate(SHOWN_MESSAGES) == []
        notice = await ann.evaluate("document.getElementById('notice').textContent")
        assert "could not be recovered" in notice
        assert await ann.evaluate("document.getElementById('notice').hidden") is False

        await type_and_send(ann, "fresh start")
        (fresh,) = await wait_for_messages(ann, 1)
        assert (fresh["text"], fresh["offset"]) == ("fresh start", 2)
        assert fresh["epoch"] != "gone"
        assert await ann.evaluate(MEMBERS) == "ann"


async def test_without_a_user_the_page_asks_for_one(
    nursery: trio.Nursery, browser: Browser
) -> None:
    app = create_app()
    with trio.fail_after(60):
        base_url = await serve(nursery, app)
        page = await browser.new_page(f"{base_url}/?room=kitchen", isolated=True)
        assert await page.evaluate(displayed("join")) is True
        assert await page.evaluate(displayed("app")) is False
        assert await page.evaluate("window.chat") is None
        query = await page.evaluate(
            "(() => { const form = document.getElementById('join'); form.user.value = 'cy';"
            "return new URLSearchParams(new FormData(form)).toString(); })()"
        )
        assert query == "user=cy&room=kitchen"  # what submitting it (GET, this URL) asks for
        assert await page.evaluate("document.getElementById('join').method") == "get"
