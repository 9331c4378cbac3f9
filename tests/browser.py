"""A tiny headless-Chromium driver for end-to-end tests, over wsframework's own client::

    async with launch_browser() as browser:
        page = await browser.new_page(isolated=True)
        await page.navigate(f"http://127.0.0.1:{port}/")
        await page.evaluate("document.querySelector('button').click()")
        await page.wait_for("document.body.textContent.includes('clicked')")

Debian's Chromium runs headless with a fresh profile; its DevTools URL is read from its stderr,
and CDP spoken over one browser-level WebSocket, one flattened session per page. Its stderr (but
D-Bus noise) and each page's console go to the ``tests.browser`` logger, shown for failed tests.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import trio
from trio import TaskStatus
from trio.abc import ReceiveStream

from wsframework import WebSocketConnection, open_websocket_url
from wsframework._groups import raise_single

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["Browser", "CDPError", "JavaScriptError", "Page", "launch_browser"]

CHROMIUM = "/usr/bin/chromium"
_REQUIRED = """--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync"""  # this network
FLAGS = [*_REQUIRED.split(), "--remote-debugging-port=0", "--disable-dev-shm-usage", "--mute-audio"]
MAX_CDP_MESSAGE = 256 * 1024 * 1024  # screenshots and big DOM dumps are single messages
DEVTOOLS_PREFIX = "DevTools listening on "
NOISE = "ERROR:dbus/"  # no D-Bus in a container, and Chromium says so dozens of times per start
# Polls ``check`` in the page every 20 ms until truthy or ``ms`` have passed.
WAIT_JS = """(async (check, ms) => { const deadline = performance.now() + ms;
  for (;;) { const value = check(); if (value) return {ok: true, value};
    if (performance.now() > deadline) return {ok: false};
    await new Promise(resolve => setTimeout(resolve, 20)); } })"""

logger = logging.getLogger("tests.browser")
logger.setLevel(logging.DEBUG)  # the root logger's WARNING would hide these from pytest's report

Message = dict[str, Any]


class CDPError(Exception):
    """A DevTools command failed, or the browser went away while it was pending."""


class JavaScriptError(Exception):
    """An evaluated expression threw (or its promise rejected); the message has the JS text."""


class Browser:
    """One running Chromium and the DevTools connection to it; see :func:`launch_browser`."""

    def __init__(self, ws: WebSocketConnection, stderr_lines: list[str]) -> None:
        self.stderr_lines = stderr_lines  # all of Chromium's stderr so far
        self.listeners: list[Callable[[Message], None]] = []  # called with every CDP event
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, trio.MemorySendChannel[Message]] = {}

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session_id: str | None = None
    ) -> Message:
        """Send one CDP command and return its ``result``; raises :exc:`CDPError` on error."""
        request: Message = {"id": next(self._ids), "method": method, "params": params or {}}
        if session_id is not None:
            request["sessionId"] = session_id
        send_channel, receive_channel = trio.open_memory_channel[Message](1)
        self._pending[request["id"]] = send_channel
        try:
            await self._ws.send_message(json.dumps(request))
            reply = await receive_channel.receive()
        finally:
            del self._pending[request["id"]]
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error'].get('message')} ({reply['error']})")
        return dict(reply.get("result", {}))

    async def new_page(self, url: str = "about:blank", *, isolated: bool = False) -> Page:
        """Open a tab (and :meth:`Page.navigate` it to ``url``); ``isolated=True`` gives it its
        own cookies and storage (a fresh browser context), as a second user would have."""
        params: dict[str, Any] = {"url": "about:blank"}
        if isolated:
            params.update(await self.send("Target.createBrowserContext"))  # browserContextId
        target_id = (await self.send("Target.createTarget", params))["targetId"]
        params = {"targetId": target_id, "flatten": True}
        attached = await self.send("Target.attachToTarget", params)
        page = Page(self, target_id, attached["sessionId"])
        self.listeners.append(page._on_event)
        await page.send("Page.enable")
        await page.send("Page.setLifecycleEventsEnabled", {"enabled": True})
        await page.send("Runtime.enable")
        if url != "about:blank":
            await page.navigate(url)
        return page

    async def _read(self) -> None:
        """Dispatch replies to their callers and events to the listeners, until the end."""
        try:
            async for raw in self._ws:
                message: Message = json.loads(raw)
                if "id" not in message:
                    for listener in list(self.listeners):
                        listener(message)
                elif (waiter := self._pending.get(message["id"])) is not None:
                    waiter.send_nowait(message)
        finally:
            for waiter in self._pending.values():  # the browser is gone: fail what is pending
                with suppress(trio.WouldBlock):
                    waiter.send_nowait({"error": {"message": "the DevTools connection closed"}})


class Page:
    """One tab, attached through its own flattened CDP session."""

    def __init__(self, browser: Browser, target_id: str, session_id: str) -> None:
        self.browser = browser
        self.target_id = target_id
        self.session_id = session_id
        self.console: list[str] = []  # console.* output and uncaught exceptions, in order

    async def send(self, method: str, params: dict[str, Any] | None = None) -> Message:
        """:meth:`Browser.send` in this page's session."""
        return await self.browser.send(method, params, self.session_id)

    async def navigate(self, url: str, timeout: float = 10) -> None:
        """Load ``url`` and return after its ``load`` event; raises on a network error."""
        loads, loaded = trio.open_memory_channel[str](math.inf)

        def on_event(event: Message) -> None:
            params = event.get("params", {})
            mine = event.get("sessionId") == self.session_id
            if mine and event["method"] == "Page.lifecycleEvent" and params["name"] == "load":
                loads.send_nowait(params["loaderId"])

        self.browser.listeners.append(on_event)  # before navigating, so no load is missed
        try:
            with trio.fail_after(timeout):
                result = await self.send("Page.navigate", {"url": url})
                if result.get("errorText"):
                    raise CDPError(f"navigating to {url}: {result['errorText']}")
                if "loaderId" not in result:
                    return  # a same-document navigation (a fragment): nothing loads
                async for loader_id in loaded:
                    if loader_id == result["loaderId"]:
                        return
        finally:
            self.browser.listeners.remove(on_event)

    async def evaluate(self, expression: str, timeout: float = 10) -> Any:
        """Evaluate JS in the page, awaiting a returned promise; return the value as JSON data.

        Raises:
            JavaScriptError: the expression threw or its promise rejected.
        """
        with trio.fail_after(timeout):
            options = {"awaitPromise": True, "returnByValue": True, "userGesture": True}
            reply = await self.send("Runtime.evaluate", {"expression": expression, **options})
        details = reply.get("exceptionDetails")
        if details is not None:
            thrown = details.get("exception", {})
            text = thrown.get("description") or thrown.get("value") or details.get("text")
            raise JavaScriptError(f"{expression!r} threw: {text}")
        return reply["result"].get("value")

    async def wait_for(self, condition: str, timeout: float = 5) -> Any:
        """Wait until the JS expression ``condition`` is truthy and return its value.

        The page polls it (every 20 ms, inside a promise), so nothing sleeps here.

        Raises:
            trio.TooSlowError: still falsy after ``timeout`` seconds.
            JavaScriptError: evaluating ``condition`` threw.
        """
        script = f"{WAIT_JS}(() => ({condition}), {timeout * 1000})"
        outcome = await self.evaluate(script, timeout=timeout + 5)
        if not outcome["ok"]:
            raise trio.TooSlowError(f"still falsy after {timeout} s: {condition}")
        return outcome.get("value")

    async def close(self) -> None:
        """Close the tab."""
        self.browser.listeners.remove(self._on_event)
        await self.browser.send("Target.closeTarget", {"targetId": self.target_id})

    def _on_event(self, event: Message) -> None:
        params = event.get("params", {})
        if event.get("sessionId") != self.session_id:
            return
        if event["method"] == "Runtime.consoleAPICalled":
            args = (str(a.get("value", a.get("description", a["type"]))) for a in params["args"])
            line = f"console.{params['type']}: {' '.join(args)}"
        elif event["method"] == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            line = f"uncaught: {details.get('exception', {}).get('description', details['text'])}"
        else:
            return
        self.console.append(line)
        logger.debug("page %s %s", self.target_id[:8], line)


