"""Settings of ``wsframework run``, logging, and the listening socket (TCP, Unix, fd, TLS)."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import ssl
import stat
import sys
from dataclasses import dataclass, field

import trio

from ..options import HANDSHAKE_TIMEOUT, SEND_TIMEOUT, ServerOptions
from ..protocol.close import check_close_code
from ..rooms import BROKER_ENV, make_broker
from ..tls import server_ssl_context
from .common import CLIError, seconds_text


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
    graceful_timeout: float | None = 10.0  # None: wait for ever
    close_code: int = 1001
    app_dir: str = "."
    backlog: int = 2048
    worker_id: int | None = None
    broker: str | None = None
    handshake_timeout: float | None = HANDSHAKE_TIMEOUT  # None: off
    send_timeout: float | None = SEND_TIMEOUT  # None (or 0, as before): off
    max_connections: int | None = None
    max_connections_per_ip: int | None = None
    handshake_rate: float | None = None
    handshake_burst: int | None = None

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
            broker=args.broker,
            **{name: getattr(args, name) for name in LIMIT_FLAGS.values()},
        )
        if not 0 <= cfg.port <= 65535:
            raise CLIError(f"--port must be between 0 and 65535, got {cfg.port}")
        if cfg.uds is not None and cfg.fd is not None:
            raise CLIError("--uds and --fd cannot be used together")
        if cfg.workers < 1:
            raise CLIError(f"--workers must be at least 1, got {cfg.workers}")
        if cfg.graceful_timeout is not None and not cfg.graceful_timeout >= 0:  # also NaN
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
        try:
            cfg.server_options()
        except ValueError as exc:
            setting = str(exc).split(" ", 1)[0].replace("connect_timeout", "handshake_timeout")
            raise CLIError(f"--{setting.replace('_', '-')}: {exc}") from None
        if cfg.broker is not None:
            check_broker(cfg.broker, "--broker")
        elif os.environ.get(BROKER_ENV):
            check_broker(os.environ[BROKER_ENV], BROKER_ENV)
        return cfg

    def server_options(self) -> ServerOptions:
        """The server settings these flags give (limits hold per worker).

        Raises:
            ValueError: a limit out of range.
        """
        return ServerOptions(
            connect_timeout=self.handshake_timeout,
            send_timeout=self.send_timeout or None,
            max_connections=self.max_connections,
            max_connections_per_ip=self.max_connections_per_ip,
            handshake_rate=self.handshake_rate,
            handshake_burst=self.handshake_burst,
        )

    @property
    def supervised(self) -> bool:
        """Whether the app runs in child processes (``--workers`` > 1 or ``--reload``)."""
        return self.worker_id is None and (self.reload or self.workers > 1)

    def worker_argv(self, fd: int, worker_id: int) -> list[str]:
        """The command line of a child serving the inherited socket ``fd``."""
        argv = [sys.executable, "-m", "wsframework", "run", self.app]
        argv += ["--fd", str(fd), "--worker-id", str(worker_id), "--app-dir", self.app_dir]
        argv += ["--log-level", self.log_level]
        argv += ["--graceful-timeout", seconds_text(self.graceful_timeout)]
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
        if self.broker is not None:
            argv += ["--broker", self.broker]
        for flag, name in LIMIT_FLAGS.items():
            if name in TIMEOUT_FLAGS:  # None is a setting here (off), not the default
                argv += [flag, seconds_text(getattr(self, name))]
            elif getattr(self, name) is not None:
                argv += [flag, repr(getattr(self, name))]
        return argv


#: The flags of the server's limits and the RunConfig fields they set.
LIMIT_FLAGS = {
    "--handshake-timeout": "handshake_timeout",
    "--send-timeout": "send_timeout",
    "--max-connections": "max_connections",
    "--max-connections-per-ip": "max_connections_per_ip",
    "--handshake-rate": "handshake_rate",
    "--handshake-burst": "handshake_burst",
}

#: The fields of the timeout flags among :data:`LIMIT_FLAGS` (``off`` turns them off).
TIMEOUT_FLAGS = frozenset({"handshake_timeout", "send_timeout"})


def check_broker(url: str, given_as: str) -> None:
    """Check a broker URL before anything starts (no connection is made).

    Raises:
        CLIError: an unknown scheme, a malformed URL, or Redis asked for without coredis.
    """
    try:
        make_broker(url)
    except ValueError as exc:
        raise CLIError(f"{given_as}: {exc}") from None
    except ImportError as exc:
        raise CLIError(
            f"{given_as}: {url.partition('://')[0]}:// needs coredis: "
            f"pip install 'wsframework[redis]' ({exc})"
        ) from None


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


def ssl_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    """The server's TLS context (:func:`~wsframework.tls.server_ssl_context`), or ``None``
    without a certificate.

    Raises:
        CLIError: a missing or unreadable certificate or key file.
    """
    if certfile is None:
        return None
    for flag, path in (("--ssl-certfile", certfile), ("--ssl-keyfile", keyfile)):
        if path is not None and not os.path.isfile(path):
            raise CLIError(f"{flag}: file not found: {path}")
    try:
        return server_ssl_context(certfile, keyfile)
    except ssl.SSLError as exc:
        raise CLIError(
            f"cannot load the TLS certificate/key {certfile}: {exc.reason or exc}"
        ) from None
    except OSError as exc:
        raise CLIError(f"cannot read {certfile}: {exc.strerror or exc}") from None


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
