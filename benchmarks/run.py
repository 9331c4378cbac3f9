"""Benchmark driver: server CPU per message across WebSocket implementations, and rooms.

    python benchmarks/run.py                 # full default run (~3.5 min + ~2.5 min of rooms)
    python benchmarks/run.py --quick         # smoke test (~20 s + ~1 min of rooms)
    python benchmarks/run.py --impls raw-trio,wsframework --scenarios pingpong
    python benchmarks/run.py --list          # implementations and availability
    python benchmarks/run.py --no-rooms      # the peer comparison only
    # just the rooms rows (wsframework only; the Redis ones start redis-server):
    python benchmarks/run.py --rooms-only [--quick]
    python benchmarks/run.py --no-clients --scenarios rooms_broadcast,rooms_history

What it does
------------
1. Starts every selected echo server in its own process
   (``benchmarks/servers.py --impl X --port 0``, waits for its ``READY`` line).
2. Starts one load-client process (``benchmarks/loadclient.py --stdin``); the
   same hand-rolled asyncio client (no permessage-deflate) drives every
   WebSocket server, and speaks the length-prefixed protocol to ``raw-trio``.
   The ``deflate`` row is the exception: its client offers permessage-deflate
   (context takeover both ways) and sends 16 KiB JSON texts, against servers
   started for that row with ``servers.py --compression`` (those that cannot
   negotiate it show n/a); a server that does not accept or use the extension
   fails the round.  A table under the main one gives each server's accepted
   extension, compression ratio and CPU against websockets on asyncio.
3. For each scenario, runs ``--rounds`` rounds; within a round every server is
   measured once (order rotated per round, so drift hits all alike).  The
   metric is the *server process's* CPU time (utime+stime from
   ``/proc/<pid>/stat``) over the timed part, per unit.  The idle-memory
   scenario uses a freshly started server each round.
4. Client benchmark: each client library (``benchmarks/clients.py``) does
   32-byte ping-pong against one fixed server (websockets' asyncio server);
   metric is the *client process's* CPU per round trip.
5. Rooms rows (``ROOMS``; wsframework only, ``--scenarios rooms_*``, in the
   default run): the ``wsframework-rooms`` server of ``servers.py`` (an ``App``
   with ``/join``, ``/pub``, ``/pubstamp`` and ``/churn`` routes; the client
   side is ``benchmarks/roomsload.py``).  Memory rows use one server process;
   Redis rows start a ``redis-server`` on a free loopback port (no persistence;
   stopped by its PID) and two server processes with ``App(broker=url)``,
   workers A and B.  Metrics are again the servers' CPU over the timed part
   (summed over A and B where both work; ``redis-server``'s CPU beside it):

   * ``rooms_broadcast``: 1,000 members join one room; a publisher connection
     sends ``count`` 32-byte texts that the server publishes, with at most 64
     publications not yet delivered to every member; the client counts every
     delivery.  Server CPU per delivery and deliveries/s, and its ratio to
     wsframework's 100-connection ping-pong (``concurrent``) median of this
     run (measured beside the broadcast rounds when ``concurrent`` is not in
     the run); the target is <= 0.5.
   * ``rooms_redis`` / ``rooms_redis_200``: a 1,000-member room, 500 members
     on each worker; a separate probe process publishes into worker A at 1,000
     (200) publications/s, which stamps ``time.time_ns()`` right before
     ``room.publish``, and holds 4 of worker B's members (joined in the middle
     of B's join order) on which latency is measured (p50/p99 of 4 x count
     samples, publish -> arrival; end-to-end from the publisher's send too).
     Every member's deliveries are counted: aggregate deliveries/s over both
     workers, publications/s achieved, server CPU per delivery.  1,000/s into
     1,000 members is 1M deliveries/s, beyond a 2-core machine: that row then
     shows saturation, the 200/s row the latency of a sustainable load.
   * ``rooms_redis_latency``: the same with a 10-member room (5 per worker,
     4 of B's the probes) at 1,000 publications/s: the cross-process latency
     itself, without a 500-member fan-out in front of the measured members
     (targets p50 <= 1 ms, p99 <= 5 ms).
   * ``rooms_history`` / ``rooms_history_redis``: server CPU per publication
     into a room without and with ``HistoryPolicy(1000, 300 s)`` (one member
     receives), and the difference.
   * ``rooms_presence`` / ``rooms_presence_redis``: 10 connections each loop
     join-with-presence / leave (one command and one ack each way, over one
     connection) in a room of 100 resident members; server CPU per join+leave.

6. Prints markdown tables (medians) and writes JSON + markdown to
   ``benchmarks/results/`` (the rooms rows under ``"rooms"``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import select
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _ensure_interpreter() -> None:
    """Re-exec under the repo's .venv if the current Python lacks the deps."""
    try:
        import trio  # noqa: F401
        import wsproto  # noqa: F401
    except ImportError:
        venv = os.path.join(REPO, ".venv")
        venv_py = os.path.join(venv, "bin", "python")
        # (venv pythons are symlinks to the base interpreter: compare prefixes)
        if os.path.exists(venv_py) and os.path.realpath(sys.prefix) != os.path.realpath(venv):
            os.execv(venv_py, [venv_py, *sys.argv])
        raise


_ensure_interpreter()
sys.path.insert(0, HERE)

from clients import CLIENTS  # noqa: E402
from servers import REGISTRY, raise_nofile_limit  # noqa: E402

PY = sys.executable

# name -> label, unit, default/quick count, extra request fields for loadclient.py
# The latency rows of the Redis scenarios (``rooms_redis*``).
LATENCY_ROWS = [
    ("latency_p50_ms", "latency A->B p50 (publish -> member of B)", "ms"),
    ("latency_p99_ms", "latency A->B p99", "ms"),
    ("e2e_p50_ms", "end-to-end p50 (publisher's send -> member of B)", "ms"),
    ("e2e_p99_ms", "end-to-end p99", "ms"),
]

