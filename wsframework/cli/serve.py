"""Serving the app in one process: signals, the server, the graceful drain."""

from __future__ import annotations

import logging
import os
import signal
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from types import FrameType
from typing import Any

import trio

from ..app import App
from ..exceptions import BrokerUnavailable
from ..server import WebSocketServer
from .common import _say
from .config import DrainableListener, RunConfig

logger = logging.getLogger("wsframework")

EXIT_STARTUP_FAILED = 3
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """SIGINT/SIGTERM arrived while loading the app or binding: stop quietly."""


class EarlySignals:
    """SIGINT/SIGTERM before Trio takes over.

    While ``raising`` (importing the app, binding), a signal raises :class:`Interrupted`, so a
    slow import can still be interrupted; afterwards it is only recorded, and the Trio side
    acts on :attr:`received` once it listens for signals itself.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        self.raising = True

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._record)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        if self.raising:
            raise Interrupted(signum)
        self.received.append(signum)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:  # pragma: no cover
        return f"signal {signum}"


def _drain_bound(timeout: float | None) -> str:
    """How long a drain waits, for the status line."""
    return "no time limit" if timeout is None else f"up to {timeout:g}s"


def _close_reason(code: int) -> str:
    return "service restart" if code == 1012 else "server shutting down"


async def serve_app(
    app: App,
    sock: socket.socket,
    context: ssl.SSLContext | None,
    cfg: RunConfig,
    early: EarlySignals,
    announce: Callable[[], None],
) -> int:
    """Serve on ``sock`` until SIGINT/SIGTERM, then drain; the process's exit status.

    The drain stops accepting (the listening socket is closed), answers handshakes still in
    progress with 503, closes open connections with ``cfg.close_code`` after what their
    handlers already sent, and waits up to ``cfg.graceful_timeout`` seconds for the handlers;
    then the lifespan shutdown runs. A second signal cuts the drain short (handlers are
    cancelled, the lifespan shutdown still runs). Exit status 0 either way.
    """
    stop = trio.Event()
    force = trio.CancelScope()
    signals_seen: list[int] = []
    pid = os.getpid()

    def on_signal(signum: int) -> None:
        signals_seen.append(signum)
        if len(signals_seen) == 1:
            stop.set()
        else:
            _say(f"received {_signal_name(signum)} again: stopping now (pid {pid})")
            force.cancel()

    async def watch_signals(signals: AsyncIterator[int]) -> None:
        async for signum in signals:
            on_signal(signum)

    async def watch_parent(parent: int) -> None:
        while True:
            await trio.sleep(0.5)
            if os.getppid() != parent:
                break
        _say(f"the supervisor (pid {parent}) is gone: shutting down (pid {pid})")
        stop.set()

    listener = DrainableListener(sock)
    served: trio.abc.Listener[Any] = listener
    if context is not None:
        served = trio.SSLListener(listener, context, https_compatible=True)
    started = False
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        for signum in early.received:
            on_signal(signum)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_signals, signals)
            if cfg.worker_id is not None:
                nursery.start_soon(watch_parent, os.getppid())
            try:
                with force:
                    async with app.lifespan_context():
                        started = True
                        server = WebSocketServer(
                            app.handle_websocket,
                            [served],
                            http_handler=app.handle_http,
                            options=cfg.server_options(),
                        )
                        async with trio.open_nursery() as server_nursery:
                            await server_nursery.start(server.run)
                            announce()
                            await stop.wait()
                            listener.stop_accepting()
                            with trio.move_on_after(5):
                                await listener.closed.wait()
                            why = _signal_name(signals_seen[0]) if signals_seen else "stop"
                            _say(
                                f"received {why}: stopped accepting, draining "
                                f"{server.connection_count} connection(s) (close code "
                                f"{cfg.close_code}, {_drain_bound(cfg.graceful_timeout)}) "
                                f"(pid {pid})"
                            )
                            drained = await server.shutdown(
                                code=cfg.close_code,
                                reason=_close_reason(cfg.close_code),
                                timeout=cfg.graceful_timeout,
                            )
                            if not drained:
                                logger.warning(
                                    "%d connection(s) still open after %gs: cancelling them",
                                    server.connection_count,
                                    cfg.graceful_timeout,
                                )
                            server_nursery.cancel_scope.cancel()
            except Exception as exc:
                if started:
                    raise
                if isinstance(exc, BrokerUnavailable):  # a user error: one line, no traceback
                    source = app.rooms.broker_choice()[1]
                    _say(
                        f"error: application startup failed (pid {pid}): "
                        f"{str(exc).rstrip('.')} (broker from {source})"
                    )
                else:
                    logger.exception("application startup failed")
                return EXIT_STARTUP_FAILED
            finally:
                nursery.cancel_scope.cancel()
    return 0
