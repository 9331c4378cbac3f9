"""make_broker: the broker a URL names."""

from __future__ import annotations

import pytest

from wsframework.rooms import BROKER_ENV, MemoryBroker, make_broker
from wsframework.rooms.redis import RedisBroker


def test_memory_and_redis_urls_make_their_brokers() -> None:
    assert isinstance(make_broker("memory://"), MemoryBroker)
    assert isinstance(make_broker("redis://127.0.0.1:6379/0"), RedisBroker)
    assert isinstance(make_broker("REDIS+SENTINEL://127.0.0.1:26379/mymaster"), RedisBroker)


@pytest.mark.parametrize("url", ["kafka://x", "memory", "127.0.0.1:6379"])
def test_an_unknown_url_is_refused_with_the_forms_that_work(url: str) -> None:
    with pytest.raises(ValueError, match=r"unknown broker URL .*use memory://, redis://"):
        make_broker(url)


def test_the_environment_variable_has_its_documented_name() -> None:
    assert BROKER_ENV == "WSFRAMEWORK_BROKER"
