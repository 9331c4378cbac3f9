"""Installing the project as a user does: a wheel that builds without warnings and ships its
type information, and the run-only install target of the Makefile."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).parents[2]


def test_the_wheel_builds_without_warnings_and_ships_py_typed(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    build_output = built.stdout + built.stderr
    warnings = [
        line
        for line in build_output.splitlines()
        if "Warning" in line and "Location 'file:" not in line  # the machine's pip index
    ]
    assert warnings == []
    (wheel,) = tmp_path.glob("wsframework-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in (
        "wsframework/py.typed",
        "wsframework/_speedups.pyi",
        "wsframework/rooms/hub.py",
        "wsframework/rooms/redis_scripts.py",
    ):
        assert shipped in names
    assert not any(name.startswith(("tests/", "apps/", "benchmarks/")) for name in names)


def test_make_run_installs_the_package_and_pydantic_only() -> None:
    makefile = (REPO / "Makefile").read_text()
    run_recipe = makefile.split("$(RUN_STAMP): pyproject.toml", 1)[1].split("\n\n", 1)[0]
    assert "-e '.[typed]'" in run_recipe and "[dev]" not in run_recipe
    assert "run: $(RUN_STAMP)" in makefile
