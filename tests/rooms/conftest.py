"""Fixtures for the rooms' tests: real Redis servers (see ``tests/redis_servers.py``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..redis_servers import RedisProcess, SentinelProcess, running_redis, running_sentinel


@pytest.fixture(autouse=True)
def collect_garbage_in_the_test() -> Iterator[None]:
    """Collect after each test, so what it left for the collector warns within it."""
    yield
    gc.collect()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    """A ``redis-server`` of this test's own, with ``.stop()``, ``.start()``, ``.restart()``."""
    with running_redis(tmp_path) as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisProcess) -> str:
    """``redis://127.0.0.1:<port>/0`` of :func:`redis_server`."""
    return redis_server.url


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[SentinelProcess]:
    """A master ``redis-server`` and a ``redis-sentinel`` monitoring it as ``mymaster``."""
    with running_sentinel(tmp_path) as process:
        yield process


@pytest.fixture
def sentinel_url(sentinel: SentinelProcess) -> str:
    """``redis+sentinel://127.0.0.1:<port>/mymaster/0``."""
    return sentinel.url