SCENARIOS: dict[str, dict[str, Any]] = {
    "pingpong": dict(
        label="32 B ping-pong, 1 conn", unit="µs/msg", count=20_000, quick=500, req={"size": 32}
    ),
    "pipelined": dict(
        label="1 KiB pipelined, window 64",
        unit="µs/msg",
        count=60_000,
        quick=2_000,
        req={"size": 1024, "window": 64},
    ),
    "large": dict(label="1 MiB echo", unit="µs/MiB", count=192, quick=5, req={"size": 1 << 20}),
    "concurrent": dict(
        label="32 B ping-pong, 100 conns",
        unit="µs/msg",
        count=300,
        quick=10,
        req={"size": 32, "conns": 100},
        note="count = round trips per connection",
    ),
    "handshake": dict(
        label="connect + 1 msg + close", unit="µs/handshake", count=3_000, quick=50, req={}
    ),
    "churn": dict(
        label="churn: connect + 1 msg + close, 50 at a time",
        unit="µs/cycle",
        count=5_000,
        quick=100,
        req={"concurrency": 50},
        note="server CPU per cycle; 50 clients cycle at once (mobile reconnects, a deploy)",
    ),
    "deflate": dict(
        label="permessage-deflate: 16 KiB JSON text ping-pong, 1 conn",
        unit="µs/msg",
        count=4_000,
        quick=200,
        req={"size": 16_384, "messages": 64, "seed": 12},
        deflate=True,
        note="compression on (servers.py --compression; context takeover both ways); 64 "
        "distinct seeded JSON messages cycled; servers without permessage-deflate: n/a",
    ),
    "idle_memory": dict(
        label="idle connection memory (1000 conns)",
        unit="KiB RSS/conn",
        count=1_000,
        quick=1_000,
        req={},
    ),
    "idle_memory_10k": dict(
        label="idle connection memory (10000 conns)",
        unit="KiB RSS/conn",
        count=10_000,
        quick=10_000,
        req={},
    ),
}
# Rows measured on a freshly started server each round (memory, not CPU per unit).
IDLE = frozenset({"idle_memory", "idle_memory_10k"})
# Rows with ``deflate=True`` run against servers started with ``--compression`` for that row
# only (the other rows' servers keep compression off); servers that cannot negotiate
# permessage-deflate (``ServerImpl.deflate``) show n/a.
DEFLATE_NA = "cannot negotiate permessage-deflate"
# The rooms rows: wsframework only, against the ``wsframework-rooms`` server of servers.py
# (see benchmarks/roomsload.py for the client side).  ``servers``: "memory" (one process,
# in-memory broker), "redis" (one process on a redis-server the driver starts) or "redis2"
# (two processes on that redis-server: workers A and B).  ``client`` is the loadclient
# scenario; ``rows`` are (result key, label, unit) medians to report ("metric" = server CPU
# per unit in µs, "rate" = units/s on the wall clock).
ROOMS: dict[str, dict[str, Any]] = {
    "rooms_broadcast": dict(
        label="room broadcast, 1000 members, 32 B, memory",
        servers="memory",
        client="rooms_broadcast",
        count=500,
        quick=50,
        req={"members": 1000, "size": 32, "window": 64},
        rows=[
            ("metric", "server CPU per delivery", "µs/delivery"),
            ("rate", "deliveries/s (wall)", "/s"),
            ("sys_share", "kernel share of the server's CPU (stime / utime+stime)", ""),
            ("client_busy", "load client CPU / wall (near 1: the client set the pace)", ""),
        ],
        note="count = publications; unit = one delivery (count x 1000 per round)",
    ),
    "rooms_redis": dict(
        label="room broadcast, 1000 members over 2 workers, Redis, 1000 pub/s",
        servers="redis2",
        client="rooms_redis",
        count=1000,
        quick=300,
        req={"members": 1000, "probes": 4, "rate": 1000, "warmup": 100},
        rows=[
            *LATENCY_ROWS,
            ("rate", "aggregate deliveries/s, both workers (wall)", "/s"),
            ("pub_rate", "publications/s achieved (offered: 1000)", "/s"),
            ("metric", "server CPU per delivery (A+B)", "µs/delivery"),
            ("redis_us", "redis-server CPU per publication", "µs/pub"),
        ],
        note="count = publications, paced by the probe process; latency on 4 members of B",
    ),
    "rooms_redis_latency": dict(
        label="cross-process latency, 10-member room over 2 workers, Redis, 1000 pub/s",
        servers="redis2",
        client="rooms_redis",
        count=3000,
        quick=1000,
        req={"members": 10, "probes": 4, "rate": 1000, "warmup": 200},
        rows=[
            *LATENCY_ROWS,
            ("pub_rate", "publications/s achieved (offered: 1000)", "/s"),
        ],
        note="the issue's latency targets: p50 <= 1 ms, p99 <= 5 ms; latency on 4 members of B",
    ),
    "rooms_redis_200": dict(
        label="room broadcast, 1000 members over 2 workers, Redis, 200 pub/s",
        servers="redis2",
        client="rooms_redis",
        count=300,
        quick=100,
        req={"members": 1000, "probes": 4, "rate": 200, "warmup": 40},
        rows=[
            *LATENCY_ROWS,
            ("rate", "aggregate deliveries/s, both workers (wall)", "/s"),
            ("pub_rate", "publications/s achieved (offered: 200)", "/s"),
            ("metric", "server CPU per delivery (A+B)", "µs/delivery"),
        ],
        note="the same at a rate this 2-core box sustains",
    ),
    "rooms_history": dict(
        label="publish without / with history, memory",
        servers="memory",
        client="rooms_history",
        count=10000,
        quick=1000,
        req={"members": 1},
        rows=[
            ("plain_us", "server CPU per publication, no history", "µs/pub"),
            ("history_us", "server CPU per publication, HistoryPolicy(1000, 300 s)", "µs/pub"),
            ("history_cost_us", "cost of history", "µs/pub"),
        ],
        note="one member receives; the publisher's receive is included in both; ns schedstat",
    ),
    "rooms_history_redis": dict(
        label="publish without / with history, Redis",
        servers="redis",
        client="rooms_history",
        count=2000,
        quick=300,
        req={"members": 1},
        rows=[
            ("plain_us", "server CPU per publication, no history", "µs/pub"),
            ("history_us", "server CPU per publication, HistoryPolicy(1000, 300 s)", "µs/pub"),
            ("history_cost_us", "cost of history", "µs/pub"),
            ("redis_plain_us", "redis-server CPU per publication, no history", "µs/pub"),
            ("redis_history_us", "redis-server CPU per publication, history", "µs/pub"),
        ],
        note="one member receives (on the same worker)",
    ),
    "rooms_presence": dict(
        label="join + leave with presence, memory",
        servers="memory",
        client="rooms_presence",
        count=2000,
        quick=200,
        req={"residents": 100, "churners": 10},
        rows=[
            ("metric", "server CPU per join+leave", "µs/cycle"),
            ("rate", "join+leave/s (wall)", "/s"),
        ],
        note="10 connections loop 'j'->join->'J', 'l'->leave->'L' in a room of 100 members",
    ),
    "rooms_presence_redis": dict(
        label="join + leave with presence, Redis",
        servers="redis",
        client="rooms_presence",
        count=1000,
        quick=100,
        req={"residents": 100, "churners": 10},
        rows=[
            ("metric", "server CPU per join+leave", "µs/cycle"),
            ("rate", "join+leave/s (wall)", "/s"),
            ("redis_us", "redis-server CPU per join+leave", "µs/cycle"),
        ],
        note="as above, one worker on Redis",
    ),
}
ROOMS_SERVER = "wsframework-rooms"
ROOMS_TARGET_RATIO = 0.5  # broadcast: server CPU per delivery / per 100-conn ping-pong message
CLIENT_BENCH = dict(count=20_000, quick=500, warmup=200, server="websockets-asyncio")
BASELINE = "raw-trio"
OURS, THEIRS = "wsframework", "trio-websocket"
APP = "wsframework-app"
HC_APP, HC_RAW = "wsframework-hypercorn", "hypercorn-asgi"
DEFLATE_REF = "websockets-asyncio"  # the deflate row's peer (issue 12)


