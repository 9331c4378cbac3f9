"""The command line: ``wsframework run``, ``routes`` and ``asyncapi`` (each takes MODULE:ATTR).

``run`` serves an :class:`~wsframework.App` on our own Trio server; SIGINT/SIGTERM drain it
gracefully (see docs/cli.md). With ``--workers N`` or ``--reload`` a supervisor process binds
the listening socket once and runs the app in child processes that inherit it; it restarts a
child that dies (``--workers``) or restarts them all when a source file changes (``--reload``).

``routes`` prints the app's route table, ``asyncapi`` its AsyncAPI document.

The parts: :mod:`.loading` (importing the app, the ``routes`` command), :mod:`.config` (the
settings of ``run``, logging, the listening socket), :mod:`.serve` (one process serving and
draining), :mod:`.supervisor` (the worker processes, ``--reload``); this module has the argument
parser and :func:`main`, and re-exports the names that used to live in one ``cli.py``.

User errors (bad import string, unknown module, port in use, missing certificate...) are
reported as one line on stderr, without a traceback, with exit status 1.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence

import trio

from .._version import __version__
from ..options import HANDSHAKE_TIMEOUT, SEND_TIMEOUT
from ..rooms import BROKER_ENV, MemoryBroker, Rooms
from . import asyncapi as _asyncapi

# ``X as X`` marks a re-export: every public name of the former single-module cli.py is still
# importable from wsframework.cli.
from .common import PROG as PROG
from .common import CLIError, _add_app_dir, _say, seconds
from .config import Bound as Bound
from .config import DrainableListener as DrainableListener
from .config import RunConfig as RunConfig
from .config import configure_logging as configure_logging
from .config import open_socket as open_socket
from .config import ssl_context as ssl_context
from .loading import _cmd_routes, load_app, route_table
from .serve import EXIT_STARTUP_FAILED as EXIT_STARTUP_FAILED
from .serve import STOP_SIGNALS as STOP_SIGNALS
from .serve import EarlySignals as EarlySignals
from .serve import Interrupted as Interrupted
from .serve import _signal_name
from .serve import logger as logger
from .serve import serve_app as serve_app
from .supervisor import IGNORED_DIRS as IGNORED_DIRS
from .supervisor import Supervisor as Supervisor
from .supervisor import watch_changes as watch_changes

__all__ = ["CLIError", "load_app", "main", "route_table"]

EXIT_ERROR = 1
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _cmd_run(args: argparse.Namespace) -> int:
    early = EarlySignals()
    early.install()
    cfg = RunConfig.from_args(args)
    configure_logging(cfg.log_level, access_log=cfg.access_log)
    _add_app_dir(cfg.app_dir)
    app = load_app(cfg.app, factory=cfg.factory)
    if cfg.root_path is not None:
        app.root_path = cfg.root_path  # stripped from request paths before routing
    if cfg.broker is not None:
        app.rooms.use_broker(cfg.broker)  # wins over WSFRAMEWORK_BROKER and App(broker=...)
    if cfg.supervised and cfg.workers > 1:
        warn_if_rooms_per_process(app.rooms, cfg.workers)
    context = ssl_context(cfg.ssl_certfile, cfg.ssl_keyfile)
    bound = open_socket(cfg, tls=context is not None)
    early.raising = False
    try:
        if cfg.supervised:
            mode = "reload" if cfg.reload else ""
            if cfg.workers > 1:
                mode = f"{cfg.workers} workers" + (", reload" if cfg.reload else "")
            _say(f"serving {cfg.app} on {bound.url} (pid {os.getpid()}, {mode})")
            status = trio.run(Supervisor(cfg, bound.sock, early).run)
        else:

            def announce() -> None:
                if cfg.worker_id is not None:
                    _say(f"worker {cfg.worker_id} ready (pid {os.getpid()})")
                else:
                    _say(f"serving {cfg.app} on {bound.url} (pid {os.getpid()})")

            status = trio.run(serve_app, app, bound.sock, context, cfg, early, announce)
    finally:
        bound.sock.close()
        if bound.unlink is not None:
            try:
                os.unlink(bound.unlink)
            except OSError:
                pass
    if cfg.worker_id is None:
        _say(f"stopped (pid {os.getpid()})")
    return status


def warn_if_rooms_per_process(rooms: Rooms, workers: int) -> None:
    """Log a warning when ``workers`` processes would each keep their rooms in memory (unless
    ``--broker memory://`` asked for exactly that)."""
    chosen, source = rooms.broker_choice()
    if source == "--broker":
        return
    if isinstance(chosen, MemoryBroker) or (
        isinstance(chosen, str) and chosen.lower().startswith("memory://")
    ):
        origin = "the default" if source == "default" else f"from {source}"
        logger.warning(
            "rooms use the in-memory broker (%s): with %d workers each worker has its own "
            "rooms, and members, publications and presence do not span workers; use "
            "--broker redis://HOST:PORT/DB (or %s) to share them",
            origin,
            workers,
            BROKER_ENV,
        )


def build_parser() -> argparse.ArgumentParser:
    """The ``wsframework`` argument parser."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Run and inspect wsframework applications."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="serve an app", description="Serve MODULE:ATTR (an App) over WebSocket."
    )
    run.add_argument("app", metavar="MODULE:ATTR", help="e.g. apps.echo.app:app")
    bind = run.add_argument_group("binding")
    bind.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    bind.add_argument("--port", type=int, default=8000, help="TCP port, 0 for any free (8000)")
    bind.add_argument("--uds", metavar="PATH", help="listen on this Unix socket instead")
    bind.add_argument("--fd", type=int, help="serve this already-open socket file descriptor")
    bind.add_argument("--backlog", type=int, default=2048, help="listen backlog (2048)")
    bind.add_argument("--ssl-certfile", metavar="PATH", help="serve TLS (wss://) with this cert")
    bind.add_argument("--ssl-keyfile", metavar="PATH", help="its private key, if not in it")
    proc = run.add_argument_group("processes")
    proc.add_argument("--workers", type=int, default=1, help="processes sharing the socket (1)")
    proc.add_argument("--reload", action="store_true", help="restart on source file changes")
    proc.add_argument(
        "--reload-dir",
        action="append",
        metavar="DIR",
        help="directory to watch with --reload (repeatable; default: --app-dir)",
    )
    proc.add_argument(
        "--graceful-timeout",
        type=seconds,
        default=10.0,
        metavar="SECONDS",
        help="how long a drain waits for handlers to finish (10; off: no limit)",
    )
    proc.add_argument(
        "--close-code",
        type=int,
        default=1001,
        help="close code sent to open connections when draining (1001; 1012 = restart)",
    )
    proc.add_argument("--worker-id", type=int, help=argparse.SUPPRESS)
    limits = run.add_argument_group("limits (per worker process; see docs/security.md)")
    limits.add_argument(
        "--handshake-timeout",
        type=seconds,
        default=HANDSHAKE_TIMEOUT,
        metavar="SECONDS",
        help="time a client has to send its opening handshake (10; off: no limit)",
    )
    limits.add_argument(
        "--send-timeout",
        type=seconds,
        default=SEND_TIMEOUT,
        metavar="SECONDS",
        help="drop a client that reads nothing for this long while we send (30; off or 0: never)",
    )
    limits.add_argument(
        "--max-connections", type=int, metavar="N", help="WebSocket connections open at once"
    )
    limits.add_argument(
        "--max-connections-per-ip", type=int, metavar="N", help="the same, per client IP"
    )
    limits.add_argument(
        "--handshake-rate", type=float, metavar="PER_SECOND", help="WebSocket handshakes a second"
    )
    limits.add_argument(
        "--handshake-burst", type=int, metavar="N", help="handshakes at once (--handshake-rate)"
    )
    app = run.add_argument_group("application")
    app.add_argument("--factory", action="store_true", help="ATTR is a callable returning the App")
    app.add_argument(
        "--root-path", help="path prefix the app is mounted at behind a proxy (e.g. /api)"
    )
    app.add_argument(
        "--app-dir", default=".", help="directory put first on sys.path (current directory)"
    )
    app.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="(info)")
    app.add_argument(
        "--broker",
        metavar="URL",
        help="where rooms meet, for every worker: redis://HOST:PORT/DB, rediss://..., "
        "redis+sentinel://HOST:PORT/SERVICE or memory:// (beats WSFRAMEWORK_BROKER and the code)",
    )
    app.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="silence the wsframework.access logger",
    )
    run.set_defaults(handler=_cmd_run)

    routes = commands.add_parser(
        "routes", help="print the route table", description="Print the routes of MODULE:ATTR."
    )
    routes.add_argument("app", metavar="MODULE:ATTR")
    routes.add_argument("--factory", action="store_true", help="ATTR returns the App")
    routes.add_argument("--app-dir", default=".", help="put first on sys.path (.)")
    routes.add_argument("--json", action="store_true", help="print JSON instead of a table")
    routes.set_defaults(handler=_cmd_routes)
    _asyncapi.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status."""
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except CLIError as exc:
        _say(f"error: {exc}")
        return EXIT_ERROR
    except Interrupted as exc:
        _say(f"received {_signal_name(exc.args[0])} while starting: stopped (pid {os.getpid()})")
        return 0
