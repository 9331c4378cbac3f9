"""Common load client: one implementation used against every server.

It speaks two protocols over asyncio streams:

* ``ws``  -- a minimal hand-rolled RFC 6455 client (HTTP/1.1 upgrade, masked
  frames, no extensions offered, so permessage-deflate is never negotiated).
  The same code drives every WebSocket server, so differences are the server's.
  The ``deflate`` scenario uses ``DeflateConn`` instead: it offers
  permessage-deflate and compresses with zlib (context takeover both ways).
* ``raw`` -- 4-byte big-endian length prefix + payload.

The client measures the *server's* CPU time (utime+stime from
``/proc/<server_pid>/stat``) right before and right after the timed part of a
scenario; connection setup/teardown is outside the timed part except in the
``handshake`` scenario where it is the thing being measured.

Modes::

    # one-shot (debugging)
    python benchmarks/loadclient.py --proto ws --port P --server-pid PID \
        --scenario pingpong --count 2000
    # driven by run.py: one JSON request per stdin line, one JSON reply per line
    python benchmarks/loadclient.py --stdin
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import struct
import sys
import time
import traceback
import zlib
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procstat import cpu_seconds, rss_bytes, sched_cpu_seconds
from servers import HOST, raise_nofile_limit

try:  # C masking from websockets (client-side cost only; same for all servers)
    from websockets.speedups import apply_mask as _c_apply_mask
except Exception:  # pragma: no cover
    _c_apply_mask = None

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def apply_mask(data: bytes, mask: bytes) -> bytes:
    if _c_apply_mask is not None:
        return _c_apply_mask(data, mask)
    n = len(data)
    if n == 0:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


class Closed(Exception):
    pass


async def _upgrade(
    port: int, path: str, extra: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[bytes, bytes]]:
    """Open a connection and do the HTTP/1.1 upgrade (``extra``: more request header lines,
    each ending in CRLF); return the streams and the 101 response's headers (lower-case
    names)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    key = base64.b64encode(os.urandom(16))
    writer.write(
        b"GET " + path.encode() + b" HTTP/1.1\r\n"
        b"Host: " + f"{HOST}:{port}".encode() + b"\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\n" + extra + b"\r\n"
    )
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if b" 101 " not in lines[0] + b" ":
        raise RuntimeError(f"handshake failed: {lines[0]!r}")
    expected = base64.b64encode(hashlib.sha1(key + GUID).digest())
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.strip().lower()] = v.strip()
    if headers.get(b"sec-websocket-accept") != expected:
        raise RuntimeError("bad Sec-WebSocket-Accept")
    return reader, writer, headers


class WSConn:
    __slots__ = ("_close_sent", "opcode", "reader", "rsv1", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, text: bool):
        self.reader = reader
        self.writer = writer
        self.opcode = OP_TEXT if text else OP_BINARY
        self._close_sent = False
        self.rsv1 = False  # of the last message recv() returned (compressed, with deflate)

    @classmethod
    async def connect(cls, port: int, text: bool = False, path: str = "/") -> WSConn:
        reader, writer, headers = await _upgrade(port, path, b"")
        if b"sec-websocket-extensions" in headers:
            raise RuntimeError("server negotiated an extension we did not offer")
        return cls(reader, writer, text)

    def _frame(self, opcode: int, payload: bytes, rsv: int = 0) -> bytes:
        n, b0 = len(payload), 0x80 | rsv | opcode
        if n < 126:
            head = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, 0xFE, n)
        else:
            head = struct.pack("!BBQ", b0, 0xFF, n)
        mask = random.getrandbits(32).to_bytes(4, "big")
        return head + mask + apply_mask(payload, mask)

    def send(self, payload: bytes) -> None:
        self.writer.write(self._frame(self.opcode, payload))

    async def recv(self) -> bytes:
        parts: list[bytes] = []
        readexactly = self.reader.readexactly
        while True:
            b0, b1 = await readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await readexactly(8))
            if b1 & 0x80:  # servers must not mask, but be lenient
                mask = await readexactly(4)
                payload = apply_mask(await readexactly(n), mask)
            else:
                payload = await readexactly(n) if n else b""
            opcode = b0 & 0x0F
            if opcode >= 0x8:
                if opcode == OP_PING:
                    self.writer.write(self._frame(OP_PONG, payload))
                elif opcode == OP_CLOSE:
                    if not self._close_sent:
                        self._close_sent = True
                        self.writer.write(self._frame(OP_CLOSE, payload[:2]))
                    raise Closed(payload[:2])
                continue
            if not parts:
                self.rsv1 = bool(b0 & 0x40)
            parts.append(payload)
            if b0 & 0x80:
                return parts[0] if len(parts) == 1 else b"".join(parts)

    async def drain(self) -> None:
        await self.writer.drain()

    async def close(self) -> None:
        """Client-initiated closing handshake; wait for the server's close + EOF."""
        if not self._close_sent:
            self._close_sent = True
            self.writer.write(self._frame(OP_CLOSE, struct.pack("!H", 1000)))
        try:
            while True:
                await self.recv()
        except (Closed, asyncio.IncompleteReadError, ConnectionError):
            pass
        try:
            await self.reader.read()  # until EOF: server closes TCP first
        except ConnectionError:
            pass
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass

    def abort(self) -> None:
        self.writer.transport.abort()


