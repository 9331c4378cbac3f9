"""What operators watch: Prometheus metrics and a readiness answer (docs/metrics.md).

:meth:`App.add_metrics_route <wsframework.App.add_metrics_route>` serves the metrics in the
Prometheus text format, through the ``prometheus-client`` package (``pip install
'wsframework[metrics]'``); :meth:`App.add_health_route <wsframework.App.add_health_route>`
answers 200, or 503 while the server drains or the rooms broker is lost.

The hot path never calls prometheus-client (whose every update takes a lock): the transports
count in plain integers (:mod:`wsframework._stats`), and the :class:`Exporter` adds what they
counted since its last look to real prometheus-client metrics, at each scrape and once a second.
Under several worker processes that is what makes the sum right: with
``PROMETHEUS_MULTIPROC_DIR`` set (``wsframework run --workers N`` sets it; set it yourself for
Hypercorn's ``--workers``), those metrics live in prometheus-client's per-process files and a
scrape of any worker reads them all (``MultiProcessCollector``), each worker's share at most
a second old.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Protocol

import trio

from . import _stats as stats
from .http import HTTPRequest, Response
from .rooms import Rooms

__all__ = ["Exporter", "FLUSH_INTERVAL", "add_health_route", "add_metrics_route", "readiness"]

#: Seconds between two flushes of the cheap counters into the Prometheus metrics.
FLUSH_INTERVAL = 1.0
#: The buckets (seconds) of the ping round-trip time histogram.
RTT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

Endpoint = Callable[[HTTPRequest], Awaitable[Response]]


class _App(Protocol):
    """What the routes need of an :class:`~wsframework.App`."""

    rooms: Rooms

    def http(self, path: str, *, name: str | None = None) -> Callable[[Endpoint], Endpoint]: ...

    def on_startup(self, func: Callable[[], Awaitable[None]]) -> Any: ...

    def on_shutdown(self, func: Callable[[], Awaitable[None]]) -> Any: ...

    def start_background_task(
        self, func: Callable[[], Awaitable[Any]], name: str | None = None
    ) -> None: ...


def multiprocess_dir() -> str | None:
    """The directory of prometheus-client's multiprocess mode, when it is on."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


