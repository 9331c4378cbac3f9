"""The metrics of two real worker processes add up, under both runners: ``wsframework run
--workers 2`` (which makes and removes prometheus-client's multiprocess directory itself) and
``hypercorn --workers 2`` with ``PROMETHEUS_MULTIPROC_DIR`` set by the user, as docs/metrics.md
says. Connections land on both workers; a scrape, answered by either, reports the sum.
"""

from __future__ import annotations

import os
import re
import urllib.request
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from wsframework import connect_websocket_url
from wsframework.interface import WebSocketConnection

from .cli_helpers import ROOT, Server
from .processes import free_port

APP = "tests.integration.metrics_app:app"
READY = re.compile(r"metrics_app: ready (\d+)")
TIMEOUT = 20.0
MAX_CLIENTS = 40
BURST = 4  # clients connecting at once (see rooms_workers_helpers.connect_on_both)
MESSAGES = 3


@dataclass
class Served:
    runner: str
    server: Server
    port: int
    pids: set[int]
    tmp: Path

    def get(self, path: str) -> tuple[int, str]:
        """``GET path`` over a real socket: (status, body)."""
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


def start(runner: str, tmp: Path) -> Served:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    (tmp / "tmp").mkdir()
    env["TMPDIR"] = str(tmp / "tmp")  # where `wsframework run` makes its directory
    if runner == "native":
        server = Server(["run", APP, "--workers", "2", "--port", "0"], env)
        port = server.started()[1]
    else:
        (tmp / "metrics").mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "metrics")
        port = free_port()
        args = ["--worker-class", "trio", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
        server = Server([*args, "--graceful-timeout", "2", APP], env, module="hypercorn")
    try:
        while True:  # the two workers' lines may share one line of output
            seen = server.mark()
            pids = {int(pid) for pid in READY.findall(server.output)}
            if len(pids) == 2:
                break
            server.find(".", after=seen)  # bounded: more output, or fail
    except BaseException:
        server.cleanup()
        raise
    return Served(runner, server, port, pids, tmp)


@pytest.fixture(params=["native", "hypercorn"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    running = start(request.param, tmp_path)
    try:
        yield running
    finally:
        running.server.cleanup()
        for pid in running.pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` of an exposition, 0 when absent."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


async def until_metrics(served: Served, expected: dict[tuple[str, str], float]) -> str:
    """Scrape until every ``(name, direction-or-"")`` has its expected value (each worker
    flushes once a second): the last exposition."""
    text = ""
    with trio.fail_after(TIMEOUT):
        while True:
            status, text = await trio.to_thread.run_sync(served.get, "/metrics")
            assert status == 200
            got = {
                (name, label): value(text, name, **({"direction": label} if label else {}))
                for name, label in expected
            }
            if got == expected:
                return text
            await trio.sleep(0.2)  # bounded polling: the workers flush every second


async def test_metrics_are_summed_over_both_workers(served: Served) -> None:
    baseline = await until_metrics(served, {("wsframework_connections_open", ""): 0})
    assert value(baseline, "wsframework_messages_total", direction="in") == 0
    async with AsyncExitStack() as stack:
        clients: list[WebSocketConnection] = []
        seen: set[int] = set()
        nursery = await stack.enter_async_context(trio.open_nursery())

        async def connect() -> None:
            url = f"ws://127.0.0.1:{served.port}/pid"
            ws = await connect_websocket_url(nursery, url)
            stack.push_async_callback(ws.aclose)
            with trio.fail_after(TIMEOUT):
                seen.add(int(await ws.get_message()))
            clients.append(ws)

        # Which worker accepts is the kernel's choice, and clients connecting one after the
        # other tend to land on the same one: connect a few at once, so that one worker is
        # still busy with a handshake while the other accepts.
        while seen != served.pids and len(clients) < MAX_CLIENTS:
            async with trio.open_nursery() as burst:
                for _ in range(BURST):
                    burst.start_soon(connect)
        assert seen == served.pids, "every connection landed on one worker"
        for ws in clients:
            for n in range(MESSAGES):
                await ws.send_message(f"m{n}")
                with trio.fail_after(TIMEOUT):
                    assert await ws.get_message() == f"m{n}"
        count = len(clients)
        text = await until_metrics(
            served,
            {
                ("wsframework_connections_open", ""): count,
                ("wsframework_messages_total", "in"): count * MESSAGES,
                ("wsframework_messages_total", "out"): count * (MESSAGES + 1),
            },
        )
        handshakes = value(text, "wsframework_handshakes_total", outcome="accepted", status="101")
        assert handshakes == count
        status, answer = await trio.to_thread.run_sync(served.get, "/ready")
        assert (status, answer) == (200, "ready\n")
    text = await until_metrics(served, {("wsframework_connections_open", ""): 0})
    # The client closed with 1000; Hypercorn reports 1000 or 1006 to the app.
    codes = ("1000",) if served.runner == "native" else ("1000", "1006")
    closes = sum(value(text, "wsframework_closes_total", code=c, side="client") for c in codes)
    assert closes == count
    if served.runner == "native":
        served.server.stop()
        assert list((served.tmp / "tmp").iterdir()) == []  # the supervisor removed its directory
