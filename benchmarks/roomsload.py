"""Load-client side of the rooms rows (``benchmarks/run.py --scenarios rooms_...``).

The scenarios run inside ``loadclient.py`` (its ``--stdin`` request loop) against the
``wsframework-rooms`` server of ``servers.py`` (routes ``/join``, ``/pub``, ``/pubstamp``,
``/churn``).  What is timed is the *servers'* CPU (utime+stime from ``/proc``, summed over the
server processes of the scenario; the Redis server's CPU is reported beside it).

Reading 1,000 members in one asyncio process
--------------------------------------------
A member's socket is handed, after the handshake and the server's ``"J"`` (joined), to a
:class:`MemberCounter`: an ``asyncio.BufferedProtocol`` that reads into one buffer shared by
all members (no ``bytes`` per read) and counts whole frames.  Every publication of a scenario
has the same size, so a read is counted with two strided slice comparisons (C speed): no
per-frame Python.  Anything else (a control frame) falls back to a frame walk.  So the client
costs about one ``recv`` per wakeup per member, and a slow client only makes reads bigger.

The publisher keeps at most ``window`` publications in flight (``sent - delivered/members``),
so members' queues never overflow whatever the client's speed.

The latency probe
-----------------
``rooms_redis`` measures delivery latency in a separate process (``python roomsload.py
--probe``, driven over stdin/stdout): it holds the latency-measured members (``probes``, on
worker B, joined in the middle of worker B's members so they sit mid fan-out) and the paced
publisher (to worker A's ``/pubstamp``, which prepends ``time.time_ns()`` just before
``room.publish``).  Keeping them out of the process that reads the other ~1,000 members means
an event-loop iteration over 1,000 sockets does not add to the latency, and the pacing stays
even.  Latency is ``time.time_ns()`` at arrival minus the server's stamp (``publish``); the
``e2e`` figures are minus the publisher's own send stamp (client -> A -> Redis -> B -> client).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procstat import cpu_seconds, sched_cpu_seconds
from wsframes import next_frame

PROBE_SCRIPT = os.path.abspath(__file__)
OP_TEXT_FIN = 0x81
_SHARED = bytearray(1 << 18)  # every member reads into this (reads are synchronous)
_SHARED_VIEW = memoryview(_SHARED)


class MemberGone(RuntimeError):
    pass


class Counter:
    """Deliveries counted over all members; one waiter at a time (the publisher)."""

    def __init__(self) -> None:
        self.total = 0
        self.lost = 0
        self._target = 0
        self._waiter: asyncio.Future[None] | None = None

    def add(self, n: int) -> None:
        self.total += n
        if self._waiter is not None and self.total >= self._target:
            waiter, self._waiter = self._waiter, None
            if not waiter.done():
                waiter.set_result(None)

    def gone(self, why: str) -> None:
        self.lost += 1
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(MemberGone(f"a member's connection ended: {why}"))
            self._waiter = None

    async def wait_for(self, target: int) -> None:
        if self.lost:
            raise MemberGone(f"{self.lost} member connection(s) ended")
        if self.total >= target:
            return
        self._target = target
        self._waiter = asyncio.get_running_loop().create_future()
        await self._waiter


class MemberCounter(asyncio.BufferedProtocol):
    """Counts the room's publications (all ``size`` bytes of text) arriving on one member."""

    def __init__(self, counter: Counter, size: int, transport: asyncio.Transport) -> None:
        if not 0 < size < 126:
            raise ValueError("publications must be 1..125 bytes")
        self.counter = counter
        self.frame = size + 2
        self.size = size
        self.transport = transport
        self.partial = b""
        self.count = 0
        self.closing = False

    def get_buffer(self, sizehint: int) -> memoryview:
        return _SHARED_VIEW

    def buffer_updated(self, nbytes: int) -> None:
        if self.partial:
            self.feed(self.partial + _SHARED[:nbytes])
        else:
            self.feed(_SHARED_VIEW[:nbytes])

    def feed(self, data: bytes | memoryview) -> None:
        frame = self.frame
        n = len(data)
        k = n // frame
        end = k * frame
        if (
            k
            and bytes(data[0:end:frame]) == bytes((OP_TEXT_FIN,)) * k
            and bytes(data[1:end:frame]) == bytes((self.size,)) * k
        ):
            self.count += k
            self.counter.add(k)
            self.partial = bytes(data[end:])
            return
        self._walk(bytes(data))

    def _walk(self, data: bytes) -> None:
        """Frame by frame: data frames count, pings are answered, a close ends it."""
        pos, got = 0, 0
        while (found := next_frame(data, pos)) is not None:
            b0, payload, pos = found
            opcode = b0 & 0x0F
            if opcode == 0x9:  # ping: answer (masked with a zero key)
                self.transport.write(bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload)
            elif opcode == 0x8:
                self.counter.gone(f"close frame {payload[:2].hex()}")
                self.closing = True
                self.transport.abort()
                return
            elif opcode < 0x8 and b0 & 0x80:
                got += 1
        self.partial = data[pos:]
        if got:
            self.count += got
            self.counter.add(got)

    def eof_received(self) -> bool | None:
        if not self.closing:
            self.counter.gone("EOF from the server")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.counter.gone(f"connection lost ({exc!r})")


