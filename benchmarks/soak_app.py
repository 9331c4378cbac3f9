"""The app ``benchmarks/soak.py`` soaks (``make soak``): one room, an echo, a broadcast, stats.

Served by either runner, from the repository root::

    python -m wsframework run benchmarks.soak_app:app --port 0 --no-access-log
    hypercorn --worker-class trio --bind 127.0.0.1:8000 benchmarks.soak_app:app

Routes:

* ``/soak`` (WebSocket): the connection joins the room ``soak`` (in-memory broker, the default)
  and echoes every message back to its sender, so a client can count exactly what it got back.
* ``/soak/control`` (WebSocket): ``stats`` or ``broadcast`` in, the answer of the two routes
  below out, as JSON text; the driver keeps one such connection for the whole run, so that
  reading the stats opens no connection the task and fd counts would see.
* ``POST /soak/broadcast``: one publication to the room, ``B<ns>`` where ``<ns>`` is
  ``time.monotonic_ns()`` taken just before ``room.publish`` (CLOCK_MONOTONIC is one clock for
  every process on Linux, so a client's arrival time minus it is the broadcast's latency).
  Answers ``{"stamp": ns, "publish_ns": ..., "members": n}``.
* ``GET /soak/stats``: ``{"pid", "tasks", "members", "received", "echoed", "rss", "fds",
  "gc_seconds", "gc_gen2"}``: the live Trio tasks of the process (walked from the root task),
  the room's member count, messages received and echoed by all connections so far, this
  process's RSS and open file descriptors, the time spent in the cyclic garbage collector and
  its full (generation 2) collections so far. ``pid`` is the serving process (Hypercorn
  serves from a child).
"""

from __future__ import annotations

import gc
import json
import os
import time

import trio

from wsframework import App, HTTPRequest, WebSocketRequest

ROOM = "soak"
app = App()
counts = {"received": 0, "echoed": 0}
gc_spent = {"started": 0.0, "seconds": 0.0, "gen2": 0}


def _time_gc(phase: str, info: dict[str, int]) -> None:
    """Time the cyclic garbage collector: with 100,000s of live objects a full one is long."""
    if phase == "start":
        gc_spent["started"] = time.perf_counter()
    else:
        gc_spent["seconds"] += time.perf_counter() - gc_spent["started"]
        gc_spent["gen2"] += info["generation"] == 2


gc.callbacks.append(_time_gc)


@app.websocket("/soak", compression=None)
async def soak(request: WebSocketRequest) -> None:
    ws = await request.accept()
    async with app.rooms[ROOM].join(ws):
        async for message in ws:
            counts["received"] += 1
            await ws.send_message(message)
            counts["echoed"] += 1


async def publish() -> dict[str, int]:
    room = app.rooms[ROOM]
    stamp = time.monotonic_ns()
    await room.publish(f"B{stamp}")
    published = time.monotonic_ns()
    return {"stamp": stamp, "publish_ns": published - stamp, "members": await room.count()}


def live_tasks() -> int:
    """Every task of this Trio run: the root task and its descendants."""
    root = trio.lowlevel.current_root_task()
    count, pending = 0, [root] if root is not None else []
    while pending:
        task = pending.pop()
        count += 1
        for nursery in task.child_nurseries:
            pending.extend(nursery.child_tasks)
    return count


def rss_bytes() -> int:
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def collect() -> dict[str, float]:
    return {
        "pid": os.getpid(),
        "tasks": live_tasks(),
        "members": await app.rooms[ROOM].count(),
        "received": counts["received"],
        "echoed": counts["echoed"],
        "rss": rss_bytes(),
        "fds": len(os.listdir("/proc/self/fd")),
        "gc_seconds": gc_spent["seconds"],
        "gc_gen2": gc_spent["gen2"],
    }


@app.http("/soak/broadcast", methods=["POST"])
async def broadcast(request: HTTPRequest) -> dict[str, int]:
    return await publish()


@app.http("/soak/stats")
async def stats(request: HTTPRequest) -> dict[str, float]:
    return await collect()


@app.websocket("/soak/control", compression=None)
async def control(request: WebSocketRequest) -> None:
    """``stats`` or ``broadcast`` in, the JSON answer out: one connection for the whole run,
    so reading the stats does not open connections that the task and fd counts would see."""
    ws = await request.accept()
    async for message in ws:
        answer = await (publish() if message == "broadcast" else collect())
        await ws.send_message(json.dumps(answer))
