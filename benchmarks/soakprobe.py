"""Small blocking helpers of ``benchmarks/soak.py``: the handshake probe and HTTP calls."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import threading
import time
from typing import Any

from soakclient import HOST, OP_CLOSE, OP_TEXT, frame, percentile, request

__all__ = ["Control", "Probe", "free_port", "http_json", "percentile", "wait_for_http"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def http_json(port: int, method: str, path: str, timeout: float = 60) -> dict[str, Any]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path)
        answer = conn.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {answer.status}: {body[:200]!r}")
        result: dict[str, Any] = json.loads(body)
        return result
    finally:
        conn.close()


def wait_for_http(port: int, path: str, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """Until ``GET path`` answers; raise if ``proc`` exits first or after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited early with {proc.returncode}")
        try:
            http_json(port, "GET", path, timeout=5)
            return
        except (OSError, RuntimeError):
            time.sleep(0.1)  # polling another process's startup, with a deadline
    raise RuntimeError(f"the server did not answer {path} within {timeout} s")


class Control:
    """One WebSocket connection to ``/soak/control``, for the whole run: ``ask("stats")``."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=120)
        self.sock.sendall(request(port, "/soak/control"))
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101 "):
            raise ConnectionError(f"refused: {head.splitlines()[0]!r}")

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the control connection")
        return chunk

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self.buffer += self._recv()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def ask(self, command: str) -> dict[str, Any]:
        self.sock.sendall(frame(OP_TEXT, command.encode()))
        while True:
            b0, b1 = self._take(2)
            length = b1 & 0x7F
            if length == 126:
                length = int.from_bytes(self._take(2), "big")
            elif length == 127:
                length = int.from_bytes(self._take(8), "big")
            payload = self._take(length)
            if b0 & 0x0F == OP_TEXT:
                answer: dict[str, Any] = json.loads(payload)
                return answer

    def close(self) -> None:
        try:
            self.sock.sendall(frame(OP_CLOSE, b"\x03\xe8"))
        except OSError:
            pass
        self.sock.close()


class Probe:
    """Fresh handshakes to ``/soak`` from 127.0.0.1, timed: TCP connect until the ``101``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.times: list[float] = []
        self.failed = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def once(self) -> None:
        started = time.perf_counter()
        try:
            with socket.create_connection((HOST, self.port), timeout=30) as sock:
                sock.sendall(request(self.port))
                answer = b""
                while b"\r\n\r\n" not in answer:
                    chunk = sock.recv(4096)
                    if not chunk:
                        raise ConnectionError("closed during the handshake")
                    answer += chunk
                if not answer.startswith(b"HTTP/1.1 101 "):
                    raise ConnectionError(f"refused: {answer.splitlines()[0]!r}")
                self.times.append(time.perf_counter() - started)
                sock.sendall(frame(OP_CLOSE, b"\x03\xe8"))
                while sock.recv(4096):  # the server's close frame, then EOF
                    pass
        except (OSError, ConnectionError) as exc:
            self.failed += 1
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.once()

    def start(self, interval: float) -> None:
        self.times.clear()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
