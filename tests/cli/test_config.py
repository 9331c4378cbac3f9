"""Settings of ``wsframework run``, logging and TLS (wsframework.cli.config), in process.

Binding real sockets and serving are in tests/integration/test_cli.py.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wsframework.cli import build_parser
from wsframework.cli.common import CLIError
from wsframework.cli.config import (
    RunConfig,
    _adopt_fd,
    _bind_unix,
    configure_logging,
    ssl_context,
)
from wsframework.rooms import BROKER_ENV

from ..certs import make_certificate


def config(*args: str) -> RunConfig:
    """``wsframework run cliapp:app ARGS...`` parsed and checked."""
    return RunConfig.from_args(build_parser().parse_args(["run", "cliapp:app", *args]))


def test_defaults() -> None:
    cfg = config()
    assert (cfg.app, cfg.host, cfg.port, cfg.workers, cfg.close_code) == (
        "cliapp:app",
        "127.0.0.1",
        8000,
        1,
        1001,
    )
    assert cfg.app_dir == os.path.abspath(".")
    assert cfg.reload_dirs == [cfg.app_dir]  # --reload watches --app-dir by default
    assert (cfg.graceful_timeout, cfg.backlog, cfg.access_log) == (10.0, 2048, True)
    assert cfg.supervised is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "65536"], "--port must be between 0 and 65535, got 65536"),
        (["--port", "-1"], "--port must be between 0 and 65535, got -1"),
        (["--uds", "/tmp/x.sock", "--fd", "3"], "--uds and --fd cannot be used together"),
        (["--workers", "0"], "--workers must be at least 1, got 0"),
        (["--graceful-timeout", "-1"], "--graceful-timeout must be >= 0, got -1"),
        (["--graceful-timeout", "nan"], "--graceful-timeout must be >= 0, got nan"),
        (["--backlog", "0"], "--backlog must be at least 1, got 0"),
        (
            ["--close-code", "1005"],
            "--close-code: close code 1005 cannot be sent: use 1000-1003, 1007-1014 or 3000-4999",
        ),
        (["--root-path", "api"], "--root-path must start with '/', got 'api'"),
        (["--ssl-keyfile", "key.pem"], "--ssl-keyfile needs --ssl-certfile"),
    ],
)
def test_invalid_settings_are_one_sentence(args: list[str], message: str) -> None:
    with pytest.raises(CLIError) as info:
        config(*args)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "foo://x",
            "--broker: unknown broker URL 'foo://x': use memory://, redis://host:port/db, "
            "rediss://... or redis+sentinel://host:port/service",
        ),
        (
            "redis://127.0.0.1:notaport/0",
            "--broker: The Redis URL 'redis://127.0.0.1:notaport/0' is not valid: the port "
            "'notaport' is not a number from 1 to 65535.",
        ),
        ("redis+cluster://127.0.0.1:7000", "--broker: Redis Cluster is not supported"),
    ],
)
def test_broker_url_is_checked_before_anything_starts(url: str, message: str) -> None:
    with pytest.raises(CLIError) as info:
        config("--broker", url)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["memory://", "redis://127.0.0.1:1/0", "redis+sentinel://127.0.0.1:26379/mymaster"]
)
def test_broker_urls_that_pass_connect_to_nothing(url: str) -> None:
    assert config("--broker", url).broker == url  # nothing listens on port 1: no connection


def test_the_environment_variable_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BROKER_ENV, "nats://127.0.0.1")
    with pytest.raises(CLIError) as info:
        config()
    assert str(info.value).startswith("WSFRAMEWORK_BROKER: unknown broker URL 'nats://127.0.0.1'")
    # --broker wins over the variable, so the variable is then not looked at.
    assert config("--broker", "memory://").broker == "memory://"


def test_reload_dirs_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(CLIError) as info:
        config("--reload", "--reload-dir", str(missing))
    assert str(info.value) == f"--reload-dir {missing}: not a directory"
    # Without --reload the directories are not looked at.
    assert config("--reload-dir", str(missing)).reload_dirs == [str(missing)]


@pytest.mark.parametrize(("given", "kept"), [("/api/", "/api"), ("/api", "/api"), ("", "")])
def test_root_path_loses_its_trailing_slash(given: str, kept: str) -> None:
    assert config("--root-path", given).root_path == kept


@pytest.mark.parametrize(
    ("args", "supervised"),
    [
        (["--workers", "2"], True),
        (["--reload"], True),
        (["--workers", "1"], False),
        (["--workers", "2", "--worker-id", "1"], False),  # a worker never supervises
    ],
)
def test_supervised(args: list[str], supervised: bool) -> None:
    assert config(*args).supervised is supervised


def test_worker_argv_gives_the_worker_the_same_settings(tmp_path: Path) -> None:
    cfg = config(
        *("--workers", "3", "--app-dir", str(tmp_path), "--log-level", "debug"),
        *("--graceful-timeout", "0.1", "--close-code", "1012", "--no-access-log"),
        *("--factory", "--root-path", "/api", "--ssl-certfile", "cert.pem"),
        *("--ssl-keyfile", "key.pem", "--broker", "redis://127.0.0.1:6379/0"),
        *("--handshake-timeout", "2.5", "--send-timeout", "0", "--max-connections", "100"),
        *("--max-connections-per-ip", "5", "--handshake-rate", "20.5", "--handshake-burst", "40"),
    )
    argv = cfg.worker_argv(7, 2)
    assert argv[:5] == [sys.executable, "-m", "wsframework", "run", "cliapp:app"]
    worker = RunConfig.from_args(build_parser().parse_args(argv[3:]))
    assert (worker.fd, worker.worker_id, worker.supervised) == (7, 2, False)
    differs = {"fd", "worker_id", "workers", "ssl_certfile", "ssl_keyfile"}
    for field in dataclasses.fields(RunConfig):
        if field.name not in differs:
            assert getattr(worker, field.name) == getattr(cfg, field.name), field.name
    assert worker.graceful_timeout == 0.1
    # Certificate paths are made absolute: the worker may not share the working directory.
    assert worker.ssl_certfile == os.path.abspath("cert.pem")
    assert worker.ssl_keyfile == os.path.abspath("key.pem")


def test_limit_flags_make_the_server_options() -> None:
    options = config(
        *("--handshake-timeout", "3", "--send-timeout", "7", "--max-connections", "100"),
        *("--max-connections-per-ip", "5", "--handshake-rate", "20", "--handshake-burst", "40"),
    ).server_options()
    assert (options.connect_timeout, options.send_timeout) == (3, 7)
    assert (options.max_connections, options.max_connections_per_ip) == (100, 5)
    assert (options.handshake_rate, options.handshake_burst) == (20, 40)
    defaults = config().server_options()
    assert (defaults.connect_timeout, defaults.send_timeout) == (10, 30)
    assert defaults.max_connections is None and defaults.handshake_rate is None
    assert config("--send-timeout", "0").server_options().send_timeout is None


def test_off_turns_a_timeout_flag_off_in_the_worker_too(tmp_path: Path) -> None:
    cfg = config(
        *("--workers", "2", "--app-dir", str(tmp_path), "--graceful-timeout", "off"),
        *("--handshake-timeout", "off", "--send-timeout", "OFF"),
    )
    assert (cfg.graceful_timeout, cfg.handshake_timeout, cfg.send_timeout) == (None, None, None)
    options = cfg.server_options()
    assert (options.connect_timeout, options.send_timeout) == (None, None)
    argv = cfg.worker_argv(7, 1)
    for flag in ("--graceful-timeout", "--handshake-timeout", "--send-timeout"):
        assert argv[argv.index(flag) + 1] == "off"
    worker = RunConfig.from_args(build_parser().parse_args(argv[3:]))
    assert (worker.graceful_timeout, worker.handshake_timeout, worker.send_timeout) == (
        None,
        None,
        None,
    )


def test_a_timeout_flag_that_is_neither_seconds_nor_off_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "cliapp:app", "--send-timeout", "never"])
    assert "--send-timeout: invalid seconds value: 'never'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-connections", "0"], "--max-connections: max_connections must be an integer"),
        (["--max-connections-per-ip", "-2"], "--max-connections-per-ip: max_connections_per_ip"),
        (["--handshake-rate", "0"], "--handshake-rate: handshake_rate must be a number"),
        (["--handshake-timeout", "0"], "--handshake-timeout: connect_timeout must be a number"),
        (["--send-timeout", "-1"], "--send-timeout: send_timeout must be a number"),
    ],
)
def test_limit_flags_out_of_range(args: list[str], message: str) -> None:
    with pytest.raises(CLIError, match=f"^{message}"):
        config(*args)


# --- logging ----------------------------------------------------------------------------------


@pytest.fixture
def restore_loggers() -> Iterator[None]:
    """configure_logging changes process-wide loggers: put them back after the test."""
    loggers = [logging.getLogger("wsframework"), logging.getLogger("wsframework.access")]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate) for lg in loggers]
    yield
    for logger, handlers, level, propagate in saved:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.mark.usefixtures("restore_loggers")
def test_configure_logging_sends_both_loggers_to_stderr_once() -> None:
    configure_logging("debug")
    configure_logging("warning")  # a second call replaces the handler
    root = logging.getLogger("wsframework")
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr
    assert (root.level, root.propagate) == (logging.WARNING, False)
    assert logging.getLogger("wsframework.access").level == logging.WARNING


@pytest.mark.usefixtures("restore_loggers")
def test_configure_logging_can_silence_the_access_log() -> None:
    configure_logging("info", access_log=False)
    access = logging.getLogger("wsframework.access")
    assert not access.isEnabledFor(logging.CRITICAL)
    assert logging.getLogger("wsframework").isEnabledFor(logging.INFO)


# --- TLS --------------------------------------------------------------------------------------


def test_no_certificate_means_no_tls() -> None:
    assert ssl_context(None, None) is None


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(CLIError) as info:
        ssl_context(str(tmp_path / "cert.pem"), None)
    assert str(info.value) == f"--ssl-certfile: file not found: {tmp_path / 'cert.pem'}"
    (tmp_path / "cert.pem").write_text("")
    with pytest.raises(CLIError) as info:
        ssl_context(str(tmp_path / "cert.pem"), "nokey")
    assert str(info.value) == "--ssl-keyfile: file not found: nokey"


def test_a_file_that_is_no_certificate_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "cert.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(CLIError, match=f"cannot load the TLS certificate/key {bogus}: "):
        ssl_context(str(bogus), None)


def test_a_certificate_gives_a_server_context(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    context = ssl_context(str(cert), str(key))
    assert isinstance(context, ssl.SSLContext)
    assert context.protocol == ssl.PROTOCOL_TLS_SERVER


# --- the listening socket: the refusals that happen before any socket exists ------------------


def test_uds_path_that_is_a_regular_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "app.sock"
    path.write_text("data")
    with pytest.raises(CLIError) as info:
        _bind_unix(str(path), 16)
    assert str(info.value) == f"--uds {path}: exists and is not a socket"
    assert path.read_text() == "data"


def test_fd_that_is_not_a_socket_is_refused() -> None:
    read_end, write_end = os.pipe()
    try:
        with pytest.raises(CLIError) as info:
            _adopt_fd(read_end, 16)
        assert (
            str(info.value)
            == f"--fd {read_end}: not an open socket (Socket operation on non-socket)"
        )
        os.fstat(read_end)  # still open: the caller owns it
    finally:
        os.close(read_end)
        os.close(write_end)
