"""The command line: ``wsframework run MODULE:ATTR`` and ``wsframework routes MODULE:ATTR``.

``run`` serves an :class:`~wsframework.App` on our own Trio server; SIGINT/SIGTERM drain it
gracefully (see docs/cli.md). With ``--workers N`` or ``--reload`` a supervisor process binds
the listening socket once and runs the app in child processes that inherit it; it restarts a
child that dies (``--workers``) or restarts them all when a source file changes (``--reload``).

``routes`` prints the app's route table.

User errors (bad import string, unknown module, port in use, missing certificate...) are
reported as one line on stderr, without a traceback, with exit status 1.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import logging
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import trio

from .app import App
from .protocol.close import check_close_code
from .server import WebSocketServer

__all__ = ["CLIError", "load_app", "main", "route_table"]

logger = logging.getLogger("wsframework")

PROG = "wsframework"
EXIT_ERROR = 1
EXIT_STARTUP_FAILED = 3
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Directories never watched by --reload (also ignored by watchfiles' default filter).
IGNORED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "build", "dist"})


class CLIError(Exception):
    """A user error: reported as one line (``wsframework: error: ...``), exit status 1."""


def _say(message: str) -> None:
    """A status line on stderr (startup, shutdown, workers): always shown."""
    # One write: lines from several workers sharing the stream must not interleave.
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------- loading the app


def load_app(spec: str, *, factory: bool = False) -> App:
    """Import ``MODULE:ATTR`` (``ATTR`` may be dotted) and return the App it names.

    With ``factory``, ``ATTR`` is called without arguments and must return the App.

    Raises:
        CLIError: a malformed import string, a module that is missing or fails to import, a
            missing attribute, or something that is not an App.
    """
    module_name, colon, attr = spec.partition(":")
    if not colon or not module_name or not attr:
        raise CLIError(
            f"import string {spec!r} must be in the form MODULE:ATTR (e.g. apps.echo.app:app)"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name
        if missing is not None and (
            module_name == missing or module_name.startswith(missing + ".")
        ):
            raise CLIError(f"cannot import {module_name!r}: no module named {missing!r}") from None
        raise CLIError(f"module {module_name!r} failed to import: {_describe(exc)}") from None
    except Exception as exc:
        raise CLIError(f"module {module_name!r} failed to import: {_describe(exc)}") from None
    obj: Any = module
    try:
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise CLIError(f"module {module_name!r} has no attribute {attr!r}") from None
    if factory:
        if not callable(obj):
            raise CLIError(f"--factory: {spec!r} is not callable (it is {_kind(obj)})")
        try:
            obj = obj()
        except Exception as exc:
            raise CLIError(f"app factory {spec!r} failed: {_describe(exc)}") from None
        if not isinstance(obj, App):
            raise CLIError(f"app factory {spec!r} returned {_kind(obj)}, not a wsframework App")
        return obj
    if not isinstance(obj, App):
        hint = ""
        if callable(obj) and not isinstance(obj, type):
            hint = " (pass --factory if it is a function returning the App)"
        raise CLIError(f"{spec!r} is {_kind(obj)}, not a wsframework App{hint}")
    return obj


def _kind(obj: Any) -> str:
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"a {type(obj).__name__} ({obj.__qualname__})"
    return f"an object of type {type(obj).__name__}"


def _describe(exc: BaseException) -> str:
    """``Type: message (file:line)``, on one line, where the error was raised."""
    text = " ".join(str(exc).split())
    out = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    where = None
    if isinstance(exc, SyntaxError) and exc.filename:
        where = (exc.filename, exc.lineno)
    else:
        frames = [
            f
            for f in traceback.extract_tb(exc.__traceback__)
            if not f.filename.startswith("<frozen")
        ]
        if frames:
            where = (frames[-1].filename, frames[-1].lineno)
    if where is not None:
        filename, line = where
        out += f" ({_display_path(filename)}:{line})"
    return out


def _display_path(path: str) -> str:
    """Relative to the current directory when inside it, else as it is."""
    cwd = os.getcwd()
    if os.path.isabs(path) and os.path.commonpath([cwd, path]) == cwd:
        return os.path.relpath(path, cwd)
    return path


# ---------------------------------------------------------------------------- routes


def route_table(app: App) -> list[dict[str, Any]]:
    """One JSON-able dict per route, in matching order: what ``wsframework routes`` prints."""
    rows: list[dict[str, Any]] = []
    for route in app.router.routes:
        options = route.options
        contract = options.get("contract")
        rows.append(
            {
                "path": route.template,
                "name": route.name,
                "kind": route.kind,
                "methods": sorted(route.methods),
                "subprotocols": list(options.get("subprotocols", ())),
                "subprotocol_required": bool(options.get("subprotocol_required", False)),
                "receive": _type_label(getattr(contract, "receive", None)),
                "send": _type_label(getattr(contract, "send", None)),
                "on_invalid": getattr(contract, "on_invalid", None),
            }
        )
    return rows


def _type_label(tp: Any) -> str | None:
    if tp is None:
        return None
    try:
        from .typed import _type_name

        return _type_name(tp)
    except Exception:  # pragma: no cover - pydantic missing or an odd type
        return getattr(tp, "__qualname__", None) or repr(tp)


def _format_routes(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no routes)"
    header = ("KIND", "PATH", "NAME", "METHODS", "SUBPROTOCOLS", "CONTRACT")
    table = [header]
    for row in rows:
        subprotocols = ", ".join(row["subprotocols"]) or "-"
        if row["subprotocol_required"]:
            subprotocols += " (required)"
        contract = "-"
        if row["on_invalid"] is not None:
            contract = (
                f"receive={row['receive'] or 'any'} send={row['send'] or 'any'} "
                f"on_invalid={row['on_invalid']}"
            )
        table.append(
            (
                row["kind"],
                row["path"],
                row["name"],
                ",".join(row["methods"]) or "-",
                subprotocols,
                contract,
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    )


def _cmd_routes(args: argparse.Namespace) -> int:
    _add_app_dir(args.app_dir)
    app = load_app(args.app, factory=args.factory)
    rows = route_table(app)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(_format_routes(rows))
    return 0


# ---------------------------------------------------------------------------- run: setup


@dataclass
class RunConfig:
    """Settings of ``wsframework run``, validated."""

    app: str
    host: str = "127.0.0.1"
    port: int = 8000
    uds: str | None = None
    fd: int | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    reload: bool = False
    reload_dirs: list[str] = field(default_factory=list)
    workers: int = 1
    log_level: str = "info"
    access_log: bool = True
    root_path: str | None = None
    factory: bool = False
    graceful_timeout: float = 10.0
    close_code: int = 1001
    app_dir: str = "."
    backlog: int = 2048
    worker_id: int | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunConfig:
        """Build and check the settings.

        Raises:
            CLIError: inconsistent or out-of-range values.
        """
        cfg = cls(
            app=args.app,
            host=args.host,
            port=args.port,
            uds=args.uds,
            fd=args.fd,
            ssl_certfile=args.ssl_certfile,
            ssl_keyfile=args.ssl_keyfile,
            reload=args.reload,
            reload_dirs=[os.path.abspath(d) for d in args.reload_dir or [args.app_dir]],
            workers=args.workers,
            log_level=args.log_level,
            access_log=args.access_log,
            root_path=args.root_path,
            factory=args.factory,
            graceful_timeout=args.graceful_timeout,
            close_code=args.close_code,
            app_dir=os.path.abspath(args.app_dir),
            backlog=args.backlog,
            worker_id=args.worker_id,
        )
        if not 0 <= cfg.port <= 65535:
            raise CLIError(f"--port must be between 0 and 65535, got {cfg.port}")
        if cfg.uds is not None and cfg.fd is not None:
            raise CLIError("--uds and --fd cannot be used together")
        if cfg.workers < 1:
            raise CLIError(f"--workers must be at least 1, got {cfg.workers}")
        if not cfg.graceful_timeout >= 0:  # also NaN
            raise CLIError(f"--graceful-timeout must be >= 0, got {cfg.graceful_timeout:g}")
        if cfg.backlog < 1:
            raise CLIError(f"--backlog must be at least 1, got {cfg.backlog}")
        try:
            check_close_code(cfg.close_code)
        except ValueError as exc:
            raise CLIError(f"--close-code: {exc}") from None
        if cfg.root_path is not None:
            if cfg.root_path and not cfg.root_path.startswith("/"):
                raise CLIError(f"--root-path must start with '/', got {cfg.root_path!r}")
            cfg.root_path = cfg.root_path.rstrip("/")
        if cfg.ssl_keyfile is not None and cfg.ssl_certfile is None:
            raise CLIError("--ssl-keyfile needs --ssl-certfile")
        if cfg.reload:
            for directory in cfg.reload_dirs:
                if not os.path.isdir(directory):
                    raise CLIError(f"--reload-dir {directory}: not a directory")
        return cfg

    @property
    def supervised(self) -> bool:
        """Whether the app runs in child processes (``--workers`` > 1 or ``--reload``)."""
        return self.worker_id is None and (self.reload or self.workers > 1)

    def worker_argv(self, fd: int, worker_id: int) -> list[str]:
        """The command line of a child serving the inherited socket ``fd``."""
        argv = [sys.executable, "-m", "wsframework", "run", self.app]
        argv += ["--fd", str(fd), "--worker-id", str(worker_id), "--app-dir", self.app_dir]
        argv += ["--log-level", self.log_level]
        argv += ["--graceful-timeout", repr(self.graceful_timeout)]
        argv += ["--close-code", str(self.close_code)]
        if not self.access_log:
            argv.append("--no-access-log")
        if self.factory:
            argv.append("--factory")
        if self.root_path is not None:
            argv += ["--root-path", self.root_path]
        if self.ssl_certfile is not None:
            argv += ["--ssl-certfile", os.path.abspath(self.ssl_certfile)]
        if self.ssl_keyfile is not None:
            argv += ["--ssl-keyfile", os.path.abspath(self.ssl_keyfile)]
        return argv


def configure_logging(level: str, *, access_log: bool = True) -> None:
    """Send the ``wsframework`` and ``wsframework.access`` loggers to stderr at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s", "%H:%M:%S"
        )
    )
    root = logging.getLogger("wsframework")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
    access = logging.getLogger("wsframework.access")
    access.setLevel(level.upper() if access_log else logging.CRITICAL + 1)


