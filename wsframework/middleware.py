"""Built-in middleware: origin allowlist, token auth, access log.

A middleware is ``async def mw(request, call_next) -> None``. It runs once per connection,
before the handler; it may reject the request, attach state, wrap the handler or pass through::

    @app.middleware
    async def timing(request, call_next):
        started = trio.current_time()
        try:
            await call_next(request)
        finally:
            log.info("%s took %.3f s", request.path, trio.current_time() - started)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

import trio

from .request import WebSocketRequest

__all__ = ["AccessLog", "OriginAllowlist", "TokenAuth"]

CallNext = Callable[[WebSocketRequest], Awaitable[None]]


class OriginAllowlist:
    """Refuse (403) a browser handshake whose ``Origin`` is not listed.

    This is the defence against cross-site WebSocket hijacking: browsers send cookies with a
    WebSocket handshake to any site, so a page on ``evil.example`` could otherwise open an
    authenticated connection to your server.

    Args:
        origins: allowed origins, e.g. ``["https://example.com"]``; ``"*"`` allows any.
        allow_missing: accept requests without an ``Origin`` header (non-browser clients).
    """

    def __init__(self, origins: Iterable[str], *, allow_missing: bool = True) -> None:
        self.origins = frozenset(o.rstrip("/").lower() for o in origins)
        self.allow_missing = allow_missing

    async def __call__(self, request: WebSocketRequest, call_next: CallNext) -> None:
        origin = request.headers.get("origin")
        if origin is None:
            allowed = self.allow_missing
        else:
            allowed = "*" in self.origins or origin.rstrip("/").lower() in self.origins
        if not allowed:
            logging.getLogger("wsframework").info(
                "refused origin %r on %s from %s", origin, request.path, request.remote
            )
            await request.reject(403, body=f"Origin {origin!r} is not allowed.\n".encode())
            return
        await call_next(request)


class TokenAuth:
    """Require a token from the ``Authorization: Bearer`` header or a query parameter.

    ``verify(token)`` returns the user (any value, stored as ``request.state.user``) or
    ``None`` for a bad token. No token: 401 with ``WWW-Authenticate: Bearer``; a bad one: 403.
    Both with a short body.

    Args:
        verify: sync or async callable checking a token.
        query_param: the query parameter to read when there is no header (browsers cannot set
            headers on a WebSocket); ``None`` to accept the header only.
    """

    def __init__(
        self,
        verify: Callable[[str], object] | Callable[[str], Awaitable[object]],
        *,
        query_param: str | None = "token",
    ) -> None:
        self.verify = verify
        self.query_param = query_param

    async def __call__(self, request: WebSocketRequest, call_next: CallNext) -> None:
        token = None
        header = request.headers.get("authorization")
        if header is not None and header.lower().startswith("bearer "):
            token = header[7:].strip()
        elif self.query_param is not None:
            token = request.query_params.get(self.query_param)
        if not token:
            await request.reject(
                401,
                extra_headers=[(b"www-authenticate", b"Bearer")],
                body=b"Authentication required: send a bearer token.\n",
            )
            return
        user = self.verify(token)
        if isinstance(user, Awaitable):
            user = await user
        if user is None:
            await request.reject(403, body=b"Invalid token.\n")
            return
        request.state.user = user
        await call_next(request)


class AccessLog:
    """One log line per connection: path, peer, subprotocol, duration and close code.

    Args:
        logger: where to write (``wsframework.access`` by default), at INFO.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("wsframework.access")

    async def __call__(self, request: WebSocketRequest, call_next: CallNext) -> None:
        started = trio.current_time()
        try:
            await call_next(request)
        finally:
            connection = request.connection
            closed = connection.closed if connection is not None else None
            self.logger.info(
                "%s %s %s subprotocol=%s duration=%.3fs close=%s",
                request.remote,
                request.path,
                request.handshake_state,
                connection.subprotocol if connection is not None else None,
                trio.current_time() - started,
                closed.code if closed is not None else "-",
            )
