"""``make bench``'s ``deflate`` row: the load client against real ``servers.py`` processes.

The row's client (``loadclient.py --scenario deflate``) offers permessage-deflate, compresses
16 KiB JSON texts with zlib, inflates every echo and compares it with what it sent. These check
that round trip against our server started with ``--compression``, that a server which does not
accept the extension fails the round instead of being measured uncompressed, and that the
messages are the same bytes for every server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"


@contextmanager
def echo_server(impl: str, *extra: str) -> Iterator[tuple[int, int]]:
    """``servers.py --impl impl`` on a free port: yields ``(port, pid)``, stops it by its PID."""
    command = [sys.executable, str(BENCH / "servers.py"), "--impl", impl, "--port", "0", *extra]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "READY <port> <pid>" once it listens, "" if it died
        assert line.startswith("READY "), f"{impl} did not start: {line!r}"
        _, port, pid = line.split()
        yield int(port), int(pid)
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def deflate_round(port: int, pid: int, count: int) -> dict[str, Any]:
    command = [sys.executable, str(BENCH / "loadclient.py"), "--port", str(port)]
    command += ["--server-pid", str(pid), "--scenario", "deflate", "--count", str(count)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_deflate_row_round_trips_compressed_json_through_our_server() -> None:
    with echo_server("wsframework", "--compression") as (port, pid):
        result = deflate_round(port, pid, 100)
    assert "error" not in result, result.get("trace")
    assert result["units"] == 100
    assert result["extension"].startswith("permessage-deflate")
    assert result["message_bytes"] == 16384
    # Both directions were compressed, as much as the README says (4.4x with takeover).
    assert 3.0 < result["client_ratio"] < 6.0
    assert 3.0 < result["server_ratio"] < 6.0


def test_the_deflate_row_fails_when_the_server_does_not_accept_the_extension() -> None:
    with echo_server("trio-websocket") as (port, pid):
        result = deflate_round(port, pid, 10)
    assert result["error"].startswith(
        "DeflateError: the server's 101 response did not accept permessage-deflate"
    )


def test_a_server_without_permessage_deflate_refuses_the_compression_flag() -> None:
    command = [sys.executable, str(BENCH / "servers.py"), "--impl", "raw-trio", "--compression"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "raw-trio cannot negotiate permessage-deflate" in done.stderr


def test_the_deflate_messages_are_the_same_json_in_every_process() -> None:
    script = (
        "import hashlib, json, sys; sys.path.insert(0, sys.argv[1]);"
        "from loadclient import json_messages;"
        "ms = json_messages(64, 16384, 12);"
        "print(json.dumps([hashlib.sha256(b''.join(ms)).hexdigest(), sorted({len(m) for m in ms}),"
        " len(set(ms)), sum(isinstance(json.loads(m), list) for m in ms)]))"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", script, str(BENCH)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    digest, sizes, distinct, arrays = json.loads(runs[0])
    assert runs[0] == runs[1]
    assert sizes == [16384]
    assert distinct == arrays == 64
    assert len(digest) == 64