def _add_app_dir(app_dir: str) -> None:
    path = os.path.abspath(app_dir)
    if path not in sys.path:
        sys.path.insert(0, path)


def ssl_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    """The server's TLS context, or ``None`` without a certificate.

    Raises:
        CLIError: a missing or unreadable certificate or key file.
    """
    if certfile is None:
        return None
    for flag, path in (("--ssl-certfile", certfile), ("--ssl-keyfile", keyfile)):
        if path is not None and not os.path.isfile(path):
            raise CLIError(f"{flag}: file not found: {path}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(certfile, keyfile)
    except ssl.SSLError as exc:
        raise CLIError(
            f"cannot load the TLS certificate/key {certfile}: {exc.reason or exc}"
        ) from None
    except OSError as exc:
        raise CLIError(f"cannot read {certfile}: {exc.strerror or exc}") from None
    return context


@dataclass
class Bound:
    """The listening socket and how to describe it."""

    sock: socket.socket
    url: str
    unlink: str | None = None  # a Unix socket file we created


def open_socket(cfg: RunConfig, tls: bool) -> Bound:
    """Bind and listen (``--host``/``--port``, ``--uds``) or adopt ``--fd``.

    Raises:
        CLIError: the address is in use, cannot be resolved or bound, or ``--fd`` is no socket.
    """
    scheme = "wss" if tls else "ws"
    if cfg.fd is not None:
        return Bound(_adopt_fd(cfg.fd, cfg.backlog), f"fd {cfg.fd}")
    if cfg.uds is not None:
        return Bound(_bind_unix(cfg.uds, cfg.backlog), f"{scheme}+unix:{cfg.uds}", cfg.uds)
    where = _host_port(cfg.host, cfg.port)
    try:
        infos = socket.getaddrinfo(
            cfg.host or None, cfg.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise CLIError(f"cannot resolve --host {cfg.host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(cfg.backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CLIError(f"cannot listen on {where}: address already in use") from None
        raise CLIError(f"cannot listen on {where}: {exc.strerror or exc}") from None
    host, port = sock.getsockname()[:2]
    return Bound(sock, f"{scheme}://{_host_port(cfg.host or host, port)}")


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind_unix(path: str, backlog: int) -> socket.socket:
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise CLIError(f"--uds {path}: exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:  # nobody listens: a stale file left by a crash
            os.unlink(path)
        else:
            raise CLIError(f"cannot listen on {path}: address already in use")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise CLIError(f"cannot listen on {path}: {exc.strerror or exc}") from None
    return sock


def _adopt_fd(fd: int, backlog: int) -> socket.socket:
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise CLIError(f"--fd {fd}: not an open socket ({exc.strerror or exc})") from None
    if sock.type != socket.SOCK_STREAM:
        sock.detach()
        raise CLIError(f"--fd {fd}: not a stream socket")
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        sock.listen(backlog)
    return sock


class DrainableListener(trio.abc.Listener[trio.SocketStream]):
    """A socket listener that a drain can close while the server's accept loop runs.

    :meth:`stop_accepting` cancels the pending ``accept()`` and closes the socket (in this
    process: a worker's siblings and the supervisor keep their copies), so that new clients
    are refused at once instead of waiting in the backlog; ``accept()`` then blocks until the
    server is cancelled.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.inner = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
        self.closed = trio.Event()
        self._closing = False
        self._accepting: set[trio.CancelScope] = set()

    async def accept(self) -> trio.SocketStream:
        while not self._closing:
            with trio.CancelScope() as scope:
                self._accepting.add(scope)
                try:
                    return await self.inner.accept()
                finally:
                    self._accepting.discard(scope)
                    self._close_if_idle()
        await trio.sleep_forever()

    def stop_accepting(self) -> None:
        """Stop accepting; :attr:`closed` is set once the socket is closed."""
        self._closing = True
        for scope in self._accepting:
            scope.cancel()
        self._close_if_idle()

    def _close_if_idle(self) -> None:
        # Only once no task waits on the socket: closing it under a waiter would raise
        # ClosedResourceError in the server's accept loop.
        if self._closing and not self._accepting and not self.closed.is_set():
            self.inner.socket.close()
            self.closed.set()

    async def aclose(self) -> None:
        self.stop_accepting()
        await trio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        try:
            return f"<listener on {self.inner.socket.getsockname()!r}>"
        except OSError:
            return "<closed listener>"


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


def _close_reason(code: int) -> str:
    return "service restart" if code == 1012 else "server shutting down"


# ---------------------------------------------------------------------------- run: one process


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
                            app.handle_websocket, [served], http_handler=app.handle_http
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
                                f"{cfg.close_code}, up to {cfg.graceful_timeout:g}s) (pid {pid})"
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
            except Exception:
                if started:
                    raise
                logger.exception("application startup failed")
                return EXIT_STARTUP_FAILED
            finally:
                nursery.cancel_scope.cancel()
    return 0


# ---------------------------------------------------------------------------- run: supervisor


@dataclass
class _Worker:
    index: int
    process: trio.Process | None = None
    reloading: bool = False


class Supervisor:
    """Runs ``cfg.workers`` children on one inherited listening socket.

    A child that exits unexpectedly is restarted (after a growing delay if it keeps dying at
    startup); with ``--reload`` every child is restarted when a watched file changes, and a
    child that crashed waits for the next change. SIGINT/SIGTERM are forwarded to the
    children, which drain; a second signal is forwarded too (they stop at once), and children
    still running ``graceful_timeout + 5`` seconds later are killed.
    """

    def __init__(self, cfg: RunConfig, sock: socket.socket, early: EarlySignals) -> None:
        self.cfg = cfg
        self.sock = sock
        self.early = early
        self.stopping = False
        self.workers = [_Worker(i + 1) for i in range(cfg.workers)]
        self._wake = trio.Event()
        self._spawning = 0

    async def run(self) -> int:
        """Supervise until a stop signal and every child has exited; the exit status."""
        with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
            async with trio.open_nursery() as nursery:
                for signum in self.early.received:
                    self._on_signal(signum, nursery)
                nursery.start_soon(self._watch_signals, signals, nursery)
                if self.cfg.reload:
                    nursery.start_soon(self._watch_files)
                try:
                    async with trio.open_nursery() as workers:
                        for worker in self.workers:
                            workers.start_soon(self._keep_alive, worker)
                finally:
                    for worker in self.workers:
                        if worker.process is not None and worker.process.returncode is None:
                            worker.process.kill()
                    nursery.cancel_scope.cancel()
        return 0

    async def _watch_signals(self, signals: AsyncIterator[int], nursery: trio.Nursery) -> None:
        async for signum in signals:
            self._on_signal(signum, nursery)

    def _on_signal(self, signum: int, nursery: trio.Nursery) -> None:
        if not self.stopping:
            self.stopping = True
            _say(
                f"received {_signal_name(signum)}: stopping {len(self.workers)} worker(s) "
                f"(pid {os.getpid()})"
            )
            self._wake.set()
            self._release_socket()
            nursery.start_soon(self._kill_stragglers, self.cfg.graceful_timeout + 5)
        self._signal_all(signum)

    def _release_socket(self) -> None:
        # Once stopping, the supervisor's copy of the listening socket only keeps clients
        # waiting in the backlog: close it, so that the socket closes with the last worker's
        # copy and new clients are refused. Not while a child is being spawned with it.
        if self.stopping and self._spawning == 0:
            self.sock.close()

    def _signal_all(self, signum: int) -> None:
        for worker in self.workers:
            process = worker.process
            if process is not None and process.returncode is None:
                try:
                    process.send_signal(signum)
                except ProcessLookupError:  # pragma: no cover - exited just now
                    pass

    async def _kill_stragglers(self, delay: float) -> None:
        await trio.sleep(delay)
        for worker in self.workers:
            process = worker.process
            if process is not None and process.returncode is None:
                _say(f"worker {worker.index} (pid {process.pid}) did not stop in time: killing it")
                process.kill()

    async def _keep_alive(self, worker: _Worker) -> None:
        fd = self.sock.fileno()
        argv = self.cfg.worker_argv(fd, worker.index)
        quick_deaths = 0
        while not self.stopping:
            started = trio.current_time()
            self._spawning += 1
            try:
                process = await trio.lowlevel.open_process(
                    argv, stdin=subprocess.DEVNULL, pass_fds=(fd,), start_new_session=True
                )
            finally:
                self._spawning -= 1
            worker.process = process
            if self.stopping:
                process.send_signal(signal.SIGTERM)
                self._release_socket()
            code = await process.wait()
            if self.stopping:
                if code != 0:
                    _say(f"worker {worker.index} (pid {process.pid}) exited: {_exit_text(code)}")
                return
            if worker.reloading:
                worker.reloading = False
                quick_deaths = 0
                continue
            if self.cfg.reload:
                _say(
                    f"worker {worker.index} (pid {process.pid}) exited ({_exit_text(code)}): "
                    "waiting for a file change to restart it"
                )
                await self._wake.wait()
                continue
            quick_deaths = quick_deaths + 1 if trio.current_time() - started < 1 else 0
            delay = min(0.5 * 2 ** (quick_deaths - 1), 10.0) if quick_deaths else 0.0
            later = f" in {delay:g}s" if delay else ""
            _say(
                f"worker {worker.index} (pid {process.pid}) died ({_exit_text(code)}): "
                f"restarting it{later}"
            )
            if delay:
                with trio.move_on_after(delay):
                    await self._wake.wait()

    async def _watch_files(self) -> None:
        async for changed in watch_changes(self.cfg.reload_dirs):
            if self.stopping:
                return
            _say(f"changes detected in {_list_files(changed)}: restarting")
            for worker in self.workers:
                process = worker.process
                if process is not None and process.returncode is None:
                    worker.reloading = True
                    try:
                        process.send_signal(signal.SIGTERM)
                    except ProcessLookupError:  # pragma: no cover
                        pass
            wake, self._wake = self._wake, trio.Event()
            wake.set()


def _list_files(paths: set[str]) -> str:
    names = sorted(_display_path(p) for p in paths)
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return ", ".join(names[:3]) + more


def _exit_text(code: int) -> str:
    return f"killed by {_signal_name(-code)}" if code < 0 else f"exit status {code}"


async def watch_changes(
    dirs: Sequence[str], interval: float = 0.5, *, use_watchfiles: bool = True
) -> AsyncIterator[set[str]]:
    """Yield the sets of Python files changed (added, modified, deleted) under ``dirs``.

    Uses watchfiles (OS notifications) when it is installed and ``use_watchfiles``, else polls
    modification times every ``interval`` seconds. Hidden directories, ``__pycache__``,
    ``node_modules``, ``site-packages``, ``venv``, ``build`` and ``dist`` are ignored.
    """
    try:
        import watchfiles
    except ImportError:  # pragma: no cover - watchfiles is a dev dependency
        watchfiles = None  # type: ignore[assignment]
    if watchfiles is not None and use_watchfiles:
        watcher = watchfiles.awatch(
            *dirs,
            watch_filter=lambda _, path: _is_watched(path, dirs),
            debounce=800,
            step=50,
            rust_timeout=200,  # ms: how soon a cancellation is noticed
        )
        async with aclosing(watcher):
            async for changes in watcher:
                yield {path for _, path in changes}
        return  # pragma: no cover - awatch only ends when asked to
    before = await trio.to_thread.run_sync(_snapshot, dirs)
    while True:
        await trio.sleep(interval)
        now = await trio.to_thread.run_sync(_snapshot, dirs)
        changed = {p for p in before.keys() | now.keys() if before.get(p) != now.get(p)}
        before = now
        if changed:
            yield changed


def _is_watched(path: str, dirs: Sequence[str]) -> bool:
    """A ``.py`` file under one of ``dirs``, not inside an ignored directory."""
    if not path.endswith(".py"):
        return False
    for top in dirs:
        relative = os.path.relpath(path, top)
        if relative.startswith(os.pardir):
            continue
        parents = relative.split(os.sep)[:-1]
        return not any(p.startswith(".") or p in IGNORED_DIRS for p in parents)
    return False


def _snapshot(dirs: Sequence[str]) -> dict[str, int]:
    """``{path: mtime_ns}`` of the ``.py`` files under ``dirs`` (hidden and build dirs skipped)."""
    seen: dict[str, int] = {}
    for top in dirs:
        for root, subdirs, files in os.walk(top):
            subdirs[:] = [d for d in subdirs if not d.startswith(".") and d not in IGNORED_DIRS]
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(root, name)
                    try:
                        seen[path] = os.stat(path).st_mtime_ns
                    except OSError:  # deleted meanwhile
                        pass
    return seen


# ---------------------------------------------------------------------------- run: entry


def _cmd_run(args: argparse.Namespace) -> int:
    early = EarlySignals()
    early.install()
    cfg = RunConfig.from_args(args)
    configure_logging(cfg.log_level, access_log=cfg.access_log)
    _add_app_dir(cfg.app_dir)
    app = load_app(cfg.app, factory=cfg.factory)
    if cfg.root_path is not None:
        app.root_path = cfg.root_path  # stripped from request paths before routing
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


def build_parser() -> argparse.ArgumentParser:
    """The ``wsframework`` argument parser."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Run and inspect wsframework applications."
    )
    from . import __version__

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
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long a drain waits for handlers to finish (10)",
    )
    proc.add_argument(
        "--close-code",
        type=int,
        default=1001,
        help="close code sent to open connections when draining (1001; 1012 = restart)",
    )
    proc.add_argument("--worker-id", type=int, help=argparse.SUPPRESS)
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
