"""``benchmarks/soak.py`` end to end, small: 200 connections for a second or so on each runner.

The full soak (``make soak``: 50,000 connections for 3 minutes) is not part of CI; this checks
that the harness itself works and that its verdict holds at a small size: every connection
opened, no message lost, the broadcast reached every member, all closed cleanly, and the
server's tasks and file descriptors came back to their values before.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
N = 200


@pytest.mark.parametrize("runner", ["wsframework", "hypercorn"])
def test_a_small_soak_loses_nothing_and_leaks_nothing(runner: str, tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--runner", runner]
    command += ["--connections", str(N), "--minutes", "0.02", "--warmup", "0.5"]
    command += ["--clients", "2", "--sample", "0.2", "--json", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["problems"] == []
    assert result["opened"] == N
    assert result["sent"] == result["echoed"] >= 2 * N  # the warm-up round and the exchange
    assert result["lost"] == 0
    assert result["receivers"] == N
    assert result["held"]["members"] == N
    assert result["closed_clean"] == N
    assert result["after"]["tasks"] <= result["before"]["tasks"]
    assert result["after"]["fds"] <= result["before"]["fds"]
    assert result["probe_failed"] == 0
    assert "| **RSS per connection**" in result["markdown"]
