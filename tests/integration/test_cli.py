"""The command line through real subprocesses: ``python -m wsframework run|routes``.

Every server listens on ``--port 0`` (or a Unix socket) and the test reads the real address
from the startup line. Clients are the ``websockets`` package's sync client. Waits are bounded:
output lines are awaited with a deadline, and the few things only observable from outside
(a marker file, a restarted worker, reloaded code) are polled with a deadline. Every process a
test starts is stopped in the fixture's teardown (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import connect, unix_connect

from ..certs import make_certificate

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
    """A ``python -m wsframework`` subprocess whose combined output is read by a thread."""

    def __init__(
        self, args: list[str], env: dict[str, str], pass_fds: tuple[int, ...] = ()
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wsframework", *args],
            cwd=ROOT,
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


# ---------------------------------------------------------------------------- serving


def test_run_serves_echo_and_http(run: Callable[..., Server]) -> None:
    server = run("apps.echo.app:app", "--port", "0")
    scheme, port = server.started()
    assert scheme == "ws"
    with connect(f"ws://127.0.0.1:{port}/", open_timeout=10, proxy=None) as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "olleh"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.1 200 ")
    assert response.endswith(b'{"status":"ok"}')
    assert server.stop() == 0
    assert "Traceback" not in server.output
    server.wait_for(r"wsframework: stopped")


def test_factory(run: Callable[..., Server]) -> None:
    server = run("cliapp:make_app", "--factory", "--port", "0")
    _, port = server.started()
    assert recv_one(f"ws://127.0.0.1:{port}/pid") == str(server.proc.pid)
    assert server.stop() == 0


def test_root_path_is_set_on_the_app(run: Callable[..., Server]) -> None:
    server = run("cliapp:app", "--port", "0", "--root-path", "/api/")
    _, port = server.started()
    assert recv_one(f"ws://127.0.0.1:{port}/rootpath") == "'/api'"
    assert server.stop() == 0


def test_root_path_prefix_is_stripped_before_routing(run: Callable[..., Server]) -> None:
    server = run("cliapp:app", "--port", "0", "--root-path", "/api")
    _, port = server.started()
    assert recv_one(f"ws://127.0.0.1:{port}/api/rootpath") == "'/api'"
    assert recv_one(f"ws://127.0.0.1:{port}/rootpath") == "'/api'"
    assert server.stop() == 0


def test_log_level(run: Callable[..., Server]) -> None:
    debug = run("apps.echo.app:app", "--port", "0", "--log-level", "debug")
    debug.started()
    debug.wait_for(r"DEBUG wsframework: listening on")
    quiet = run("apps.echo.app:app", "--port", "0", "--log-level", "warning")
    quiet.started()
    assert debug.stop() == 0
    assert quiet.stop() == 0
    debug.wait_for(r"INFO wsframework: draining 0 connection")
    assert "INFO" not in quiet.output
    assert "DEBUG" not in quiet.output


def test_unix_socket(run: Callable[..., Server], tmp_path: Path) -> None:
    path = tmp_path / "ws.sock"
    server = run("apps.echo.app:app", "--uds", str(path))
    server.wait_for(rf"serving apps\.echo\.app:app on ws\+unix:{re.escape(str(path))} ")
    with unix_connect(str(path), "ws://localhost/", open_timeout=10) as ws:
        ws.send("unix")
        assert ws.recv(timeout=10) == "xinu"
    assert server.stop() == 0
    assert not path.exists()


def test_inherited_fd(run: Callable[..., Server]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        server = run("apps.echo.app:app", "--fd", str(sock.fileno()), pass_fds=(sock.fileno(),))
        server.wait_for(rf"serving apps\.echo\.app:app on fd {sock.fileno()} ")
    with connect(f"ws://127.0.0.1:{port}/", open_timeout=10, proxy=None) as ws:
        ws.send("fd")
        assert ws.recv(timeout=10) == "df"
    assert server.stop() == 0


def test_console_script(env: dict[str, str]) -> None:
    script = Path(sys.executable).with_name("wsframework")
    assert script.exists(), "pip install -e . installs the wsframework console script"
    result = subprocess.run(
        [str(script), "routes", "apps.echo.app:app", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert [r["path"] for r in json.loads(result.stdout)] == ["/", "/health"]


def test_tls(run: Callable[..., Server], tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    server = run(
        "apps.echo.app:app", "--port", "0", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)
    )
    scheme, port = server.started()
    assert scheme == "wss"
    context = ssl.create_default_context(cafile=str(cert))
    with connect(f"wss://127.0.0.1:{port}/", ssl=context, open_timeout=10, proxy=None) as ws:
        ws.send("secure")
        assert ws.recv(timeout=10) == "eruces"
    assert server.stop() == 0


# ---------------------------------------------------------------------------- routes


def test_routes_table(env: dict[str, str]) -> None:
    result = cli(env, "routes", "cliapp:app")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["KIND", "PATH", "NAME", "METHODS", "SUBPROTOCOLS", "CONTRACT"]
    assert lines[1].split() == ["websocket", "/pid", "pid", "-", "-", "-"]
    chat = next(line for line in lines if " /chat " in line)
    assert chat.split() == [
        "websocket",
        "/chat",
        "chat",
        "-",
        "chat.v2,",
        "chat.v1",
        "(required)",
        "-",
    ]
    chat = next(line for line in lines if " /items " in line)
    assert chat.split() == ["http", "/items", "items", "POST", "-", "-"]

    typed = cli(env, "routes", "apps.rpc.app:app")
    assert typed.returncode == 0, typed.stderr
    assert typed.stdout.splitlines()[1].split() == (
        [
            *("websocket", "/rpc", "rpc", "-", "-"),
            *("receive=Add", "|", "Echo", "send=Result", "on_invalid=reply"),
        ]
    )


def test_routes_json(env: dict[str, str]) -> None:
    result = cli(env, "routes", "apps.rpc.app:app", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "path": "/rpc",
            "name": "rpc",
            "kind": "websocket",
            "methods": [],
            "subprotocols": [],
            "subprotocol_required": False,
            "receive": "Add | Echo",
            "send": "Result",
            "on_invalid": "reply",
        }
    ]
    health = json.loads(cli(env, "routes", "apps.echo.app:app", "--json").stdout)[1]
    assert (health["kind"], health["path"], health["methods"]) == (
        "http",
        "/health",
        ["GET", "HEAD"],
    )


# ---------------------------------------------------------------------------- errors


# One error of each kind through a real process: exit status 1 and one line on stderr. Every
# message itself is checked in process: tests/cli/test_loading.py and tests/cli/test_config.py.
ERRORS = [
    (["run", "cliapp"], "import string 'cliapp' must be in the form MODULE:ATTR"),
    (
        ["run", "brokenimport:app"],
        "module 'brokenimport' failed to import: ModuleNotFoundError: No module named "
        "'does_not_exist_xyz' (",
    ),
    (["run", "cliapp:make_nothing", "--factory"], "returned an object of type NoneType"),
    (["run", "cliapp:app", "--ssl-certfile", "/nonexistent/cert.pem"], "file not found"),
    (["run", "cliapp:app", "--workers", "0"], "--workers must be at least 1"),
    (["routes", "nosuchmodule_xyz:app"], "cannot import 'nosuchmodule_xyz'"),
]


@pytest.mark.parametrize(("args", "message"), ERRORS, ids=[" ".join(a) for a, _ in ERRORS])
def test_errors_are_one_line(env: dict[str, str], args: list[str], message: str) -> None:
    result = cli(env, *args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("wsframework: error: ")
    assert message in lines[0]


def test_port_in_use(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(env, "run", "cliapp:app", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"wsframework: error: cannot listen on 127.0.0.1:{port}: address already in use"
    )


def test_startup_failure_exits_3(run: Callable[..., Server]) -> None:
    server = run("cliapp:app", "--port", "0", extra_env={"CLIAPP_FAIL_STARTUP": "1"})
    assert server.proc.wait(timeout=TIMEOUT) == 3
    server.wait_for(r"ERROR wsframework: application startup failed")
    server.wait_for(r"RuntimeError: database unreachable")


def test_signal_while_importing_stops_quietly(run: Callable[..., Server]) -> None:
    server = run("cliapp:app", "--port", "0", extra_env={"CLIAPP_IMPORT_SLEEP": "30"})
    server.wait_for(r"cliapp: importing")
    assert server.stop(signal.SIGINT) == 0
    server.wait_for(r"received SIGINT while starting: stopped")
    assert "Traceback" not in server.output


# ---------------------------------------------------------------------------- graceful drain


@pytest.mark.parametrize(
    ("signum", "options", "code"),
    [
        (signal.SIGTERM, [], 1001),
        (signal.SIGINT, [], 1001),
        (signal.SIGTERM, ["--close-code", "1012"], 1012),
    ],
    ids=["SIGTERM", "SIGINT", "SIGTERM-1012"],
)
def test_drain_on_signal(
    run: Callable[..., Server], marker: Path, signum: int, options: list[str], code: int
) -> None:
    server = run("cliapp:app", "--port", "0", *options)
    _, port = server.started()
    with connect(f"ws://127.0.0.1:{port}/burst", open_timeout=10, proxy=None) as ws:
        poll(lambda: any(e.startswith("sent") for e in events(marker)), "the burst")
        server.proc.send_signal(signum)
        received = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                received.append(ws.recv(timeout=10))
    assert server.proc.wait(timeout=TIMEOUT) == 0
    assert [m.split(":")[0] for m in received] == [str(i) for i in range(BURST)]
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code
    assert events(marker) == [f"{e} {server.proc.pid}" for e in ("startup", "sent", "shutdown")]
    assert "Traceback" not in server.output


def test_drain_gives_up_after_graceful_timeout(run: Callable[..., Server], marker: Path) -> None:
    server = run("cliapp:app", "--port", "0", "--graceful-timeout", "0.5")
    _, port = server.started()
    with connect(f"ws://127.0.0.1:{port}/stuck", open_timeout=10, proxy=None) as ws:
        poll(lambda: any(e.startswith("sent") for e in events(marker)), "the handler")
        mark = server.mark()
        server.proc.send_signal(signal.SIGTERM)
        server.wait_for(r"received SIGTERM: stopped accepting, draining 1 conn", after=mark)
        with pytest.raises(ConnectionRefusedError):
            recv_one(f"ws://127.0.0.1:{port}/pid")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert server.proc.wait(timeout=TIMEOUT) == 0
    server.wait_for(r"WARNING wsframework: 1 connection\(s\) still open after 0.5s")
    assert events(marker)[-1] == f"shutdown {server.proc.pid}"


def test_second_signal_cuts_the_drain_short(run: Callable[..., Server], marker: Path) -> None:
    server = run("cliapp:app", "--port", "0", "--graceful-timeout", "60")
    _, port = server.started()
    with connect(f"ws://127.0.0.1:{port}/stuck", open_timeout=10, proxy=None) as ws:
        poll(lambda: any(e.startswith("sent") for e in events(marker)), "the handler")
        mark = server.mark()
        server.proc.send_signal(signal.SIGTERM)
        server.wait_for(r"draining 1 connection", after=mark)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(timeout=TIMEOUT) == 0
    server.wait_for(r"received SIGINT again: stopping now", after=mark)
    assert events(marker)[-1] == f"shutdown {server.proc.pid}"


# ---------------------------------------------------------------------------- workers


def ready_workers(server: Server, count: int, after: int = 0) -> dict[int, int]:
    """Wait for ``count`` ready lines after ``after``: {worker id: pid}."""
    found: dict[int, int] = {}
    deadline = time.monotonic() + TIMEOUT
    while len(found) < count:
        remaining = max(0.0, deadline - time.monotonic())
        index, match = server.find(READY, after=after, timeout=remaining)
        found[int(match.group(1))] = int(match.group(2))
        after = index + 1
    return found


def test_workers_serve_restart_and_stop(run: Callable[..., Server], marker: Path) -> None:
    server = run("cliapp:app", "--port", "0", "--workers", "2")
    _, port = server.started()
    workers = ready_workers(server, 2)
    assert sorted(workers) == [1, 2]
    pids = set(workers.values())
    assert len(pids) == 2
    assert server.proc.pid not in pids
    assert all(alive(pid) for pid in pids)
    for _ in range(4):
        assert int(recv_one(f"ws://127.0.0.1:{port}/pid")) in pids

    mark = server.mark()
    os.kill(workers[1], signal.SIGKILL)
    server.wait_for(rf"worker 1 \(pid {workers[1]}\) died \(killed by SIGKILL\)", after=mark)
    restarted = ready_workers(server, 1, after=mark)
    assert list(restarted) == [1]
    assert restarted[1] not in pids
    pids = {restarted[1], workers[2]}
    assert int(recv_one(f"ws://127.0.0.1:{port}/pid")) in pids

    assert server.stop() == 0
    poll(lambda: not any(alive(pid) for pid in pids), "the workers to exit")
    assert sorted(e for e in events(marker) if e.startswith("shutdown")) == sorted(
        f"shutdown {pid}" for pid in pids
    )
    assert "Traceback" not in server.output


def test_workers_drain_on_sigint(run: Callable[..., Server], marker: Path) -> None:
    server = run("cliapp:app", "--port", "0", "--workers", "2", "--close-code", "1012")
    _, port = server.started()
    pids = set(ready_workers(server, 2).values())
    with connect(f"ws://127.0.0.1:{port}/burst", open_timeout=10, proxy=None) as ws:
        poll(lambda: any(e.startswith("sent") for e in events(marker)), "the burst")
        server.proc.send_signal(signal.SIGINT)
        received = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                received.append(ws.recv(timeout=10))
    assert server.proc.wait(timeout=TIMEOUT) == 0
    assert len(received) == BURST
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1012
    poll(lambda: not any(alive(pid) for pid in pids), "the workers to exit")
    assert len([e for e in events(marker) if e.startswith("shutdown")]) == 2


# ---------------------------------------------------------------------------- reload


def test_reload_restarts_on_change(run: Callable[..., Server], tmp_path: Path) -> None:
    code_dir = tmp_path / "reloading"
    code_dir.mkdir()
    module = code_dir / "reloadapp.py"
    module.write_text(RELOAD_SOURCE.format(version="one"))
    server = run(
        "reloadapp:app",
        "--port",
        "0",
        "--reload",
        "--reload-dir",
        str(code_dir),
        "--graceful-timeout",
        "2",
        extra_env={"PYTHONPATH": os.pathsep.join([str(code_dir), str(ROOT)])},
    )
    _, port = server.started()
    url = f"ws://127.0.0.1:{port}/version"
    assert recv_one(url) == "one"

    def serves(version: str) -> Callable[[], bool]:
        def check() -> bool:
            try:
                return recv_one(url) == version
            except (OSError, WebSocketException):
                return False

        return check

    module.write_text(RELOAD_SOURCE.format(version="two"))
    poll(serves("two"), "the new code", timeout=30)
    server.wait_for(r"changes detected in .*reloadapp\.py: restarting")

    mark = server.mark()
    module.write_text("raise RuntimeError('broken on purpose')\n")
    server.wait_for(r"exited \(exit status 1\): waiting for a file change", after=mark)
    module.write_text(RELOAD_SOURCE.format(version="three"))
    poll(serves("three"), "the fixed code", timeout=30)

    assert server.stop() == 0
    assert "Traceback" not in server.output
