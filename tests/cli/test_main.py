"""The ``wsframework`` command's parser and ``main`` (wsframework.cli), in process.

``run`` installs signal handlers and serves: it is tested in subprocesses, in
tests/integration/test_cli.py; ``routes`` is in test_loading.py.
"""

from __future__ import annotations

import logging

import pytest

from wsframework import App, __version__
from wsframework.cli import build_parser, main, warn_if_rooms_per_process
from wsframework.rooms import BROKER_ENV, MemoryBroker


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
    for option in ["--host", "--port", "--uds", "--workers", "--reload", "--factory", "--broker"]:
        assert option in text
    assert "--worker-id" not in text  # internal: the supervisor passes it to its workers


def test_the_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([])
    assert exited.value.code == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err


# --- rooms across workers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("broker", "env", "origin"),
    [
        (None, None, "the default"),
        ("memory://", None, "from App(broker=...)"),
        (MemoryBroker(), None, "from App(broker=...)"),
        ("redis://127.0.0.1:1/0", "memory://", "from WSFRAMEWORK_BROKER"),
    ],
    ids=["default", "code-url", "code-broker", "environment"],
)
def test_workers_with_rooms_in_memory_are_warned(
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    broker: str | MemoryBroker | None,
    env: str | None,
    origin: str,
) -> None:
    monkeypatch.delenv(BROKER_ENV, raising=False)
    if env is not None:
        monkeypatch.setenv(BROKER_ENV, env)
    # configure_logging (another test) may have stopped it propagating to caplog's handler.
    monkeypatch.setattr(logging.getLogger("wsframework"), "propagate", True)
    warn_if_rooms_per_process(App(broker=broker).rooms, 2)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"rooms use the in-memory broker ({origin}): with 2 workers each worker has its own "
        "rooms, and members, publications and presence do not span workers; use "
        "--broker redis://HOST:PORT/DB (or WSFRAMEWORK_BROKER) to share them"
    )


@pytest.mark.parametrize(
    ("broker", "env", "cli"),
    [
        ("redis://127.0.0.1:1/0", None, None),
        (None, "redis://127.0.0.1:1/0", None),
        (None, None, "redis://127.0.0.1:1/0"),
        (None, None, "memory://"),  # asked for on the command line: no surprise to warn of
    ],
    ids=["code-redis", "environment-redis", "cli-redis", "cli-memory"],
)
def test_no_warning_when_rooms_span_workers_or_memory_was_asked_for(
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    broker: str | None,
    env: str | None,
    cli: str | None,
) -> None:
    monkeypatch.delenv(BROKER_ENV, raising=False)
    if env is not None:
        monkeypatch.setenv(BROKER_ENV, env)
    app = App(broker=broker)
    if cli is not None:
        app.rooms.use_broker(cli)
    # configure_logging (another test) may have stopped it propagating to caplog's handler.
    monkeypatch.setattr(logging.getLogger("wsframework"), "propagate", True)
    warn_if_rooms_per_process(app.rooms, 2)
    assert caplog.records == []


def test_broker_option_beats_the_environment_and_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BROKER_ENV, "redis://127.0.0.1:2/0")
    rooms = App(broker="redis://127.0.0.1:3/0").rooms
    assert rooms.broker_choice() == ("redis://127.0.0.1:2/0", "WSFRAMEWORK_BROKER")
    rooms.use_broker("redis://127.0.0.1:1/0")
    assert rooms.broker_choice() == ("redis://127.0.0.1:1/0", "--broker")
    args = build_parser().parse_args(["run", "cliapp:app", "--broker", "memory://"])
    assert args.broker == "memory://"
