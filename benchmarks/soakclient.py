"""A client process of ``benchmarks/soak.py``: thousands of WebSocket connections in one asyncio
loop, driven by JSON lines on stdin (one command a line, one JSON reply a line on stdout).

Each connection is an :class:`asyncio.Protocol` speaking a hand-rolled RFC 6455 client (like
``loadclient.py``: no extensions offered, masked frames), with no task of its own, so one
process holds 10,000+ connections cheaply. Connections are spread over the source addresses
given (127.0.0.2, 127.0.0.3, ...): each has its own ~28,000 ephemeral ports.

Commands (``{"cmd": ...}``):

* ``open``: ``port``, ``count``, ``addrs``, ``concurrency``: open ``count`` connections to
  ``/soak`` (a failed connect is retried, at most 3 times); reply with the count opened, the
  retries and the handshake times' p50/p99.
* ``exchange``: ``seconds``, ``messages``: every connection sends ``messages`` text messages,
  spread evenly over ``seconds`` for all connections together, and checks that each comes back
  (in order, unchanged); then waits up to ``grace`` seconds for the last echoes. Reply: sent,
  echoed, lost (sent - echoed), mismatched, connections that ended early.
* ``broadcast``: ``timeout``: wait until every connection has a ``B<ns>`` message (the soak
  app's broadcast); reply with how many did and each one's arrival minus the stamp, in ns
  (CLOCK_MONOTONIC: one clock for all processes).
* ``close``: ``timeout``: every connection sends a close frame (1000) and waits for the server's
  close frame and the end of the TCP connection; reply with the count closed cleanly, the
  close codes seen, and the time taken.
* ``exit``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import sys
import time
from collections import Counter, deque
from typing import Any

from wsframes import next_frame

HOST = "127.0.0.1"
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (payload under 126 bytes)."""
    mask = os.urandom(4)
    key = int.from_bytes((mask * (len(payload) // 4 + 1))[: len(payload)], "big")
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(len(payload), "big")
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked


def request(port: int, path: str = "/soak") -> bytes:
    key = base64.b64encode(os.urandom(16))
    return (
        b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + f"{HOST}:{port}".encode() + b"\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )


class Swarm:
    """What every connection of the process reports into."""

    def __init__(self) -> None:
        self.conns: list[Conn] = []
        self.ended_early = 0
        self.echoed = 0
        self.mismatched = 0
        self.sent = 0
        self.broadcasts = 0
        self.closed = 0
        self.codes: Counter[str] = Counter()
        self.changed = asyncio.Event()  # set on every echo, broadcast and close

    def poke(self) -> None:
        self.changed.set()

    async def until(self, done: Any, timeout: float) -> bool:
        """Wait until ``done()`` or ``timeout`` s; whether it is done."""
        deadline = time.monotonic() + timeout
        while not done():
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:  # not the builtin one before 3.11
                return bool(done())
        return True


class Conn(asyncio.Protocol):
    """One WebSocket connection: handshake, echo bookkeeping, the broadcast, the close."""

    def __init__(self, swarm: Swarm, port: int, index: int) -> None:
        self.swarm = swarm
        self.port = port
        self.index = index
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = asyncio.get_running_loop().create_future()
        self.pending: deque[bytes] = deque()
        self.seq = 0
        self.broadcast_ns = 0
        self.closing = False
        self.ended = False
        self.close_code = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(request(self.port))

    def send(self) -> None:
        assert self.transport is not None
        payload = f"m{self.index}:{self.seq}".encode()
        self.seq += 1
        self.pending.append(payload)
        self.transport.write(frame(OP_TEXT, payload))
        self.swarm.sent += 1

    def close(self) -> None:
        assert self.transport is not None
        if not self.closing and not self.ended:
            self.closing = True
            self.transport.write(frame(OP_CLOSE, struct.pack("!H", 1000)))

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        data = self.buffer + data if self.buffer else data
        if not self.upgraded.done():
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = data
                return
            status = data[: data.find(b"\r\n")]
            if not status.startswith(b"HTTP/1.1 101 "):
                self.upgraded.set_exception(ConnectionError(f"refused: {status!r}"))
                assert self.transport is not None
                self.transport.abort()
                return
            self.upgraded.set_result(None)
            data = data[end + 4 :]
        pos = 0
        while (found := next_frame(data, pos)) is not None:
            b0, payload, pos = found
            self.on_frame(b0 & 0x0F, payload, now)
        self.buffer = data[pos:]

    def on_frame(self, opcode: int, payload: bytes, now: int) -> None:
        swarm = self.swarm
        if opcode == OP_TEXT and payload[:1] == b"B":
            if not self.broadcast_ns:
                self.broadcast_ns = now - int(payload[1:])
                swarm.broadcasts += 1
                swarm.poke()
        elif opcode == OP_TEXT:
            if self.pending and self.pending.popleft() == payload:
                swarm.echoed += 1
            else:
                swarm.mismatched += 1
            swarm.poke()
        elif opcode == OP_PING:
            assert self.transport is not None
            self.transport.write(frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            code = str(struct.unpack("!H", payload[:2])[0]) if len(payload) >= 2 else "none"
            self.close_code = code
            if not self.closing:  # the server closed first: answer, and count it as ended
                self.closing = True
                assert self.transport is not None
                self.transport.write(frame(OP_CLOSE, payload[:2]))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError(f"closed during the handshake ({exc!r})"))
        if self.ended:
            return
        self.ended = True
        swarm = self.swarm
        if self.closing and self.close_code:
            swarm.codes[self.close_code] += 1
        else:
            swarm.codes["no close frame"] += 1
        if not self.closing or self.close_code != "1000":
            swarm.ended_early += 1
        swarm.closed += 1
        swarm.poke()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


async def cmd_open(swarm: Swarm, req: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    port, addrs = req["port"], req["addrs"]
    sem = asyncio.Semaphore(req.get("concurrency", 64))
    times: list[float] = []
    retries, errors = 0, Counter[str]()

    async def one(index: int) -> None:
        nonlocal retries
        for attempt in range(4):
            async with sem:
                started = time.perf_counter()
                try:
                    _, conn = await loop.create_connection(
                        lambda: Conn(swarm, port, index),
                        HOST,
                        port,
                        local_addr=(addrs[index % len(addrs)], 0),
                    )
                    await asyncio.wait_for(conn.upgraded, 60)
                except (OSError, ConnectionError, asyncio.TimeoutError) as exc:
                    errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                    if attempt < 3:
                        retries += 1
                        continue
                    return
                times.append(time.perf_counter() - started)
                swarm.conns.append(conn)
                return

    base = req.get("first_index", 0)
    started = time.perf_counter()
    await asyncio.gather(*(one(base + i) for i in range(req["count"])))
    return {
        "opened": len(swarm.conns),
        "retries": retries,
        "errors": dict(errors.most_common(5)),
        "seconds": time.perf_counter() - started,
        "handshake_p50_ms": percentile(times, 0.5) * 1000,
        "handshake_p99_ms": percentile(times, 0.99) * 1000,
        "handshake_max_ms": max(times, default=0.0) * 1000,
    }


async def cmd_exchange(swarm: Swarm, req: dict[str, Any]) -> dict[str, Any]:
    conns = [c for c in swarm.conns if not c.ended]
    total = len(conns) * req["messages"]
    seconds = req["seconds"]
    sent0, echoed0, mismatched0 = swarm.sent, swarm.echoed, swarm.mismatched
    started = time.monotonic()
    done = 0
    while done < total:  # ends: `done` reaches `total` once `seconds` have passed
        due = (
            total
            if seconds <= 0
            else min(total, int(total * (time.monotonic() - started) / seconds) + 1)
        )
        while done < due:
            conn = conns[done % len(conns)]
            if not conn.ended:
                conn.send()
            done += 1
        await asyncio.sleep(0.01)
    sent = swarm.sent - sent0
    await swarm.until(
        lambda: swarm.echoed - echoed0 + swarm.mismatched - mismatched0 >= sent,
        req.get("grace", 30),
    )
    echoed = swarm.echoed - echoed0
    return {
        "sent": sent,
        "echoed": echoed,
        "lost": sent - echoed,
        "mismatched": swarm.mismatched - mismatched0,
        "ended_early": swarm.ended_early,
        "seconds": time.monotonic() - started,
    }


async def cmd_broadcast(swarm: Swarm, req: dict[str, Any]) -> dict[str, Any]:
    expected = len(swarm.conns)
    await swarm.until(lambda: swarm.broadcasts >= expected, req.get("timeout", 60))
    return {
        "receivers": swarm.broadcasts,
        "expected": expected,
        "latencies_ns": [c.broadcast_ns for c in swarm.conns if c.broadcast_ns],
    }


async def cmd_close(swarm: Swarm, req: dict[str, Any]) -> dict[str, Any]:
    started = time.monotonic()
    ended_before = swarm.ended_early
    for conn in swarm.conns:
        conn.close()
    finished = await swarm.until(lambda: swarm.closed >= len(swarm.conns), req.get("timeout", 120))
    if not finished:
        for conn in swarm.conns:
            if not conn.ended and conn.transport is not None:
                conn.transport.abort()
    return {
        "closed": swarm.closed,
        "clean": swarm.codes.get("1000", 0),
        "codes": dict(swarm.codes),
        "ended_early_during_close": swarm.ended_early - ended_before,
        "finished": finished,
        "seconds": time.monotonic() - started,
    }


COMMANDS = {
    "open": cmd_open,
    "exchange": cmd_exchange,
    "broadcast": cmd_broadcast,
    "close": cmd_close,
}


async def main() -> None:
    loop = asyncio.get_running_loop()
    swarm = Swarm()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        req = json.loads(line)
        if req["cmd"] == "exit":
            return
        reply = await COMMANDS[req["cmd"]](swarm, req)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