# --------------------------------------------------------------------------- #
# process management (only ever signals processes it started, by PID)         #
# --------------------------------------------------------------------------- #


class ServerProc:
    def __init__(
        self, impl: str, log_dir: str, extra: tuple[str, ...] = (), name: str | None = None
    ):
        self.impl = impl
        self.extra = extra
        self.log_path = os.path.join(log_dir, f"server-{name or impl}.log")
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> None:
        with open(self.log_path, "a") as log:
            log.write(f"\n==== start {time.strftime('%H:%M:%S')} ====\n")
            log.flush()
            self.proc = subprocess.Popen(
                [
                    PY,
                    os.path.join(HERE, "servers.py"),
                    "--impl",
                    self.impl,
                    "--port",
                    "0",
                    *self.extra,
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                text=True,
                cwd=REPO,
            )
        line = _readline(self.proc, timeout)
        if not line or not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"{self.impl}: server did not become ready (see {self.log_path})")
        self.port = int(line.split()[1])

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def _readline(proc: subprocess.Popen[str], timeout: float) -> str | None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        r, _, _ = select.select([proc.stdout], [], [], min(remaining, 0.5))
        if r:
            line = proc.stdout.readline()
            return line or None
        if proc.poll() is not None:
            return None


class LoadClient:
    def __init__(self, log_dir: str):
        self.log_path = os.path.join(log_dir, "loadclient.log")
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [PY, os.path.join(HERE, "loadclient.py"), "--stdin"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=REPO,
            )

    def request(self, req: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        req = {**req, "timeout": timeout}
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.stop()
            return {"error": "load client died"}
        line = _readline(self.proc, timeout + 30)
        if line is None:
            self.stop()
            return {"error": "load client timed out or died"}
        return json.loads(line)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


# --------------------------------------------------------------------------- #
# measurement loops                                                           #
# --------------------------------------------------------------------------- #


def _metric(scenario: str, res: dict[str, Any]) -> float:
    if scenario in IDLE:
        return res["bytes_per_conn"] / 1024.0
    return res["cpu_s"] / res["units"] * 1e6


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_server_bench(args: argparse.Namespace, impls: list[str], log_dir: str) -> dict[str, Any]:
    results: dict[str, Any] = {
        sc: {impl: {"rounds": [], "errors": []} for impl in impls} for sc in args.scenarios
    }
    servers: dict[str, ServerProc] = {}
    deflate_servers: dict[str, ServerProc] = {}  # the deflate row's, with --compression
    client = LoadClient(log_dir)
    client.start()
    try:
        long_lived = [
            sc for sc in args.scenarios if sc not in IDLE and not SCENARIOS[sc].get("deflate")
        ]
        if long_lived:
            for impl in list(impls):
                sp = ServerProc(impl, log_dir)
                try:
                    sp.start()
                    servers[impl] = sp
                except RuntimeError as exc:
                    _log(f"!! {exc}")
                    for sc in args.scenarios:
                        results[sc][impl]["errors"].append(str(exc))
        for sc in args.scenarios:
            spec = SCENARIOS[sc]
            count = max(1, int((spec["quick"] if args.quick else spec["count"]) * args.scale))
            pool = servers
            if spec.get("deflate"):  # its own servers, stopped after its rounds
                pool = deflate_servers
                _start_deflate_servers(impls, results[sc], deflate_servers, log_dir)
            for r in range(args.rounds):
                order = impls[r % len(impls) :] + impls[: r % len(impls)]
                line = []
                for impl in order:
                    entry = results[sc][impl]
                    if entry.get("na"):
                        line.append(f"{impl}=n/a")
                        continue
                    if sc in IDLE:
                        sp = ServerProc(impl, log_dir)
                        try:
                            sp.start()
                        except RuntimeError as exc:
                            entry["errors"].append(str(exc))
                            line.append(f"{impl}=ERR")
                            continue
                        time.sleep(0.2)
                    else:
                        sp = pool.get(impl)  # type: ignore[assignment]
                        if sp is None:
                            continue
                        if not sp.alive():
                            try:
                                sp.start()
                            except RuntimeError as exc:
                                entry["errors"].append(str(exc))
                                continue
                    req = {
                        "scenario": sc,
                        "proto": REGISTRY[impl].protocol,
                        "port": sp.port,
                        "server_pid": sp.pid,
                        "count": count,
                        "text": args.text,
                        **spec["req"],
                    }
                    res = client.request(req, args.timeout)
                    if sc in IDLE:
                        sp.stop()
                    if "error" in res:
                        entry["errors"].append(res["error"])
                        _log(f"!! {sc} {impl}: {res['error']}")
                        if res.get("trace"):
                            with open(os.path.join(log_dir, "errors.log"), "a") as f:
                                f.write(f"--- {sc} {impl}\n{res['trace']}\n")
                        if sc not in IDLE:  # may be wedged: restart it
                            sp.stop()
                        line.append(f"{impl}=ERR")
                        continue
                    res["metric"] = _metric(sc, res)
                    if res.get("sched_cpu_s") is not None:  # ns-resolution cross-check
                        res["metric_sched"] = res["sched_cpu_s"] / res["units"] * 1e6
                    entry["rounds"].append(res)
                    line.append(f"{impl}={res['metric']:.1f}")
                _log(f"[{sc} r{r + 1}/{args.rounds}] " + " ".join(line))
            for sp in deflate_servers.values():
                sp.stop()
            deflate_servers.clear()
    finally:
        client.stop()
        for sp in [*servers.values(), *deflate_servers.values()]:
            sp.stop()
    for per_impl in results.values():
        for entry in per_impl.values():
            vals = [x["metric"] for x in entry["rounds"]]
            if vals:
                entry["median"] = statistics.median(vals)
                entry["min"], entry["max"] = min(vals), max(vals)
                entry["median_rate"] = statistics.median(
                    x["units"] / x["wall_s"] for x in entry["rounds"] if x["wall_s"] > 0
                )
                sched = [x["metric_sched"] for x in entry["rounds"] if "metric_sched" in x]
                if sched:
                    entry["median_sched"] = statistics.median(sched)
    return results


def _start_deflate_servers(
    impls: list[str], entries: dict[str, Any], started: dict[str, ServerProc], log_dir: str
) -> None:
    """Start ``impls``' servers with permessage-deflate on into ``started``; mark the ones
    that cannot negotiate it n/a in ``entries`` (the row's results)."""
    for impl in impls:
        if not (REGISTRY[impl].deflate and REGISTRY[impl].protocol == "ws"):
            entries[impl]["na"] = DEFLATE_NA
            continue
        sp = ServerProc(impl, log_dir, extra=("--compression",), name=f"{impl}-deflate")
        try:
            sp.start()
            started[impl] = sp
        except RuntimeError as exc:
            _log(f"!! {exc}")
            entries[impl]["errors"].append(str(exc))


def run_client_bench(args: argparse.Namespace, clients: list[str], log_dir: str) -> dict[str, Any]:
    results: dict[str, Any] = {c: {"rounds": [], "errors": []} for c in clients}
    count = max(
        1, int((CLIENT_BENCH["quick"] if args.quick else CLIENT_BENCH["count"]) * args.scale)
    )
    sp = ServerProc(CLIENT_BENCH["server"], log_dir)
    sp.start()
    try:
        for r in range(args.rounds):
            order = clients[r % len(clients) :] + clients[: r % len(clients)]
            line = []
            for c in order:
                try:
                    out = subprocess.run(
                        [
                            PY,
                            os.path.join(HERE, "clients.py"),
                            "--impl",
                            c,
                            "--port",
                            str(sp.port),
                            "--count",
                            str(count),
                            "--warmup",
                            str(CLIENT_BENCH["warmup"]),
                        ],
                        capture_output=True,
                        text=True,
                        timeout=args.timeout,
                        cwd=REPO,
                    )
                    res = json.loads(out.stdout.strip().splitlines()[-1])
                    if out.stderr.strip():
                        with open(os.path.join(log_dir, f"client-{c}.log"), "a") as f:
                            f.write(out.stderr)
                except Exception as exc:
                    res = {"error": f"{type(exc).__name__}: {exc}"}
                if "error" in res:
                    results[c]["errors"].append(res["error"])
                    line.append(f"{c}=ERR")
                    _log(f"!! client {c}: {res['error']}")
                    continue
                res["metric"] = res["cpu_s"] / res["units"] * 1e6
                results[c]["rounds"].append(res)
                line.append(f"{c}={res['metric']:.1f}")
            _log(f"[client r{r + 1}/{args.rounds}] " + " ".join(line))
    finally:
        sp.stop()
    for entry in results.values():
        vals = [x["metric"] for x in entry["rounds"]]
        if vals:
            entry["median"] = statistics.median(vals)
            entry["min"], entry["max"] = min(vals), max(vals)
            entry["median_rate"] = statistics.median(
                x["units"] / x["wall_s"] for x in entry["rounds"]
            )
    return results


# --------------------------------------------------------------------------- #
# rooms rows (wsframework only)                                               #
# --------------------------------------------------------------------------- #


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProc:
    """A ``redis-server`` on a free loopback port, no persistence; stopped by its PID."""

    def __init__(self, log_dir: str):
        self.log_path = os.path.join(log_dir, "redis-server.log")
        self.dir = os.path.join(log_dir, "redis")
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        import shutil
        import socket

        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(binary):
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        os.makedirs(self.dir, exist_ok=True)
        self.port = _free_port()
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [
                    *(binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                    *("--appendonly", "no", "--dir", self.dir, "--logfile", ""),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start (see {self.log_path})")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class RoomsServers:
    """The servers of the rooms rows, started on first use and kept for all rounds."""

    def __init__(self, log_dir: str):
        self.log_dir = log_dir
        self.memory: ServerProc | None = None
        self.redis: RedisProc | None = None
        self.workers: list[ServerProc] = []

    def _redis(self) -> RedisProc:
        if self.redis is None or not self.redis.alive():
            for w in self.workers:  # their broker is gone with it
                w.stop()
            self.workers = []
            self.redis = RedisProc(self.log_dir)
            self.redis.start()
        return self.redis

    def request_fields(self, kind: str) -> dict[str, Any]:
        """Start what ``kind`` needs (if not running) and say where it is."""
        if kind == "memory":
            if self.memory is None or not self.memory.alive():
                self.memory = ServerProc(ROOMS_SERVER, self.log_dir, name="rooms-memory")
                self.memory.start()
            return {"port": self.memory.port, "server_pid": self.memory.pid}
        redis = self._redis()
        if len(self.workers) < 2 or not all(w.alive() for w in self.workers):
            for w in self.workers:
                w.stop()
            self.workers = []
            for name in ("A", "B"):
                w = ServerProc(
                    ROOMS_SERVER,
                    self.log_dir,
                    extra=("--broker", redis.url),
                    name=f"rooms-redis-{name}",
                )
                w.start()
                self.workers.append(w)
        a, b = self.workers
        if kind == "redis":
            return {"port": a.port, "server_pid": a.pid, "redis_pid": redis.pid}
        return {"ports": [a.port, b.port], "server_pids": [a.pid, b.pid], "redis_pid": redis.pid}

    def reset(self) -> None:
        """Stop everything (after an error: a wedged server is restarted on next use)."""
        self.stop()

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        self.workers = []
        if self.memory is not None:
            self.memory.stop()
            self.memory = None
        if self.redis is not None:
            self.redis.stop()
            self.redis = None


def _rooms_derived(sc: str, res: dict[str, Any]) -> None:
    """Per-round values the rows report, computed from the load client's answer."""
    units = res["units"]
    res["metric"] = res["cpu_s"] / units * 1e6
    if res.get("sched_cpu_s") is not None:
        res["metric_sched"] = res["sched_cpu_s"] / units * 1e6
    if res.get("wall_s"):
        res["rate"] = units / res["wall_s"]
    if res.get("sys_cpu_s") is not None and res["cpu_s"] > 0:
        res["sys_share"] = res["sys_cpu_s"] / res["cpu_s"]
    if res.get("client_cpu_s") is not None and res.get("wall_s"):
        res["client_busy"] = res["client_cpu_s"] / res["wall_s"]
    if "plain_us" in res and "history_us" in res:
        res["history_cost_us"] = res["history_us"] - res["plain_us"]
    if "redis_cpu_s" in res:
        per = res.get("publications", units)
        res["redis_us"] = res["redis_cpu_s"] / per * 1e6


def run_rooms_bench(
    args: argparse.Namespace, scenarios: list[str], reference: float | None, log_dir: str
) -> dict[str, Any]:
    """The rooms rows.  ``reference`` is wsframework's 100-connection ping-pong median of this
    run (µs/msg); when it is ``None`` and rooms_broadcast runs, the driver measures that row
    itself, interleaved with the broadcast rounds."""
    results: dict[str, Any] = {sc: {"rounds": [], "errors": []} for sc in scenarios}
    servers = RoomsServers(log_dir)
    client = LoadClient(log_dir)
    client.start()
    ref_server: ServerProc | None = None
    ref_rounds: list[float] = []
    try:
        if reference is None and "rooms_broadcast" in scenarios:
            ref_server = ServerProc(OURS, log_dir)
            ref_server.start()
        for sc in scenarios:
            spec = ROOMS[sc]
            count = max(1, int((spec["quick"] if args.quick else spec["count"]) * args.scale))
            entry = results[sc]
            for r in range(args.rounds):
                extra = ""
                if sc == "rooms_broadcast" and ref_server is not None:
                    cspec = SCENARIOS["concurrent"]
                    ccount = max(
                        1, int((cspec["quick"] if args.quick else cspec["count"]) * args.scale)
                    )
                    if not ref_server.alive():
                        ref_server.start()
                    ref = client.request(
                        {
                            "scenario": "concurrent",
                            "proto": "ws",
                            "port": ref_server.port,
                            "server_pid": ref_server.pid,
                            "count": ccount,
                            "text": args.text,
                            **cspec["req"],
                        },
                        args.timeout,
                    )
                    if "error" in ref:
                        _log(f"!! reference concurrent {OURS}: {ref['error']}")
                    else:
                        ref_rounds.append(ref["cpu_s"] / ref["units"] * 1e6)
                        extra = f" (reference {OURS} concurrent={ref_rounds[-1]:.1f})"
                try:
                    fields = servers.request_fields(spec["servers"])
                except RuntimeError as exc:
                    entry["errors"].append(str(exc))
                    _log(f"!! {sc}: {exc}")
                    break
                req = {
                    "scenario": spec["client"],
                    "proto": "ws",
                    "count": count,
                    "round": r,
                    "tag": f"{sc}-r{r}",
                    **fields,
                    **spec["req"],
                }
                res = client.request(req, args.timeout)
                if "error" in res:
                    entry["errors"].append(res["error"])
                    _log(f"!! {sc}: {res['error']}")
                    if res.get("trace"):
                        with open(os.path.join(log_dir, "errors.log"), "a") as f:
                            f.write(f"--- {sc}\n{res['trace']}\n")
                    servers.reset()
                    continue
                _rooms_derived(sc, res)
                entry["rounds"].append(res)
                first = spec["rows"][0][0]
                value = res.get(first, float("nan"))
                _log(f"[{sc} r{r + 1}/{args.rounds}] {first}={value:.2f}{extra}")
    finally:
        client.stop()
        servers.stop()
        if ref_server is not None:
            ref_server.stop()
    for sc, entry in results.items():
        stats: dict[str, Any] = {}
        for key, _label, _unit in ROOMS[sc]["rows"]:
            vals = [x[key] for x in entry["rounds"] if x.get(key) is not None]
            if vals:
                stats[key] = {
                    "median": statistics.median(vals),
                    "min": min(vals),
                    "max": max(vals),
                    "n": len(vals),
                }
        entry["stats"] = stats
    if "rooms_broadcast" in results:
        entry = results["rooms_broadcast"]
        if reference is not None:
            entry["reference"] = {"source": "concurrent row of this run", "median": reference}
        elif ref_rounds:
            entry["reference"] = {
                "source": "measured beside the broadcast rounds",
                "median": statistics.median(ref_rounds),
                "rounds": ref_rounds,
            }
        ref_med = entry.get("reference", {}).get("median")
        bcast = entry["stats"].get("metric", {}).get("median")
        if ref_med and bcast:
            entry["ratio_to_concurrent"] = bcast / ref_med
    return results


# --------------------------------------------------------------------------- #
# reporting                                                                   #
# --------------------------------------------------------------------------- #


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 1000 else f"{v:.1f}"


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    if a and b and "median" in a and "median" in b and b["median"] > 0:
        return f"{a['median'] / b['median']:.2f}x"
    return "-"


def server_tables(results: dict[str, Any], impls: list[str]) -> str:
    ws_impls = [i for i in impls if i != BASELINE]
    head = ["scenario", "unit", *impls]
    if OURS in impls and THEIRS in impls:
        head.append(f"{OURS} / {THEIRS}")
    if OURS in impls and APP in impls:
        head.append(f"{APP} / {OURS}")
    if HC_APP in impls and HC_RAW in impls:
        head.append(f"{HC_APP} / {HC_RAW}")
    if APP in impls and HC_APP in impls:
        head.append(f"{APP} / {HC_APP}")
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    spread_rows = ["| scenario | " + " | ".join(impls) + " |", "|---|" + "---|" * len(impls)]
    rate_rows = ["| scenario | " + " | ".join(impls) + " |", "|---|" + "---|" * len(impls)]
    for sc, per in results.items():
        spec = SCENARIOS[sc]
        base = per.get(BASELINE)
        cells = [spec["label"], spec["unit"]]
        spread, rates = [spec["label"]], [spec["label"]]
        for impl in impls:
            e = per.get(impl, {})
            if "median" not in e:
                cells.append("n/a" if e.get("na") else "error" if e.get("errors") else "-")
                spread.append("-")
                rates.append("-")
                continue
            cell = _fmt(e["median"])
            if impl in ws_impls and base and base.get("median"):
                cell += f" ({e['median'] / base['median']:.1f}x raw)"
            cells.append(cell)
            rel = (e["max"] - e["min"]) / e["median"] * 100 if e["median"] else 0.0
            spread.append(f"±{rel / 2:.0f}% (n={len(e['rounds'])})")
            rates.append("-" if sc in IDLE else _fmt(e["median_rate"]))
        if OURS in impls and THEIRS in impls:
            cells.append(_ratio(per.get(OURS), per.get(THEIRS)))
        if OURS in impls and APP in impls:
            cells.append(_ratio(per.get(APP), per.get(OURS)))
        if HC_APP in impls and HC_RAW in impls:
            cells.append(_ratio(per.get(HC_APP), per.get(HC_RAW)))
        if APP in impls and HC_APP in impls:
            cells.append(_ratio(per.get(APP), per.get(HC_APP)))
        rows.append("| " + " | ".join(cells) + " |")
        spread_rows.append("| " + " | ".join(spread) + " |")
        rate_rows.append("| " + " | ".join(rates) + " |")
    deflate = [sc for sc in results if SCENARIOS[sc].get("deflate")]
    return (
        "### Server CPU per unit (median of rounds; lower is better)\n\n"
        + "\n".join(rows)
        + "\n\n### Round-to-round spread, ±(max-min)/2 relative to the median\n\n"
        + "\n".join(spread_rows)
        + "\n\n### Client-observed throughput (units/s, wall clock, median; context only)\n\n"
        + "\n".join(rate_rows)
        + "\n"
        + "".join(deflate_table(sc, results[sc], impls) for sc in deflate)
    )


def deflate_table(sc: str, per: dict[str, Any], impls: list[str]) -> str:
    """What each server negotiated in a deflate row, how well it compressed, and its CPU per
    message against websockets on asyncio's (the peer the row is meant to beat)."""
    ref = per.get(DEFLATE_REF)
    rows = [
        f"| server | µs/msg | x {DEFLATE_REF} | spread | server's ratio | accepted extension |",
        "|---|---|---|---|---|---|",
    ]
    for impl in impls:
        e = per.get(impl, {})
        if e.get("na"):
            rows.append(f"| {impl} | n/a | - | - | - | {e['na']} |")
            continue
        if "median" not in e:
            rows.append(f"| {impl} | error | - | - | - | - |")
            continue
        last = e["rounds"][-1]
        rel = (e["max"] - e["min"]) / e["median"] * 50 if e["median"] else 0.0
        rows.append(
            f"| {impl} | {_fmt(e['median'])} | {_ratio(e, ref)} | ±{rel:.0f}% | "
            f"{last['server_ratio']:.2f}x | `{last['extension']}` |"
        )
    spec = SCENARIOS[sc]
    return (
        f"\n### {spec['label']} (`{sc}`): per server\n\n"
        "Server's ratio: message bytes / compressed bytes the server sent (its window and "
        "level; the client's own compressor: 15 bits unless the server asks for fewer).\n\n"
        + "\n".join(rows)
        + "\n"
    )


def client_table(results: dict[str, Any]) -> str:
    rows = [
        f"| client | CPU µs/round trip | x {THEIRS} | spread | round trips/s |",
        "|---|---|---|---|---|",
    ]
    ref = results.get(THEIRS)
    for c, e in results.items():
        if "median" not in e:
            rows.append(f"| {c} | error | - | - | - |")
            continue
        rel = (e["max"] - e["min"]) / e["median"] * 50
        rows.append(
            f"| {c} | {_fmt(e['median'])} | {_ratio(e, ref)} | ±{rel:.0f}% | "
            f"{_fmt(e['median_rate'])} |"
        )
    return (
        "### Client CPU per 32 B round trip "
        f"(server: {CLIENT_BENCH['server']}; lower is better)\n\n" + "\n".join(rows) + "\n"
    )


def rooms_table(results: dict[str, Any]) -> str:
    rows = ["| row | measure | median | spread | notes |", "|---|---|---|---|---|"]
    for sc, entry in results.items():
        spec = ROOMS[sc]
        stats = entry.get("stats", {})
        if not stats:
            err = entry["errors"][0][:80] if entry["errors"] else "no rounds"
            rows.append(f"| {spec['label']} (`{sc}`) | - | error | - | {err} |")
            continue
        for i, (key, label, unit) in enumerate(spec["rows"]):
            st = stats.get(key)
            head = f"{spec['label']} (`{sc}`)" if i == 0 else ""
            if st is None:
                rows.append(f"| {head} | {label} | - | - | |")
                continue
            med = st["median"]
            rel = (st["max"] - st["min"]) / abs(med) * 50 if med else 0.0
            value = f"{_fmt(med)} {unit}" if unit != "/s" else f"{_fmt(med)}/s"
            if unit == "ms":
                value = f"{med:.2f} ms"
            elif not unit:
                value = f"{med:.2f}"
            note = ""
            if sc == "rooms_broadcast" and key == "metric" and entry.get("ratio_to_concurrent"):
                ref = entry["reference"]
                note = (
                    f"{entry['ratio_to_concurrent']:.2f}x {OURS}'s 100-conn ping-pong "
                    f"({ref['median']:.1f} µs/msg, {ref['source']}); target ≤ "
                    f"{ROOMS_TARGET_RATIO}"
                )
            elif key == "latency_p50_ms":
                note = "target ≤ 1 ms"
            elif key == "latency_p99_ms":
                note = "target ≤ 5 ms"
            elif i == 0 and entry["errors"]:
                note = f"{len(entry['errors'])} round(s) failed"
            rows.append(f"| {head} | {label} | {value} | ±{rel:.0f}% (n={st['n']}) | {note} |")
    return (
        "### Rooms (wsframework; server CPU from /proc, medians of rounds)\n\n"
        + "\n".join(rows)
        + "\n"
    )


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("trio", "wsproto", "trio-websocket", "websockets", "hypercorn"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    try:
        import wsframework

        out["wsframework"] = str(getattr(wsframework, "__version__", "checkout"))
    except Exception:
        pass
    return out


def _git_state() -> dict[str, str]:
    def git(*cmd: str) -> str:
        try:
            out = subprocess.run(
                ["git", *cmd], cwd=REPO, capture_output=True, text=True, timeout=10
            )
            return out.stdout.strip()
        except Exception:
            return ""

    return {
        "commit": git("rev-parse", "HEAD"),
        "wsframework_dirty": "yes" if git("status", "--porcelain", "--", "wsframework") else "no",
    }


def _available(registry: dict[str, Any], name: str, script: str) -> bool:
    # Checked in a subprocess so a half-written module can't break the driver.
    rc = subprocess.run(
        [PY, os.path.join(HERE, script), "--check", name],
        cwd=REPO,
        capture_output=True,
        timeout=60,
    ).returncode
    return rc == 0


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=None, help="rounds per row (default 5, quick 3)")
    p.add_argument("--quick", action="store_true", help="small counts, for smoke testing")
    p.add_argument("--scale", type=float, default=1.0, help="multiply all message counts")
    p.add_argument("--impls", help=f"comma list of servers (choices: {', '.join(REGISTRY)})")
    p.add_argument("--clients", help=f"comma list of clients (choices: {', '.join(CLIENTS)})")
    p.add_argument("--scenarios", help=f"comma list (choices: {', '.join([*SCENARIOS, *ROOMS])})")
    p.add_argument("--no-rooms", action="store_true", help="skip the rooms rows")
    p.add_argument(
        "--rooms-only",
        action="store_true",
        help="only the rooms rows (all of them unless --scenarios names some)",
    )
    p.add_argument("--no-servers", action="store_true", help="skip the server benchmark")
    p.add_argument("--no-clients", action="store_true", help="skip the client benchmark")
    p.add_argument("--text", action="store_true", help="text frames instead of binary")
    p.add_argument("--timeout", type=float, default=180.0, help="per-measurement timeout (s)")
    p.add_argument("--out", default=os.path.join(HERE, "results"), help="results directory")
    p.add_argument("--list", action="store_true", help="list implementations and exit")
    args = p.parse_args()

    if args.list:
        subprocess.run([PY, os.path.join(HERE, "servers.py"), "--list"], cwd=REPO)
        for name, c in CLIENTS.items():
            ok = "ok" if _available(CLIENTS, name, "clients.py") else "unavailable"
            print(f"client {name:20} {ok:12} {c.description}")
        return 0

    if args.rounds is None:
        args.rounds = 3 if args.quick else 5
    if args.rooms_only and args.no_rooms:
        p.error("--rooms-only and --no-rooms exclude each other")
    default = list(ROOMS) if args.rooms_only else [*SCENARIOS, *ROOMS]
    chosen = args.scenarios.split(",") if args.scenarios else default
    if args.rooms_only:
        args.no_clients = True
        if any(sc not in ROOMS for sc in chosen):
            p.error("--rooms-only takes rooms_* scenarios only")
    for sc in chosen:
        if sc not in SCENARIOS and sc not in ROOMS:
            p.error(f"unknown scenario {sc!r}")
    args.scenarios = [sc for sc in chosen if sc in SCENARIOS]
    args.rooms = [] if args.no_rooms else [sc for sc in chosen if sc in ROOMS]
    raise_nofile_limit()

    if args.impls:
        impls = args.impls.split(",")
        for i in impls:
            if i not in REGISTRY:
                p.error(f"unknown server impl {i!r}")
    else:
        impls = [n for n, s in REGISTRY.items() if s.default]
    if not args.scenarios:  # rooms rows only: the peers are not started
        impls = []
    skipped = [i for i in impls if not _available(REGISTRY, i, "servers.py")]
    impls = [i for i in impls if i not in skipped]
    if args.clients:
        clients = args.clients.split(",")
        for c in clients:
            if c not in CLIENTS:
                p.error(f"unknown client impl {c!r}")
    else:
        clients = [n for n, c in CLIENTS.items() if c.default]
    skipped_clients = [c for c in clients if not _available(CLIENTS, c, "clients.py")]
    clients = [c for c in clients if c not in skipped_clients]
    if skipped or skipped_clients:
        _log(f"skipping unavailable: servers={skipped} clients={skipped_clients}")

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(args.out, exist_ok=True)
    log_dir = os.path.join(args.out, f"logs-{stamp}")
    os.makedirs(log_dir, exist_ok=True)

    t0 = time.monotonic()
    _log(
        f"servers: {impls}  clients: {clients}  rounds: {args.rounds}"
        f"{'  (quick)' if args.quick else ''}"
    )
    server_res = (
        {}
        if args.no_servers or not impls or not args.scenarios
        else run_server_bench(args, impls, log_dir)
    )
    client_res = {} if args.no_clients or not clients else run_client_bench(args, clients, log_dir)
    reference = server_res.get("concurrent", {}).get(OURS, {}).get("median")
    rooms_res = run_rooms_bench(args, args.rooms, reference, log_dir) if args.rooms else {}
    duration = time.monotonic() - t0

    md = [
        f"## wsframework benchmarks ({stamp}, {args.rounds} rounds"
        f"{', quick' if args.quick else ''}, {duration:.0f} s)\n"
    ]
    if server_res:
        md.append(server_tables(server_res, impls))
    if client_res:
        md.append(client_table(client_res))
    if rooms_res:
        md.append(rooms_table(rooms_res))
    if skipped or skipped_clients:
        md.append(
            f"_Skipped (not importable): servers {skipped or '-'}, "
            f"clients {skipped_clients or '-'}_\n"
        )
    text = "\n".join(md)
    print(text)

    counts = {
        sc: max(
            1, int((SCENARIOS[sc]["quick"] if args.quick else SCENARIOS[sc]["count"]) * args.scale)
        )
        for sc in args.scenarios
    }
    for sc in args.rooms:
        spec = ROOMS[sc]
        counts[sc] = max(1, int((spec["quick"] if args.quick else spec["count"]) * args.scale))
    payload = {
        "meta": {
            "timestamp": stamp,
            "duration_s": duration,
            "args": {k: v for k, v in vars(args).items()},
            "counts": counts,
            "scenarios": {
                k: {key: v[key] for key in ("label", "unit", "req", "note") if key in v}
                for k, v in SCENARIOS.items()
            },
            "rooms_scenarios": {
                k: {key: v[key] for key in ("label", "servers", "req", "rows", "note") if key in v}
                for k, v in ROOMS.items()
            },
            "versions": _versions(),
            "git": _git_state(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "cpu_metric": "server utime+stime from /proc/<pid>/stat (clock ticks)",
            "client_bench": CLIENT_BENCH,
            "skipped": skipped + skipped_clients,
        },
        "servers": server_res,
        "clients": client_res,
        "rooms": rooms_res,
        "markdown": text,
    }
    path = os.path.join(args.out, f"bench-{stamp}.json")
    for target in (path, os.path.join(args.out, "latest.json")):
        with open(target, "w") as f:
            json.dump(payload, f, indent=1)
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(text)
    _log(f"wrote {path} (and latest.json / latest.md); logs in {log_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
