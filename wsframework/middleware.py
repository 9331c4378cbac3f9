"""Middleware: the types a middleware is written against, and the built-ins (origin allowlist,
token auth, access log).

A middleware is ``async def mw(request, call_next) -> None``. It runs once per request that
matched a route, before the handler: once per WebSocket handshake (for the whole connection)
and once per plain HTTP request. It may reject the request, attach state, wrap the handler or
pass through::

    @app.middleware
    async def timing(request: BaseRequest, call_next: CallNext) -> None:
        started = trio.current_time()
        try:
            await call_next(request)
        finally:
            log.info("%s took %.3f s", request.path, trio.current_time() - started)

By default a middleware runs for both kinds of request and takes the shared
:class:`~wsframework.request.BaseRequest` (narrow it with ``isinstance(request,
WebSocketRequest)`` or ``HTTPRequest``). ``app.add_middleware(mw, only="websocket")`` (or
``"http"``) runs one for a single kind, typed ``Middleware[WebSocketRequest]``: its request is
then a ``WebSocketRequest`` and its ``call_next`` a ``CallNext[WebSocketRequest]``.

The built-ins run for both kinds: a refusal is the handshake's refusal on a WebSocket route and
the response on a plain HTTP route.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, TypeAlias

import trio
from typing_extensions import TypeVar

from .http import HTTPRequest
from .request import BaseRequest, WebSocketRequest

__all__ = [
    "AccessLog",
    "CallNext",
    "Middleware",
    "MiddlewareStack",
    "OriginAllowlist",
    "RequestKind",
    "RequestT",
    "TokenAuth",
    "check_kind",
]

#: The request type a middleware takes: :class:`~wsframework.request.BaseRequest` (both kinds)
#: unless it is given, ``WebSocketRequest`` or ``HTTPRequest`` for a middleware of one kind.
RequestT = TypeVar("RequestT", bound=BaseRequest, default=BaseRequest)

#: ``await call_next(request)`` runs the rest of the chain: the next middleware, finally the
#: route's handler. It returns when the handler has returned (for a WebSocket, when the
#: connection's handler is over); what the handler raised propagates.
CallNext: TypeAlias = Callable[[RequestT], Awaitable[None]]

#: ``async def mw(request: BaseRequest, call_next: CallNext) -> None``; a middleware of one kind
#: is a ``Middleware[WebSocketRequest]`` or ``Middleware[HTTPRequest]``.
Middleware: TypeAlias = Callable[[RequestT, CallNext[RequestT]], Awaitable[None]]


#: Which requests a middleware runs for: ``None`` for both kinds.
RequestKind = Literal["websocket", "http"]

_Chain = Callable[[Any], Awaitable[None]]


class MiddlewareStack:
    """An app's middleware, in the order added, and the chain each kind of request runs
    through (made once per kind, again after a change)."""

    def __init__(self, middleware: Iterable[Middleware] = ()) -> None:
        self._entries: list[tuple[RequestKind | None, Callable[[Any, Any], Awaitable[None]]]]
        self._entries = [(None, m) for m in middleware]
        self._chains: dict[RequestKind, _Chain] = {}

    def add(self, func: Callable[[Any, Any], Awaitable[None]], only: RequestKind | None) -> None:
        """Add ``func`` inside those added before it, for ``only`` that kind (or both).

        Raises:
            ValueError: ``only`` is not ``None``, ``"websocket"`` or ``"http"``.
        """
        check_kind(only)
        self._entries.append((only, func))
        self._chains = {}

    def chain(self, kind: RequestKind, endpoint: _Chain) -> _Chain:
        """``endpoint`` wrapped in every middleware that runs for ``kind``, the first added
        outermost; ``endpoint`` must be the same for a kind on every call."""
        chain = self._chains.get(kind)
        if chain is None:
            chain = endpoint
            for only, middleware in reversed(self._entries):
                if only is None or only == kind:
                    chain = _bind(middleware, chain)
            self._chains[kind] = chain
        return chain


def check_kind(only: object) -> None:
    """Raise ``ValueError`` unless ``only`` is ``None``, ``"websocket"`` or ``"http"``."""
    if only not in (None, "websocket", "http"):
        raise ValueError(f"only must be None, 'websocket' or 'http', not {only!r}")


def _bind(middleware: Callable[[Any, Any], Awaitable[None]], call_next: _Chain) -> _Chain:
    async def call(request: Any) -> None:
        await middleware(request, call_next)

    return call


def _peer(request: BaseRequest) -> object:
    """Who sent ``request``, for the logs: a WebSocket's remote endpoint, an HTTP client's
    ``host:port`` (``-`` when not on TCP)."""
    if isinstance(request, WebSocketRequest):
        return request.remote
    client = request.client
    return f"{client[0]}:{client[1]}" if client is not None else "-"


class OriginAllowlist:
    """Refuse (403) a browser request whose ``Origin`` is not listed.

    This is the defence against cross-site WebSocket hijacking: browsers send cookies with a
    WebSocket handshake to any site, so a page on ``evil.example`` could otherwise open an
    authenticated connection to your server.

    Args:
        origins: allowed origins, e.g. ``["https://example.com"]``; ``"*"`` allows any.
        allow_missing: accept requests without an ``Origin`` header (non-browser clients).

    On plain HTTP routes browsers send ``Origin`` with cross-origin requests and with ``POST``,
    not with a page's own ``GET``: with ``allow_missing=False``, add it with
    ``only="websocket"`` unless every HTTP client sends one.
    """

    def __init__(self, origins: Iterable[str], *, allow_missing: bool = True) -> None:
        self.origins = frozenset(o.rstrip("/").lower() for o in origins)
        self.allow_missing = allow_missing

    async def __call__(self, request: BaseRequest, call_next: CallNext) -> None:
        origin = request.headers.get("origin")
        if origin is None:
            allowed = self.allow_missing
        else:
            allowed = "*" in self.origins or origin.rstrip("/").lower() in self.origins
        if not allowed:
            logging.getLogger("wsframework").info(
                "refused origin %r on %s from %s", origin, request.path, _peer(request)
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

    async def __call__(self, request: BaseRequest, call_next: CallNext) -> None:
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
    """One log line per request.

    A WebSocket connection's line, written when it is over: peer, path, how the handshake
    ended, subprotocol, duration and close code
    (``... /chat accepted subprotocol=v1 duration=3.000s close=1000``). A plain HTTP request's:
    peer, method, path, status and duration (``... GET /health 200 duration=0.001s``; 500 when
    the handler or a middleware inside raised).

    Args:
        logger: where to write (``wsframework.access`` by default), at INFO.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("wsframework.access")

    async def __call__(self, request: BaseRequest, call_next: CallNext) -> None:
        started = trio.current_time()
        failed = False
        try:
            await call_next(request)
        except Exception:
            failed = True
            raise
        finally:
            duration = trio.current_time() - started
            if isinstance(request, HTTPRequest):
                response = request.response
                status = 500 if failed else response.status_code if response else "-"
                self.logger.info(
                    "%s %s %s %s duration=%.3fs",
                    _peer(request),
                    request.method,
                    request.path,
                    status,
                    duration,
                )
            elif isinstance(request, WebSocketRequest):
                connection = request.connection
                closed = connection.closed if connection is not None else None
                self.logger.info(
                    "%s %s %s subprotocol=%s duration=%.3fs close=%s",
                    request.remote,
                    request.path,
                    request.handshake_state,
                    connection.subprotocol if connection is not None else None,
                    duration,
                    closed.code if closed is not None else "-",
                )
