"""Where :class:`~wsframework.rooms.redis.RedisBroker` finds Redis: its URL, parsed and checked.

Three forms are understood::

    redis://[[user]:password@]host[:port][/db]          plain TCP (port 6379, db 0 by default)
    rediss://[[user]:password@]host[:port][/db]         TLS
    redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service_name[/db]

In the Sentinel form the hosts are the Sentinels (port 26379 by default), ``service_name`` is
the name they monitor the primary under, and the credentials are the primary's. Redis Cluster
(``redis+cluster://``) is not supported: a room's keys and channel would live on different
shards, and the publish script needs them on one server.

Parsing is pure: nothing here touches the network, so nothing needs cancelling.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

__all__ = ["RedisTarget", "parse_redis_url"]

REDIS_PORT = 6379
SENTINEL_PORT = 26379


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """A parsed Redis URL.

    ``hosts`` holds one ``(host, port)`` for a plain server, or the Sentinels for
    ``sentinel=True`` (then ``service`` names the monitored primary).
    """

    hosts: tuple[tuple[str, int], ...]
    db: int = 0
    username: str | None = None
    password: str | None = None
    ssl: bool = False
    sentinel: bool = False
    service: str | None = None

    @property
    def location(self) -> str:
        """``host:port`` (comma-separated for Sentinels), the way error messages name Redis."""
        where = ",".join(f"{host}:{port}" for host, port in self.hosts)
        return f"{where} (Sentinel service {self.service!r})" if self.sentinel else where


def _bad(url: str, why: str) -> ValueError:
    return ValueError(f"The Redis URL {url!r} is not valid: {why}.")


def _host_port(url: str, text: str, default_port: int) -> tuple[str, int]:
    if text.startswith("["):  # [IPv6]:port
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise _bad(url, f"{text!r} is not a host and port")
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise _bad(url, "it names no host")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _bad(url, f"the port {port_text!r} is not a number from 1 to 65535")
    return host, int(port_text)


def _db(url: str, text: str) -> int:
    if not text:
        return 0
    if not text.isdigit():
        raise _bad(url, f"the database {text!r} is not a number")
    return int(text)


def parse_redis_url(url: str) -> RedisTarget:
    """Parse ``url`` (see the module's docstring for the forms).

    Raises:
        ValueError: the URL is malformed, has another scheme, or asks for Redis Cluster.
    """
    if not isinstance(url, str) or "://" not in url:
        raise _bad(
            str(url),
            "expected redis://host:port/db, rediss://... or "
            "redis+sentinel://host:port/service_name",
        )
    scheme = url.partition("://")[0].lower()
    if scheme in ("redis+cluster", "rediss+cluster"):
        raise ValueError(
            f"Redis Cluster is not supported ({url!r}): point the broker at one Redis server, "
            "or at Sentinels with redis+sentinel://host:port/service_name."
        )
    if scheme not in ("redis", "rediss", "redis+sentinel"):
        raise _bad(url, f"the scheme {scheme!r} is none of redis, rediss and redis+sentinel")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed [IPv6 address
        raise _bad(url, f"its host is malformed ({exc})") from None
    if parts.query or parts.fragment:
        raise _bad(url, "query strings and fragments are not understood")
    credentials, _, hosts_text = parts.netloc.rpartition("@")
    username = password = None
    if credentials:
        user, has_password, secret = credentials.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else None
    path = [unquote(segment) for segment in parts.path.split("/")[1:]]
    if scheme == "redis+sentinel":
        hosts = tuple(
            _host_port(url, text, SENTINEL_PORT) for text in hosts_text.split(",") if text
        )
        if not hosts:
            raise _bad(url, "it names no Sentinel host")
        if not path or not path[0]:
            raise _bad(url, "it names no service (redis+sentinel://host:port/service_name)")
        if len(path) > 2:
            raise _bad(url, "the path must be /service_name or /service_name/db")
        db = _db(url, path[1] if len(path) == 2 else "")
        return RedisTarget(hosts, db, username, password, False, True, path[0])
    if "," in hosts_text:
        raise _bad(url, "several hosts are only understood with redis+sentinel://")
    if len(path) > 1:
        raise _bad(url, "the path must be /db, a database number")
    host = _host_port(url, hosts_text, REDIS_PORT)
    return RedisTarget(
        (host,), _db(url, path[0] if path else ""), username, password, scheme == "rediss"
    )
