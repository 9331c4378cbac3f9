"""What the command line's parts share (wsframework.cli.common): the user error, status lines."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from wsframework.cli.common import PROG, CLIError, _add_app_dir, _display_path, _say
from wsframework.exceptions import WebSocketError


def test_a_user_error_is_an_application_error_not_a_library_one() -> None:
    assert issubclass(CLIError, Exception)
    assert not issubclass(CLIError, WebSocketError)


def test_status_lines_are_one_prefixed_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    _say("serving app:app on ws://127.0.0.1:8000 (pid 1)")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"{PROG}: serving app:app on ws://127.0.0.1:8000 (pid 1)\n"


def test_paths_inside_the_working_directory_are_shown_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _display_path(str(tmp_path / "pkg" / "app.py")) == os.path.join("pkg", "app.py")
    outside = str(tmp_path.parent / "elsewhere.py")
    assert _display_path(outside) == outside
    assert _display_path("relative/already.py") == "relative/already.py"


def test_the_app_directory_is_put_first_on_the_path_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", ["/somewhere"])
    monkeypatch.chdir(tmp_path)
    _add_app_dir(".")
    _add_app_dir(str(tmp_path))
    assert sys.path == [str(tmp_path), "/somewhere"]
