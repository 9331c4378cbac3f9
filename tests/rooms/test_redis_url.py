"""Parsing the RedisBroker's URL: the three forms, the defaults, and readable refusals."""

from __future__ import annotations

import pytest

from wsframework.rooms.redis_url import RedisTarget, parse_redis_url


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("redis://localhost", RedisTarget((("localhost", 6379),))),
        ("redis://10.0.0.1:6380/3", RedisTarget((("10.0.0.1", 6380),), db=3)),
        ("REDIS://h:1/", RedisTarget((("h", 1),))),
        ("rediss://h:6390/1", RedisTarget((("h", 6390),), db=1, ssl=True)),
        (
            "redis://user:p%40ss@h:7000/2",
            RedisTarget((("h", 7000),), db=2, username="user", password="p@ss"),
        ),
        ("redis://:secret@h", RedisTarget((("h", 6379),), password="secret")),
        ("redis://[::1]:6400/0", RedisTarget((("::1", 6400),))),
        (
            "redis+sentinel://s1:26380,s2/mymaster",
            RedisTarget((("s1", 26380), ("s2", 26379)), sentinel=True, service="mymaster"),
        ),
        (
            "redis+sentinel://:pw@s1/svc/4",
            RedisTarget((("s1", 26379),), db=4, password="pw", sentinel=True, service="svc"),
        ),
    ],
)
def test_urls_parse(url: str, target: RedisTarget) -> None:
    assert parse_redis_url(url) == target


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("localhost:6379", "expected redis://"),
        ("http://h", "scheme 'http'"),
        ("redis://", "no host"),
        ("redis://h:0", "port '0'"),
        ("redis://h:x", "port 'x'"),
        ("redis://h/zero", "database 'zero'"),
        ("redis://h/0/1", "the path must be /db"),
        ("redis://a,b/0", "several hosts"),
        ("redis://h/0?db=1", "query strings"),
        ("redis+sentinel://s1", "no service"),
        ("redis+sentinel:///svc", "no Sentinel host"),
        ("redis+sentinel://s1/svc/x", "database 'x'"),
        ("redis+sentinel://s1/svc/0/9", "/service_name/db"),
        ("redis://[::1", "host is malformed"),
        ("redis://[::1]x", "not a host and port"),
    ],
)
def test_bad_urls_say_why_in_a_sentence(url: str, words: str) -> None:
    with pytest.raises(ValueError, match="not valid") as caught:
        parse_redis_url(url)
    message = str(caught.value)
    assert words in message and message.endswith(".") and message[0].isupper()


@pytest.mark.parametrize("url", ["redis+cluster://h:7000", "rediss+cluster://h:7000/0"])
def test_cluster_is_refused_as_unsupported(url: str) -> None:
    with pytest.raises(ValueError, match=r"^Redis Cluster is not supported .*\.$"):
        parse_redis_url(url)


def test_locations_name_host_and_port() -> None:
    assert parse_redis_url("redis://h:1/0").location == "h:1"
    assert parse_redis_url("redis+sentinel://a:1,b:2/svc").location == (
        "a:1,b:2 (Sentinel service 'svc')"
    )
