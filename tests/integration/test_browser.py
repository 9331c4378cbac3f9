"""The headless-Chromium driver (``tests/browser.py``) against pages a wsframework App serves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from tests.browser import Browser, JavaScriptError, launch_browser
from wsframework import App, HTMLResponse, HTTPRequest, Response, WebSocketRequest, WebSocketServer

BUTTON_PAGE = """<!doctype html>
<title>button</title>
<button id="go" onclick="document.getElementById('out').textContent = 'clicked'">go</button>
<p id="out">not yet</p>
"""

ECHO_PAGE = """<!doctype html>
<title>echo</title>
<p id="out"></p>
<script>
  const ws = new WebSocket(`ws://${location.host}/echo`);
  ws.onopen = () => ws.send(new URLSearchParams(location.search).get("say"));
  ws.onmessage = (event) => { document.getElementById("out").textContent = event.data; };
</script>
"""

app = App()


@app.http("/")
async def button_page(request: HTTPRequest) -> Response:
    return HTMLResponse(BUTTON_PAGE)


@app.http("/echo-page")
async def echo_page(request: HTTPRequest) -> Response:
    return HTMLResponse(ECHO_PAGE)


@app.websocket("/echo")
async def echo(request: WebSocketRequest) -> None:
    ws = await request.accept()
    async for message in ws:
        await ws.send_message(f"echo: {message!s}")


@pytest.fixture
async def base_url(nursery: trio.Nursery) -> str:
    server: WebSocketServer = await nursery.start(app.serve, "127.0.0.1", 0)
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with launch_browser() as running:
        yield running


async def test_click_changes_the_dom(browser: Browser, base_url: str) -> None:
    page = await browser.new_page()
    await page.navigate(f"{base_url}/")
    assert await page.evaluate("document.getElementById('out').textContent") == "not yet"

    await page.evaluate("document.getElementById('go').click()")

    assert await page.evaluate("document.getElementById('out').textContent") == "clicked"
    assert await page.evaluate("document.title") == "button"


async def test_page_shows_what_a_wsframework_route_echoed(browser: Browser, base_url: str) -> None:
    page = await browser.new_page()
    await page.navigate(f"{base_url}/echo-page?say=hello%20chromium")

    shown = await page.wait_for("document.getElementById('out').textContent", timeout=10)

    assert shown == "echo: hello chromium"


async def test_two_isolated_pages_in_one_browser(browser: Browser, base_url: str) -> None:
    alice = await browser.new_page(isolated=True)
    bob = await browser.new_page(isolated=True)
    await alice.navigate(f"{base_url}/echo-page?say=alice")
    await bob.navigate(f"{base_url}/echo-page?say=bob")
    await alice.evaluate("localStorage.setItem('who', 'alice')")

    assert await alice.wait_for("document.getElementById('out').textContent") == "echo: alice"
    assert await bob.wait_for("document.getElementById('out').textContent") == "echo: bob"
    assert await bob.evaluate("localStorage.getItem('who')") is None


async def test_errors_are_reported(browser: Browser, base_url: str) -> None:
    page = await browser.new_page(f"{base_url}/")

    with pytest.raises(JavaScriptError, match="boom"):
        await page.evaluate("(() => { throw new Error('boom') })()")
    with pytest.raises(JavaScriptError, match="rejected"):
        await page.evaluate("Promise.reject(new Error('rejected'))")
    with pytest.raises(trio.TooSlowError, match="never"):
        await page.wait_for("window.never", timeout=0.2)
    await page.evaluate("console.log('from the page', 42)")
    assert await page.wait_for("1 + 1") == 2
    assert "console.log: from the page 42" in page.console