class Exporter:
    """The Prometheus metrics of this process, fed from the cheap counters. One per process
    (:meth:`get`); every metric is listed in docs/metrics.md."""

    _instance: ClassVar[Exporter | None] = None

    @classmethod
    def get(cls) -> Exporter:
        """The process's exporter, made on first use.

        Raises:
            ImportError: prometheus-client is not installed.
        """
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def __init__(self) -> None:
        try:
            import prometheus_client as prom
        except ImportError as exc:
            raise ImportError(
                "metrics need the prometheus-client package: pip install 'wsframework[metrics]'"
            ) from exc
        self._prom = prom
        # The default registry: the process metrics and the app's own metrics are served too.
        self.registry = prom.REGISTRY
        registry = self.registry

        def counter(name: str, doc: str, *labels: str) -> Any:
            return prom.Counter(name, doc, labels, registry=registry)

        def gauge(name: str, doc: str) -> Any:
            return prom.Gauge(name, doc, registry=registry, multiprocess_mode="livesum")

        self.connections = gauge("wsframework_connections_open", "Open WebSocket connections.")
        self.handshakes = counter(
            "wsframework_handshakes",
            "Opening handshakes by outcome and HTTP status.",
            "outcome",
            "status",
        )
        self.messages = counter("wsframework_messages", "WebSocket data messages.", "direction")
        self.bytes = counter("wsframework_bytes", "WebSocket bytes.", "direction")
        self.closes = counter(
            "wsframework_closes",
            "Closed connections by close code and who closed first.",
            "code",
            "side",
        )
        self.handler_errors = counter(
            "wsframework_handler_errors", "Exceptions raised by WebSocket handlers.", "handled"
        )
        self.queue_drops = counter(
            "wsframework_room_queue_drops",
            "Room publications dropped by a full member queue.",
            "policy",
        )
        self.room_members = gauge("wsframework_room_members", "Members of rooms on this server.")
        self.publications = counter("wsframework_room_publications", "Publications to rooms.")
        self.broker_reconnects = counter(
            "wsframework_broker_reconnects", "Times the rooms broker came back after a loss."
        )
        self.ping_rtt = prom.Histogram(
            "wsframework_ping_rtt_seconds",
            "Round-trip time of pings (keepalive and ping()).",
            buckets=RTT_BUCKETS,
            registry=registry,
        )
        self._seen: dict[tuple[int, tuple[str, ...]], int] = {}
        if stats.STATS.rtt_samples is None:
            stats.STATS.rtt_samples = []

    def flush(self) -> None:
        """Add what was counted since the last flush to the metrics."""
        s = stats.STATS
        m_in, m_out, b_in, b_out = s.totals()
        for direction, messages, size in (("in", m_in, b_in), ("out", m_out, b_out)):
            self._add(self.messages, (direction,), messages)
            self._add(self.bytes, (direction,), size)
        self._add_all(self.handshakes, s.handshakes)
        self._add_all(self.closes, s.closes)
        self._add_all(self.handler_errors, {(k,): v for k, v in s.handler_errors.items()})
        self._add_all(self.queue_drops, {(k,): v for k, v in s.queue_drops.items()})
        self._add(self.publications, (), s.publications)
        self._add(self.broker_reconnects, (), s.broker_reconnects)
        self.connections.set(len(s.live))
        self.room_members.set(s.room_members)
        samples, s.rtt_samples = s.rtt_samples or [], []
        for seconds in samples:
            self.ping_rtt.observe(seconds)

    def _add_all(self, metric: Any, values: Mapping[Any, int]) -> None:
        for labels, value in list(values.items()):
            self._add(metric, labels, value)

    def _add(self, metric: Any, labels: tuple[str, ...], value: int) -> None:
        key = (id(metric), labels)
        delta = value - self._seen.get(key, 0)
        if delta > 0:
            (metric.labels(*labels) if labels else metric).inc(delta)
            self._seen[key] = value

    def exposition(self) -> tuple[bytes, str]:
        """Flush, then the metrics in the text format (of every worker, in multiprocess
        mode) and their content type."""
        self.flush()
        prom = self._prom
        registry = self.registry
        directory = multiprocess_dir()
        if directory:
            from prometheus_client import multiprocess

            forget_dead_workers(directory)
            registry = prom.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return prom.generate_latest(registry), prom.CONTENT_TYPE_LATEST

    async def run(self) -> None:
        """Flush every :data:`FLUSH_INTERVAL` seconds until cancelled."""
        while True:
            await trio.sleep(FLUSH_INTERVAL)
            self.flush()


def forget_dead_workers(directory: str) -> None:
    """Remove the live-summed gauges of processes that are gone (a worker that died under
    Hypercorn, which does not tell; ``wsframework run`` also does it as each worker exits)."""
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        pid = int(path.rsplit("_", 1)[1].removesuffix(".db"))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                os.remove(path)
        except OSError:  # pragma: no cover - alive, another user's
            pass


def add_metrics_route(app: _App, path: str, name: str) -> None:
    """Serve the metrics at ``GET path`` and flush them once a second while ``app`` runs
    (what :meth:`App.add_metrics_route <wsframework.App.add_metrics_route>` does).

    Raises:
        ImportError: prometheus-client is not installed.
    """
    exporter = Exporter.get()

    async def start_flushing() -> None:
        app.start_background_task(exporter.run, "metrics flush")

    async def last_flush() -> None:
        exporter.flush()

    async def metrics(request: HTTPRequest) -> Response:
        body, content_type = exporter.exposition()
        return Response(body, media_type=content_type)

    app.on_startup(start_flushing)
    app.on_shutdown(last_flush)
    app.http(path, name=name)(metrics)


def readiness(rooms: Rooms) -> str | None:
    """Why this process should get no new clients now, or ``None`` when it is ready: a server
    of this process is draining, or the rooms broker is lost."""
    if stats.STATS.draining:
        return "the server is draining"
    if rooms.broker_lost:
        return "the rooms broker is lost"
    return None


def add_health_route(app: _App, path: str, name: str) -> None:
    """Answer ``GET path`` with 200 ``ready``, or 503 saying why not (see :func:`readiness`;
    what :meth:`App.add_health_route <wsframework.App.add_health_route>` does)."""

    async def ready(request: HTTPRequest) -> Response:
        problem = readiness(app.rooms)
        if problem is None:
            return Response("ready\n")
        return Response(f"not ready: {problem}\n", 503, headers=[("retry-after", "5")])

    app.http(path, name=name)(ready)
