"""The ``wsframework`` command's parser and ``main`` (wsframework.cli), in process.

``run`` installs signal handlers and serves: it is tested in subprocesses, in
tests/integration/test_cli.py; ``routes`` is in test_loading.py.
"""

from __future__ import annotations

import pytest

from wsframework import __version__
from wsframework.cli import build_parser, main


def test_version_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"wsframework {__version__}\n"
    with pytest.raises(SystemExit) as exited:
        main(["run"])
    assert exited.value.code == 2


def test_every_run_option_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    for option in ["--host", "--port", "--uds", "--fd", "--workers", "--reload", "--factory"]:
        assert option in text
    assert "--worker-id" not in text  # internal: the supervisor passes it to its workers


def test_the_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([])
    assert exited.value.code == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err