class Members:
    """Connections joined to a room and handed to :class:`MemberCounter`."""

    def __init__(self, counter: Counter, size: int) -> None:
        self.counter = counter
        self.size = size
        self.transports: list[asyncio.Transport] = []
        self.protocols: list[MemberCounter] = []
        self.conns: list[Any] = []  # kept: a StreamWriter closes its transport when collected

    async def join(
        self, conn_cls: Any, port: int, room: str, n: int, concurrency: int = 50
    ) -> None:
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                conn = await conn_cls.connect(port, True, f"/join/{room}")
                ack = await conn.recv()
                if ack != b"J":
                    raise RuntimeError(f"join: expected 'J', got {ack[:20]!r}")
                transport = conn.writer.transport
                proto = MemberCounter(self.counter, self.size, transport)
                leftover = bytes(conn.reader._buffer)  # type: ignore[attr-defined]
                transport.set_protocol(proto)
                if leftover:
                    proto.feed(leftover)
                self.transports.append(transport)  # type: ignore[arg-type]
                self.protocols.append(proto)
                self.conns.append(conn)

        await asyncio.gather(*(one() for _ in range(n)))

    def close(self) -> None:
        for p in self.protocols:
            p.closing = True
        for t in self.transports:
            t.abort()
        self.transports.clear()
        self.conns.clear()


