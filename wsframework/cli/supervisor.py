"""Several processes on one socket: the ``--workers``/``--reload`` supervisor, file watching."""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass

import trio

from .common import _display_path, _say
from .config import RunConfig
from .serve import STOP_SIGNALS, EarlySignals, _signal_name

# prometheus-client's multiprocess mode: where every worker keeps its metrics (docs/metrics.md).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Directories never watched by --reload (also ignored by watchfiles' default filter).
IGNORED_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "venv", "build", "dist"})


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
        metrics_dir = _make_metrics_dir(self.cfg.workers)
        try:
            return await self._run()
        finally:
            if metrics_dir is not None:
                del os.environ[MULTIPROC_ENV]
                shutil.rmtree(metrics_dir, ignore_errors=True)

    async def _run(self) -> int:
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
            if self.cfg.graceful_timeout is not None:  # off: the workers drain for ever
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
            _forget_live_gauges(process.pid)
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


def _make_metrics_dir(workers: int) -> str | None:
    """With several workers and prometheus-client installed, a fresh directory for its
    multiprocess mode, in the environment the workers inherit (unless one is set already)."""
    if workers < 2 or MULTIPROC_ENV in os.environ:
        return None
    if importlib.util.find_spec("prometheus_client") is None:
        return None
    directory = tempfile.mkdtemp(prefix="wsframework-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    return directory


def _forget_live_gauges(pid: int) -> None:
    """A worker that exited no longer counts in the gauges that sum the live workers (what
    ``prometheus_client.multiprocess.mark_process_dead`` does); its counters stay."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return
    for path in glob.glob(os.path.join(directory, f"gauge_live*_{pid}.db")):
        try:
            os.remove(path)
        except OSError:  # pragma: no cover - removed meanwhile
            pass


def _list_files(paths: set[str]) -> str:
    names = sorted(_display_path(p) for p in paths)
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return ", ".join(names[:3]) + more


def _exit_text(code: int) -> str:
    return f"killed by {_signal_name(-code)}" if code < 0 else f"exit status {code}"


async def watch_changes(
    dirs: Sequence[str],
    interval: float = 0.5,
    *,
    use_watchfiles: bool = True,
    ready: Callable[[], None] | None = None,
) -> AsyncIterator[set[str]]:
    """Yield the sets of Python files changed (added, modified, deleted) under ``dirs``.

    Uses watchfiles (OS notifications) when it is installed and ``use_watchfiles``, else polls
    modification times every ``interval`` seconds. Hidden directories, ``__pycache__``,
    ``node_modules``, ``site-packages``, ``venv``, ``build`` and ``dist`` are ignored.
    ``ready``, if given, is called once the watcher is running: every change made after that
    call is reported.
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
            yield_on_timeout=True,  # an empty set: the watcher is running
        )
        async with aclosing(watcher):
            async for changes in watcher:
                if ready is not None:
                    ready()
                    ready = None
                if changes:
                    yield {path for _, path in changes}
        return  # pragma: no cover - awatch only ends when asked to
    before = await trio.to_thread.run_sync(_snapshot, dirs)
    if ready is not None:
        ready()
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
