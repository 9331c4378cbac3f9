"""The Prometheus endpoint counts what known traffic did; the readiness route says 503 while a
server drains. Counters are per process and other tests run in it too: every assertion is on
the difference between two scrapes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families

from wsframework import (
    App,
    ConnectionClosed,
    ConnectionRejected,
    WebSocketRequest,
    WebSocketServer,
    open_websocket_url,
    serve_websocket,
)
from wsframework.testing import TestClient

from .rooms.room_helpers import chat_app, running, until_count

Scrape = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Scrape:
    """Every sample of an exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


class Scraper:
    """Scrapes ``/metrics`` through a test client and reports changes since the first scrape."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.before: Scrape = {}

    async def scrape(self) -> Scrape:
        response = await self.client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=")
        return parse(response.text)

    async def start(self) -> None:
        self.before = await self.scrape()

    async def delta(self, name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return (await self.scrape()).get(key, 0.0) - self.before.get(key, 0.0)


def traffic_app() -> App:
    app = App()
    app.add_metrics_route()

    @app.websocket("/echo")
    async def echo(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.ping()  # one round-trip time for the histogram
        async for message in ws:
            await ws.send_message(message)

    @app.websocket("/deny")
    async def deny(request: WebSocketRequest) -> None:
        await request.reject(403)

    @app.websocket("/policy")
    async def policy(request: WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.aclose(1008, "policy violation")

    @app.websocket("/boom")
    async def boom(request: WebSocketRequest) -> None:
        await request.accept()
        raise RuntimeError("the handler fails")

    return app


@asynccontextmanager
async def scraping(app: App) -> AsyncIterator[Scraper]:
    async with TestClient(app) as client:
        scraper = Scraper(client)
        await scraper.start()
        yield scraper


async def test_the_endpoint_counts_handshakes_messages_bytes_closes_and_errors() -> None:
    app = traffic_app()
    async with scraping(app) as metrics:
        client = metrics.client
        async with client.websocket("/echo") as one, client.websocket("/echo") as two:
            for ws in (one, two):
                for n in range(5):
                    await ws.send_message(f"hello {n}")
                    assert await ws.get_message() == f"hello {n}"
            assert await metrics.delta("wsframework_connections_open") == 2
        with pytest.raises(ConnectionRejected):
            async with client.websocket("/deny"):
                pass  # pragma: no cover - rejected
        for target in ("/policy", "/boom"):
            async with client.websocket(target) as ws:
                with pytest.raises(ConnectionClosed):
                    await ws.get_message()
        await trio.testing.wait_all_tasks_blocked()  # the handlers have ended

        handshakes = "wsframework_handshakes_total"
        assert await metrics.delta(handshakes, outcome="accepted", status="101") == 4
        assert await metrics.delta(handshakes, outcome="rejected", status="403") == 1
        assert await metrics.delta("wsframework_messages_total", direction="in") == 10
        assert await metrics.delta("wsframework_messages_total", direction="out") == 10
        # Server frames of "hello n" are 2 + 7 bytes; the client's are masked (+4), and every
        # close frame and the pong count too.
        assert 10 * 9 < await metrics.delta("wsframework_bytes_total", direction="out") < 200
        assert 10 * 13 < await metrics.delta("wsframework_bytes_total", direction="in") < 250
        closes = "wsframework_closes_total"
        assert await metrics.delta(closes, code="1000", side="client") == 2
        assert await metrics.delta(closes, code="1008", side="server") == 1
        assert await metrics.delta(closes, code="1011", side="server") == 1
        assert await metrics.delta("wsframework_handler_errors_total", handled="false") == 1
        assert await metrics.delta("wsframework_ping_rtt_seconds_count") == 2
        assert await metrics.delta("wsframework_connections_open") == 0
        # A scrape adds nothing by itself.
        assert await metrics.delta(closes, code="1000", side="client") == 2


async def test_handshakes_that_never_complete_count_as_failed() -> None:
    app = traffic_app()
    async with scraping(app) as metrics:
        stream = metrics.client._serve()
        await stream.send_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
        while await stream.receive_some(1024):
            pass
        await trio.testing.wait_all_tasks_blocked()
        failed = await metrics.delta("wsframework_handshakes_total", outcome="failed", status="400")
        assert failed == 1


async def test_room_members_publications_and_queue_drops() -> None:
    app = chat_app(queue_size=2, overflow="drop_newest")
    app.add_metrics_route()
    async with running(app) as clients:
        metrics = Scraper(clients.client)
        await metrics.start()
        slow = await clients.connect("/chat/r", lockstep=True, message_queue_size=1)
        fast = await clients.connect("/chat/r?echo=0")
        await until_count(app, "r", 2)
        assert await metrics.delta("wsframework_room_members") == 2
        for n in range(10):
            await fast.send_message(f"m{n}")
        await trio.testing.wait_all_tasks_blocked()  # every publication met the full queue
        assert await metrics.delta("wsframework_room_publications_total") == 10
        assert await metrics.delta("wsframework_room_queue_drops_total", policy="drop_newest") > 0
        assert slow.closed is None
        await fast.aclose()
        await until_count(app, "r", 1)
        assert await metrics.delta("wsframework_room_members") == 1


async def test_readiness_answers_503_while_a_server_drains(nursery: trio.Nursery) -> None:
    app = App()
    app.add_health_route()
    entered, release, drained = trio.Event(), trio.Event(), trio.Event()

    async def hold(request: WebSocketRequest) -> None:
        await request.accept()
        entered.set()
        with trio.CancelScope(shield=True):
            await release.wait()  # the drain waits for this handler

    server: WebSocketServer = await nursery.start(serve_websocket, hold, "127.0.0.1", 0, None)

    async def drain() -> None:
        await server.shutdown(timeout=10)
        drained.set()

    async with TestClient(app) as client:
        assert (await client.get("/ready")).status_code == 200
        async with open_websocket_url(f"ws://127.0.0.1:{server.port}/"):
            await entered.wait()
            nursery.start_soon(drain)
            await trio.testing.wait_all_tasks_blocked()
            answer = await client.get("/ready")
            assert answer.status_code == 503
            assert answer.text == "not ready: the server is draining\n"
            assert answer.headers["retry-after"] == "5"
            release.set()
            with trio.fail_after(10):
                await drained.wait()
        assert (await client.get("/ready")).status_code == 200
