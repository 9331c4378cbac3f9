"""File watching for ``--reload`` (wsframework.cli.supervisor), in process.

The Supervisor runs worker processes: it is tested through real ones in
tests/integration/test_cli.py.
"""

from __future__ import annotations

import os
from contextlib import aclosing
from pathlib import Path

import pytest
import trio

from wsframework.cli.supervisor import IGNORED_DIRS, _is_watched, _snapshot, watch_changes


@pytest.mark.parametrize(
    ("relative", "watched"),
    [
        ("app.py", True),
        ("pkg/deep/mod.py", True),
        ("notes.txt", False),
        ("app.pyc", False),
        (".git/hooks/pre-commit.py", False),
        ("pkg/.hidden/mod.py", False),
        *((f"{ignored}/mod.py", False) for ignored in sorted(IGNORED_DIRS)),
        ("pkg/venv_tools/mod.py", True),  # only whole directory names are ignored
    ],
)
def test_which_files_are_watched(tmp_path: Path, relative: str, watched: bool) -> None:
    assert _is_watched(str(tmp_path / relative), [str(tmp_path)]) is watched


def test_files_outside_the_watched_directories_are_not_watched(tmp_path: Path) -> None:
    inside, outside = tmp_path / "src", tmp_path / "other"
    assert _is_watched(str(inside / "a.py"), [str(outside), str(inside)])
    assert not _is_watched(str(outside / "a.py"), [str(inside)])


def test_snapshot_lists_python_files_with_their_mtimes(tmp_path: Path) -> None:
    for relative in ["a.py", "pkg/b.py", "pkg/c.txt", "__pycache__/a.py", ".tox/d.py"]:
        path = tmp_path / relative
        path.parent.mkdir(exist_ok=True)
        path.write_text("x = 1\n")
    os.utime(tmp_path / "a.py", ns=(1, 123))
    snapshot = _snapshot([str(tmp_path)])
    assert set(snapshot) == {str(tmp_path / "a.py"), str(tmp_path / "pkg" / "b.py")}
    assert snapshot[str(tmp_path / "a.py")] == 123


@pytest.mark.parametrize("use_watchfiles", [True, False], ids=["watchfiles", "polling"])
async def test_watch_changes_reports_python_files(tmp_path: Path, use_watchfiles: bool) -> None:
    if use_watchfiles:
        import watchfiles  # a dev dependency: it must be importable here

        assert watchfiles.__version__
    target = tmp_path / "pkg" / "mod.py"
    target.parent.mkdir()
    target.write_text("x = 1\n")
    ignored = [tmp_path / ".git" / "hook.py", tmp_path / "__pycache__" / "x.py"]
    for path in ignored:
        path.parent.mkdir()
    watching = trio.Event()
    changes = watch_changes(
        [str(tmp_path)], interval=0.05, use_watchfiles=use_watchfiles, ready=watching.set
    )

    async def modify() -> None:
        await watching.wait()
        for path in [*ignored, tmp_path / "notes.txt", target]:
            path.write_text("changed = True\n")
            # A new mtime even where the file system's clock is coarse (the poller compares it).
            os.utime(path, ns=(1, 10**18))

    async with aclosing(changes), trio.open_nursery() as nursery:
        nursery.start_soon(modify)
        seen: set[str] = set()
        with trio.fail_after(15):
            async for changed in changes:
                seen |= changed
                if str(target) in seen:
                    break
        nursery.cancel_scope.cancel()
    assert seen == {str(target)}
