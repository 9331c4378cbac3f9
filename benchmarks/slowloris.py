"""Slowloris measurement: a normal client's handshake latency while ``wsframework run`` holds
1,000 half-open handshakes and 1,000 idle WebSocket connections (``make slowloris``; not in CI).

    python benchmarks/slowloris.py                      # 1,000 + 1,000, 30 s of probes
    python benchmarks/slowloris.py --half-open 200 --idle 200 --seconds 10 --handshake-timeout 2

What it does:

1. Raises this process's file limit (RLIMIT_NOFILE) to its hard limit; the server, started as
   a child (``python -m wsframework run apps.echo.app:app --port 0``), inherits it.
2. Opens ``--idle`` WebSocket connections (a complete handshake, then silence) and ``--half-open``
   slowloris sockets: each sends the request line and then one header line every few seconds,
   never the blank line that ends the request; when the server drops one (at its handshake
   timeout) it connects again at once, so the count stays up for the whole run.
3. Meanwhile a probe makes a fresh connection every ``--interval`` seconds and times the TCP
   connect plus the opening handshake (until the ``101`` status line and headers are in).
4. Prints the probe's p50 / p99 / max, how often the server dropped a slowloris socket and how
   many idle connections it still holds at the end, and exits 1 if the p99 is not below the
   handshake timeout.

The client side is one Trio process with raw sockets (no WebSocket library), so the figures are
the server's: both processes share this machine's CPUs.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[1]
STARTUP = re.compile(r"serving \S+ on ws://127\.0\.0\.1:(\d+)")


@dataclass
class Counts:
    half_open_now: int = 0
    idle_now: int = 0
    dropped: int = 0
    probes: list[float] = field(default_factory=list)
    failed_probes: int = 0
    target: int = 0
    up: trio.Event = field(default_factory=trio.Event)

    def opened(self) -> None:
        if self.half_open_now + self.idle_now >= self.target:
            self.up.set()


def raise_file_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < needed:
        sys.exit(f"slowloris: the file limit ({hard}) is below the {needed} sockets needed")
    return hard


def request(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def handshake(port: int) -> trio.SocketStream:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(request(port))
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = await stream.receive_some(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection during the handshake")
        answer += chunk
    if not answer.startswith(b"HTTP/1.1 101 "):
        raise ConnectionError(f"refused: {answer.splitlines()[0]!r}")
    return stream


async def idle(port: int, counts: Counts, ready: trio.Semaphore) -> None:
    async with ready:
        stream = await handshake(port)
    counts.idle_now += 1
    counts.opened()
    async with stream:
        data = await stream.receive_some(4096)  # nothing comes unless the server closes
        if not data:
            counts.idle_now -= 1


async def slowloris(port: int, counts: Counts, ready: trio.Semaphore) -> None:
    while True:
        async with ready:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
        counts.half_open_now += 1
        counts.opened()
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            try:
                n = 0
                while True:
                    with trio.move_on_after(3):
                        if not await stream.receive_some(4096):
                            break  # dropped by the server
                    await stream.send_all(f"X-Slow-{n}: {n}\r\n".encode())
                    n += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
        counts.half_open_now -= 1
        counts.dropped += 1


async def probe(port: int, counts: Counts, seconds: float, interval: float) -> None:
    deadline = trio.current_time() + seconds
    while trio.current_time() < deadline:
        started = time.perf_counter()
        try:
            with trio.fail_after(60):
                stream = await handshake(port)
        except (OSError, ConnectionError, trio.TooSlowError):
            counts.failed_probes += 1
        else:
            counts.probes.append(time.perf_counter() - started)
            await stream.aclose()
        await trio.sleep(interval)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(args: argparse.Namespace, port: int) -> Counts:
    counts = Counts(target=args.idle + args.half_open)
    ready = trio.Semaphore(64)  # connections being opened at once
    async with trio.open_nursery() as nursery:
        for _ in range(args.idle):
            nursery.start_soon(idle, port, counts, ready)
        for _ in range(args.half_open):
            nursery.start_soon(slowloris, port, counts, ready)
        with trio.fail_after(120):
            await counts.up.wait()
        print(
            f"slowloris: holding {counts.half_open_now} half-open handshakes and "
            f"{counts.idle_now} idle connections; probing for {args.seconds:g} s",
            flush=True,
        )
        await probe(port, counts, args.seconds, args.interval)
        nursery.cancel_scope.cancel()
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--half-open", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0, help="probing time (30)")
    parser.add_argument("--interval", type=float, default=0.1, help="between probes (0.1)")
    parser.add_argument("--handshake-timeout", type=float, default=10.0, help="the server's (10)")
    args = parser.parse_args()
    raise_file_limit(2 * (args.half_open + args.idle) + 200)
    command = [sys.executable, "-m", "wsframework", "run", "apps.echo.app:app", "--port", "0"]
    command += ["--handshake-timeout", str(args.handshake_timeout), "--log-level", "warning"]
    server = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        port = 0
        for line in server.stderr:
            match = STARTUP.search(line)
            if match:
                port = int(match.group(1))
                break
        if not port:
            sys.exit("slowloris: the server did not start")
        counts = trio.run(measure, args, port)
    finally:
        server.terminate()
        server.wait(timeout=30)
    probes = counts.probes
    if not probes:
        sys.exit("slowloris: no probe completed")
    p50, p99 = statistics.median(probes), percentile(probes, 0.99)
    print(
        f"slowloris: {len(probes)} probe handshakes ({counts.failed_probes} failed): "
        f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, max {max(probes) * 1000:.2f} ms; "
        f"the server dropped {counts.dropped} stalled handshakes; "
        f"{counts.idle_now} idle connections still open"
    )
    ok = p99 < args.handshake_timeout and counts.failed_probes == 0
    print(
        f"slowloris: {'ok' if ok else 'FAILED'}: p99 below the {args.handshake_timeout:g} s timeout"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