async def _drain(out: ReceiveStream, lines: list[str], *, task_status: TaskStatus[str]) -> None:
    """Keep and log Chromium's stderr lines; ``nursery.start`` gets the DevTools URL from it.

    Raises:
        RuntimeError: stderr closed (Chromium exited) before the DevTools line.
    """
    buffer, started = b"", False
    while chunk := await out.receive_some():
        *complete, buffer = (buffer + chunk).split(b"\n")
        for line in (raw.decode(errors="replace").rstrip() for raw in complete):
            lines.append(line)
            if line and NOISE not in line:
                logger.debug("chromium: %s", line)
            if line.startswith(DEVTOOLS_PREFIX) and not started:
                task_status.started(line.removeprefix(DEVTOOLS_PREFIX).strip())
                started = True
    if not started:
        tail = "\n".join(lines[-20:])
        raise RuntimeError(f"Chromium exited without a DevTools URL:\n{tail}")


@asynccontextmanager
async def launch_browser(
    *, executable: str = CHROMIUM, extra_flags: tuple[str, ...] = (), startup_timeout: float = 30
) -> AsyncIterator[Browser]:
    """Start headless Chromium with a temporary profile; stop it and delete the profile on exit.

    Raises:
        trio.TooSlowError: no DevTools URL within ``startup_timeout`` (stderr is in the log).
        RuntimeError: Chromium exited without printing one.
    """
    profile = tempfile.mkdtemp(prefix="wsf-chromium-")
    stderr: list[str] = []
    try:
        process = await trio.lowlevel.open_process(
            [executable, *FLAGS, *extra_flags, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: its helpers can be found and killed
        )
        try:
            async with trio.open_nursery() as nursery:
                assert process.stderr is not None
                with trio.fail_after(startup_timeout):
                    url = await nursery.start(_drain, process.stderr, stderr)
                async with open_websocket_url(
                    url, max_message_size=MAX_CDP_MESSAGE, compression=None
                ) as ws:
                    browser = Browser(ws, stderr)
                    nursery.start_soon(browser._read)
                    yield browser
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            raise_single(group)
        finally:
            with trio.CancelScope(shield=True):
                await _stop(process)
    finally:
        await trio.to_thread.run_sync(lambda: shutil.rmtree(profile, ignore_errors=True))


async def _stop(process: trio.Process) -> None:
    """SIGTERM Chromium, wait for it and its helpers (5 s at most), else SIGKILL them all.

    The helpers matter: the network service writes into the profile after the browser exits.
    They share Chromium's stderr, so its end means they are all gone.
    """
    assert process.stderr is not None
    process.terminate()
    with trio.move_on_after(5) as waiting:
        await process.wait()
        async for _chunk in process.stderr:
            pass  # shutdown chatter, D-Bus mostly
    if waiting.cancelled_caught:
        logger.warning("Chromium (pid %d) did not exit on SIGTERM; killing it", process.pid)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the group we started, helpers included
        await process.wait()
    await process.stderr.aclose()