def _sys_seconds(pid: int) -> float:
    """stime of ``pid`` (the kernel's share: for a fan-out, mostly the per-member writes)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    return int(data[data.rindex(b")") + 2 :].split()[12]) / os.sysconf("SC_CLK_TCK")


class Timer:
    """Server CPU (summed over ``pids``) and wall clock around the timed part."""

    def __init__(self, pids: list[int], extra: dict[str, int] | None = None) -> None:
        self.pids = pids
        self.extra = extra or {}

    def __enter__(self) -> Timer:
        self.sched0 = [sched_cpu_seconds(p) for p in self.pids]
        self.cpu0 = [cpu_seconds(p) for p in self.pids]
        self.sys0 = [_sys_seconds(p) for p in self.pids]
        self.extra0 = {k: cpu_seconds(p) for k, p in self.extra.items()}
        self.own0 = time.process_time()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.own = time.process_time() - self.own0
        self.cpus = [cpu_seconds(p) - c for p, c in zip(self.pids, self.cpu0, strict=True)]
        self.cpu = sum(self.cpus)
        self.sys = sum(_sys_seconds(p) - c for p, c in zip(self.pids, self.sys0, strict=True))
        self.extra_cpu = {k: cpu_seconds(p) - self.extra0[k] for k, p in self.extra.items()}
        sched = [sched_cpu_seconds(p) for p in self.pids]
        self.sched = (
            None
            if any(s is None for s in sched + self.sched0)
            else sum(s - s0 for s, s0 in zip(sched, self.sched0, strict=True))  # type: ignore[operator]
        )

    def result(self, units: float) -> dict[str, Any]:
        out = {
            "units": units,
            "cpu_s": self.cpu,
            "sched_cpu_s": self.sched,
            "wall_s": self.wall,
            "sys_cpu_s": self.sys,  # the kernel's part of cpu_s
            # the load client's own CPU: near wall_s means the client, not the server, set
            # the pace (the server CPU per unit is still right; the rate is then the client's)
            "client_cpu_s": self.own,
        }
        if len(self.cpus) > 1:
            out["cpu_s_per_server"] = self.cpus
        for k, v in self.extra_cpu.items():
            out[f"{k}_cpu_s"] = v
        return out


def _text_payload(size: int) -> bytes:
    return bytes(random.choices(range(0x61, 0x7B), k=size))


async def _publish_windowed(
    pub: Any, payload: bytes, n: int, counter: Counter, members: int, window: int, base: int
) -> None:
    """Publish ``n`` times with at most ``window`` publications not yet delivered to all."""
    sent = 0
    step = max(1, window // 4)
    while sent < n:
        batch = min(n - sent, step)
        for _ in range(batch):
            pub.send(payload)
        sent += batch
        await pub.drain()
        if sent > window:
            await counter.wait_for(base + (sent - window) * members)
    await counter.wait_for(base + n * members)


def _tag(req: dict[str, Any]) -> str:
    return f"{req.get('tag', 'r')}-{os.getpid()}-{random.getrandbits(24):06x}"


# --------------------------------------------------------------------------- #
# rooms_broadcast: one room, 1,000 members, in-memory broker                   #
# --------------------------------------------------------------------------- #


async def sc_rooms_broadcast(req: dict[str, Any], conn_cls: Any) -> dict[str, Any]:
    """``count`` 32-byte publications to a room of ``members``; unit: one delivery."""
    port, nmem, count = req["port"], req.get("members", 1000), req["count"]
    size, window = req.get("size", 32), req.get("window", 64)
    room = "bcast-" + _tag(req)
    counter = Counter()
    members = Members(counter, size)
    pub = None
    try:
        await members.join(conn_cls, port, room, nmem)
        pub = await conn_cls.connect(port, True, f"/pub/{room}")
        payload = _text_payload(size)
        await _publish_windowed(pub, payload, 10, counter, nmem, window, 0)  # warm-up
        base = counter.total
        with Timer([req["server_pid"]]) as t:
            await _publish_windowed(pub, payload, count, counter, nmem, window, base)
        res = t.result(count * nmem)
        res.update(publications=count, members=nmem)
        return res
    finally:
        if pub is not None:
            pub.abort()
        members.close()
        await asyncio.sleep(0.2)  # let the server run the leaves before the next request


# --------------------------------------------------------------------------- #
# rooms_redis: 1,000 members over two workers, latency from worker A to B      #
# --------------------------------------------------------------------------- #


def _pct(values: list[int], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    i = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[i] / 1e6  # ns -> ms


async def sc_rooms_redis(req: dict[str, Any], conn_cls: Any) -> dict[str, Any]:
    """A room of ``members`` split evenly over workers A and B; the probe process publishes
    ``count`` publications at ``rate``/s into worker A and measures latency on ``probes``
    members of worker B; every member's deliveries are counted."""
    port_a, port_b = req["ports"]
    nmem, probes, count = req.get("members", 1000), req.get("probes", 4), req["count"]
    rate, warm = req.get("rate", 1000), req.get("warmup", 100)
    room = "redis-" + _tag(req)
    size = 19 + 32  # the server's stamp + the publisher's 32 bytes
    counter = Counter()
    members = Members(counter, size)
    on_a = nmem // 2
    on_b = nmem - on_a - probes
    probe = await asyncio.create_subprocess_exec(
        sys.executable,
        PROBE_SCRIPT,
        "--probe",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=None,
    )
    assert probe.stdin is not None and probe.stdout is not None

    async def tell(line: str) -> None:
        probe.stdin.write(line.encode() + b"\n")  # type: ignore[union-attr]
        await probe.stdin.drain()  # type: ignore[union-attr]

    async def hear(expect: str | None = None) -> str:
        line = (await probe.stdout.readline()).decode().strip()  # type: ignore[union-attr]
        if not line or (expect is not None and line != expect):
            raise RuntimeError(f"latency probe: expected {expect!r}, got {line[:300]!r}")
        return line

    try:
        await asyncio.gather(
            members.join(conn_cls, port_a, room, on_a),
            members.join(conn_cls, port_b, room, on_b // 2),
        )
        cfg = dict(port_a=port_a, port_b=port_b, room=room, probes=probes, rate=rate, warmup=warm)
        await tell(json.dumps({**cfg, "count": count}))
        await hear("READY")  # the probes joined worker B after half of its members
        await members.join(conn_cls, port_b, room, on_b - on_b // 2)
        bulk = on_a + on_b
        await tell("WARM")
        await hear("WARMED")
        await counter.wait_for(warm * bulk)
        pids = req["server_pids"]
        extra = {"redis": req["redis_pid"]} if req.get("redis_pid") else {}
        with Timer(pids, extra) as t:
            await tell("GO")
            got = json.loads(await hear())
            await counter.wait_for((warm + count) * bulk)
        if "error" in got:
            raise RuntimeError(f"latency probe: {got['error']}")
        res = t.result(count * nmem)
        res.update(got)
        res.update(publications=count, members=nmem, rate=rate)
        return res
    finally:
        if probe.returncode is None:
            try:
                probe.stdin.close()
                await asyncio.wait_for(probe.wait(), 5)
            except (asyncio.TimeoutError, OSError):
                probe.kill()
                await probe.wait()
        members.close()
        await asyncio.sleep(0.3)


async def probe_main() -> None:
    """The latency probe (see the module docstring): stdin/stdout lines with the driver."""
    from loadclient import WSConn

    loop = asyncio.get_running_loop()

    async def line() -> str:
        return (await loop.run_in_executor(None, sys.stdin.readline)).strip()

    def say(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    cfg = json.loads(await line())
    room, k, rate, warm, count = (
        cfg["room"],
        cfg["probes"],
        cfg["rate"],
        cfg["warmup"],
        cfg["count"],
    )
    conns = []
    for _ in range(k):
        c = await WSConn.connect(cfg["port_b"], True, f"/join/{room}")
        if await c.recv() != b"J":
            raise RuntimeError("probe: no join ack")
        conns.append(c)
    pub = await WSConn.connect(cfg["port_a"], True, f"/pubstamp/{room}")
    say("READY")
    lat: list[int] = []
    e2e: list[int] = []
    time_ns = time.time_ns

    async def reader(conn: Any, n: int, record: bool) -> None:
        for _ in range(n):
            data = await conn.recv()
            now = time_ns()
            if record:
                lat.append(now - int(data[:19]))
                e2e.append(now - int(data[19:38]))

    async def publish(first: int, n: int) -> float:
        interval = 1.0 / rate
        t0 = time.perf_counter()
        for i in range(n):
            delay = t0 + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pub.send(f"{time_ns():019d}{first + i:012d}|".encode())
        return time.perf_counter() - t0

    if await line() != "WARM":
        return
    await asyncio.gather(publish(0, warm), *(reader(c, warm, False) for c in conns))
    say("WARMED")
    if await line() != "GO":
        return
    t0 = time.perf_counter()
    sent = await asyncio.gather(publish(warm, count), *(reader(c, count, True) for c in conns))
    wall = time.perf_counter() - t0
    say(
        json.dumps(
            {
                "latency_p50_ms": _pct(lat, 0.50),
                "latency_p99_ms": _pct(lat, 0.99),
                "latency_max_ms": _pct(lat, 1.0),
                "e2e_p50_ms": _pct(e2e, 0.50),
                "e2e_p99_ms": _pct(e2e, 0.99),
                "latency_samples": len(lat),
                "probe_wall_s": wall,
                "send_wall_s": sent[0],
                "pub_rate": count / wall,
            }
        )
    )
    for c in [*conns, pub]:
        c.abort()


# --------------------------------------------------------------------------- #
# rooms_history(_redis): publish with and without history                      #
# --------------------------------------------------------------------------- #


async def _publish_cost(req: dict[str, Any], conn_cls: Any, room: str) -> dict[str, Any]:
    """Server CPU of ``count`` publications into ``room`` (one member receives them)."""
    port, count, size, window = req["port"], req["count"], req.get("size", 32), 64
    nmem = req.get("members", 1)
    counter = Counter()
    members = Members(counter, size)
    pub = None
    try:
        await members.join(conn_cls, port, room, nmem)
        pub = await conn_cls.connect(port, True, f"/pub/{room}")
        payload = _text_payload(size)
        await _publish_windowed(pub, payload, 50, counter, nmem, window, 0)
        base = counter.total
        extra = {"redis": req["redis_pid"]} if req.get("redis_pid") else {}
        with Timer([req["server_pid"]], extra) as t:
            await _publish_windowed(pub, payload, count, counter, nmem, window, base)
        return t.result(count)
    finally:
        if pub is not None:
            pub.abort()
        members.close()
        await asyncio.sleep(0.1)


async def sc_rooms_history(req: dict[str, Any], conn_cls: Any) -> dict[str, Any]:
    """Server CPU per publication without and with ``HistoryPolicy`` (rooms ``hist-*``); the
    order alternates with ``req["round"]``; the result's own unit is the history one."""
    tag = _tag(req)
    order = ["plain", "hist"] if req.get("round", 0) % 2 == 0 else ["hist", "plain"]
    got = {kind: await _publish_cost(req, conn_cls, f"{kind}-{tag}") for kind in order}
    plain, hist = got["plain"], got["hist"]
    res = dict(hist)
    # The difference is small next to a clock tick (10 ms) over a short run: use the ns
    # schedstat figures when the kernel has them (the server has no threads that come and go
    # here), the tick ones otherwise; both are kept.
    key = "sched_cpu_s" if plain.get("sched_cpu_s") and hist.get("sched_cpu_s") else "cpu_s"
    res["cpu_source"] = key
    res["plain_us"] = plain[key] / plain["units"] * 1e6
    res["history_us"] = hist[key] / hist["units"] * 1e6
    res["plain_tick_us"] = plain["cpu_s"] / plain["units"] * 1e6
    res["history_tick_us"] = hist["cpu_s"] / hist["units"] * 1e6
    if "redis_cpu_s" in plain:
        res["redis_plain_us"] = plain["redis_cpu_s"] / plain["units"] * 1e6
        res["redis_history_us"] = hist["redis_cpu_s"] / hist["units"] * 1e6
    res["plain_wall_s"] = plain["wall_s"]
    return res


# --------------------------------------------------------------------------- #
# rooms_presence(_redis): join + leave with presence                           #
# --------------------------------------------------------------------------- #


async def sc_rooms_presence(req: dict[str, Any], conn_cls: Any) -> dict[str, Any]:
    """``count`` join+leave cycles (with presence) by ``churners`` connections in a room that
    has ``residents`` members; unit: one join + leave (+ the two command/ack round trips)."""
    port, count = req["port"], req["count"]
    nres, nchurn = req.get("residents", 100), req.get("churners", 10)
    room = "pres-" + _tag(req)
    members = Members(Counter(), 1)
    churners: list[Any] = []
    try:
        await members.join(conn_cls, port, room, nres)
        churners = [await conn_cls.connect(port, True, f"/churn/{room}") for _ in range(nchurn)]

        async def cycles(conn: Any, n: int) -> None:
            for _ in range(n):
                conn.send(b"j")
                if await conn.recv() != b"J":
                    raise RuntimeError("churn: expected 'J'")
                conn.send(b"l")
                if await conn.recv() != b"L":
                    raise RuntimeError("churn: expected 'L'")

        await asyncio.gather(*(cycles(c, 5) for c in churners))
        per = max(1, count // nchurn)
        extra = {"redis": req["redis_pid"]} if req.get("redis_pid") else {}
        with Timer([req["server_pid"]], extra) as t:
            await asyncio.gather(*(cycles(c, per) for c in churners))
        return t.result(per * nchurn)
    finally:
        for c in churners:
            c.abort()
        members.close()
        await asyncio.sleep(0.2)


SCENARIOS = {
    "rooms_broadcast": sc_rooms_broadcast,
    "rooms_redis": sc_rooms_redis,
    "rooms_history": sc_rooms_history,
    "rooms_presence": sc_rooms_presence,
}


if __name__ == "__main__":
    if sys.argv[1:] == ["--probe"]:
        asyncio.run(probe_main())
    else:
        sys.exit("usage: roomsload.py --probe (driven by loadclient.py)")
