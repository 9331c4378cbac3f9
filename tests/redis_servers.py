"""Real Redis servers for the tests: ``redis-server`` and ``redis-sentinel`` on loopback ports.

Each server runs in its own temporary directory without persistence (``--save ''
--appendonly no``), logs to its stdout, and is known to be ready when its log says so (a reader
thread watches the log; every wait is bounded). A server can be stopped and started again on
the same port, and is terminated by its PID at teardown.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

READY_TIMEOUT = 10.0
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_SENTINEL = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"


def free_port() -> int:
    """A loopback TCP port nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_redis() -> None:
    """Fail the test, saying what to install, when the Redis binaries are missing (.ci/run
    installs them)."""
    if not Path(REDIS_SERVER).exists():
        pytest.fail("redis-server is not installed: apt-get install redis-server redis-sentinel")


class LogWatcher:
    """Drains a process's stdout in a thread, so that a test can wait for a line."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._done = False
        self._thread = threading.Thread(target=self._drain, args=(process,), daemon=True)
        self._thread.start()

    def _drain(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            with self._changed:
                self.lines.append(raw.decode(errors="replace").rstrip())
                self._changed.notify_all()
        with self._changed:
            self._done = True
            self._changed.notify_all()

    def wait_for(self, text: str, *, start: int = 0, timeout: float = READY_TIMEOUT) -> None:
        """Block until a line from ``start`` on contains ``text`` (RuntimeError otherwise)."""

        def seen() -> bool:
            return self._done or any(text in line for line in self.lines[start:])

        with self._changed:
            self._changed.wait_for(seen, timeout)
            if not any(text in line for line in self.lines[start:]):
                log = "\n".join(self.lines[-20:])
                raise RuntimeError(f"no {text!r} in the log within {timeout} s:\n{log}")


class RedisProcess:
    """One ``redis-server`` (or, with ``sentinel_of``, a ``redis-sentinel``) on ``port``."""

    def __init__(self, directory: Path, *, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log: LogWatcher | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            "--logfile",
            "",
        ]

    ready_line = "Ready to accept connections"

    def start(self) -> None:
        """Start the server and return once its log says it accepts connections."""
        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.log = LogWatcher(self.process)
        try:
            self.log.wait_for(self.ready_line)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate the server (by its PID) and wait for it to exit."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(READY_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(READY_TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()

    def restart(self) -> None:
        """Stop, then start again on the same port: an empty server (no persistence)."""
        self.stop()
        self.start()


class SentinelProcess(RedisProcess):
    """A ``redis-sentinel`` monitoring ``master`` as ``service`` (quorum 1)."""

    def __init__(self, directory: Path, master: RedisProcess, service: str = "mymaster") -> None:
        super().__init__(directory)
        self.master = master
        self.service = service
        self.ready_line = f"+monitor master {service}"

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.port}/{self.service}/0"

    def command(self) -> list[str]:
        config = self.directory / "sentinel.conf"
        config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.directory}\n"
            'logfile ""\n'
            f"sentinel monitor {self.service} 127.0.0.1 {self.master.port} 1\n"
            f"sentinel down-after-milliseconds {self.service} 5000\n"
        )
        return [REDIS_SENTINEL, str(config)]


@contextmanager
def running_redis(directory: Path) -> Iterator[RedisProcess]:
    """A started ``redis-server``, terminated on exit."""
    require_redis()
    server = RedisProcess(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def running_sentinel(directory: Path) -> Iterator[SentinelProcess]:
    """A master ``redis-server`` and one ``redis-sentinel`` watching it, both terminated on
    exit."""
    require_redis()
    (directory / "master").mkdir()
    (directory / "sentinel").mkdir()
    with running_redis(directory / "master") as master:
        sentinel = SentinelProcess(directory / "sentinel", master)
        sentinel.start()
        try:
            yield sentinel
        finally:
            sentinel.stop()
