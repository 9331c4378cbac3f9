"""The broker a URL names (``memory://``, ``redis://``, ...), and the environment variable the
CLI passes it in; coredis is imported only when a Redis URL is asked for."""

from __future__ import annotations

from .broker import Broker
from .memory import MemoryBroker

__all__ = ["BROKER_ENV", "make_broker"]

#: The environment variable naming the broker (``redis://...``), between CLI and code.
BROKER_ENV = "WSFRAMEWORK_BROKER"


def make_broker(url: str) -> Broker:
    """The broker a URL names: ``memory://``, ``redis://``, ``rediss://`` or
    ``redis+sentinel://`` (see docs/scale-out.md).

    Raises:
        ValueError: an unknown scheme or a malformed URL.
    """
    scheme = url.partition("://")[0].lower()
    if scheme == "memory" and "://" in url:
        return MemoryBroker()
    if scheme in ("redis", "rediss", "redis+sentinel", "redis+cluster"):
        from .redis import RedisBroker  # coredis is imported only when Redis is asked for

        return RedisBroker(url)
    raise ValueError(
        f"unknown broker URL {url!r}: use memory://, redis://host:port/db, rediss://... or "
        "redis+sentinel://host:port/service"
    )
