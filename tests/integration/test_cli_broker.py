"""``wsframework run --broker URL`` through real subprocesses: the option wins over
``WSFRAMEWORK_BROKER``, workers get it, a bad URL and an unreachable Redis are one line each,
and workers keeping rooms in memory are warned about. The harness is ``cli_helpers.py``;
rooms across workers themselves are tested in ``test_rooms_workers*.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..redis_servers import RedisProcess, free_port, running_redis
from . import cli_helpers
from .cli_helpers import READY, TIMEOUT, Server, cli

# The fixtures, from cli_helpers: bound here so that pytest finds them.
app_dir = cli_helpers.app_dir
marker = cli_helpers.marker
env = cli_helpers.env
run = cli_helpers.run

WARNING = "WARNING wsframework: rooms use the in-memory broker"


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisProcess]:
    directory = tmp_path / "redis"
    directory.mkdir()
    with running_redis(directory) as server:
        yield server


def nowhere() -> str:
    """A Redis URL nothing listens on."""
    return f"redis://127.0.0.1:{free_port()}/0"


def test_broker_option_beats_the_environment_in_every_worker(
    run: Callable[..., Server], redis: RedisProcess
) -> None:
    server = run(
        *("cliapp:app", "--port", "0", "--workers", "2", "--broker", redis.url),
        extra_env={"WSFRAMEWORK_BROKER": nowhere()},
    )
    server.started()
    for _ in range(2):
        server.wait_for(READY)
    chosen = re.compile(
        r"\[(\d+)\] INFO wsframework\.rooms: rooms: broker RedisBroker\((\S+), .*\(from --broker\)"
    )
    pids = set()
    index = 0
    while len(pids) < 2:
        index, found = server.find(chosen, after=index)
        assert found.group(2) == f"127.0.0.1:{redis.port}"
        pids.add(int(found.group(1)))
        index += 1
    assert server.proc.pid not in pids  # the workers connect; the supervisor does not
    assert WARNING not in server.output
    assert server.stop() == 0
    assert "Traceback" not in server.output


def test_the_environment_is_used_without_the_option(
    run: Callable[..., Server], redis: RedisProcess
) -> None:
    server = run("cliapp:app", "--port", "0", extra_env={"WSFRAMEWORK_BROKER": redis.url})
    server.started()
    server.wait_for(r"rooms: broker RedisBroker\(.*\(from WSFRAMEWORK_BROKER\)")
    assert server.stop() == 0


@pytest.mark.parametrize(
    ("args", "extra_env", "message"),
    [
        (
            ["--broker", "amqp://127.0.0.1/"],
            {},
            "wsframework: error: --broker: unknown broker URL 'amqp://127.0.0.1/': use memory://, "
            "redis://host:port/db, rediss://... or redis+sentinel://host:port/service",
        ),
        (
            ["--broker", "redis://127.0.0.1:99999/0"],
            {},
            "wsframework: error: --broker: The Redis URL 'redis://127.0.0.1:99999/0' is not "
            "valid: the port '99999' is not a number from 1 to 65535.",
        ),
        (
            [],
            {"WSFRAMEWORK_BROKER": "kafka://x"},
            "wsframework: error: WSFRAMEWORK_BROKER: unknown broker URL 'kafka://x': use "
            "memory://, redis://host:port/db, rediss://... or redis+sentinel://host:port/service",
        ),
    ],
    ids=["scheme", "port", "environment"],
)
def test_a_bad_broker_url_is_one_line_before_anything_starts(
    env: dict[str, str], args: list[str], extra_env: dict[str, str], message: str
) -> None:
    result = cli(
        dict(env, **extra_env), "run", "cliapp:app", "--port", "0", "--workers", "2", *args
    )
    assert result.returncode == 1
    assert result.stderr.strip() == message


def test_unreachable_redis_at_startup_is_one_line(run: Callable[..., Server]) -> None:
    url = nowhere()
    server = run("cliapp:app", "--port", "0", "--broker", url)
    assert server.proc.wait(timeout=TIMEOUT) == 3
    port = url.split(":")[2].split("/")[0]
    server.wait_for(r"stopped \(pid")
    (line,) = [line for line in server.lines if "error" in line.lower()]
    assert line == (
        f"wsframework: error: application startup failed (pid {server.proc.pid}): Redis at "
        f"127.0.0.1:{port} is unreachable: connection refused (broker from --broker)"
    )
    assert "Traceback" not in server.output


def test_unreachable_redis_stops_each_worker_which_is_restarted(
    run: Callable[..., Server],
) -> None:
    server = run(
        "cliapp:app",
        *("--port", "0", "--workers", "2"),
        extra_env={"WSFRAMEWORK_BROKER": nowhere()},
    )
    server.started()
    index, found = server.find(
        r"error: application startup failed \(pid (\d+)\): .* is unreachable: (.*)"
    )
    assert found.group(2) == "connection refused (broker from WSFRAMEWORK_BROKER)"
    server.wait_for(
        rf"worker \d \(pid {found.group(1)}\) died \(exit status 3\): restarting it", after=index
    )
    assert server.stop() == 0
    assert "Traceback" not in server.output


def test_workers_with_rooms_in_memory_are_warned_once(run: Callable[..., Server]) -> None:
    server = run("cliapp:app", "--port", "0", "--workers", "2")
    server.started()
    for _ in range(2):
        server.wait_for(READY)
    (line,) = [line for line in server.lines if "WARNING" in line]
    assert f"[{server.proc.pid}] {WARNING} (the default): with 2 workers" in line
    assert "use --broker redis://HOST:PORT/DB (or WSFRAMEWORK_BROKER)" in line
    assert server.stop() == 0


def test_one_process_or_an_explicit_memory_broker_is_not_warned(
    run: Callable[..., Server],
) -> None:
    single = run("cliapp:app", "--port", "0")
    single.started()
    explicit = run("cliapp:app", "--port", "0", "--workers", "2", "--broker", "memory://")
    explicit.started()
    for _ in range(2):
        explicit.wait_for(READY)
    assert single.stop() == 0
    assert explicit.stop() == 0
    assert "WARNING" not in single.output
    assert "WARNING" not in explicit.output
