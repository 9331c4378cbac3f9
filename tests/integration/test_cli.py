"""The command line through real subprocesses: ``python -m wsframework run|routes|asyncapi``.

Every server listens on ``--port 0`` (or a Unix socket) and the test reads the real address
from the startup line. Clients are the ``websockets`` package's sync client. Waits are bounded:
output lines are awaited with a deadline, and the few things only observable from outside
(a marker file, a restarted worker, reloaded code) are polled with a deadline. Every process a
test starts is stopped in the fixture's teardown (SIGTERM, then SIGKILL).

Graceful drain, worker processes and reload are in ``test_cli_lifecycle.py``; the harness is
``cli_helpers.py``.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.sync.client import connect, unix_connect

from ..certs import make_certificate
from . import cli_helpers
from .cli_helpers import ROOT, TIMEOUT, Server, cli, recv_one

# The fixtures, from cli_helpers: bound here so that pytest finds them (importing them by name
# would shadow the test parameters of the same names).
app_dir = cli_helpers.app_dir
marker = cli_helpers.marker
env = cli_helpers.env
run = cli_helpers.run


# ---------------------------------------------------------------------------- serving


def test_run_serves_echo_and_http(run: Callable[..., Server]) -> None:
    server = run("apps.echo.app:app", "--port", "0")
    scheme, port = server.started()
    assert scheme == "ws"
    with connect(f"ws://127.0.0.1:{port}/", open_timeout=10, proxy=None) as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "olleh"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.1 200 ")
    assert response.endswith(b'{"status":"ok"}')
    assert server.stop() == 0
    assert "Traceback" not in server.output
    server.wait_for(r"wsframework: stopped")


def test_the_tutorial_echo_runs_as_a_module_and_stops_quietly_on_ctrl_c(
    env: dict[str, str],
) -> None:
    # docs/tutorial.md step 1: python -m apps.echo.app prints where it serves, and Ctrl+C
    # (SIGINT) drains and exits 0 without a KeyboardInterrupt traceback.
    server = Server(["0"], env, module="apps.echo.app")
    try:
        _, port = server.started()
        with connect(f"ws://127.0.0.1:{port}/", open_timeout=10, proxy=None) as ws:
            ws.send("hello")
            assert ws.recv(timeout=10) == "olleh"
        assert server.stop(signal.SIGINT) == 0
        server.wait_for(r"wsframework: stopped")
        assert "Traceback" not in server.output
    finally:
        server.cleanup()


def test_factory(run: Callable[..., Server]) -> None:
    server = run("cliapp:make_app", "--factory", "--port", "0")
    _, port = server.started()
    assert recv_one(f"ws://127.0.0.1:{port}/pid") == str(server.proc.pid)
    assert server.stop() == 0


def test_root_path_is_set_on_the_app(run: Callable[..., Server]) -> None:
    server = run("cliapp:app", "--port", "0", "--root-path", "/api/")
    _, port = server.started()
    assert recv_one(f"ws://127.0.0.1:{port}/rootpath") == "'/api'"
    assert server.stop() == 0


def test_root_path_prefix_is_stripped_before_routing(run: Callable[..., Server]) -> None:
    server = run("cliapp:app", "--port", "0", "--root-path", "/api")
    _, port = server.started()
    assert recv_one(f"ws://127.0.0.1:{port}/api/rootpath") == "'/api'"
    assert recv_one(f"ws://127.0.0.1:{port}/rootpath") == "'/api'"
    assert server.stop() == 0


def test_log_level(run: Callable[..., Server]) -> None:
    debug = run("apps.echo.app:app", "--port", "0", "--log-level", "debug")
    debug.started()
    debug.wait_for(r"DEBUG wsframework: listening on")
    quiet = run("apps.echo.app:app", "--port", "0", "--log-level", "warning")
    quiet.started()
    assert debug.stop() == 0
    assert quiet.stop() == 0
    debug.wait_for(r"INFO wsframework: draining 0 connection")
    assert "INFO" not in quiet.output
    assert "DEBUG" not in quiet.output


def test_unix_socket(run: Callable[..., Server], tmp_path: Path) -> None:
    path = tmp_path / "ws.sock"
    server = run("apps.echo.app:app", "--uds", str(path))
    server.wait_for(rf"serving apps\.echo\.app:app on ws\+unix:{re.escape(str(path))} ")
    with unix_connect(str(path), "ws://localhost/", open_timeout=10) as ws:
        ws.send("unix")
        assert ws.recv(timeout=10) == "xinu"
    assert server.stop() == 0
    assert not path.exists()


def test_inherited_fd(run: Callable[..., Server]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        server = run("apps.echo.app:app", "--fd", str(sock.fileno()), pass_fds=(sock.fileno(),))
        server.wait_for(rf"serving apps\.echo\.app:app on fd {sock.fileno()} ")
    with connect(f"ws://127.0.0.1:{port}/", open_timeout=10, proxy=None) as ws:
        ws.send("fd")
        assert ws.recv(timeout=10) == "df"
    assert server.stop() == 0


def test_console_script(env: dict[str, str]) -> None:
    script = Path(sys.executable).with_name("wsframework")
    assert script.exists(), "pip install -e . installs the wsframework console script"
    result = subprocess.run(
        [str(script), "routes", "apps.echo.app:app", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert [r["path"] for r in json.loads(result.stdout)] == ["/", "/health"]


def test_tls(run: Callable[..., Server], tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    server = run(
        "apps.echo.app:app", "--port", "0", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)
    )
    scheme, port = server.started()
    assert scheme == "wss"
    context = ssl.create_default_context(cafile=str(cert))
    with connect(f"wss://127.0.0.1:{port}/", ssl=context, open_timeout=10, proxy=None) as ws:
        ws.send("secure")
        assert ws.recv(timeout=10) == "eruces"
    assert server.stop() == 0


# ---------------------------------------------------------------------------- routes


def test_routes_table(env: dict[str, str]) -> None:
    result = cli(env, "routes", "cliapp:app")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        *("KIND", "PATH", "NAME", "METHODS", "SUBPROTOCOLS", "ACCEPTS", "CONTRACT")
    ]
    assert lines[1].split() == ["websocket", "/pid", "pid", "-", "-", "any", "-"]
    chat = next(line for line in lines if " /chat " in line)
    assert chat.split() == [
        "websocket",
        "/chat",
        "chat",
        "-",
        "chat.v2,",
        "chat.v1",
        "(required)",
        "any",
        "-",
    ]
    chat = next(line for line in lines if " /items " in line)
    assert chat.split() == ["http", "/items", "items", "POST", "-", "-", "-"]

    typed = cli(env, "routes", "apps.rpc.app:app")
    assert typed.returncode == 0, typed.stderr
    assert typed.stdout.splitlines()[1].split() == (
        [
            *("websocket", "/rpc", "rpc", "-", "-", "any"),
            *("receive=Add", "|", "Echo", "send=Result", "on_invalid=reply"),
        ]
    )


def test_asyncapi_document(env: dict[str, str], tmp_path: Path) -> None:
    output = tmp_path / "rpc.json"
    result = cli(env, "asyncapi", "apps.rpc.app:app", "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    document = json.loads(output.read_text(encoding="utf-8"))
    assert (document["asyncapi"], list(document["channels"])) == ("3.0.0", ["rpc"])
    printed = cli(env, "asyncapi", "apps.rpc.app:app")
    assert json.loads(printed.stdout) == document


def test_routes_json(env: dict[str, str]) -> None:
    result = cli(env, "routes", "apps.rpc.app:app", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "path": "/rpc",
            "name": "rpc",
            "kind": "websocket",
            "methods": [],
            "subprotocols": [],
            "subprotocol_required": False,
            "accepts": "any",
            "receive": "Add | Echo",
            "send": "Result",
            "on_invalid": "reply",
        }
    ]
    health = json.loads(cli(env, "routes", "apps.echo.app:app", "--json").stdout)[1]
    assert (health["kind"], health["path"], health["methods"], health["accepts"]) == (
        "http",
        "/health",
        ["GET", "HEAD"],
        None,
    )


# ---------------------------------------------------------------------------- errors


# One error of each kind through a real process: exit status 1 and one line on stderr. Every
# message itself is checked in process: tests/cli/test_loading.py and tests/cli/test_config.py.
ERRORS = [
    (["run", "cliapp"], "import string 'cliapp' must be in the form MODULE:ATTR"),
    (
        ["run", "brokenimport:app"],
        "module 'brokenimport' failed to import: ModuleNotFoundError: No module named "
        "'does_not_exist_xyz' (",
    ),
    (["run", "cliapp:make_nothing", "--factory"], "returned an object of type NoneType"),
    (["run", "cliapp:app", "--ssl-certfile", "/nonexistent/cert.pem"], "file not found"),
    (["run", "cliapp:app", "--workers", "0"], "--workers must be at least 1"),
    (["routes", "nosuchmodule_xyz:app"], "cannot import 'nosuchmodule_xyz'"),
]


@pytest.mark.parametrize(("args", "message"), ERRORS, ids=[" ".join(a) for a, _ in ERRORS])
def test_errors_are_one_line(env: dict[str, str], args: list[str], message: str) -> None:
    result = cli(env, *args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("wsframework: error: ")
    assert message in lines[0]


def test_port_in_use(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(env, "run", "cliapp:app", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"wsframework: error: cannot listen on 127.0.0.1:{port}: address already in use"
    )


def test_startup_failure_exits_3(run: Callable[..., Server]) -> None:
    server = run("cliapp:app", "--port", "0", extra_env={"CLIAPP_FAIL_STARTUP": "1"})
    assert server.proc.wait(timeout=TIMEOUT) == 3
    server.wait_for(r"ERROR wsframework: application startup failed")
    server.wait_for(r"RuntimeError: database unreachable")


def test_signal_while_importing_stops_quietly(run: Callable[..., Server]) -> None:
    server = run("cliapp:app", "--port", "0", extra_env={"CLIAPP_IMPORT_SLEEP": "30"})
    server.wait_for(r"cliapp: importing")
    assert server.stop(signal.SIGINT) == 0
    server.wait_for(r"received SIGINT while starting: stopped")
    assert "Traceback" not in server.output