class RawConn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, text: bool = False) -> RawConn:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    def send(self, payload: bytes) -> None:
        self.writer.write(len(payload).to_bytes(4, "big") + payload)

    async def recv(self) -> bytes:
        head = await self.reader.readexactly(4)
        return await self.reader.readexactly(int.from_bytes(head, "big"))

    async def drain(self) -> None:
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.write_eof()
        await self.reader.read()  # until the server closes
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass

    def abort(self) -> None:
        self.writer.transport.abort()


# --------------------------------------------------------------------------- #
# permessage-deflate (the ``deflate`` row)                                    #
# --------------------------------------------------------------------------- #

#: What the deflate row's client offers: context takeover on both sides (as browsers do).
DEFLATE_OFFER = b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
SYNC_TAIL = b"\x00\x00\xff\xff"  # ends every Z_SYNC_FLUSH; not sent (RFC 7692 7.2.1)
# fmt: off
_NAMES = (
    "ann", "bob", "carla", "dmitri", "eve", "farid", "grace", "hiro", "ines", "jamal", "kofi",
    "lena", "mateo", "nadia", "oscar", "priya", "quinn", "rosa", "sven", "tariq", "uma",
    "viktor", "wen", "xavier", "yusuf", "zoe",
)
_TAGS = (
    "admin", "beta", "billing", "eu", "us", "apac", "mobile", "web", "ios", "android", "trial",
    "vip", "legacy", "api",
)
_WORDS = (
    "the", "a", "order", "shipped", "payment", "received", "invoice", "pending", "customer",
    "account", "update", "status", "delivery", "delayed", "warehouse", "item", "items",
    "refund", "approved", "request", "review", "new", "price", "total", "discount", "applied",
    "cart", "checkout", "session", "expired", "token", "renewed", "user", "profile", "changed",
    "address", "email", "verified", "phone", "notification", "sent", "read", "unread",
    "message", "thread", "reply",
)
# fmt: on


def _json_record(rng: random.Random, ident: int) -> dict[str, Any]:
    name = rng.choice(_NAMES)
    return {
        "id": ident,
        "user": f"{name}{rng.randrange(1000)}",
        "email": f"{name}.{rng.randrange(10_000)}@example.{rng.choice(('com', 'org', 'net'))}",
        "score": round(rng.uniform(0, 1000), 3),
        "active": rng.random() < 0.7,
        "tags": rng.sample(_TAGS, rng.randint(1, 4)),
        "created": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
        f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z",
        "location": {
            "lat": round(rng.uniform(-90, 90), 5),
            "lon": round(rng.uniform(-180, 180), 5),
        },
        "text": " ".join(rng.choices(_WORDS, k=rng.randint(4, 16))),
    }


