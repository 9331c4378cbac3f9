"""The command line through real subprocesses: graceful drain on signals, worker processes and
reload (``python -m wsframework run``). The harness and its bounded waits are described in
``test_cli.py`` and live in ``cli_helpers.py``.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import connect

from . import cli_helpers
from .cli_helpers import (
    BURST,
    READY,
    RELOAD_SOURCE,
    ROOT,
    TIMEOUT,
    Server,
    alive,
    events,
    poll,
    recv_one,
)

# The fixtures, from cli_helpers: bound here so that pytest finds them (importing them by name
# would shadow the test parameters of the same names).
app_dir = cli_helpers.app_dir
marker = cli_helpers.marker
env = cli_helpers.env
run = cli_helpers.run


# ---------------------------------------------------------------------------- graceful drain


@pytest.mark.parametrize(
    ("signum", "options", "code"),
    [
        (signal.SIGTERM, [], 1001),
        (signal.SIGINT, [], 1001),
        (signal.SIGTERM, ["--close-code", "1012"], 1012),
    ],
    ids=["SIGTERM", "SIGINT", "SIGTERM-1012"],
)
def test_drain_on_signal(
    run: Callable[..., Server], marker: Path, signum: int, options: list[str], code: int
) -> None:
    server = run("cliapp:app", "--port", "0", *options)
    _, port = server.started()
    with connect(f"ws://127.0.0.1:{port}/burst", open_timeout=10, proxy=None) as ws:
        poll(lambda: any(e.startswith("sent") for e in events(marker)), "the burst")
        server.proc.send_signal(signum)
        received = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                received.append(ws.recv(timeout=10))
    assert server.proc.wait(timeout=TIMEOUT) == 0
    assert [m.split(":")[0] for m in received] == [str(i) for i in range(BURST)]
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code
    assert events(marker) == [f"{e} {server.proc.pid}" for e in ("startup", "sent", "shutdown")]
    assert "Traceback" not in server.output


def test_drain_gives_up_after_graceful_timeout(run: Callable[..., Server], marker: Path) -> None:
    server = run("cliapp:app", "--port", "0", "--graceful-timeout", "0.5")
    _, port = server.started()
    with connect(f"ws://127.0.0.1:{port}/stuck", open_timeout=10, proxy=None) as ws:
        poll(lambda: any(e.startswith("sent") for e in events(marker)), "the handler")
        mark = server.mark()
        server.proc.send_signal(signal.SIGTERM)
        server.wait_for(r"received SIGTERM: stopped accepting, draining 1 conn", after=mark)
        with pytest.raises(ConnectionRefusedError):
            recv_one(f"ws://127.0.0.1:{port}/pid")
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert server.proc.wait(timeout=TIMEOUT) == 0
    server.wait_for(r"WARNING wsframework: 1 connection\(s\) still open after 0.5s")
    assert events(marker)[-1] == f"shutdown {server.proc.pid}"


def test_second_signal_cuts_the_drain_short(run: Callable[..., Server], marker: Path) -> None:
    server = run("cliapp:app", "--port", "0", "--graceful-timeout", "60")
    _, port = server.started()
    with connect(f"ws://127.0.0.1:{port}/stuck", open_timeout=10, proxy=None) as ws:
        poll(lambda: any(e.startswith("sent") for e in events(marker)), "the handler")
        mark = server.mark()
        server.proc.send_signal(signal.SIGTERM)
        server.wait_for(r"draining 1 connection", after=mark)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(timeout=TIMEOUT) == 0
    server.wait_for(r"received SIGINT again: stopping now", after=mark)
    assert events(marker)[-1] == f"shutdown {server.proc.pid}"


# ---------------------------------------------------------------------------- workers


def ready_workers(server: Server, count: int, after: int = 0) -> dict[int, int]:
    """Wait for ``count`` ready lines after ``after``: {worker id: pid}."""
    found: dict[int, int] = {}
    deadline = time.monotonic() + TIMEOUT
    while len(found) < count:
        remaining = max(0.0, deadline - time.monotonic())
        index, match = server.find(READY, after=after, timeout=remaining)
        found[int(match.group(1))] = int(match.group(2))
        after = index + 1
    return found


def test_workers_serve_restart_and_stop(run: Callable[..., Server], marker: Path) -> None:
    server = run("cliapp:app", "--port", "0", "--workers", "2")
    _, port = server.started()
    workers = ready_workers(server, 2)
    assert sorted(workers) == [1, 2]
    pids = set(workers.values())
    assert len(pids) == 2
    assert server.proc.pid not in pids
    assert all(alive(pid) for pid in pids)
    for _ in range(4):
        assert int(recv_one(f"ws://127.0.0.1:{port}/pid")) in pids

    mark = server.mark()
    os.kill(workers[1], signal.SIGKILL)
    server.wait_for(rf"worker 1 \(pid {workers[1]}\) died \(killed by SIGKILL\)", after=mark)
    restarted = ready_workers(server, 1, after=mark)
    assert list(restarted) == [1]
    assert restarted[1] not in pids
    pids = {restarted[1], workers[2]}
    assert int(recv_one(f"ws://127.0.0.1:{port}/pid")) in pids

    assert server.stop() == 0
    poll(lambda: not any(alive(pid) for pid in pids), "the workers to exit")
    assert sorted(e for e in events(marker) if e.startswith("shutdown")) == sorted(
        f"shutdown {pid}" for pid in pids
    )
    assert "Traceback" not in server.output


def test_workers_drain_on_sigint(run: Callable[..., Server], marker: Path) -> None:
    server = run("cliapp:app", "--port", "0", "--workers", "2", "--close-code", "1012")
    _, port = server.started()
    pids = set(ready_workers(server, 2).values())
    with connect(f"ws://127.0.0.1:{port}/burst", open_timeout=10, proxy=None) as ws:
        poll(lambda: any(e.startswith("sent") for e in events(marker)), "the burst")
        server.proc.send_signal(signal.SIGINT)
        received = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                received.append(ws.recv(timeout=10))
    assert server.proc.wait(timeout=TIMEOUT) == 0
    assert len(received) == BURST
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1012
    poll(lambda: not any(alive(pid) for pid in pids), "the workers to exit")
    assert len([e for e in events(marker) if e.startswith("shutdown")]) == 2


# ---------------------------------------------------------------------------- reload


def test_reload_restarts_on_change(run: Callable[..., Server], tmp_path: Path) -> None:
    code_dir = tmp_path / "reloading"
    code_dir.mkdir()
    module = code_dir / "reloadapp.py"
    module.write_text(RELOAD_SOURCE.format(version="one"))
    server = run(
        "reloadapp:app",
        "--port",
        "0",
        "--reload",
        "--reload-dir",
        str(code_dir),
        "--graceful-timeout",
        "2",
        extra_env={"PYTHONPATH": os.pathsep.join([str(code_dir), str(ROOT)])},
    )
    _, port = server.started()
    url = f"ws://127.0.0.1:{port}/version"
    assert recv_one(url) == "one"

    def serves(version: str) -> Callable[[], bool]:
        def check() -> bool:
            try:
                return recv_one(url) == version
            except (OSError, WebSocketException):
                return False

        return check

    module.write_text(RELOAD_SOURCE.format(version="two"))
    poll(serves("two"), "the new code", timeout=30)
    server.wait_for(r"changes detected in .*reloadapp\.py: restarting")

    mark = server.mark()
    module.write_text("raise RuntimeError('broken on purpose')\n")
    server.wait_for(r"exited \(exit status 1\): waiting for a file change", after=mark)
    module.write_text(RELOAD_SOURCE.format(version="three"))
    poll(serves("three"), "the fixed code", timeout=30)

    assert server.stop() == 0
    assert "Traceback" not in server.output
