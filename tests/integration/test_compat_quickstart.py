"""The reverse-echo quickstart, one program text, run on trio-websocket and on wsframework.

``apps/echo/quickstart.py`` is a trio-websocket program whose only wsframework-specific line is
its import. For each implementation the test takes that source, swaps the import line (and
nothing else), runs it as a real subprocess on a free port and talks to it with a third-party
client (the ``websockets`` package's sync client), then stops it by PID.
"""

from __future__ import annotations

import difflib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.sync.client import connect

from .processes import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "apps" / "echo" / "quickstart.py"
OUR_IMPORT = "from wsframework.compat.trio_websocket import ConnectionClosed, serve_websocket"
IMPORTS = {
    "trio-websocket": "from trio_websocket import ConnectionClosed, serve_websocket",
    "wsframework": OUR_IMPORT,
}


def program_for(implementation: str) -> str:
    source = QUICKSTART.read_text()
    assert source.count(OUR_IMPORT) == 1
    return source.replace(OUR_IMPORT, IMPORTS[implementation])


def test_only_the_import_line_differs() -> None:
    theirs = program_for("trio-websocket").splitlines()
    ours = program_for("wsframework").splitlines()
    changed = [
        line
        for line in difflib.unified_diff(theirs, ours, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == ["-" + IMPORTS["trio-websocket"], "+" + OUR_IMPORT]


@pytest.mark.parametrize("implementation", sorted(IMPORTS))
def test_reverse_echo_quickstart_runs_unmodified(implementation: str, tmp_path: Path) -> None:
    program = tmp_path / "quickstart.py"
    program.write_text(program_for(implementation))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(program), str(port)],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, proc)
        url = f"ws://127.0.0.1:{port}/"
        with connect(url, open_timeout=5, close_timeout=5) as ws:
            ws.send("hello")
            assert ws.recv(timeout=5) == "olleh"
            ws.send("héllo wörld")
            assert ws.recv(timeout=5) == "dlröw olléh"
            ws.send(b"\x01\x02\x03")
            assert ws.recv(timeout=5) == b"\x03\x02\x01"
            ws.send("")
            assert ws.recv(timeout=5) == ""
        # A client that went away does not stop the server; two at once are independent.
        with (
            connect(url, open_timeout=5, close_timeout=5) as first,
            connect(url, open_timeout=5, close_timeout=5) as second,
        ):
            first.send("abc")
            second.send("xyz")
            assert second.recv(timeout=5) == "zyx"
            assert first.recv(timeout=5) == "cba"
        assert proc.poll() is None
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - only if SIGTERM is ignored
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == -signal.SIGTERM
    assert out == f"reverse-echo server on ws://127.0.0.1:{port}/ (Ctrl+C to stop)\n"
    assert err == ""  # no traceback or warning while serving
