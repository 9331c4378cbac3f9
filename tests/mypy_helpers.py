"""Running ``mypy --strict`` on a user's file, for the tests of what type checkers make of the
public API (typed handlers, typed middleware)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import wsframework


def mypy_strict(tmp_path: Path, source: str) -> tuple[list[str], str]:
    """``mypy --strict`` on ``source`` saved as ``tmp_path/sample.py``: its lines without the
    ``file:line:`` prefix, and its whole output (for assertion messages)."""
    sample = tmp_path / "sample.py"
    sample.write_text(source)
    # An editable install is an import hook mypy does not run: point it at the package.
    source_root = str(Path(wsframework.__file__).parent.parent)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(sample)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": source_root},
    )
    lines = [line.split(": ", 1)[1] for line in result.stdout.splitlines() if ": " in line]
    return lines, result.stdout + result.stderr
