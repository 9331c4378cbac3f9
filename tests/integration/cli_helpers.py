"""The harness for the command-line tests (``tests/integration/test_cli*.py``): the sample app
written to a temporary directory, a ``python -m wsframework`` subprocess whose output is read
by a thread, the fixtures that start and always stop them, and bounded polling."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0
BURST = 100
STARTUP = re.compile(r"serving (\S+) on (wss?)://127\.0\.0\.1:(\d+) \(pid (\d+)")
READY = re.compile(r"worker (\d+) ready \(pid (\d+)\)")

APP_SOURCE = """
import os
import sys
import time

import trio

from wsframework import App, WebSocketRequest

if os.environ.get("CLIAPP_IMPORT_SLEEP"):
    print("cliapp: importing", file=sys.stderr, flush=True)
    time.sleep(float(os.environ["CLIAPP_IMPORT_SLEEP"]))

MARKER = os.environ.get("CLIAPP_MARKER")


def mark(event):
    if MARKER:
        with open(MARKER, "a") as f:
            f.write(f"{event} {os.getpid()}\\n")


app = App()
not_an_app = 42


def make_app():
    return app


def make_nothing():
    return None


@app.on_startup
async def startup():
    if os.environ.get("CLIAPP_FAIL_STARTUP"):
        raise RuntimeError("database unreachable")
    mark("startup")


@app.on_shutdown
async def shutdown():
    mark("shutdown")


@app.websocket("/pid")
async def pid(request: WebSocketRequest):
    ws = await request.accept()
    await ws.send_message(str(os.getpid()))
    async for message in ws:
        await ws.send_message(message)


@app.websocket("/burst")
async def burst(request: WebSocketRequest):
    ws = await request.accept()
    for i in range(__BURST__):
        await ws.send_message(f"{i}:" + "x" * 1000)
    mark("sent")
    async for _ in ws:
        pass


@app.websocket("/stuck")
async def stuck(request: WebSocketRequest):
    ws = await request.accept()
    mark("sent")
    try:
        async for _ in ws:
            pass
    finally:
        await trio.sleep(60)  # ignores the drain until cancelled


@app.websocket("/rootpath")
async def rootpath(request: WebSocketRequest):
    ws = await request.accept()
    await ws.send_message(repr(getattr(request.app, "root_path", None)))


@app.websocket("/chat", subprotocols=["chat.v2", "chat.v1"], subprotocol_required=True)
async def chat(request: WebSocketRequest):
    await request.accept()


@app.http("/items", methods=["POST"])
async def items(request):
    return "ok"
""".replace("__BURST__", str(BURST))

RELOAD_SOURCE = """
from wsframework import App

VERSION = {version!r}
app = App()


@app.websocket("/version")
async def version(request):
    ws = await request.accept()
    await ws.send_message(VERSION)
"""


class Server:
    """A ``python -m wsframework`` (or ``-m module``) subprocess whose combined output is read
    by a thread."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        pass_fds: tuple[int, ...] = (),
        *,
        module: str = "wsframework",
        command: list[str] | None = None,
        cwd: Path = ROOT,
    ) -> None:
        """Run ``python -m module *args``, or ``*command, *args`` when a command is given."""
        self.proc = subprocess.Popen(
            [*(command or [sys.executable, "-m", module]), *args],
            cwd=cwd,
            env=env,
            pass_fds=pass_fds,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.eof = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.eof = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(
        self, pattern: str | re.Pattern[str], *, after: int = 0, timeout: float = TIMEOUT
    ) -> re.Match[str]:
        """The first output line from index ``after`` on matching ``pattern``."""
        return self.find(pattern, after=after, timeout=timeout)[1]

    def find(
        self, pattern: str | re.Pattern[str], *, after: int = 0, timeout: float = TIMEOUT
    ) -> tuple[int, re.Match[str]]:
        """Wait for a line from index ``after`` on matching ``pattern``: (index, match)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index in range(after, len(self.lines)):
                    found = regex.search(self.lines[index])
                    if found:
                        return index, found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.eof:
                    break
                self._changed.wait(remaining)
        raise AssertionError(f"no line matching {regex.pattern!r} in:\n{self.output}")

    def mark(self) -> int:
        with self._changed:
            return len(self.lines)

    def started(self) -> tuple[str, int]:
        """Wait for the startup line: (scheme, port)."""
        found = self.wait_for(STARTUP)
        assert int(found.group(4)) == self.proc.pid
        return found.group(2), int(found.group(3))

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=TIMEOUT)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
            # Interrupted mid-test: the workers it started may still run.
            for pid in {int(m.group(2)) for m in map(READY.search, self.lines) if m}:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._reader.join(timeout=5)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "src"
    directory.mkdir()
    (directory / "cliapp.py").write_text(APP_SOURCE)
    (directory / "brokenimport.py").write_text("import does_not_exist_xyz  # noqa\n")
    return directory


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "marker.txt"


@pytest.fixture
def env(app_dir: Path, marker: Path) -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(app_dir), str(ROOT)]),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        CLIAPP_MARKER=str(marker),
    )


@pytest.fixture
def run(env: dict[str, str]) -> Iterator[Callable[..., Server]]:
    """``run("cliapp:app", "--workers", "2", extra_env={...})`` starts ``wsframework run``."""
    servers: list[Server] = []

    def start(
        *args: str, extra_env: dict[str, str] | None = None, pass_fds: tuple[int, ...] = ()
    ) -> Server:
        server = Server(["run", *args], dict(env, **(extra_env or {})), pass_fds)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.cleanup()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wsframework", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def recv_one(url: str, **kwargs: Any) -> str | bytes:
    with connect(url, open_timeout=10, close_timeout=5, proxy=None, **kwargs) as ws:
        return ws.recv(timeout=10)


def poll(check: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)  # polling another process's state with a deadline


def events(marker: Path) -> list[str]:
    return marker.read_text().splitlines() if marker.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