def json_message(rng: random.Random, size: int, first_id: int) -> bytes:
    """A JSON array of records (repeated keys, varied values) of exactly ``size`` bytes: whole
    records while they fit, then one ``{"id":..,"text":..}`` whose text fills the rest."""
    records: list[str] = []
    used = 2  # the brackets
    while True:
        rec = json.dumps(_json_record(rng, first_id + len(records)), separators=(",", ":"))
        if used + len(rec) + 1 > size - 40:  # leave room for the filler record
            break
        records.append(rec)
        used += len(rec) + 1
    skeleton = '{"id":%d,"text":"%s"}'
    ident = first_id + len(records)
    room = size - used - len(skeleton % (ident, ""))
    filler = " ".join(rng.choices(_WORDS, k=room // 2 + 1))[:room]
    records.append(skeleton % (ident, filler))
    data = ("[" + ",".join(records) + "]").encode()
    assert len(data) == size, (len(data), size)
    return data


def json_messages(count: int, size: int, seed: int) -> list[bytes]:
    """``count`` distinct messages, the same bytes for every server (seeded)."""
    rng = random.Random(seed)
    return [json_message(rng, size, i * 1000) for i in range(count)]


class DeflateError(RuntimeError):
    """The server did not negotiate, or did not use, permessage-deflate as the row needs."""


def _accepted_deflate(value: str) -> tuple[int, bool]:
    """The client compressor's window bits and whether it resets per message (the server's
    ``client_no_context_takeover``), from the 101's ``Sec-WebSocket-Extensions``."""
    if "," in value:
        raise DeflateError(f"the server accepted more than one extension: {value!r}")
    name, *params = (part.strip() for part in value.split(";"))
    if name.lower() != "permessage-deflate":
        raise DeflateError(f"the server accepted {name!r}, not permessage-deflate")
    bits, reset = 15, False
    for param in params:
        key, _, val = (x.strip().strip('"') for x in param.partition("="))
        if key == "client_no_context_takeover":
            reset = True
        elif key == "client_max_window_bits":
            bits = int(val) if val else 15
            if not 9 <= bits <= 15:
                raise DeflateError(f"client_max_window_bits={val} is not something zlib does")
        elif key not in ("server_no_context_takeover", "server_max_window_bits"):
            raise DeflateError(f"the server's permessage-deflate has an unknown {key!r}")
    return bits, reset


class DeflateConn(WSConn):
    """A client that offers permessage-deflate and compresses every message it sends.

    One ``zlib`` compressor and one decompressor (raw deflate) for the whole connection:
    context takeover, unless the server's answer asks the client to reset.  Counts what went
    over the wire, and the server's messages that came back uncompressed (RSV1 clear)."""

    __slots__ = (
        "_bits",
        "_compressor",
        "_decompressor",
        "_reset",
        "extension",
        "plain_echoes",
        "received_raw",
        "received_wire",
        "sent_raw",
        "sent_wire",
    )

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, extension: str
    ) -> None:
        super().__init__(reader, writer, text=True)
        self.extension = extension
        self._bits, self._reset = _accepted_deflate(extension)
        self._compressor = zlib.compressobj(wbits=-self._bits)
        self._decompressor = zlib.decompressobj(wbits=-15)
        self.sent_raw = self.sent_wire = self.received_raw = self.received_wire = 0
        self.plain_echoes = 0

    @classmethod
    async def connect(cls, port: int, text: bool = True, path: str = "/") -> DeflateConn:
        reader, writer, headers = await _upgrade(port, path, DEFLATE_OFFER)
        accepted = headers.get(b"sec-websocket-extensions")
        if accepted is None:
            writer.transport.abort()
            raise DeflateError(
                "the server's 101 response did not accept permessage-deflate (no "
                "Sec-WebSocket-Extensions header): this row would measure uncompressed traffic"
            )
        try:
            return cls(reader, writer, accepted.decode("latin-1"))
        except DeflateError:
            writer.transport.abort()
            raise

    def send(self, payload: bytes) -> None:
        c = self._compressor
        data = c.compress(payload) + c.flush(zlib.Z_SYNC_FLUSH)
        if data.endswith(SYNC_TAIL):
            data = data[:-4]
        if self._reset:
            self._compressor = zlib.compressobj(wbits=-self._bits)
        self.sent_raw += len(payload)
        self.sent_wire += len(data)
        self.writer.write(self._frame(self.opcode, data, 0x40))

    async def recv(self) -> bytes:
        data = await super().recv()
        if not self.rsv1:
            self.plain_echoes += 1
            return data
        self.received_wire += len(data)
        out = self._decompressor.decompress(data + SYNC_TAIL)
        self.received_raw += len(out)
        return out


CONN = {"ws": WSConn, "raw": RawConn}


# --------------------------------------------------------------------------- #
# scenarios                                                                   #
# --------------------------------------------------------------------------- #


def _payload(req: dict[str, Any], default_size: int) -> bytes:
    """Random payload; printable ASCII when text frames are used (valid UTF-8)."""
    size = req.get("size", default_size)
    if req.get("text"):
        return bytes(random.choices(range(0x20, 0x7F), k=size))
    return os.urandom(size)


def _check(got: bytes, want: bytes) -> None:
    if got != want:
        raise RuntimeError(f"echo mismatch: got {len(got)} bytes, want {len(want)}")


async def _pingpong(conn: Any, payload: bytes, count: int) -> None:
    for _ in range(count):
        conn.send(payload)
        _check(await conn.recv(), payload)


class Timer:
    """Server CPU + client wall clock around the timed part of a scenario."""

    def __init__(self, pid: int):
        self.pid = pid

    def __enter__(self) -> Timer:
        self.sched0 = sched_cpu_seconds(self.pid)
        self.cpu0 = cpu_seconds(self.pid)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = cpu_seconds(self.pid) - self.cpu0
        sched1 = sched_cpu_seconds(self.pid)
        self.sched = None if sched1 is None or self.sched0 is None else sched1 - self.sched0

    def result(self, units: float) -> dict[str, Any]:
        return {"units": units, "cpu_s": self.cpu, "sched_cpu_s": self.sched, "wall_s": self.wall}


async def sc_pingpong(req: dict[str, Any], conn_cls: Any) -> dict[str, Any]:
    payload = _payload(req, 32)
    conn = await conn_cls.connect(req["port"], req.get("text", False))
    await _pingpong(conn, payload, 50)  # warm-up
    with Timer(req["server_pid"]) as t:
        await _pingpong(conn, payload, req["count"])
    await conn.close()
    return t.result(req["count"])


async def sc_pipelined(req: dict[str, Any], conn_cls: Any) -> dict[str, Any]:
    payload = _payload(req, 1024)
    total, window = req["count"], req.get("window", 64)
    conn = await conn_cls.connect(req["port"], req.get("text", False))
    await _pingpong(conn, payload, 50)
    with Timer(req["server_pid"]) as t:
        sent = 0
        while sent < min(window, total):
            conn.send(payload)
            sent += 1
        for _ in range(total):
            _check(await conn.recv(), payload)
            if sent < total:
                conn.send(payload)
                sent += 1
    await conn.close()
    return t.result(total)


async def sc_large(req: dict[str, Any], conn_cls: Any) -> dict[str, Any]:
    payload = _payload(req, 1 << 20)
    size = len(payload)
    conn = await conn_cls.connect(req["port"], req.get("text", False))
    conn.send(payload)
    await conn.drain()
    _check(await conn.recv(), payload)  # warm-up
    count = req["count"]
    with Timer(req["server_pid"]) as t:
        for _ in range(count):
            conn.send(payload)
            await conn.drain()
            _check(await conn.recv(), payload)
    await conn.close()
    return t.result(count * size / (1 << 20))


async def sc_concurrent(req: dict[str, Any], conn_cls: Any) -> dict[str, Any]:
    payload = _payload(req, 32)
    nconns, per_conn = req.get("conns", 100), req["count"]
    conns = await asyncio.gather(
        *(conn_cls.connect(req["port"], req.get("text", False)) for _ in range(nconns))
    )
    await asyncio.gather(*(_pingpong(c, payload, 5) for c in conns))
    with Timer(req["server_pid"]) as t:
        await asyncio.gather(*(_pingpong(c, payload, per_conn) for c in conns))
    await asyncio.gather(*(c.close() for c in conns))
    return t.result(nconns * per_conn)


async def sc_handshake(req: dict[str, Any], conn_cls: Any) -> dict[str, Any]:
    payload = _payload(req, 32)

    async def one() -> None:
        conn = await conn_cls.connect(req["port"], req.get("text", False))
        conn.send(payload)
        _check(await conn.recv(), payload)
        await conn.close()

    for _ in range(10):
        await one()
    count = req["count"]
    with Timer(req["server_pid"]) as t:
        for _ in range(count):
            await one()
    return t.result(count)


async def sc_churn(req: dict[str, Any], conn_cls: Any) -> dict[str, Any]:
    """``count`` connect -> one echo -> close cycles, ``concurrency`` of them at a time."""
    payload = _payload(req, 32)
    left = req["count"]

    async def one() -> None:
        conn = await conn_cls.connect(req["port"], req.get("text", False))
        conn.send(payload)
        _check(await conn.recv(), payload)
        await conn.close()

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await one()

    for _ in range(10):
        await one()
    with Timer(req["server_pid"]) as t:
        await asyncio.gather(*(worker() for _ in range(req.get("concurrency", 50))))
    return t.result(req["count"])


async def sc_deflate(req: dict[str, Any], conn_cls: Any) -> dict[str, Any]:
    """Ping-pong of ``messages`` distinct JSON texts of ``size`` bytes (cycled) over
    permessage-deflate; every echo is inflated and compared with what was sent."""
    if conn_cls is not WSConn:
        raise RuntimeError("the deflate row needs a WebSocket server")
    messages = json_messages(req.get("messages", 64), req.get("size", 16384), req.get("seed", 12))
    conn = await DeflateConn.connect(req["port"])
    for m in messages:  # warm-up: every message once
        conn.send(m)
        _check(await conn.recv(), m)
    count, n = req["count"], len(messages)
    with Timer(req["server_pid"]) as t:
        for i in range(count):
            m = messages[i % n]
            conn.send(m)
            _check(await conn.recv(), m)
    await conn.close()
    if conn.plain_echoes:
        raise DeflateError(
            f"the server negotiated permessage-deflate but sent {conn.plain_echoes} of "
            f"{count + n} echoes uncompressed"
        )
    return {
        **t.result(count),
        "extension": conn.extension,
        "message_bytes": len(messages[0]),
        "client_ratio": conn.sent_raw / conn.sent_wire,
        "server_ratio": conn.received_raw / conn.received_wire,
    }


async def _settled_rss(pid: int, timeout: float = 3.0) -> int:
    """Poll VmRSS until two consecutive readings (100 ms apart) agree."""
    last = rss_bytes(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        cur = rss_bytes(pid)
        if cur == last:
            return cur
        last = cur
    return last


async def sc_idle_memory(req: dict[str, Any], conn_cls: Any) -> dict[str, Any]:
    """Server RSS delta for N idle (handshaken, never used) connections.

    Best run against a freshly started server (run.py does): 10 warm-up
    connections exchange a message and stay open, then the baseline is taken.
    """
    pid, port, n = req["server_pid"], req["port"], req["count"]
    payload = _payload(req, 32)
    warm = [await conn_cls.connect(port, req.get("text", False)) for _ in range(10)]
    for c in warm:
        await _pingpong(c, payload, 1)
    before = await _settled_rss(pid)
    cpu0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    conns: list[Any] = []
    sem = asyncio.Semaphore(50)

    async def opener() -> None:
        async with sem:
            conns.append(await conn_cls.connect(port, req.get("text", False)))

    await asyncio.gather(*(opener() for _ in range(n)))
    wall = time.perf_counter() - t0
    after = await _settled_rss(pid)
    cpu = cpu_seconds(pid) - cpu0
    # Sanity: the server still answers on an old connection.
    await _pingpong(warm[0], payload, 1)
    for c in conns + warm:
        c.abort()
    await asyncio.sleep(0)
    return {
        "units": n,
        "rss_before": before,
        "rss_after": after,
        "bytes_per_conn": (after - before) / n,
        "cpu_s": cpu,
        "wall_s": wall,
    }


SCENARIOS = {
    "pingpong": sc_pingpong,
    "pipelined": sc_pipelined,
    "large": sc_large,
    "concurrent": sc_concurrent,
    "handshake": sc_handshake,
    "churn": sc_churn,
    "deflate": sc_deflate,
    "idle_memory": sc_idle_memory,
    "idle_memory_10k": sc_idle_memory,
}

from roomsload import SCENARIOS as ROOMS_SCENARIOS  # noqa: E402  (the rooms rows)

SCENARIOS.update(ROOMS_SCENARIOS)


async def run_request(req: dict[str, Any]) -> dict[str, Any]:
    conn_cls = CONN[req["proto"]]
    fn = SCENARIOS[req["scenario"]]
    try:
        return await asyncio.wait_for(fn(req, conn_cls), req.get("timeout", 120))
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}


async def stdin_loop() -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        req = json.loads(line)
        res = await run_request(req)
        sys.stdout.write(json.dumps(res) + "\n")
        sys.stdout.flush()


def main() -> int:
    p = argparse.ArgumentParser(description="common benchmark load client")
    p.add_argument("--stdin", action="store_true", help="JSON-lines request/reply mode")
    p.add_argument("--proto", choices=sorted(CONN), default="ws")
    p.add_argument("--port", type=int)
    p.add_argument("--server-pid", type=int)
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="pingpong")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--text", action="store_true", help="send text frames instead of binary")
    args = p.parse_args()
    raise_nofile_limit()
    if args.stdin:
        asyncio.run(stdin_loop())
        return 0
    req = {
        "proto": args.proto,
        "port": args.port,
        "server_pid": args.server_pid,
        "scenario": args.scenario,
        "count": args.count,
        "text": args.text,
    }
    print(json.dumps(asyncio.run(run_request(req))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
